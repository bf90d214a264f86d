import assert from 'node:assert/strict';
import type { AuditRecord } from '../../../lib/consent/audit-verify';
import { verifyAuditLines } from '../../../lib/consent/audit-verify';
import { ConsentLedger } from '../../../lib/consent/ledger';
import { PROOF_RESTATED_ACTION } from '../../../lib/consent/proof-restatement';
import { SWEEP_ACTION } from '../../../lib/consent/retention-sweep';
import type { RetentionSettings } from '../../../lib/consent/types';
import {
  type BackendHarness,
  type HarnessFactory,
  POSTGRES_URL,
  postgresHarness,
  sqliteHarness,
  TEST_PURPOSES,
} from './harness';

const ERIKA = '+4915123456789';
const MAX = '+4917612345678';
const LENA = '+4916098765432';
const DAY = 86_400_000;
const PROOF_PERIOD = 5 * 365.25 * DAY;
const OFFERS = TEST_PURPOSES[0].wording.en;
const NEWS = TEST_PURPOSES[1].wording.en;

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

const events = (lines: readonly string[]): AuditRecord[] =>
  lines.map((line) => JSON.parse(line)).filter((e) => e.type !== 'anchor');

/**
 * Art. 7(1) GDPR: the controller must be able to demonstrate consent for as long as it processes on that basis. The
 * retention sweep removes audit events after the proof period, but those that prove a consent still given, or an
 * objection still standing, are restated at the head of the chain first, so the chain always holds that proof.
 */
