import assert from 'node:assert/strict';
import { Client } from 'pg';
import { ConsentLedger } from '../../../lib/consent/ledger';
import { GdprWhatsAppError } from '../../../lib/errors';
import { postgresCiphertexts, scanRawPages } from '../../reliability/support/postgres';
import { type BackendHarness, POSTGRES_URL, postgresHarness, TEST_PURPOSES } from './harness';

const ANNA = '+4915123456789';

/**
 * An erasure's VACUUM cannot remove the deleted rows while a transaction that began before the erasure is still open
 * anywhere in the database: the store waits for such transactions to end before it vacuums, and warns when one
 * outlasts the wait.
 */
if (!POSTGRES_URL) {
  describe('PostgreSQL erasure and older snapshots', () => {
    it('skipped: set WA_GDPR_PG_URL');
  });
} else {
  const url = POSTGRES_URL;
  const factory = postgresHarness(url);

  describe('PostgreSQL erasure and older snapshots', function () {
    this.timeout(60_000);
    let db: BackendHarness;
    let ledger: ConsentLedger;
    let report: Client | undefined;
    const warnings: unknown[] = [];

    beforeEach(async () => {
      db = await factory();
      ledger = await ConsentLedger.open(db.options({ usageFlushMs: 3_600_000 }));
      ledger.on('warning', (err) => warnings.push(err));
      warnings.length = 0;
      await ledger.giveConsent({
        subject: { phone: ANNA, name: 'Anna Beispiel' },
        purpose: 'marketing',
        wording: TEST_PURPOSES[0].wording.en,
        method: 'keyword',
        actor: 't',
      });
    });

    afterEach(async () => {
      await report?.end().catch(() => {});
      report = undefined;
      await ledger?.close();
      await db?.dispose();
    });

    const schema = () => String(db.options().postgresSchema);

    /** The ledger again, looking for the end of an older transaction every `retryMs`. */
    async function reopen(retryMs: number): Promise<void> {
      await ledger.close();
      ledger = await ConsentLedger.open(db.options({ usageFlushMs: 3_600_000, postgresVacuumRetryMs: retryMs }));
      ledger.on('warning', (err) => warnings.push(err));
    }

    /** Someone's report, in a transaction whose snapshot was taken before the erasure. */
    async function openReport(): Promise<Client> {
      const client = new Client({ connectionString: url });
      await client.connect();
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await client.query(`SELECT count(*) FROM ${schema()}.subjects`);
      return client;
    }

    it('waits for a transaction begun before the erasure, then leaves no page holding what it erased', async () => {
      const stored = await postgresCiphertexts(url, schema());
      assert.ok(stored.length >= 2, 'the number and the name are stored encrypted');
      const open = await openReport();
      report = open;
      let settled = false;
      const erasing = ledger.eraseSubject(ANNA, 't').finally(() => {
        settled = true;
      });
      // The store waits for older snapshots by asking pg_stat_activity: once it has, the erasure is waiting. Asked
      // outside a transaction, which would see one snapshot of the statistics.
      const watcher = new Client({ connectionString: url });
      await watcher.connect();
      try {
        const waiting = async () =>
          (
            await watcher.query(
              `SELECT count(*)::int AS n FROM pg_stat_activity
               WHERE pid <> pg_backend_pid() AND query LIKE '%backend_xmin IS NOT NULL%'`,
            )
          ).rows[0].n > 0;
        while (!(await waiting())) await new Promise((resolve) => setTimeout(resolve, 5));
      } finally {
        await watcher.end();
      }
      assert.equal(settled, false, 'the erasure waits for the older transaction');
      await open.query('COMMIT');
      await erasing;
      const pages = await scanRawPages(url, schema(), stored);
      if (pages) assert.deepEqual(pages, []);
      else console.log('      pageinspect is not available: raw pages not scanned');
      assert.deepEqual(warnings, []);
    });

    it('warns when such a transaction outlasts the wait, and still erases', async () => {
      report = await openReport();
      const erased = await ledger.eraseSubject(ANNA, 't');
      assert.equal(erased.found, true);
      assert.equal(warnings.length, 1);
      const warning = warnings[0];
      assert.ok(warning instanceof GdprWhatsAppError && warning.code === 'erasure-vacuum-incomplete', String(warning));
      assert.equal((await ledger.exportSubject(ANNA, 't')).found, false);
    });

    it('vacuums again once that transaction ended, so no page keeps what it erased', async () => {
      await reopen(50);
      const stored = await postgresCiphertexts(url, schema());
      const open = await openReport();
      report = open;
      await ledger.eraseSubject(ANNA, 't');
      assert.equal(warnings.length, 1, 'the VACUUM was held back');
      const before = await scanRawPages(url, schema(), stored);
      if (!before) {
        console.log('      pageinspect is not available: raw pages not scanned');
        return;
      }
      assert.notDeepEqual(before, [], 'the older transaction kept the erased rows in the pages');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.notDeepEqual(await scanRawPages(url, schema(), stored), [], 'not while it is still open');
      await open.query('COMMIT');
      await cleanPagesSoon(stored);
      assert.equal(warnings.length, 1);
    });

    it('counts a writer idle in its transaction as older too, though it holds no snapshot', async () => {
      await reopen(50);
      const stored = await postgresCiphertexts(url, schema());
      const writer = new Client({ connectionString: url });
      await writer.connect();
      report = writer;
      // Read committed and idle: a transaction id, no snapshot; VACUUM still may not remove what it could see.
      await writer.query('BEGIN');
      await writer.query('CREATE TEMP TABLE idle_writer (i int)');
      await ledger.eraseSubject(ANNA, 't');
      assert.equal(warnings.length, 1);
      assert.ok(warnings[0] instanceof GdprWhatsAppError && warnings[0].code === 'erasure-vacuum-incomplete');
      await writer.query('COMMIT');
      await cleanPagesSoon(stored);
    });

    it('says so when it closes before the older transaction ended', async () => {
      report = await openReport();
      await reopen(60_000);
      await ledger.eraseSubject(ANNA, 't');
      await ledger.close();
      assert.deepEqual(
        warnings.map((w) => (w as GdprWhatsAppError).code),
        ['erasure-vacuum-incomplete', 'erasure-vacuum-given-up'],
      );
    });

    it('vacuums as it closes when the older transaction ended just before', async () => {
      await reopen(60_000);
      const stored = await postgresCiphertexts(url, schema());
      const open = await openReport();
      report = open;
      await ledger.eraseSubject(ANNA, 't');
      await open.query('COMMIT');
      await ledger.close(); // a redeploy, long before the next look
      assert.deepEqual(
        warnings.map((w) => (w as GdprWhatsAppError).code),
        ['erasure-vacuum-incomplete'],
      );
      await cleanPagesSoon(stored);
    });

    /** Waits until no raw page holds `stored`: the store's next VACUUM ran. */
    async function cleanPagesSoon(stored: string[]): Promise<void> {
      for (let waited = 0; ; waited += 50) {
        // VACUUM may cut the table short while the scan reads it: then the scan is tried again.
        const pages = await scanRawPages(url, schema(), stored).catch((err: Error) => {
          if (/out of range/.test(err.message)) return [{ table: 'scan', needle: 'truncated meanwhile' }];
          throw err;
        });
        if (!pages) return console.log('      pageinspect is not available: raw pages not scanned');
        if (pages.length === 0) return;
        assert.ok(waited < 10_000, `still in the pages: ${JSON.stringify(pages)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  });

  describe('PostgreSQL erasure of a part of an earlier number', function () {
    this.timeout(60_000);
    let db: BackendHarness;
    let ledger: ConsentLedger;

    afterEach(async () => {
      await ledger?.close();
      await db?.dispose();
    });

    it("vacuums the tables her earlier number's part was deleted from, though nothing of the new one was there", async () => {
      db = await factory();
      let now = Date.UTC(2026, 0, 15, 9, 0, 0);
      ledger = await ConsentLedger.open(db.options({ clock: () => now, usageFlushMs: 3_600_000 }));
      const version = 'v-anna-notice-7f3c';
      await ledger.recordNoticeShown(ANNA, version, { actor: 't' });
      now += 86_400_000;
      await ledger.numberChanged({ phone: ANNA, newPhone: '+4917612345678', actor: 't' });
      now += 86_400_000;
      const report = await ledger.eraseSubject('+4917612345678', 't');
      assert.equal(report.removed.notices, 0);
      assert.equal(report.earlierNumbers?.removed.notices, 1);
      const pages = await scanRawPages(url, String(db.options().postgresSchema), [version]);
      if (pages)
        assert.deepEqual(
          pages.filter((hit) => hit.table === 'notices'),
          [],
        );
      else console.log('      pageinspect is not available: raw pages not scanned');
    });
  });
}
