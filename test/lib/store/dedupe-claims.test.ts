import assert from 'node:assert/strict';
import { Pseudonymiser } from '../../../lib/consent/keys';
import { ConsentLedger } from '../../../lib/consent/ledger';
import { GdprWhatsAppError } from '../../../lib/errors';
import { migrations } from '../../../lib/store/schema';
import { DEDUPE_TTL_MS, type DedupeStore, MemoryDedupeStore } from '../../../lib/webhook/dedupe';
import {
  type BackendHarness,
  type HarnessFactory,
  POSTGRES_URL,
  postgresHarness,
  sqliteHarness,
  TEST_KEYS,
} from './harness';

/**
 * Two-phase de-duplication (claim, complete, release): the same contract for the memory store and the consent
 * ledger on SQLite and PostgreSQL. Two "instances" are two stores on one database (two ledgers with their own
 * connections), or one memory store (which is per process by design).
 */
/** The batch calls the webhook uses (DedupeStore) and their one-key forms, which both stores offer. */
type Claims = DedupeStore & Pick<MemoryDedupeStore, 'claim' | 'complete' | 'release'>;

interface ClaimsUnderTest {
  first: Claims;
  second: Claims;
  advance(ms: number): void;
  close(): Promise<void>;
}

type ClaimsFactory = () => Promise<ClaimsUnderTest>;

const KEY = 'msg:wamid.HBgNNDkxNTEyMzQ1Njc4OQ';
const LEASE = 60_000;

function memoryClaims(): ClaimsFactory {
  return async () => {
    let now = Date.UTC(2026, 0, 15);
    const store = new MemoryDedupeStore({ now: () => now });
    return { first: store, second: store, advance: (ms) => (now += ms), close: async () => undefined };
  };
}

function ledgerClaims(factory: HarnessFactory, opened: { db?: BackendHarness }): ClaimsFactory {
  return async () => {
    let now = Date.UTC(2026, 0, 15);
    const db = await factory();
    opened.db = db;
    const options = db.options({ clock: () => now, usageFlushMs: 3_600_000 });
    const first = await ConsentLedger.open(options);
    const second = await ConsentLedger.open(options);
    return {
      first,
      second,
      advance: (ms) => (now += ms),
      close: async () => {
        await first.close();
        await second.close();
        await db.dispose();
      },
    };
  };
}

