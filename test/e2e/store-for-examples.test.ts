import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import consentEventsNode from '../../nodes/consent-events';
import consentStore, { type ConsentStoreNode } from '../../nodes/consent-store';
import { STORE_KEY_FILE } from '../../nodes/shared/store-key-file';
import { helper } from '../helpers/node-red';
import { catchNode, collect, PURPOSES, storeCredentials, storeNode, tempDir, until } from '../nodes/consent-fixtures';

/**
 * What the example flows need of the consent store beyond the first wave: a SQLite store imported without keys
 * runs on keys generated once into the user directory, and consent-events runs the retention sweep and the
 * audit-chain check on demand (issue 3: "the sweep runs ... on demand, and reports what it removed").
 */
describe('consent store features the example flows rely on', () => {
  let dir: ReturnType<typeof tempDir>;
  const PHONE = '+4915123456789';

  beforeEach(() => {
    dir = tempDir();
    helper.settings({ userDir: dir.path });
  });

  afterEach(async () => {
    await helper.unload();
    helper.settings({});
    dir.remove();
  });

  async function ledgerOf(id = 'store') {
    return (helper.getNode(id) as unknown as ConsentStoreNode).getLedger();
  }

  describe('keys for a SQLite store imported without any', () => {
    it('generates them once into the user directory (mode 0600) and keeps reading the same data', async () => {
      const flow = [storeNode('store', dir.path)];
      await helper.load(consentStore as never, flow as never, { store: {} });
      const ledger = await ledgerOf();
      await ledger.giveConsent({ subject: PHONE, purpose: 'news', wording: 'ok', method: 'keyword', actor: 'test' });
      const file = path.join(dir.path, STORE_KEY_FILE);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      const written = fs.readFileSync(file, 'utf8');
      const keys = JSON.parse(written);
      assert.equal(Buffer.from(keys.encryptionKey, 'base64').length, 32);
      assert.equal(Buffer.from(keys.pseudonymKey, 'base64').length, 32);
      await helper.unload();

      // A second store in the same user directory, and a redeploy: the same keys, so the consent is found.
      await helper.load(consentStore as never, [storeNode('store', dir.path), storeNode('other', dir.path)] as never, {
        store: {},
        other: {},
      });
      assert.equal((await (await ledgerOf()).checkConsent(PHONE, 'news')).status, 'given');
      await ledgerOf('other');
      assert.equal(fs.readFileSync(file, 'utf8'), written, 'an existing key file is never replaced');
    });

    it('never uses the file for PostgreSQL, nor when only one key is given, nor without a user directory', async () => {
      const halfKeys = { encryptionKey: storeCredentials().encryptionKey };
      await helper.load(consentStore as never, [storeNode('store', dir.path)] as never, { store: halfKeys });
      await assert.rejects(ledgerOf(), (err: Error & { code?: string }) => err.code === 'missing-keys');
      await helper.unload();
      const postgres = { id: 'store', type: 'consent-store', backend: 'postgres', purposes: PURPOSES };
      await helper.load(consentStore as never, [postgres] as never, {
        store: { postgresUrl: 'postgres://nobody@127.0.0.1:1/none' },
      });
      await assert.rejects(ledgerOf(), (err: Error & { code?: string }) => err.code === 'missing-keys');
      await helper.unload();
      helper.settings({});
      await helper.load(consentStore as never, [storeNode('store', dir.path)] as never, { store: {} });
      await assert.rejects(ledgerOf(), (err: Error & { code?: string }) => err.code === 'missing-keys');
      assert.equal(fs.existsSync(path.join(dir.path, STORE_KEY_FILE)), false);
    });

    it('refuses a damaged key file instead of replacing it', async () => {
      const file = path.join(dir.path, STORE_KEY_FILE);
      fs.writeFileSync(file, '{"encryptionKey": 1', { mode: 0o600 });
      await helper.load(consentStore as never, [storeNode('store', dir.path)] as never, { store: {} });
      await assert.rejects(ledgerOf(), (err: Error & { code?: string }) => err.code === 'key-file-invalid');
      assert.equal(fs.readFileSync(file, 'utf8'), '{"encryptionKey": 1');
      assert.equal(fs.existsSync(path.join(dir.path, 'store.db')), false);
    });

    it('prefers keys in the credentials over the file', async () => {
      const credentials = storeCredentials();
      await helper.load(consentStore as never, [storeNode('store', dir.path)] as never, { store: credentials });
      await ledgerOf();
      assert.equal(fs.existsSync(path.join(dir.path, STORE_KEY_FILE)), false);
    });
  });

  describe('consent-events input: retention sweep and audit check on demand', () => {
    function flow(): Record<string, unknown>[] {
      return [
        { id: 'tab', type: 'tab' },
        storeNode('store', dir.path),
        { id: 'events', z: 'tab', type: 'consent-events', store: 'store', eventTypes: [], wires: [['out']] },
        { id: 'out', z: 'tab', type: 'helper' },
        { id: 'catcher', z: 'tab', type: 'catch', scope: ['events'], uncaught: false, wires: [['caught']] },
        { id: 'caught', z: 'tab', type: 'helper' },
      ];
    }

    it('sweeps and reports what it removed, and verifies the chain', async () => {
      await helper.load([consentStore, consentEventsNode, catchNode()] as never, flow() as never, {
        store: storeCredentials(),
      });
      const ledger = await ledgerOf();
      const out = collect('out');
      await until(() => helper.getNode('events') !== undefined, 'the node');
      const pending = await ledger.requestConsent({
        subject: PHONE,
        purpose: 'news',
        wording: 'ok',
        method: 'web-form',
        actor: 'test',
      });
      await until(() => out.length === 1, 'the consent.requested event');
      helper.getNode('events').receive({ topic: 'retention-sweep' } as never);
      await until(() => out.length === 2, 'the sweep report');
      const report = out[1] as { topic: string; payload: Record<string, number> };
      assert.equal(report.topic, 'retention.swept');
      assert.equal(report.payload.expiredRequests, 0, 'the request is not due yet');
      assert.ok(pending.expiresAt);

      helper.getNode('events').receive({ topic: 'verify-audit' } as never);
      await until(() => out.length === 3, 'the verification');
      const verified = out[2] as { topic: string; payload: { ok: boolean; count: number } };
      assert.equal(verified.topic, 'audit.verified');
      assert.equal(verified.payload.ok, true);
      assert.equal(verified.payload.count, 2, 'the request and the sweep');
    });

    it('refuses any other topic with an error for Catch nodes and emits nothing', async () => {
      await helper.load([consentStore, consentEventsNode, catchNode()] as never, flow() as never, {
        store: storeCredentials(),
      });
      await ledgerOf();
      const out = collect('out');
      const caught = collect('caught');
      helper.getNode('events').receive({ topic: 'drop-everything' } as never);
      await until(() => caught.length === 1, 'the error');
      assert.match(String((caught[0] as { error: { message: string } }).error.message), /retention-sweep/);
      assert.equal(out.length, 0);
    });
  });
});
