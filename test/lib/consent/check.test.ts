import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConsentLedger, OPTED_OUT_REQUEST_PAUSE_MS, REQUEST_RESEND_MS } from '../../../lib/consent/ledger';
import { effectiveBasis } from '../../../lib/consent/purposes';
import { evaluateCheck } from '../../../lib/consent/rules';
import type { CheckResult, SubjectInput } from '../../../lib/consent/types';
import { GdprWhatsAppError } from '../../../lib/errors';
import type { CheckState } from '../../../lib/store/types';
import {
  type BackendHarness,
  type HarnessFactory,
  POSTGRES_URL,
  postgresHarness,
  sqliteHarness,
  TEST_PURPOSES,
} from '../store/harness';

const WORDING = TEST_PURPOSES[0].wording.en;
const PURPOSES = TEST_PURPOSES.map((p) => p.id);
/** Canonical numbers, each with ways of writing it, including forms libphonenumber rewrites. */
const SUBJECTS: { canonical: string; written: string[] }[] = [
  {
    canonical: '+4915123456789',
    written: ['+4915123456789', '4915123456789', '+49 151 23456789', '004915123456789', '+49015123456789'],
  },
  { canonical: '+447911123456', written: ['+447911123456', '447911123456', '+4407911123456', '4407911123456'] },
  { canonical: '+390612345678', written: ['+390612345678', '390612345678', '0039 06 1234 5678'] },
  { canonical: '+12015550123', written: ['+12015550123', '12015550123', '+1 (201) 555-0123'] },
];

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    return JSON.stringify(await promise);
  } catch (err) {
    return `error ${err instanceof GdprWhatsAppError ? err.code : String(err)}`;
  }
}

/**
 * What the model knows of a person's erasure, kept by the property from the steps that went through: when she was
 * last erased, and which purposes her last word was no to (a withdrawal or refusal, not a consent given since).
 */
interface ErasureModel {
  listedAt?: number;
  objected: Set<string>;
}

/**
 * The full rules without the lookup fast path: getConsent and isSuppressed parse the number first,
 * then the one rule table decides. checkConsent must answer exactly this, error codes included.
 */
async function fullRules(
  ledger: ConsentLedger,
  subject: SubjectInput,
  purpose: string,
  now: number,
  erasure: ErasureModel = { objected: new Set() },
) {
  const record = await ledger.getConsent(subject, purpose);
  const def = ledger.purpose(purpose);
  if (!def) throw new Error(`unknown purpose ${purpose}`);
  // Once she came back after her erasure (these steps sign up; none writes), what needs no consent allows as for
  // anyone new, unless she said no to it: her erasure forbids no more.
  const cameBack = async () => {
    const { listedAt } = erasure;
    if (effectiveBasis(def) === 'consent' || listedAt === undefined) return false;
    for (const p of PURPOSES) {
      const r = await ledger.getConsent(subject, p);
      if (r?.status === 'given' && (r.decidedAt ?? 0) > listedAt) return true;
    }
    return false;
  };
  const afterErasure = async (otherwise: CheckResult) => {
    if (!(await cameBack())) return evaluateCheck(def, 'erased', now);
    return erasure.objected.has(purpose)
      ? evaluateCheck(def, { status: 'withdrawn', expiresAt: null }, now)
      : otherwise;
  };
  const state: CheckState = record
    ? { status: record.status, expiresAt: record.expiresAt ?? null }
    : (await ledger.isSuppressed(subject))
      ? 'erased'
      : undefined;
  const result = evaluateCheck(def, state, now);
  if (state === 'erased') return afterErasure(evaluateCheck(def, undefined, now));
  if (!result.allowed || (result.status !== 'pending' && result.status !== 'expired')) return result;
  // An unconfirmed request lifts nothing that forbade before it: the latest other archived record still decides.
  const history = (await ledger.exportSubject(subject, 'model')).history.filter((h) => h.purpose === purpose);
  const decided = history
    .reverse()
    .find((h) => !(h.status === 'pending' || (h.status === 'expired' && h.expiresAt !== undefined)));
  // An erasure leaves no history: a request since lifts it no more than it lifts a refusal.
  if (!decided) return (await ledger.isSuppressed(subject)) ? afterErasure(result) : result;
  const before = evaluateCheck(def, { status: decided.status, expiresAt: decided.expiresAt ?? null }, now);
  return before.allowed ? result : before;
}

type Step =
  | { op: 'give' | 'request' | 'withdraw' | 'refuse' | 'erase'; subject: number; form: number; purpose: number }
  | { op: 'wait'; hours: number }
  | { op: 'check'; subject: number; form: number; purpose: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constantFrom('give' as const, 'request' as const, 'withdraw' as const, 'refuse' as const, 'erase' as const),
    subject: fc.nat(SUBJECTS.length - 1),
    form: fc.nat(4),
    purpose: fc.nat(PURPOSES.length - 1),
  }),
  fc.record({ op: fc.constant('wait' as const), hours: fc.integer({ min: 1, max: 60 }) }),
  fc.record({
    op: fc.constant('check' as const),
    subject: fc.nat(SUBJECTS.length - 1),
    form: fc.nat(4),
    purpose: fc.nat(PURPOSES.length - 1),
  }),
);

