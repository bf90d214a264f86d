import assert from 'node:assert/strict';
import { definePurposes } from '../../../lib/consent/purposes';
import { evaluateCheck, mayAnswerRequest, quotedRequest } from '../../../lib/consent/rules';

describe('consent rules', () => {
  const purposes = definePurposes([
    { id: 'offers', label: 'Offers', wording: { en: 'Offers' }, lawfulBasis: 'consent' },
    { id: 'orders', label: 'Orders', wording: { en: 'Orders' }, lawfulBasis: 'contract' },
    { id: 'service', label: 'Service', wording: { en: 'Service' }, lawfulBasis: 'legitimate-interest' },
  ]);
  const offers = purposes.get('offers')!;
  const orders = purposes.get('orders')!;
  const now = 1_000_000;

  it('consent purposes pass only with a given consent', () => {
    const table: [string | undefined, number | null, boolean, string, string][] = [
      [undefined, null, false, 'none', 'no-consent'],
      ['given', null, true, 'given', 'consent-given'],
      ['pending', now + 1, false, 'pending', 'awaiting-confirmation'],
      ['pending', now, false, 'expired', 'request-expired'],
      ['expired', now - 1, false, 'expired', 'request-expired'],
      ['expired', null, false, 'expired', 'number-changed-hands'],
      ['withdrawn', null, false, 'withdrawn', 'consent-withdrawn'],
      ['refused', null, false, 'refused', 'consent-refused'],
    ];
    for (const [status, expiresAt, allowed, reported, reason] of table) {
      const state = status ? { status, expiresAt } : undefined;
      assert.deepEqual(evaluateCheck(offers, state, now), { allowed, status: reported, reason }, String(status));
    }
    assert.deepEqual(evaluateCheck(offers, 'erased', now), {
      allowed: false,
      status: 'erased',
      reason: 'subject-erased',
    });
  });

  it('contract purposes pass unless the subject objected or was erased, or the number changed hands', () => {
    assert.equal(evaluateCheck(orders, undefined, now).allowed, true);
    assert.equal(evaluateCheck(orders, undefined, now).reason, 'lawful-basis-contract');
    assert.equal(evaluateCheck(purposes.get('service')!, undefined, now).reason, 'lawful-basis-legitimate-interest');
    assert.equal(evaluateCheck(orders, { status: 'withdrawn', expiresAt: null }, now).allowed, false);
    assert.equal(evaluateCheck(orders, { status: 'expired', expiresAt: now - 1 }, now).allowed, true, 'a request');
    assert.deepEqual(evaluateCheck(orders, { status: 'expired', expiresAt: null }, now), {
      allowed: false,
      status: 'expired',
      reason: 'number-changed-hands',
    });
    assert.equal(evaluateCheck(orders, 'erased', now).allowed, false);
  });

  it('asks for consent for marketing whatever basis the store names (§ 7(2) UWG)', () => {
    const [promo] = definePurposes([
      { id: 'promo', label: 'Offers', wording: { en: 'Offers' }, lawfulBasis: 'contract', marketing: true },
    ]).values();
    assert.deepEqual(evaluateCheck(promo, undefined, now), { allowed: false, status: 'none', reason: 'no-consent' });
    assert.equal(evaluateCheck(promo, { status: 'given', expiresAt: null }, now).allowed, true);
    assert.equal(evaluateCheck(promo, { status: 'expired', expiresAt: now - 1 }, now).allowed, false);
  });

  it('a new wording is a new purpose version', () => {
    const again = definePurposes([
      { id: 'offers', label: 'Offers', wording: { en: 'Offers!' }, lawfulBasis: 'consent' },
    ]);
    assert.notEqual(again.get('offers')!.version, offers.version);
    assert.match(offers.version, /^[0-9a-f]{16}$/);
  });

  describe('quoted replies', () => {
    const requests = [
      { purpose: 'offers', messageId: 'wamid.offers' },
      { purpose: 'orders', messageId: undefined },
    ];
    const messageIdOf = (request: (typeof requests)[number]) => request.messageId;

    it('a quoted reply answers the request whose message it quotes', () => {
      assert.equal(quotedRequest(requests, 'wamid.offers', messageIdOf)?.purpose, 'offers');
      assert.equal(quotedRequest(requests, 'wamid.call-back', messageIdOf), undefined);
      assert.equal(quotedRequest(requests, undefined, messageIdOf), undefined, 'a reply quoting nothing');
    });

    it('a reply quoting another message answers no request whose message is on record', () => {
      assert.equal(mayAnswerRequest('wamid.offers', 'wamid.call-back'), false);
      assert.equal(mayAnswerRequest('wamid.offers', 'wamid.offers'), true);
      assert.equal(mayAnswerRequest('wamid.offers', undefined), true, 'a reply quoting nothing');
      // Sent before message ids were recorded: it cannot be told from the message quoted.
      assert.equal(mayAnswerRequest(undefined, 'wamid.call-back'), true);
    });
  });
});
