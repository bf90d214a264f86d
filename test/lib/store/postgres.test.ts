import assert from 'node:assert/strict';
import { Client } from 'pg';
import { ConsentLedger } from '../../../lib/consent/ledger';
import type { CheckResult } from '../../../lib/consent/types';
import type { GdprWhatsAppError } from '../../../lib/errors';
import { PostgresStore } from '../../../lib/store/postgres';
import { FaultProxy } from './fault-proxy';
import { LedgerProcess } from './fixtures/child';
import { type BackendHarness, POSTGRES_URL, postgresHarness, TEST_KEYS, TEST_PURPOSES } from './harness';
import { registerCrashProof } from './proofs';

const WORDING = 'Yes, send me offers on WhatsApp.';

if (!POSTGRES_URL) {
  describe('PostgreSQL store', () => {
    it('PostgreSQL contract suite skipped: set WA_GDPR_PG_URL');
  });
} else {
  const factory = postgresHarness(POSTGRES_URL);

  describe('PostgreSQL store: two instances (two processes) on one database', function () {
    this.timeout(120_000);
    let db: BackendHarness;
    let a: LedgerProcess;
    let b: LedgerProcess;

    beforeEach(async () => {
      db = await factory();
      // Migrate once here, then start both instances together.
      await (await ConsentLedger.open(db.options())).close();
      a = new LedgerProcess(db.options());
      b = new LedgerProcess(db.options());
      await Promise.all([a.ready, b.ready]);
    });

    afterEach(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await db?.dispose();
    });

    it("a withdrawal on one instance is honoured by the other's next check", async () => {
      const phone = '+4915123456789';
      await a.call('giveConsent', {
        subject: phone,
        purpose: 'marketing',
        wording: WORDING,
        method: 'keyword',
        actor: 'a',
      });
      assert.equal((await b.call<CheckResult>('checkConsent', phone, 'marketing')).status, 'given');
      await a.call('withdrawConsent', { subject: phone, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 'a' });
      assert.deepEqual(await b.call<CheckResult>('checkConsent', phone, 'marketing'), {
        allowed: false,
        status: 'withdrawn',
        reason: 'consent-withdrawn',
      });
    });

    it('concurrent give and withdraw from two instances leave the state of the later action', async () => {
      const rounds = 25;
      for (let round = 0; round < rounds; round += 1) {
        const phone = `+49151${String(30_000_000 + round)}`;
        // Consent under an earlier wording first, so that either order changes the state.
        await a.call('giveConsent', {
          subject: phone,
          purpose: 'marketing',
          wording: 'Earlier wording',
          method: 'keyword',
          actor: 'setup',
        });
        await Promise.all([
          a.call('giveConsent', {
            subject: phone,
            purpose: 'marketing',
            wording: WORDING,
            method: 'keyword',
            actor: 'give',
          }),
          b.call('withdrawConsent', { subject: phone, purposes: ['marketing'], channel: 'api', actor: 'withdraw' }),
        ]);
        const pseudonym = (await a.call<{ pseudonym: string }>('exportSubject', phone, 'test')).pseudonym;
        const [last] = await db.all(
          `SELECT actor, outcome FROM audit WHERE pseudonym = ? AND purpose = 'marketing'
             AND action IN ('consent.given', 'consent.withdrawn') ORDER BY seq DESC LIMIT 1`,
          [pseudonym],
        );
        const state = await b.call<CheckResult>('checkConsent', phone, 'marketing');
        const expected = last.actor === 'give' ? 'given' : 'withdrawn';
        assert.equal(state.status, expected, `round ${round}: last action ${last.actor}`);
      }
      const verify = await a.call<{ ok: boolean }>('verifyAudit');
      assert.equal(verify.ok, true);
    });

    it('keeps one linear audit chain under concurrent writers', async () => {
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 40; i += 1) {
        const instance = i % 2 ? a : b;
        writes.push(
          instance.call('giveConsent', {
            subject: `+49151${String(40_000_000 + i)}`,
            purpose: 'marketing',
            wording: WORDING,
            method: 'keyword',
            actor: 'w',
          }),
        );
      }
      await Promise.all(writes);
      const result = await b.call<{ ok: boolean; count: number }>('verifyAudit');
      assert.deepEqual([result.ok, result.count], [true, 40]);
    });
  });

  describe('PostgreSQL store: inbound times written beside serial writes', function () {
    this.timeout(60_000);
    let db: BackendHarness;
    let store: PostgresStore;

    beforeEach(async () => {
      db = await factory();
      const options = db.options();
      store = await PostgresStore.open({
        url: String(options.postgresUrl),
        schema: options.postgresSchema,
        clock: Date.now,
      });
    });

    afterEach(async () => {
      await store?.close();
      await db?.dispose();
    });

    const subject = (p: string, lastInboundAt: number | null) => ({
      pseudonym: p,
      phoneEnc: 'phone-ciphertext',
      waIdEnc: null,
      userIdEnc: null,
      nameEnc: 'name-ciphertext',
      lastInboundAt,
      createdAt: 1,
      updatedAt: 1,
    });

    it('a serial write that read the subject before a newer message does not put the older time back', async () => {
      await store.write((tx) => tx.putSubject(subject('p1', 1_000)));
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let read = false;
      const serial = store.write(async (tx) => {
        const row = await tx.getSubject('p1');
        read = true;
        await held;
        await tx.putSubject({ ...(row as NonNullable<typeof row>), updatedAt: 2 });
      });
      while (!read) await new Promise((resolve) => setImmediate(resolve));
      await store.write((tx) => tx.setLastInbound('p1', 5_000), { serial: false });
      release();
      await serial;
      const row = await store.read.getSubject('p1');
      assert.deepEqual([row?.lastInboundAt, row?.previousInboundAt], [5_000, 1_000], 'nor the time before it');
    });

    it("a first message's record does not wipe the identity a serial write stored meanwhile", async () => {
      await store.write((tx) => tx.putSubject(subject('p2', null)));
      await store.write((tx) => tx.insertInbound('p2', 7_000, 7_000), { serial: false });
      const row = await store.read.getSubject('p2');
      assert.deepEqual(
        [row?.phoneEnc, row?.nameEnc, row?.lastInboundAt],
        ['phone-ciphertext', 'name-ciphertext', 7_000],
      );
    });
  });

  describe('PostgreSQL store on a database whose default isolation is stricter than read committed', function () {
    this.timeout(60_000);
    const database = `wa_gdpr_rr_${process.pid}`;
    const serverUrl = String(POSTGRES_URL);
    let admin: Client;

    before(async () => {
      admin = new Client({ connectionString: serverUrl });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${database}`);
      await admin.query(`CREATE DATABASE ${database}`);
      await admin.query(`ALTER DATABASE ${database} SET default_transaction_isolation = 'repeatable read'`);
    });

    after(async function () {
      // DROP DATABASE waits for a checkpoint: under other load on the machine that took longer than a minute once.
      this.timeout(180_000);
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
    });

    it('serialises concurrent writers all the same: every change lands and the audit chain stays linear', async () => {
      const url = new URL(serverUrl);
      url.pathname = `/${database}`;
      const ledger = await ConsentLedger.open({
        backend: 'postgres',
        postgresUrl: url.toString(),
        ...TEST_KEYS,
        purposes: TEST_PURPOSES,
      });
      try {
        const gives = Array.from({ length: 20 }, (_, i) =>
          ledger.giveConsent({
            subject: `+49151${String(50_000_000 + i)}`,
            purpose: 'marketing',
            wording: WORDING,
            method: 'keyword',
            actor: 'w',
          }),
        );
        const settled = await Promise.allSettled(gives);
        assert.deepEqual(
          settled.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
          [],
        );
        const verify = await ledger.verifyAudit();
        assert.equal(verify.ok, true, JSON.stringify(verify));
      } finally {
        await ledger.close();
      }
    });
  });

  describe('PostgreSQL store: a database that stops answering', function () {
    this.timeout(60_000);
    let db: BackendHarness;
    let proxy: FaultProxy;
    let store: PostgresStore | undefined;

    beforeEach(async () => {
      db = await factory();
      const url = new URL(String(db.options().postgresUrl));
      proxy = await FaultProxy.start(url.hostname, Number(url.port || 5432));
      url.hostname = '127.0.0.1';
      url.port = String(proxy.port);
      store = await PostgresStore.open({
        url: url.toString(),
        schema: db.options().postgresSchema,
        clock: Date.now,
        queryTimeoutMs: 500,
      });
    });

    afterEach(async () => {
      proxy.heal();
      await store?.close();
      await proxy.close();
      await db?.dispose();
    });

    /** Rejected as store-unavailable, with the driver's words in the detail. */
    async function unavailable(work: Promise<unknown>, detail: RegExp): Promise<void> {
      await assert.rejects(work, (err: GdprWhatsAppError) => {
        assert.equal(err.code, 'store-unavailable');
        assert.match(String(err.params.detail), detail);
        return true;
      });
    }

    it('a connection left half open fails writes and reads as store-unavailable, and the store recovers by itself', async () => {
      const s = store as PostgresStore;
      await s.write((tx) => tx.auditHead());
      proxy.freeze();
      await unavailable(
        s.write((tx) => tx.auditHead()),
        /Query read timeout/,
      );
      // A new connection does not answer either.
      await unavailable(s.read.getSubject('p1'), /timeout/);
      proxy.heal();
      // The connections that did not answer were dropped, not handed out again.
      for (let i = 0; i < 12; i += 1) await s.write((tx) => tx.auditHead());
      assert.equal(await s.read.getSubject('p1'), undefined);
    });

    it('a write kept from the serial lock too long is ended by the server, leaving no waiting connection behind', async () => {
      const s = store as PostgresStore;
      const holder = new Client({ connectionString: String(db.options().postgresUrl) });
      await holder.connect();
      try {
        const schema = db.options().postgresSchema ?? 'public';
        // Another instance in a long transaction (a migration, say) holds the lock every audited write takes.
        await holder.query(`SELECT pg_advisory_lock(hashtext($1 || '.wa_gdpr_ledger'))`, [schema]);
        for (let round = 0; round < 3; round += 1) {
          await unavailable(
            s.write((tx) => tx.auditHead()),
            /(statement|lock) timeout/,
          );
        }
        const { rows } = await holder.query(
          `SELECT count(*)::int AS waiting FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`,
        );
        assert.equal(rows[0].waiting, 0, 'the server ended the waits the client gave up on');
        await holder.query(`SELECT pg_advisory_unlock(hashtext($1 || '.wa_gdpr_ledger'))`, [schema]);
        await s.write((tx) => tx.auditHead());
      } finally {
        await holder.end();
      }
    });

    it('a database that refuses connections fails a write as store-unavailable at once', async () => {
      const s = store as PostgresStore;
      proxy.refuse();
      await unavailable(
        s.write((tx) => tx.auditHead(), { serial: true }),
        /ECONNREFUSED|Connection terminated/,
      );
      proxy.heal();
      await s.write((tx) => tx.auditHead());
    });
  });

  registerCrashProof('PostgreSQL', factory, 200);
}