function checkSuite(name: string, factory: HarnessFactory, runs: number): void {
  describe(`consent check: ${name}`, function () {
    this.timeout(120_000);
    let db: BackendHarness;
    let ledger: ConsentLedger;
    let now: number;

    beforeEach(async () => {
      db = await factory();
      now = Date.UTC(2025, 0, 1);
      ledger = await ConsentLedger.open(db.options({ clock: () => now }));
    });

    afterEach(async () => {
      await ledger.close();
      await db.dispose();
    });

    it('answers like the full rules for every way of writing a number, after any history', async () => {
      const written = (subject: number, form: number) => {
        const forms = SUBJECTS[subject].written;
        return forms[form % forms.length];
      };
      const erasures: ErasureModel[] = SUBJECTS.map(() => ({ objected: new Set<string>() }));
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
          // The database lives on from run to run, and so does what the model knows.
          for (const s of steps) {
            if (s.op === 'wait') {
              now += s.hours * 3_600_000;
              continue;
            }
            const subject = written(s.subject, s.form);
            const purpose = PURPOSES[s.purpose];
            const base = { subject, purpose, wording: WORDING, method: 'keyword' as const, actor: 'test' };
            const erasure = erasures[s.subject];
            const went = (code: string) => !code.startsWith('error');
            if (s.op === 'give') {
              if (went(await codeOf(ledger.giveConsent(base)))) erasure.objected.delete(purpose);
            } else if (s.op === 'request') await codeOf(ledger.requestConsent(base));
            else if (s.op === 'refuse') {
              if (went(await codeOf(ledger.refuseConsent(base)))) erasure.objected.add(purpose);
            } else if (s.op === 'withdraw') {
              const code = await codeOf(
                ledger.withdrawConsent({ subject, purposes: [purpose], channel: 'api', actor: 'test' }),
              );
              if (went(code)) erasure.objected.add(purpose);
            } else if (s.op === 'erase') {
              if (went(await codeOf(ledger.eraseSubject(subject, 'test')))) erasure.listedAt = now;
            }
            // After every step, every way of writing every subject answers like the full rules.
            for (const [i, { written: forms }] of SUBJECTS.entries()) {
              for (const form of forms) {
                for (const p of PURPOSES) {
                  assert.equal(
                    await codeOf(ledger.checkConsent(form, p)),
                    await codeOf(fullRules(ledger, form, p, now, erasures[i])),
                    `${s.op} then check ${form} for ${p}`,
                  );
                }
              }
            }
          }
        }),
        { numRuns: runs },
      );
    });

    it('keeps an erased person erased while a request for a purpose without consent waits unconfirmed', async () => {
      const phone = SUBJECTS[0].canonical;
      const orders = { subject: phone, purpose: 'orders', wording: WORDING, method: 'web-form' as const, actor: 't' };
      await ledger.giveConsent(orders);
      await ledger.eraseSubject(phone, 't');
      // Anyone can type her number into a form: not asked for a while after her erasure, then asked again.
      now += OPTED_OUT_REQUEST_PAUSE_MS + 60_000;
      await ledger.requestConsent(orders);
      const pending = await ledger.checkConsent(phone, 'orders');
      now += 72 * 3_600_000;
      const expired = await ledger.checkConsent(phone, 'orders');
      assert.deepEqual(
        [pending.status, pending.allowed, expired.status, expired.allowed],
        ['erased', false, 'erased', false],
      );
      // Her own confirmation takes her off the erasure list, as a consent given after an erasure does.
      await ledger.requestConsent(orders);
      await ledger.confirmConsent({ subject: phone, purpose: 'orders', confirmationText: 'JA', actor: 't' });
      assert.equal((await ledger.checkConsent(phone, 'orders')).allowed, true);
    });

    it('asks a number typed into a form once in the 30 days after her STOP, refusal or erasure, then not again', async () => {
      const [anna, ben, carla] = SUBJECTS.map((s) => s.canonical);
      const typedIn = (subject: string, purpose = 'marketing') => ({
        subject,
        purpose,
        wording: WORDING,
        method: 'web-form' as const,
        actor: 't',
      });
      const later = () => {
        now += REQUEST_RESEND_MS + 60_000;
      };
      // Anna answers a request someone else made for her with STOP; Ben refuses it; Carla's data is erased.
      await ledger.requestConsent(typedIn(anna));
      await ledger.withdrawConsent({ subject: anna, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
      await ledger.requestConsent(typedIn(ben));
      await ledger.refuseConsent({ subject: ben, purpose: 'marketing', actor: 't' });
      await ledger.giveConsent({ ...typedIn(carla), method: 'keyword' });
      await ledger.eraseSubject(carla, 't');
      later();
      // She may be signing up again herself: the first request after her opt-out goes, the next ones do not.
      for (const subject of [anna, ben, carla]) {
        assert.equal((await ledger.requestConsent(typedIn(subject))).status, 'pending', subject);
      }
      later();
      for (const subject of [anna, ben, carla]) {
        assert.equal(await codeOf(ledger.requestConsent(typedIn(subject))), 'error recently-opted-out', subject);
        assert.equal(
          await codeOf(ledger.requestConsent({ ...typedIn(subject), method: 'agent' })),
          'error recently-opted-out',
        );
      }
      // Answering that one with STOP again opens no way for another: it counts for 30 days from when it was made.
      await ledger.withdrawConsent({ subject: anna, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
      later();
      assert.equal(await codeOf(ledger.requestConsent(typedIn(anna))), 'error recently-opted-out');
      // The one request went, for whichever purpose: a no to one purpose (Ben's) pauses the others as well.
      for (const subject of [anna, ben]) {
        assert.equal(await codeOf(ledger.requestConsent(typedIn(subject, 'newsletter'))), 'error recently-opted-out');
      }
      // She may always sign up herself, by writing to the business.
      await ledger.giveConsent({ ...typedIn(anna), method: 'keyword' });
      assert.equal((await ledger.checkConsent(anna, 'marketing')).allowed, true);
      // After the pause a form may ask again.
      now += OPTED_OUT_REQUEST_PAUSE_MS;
      assert.equal((await ledger.requestConsent(typedIn(ben))).status, 'pending');
      assert.equal((await ledger.requestConsent(typedIn(carla))).status, 'pending');
    });

    it('finds the canonical record when the input is written in a form libphonenumber rewrites', async () => {
      await ledger.giveConsent({
        subject: '+447911123456',
        purpose: 'marketing',
        wording: WORDING,
        method: 'keyword',
        actor: 't',
      });
      for (const form of ['+4407911123456', '4407911123456', '+44 07911 123456']) {
        assert.deepEqual(
          await ledger.checkConsent(form, 'marketing'),
          { allowed: true, status: 'given', reason: 'consent-given' },
          form,
        );
      }
    });

    it('withdraws the canonical record after a message from the number as the sender wrote it', async () => {
      // The message's inbound time remembers a written form its subject row proved canonical; the STOP that
      // follows must reach the same record as parsing would, and a form that is not canonical must not be kept.
      for (const { canonical, written } of SUBJECTS) {
        for (const form of written) {
          await ledger.giveConsent({
            subject: canonical,
            purpose: 'marketing',
            wording: WORDING,
            method: 'keyword',
            actor: 't',
          });
          await ledger.recordInbound(form, now);
          assert.equal(await ledger.lastInboundAt(canonical), now, form);
          const [withdrawn] = await ledger.withdrawConsent({
            subject: form,
            purposes: ['marketing'],
            channel: 'api',
            actor: 't',
          });
          assert.equal(withdrawn?.status, 'withdrawn', form);
          assert.equal((await ledger.checkConsent(canonical, 'marketing')).status, 'withdrawn', form);
          now += 1_000;
        }
      }
    });

    it('keeps every refusal of the full rules: invalid numbers, malformed user ids, erased subjects', async () => {
      const PHONE = '+4915123456789';
      await ledger.giveConsent({
        subject: PHONE,
        purpose: 'marketing',
        wording: WORDING,
        method: 'keyword',
        actor: 't',
      });
      assert.equal(
        await codeOf(ledger.checkConsent({ phone: PHONE, userId: 'has space' }, 'marketing')),
        'error invalid-subject',
      );
      assert.equal(
        await codeOf(ledger.checkConsent({ waId: PHONE.slice(1), userId: 'DE.1' }, 'marketing')),
        JSON.stringify({ allowed: true, status: 'given', reason: 'consent-given' }),
      );
      for (const bad of ['12', '+12', '+4915', '+999123456789']) {
        assert.equal(await codeOf(ledger.checkConsent(bad, 'marketing')), 'error invalid-phone', bad);
      }
      await ledger.eraseSubject(PHONE, 't');
      for (const form of [PHONE, PHONE.slice(1), '+49 151 23456789']) {
        assert.deepEqual(await ledger.checkConsent(form, 'orders'), {
          allowed: false,
          status: 'erased',
          reason: 'subject-erased',
        });
      }
      // A person may come back after erasure: the new consent counts, not the old erasure.
      await ledger.giveConsent({
        subject: PHONE,
        purpose: 'marketing',
        wording: WORDING,
        method: 'keyword',
        actor: 't',
      });
      assert.equal((await ledger.checkConsent(PHONE, 'marketing')).status, 'given');
      assert.equal((await ledger.checkConsent(PHONE, 'newsletter')).status, 'erased');
    });
  });
}

checkSuite('SQLite', sqliteHarness(), 25);
if (POSTGRES_URL) checkSuite('PostgreSQL', postgresHarness(POSTGRES_URL), 8);