function register(name: string, factory: HarnessFactory) {
  describe(`proof of standing consents carried forward in the audit chain: ${name}`, function () {
    this.timeout(60_000);
    let db: BackendHarness;
    let ledger: ConsentLedger;
    let now: number;

    const open = (retention: Partial<RetentionSettings> = {}) =>
      ConsentLedger.open(db.options({ clock: () => now, usageFlushMs: 3_600_000, retention }));

    const restated = async () => events(await collect(ledger.exportAudit())).filter(isRestatement);
    const isRestatement = (e: AuditRecord) => e.action === PROOF_RESTATED_ACTION;
    const originalOf = (e: AuditRecord) => e.detail?.original as AuditRecord;

    const withdrawNews = (subject: string) =>
      ledger.withdrawConsent({
        subject,
        purposes: ['newsletter'],
        channel: 'whatsapp-keyword',
        keyword: 'STOP NEWS',
        actor: 't',
      });

    beforeEach(async () => {
      now = Date.UTC(2020, 2, 2, 9, 0, 0);
      db = await factory();
      ledger = await open();
    });

    afterEach(async () => {
      await ledger?.close();
      await db?.dispose();
    });

    /** Erika: double opt-in to offers (stands); Max: newsletter given and withdrawn (ended); Lena: objects to orders. */
    async function history(): Promise<void> {
      await ledger.requestConsent({
        subject: ERIKA,
        purpose: 'marketing',
        wording: OFFERS,
        language: 'en',
        method: 'web-form',
        source: 'https://shop.example/whatsapp',
        actor: 'node-opt-in',
      });
      now += 60_000;
      await ledger.confirmConsent({ subject: ERIKA, confirmationText: 'YES', actor: 'node-opt-in' });
      now += 60_000;
      await ledger.giveConsent({ subject: MAX, purpose: 'newsletter', wording: NEWS, method: 'keyword', actor: 't' });
      now += DAY;
      await ledger.withdrawConsent({
        subject: MAX,
        purposes: ['newsletter'],
        channel: 'whatsapp-keyword',
        keyword: 'STOP NEWS',
        actor: 't',
      });
      await ledger.withdrawConsent({
        subject: LENA,
        purposes: ['orders'],
        channel: 'whatsapp-keyword',
        keyword: 'STOP',
        actor: 't',
      });
    }

    it('restates the proof of a standing consent and objection before the purge; the chain verifies, an older export matches', async () => {
      await history();
      const before = events(await collect(ledger.exportAudit()));
      const erika = before.filter((e) => e.purpose === 'marketing' && e.pseudonym !== null);
      assert.deepEqual(
        erika.map((e) => e.action),
        ['consent.requested', 'consent.confirmed'],
      );
      const lena = before.filter((e) => e.purpose === 'orders');
      assert.deepEqual(
        lena.map((e) => [e.action, e.outcome]),
        [['consent.withdrawn', 'withdrawn']],
      );

      now += PROOF_PERIOD + DAY;
      const report = await ledger.sweepRetention();
      assert.equal(report.auditEventsRemoved, before.length, JSON.stringify(report));
      assert.equal(report.auditEventsRestated, 3, JSON.stringify(report));

      const lines = await collect(ledger.exportAudit());
      assert.match(lines[0], /"type":"anchor"/);
      assert.equal(verifyAuditLines(lines).ok, true);
      assert.equal((await ledger.verifyAudit()).ok, true);
      const after = events(lines);
      const carried = after.filter(isRestatement);
      // The original events whole, as an export made before the purge holds them, and nothing else of them.
      assert.deepEqual(carried.map(originalOf), [...erika, ...lena]);
      for (const e of carried) {
        assert.deepEqual([e.actor, e.at, e.outcome], ['retention', now, 'restated']);
        assert.deepEqual([e.pseudonym, e.purpose], [originalOf(e).pseudonym, originalOf(e).purpose]);
        assert.deepEqual(Object.keys(e.detail ?? {}).sort(), ['original']);
      }
      assert.ok(
        after.every((e) => e.purpose !== 'newsletter'),
        'the proof of an ended consent follows the proof period',
      );
      const sweep = after.find((e) => e.action === SWEEP_ACTION);
      assert.equal(sweep?.detail?.auditEventsRestated, 3, 'the sweep audits what it restated');
      assert.equal((await ledger.checkConsent(ERIKA, 'marketing')).status, 'given');
    });

    it('restates nothing new on the next sweep, and carries the proof again one proof period later', async () => {
      await history();
      now += PROOF_PERIOD + DAY;
      await ledger.sweepRetention();
      const first = await restated();
      assert.equal(first.length, 3);

      now += DAY;
      const again = await ledger.sweepRetention();
      assert.deepEqual([again.auditEventsRemoved, again.auditEventsRestated], [0, 0]);
      assert.deepEqual(await restated(), first);

      now += PROOF_PERIOD;
      const later = await ledger.sweepRetention();
      assert.equal(later.auditEventsRestated, 3, JSON.stringify(later));
      const second = await restated();
      assert.deepEqual(second.map(originalOf), first.map(originalOf), 'the original, not a restatement of it');
      assert.deepEqual(
        second.map((e) => e.detail?.previousRestatement),
        first.map((e) => ({ seq: e.seq, at: e.at, hash: e.hash })),
      );
      assert.equal(verifyAuditLines(await collect(ledger.exportAudit())).ok, true);
    });

    it('carries only the record that stands: an earlier consent that ended, and one withdrawn since, are not', async () => {
      await ledger.giveConsent({ subject: ERIKA, purpose: 'newsletter', wording: NEWS, method: 'keyword', actor: 't' });
      now += DAY;
      await withdrawNews(ERIKA);
      now += DAY;
      await ledger.giveConsent({ subject: ERIKA, purpose: 'newsletter', wording: NEWS, method: 'keyword', actor: 't' });
      const given = events(await collect(ledger.exportAudit())).filter((e) => e.action === 'consent.given');
      assert.equal(given.length, 2);

      now += PROOF_PERIOD + DAY;
      assert.equal((await ledger.sweepRetention()).auditEventsRestated, 1);
      assert.deepEqual((await restated()).map(originalOf), [given[1]]);

      // Withdrawn since: the restatement follows the proof period like any ended consent's events.
      await withdrawNews(ERIKA);
      now += PROOF_PERIOD + DAY;
      const report = await ledger.sweepRetention();
      assert.equal(report.auditEventsRestated, 0);
      assert.deepEqual(await restated(), []);
      assert.equal(verifyAuditLines(await collect(ledger.exportAudit())).ok, true);
    });

    it("carries a confirmation another instance's clock dated before its request", async () => {
      await ledger.requestConsent({
        subject: ERIKA,
        purpose: 'marketing',
        wording: OFFERS,
        language: 'en',
        method: 'web-form',
        actor: 'node-opt-in',
      });
      now -= 5000;
      await ledger.confirmConsent({ subject: ERIKA, confirmationText: 'YES', actor: 'node-opt-in' });
      const proof = events(await collect(ledger.exportAudit())).filter((e) => e.purpose === 'marketing');
      assert.deepEqual(
        proof.map((e) => e.action),
        ['consent.requested', 'consent.confirmed'],
      );
      now += PROOF_PERIOD + DAY;
      assert.equal((await ledger.sweepRetention()).auditEventsRestated, 2);
      assert.deepEqual((await restated()).map(originalOf), proof);
    });

    it('restates across small batches, each in the transaction of its purge', async () => {
      await ledger.close();
      ledger = await open({ sweepBatchSize: 2 });
      for (const subject of [ERIKA, MAX, LENA]) {
        await ledger.giveConsent({ subject, purpose: 'marketing', wording: OFFERS, method: 'keyword', actor: 't' });
        now += 1000;
      }
      const given = events(await collect(ledger.exportAudit())).filter((e) => e.action === 'consent.given');
      now += PROOF_PERIOD + DAY;
      const report = await ledger.sweepRetention();
      assert.equal(report.auditEventsRestated, 3);
      assert.deepEqual((await restated()).map(originalOf), given);
      assert.equal((await ledger.verifyAudit()).ok, true);
      const rows = await db.all('SELECT COUNT(*) AS n FROM audit WHERE action = ?', [PROOF_RESTATED_ACTION]);
      assert.equal(Number(rows[0].n), 3, 'each restated once');
    });

    it('a purge that fails after restating undoes the restatement too: nothing lost, nothing restated twice', async () => {
      await history();
      const before = await collect(ledger.exportAudit());
      // The anchor cannot be written: the purge's last statement fails, after the restatements were appended.
      await db.exec(
        db.backend === 'sqlite'
          ? `CREATE TRIGGER anchor_fails BEFORE INSERT ON audit_anchor BEGIN SELECT RAISE(ABORT, 'disk gone'); END`
          : `CREATE FUNCTION anchor_fails() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk gone'; END $$;
             CREATE TRIGGER anchor_fails BEFORE INSERT ON audit_anchor FOR EACH ROW EXECUTE FUNCTION anchor_fails()`,
      );
      now += PROOF_PERIOD + DAY;
      await assert.rejects(ledger.sweepRetention(), /disk gone/);
      const failed = events(await collect(ledger.exportAudit())).filter((e) => e.action !== SWEEP_ACTION);
      assert.deepEqual(failed, events(before), 'neither removed nor restated');

      await db.exec(
        db.backend === 'sqlite' ? 'DROP TRIGGER anchor_fails' : 'DROP TRIGGER anchor_fails ON audit_anchor',
      );
      assert.equal((await ledger.sweepRetention()).auditEventsRestated, 3);
      assert.equal((await restated()).length, 3);
      assert.equal((await ledger.verifyAudit()).ok, true);
    });

    it("the person's access export shows a restated event as the event itself, without the business's bookkeeping", async () => {
      await ledger.close();
      ledger = await ConsentLedger.open(
        db.options({ clock: () => now, usageFlushMs: 3_600_000, instanceId: 'node-a' }),
      );
      await ledger.giveConsent({
        subject: ERIKA,
        purpose: 'marketing',
        wording: OFFERS,
        method: 'keyword',
        actor: 't',
      });
      now += PROOF_PERIOD + DAY;
      await ledger.sweepRetention();
      const exported = await ledger.exportSubject(ERIKA, 'admin');
      const carried = exported.auditEvents.filter((e) => e.action === PROOF_RESTATED_ACTION);
      assert.equal(carried.length, 1);
      const original = carried[0].detail?.original as Record<string, unknown>;
      assert.deepEqual(Object.keys(original).sort(), ['action', 'actor', 'at', 'detail', 'outcome', 'purpose', 'seq']);
      assert.equal((original.detail as Record<string, unknown>).instance, undefined);
      assert.deepEqual(exported.information.retention.proofCarriedForwardWhileStanding, [
        'given-consent',
        'objection-to-purpose-without-consent',
      ]);
    });
  });
}

register('SQLite', sqliteHarness());
if (POSTGRES_URL) register('PostgreSQL', postgresHarness(POSTGRES_URL));
