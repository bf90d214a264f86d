import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  findPurpose,
  marketingWithoutConsent,
  missingInterest,
  parsePurposes,
  purposeLabel,
  purposeProblems,
} from '../../../lib/conversation/purposes';
import { GdprWhatsAppError } from '../../../lib/errors';

const orderUpdates = {
  id: 'order-updates',
  label: 'Order updates',
  wording: { en: 'I want order updates on WhatsApp.', de: 'Ich möchte Bestell-Updates über WhatsApp.' },
  lawfulBasis: 'contract',
};

describe('conversation/purposes', () => {
  it('parses a saved list into clean definitions with marketing defaulting to false', () => {
    const parsed = parsePurposes([
      { ...orderUpdates, label: '  Order updates ', wording: { en: ' I want order updates. ', de: '' } },
      {
        id: 'news',
        label: 'Newsletter',
        wording: { de: 'Newsletter per WhatsApp' },
        lawfulBasis: 'consent',
        marketing: true,
      },
    ]);
    assert.deepEqual(parsed, [
      {
        id: 'order-updates',
        label: 'Order updates',
        wording: { en: 'I want order updates.' },
        lawfulBasis: 'contract',
        marketing: false,
      },
      {
        id: 'news',
        label: 'Newsletter',
        wording: { de: 'Newsletter per WhatsApp' },
        lawfulBasis: 'consent',
        marketing: true,
      },
    ]);
    assert.equal(findPurpose(parsed, 'news')?.label, 'Newsletter');
    assert.equal(findPurpose(parsed, 'nope'), undefined);
  });

  it('keeps a label per language, trimmed, and names the purpose in the language asked for', () => {
    const [translated, plain] = parsePurposes([
      { ...orderUpdates, labels: { en: ' Updates on your orders ', de: ' Bestell-Updates ', fr: '' } },
      { ...orderUpdates, id: 'plain' },
    ]);
    assert.deepEqual(translated.labels, { en: 'Updates on your orders', de: 'Bestell-Updates' });
    assert.equal(purposeLabel(translated, 'en'), 'Updates on your orders');
    assert.equal(purposeLabel(translated, 'de'), 'Bestell-Updates');
    assert.equal(purposeLabel(translated, 'fr'), 'Order updates', 'the general label where a language has none');
    assert.equal(plain.labels, undefined);
    assert.equal(purposeLabel(plain, 'de'), 'Order updates');
    const problems = purposeProblems([
      { ...orderUpdates, labels: { de: 'x'.repeat(101) } },
      { ...orderUpdates, id: 'list', labels: ['Bestell-Updates'] },
    ]);
    assert.deepEqual(
      problems.map((p) => [p.index, p.field, p.code]),
      [
        [0, 'label', 'invalid-purpose-label'],
        [1, 'label', 'invalid-purpose-label'],
      ],
    );
  });

  it('keeps the legitimate interest pursued of a legitimate-interest purpose only, trimmed', () => {
    const shipping = {
      id: 'shipping',
      label: 'Shipping notices',
      wording: { en: 'Notices about the delivery of your order.' },
      lawfulBasis: 'legitimate-interest',
      interest: { en: ' We inform customers about their deliveries. ', de: '' },
    };
    const [withInterest, without, contract] = parsePurposes([
      shipping,
      { ...shipping, id: 'silent', interest: undefined },
      { ...orderUpdates, interest: { en: 'Not shown for a contract.' } },
    ]);
    assert.deepEqual(withInterest.interest, { en: 'We inform customers about their deliveries.' });
    assert.equal(missingInterest(withInterest), false);
    assert.equal(without.interest, undefined);
    assert.equal(missingInterest(without), true, 'a legitimate-interest purpose that names no interest');
    assert.equal(contract.interest, undefined);
    assert.equal(missingInterest(contract), false);
    assert.deepEqual(
      purposeProblems([
        { ...shipping, interest: { en: 'x'.repeat(2001) } },
        { ...shipping, id: 'b', interest: 'text' },
      ]).map((p) => [p.index, p.field, p.code]),
      [
        [0, 'interest', 'invalid-purpose-interest'],
        [1, 'interest', 'invalid-purpose-interest'],
      ],
    );
  });

  it('names a marketing purpose on another basis than consent, which the store warns of (§ 7(2) UWG)', () => {
    const promo = { id: 'promo', label: 'Offers', wording: { en: 'Offers on WhatsApp' }, marketing: true };
    const interest = { en: 'Telling customers about similar products' };
    for (const lawfulBasis of ['contract', 'legitimate-interest']) {
      const [parsed] = parsePurposes([{ ...promo, lawfulBasis, interest }]);
      assert.equal(marketingWithoutConsent(parsed), true, lawfulBasis);
    }
    assert.equal(marketingWithoutConsent(parsePurposes([{ ...promo, lawfulBasis: 'consent' }])[0]), false);
    const service = { ...promo, marketing: false, lawfulBasis: 'legitimate-interest', interest };
    assert.equal(marketingWithoutConsent(parsePurposes([service])[0]), false);
  });

  it('accepts the JSON text of a list and an empty or missing list', () => {
    assert.equal(parsePurposes(JSON.stringify([orderUpdates]))[0].id, 'order-updates');
    assert.deepEqual(parsePurposes(''), []);
    assert.deepEqual(parsePurposes(undefined), []);
  });

  it('names each problem with its field and i18n code', () => {
    const problems = purposeProblems([
      { id: 'Bad Id', label: '', wording: {}, lawfulBasis: 'vibes' },
      orderUpdates,
      orderUpdates,
      'not an object',
    ]);
    assert.deepEqual(
      problems.map((p) => [p.index, p.field, p.code]),
      [
        [0, 'id', 'invalid-purpose-id'],
        [0, 'label', 'invalid-purpose-label'],
        [0, 'lawfulBasis', 'invalid-lawful-basis'],
        [0, 'wording', 'invalid-purpose-wording'],
        [2, 'id', 'duplicate-purpose-id'],
        [3, 'list', 'invalid-purpose-entry'],
      ],
    );
    assert.deepEqual(
      purposeProblems({}).map((p) => p.code),
      ['invalid-purpose-list'],
    );
  });

  it('throws the first problem as a GdprWhatsAppError with its position', () => {
    assert.throws(
      () => parsePurposes([orderUpdates, { ...orderUpdates, id: 'x', wording: { en: 'a'.repeat(2001) } }]),
      (err: unknown) =>
        err instanceof GdprWhatsAppError &&
        err.code === 'invalid-purpose-wording' &&
        err.params.index === 2 &&
        err.params.position === '2 (x)' &&
        err.message.startsWith('Purpose 2 (x): '),
    );
    // Without a usable id: by position alone.
    assert.throws(
      () => parsePurposes([orderUpdates, { ...orderUpdates, id: '' }]),
      (err: unknown) => err instanceof GdprWhatsAppError && err.params.position === '2',
    );
    assert.throws(
      () => parsePurposes('[{'),
      (err: unknown) => (err as GdprWhatsAppError).code === 'invalid-purpose-list',
    );
  });

  it('never throws anything but a GdprWhatsAppError, whatever it is given', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        try {
          parsePurposes(value);
        } catch (err) {
          return err instanceof GdprWhatsAppError;
        }
        return true;
      }),
    );
  });
});
