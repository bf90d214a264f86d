import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LedgerHandle } from '../../lib/consent/threaded-ledger';
import { GdprWhatsAppError } from '../../lib/errors';
import gateNode from '../../nodes/consent-gate';
import consentStore, { type ConsentStoreNode, databaseOf, parseStoreKeys, sqliteFile } from '../../nodes/consent-store';
import eraseSubjectNode from '../../nodes/erase-subject';
import exportSubjectNode from '../../nodes/export-subject';
import privacyNoticeNode from '../../nodes/privacy-notice';
import stopHandlerNode from '../../nodes/stop-handler';
import { helper } from '../helpers/node-red';
import {
  callsOf,
  catchNode,
  collect,
  PURPOSES,
  randomKey,
  statusesOf,
  storeCredentials,
  storeNode,
  tempDir,
  until,
} from './consent-fixtures';

const PHONE = '+4915123456789';

function codeOf(err: unknown): string | undefined {
  return err instanceof GdprWhatsAppError ? err.code : (err as { code?: string })?.code;
}

describe('consent-store node', () => {
  let dir: ReturnType<typeof tempDir>;

  beforeEach(() => {
    dir = tempDir();
  });

  afterEach(async () => {
    await helper.unload();
    dir.remove();
  });

  it('opens one SQLite ledger, shared by every caller, with the configured purposes and retention', async () => {
    const flow = [storeNode('store', dir.path, { pendingExpiryHours: 2, withdrawnPersonalDataDays: '7' })];
    await helper.load(consentStore as never, flow as never, { store: storeCredentials() });
    const store = helper.getNode('store') as unknown as ConsentStoreNode;
    const [first, second] = await Promise.all([store.getLedger(), store.getLedger()]);
    assert.equal(first, second);
    assert.equal(store.ledger, first);
    assert.ok(existsSync(join(dir.path, 'store.db')));
    assert.deepEqual(
      store.purposes.map((p) => [p.id, p.lawfulBasis, p.marketing]),
      [
        ['news', 'consent', true],
        ['orders', 'contract', false],
      ],
    );
    assert.deepEqual(store.retention, {
      pendingExpiryHours: 2,
      withdrawnPersonalDataDays: 7,
      auditRetentionYears: 5,
      sweepIntervalMinutes: 60,
    });
    const record = await first.requestConsent({
      subject: PHONE,
      purpose: 'news',
      wording: 'Newsletter bitte',
      method: 'web-form',
      actor: 'test',
    });
    assert.equal(
      (record.expiresAt ?? 0) - (record.requestedAt ?? 0),
      2 * 3_600_000,
      'the expiry setting reaches the ledger',
    );
  });

  it('opens with the longest retention its dialog allows (100 years of proof, 3650 days, 365 days of requests)', async () => {
    const flow = [
      storeNode('store', dir.path, {
        pendingExpiryHours: 24 * 365,
        withdrawnPersonalDataDays: 3650,
        auditRetentionYears: 100,
        sweepIntervalMinutes: 7 * 24 * 60,
      }),
    ];
    await helper.load(consentStore as never, flow as never, { store: storeCredentials() });
    const ledger = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
    const record = await ledger.giveConsent({
      subject: PHONE,
      purpose: 'news',
      wording: 'ok',
      method: 'keyword',
      actor: 't',
    });
    assert.ok(record.retainUntil - record.updatedAt >= 100 * 365 * 86_400_000, 'proof kept for 100 years');
  });

  it('refuses a retention setting its dialog refuses, naming the setting, and opens nothing', async () => {
    const refused: [string, unknown, RegExp][] = [
      ['pendingExpiryHours', 0.5, /Unconfirmed requests expire after \(hours\)" must be a whole number from 1 to 8760/],
      ['auditRetentionYears', 1000, /Keep consent proof .* from 1 to 100, not "1000"/],
      ['withdrawnPersonalDataDays', 'thirty', /Delete personal data after withdrawal \(days\)" .* not "thirty"/],
      ['sweepIntervalMinutes', 1e9, /Run the clean-up every \(minutes\)" .* from 1 to 10080/],
    ];
    for (const [setting, value, message] of refused) {
      await helper.load(consentStore as never, [storeNode('store', dir.path, { [setting]: value })] as never, {
        store: storeCredentials(),
      });
      const store = helper.getNode('store') as unknown as ConsentStoreNode;
      await assert.rejects(store.getLedger(), (err: unknown) => {
        assert.equal(codeOf(err), 'invalid-retention', setting);
        assert.equal((err as GdprWhatsAppError).params.field, setting);
        return true;
      });
      assert.match(String(callsOf('error', 'store')[0]?.[0]), message, setting);
      assert.equal(existsSync(join(dir.path, 'store.db')), false, `${setting}: nothing opened`);
      await helper.unload();
    }
    // A setting left out (a hand-written flow) takes its default, as in the dialog.
    await helper.load(consentStore as never, [storeNode('store', dir.path, { auditRetentionYears: '' })] as never, {
      store: storeCredentials(),
    });
    await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
    assert.equal((helper.getNode('store') as unknown as ConsentStoreNode).retention.auditRetentionYears, 5);
  });

  it('keeps consents across a redeploy and closes the ledger when stopped', async () => {
    const credentials = { store: storeCredentials() };
    const flow = [storeNode('store', dir.path)];
    await helper.load(consentStore as never, flow as never, credentials);
    const ledger = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
    await ledger.giveConsent({ subject: PHONE, purpose: 'news', wording: 'ok', method: 'keyword', actor: 'test' });
    await helper.unload();
    await assert.rejects(ledger.checkConsent(PHONE, 'news'), 'the old ledger is closed');

    await helper.load(consentStore as never, flow as never, credentials);
    const reopened = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
    assert.notEqual(reopened, ledger);
    assert.equal((await reopened.checkConsent(PHONE, 'news')).status, 'given');
  });

  it('opens the ledger again for the next caller when its thread died, and says so in the log', async () => {
    const flow = [storeNode('store', dir.path)];
    await helper.load(consentStore as never, flow as never, { store: storeCredentials() });
    const store = helper.getNode('store') as unknown as ConsentStoreNode;
    const ledger = await store.getLedger();
    await ledger.giveConsent({ subject: PHONE, purpose: 'news', wording: 'ok', method: 'keyword', actor: 'test' });
    const errors = () => callsOf('error', 'store');
    // What a crash of the thread looks like from outside: the worker ends without being closed.
    await (ledger as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await until(() => errors().length > 0, 'the store to report the stopped thread');
    assert.match(String(errors()[0][0]), /thread stopped unexpectedly/);
    await assert.rejects(ledger.checkConsent(PHONE, 'news'), (err: unknown) => codeOf(err) === 'store-thread-stopped');

    const reopened = await store.getLedger();
    assert.notEqual(reopened, ledger);
    assert.equal((await reopened.checkConsent(PHONE, 'news')).status, 'given');
  });

  it('waits for its opened-listeners before handing out the ledger, and opens anew when the thread dies meanwhile', async () => {
    const flow = [storeNode('store', dir.path)];
    await helper.load(consentStore as never, flow as never, { store: storeCredentials() });
    const store = helper.getNode('store') as unknown as ConsentStoreNode;
    const told: LedgerHandle[] = [];
    // Registered while the first ledger is still opening (a consent-events node does so at deploy).
    store.onLedgerOpened(async (ledger) => {
      told.push(ledger);
      // The first one's thread dies while its listener runs.
      if (told.length === 1)
        await (ledger as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    });
    let ledger: LedgerHandle | undefined;
    await until(() => {
      store.getLedger().then(
        (opened) => {
          ledger = opened;
        },
        () => undefined,
      );
      return ledger !== undefined;
    }, 'a working ledger');
    assert.equal(told.length, 2, 'told of the first ledger and of the one opened after its thread died');
    assert.equal(ledger, told[1]);
    assert.equal(store.ledger, told[1], 'the dead ledger was never handed out');
    const stopped = callsOf('error', 'store').filter((call) => /thread stopped unexpectedly/.test(String(call[0])));
    assert.equal(stopped.length, 1, 'said once in the log');
    await ledger?.giveConsent({ subject: PHONE, purpose: 'news', wording: 'ok', method: 'keyword', actor: 'test' });
  });

  it('hands out the ledger after 5 s when a listener does not answer', async () => {
    const flow = [storeNode('store', dir.path)];
    await helper.load(consentStore as never, flow as never, { store: storeCredentials() });
    const store = helper.getNode('store') as unknown as ConsentStoreNode;
    store.onLedgerOpened(() => new Promise(() => undefined));
    const started = Date.now();
    const ledger = await store.getLedger();
    assert.ok(Date.now() - started < 10_000);
    assert.equal((await ledger.checkConsent(PHONE, 'news')).status, 'none');
  });

  it('refuses to open without keys, writes no database and makes flow nodes fail with a clear error', async () => {
    const flow = [
      { id: 'tab', type: 'tab' },
      storeNode('store', dir.path),
      { id: 'gate', z: 'tab', type: 'consent-gate', store: 'store', purpose: 'news', wires: [['pass'], ['blocked']] },
      { id: 'pass', z: 'tab', type: 'helper' },
      { id: 'blocked', z: 'tab', type: 'helper' },
      { id: 'catcher', z: 'tab', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'tab', type: 'helper' },
    ];
    await helper.load([consentStore, gateNode, catchNode()] as never, flow as never, { store: {} });
    const store = helper.getNode('store') as unknown as ConsentStoreNode;
    await assert.rejects(store.getLedger(), (err: unknown) => codeOf(err) === 'missing-keys');
    await until(() => statusesOf('gate').some((s) => s.fill === 'red'), 'a red status on the gate');
    const caught = collect('caught');
    for (const payload of ['one', 'two', 'three']) helper.getNode('gate').receive({ to: PHONE, payload } as never);
    await until(() => caught.length === 3, 'an error for each message');
    for (const msg of caught as { error?: { code?: string; message?: string; source?: { id?: string } } }[]) {
      assert.equal(msg.error?.source?.id, 'gate');
      assert.equal(msg.error?.code, 'missing-keys');
      assert.match(String(msg.error?.message), /encryption key and a pseudonym key/);
    }
    assert.equal(callsOf('error', 'store').length, 1, 'the store logs its problem once, not per message');
    assert.equal(existsSync(join(dir.path, 'store.db')), false, 'no database without keys');
    assert.equal(store.ledger, undefined);
  });

  it('every node using a store without keys shows a red status at deploy, before any message', async () => {
    const users = ['stop', 'erase', 'export', 'notice'];
    const flow = [
      { id: 'tab', type: 'tab' },
      storeNode('store', dir.path),
      { id: 'stop', z: 'tab', type: 'stop-handler', store: 'store', wires: [[], []] },
      { id: 'erase', z: 'tab', type: 'erase-subject', store: 'store', wires: [[], [], []] },
      { id: 'export', z: 'tab', type: 'export-subject', store: 'store', wires: [[]] },
      {
        id: 'notice',
        z: 'tab',
        type: 'privacy-notice',
        store: 'store',
        policyUrl: 'https://shop.example/p',
        wires: [[]],
      },
    ];
    await helper.load(
      [consentStore, stopHandlerNode, eraseSubjectNode, exportSubjectNode, privacyNoticeNode] as never,
      flow as never,
      { store: {} },
    );
    for (const id of users) {
      await until(() => statusesOf(id).at(-1)?.fill === 'red', `a red status on ${id}`);
      assert.match(String(statusesOf(id).at(-1)?.text), /missing-keys|key/, id);
    }
  });

  it('refuses keys that are not 32 random bytes in base64', async () => {
    const flow = [storeNode('store', dir.path)];
    await helper.load(consentStore as never, flow as never, {
      store: { encryptionKey: randomKey(16), pseudonymKey: randomKey() },
    });
    const store = helper.getNode('store') as unknown as ConsentStoreNode;
    await assert.rejects(
      store.getLedger(),
      (err: unknown) => codeOf(err) === 'invalid-key' && (err as GdprWhatsAppError).params.field === 'encryptionKey',
    );
    assert.equal(existsSync(join(dir.path, 'store.db')), false);
  });

  it('refuses an invalid purpose list and opens nothing', async () => {
    const flow = [storeNode('store', dir.path, { purposes: [{ ...PURPOSES[0], id: 'Not Valid' }] })];
    await helper.load(consentStore as never, flow as never, { store: storeCredentials() });
    const store = helper.getNode('store') as unknown as ConsentStoreNode;
    await assert.rejects(store.getLedger(), (err: unknown) => codeOf(err) === 'invalid-purpose-id');
    assert.deepEqual(store.purposes, []);
    assert.equal(existsSync(join(dir.path, 'store.db')), false);
  });

  it('warns at deploy when a second store opens the same database, and not for stores with their own', async () => {
    const shared = join(dir.path, 'shared.db');
    const flow = [
      storeNode('first', dir.path, { name: 'Newsletter', sqlitePath: shared }),
      storeNode('second', dir.path, { sqlitePath: shared, purposes: [PURPOSES[0]] }),
      storeNode('own', dir.path),
    ];
    await helper.load(consentStore as never, flow as never, {
      first: storeCredentials(),
      second: storeCredentials(),
      own: storeCredentials(),
    });
    const warned = (id: string) => callsOf('warn', id).map((call) => String(call[0]));
    assert.deepEqual(
      [warned('first'), warned('second'), warned('own')],
      [[], ['consent-store.log.shared-database'], []],
    );
    // Deployed again with a file of its own: no warning, and the first store's place is free after it stopped.
    await helper.unload();
    await helper.load(consentStore as never, [storeNode('second', dir.path, { sqlitePath: shared })] as never, {
      second: storeCredentials(),
    });
    assert.deepEqual(warned('second'), []);
  });

  it('reads its country for numbers written nationally, and opens all the same with a misspelt one, logged', async () => {
    await helper.load(
      consentStore as never,
      [
        storeNode('de', dir.path, { defaultCountry: ' de ' }),
        storeNode('typo', dir.path, { defaultCountry: 'XX' }),
      ] as never,
      { de: storeCredentials(), typo: storeCredentials() },
    );
    const de = helper.getNode('de') as unknown as ConsentStoreNode;
    const typo = helper.getNode('typo') as unknown as ConsentStoreNode;
    assert.equal(de.defaultCountry, 'DE');
    assert.equal(typo.defaultCountry, undefined);
    assert.match(String(callsOf('error', 'typo')[0]?.[0]), /two-letter ISO code/);
    // A STOP must not fail for it: the store opens.
    await typo.getLedger();
  });

  it('tells one PostgreSQL database from another by URL and schema, and names it without the password', () => {
    const url = 'postgres://shop:geheim@db.example:5432/consent';
    const first = databaseOf({ backend: 'postgres', postgresUrl: url } as never);
    assert.equal(first.shown, 'PostgreSQL db.example:5432/consent (schema public)');
    assert.doesNotMatch(first.shown, /geheim/);
    const otherSchema = databaseOf({ backend: 'postgres', postgresUrl: url, postgresSchema: 'shop_b' } as never);
    assert.notEqual(otherSchema.key, first.key);
    assert.equal(
      databaseOf({ backend: 'postgres', postgresUrl: url, postgresSchema: 'public' } as never).key,
      first.key,
    );
  });

  it('warns at deploy about a legitimate-interest purpose that names no interest, and starts all the same', async () => {
    const shipping = {
      id: 'shipping',
      label: 'Shipping',
      wording: { en: 'Notices about your delivery.' },
      lawfulBasis: 'legitimate-interest',
    };
    const flow = [
      storeNode('store', dir.path, {
        purposes: [
          ...PURPOSES,
          shipping,
          { ...shipping, id: 'returns', interest: { de: 'Wir wickeln Rücksendungen ab.' } },
        ],
      }),
    ];
    await helper.load(consentStore as never, flow as never, { store: storeCredentials() });
    const store = helper.getNode('store') as unknown as ConsentStoreNode;
    // The helper loads no message catalogs: the key stands for the text (both catalogs hold it, editor-html test).
    const warnings = callsOf('warn', 'store').map((call) => String(call[0]));
    assert.deepEqual(warnings, ['consent-store.log.interest-missing'], 'once: only "shipping" names no interest');
    assert.deepEqual(store.purposes.find((p) => p.id === 'returns')?.interest, { de: 'Wir wickeln Rücksendungen ab.' });
    await store.getLedger();
  });

  it('opens with a marketing purpose on another basis than consent, warns of it, and asks for consent all the same', async () => {
    const promo = {
      id: 'promo',
      label: 'Offers',
      wording: { en: 'Offers.' },
      lawfulBasis: 'contract',
      marketing: true,
    };
    const flow = [storeNode('store', dir.path, { purposes: [...PURPOSES, promo] })];
    await helper.load(consentStore as never, flow as never, { store: storeCredentials() });
    const store = helper.getNode('store') as unknown as ConsentStoreNode;
    assert.deepEqual(
      callsOf('warn', 'store').map((call) => String(call[0])),
      ['consent-store.log.marketing-without-consent'],
    );
    const ledger = await store.getLedger();
    assert.equal((await ledger.checkConsent('+4915123456789', 'promo')).allowed, false, 'no consent, no advertising');
    // STOPs are still recorded: the store is open.
    await ledger.withdrawConsent({ subject: '+4915123456789', channel: 'whatsapp-keyword', actor: 't' });
    assert.equal((await ledger.checkConsent('+4915123456789', 'promo')).status, 'withdrawn');
  });

  it('warns at deploy of a purpose taken out of its settings that still holds consents, naming no number', async () => {
    const credentials = { store: storeCredentials() };
    const day = (at: number) => new Date(at + 30 * 86_400_000).toISOString().slice(0, 10);
    const before = Date.now();
    await helper.load(consentStore as never, [storeNode('store', dir.path)] as never, credentials);
    const ledger = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
    await ledger.giveConsent({ subject: PHONE, purpose: 'news', wording: 'ok', method: 'keyword', actor: 'test' });
    await helper.unload();

    // The integrator stops the newsletter: only the order updates are left.
    const flow = [storeNode('store', dir.path, { purposes: PURPOSES.filter((p) => p.id === 'orders') })];
    await helper.load(consentStore as never, flow as never, credentials);
    const store = helper.getNode('store') as unknown as ConsentStoreNode;
    await store.getLedger();
    const removed = () =>
      callsOf('warn', 'store')
        .map((call) => String(call[0]))
        .filter((t) => t.includes('"news"'));
    await until(() => removed().length > 0, 'the removed-purpose warning');
    // The helper loads no message catalogs: the ledger's English text stands in for the translated one. It ends 30
    // days after the first deploy's store last had the purpose (either side of a midnight the test may cross).
    const ends = `(${day(before)}|${day(Date.now())})`;
    assert.equal(removed().length, 1);
    assert.match(removed()[0], new RegExp(`its 1 given consents and pending requests end on ${ends}`));
    assert.doesNotMatch(removed()[0], /4915123456789|15123456789/);
  });

  describe('keys and paths', () => {
    it('reads rotated encryption keys (first one current) with ids derived from the keys', () => {
      const current = randomBytes(32);
      const old = randomBytes(32);
      const keys = parseStoreKeys({
        encryptionKey: `${current.toString('base64')},\n ${old.toString('base64url')}`,
        pseudonymKey: randomBytes(64).toString('base64'),
      });
      assert.deepEqual(
        keys.encryptionKeys.map((k) => k.key),
        [current, old],
      );
      assert.match(keys.encryptionKeys[0].id, /^k[0-9a-f]{10}$/);
      assert.notEqual(keys.encryptionKeys[0].id, keys.encryptionKeys[1].id);
      assert.equal(
        parseStoreKeys({ encryptionKey: current.toString('base64'), pseudonymKey: randomKey() }).encryptionKeys[0].id,
        keys.encryptionKeys[0].id,
      );
      assert.equal(keys.pseudonymKey.length, 64);
    });

    it('names the missing or broken key without echoing it', () => {
      const secret = 'c2VjcmV0LWJ1dC10b28tc2hvcnQ=';
      for (const [credentials, code, field] of [
        [{ encryptionKey: '', pseudonymKey: randomKey() }, 'missing-keys', undefined],
        [{ encryptionKey: randomKey() }, 'missing-keys', undefined],
        [{ encryptionKey: secret, pseudonymKey: randomKey() }, 'invalid-key', 'encryptionKey'],
        [{ encryptionKey: randomKey(), pseudonymKey: secret }, 'invalid-key', 'pseudonymKey'],
        [{ encryptionKey: 'not base64 at all!', pseudonymKey: randomKey() }, 'invalid-key', 'encryptionKey'],
      ] as const) {
        assert.throws(
          () => parseStoreKeys(credentials),
          (err: unknown) =>
            codeOf(err) === code &&
            (err as GdprWhatsAppError).params.field === field &&
            !(err as Error).message.includes(secret),
        );
      }
    });

    it('puts the SQLite file in the Node-RED user directory unless an absolute path is given', () => {
      assert.equal(sqliteFile('', '/data/nr'), '/data/nr/whatsapp-consent.db');
      assert.equal(sqliteFile('ledger/consent.db', '/data/nr'), '/data/nr/ledger/consent.db');
      assert.equal(sqliteFile('/var/lib/consent.db', '/data/nr'), '/var/lib/consent.db');
    });
  });

  describe('PostgreSQL backend', () => {
    const url = process.env.WA_GDPR_PG_URL;
    const schema = `h6_store_${randomBytes(4).toString('hex')}`;

    after(async () => {
      if (!url) return;
      const { Client } = await import('pg');
      const client = new Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    });

    it('refuses to open without a connection URL', async () => {
      const flow = [{ id: 'store', type: 'consent-store', backend: 'postgres', purposes: PURPOSES }];
      await helper.load(consentStore as never, flow as never, { store: storeCredentials() });
      const store = helper.getNode('store') as unknown as ConsentStoreNode;
      await assert.rejects(store.getLedger(), (err: unknown) => codeOf(err) === 'missing-postgres-url');
    });

    (url ? it : it.skip)('opens a ledger on PostgreSQL in its own schema (set WA_GDPR_PG_URL)', async () => {
      const flow = [
        { id: 'store', type: 'consent-store', backend: 'postgres', postgresSchema: schema, purposes: PURPOSES },
      ];
      await helper.load(consentStore as never, flow as never, { store: { ...storeCredentials(), postgresUrl: url } });
      const ledger = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
      await ledger.giveConsent({ subject: PHONE, purpose: 'news', wording: 'ok', method: 'keyword', actor: 'test' });
      assert.equal((await ledger.checkConsent(PHONE, 'news')).status, 'given');
    });
  });
});