function registerClaimContract(name: string, factory: ClaimsFactory): void {
  describe(`de-duplication claims: ${name}`, function () {
    this.timeout(60_000);
    let t: ClaimsUnderTest;

    beforeEach(async () => {
      t = await factory();
    });

    afterEach(async () => {
      await t?.close();
    });

    it('claims once; a second delivery sees it in progress, and a duplicate once it is complete', async () => {
      assert.equal(await t.first.claim(KEY, LEASE), 'claimed');
      assert.equal(await t.second.claim(KEY, LEASE), 'in-progress');
      assert.equal(await t.first.claim(KEY, LEASE), 'in-progress', 'a claim is not re-entrant');
      await t.first.complete(KEY, DEDUPE_TTL_MS);
      assert.equal(await t.second.claim(KEY, LEASE), 'done');
      t.advance(DEDUPE_TTL_MS - 1);
      assert.equal(await t.second.claim(KEY, LEASE), 'done', 'still a duplicate just before the ttl ends');
      t.advance(1);
      assert.equal(await t.second.claim(KEY, LEASE), 'claimed', 'after the ttl the mark is gone');
    });

    it('a released claim lets the next delivery through; releasing a completed item changes nothing', async () => {
      assert.equal(await t.first.claim(KEY, LEASE), 'claimed');
      await t.first.release(KEY);
      assert.equal(await t.second.claim(KEY, LEASE), 'claimed');
      await t.second.complete(KEY, DEDUPE_TTL_MS);
      await t.second.release(KEY);
      assert.equal(await t.first.claim(KEY, LEASE), 'done');
      await t.first.release('msg:never-claimed');
      assert.equal(await t.first.claim('msg:never-claimed', LEASE), 'claimed');
    });

    it('a claim whose process died is taken over once its lease ran out', async () => {
      assert.equal(await t.first.claim(KEY, 1000), 'claimed');
      t.advance(999);
      assert.equal(await t.second.claim(KEY, LEASE), 'in-progress');
      t.advance(1);
      assert.equal(await t.second.claim(KEY, LEASE), 'claimed');
      assert.equal(await t.first.claim(KEY, LEASE), 'in-progress', 'the new claim holds its own lease');
      await t.second.complete(KEY, DEDUPE_TTL_MS);
      assert.equal(await t.first.claim(KEY, LEASE), 'done');
    });

    it('a delivery whose lease ran out releases only its own claim, not the one that took it over', async () => {
      assert.deepEqual(await t.first.claimAll([KEY], 1000, [], 'delivery-1'), ['claimed']);
      t.advance(1000);
      assert.deepEqual(await t.second.claimAll([KEY], LEASE, [], 'delivery-2'), ['claimed']);
      // The first delivery fails late and lets go of what it claimed: the second one's claim stands.
      await t.first.releaseAll([KEY], 'delivery-1');
      assert.equal(await t.first.claim(KEY, LEASE), 'in-progress');
      await t.second.releaseAll([KEY], 'delivery-2');
      assert.deepEqual(await t.first.claimAll([KEY], LEASE, [], 'delivery-3'), ['claimed']);
    });

    it('a delivery that completed some items releases the rest', async () => {
      const other = 'msg:wamid.OTHER';
      assert.deepEqual(await t.first.claimAll([KEY, other], LEASE, [], 'delivery-1'), ['claimed', 'claimed']);
      await t.first.completeAll([KEY], DEDUPE_TTL_MS, 'delivery-1');
      await t.first.releaseAll([other], 'delivery-1');
      assert.equal(await t.second.claim(KEY, LEASE), 'done');
      assert.equal(await t.second.claim(other, LEASE), 'claimed');
    });

    it('complete marks an item done even when its claim is gone (released or swept)', async () => {
      await t.first.complete(KEY, DEDUPE_TTL_MS);
      assert.equal(await t.second.claim(KEY, LEASE), 'done');
    });

    it('claimAll answers for each key in order, and completeAll / releaseAll act on all of them', async () => {
      await t.first.claim('msg:a', LEASE);
      await t.first.complete('msg:b', DEDUPE_TTL_MS);
      assert.deepEqual(await t.second.claimAll(['msg:a', 'msg:b', 'msg:c', 'msg:d'], LEASE), [
        'in-progress',
        'done',
        'claimed',
        'claimed',
      ]);
      await t.second.completeAll(['msg:c'], DEDUPE_TTL_MS);
      await t.second.releaseAll(['msg:d']);
      await t.first.releaseAll(['msg:a', 'msg:b']);
      assert.deepEqual(await t.first.claimAll(['msg:a', 'msg:b', 'msg:c', 'msg:d'], LEASE), [
        'claimed',
        'done',
        'done',
        'claimed',
      ]);
    });

    it('two instances claiming overlapping deliveries in opposite orders: each item goes to exactly one', async () => {
      const keys = Array.from({ length: 40 }, (_, i) => `msg:wamid.batch-${i}`);
      for (let round = 0; round < 5; round += 1) {
        const batch = keys.map((key) => `${key}-${round}`);
        const [a, b] = await Promise.all([
          t.first.claimAll(batch, LEASE),
          t.second.claimAll([...batch].reverse(), LEASE),
        ]);
        b.reverse();
        for (const [i, key] of batch.entries()) {
          assert.deepEqual([a[i], b[i]].sort(), ['claimed', 'in-progress'], `${key}: ${a[i]}, ${b[i]}`);
        }
      }
    });

    it('of two instances claiming the same items at the same time, exactly one gets each item', async () => {
      const keys = Array.from({ length: 40 }, (_, i) => `msg:wamid.race-${i}`);
      const outcomes = await Promise.all(
        keys.map((key) => Promise.all([t.first.claim(key, LEASE), t.second.claim(key, LEASE)])),
      );
      for (const [i, pair] of outcomes.entries()) {
        assert.deepEqual([...pair].sort(), ['claimed', 'in-progress'], `${keys[i]}: ${pair.join(', ')}`);
      }
    });
  });
}

