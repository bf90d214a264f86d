import assert from 'node:assert/strict';
import { ConsentLedger } from '../../../lib/consent/ledger';
import { PURPOSE_REMOVED_ACTION } from '../../../lib/consent/retention-sweep';
import type { LedgerEvent, PurposeConfig } from '../../../lib/consent/types';
import type { GdprWhatsAppError } from '../../../lib/errors';
import {
  type BackendHarness,
  backToVersion10,
  type HarnessFactory,
  POSTGRES_URL,
  postgresHarness,
  sqliteHarness,
  TEST_PURPOSES,
} from './harness';

const P1 = '+4915123456789';
const P2 = '+4917612345678';
const P3 = '+4916098765432';
const MIN = 60_000;
const DAY = 86_400_000;
const NEWS_WORDING = TEST_PURPOSES[1].wording.en;
const OFFERS_WORDING = TEST_PURPOSES[0].wording.en;
/** The store's settings after the integrator stopped the newsletter (and, in one test, the order updates). */
const WITHOUT_NEWSLETTER = TEST_PURPOSES.filter((p) => p.id !== 'newsletter');
const OFFERS_ONLY = TEST_PURPOSES.filter((p) => p.id === 'marketing');

const isoDay = (at: number) => new Date(at).toISOString().slice(0, 10);

/**
 * A purpose taken out of the consent store's settings is never checked again, so its consents are never used again:
 * they must not keep the people's numbers for ever (Art. 5(1)(e) GDPR). The retention sweep ends them once the purpose
 * has been out of the settings for the personal-data period, counted from the last open or sweep that still had it.
 */
