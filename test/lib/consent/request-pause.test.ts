import assert from 'node:assert/strict';
import { ConsentLedger, OPTED_OUT_REQUEST_PAUSE_MS, REQUEST_RESEND_MS } from '../../../lib/consent/ledger';
import { GdprWhatsAppError } from '../../../lib/errors';
import { type BackendHarness, sqliteHarness, TEST_PURPOSES } from '../store/harness';

const WORDING = TEST_PURPOSES[0].wording.en;
const NEWS_WORDING = TEST_PURPOSES[1].wording.en;
const ANNA_NEW = '+4915199887766';
const ANNA = '+4915123456789';
const DAY = 86_400_000;
const HOUR = 3_600_000;

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    const r = (await promise) as { status?: string };
    return r?.status ?? 'ok';
  } catch (err) {
    return `error ${err instanceof GdprWhatsAppError ? err.code : String(err)}`;
  }
}

/**
 * A number typed into a form (or by staff) after the person said STOP, refused or was erased: one request in the
 * pause goes (she may be signing up again), no more while it is open or after she answered it with a no, whichever
 * purpose, key or way of saying no; her own second try after letting a request expire goes too.
 */
describe('consent ledger: the pause on typed-in requests after an opt-out', function () {
  this.timeout(120_000);
  let db: BackendHarness;
  let ledger: ConsentLedger;
  let now: number;
  const typedIn = (subject: unknown, purpose = 'marketing', extra: object = {}) =>
    ({
      subject,
      purpose,
      wording: purpose === 'newsletter' ? NEWS_WORDING : WORDING,
      method: 'web-form' as const,
      actor: 't',
      ...extra,
    }) as never;
  const later = (ms = REQUEST_RESEND_MS + 60_000) => {
    now += ms;
  };
  const stop = () =>
    ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
  beforeEach(async () => {
    db = await sqliteHarness()();
    now = Date.UTC(2025, 0, 1);
    ledger = await ConsentLedger.open(db.options({ clock: () => now }));
  });
  afterEach(async () => {
    await ledger.close();
    await db.dispose();
  });

  it('a second erasure does not reopen the way for another typed-in request', async () => {
    await ledger.giveConsent({ ...(typedIn(ANNA) as object), method: 'keyword' } as never);
    await ledger.eraseSubject(ANNA, 't');
    later();
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'pending'); // the one allowed
    later();
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'error recently-opted-out');
    // She answers the unwanted request by asking again to be erased (e.g. "DELETE"), as privacy texts tell her.
    await ledger.eraseSubject(ANNA, 't');
    later();
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'error recently-opted-out');
  });

  it('a person who answers every typed-in request with STOP gets at most one a month', async () => {
    await ledger.requestConsent(typedIn(ANNA));
    await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
    const sent: number[] = [];
    for (let h = 6; h <= 24 * 65; h += 6) {
      later(6 * 3_600_000);
      if ((await codeOf(ledger.requestConsent(typedIn(ANNA)))) === 'pending') {
        sent.push(h);
        later(60_000);
        await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
      }
    }
    // at most one request in any 30 days after her first STOP
    for (let i = 1; i < sent.length; i++) assert.ok(sent[i] - sent[i - 1] >= 24 * 29, `requests at hours ${sent}`);
  });

  it('after a STOP of everything one request goes in all, not one per purpose', async () => {
    await ledger.requestConsent(typedIn(ANNA));
    await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
    later();
    const got = [];
    for (const p of TEST_PURPOSES.map((d) => d.id)) got.push(await codeOf(ledger.requestConsent(typedIn(ANNA, p))));
    assert.deepEqual(got.filter((g) => g === 'pending').length, 1, String(got));
  });

  it('counts a STOP that came with her number and user id for the number typed in', async () => {
    await ledger.requestConsent(typedIn(ANNA));
    await ledger.withdrawConsent({
      subject: { phone: ANNA, userId: 'DE.anna1' },
      channel: 'whatsapp-keyword',
      keyword: 'STOP',
      actor: 't',
    });
    later();
    const first = await codeOf(ledger.requestConsent(typedIn(ANNA)));
    later();
    const second = await codeOf(ledger.requestConsent({ ...(typedIn(ANNA) as object), method: 'agent' } as never));
    assert.deepEqual([first, second], ['pending', 'error recently-opted-out']);
  });

  it('pauses until 30 days after the request she said no to, to the millisecond', async () => {
    await ledger.requestConsent(typedIn(ANNA));
    await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
    later();
    const asked = now;
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'pending');
    later();
    await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
    now = asked + OPTED_OUT_REQUEST_PAUSE_MS - 1;
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'error recently-opted-out');
    now = asked + OPTED_OUT_REQUEST_PAUSE_MS + 1;
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'pending');
  });

  it('lets a second request go when she let the first expire, not a third; her own request is never paused', async () => {
    await ledger.requestConsent(typedIn(ANNA));
    await ledger.refuseConsent({ subject: ANNA, purpose: 'marketing', actor: 't' });
    later();
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'pending');
    later(3 * DAY); // expired unanswered
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'pending');
    later(13 * DAY);
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'error recently-opted-out');
    // She writes to the business and is asked there: her own request.
    assert.equal(
      await codeOf(ledger.requestConsent({ ...(typedIn(ANNA) as object), method: 'keyword' } as never)),
      'pending',
    );
  });

  it('takes back a request whatsapp-send could not send; a sent one counts', async () => {
    await ledger.requestConsent(typedIn(ANNA));
    await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
    later();
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'pending');
    await ledger.requestNotDelivered(ANNA, 'marketing', { actor: 't' });
    later();
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'pending');
    later();
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'error recently-opted-out');
  });

  it('lets her sign up again after STOP when she missed her own request and tries again', async () => {
    await ledger.giveConsent({ ...(typedIn(ANNA) as object), method: 'keyword' } as never);
    await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
    later(7 * DAY);
    // she changes her mind and fills in the form herself
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'pending');
    later(3 * DAY); // she answers YES after the 48 h expiry
    assert.equal(
      await codeOf(ledger.confirmConsent({ subject: ANNA, purpose: 'marketing', confirmationText: 'YES', actor: 't' })),
      'error request-expired',
    ); // opt-in-flow answers: "Sorry, your sign-up request has expired. Please sign up again."
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'pending');
  });
  it('a request she confirmed is neither open nor unanswered', async () => {
    await ledger.requestConsent(typedIn(ANNA));
    await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
    later(2 * DAY);
    // She signs up again herself and confirms at once.
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'pending');
    later(60_000);
    assert.equal(
      await codeOf(ledger.confirmConsent({ subject: ANNA, purpose: 'marketing', confirmationText: 'YES', actor: 't' })),
      'given',
    );
    later(REQUEST_RESEND_MS);
    // Now she wants the newsletter too (same form, next tab).
    const rightAfter = await codeOf(ledger.requestConsent(typedIn(ANNA, 'newsletter')));
    later(3 * DAY); // she missed that one, and tries again: only one went unanswered
    const secondTry = await codeOf(ledger.requestConsent(typedIn(ANNA, 'newsletter')));
    assert.deepEqual([rightAfter, secondTry], ['pending', 'pending']);
  });

  it("the previous holder's STOP does not pause requests for the number's next holder", async () => {
    await ledger.requestConsent(typedIn(ANNA));
    await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
    later(DAY);
    await ledger.numberChanged({ phone: ANNA, newPhone: ANNA_NEW, actor: 't' });
    later(9 * DAY);
    // Bob got the old number and signs up on the shop's form for both purposes.
    const got = [
      await codeOf(ledger.requestConsent(typedIn(ANNA))),
      await codeOf(ledger.requestConsent(typedIn(ANNA, 'newsletter'))),
    ];
    assert.deepEqual(got, ['pending', 'pending']);
  });

  it('does not count what came with her from her previous number, whose time is not known there', async () => {
    await ledger.requestConsent(typedIn(ANNA));
    await ledger.withdrawConsent({ subject: ANNA, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
    later(DAY);
    await ledger.numberChanged({ phone: ANNA, newPhone: ANNA_NEW, actor: 't' });
    later(DAY);
    // A stranger would have to know her new number: the usual limits hold there.
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA_NEW))), 'pending');
  });

  it('an erasure of long ago is not a fresh no at the number she moves to', async () => {
    await ledger.giveConsent({ ...(typedIn(ANNA) as object), method: 'keyword' } as never);
    await ledger.eraseSubject(ANNA, 't');
    later(200 * DAY);
    await ledger.numberChanged({ phone: ANNA, newPhone: ANNA_NEW, actor: 't' });
    later(DAY);
    const got = [
      await codeOf(ledger.requestConsent(typedIn(ANNA_NEW))),
      await codeOf(ledger.requestConsent(typedIn(ANNA_NEW, 'newsletter'))),
    ];
    assert.deepEqual(got, ['pending', 'pending']);
  });
  it('takes a request with a longer expiry as open until it expires', async () => {
    await ledger.requestConsent(typedIn(ANNA));
    await stop();
    later();
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA, 'marketing', { expiresInMs: 7 * DAY }))), 'pending');
    later(3 * DAY); // the first request is still open (expires at day 7)
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'error recently-opted-out');
  });

  it('lets her second try go once her request with a short expiry expired', async () => {
    await ledger.requestConsent(typedIn(ANNA));
    await stop();
    later(7 * DAY);
    assert.equal(
      await codeOf(ledger.requestConsent(typedIn(ANNA, 'marketing', { expiresInMs: 30 * 60_000 }))),
      'pending',
    );
    later(2 * HOUR); // expired unanswered
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'pending');
  });

  it('after she refused one purpose, lets two ignored requests of another through, not more', async () => {
    await ledger.requestConsent(typedIn(ANNA, 'newsletter'));
    await ledger.refuseConsent({ subject: ANNA, purpose: 'newsletter', actor: 't' });
    const got: string[] = [];
    for (let i = 0; i < 4; i++) {
      later(3 * DAY); // each expires unanswered
      got.push(await codeOf(ledger.requestConsent(typedIn(ANNA))));
    }
    assert.deepEqual(got, ['pending', 'pending', 'error recently-opted-out', 'error recently-opted-out']);
  });

  it('counts an erasure request that found nothing on record as a no', async () => {
    await ledger.eraseSubject(ANNA, 't');
    later();
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'pending');
    later();
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'error recently-opted-out');
  });

  it('lets one request a month through to a person who said STOP and refuses every request, of any purpose', async () => {
    await ledger.requestConsent(typedIn(ANNA));
    await stop();
    const sent: number[] = [];
    const purposes = TEST_PURPOSES.map((d) => d.id);
    for (let h = 6; h <= 24 * 95; h += 6) {
      later(6 * HOUR);
      for (const p of purposes) {
        if ((await codeOf(ledger.requestConsent(typedIn(ANNA, p)))) === 'pending') {
          sent.push(h);
          later(60_000);
          await ledger.refuseConsent({ subject: ANNA, purpose: p, actor: 't' });
        }
      }
    }
    for (let i = 1; i < sent.length; i++) assert.ok(sent[i] - sent[i - 1] >= 24 * 29, `requests at hours ${sent}`);
  });

  it('keeps every purpose waiting 30 days after a request she refused, though her STOP is older', async () => {
    await ledger.requestConsent(typedIn(ANNA));
    await stop();
    later(DAY);
    assert.equal(await codeOf(ledger.requestConsent(typedIn(ANNA))), 'pending');
    later(60_000);
    await ledger.refuseConsent({ subject: ANNA, purpose: 'marketing', actor: 't' });
    later(29.5 * DAY); // 30.5 days after the STOP, 29.5 after her refusal of the one request since
    const got = [
      await codeOf(ledger.requestConsent(typedIn(ANNA, 'marketing'))),
      await codeOf(ledger.requestConsent(typedIn(ANNA, 'newsletter'))),
      await codeOf(ledger.requestConsent(typedIn(ANNA, 'orders'))),
    ];
    assert.deepEqual(got, ['error recently-opted-out', 'error recently-opted-out', 'error recently-opted-out']);
  });
});