function registerLedgerOnly(name: string, factory: HarnessFactory): void {
  describe(`de-duplication claims in the consent ledger: ${name}`, function () {
    this.timeout(60_000);
    const opened: { db?: BackendHarness } = {};
    let t: ClaimsUnderTest;
    const ledger = () => t.first as ConsentLedger;

    beforeEach(async () => {
      t = await ledgerClaims(factory, opened)();
    });

    afterEach(async () => {
      await t?.close();
    });

    it('stores only the keyed hash of a message id (it encodes the sender number)', async () => {
      await ledger().claim(KEY, LEASE);
      await ledger().complete('msg:wamid.HBgNNDkxNzYxMjM0NTY3OA', DEDUPE_TTL_MS);
      const dump = await opened.db!.dump();
      assert.ok(!dump.includes('HBgNNDkx'), 'a readable message id is in the database');
      const rows = await opened.db!.all('SELECT key, completed FROM dedupe_marks');
      const hashed = new Pseudonymiser(TEST_KEYS.pseudonymKey).forDedupeKey(KEY);
      assert.deepEqual(
        rows.filter((r) => r.key === hashed).map((r) => Number(r.completed)),
        [0],
      );
    });

    it("claimAll starts the 24-hour window of each claimed message's sender, in the same step", async () => {
      const erika = '+4915123456789';
      const at = Date.UTC(2026, 0, 15, 9);
      await ledger().claim('msg:held', LEASE);
      await ledger().recordInbound('+4917612345678', at - 1000);
      const outcomes = await ledger().claimAll(['msg:new', 'msg:held', 'msg:odd'], LEASE, [
        { key: 'msg:new', subject: { phone: erika.slice(1) }, at },
        { key: 'msg:held', subject: { phone: '+4917612345678' }, at },
        // A sender no number rules accept opens no window; the message is still claimed.
        { key: 'msg:odd', subject: { phone: '12' }, at },
      ]);
      assert.deepEqual(outcomes, ['claimed', 'in-progress', 'claimed']);
      assert.equal(await ledger().lastInboundAt(erika), at);
      assert.equal(await ledger().lastInboundAt('+4917612345678'), at - 1000, 'an item held elsewhere does not count');
      // A known subject written as WhatsApp sends it (no "+") moves its window forward.
      await ledger().claimAll(['msg:later'], LEASE, [
        { key: 'msg:later', subject: { phone: erika.slice(1) }, at: at + 5 },
      ]);
      assert.equal(await ledger().lastInboundAt(erika), at + 5);
    });

    it('a complete that failed leaves the delivery its claims to release', async () => {
      assert.deepEqual(await ledger().claimAll([KEY], LEASE, [], 'delivery-1'), ['claimed']);
      await assert.rejects(ledger().completeAll([KEY], -1, 'delivery-1'));
      await ledger().releaseAll([KEY], 'delivery-1');
      assert.equal(await t.second.claim(KEY, LEASE), 'claimed', "Meta's retry is handled at once");
    });

    it('refuses an empty key or a bad lease and writes nothing', async () => {
      const before = await opened.db!.dump();
      for (const attempt of [
        () => ledger().claim('', LEASE),
        () => ledger().claim(KEY, 0),
        () => ledger().complete('', DEDUPE_TTL_MS),
        () => ledger().release(''),
        () => ledger().claimAll(['msg:fine', ''], LEASE),
      ]) {
        await assert.rejects(
          attempt(),
          (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'invalid-input',
        );
      }
      assert.equal(await opened.db!.dump(), before);
    });

    it('markSeen over an expired claim records the item as done', async () => {
      assert.equal(await ledger().claim(KEY, 1000), 'claimed');
      t.advance(1000);
      assert.equal(await ledger().markSeen(KEY, DEDUPE_TTL_MS), true);
      assert.equal(await ledger().claim(KEY, LEASE), 'done');
    });

    it('the retention sweep removes claims whose lease ran out, and keeps live ones', async () => {
      await ledger().claim('msg:dead', 1000);
      await ledger().claim('msg:alive', DEDUPE_TTL_MS * 2);
      t.advance(1000);
      const report = await ledger().sweepRetention();
      assert.equal(report.dedupeMarksRemoved, 1);
      assert.equal(await ledger().claim('msg:alive', LEASE), 'in-progress');
      assert.equal(await ledger().claim('msg:dead', LEASE), 'claimed');
    });

    it('migrates a version-1 database forward: marks written before count as done, data kept', async () => {
      await t.close();
      const db = await factory();
      opened.db = db;
      const dialect = db.backend;
      // The database as the previous release left it: schema version 1 and a mark from its one-step markSeen.
      const [v1] = migrations(dialect);
      await db.exec(`${v1.statements.join(';\n')};
        CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL);
        INSERT INTO schema_version (version, applied_at) VALUES (1, 0)`);
      const hashed = new Pseudonymiser(TEST_KEYS.pseudonymKey).forDedupeKey(KEY);
      const now = Date.UTC(2026, 0, 15);
      await db.exec(`INSERT INTO dedupe_marks (key, expires_at) VALUES ('${hashed}', ${now + DEDUPE_TTL_MS})`);
      const migrated = await ConsentLedger.open(db.options({ clock: () => now, usageFlushMs: 3_600_000 }));
      t = {
        first: migrated,
        second: migrated,
        advance: () => undefined,
        close: async () => {
          await migrated.close();
          await db.dispose();
        },
      };
      const versions = await db.all('SELECT version FROM schema_version ORDER BY version');
      assert.deepEqual(
        versions.map((r) => Number(r.version)),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
      );
      assert.equal(await migrated.claim(KEY, LEASE), 'done', 'a retry of an item handled before the upgrade');
      assert.equal(await migrated.claim('msg:new', LEASE), 'claimed');
    });
  });
}

registerClaimContract('memory', memoryClaims());
registerClaimContract('SQLite (two ledgers on one file)', ledgerClaims(sqliteHarness(), {}));
registerLedgerOnly('SQLite', sqliteHarness());
if (POSTGRES_URL) {
  registerClaimContract('PostgreSQL (two ledgers on one schema)', ledgerClaims(postgresHarness(POSTGRES_URL), {}));
  registerLedgerOnly('PostgreSQL', postgresHarness(POSTGRES_URL));
} else {
  describe('de-duplication claims: PostgreSQL', () => {
    it('PostgreSQL claim contract skipped: set WA_GDPR_PG_URL');
  });
}