function register(name: string, factory: HarnessFactory) {
  describe(`consents of a purpose taken out of the settings: ${name}`, function () {
    this.timeout(60_000);
    let db: BackendHarness;
    let ledger: ConsentLedger | undefined;
    let now: number;
    let warnings: GdprWhatsAppError[];
    let events: LedgerEvent[];

    async function open(purposes: PurposeConfig[]): Promise<ConsentLedger> {
      await ledger?.close();
      const opened = await ConsentLedger.open(db.options({ clock: () => now, usageFlushMs: 3_600_000, purposes }));
      opened.on('warning', (err: GdprWhatsAppError) => warnings.push(err));
      opened.on('event', (event: LedgerEvent) => events.push(event));
      ledger = opened;
      // The open's warnings come just after open() answered.
      await new Promise((resolve) => setImmediate(resolve));
      return opened;
    }

    const statuses = async (purpose: string) =>
      (await db.all('SELECT status FROM consents WHERE purpose = ? ORDER BY status', [purpose])).map((r) =>
        String(r.status),
      );

    function coded(code: string) {
      return warnings.filter((w) => w.code === code).map((w) => ({ ...w.params }));
    }

    beforeEach(async () => {
      now = Date.UTC(2026, 0, 15, 9, 0, 0);
      warnings = [];
      events = [];
      db = await factory();
    });

    afterEach(async () => {
      await ledger?.close();
      ledger = undefined;
      await db?.dispose();
    });

    it('ends its given consents and requests after 30 days out of the settings, not before; then the data goes', async () => {
      let l = await open(TEST_PURPOSES);
      const started = now;
      await l.giveConsent({
        subject: { phone: P1, name: 'Erika' },
        purpose: 'newsletter',
        wording: NEWS_WORDING,
        method: 'keyword',
        text: 'NEWS',
        messageId: 'wamid.NEWS',
        actor: 't',
      });
      // A request with a long life: it would outlive the grace.
      await l.requestConsent({
        subject: P2,
        purpose: 'newsletter',
        wording: NEWS_WORDING,
        method: 'web-form',
        expiresInMs: 90 * DAY,
        actor: 't',
      });
      // Someone else keeps her offers, and objects to the order updates (Art. 21): neither may change.
      await l.giveConsent({
        subject: P3,
        purpose: 'marketing',
        wording: OFFERS_WORDING,
        method: 'keyword',
        actor: 't',
      });
      await l.withdrawConsent({ subject: P3, purposes: ['orders'], channel: 'whatsapp-keyword', actor: 't' });
      const [objection] = await db.all("SELECT status, updated_at FROM consents WHERE purpose = 'orders'");
      now += DAY;
      // The last sweep with the newsletter in the settings.
      await l.sweepRetention();
      const lastConfigured = now;

      now += MIN;
      l = await open(OFFERS_ONLY);
      const ends = lastConfigured + 30 * DAY;
      assert.deepEqual(coded('purpose-removed'), [{ purpose: 'newsletter', count: 2, date: isoDay(ends) }]);
      for (const w of warnings) assert.doesNotMatch(`${w.message} ${JSON.stringify(w.params)}`, /\d{6}/, 'no number');

      now = ends - MIN;
      const early = await l.sweepRetention();
      assert.equal(early.removedPurposeConsentsEnded, 0);
      assert.deepEqual(await statuses('newsletter'), ['given', 'pending'], 'not before the grace ran out');

      now = ends;
      events = [];
      const due = await l.sweepRetention();
      assert.equal(due.removedPurposeConsentsEnded, 2);
      assert.deepEqual(await statuses('newsletter'), ['expired', 'expired']);
      assert.deepEqual(coded('purpose-removed-consents-ended'), [{ purpose: 'newsletter', count: 2 }]);
      const audited = await db.all('SELECT actor, purpose, outcome, detail FROM audit WHERE action = ? ORDER BY seq', [
        PURPOSE_REMOVED_ACTION,
      ]);
      assert.deepEqual(
        audited.map((r) => [r.actor, r.purpose, r.outcome, JSON.parse(String(r.detail)).missingSince]),
        [
          ['retention', 'newsletter', 'expired', lastConfigured],
          ['retention', 'newsletter', 'expired', lastConfigured],
        ],
      );
      assert.deepEqual(
        events.map((e) => [e.type, e.purpose, e.status]),
        [
          ['consent.expired', 'newsletter', 'expired'],
          ['consent.expired', 'newsletter', 'expired'],
        ],
      );
      assert.equal((await l.checkConsent(P3, 'marketing')).status, 'given', 'a configured purpose keeps its consent');
      assert.deepEqual(
        await db.all("SELECT status, updated_at FROM consents WHERE purpose = 'orders'"),
        [objection],
        'the objection stays as it was',
      );
      assert.equal((await db.all('SELECT pseudonym FROM subjects')).length, 3, 'their data goes only after its period');

      // From the end on, the usual schedule: their personal data goes after 30 days without a change.
      now += 30 * DAY + MIN;
      const later = await l.sweepRetention();
      assert.ok(later.personalDataRemoved >= 2, JSON.stringify(later));
      assert.equal((await db.all('SELECT pseudonym FROM subjects')).length, 1, 'only the offers subscriber is left');
      const proof = await l.exportSubject(P1, 'staff');
      const news = proof.consents.find((c) => c.purpose === 'newsletter');
      assert.deepEqual([news?.status, news?.confirmationText, proof.subject?.name], ['expired', undefined, undefined]);
      assert.ok(
        proof.auditEvents.some((e) => e.action === PURPOSE_REMOVED_ACTION),
        'the proof says why it ended',
      );
      assert.equal((await l.verifyAudit()).ok, true);

      // Put back now, nothing comes to life again.
      l = await open(TEST_PURPOSES);
      assert.deepEqual(await l.checkConsent(P1, 'newsletter'), {
        allowed: false,
        status: 'expired',
        reason: 'request-expired',
      });
      assert.equal((await l.checkConsent(P2, 'newsletter')).allowed, false);
      assert.equal(now - started > 60 * DAY, true);
    });

    it('a purpose put back within the grace keeps its consents; the grace counts from its last configured time', async () => {
      let l = await open(TEST_PURPOSES);
      await l.giveConsent({ subject: P1, purpose: 'newsletter', wording: NEWS_WORDING, method: 'keyword', actor: 't' });
      now += MIN;
      l = await open(WITHOUT_NEWSLETTER);
      assert.equal(coded('purpose-removed').length, 1);
      now += 20 * DAY;
      // Removed by mistake: back within the grace.
      l = await open(TEST_PURPOSES);
      const backAt = now;
      now += 20 * DAY;
      assert.equal((await l.sweepRetention()).removedPurposeConsentsEnded, 0);
      const sweptWithIt = now;
      assert.equal((await l.checkConsent(P1, 'newsletter')).allowed, true, '40 days after it was first removed');
      assert.ok(sweptWithIt > backAt);

      // Removed again: the 30 days count from the last sweep that had it, not from the first removal.
      now += MIN;
      warnings = [];
      l = await open(WITHOUT_NEWSLETTER);
      assert.deepEqual(coded('purpose-removed'), [
        { purpose: 'newsletter', count: 1, date: isoDay(sweptWithIt + 30 * DAY) },
      ]);
      now = sweptWithIt + 30 * DAY - MIN;
      assert.equal((await l.sweepRetention()).removedPurposeConsentsEnded, 0);
      assert.deepEqual(await statuses('newsletter'), ['given']);
      now = sweptWithIt + 30 * DAY;
      assert.equal((await l.sweepRetention()).removedPurposeConsentsEnded, 1);
      assert.deepEqual(await statuses('newsletter'), ['expired']);
    });

    it('counts a purpose gone before the upgrade (schema version 9) from the first open that finds it missing', async () => {
      let l = await open(TEST_PURPOSES);
      await l.giveConsent({ subject: P1, purpose: 'newsletter', wording: NEWS_WORDING, method: 'keyword', actor: 't' });
      await l.close();
      ledger = undefined;
      // The database as version 9 left it: nothing says when a purpose was configured.
      await backToVersion10(db);
      await db.exec('DROP TABLE purpose_presence');
      await db.exec('DROP INDEX consents_standing_by_purpose');
      await db.exec('DELETE FROM schema_version WHERE version = 10');
      // The newsletter left the settings long ago, under the old version.
      now += 200 * DAY;
      const upgradedAt = now;
      l = await open(WITHOUT_NEWSLETTER);
      const versions = await db.all('SELECT version FROM schema_version ORDER BY version');
      assert.deepEqual(
        versions.map((r) => Number(r.version)),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
      );
      assert.deepEqual(coded('purpose-removed'), [
        { purpose: 'newsletter', count: 1, date: isoDay(upgradedAt + 30 * DAY) },
      ]);
      now = upgradedAt + 30 * DAY - MIN;
      assert.equal((await l.sweepRetention()).removedPurposeConsentsEnded, 0, 'not at once: the integrator is warned');
      now = upgradedAt + 30 * DAY;
      assert.equal((await l.sweepRetention()).removedPurposeConsentsEnded, 1);
      assert.deepEqual(await statuses('newsletter'), ['expired']);
    });

    it('ends nothing of a purpose another store on the same database configures, until that one stops for the grace', async () => {
      const other = await ConsentLedger.open(
        db.options({ clock: () => now, usageFlushMs: 3_600_000, purposes: TEST_PURPOSES }),
      );
      try {
        await other.giveConsent({
          subject: P1,
          purpose: 'newsletter',
          wording: NEWS_WORDING,
          method: 'keyword',
          actor: 't',
        });
        now += MIN;
        // This store runs without the newsletter, next to the other one, both sweeping every day.
        const l = await open(OFFERS_ONLY);
        for (let day = 0; day < 40; day++) {
          now += DAY;
          await other.sweepRetention();
          assert.equal((await l.sweepRetention()).removedPurposeConsentsEnded, 0, `day ${day}`);
        }
        assert.deepEqual(await statuses('newsletter'), ['given']);
        // The other store stops for good: after the grace its newsletter consents end here.
        await other.close();
        const stopped = now;
        now = stopped + 30 * DAY - MIN;
        assert.equal((await l.sweepRetention()).removedPurposeConsentsEnded, 0);
        now = stopped + 30 * DAY;
        assert.equal((await l.sweepRetention()).removedPurposeConsentsEnded, 1);
      } finally {
        await other.close().catch(() => undefined);
      }
    });

    it('keeps an objection to a contract purpose through the sweeps of a store that does not configure it', async () => {
      const other = await ConsentLedger.open(
        db.options({ clock: () => now, usageFlushMs: 3_600_000, purposes: TEST_PURPOSES }),
      );
      try {
        await other.withdrawConsent({
          subject: P1,
          purposes: ['orders'],
          channel: 'whatsapp-keyword',
          keyword: 'STOP',
          actor: 't',
        });
        now += MIN;
        // This store runs without the order updates, next to the other one; both sweep after the proof period.
        const l = await open(OFFERS_ONLY);
        now += 5 * 366 * DAY;
        await other.sweepRetention();
        await l.sweepRetention();
        assert.deepEqual(await statuses('orders'), ['withdrawn']);
        assert.equal((await other.checkConsent(P1, 'orders')).allowed, false, 'her objection still forbids');
        // Taken out of this store's settings too for a while, the purpose keeps its objection for when it comes back.
        await other.close();
        now += DAY;
        await l.sweepRetention();
        assert.deepEqual(await statuses('orders'), ['withdrawn']);
      } finally {
        await other.close().catch(() => undefined);
      }
    });

    it("keeps a running store's purposes by its hourly note, whatever its sweep interval; waits 30 days at least", async () => {
      // The other store never sweeps here: only its note of what it has configured keeps the newsletter.
      const other = await ConsentLedger.open(
        db.options({ clock: () => now, usageFlushMs: 3_600_000, purposePresenceMs: 20, purposes: TEST_PURPOSES }),
      );
      try {
        await other.giveConsent({
          subject: P1,
          purpose: 'newsletter',
          wording: NEWS_WORDING,
          method: 'keyword',
          actor: 't',
        });
        now += MIN;
        // This store deletes personal data after one day: the removed purpose still waits 30 days.
        const l = await ConsentLedger.open(
          db.options({
            clock: () => now,
            usageFlushMs: 3_600_000,
            purposes: OFFERS_ONLY,
            retention: { personalDataMs: DAY },
          }),
        );
        ledger = l;
        const configuredAt = async () =>
          Number(
            (await db.all("SELECT configured_at FROM purpose_presence WHERE purpose = 'newsletter'"))[0]?.configured_at,
          );
        for (let step = 0; step < 3; step++) {
          now += 20 * DAY;
          const noted = now;
          for (let i = 0; i < 200 && (await configuredAt()) !== noted; i++) await new Promise((r) => setTimeout(r, 10));
          assert.equal(await configuredAt(), noted, 'the running store noted its purposes');
          assert.equal((await l.sweepRetention()).removedPurposeConsentsEnded, 0, `step ${step}`);
        }
        await other.close();
        const stopped = now;
        now = stopped + 2 * DAY;
        assert.equal((await l.sweepRetention()).removedPurposeConsentsEnded, 0, 'not after the one-day period');
        now = stopped + 30 * DAY - MIN;
        assert.equal((await l.sweepRetention()).removedPurposeConsentsEnded, 0, 'not before 30 days');
        now = stopped + 30 * DAY;
        assert.equal((await l.sweepRetention()).removedPurposeConsentsEnded, 1);
      } finally {
        await other.close().catch(() => undefined);
      }
    });

    it('waits the personal-data period when it is longer than 30 days', async () => {
      let l = await open(TEST_PURPOSES);
      await l.giveConsent({ subject: P1, purpose: 'newsletter', wording: NEWS_WORDING, method: 'keyword', actor: 't' });
      // Counted from the last sweep that had the purpose, not from the consent.
      now += 5 * DAY;
      await l.sweepRetention();
      const lastConfigured = now;
      await ledger?.close();
      l = await ConsentLedger.open(
        db.options({
          clock: () => now,
          usageFlushMs: 3_600_000,
          purposes: OFFERS_ONLY,
          retention: { personalDataMs: 40 * DAY },
        }),
      );
      ledger = l;
      now = lastConfigured + 40 * DAY - MIN;
      assert.equal((await l.sweepRetention()).removedPurposeConsentsEnded, 0);
      now = lastConfigured + 40 * DAY;
      assert.equal((await l.sweepRetention()).removedPurposeConsentsEnded, 1);
    });

    it('warns of nothing, and ends nothing, for a removed purpose that holds only ended records', async () => {
      let l = await open(TEST_PURPOSES);
      await l.giveConsent({ subject: P1, purpose: 'newsletter', wording: NEWS_WORDING, method: 'keyword', actor: 't' });
      await l.withdrawConsent({ subject: P1, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
      now += MIN;
      l = await open(WITHOUT_NEWSLETTER);
      now += 31 * DAY;
      const report = await l.sweepRetention();
      assert.equal(report.removedPurposeConsentsEnded, 0);
      assert.deepEqual(
        warnings.filter((w) => w.code.startsWith('purpose-removed')),
        [],
      );
      assert.deepEqual(await statuses('newsletter'), ['withdrawn']);
    });
  });
}

register('SQLite', sqliteHarness());
if (POSTGRES_URL) register('PostgreSQL', postgresHarness(POSTGRES_URL));
