import assert from 'node:assert/strict';
import fc from 'fast-check';
import examples from 'libphonenumber-js/examples.mobile.json';
import type { CountryCode } from 'libphonenumber-js/max';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { GdprWhatsAppError } from '../../lib/errors';
import {
  isNationallyWritten,
  isValidPhoneNumber,
  lookupCandidate,
  namedNumberChecks,
  normaliseNamedNumber,
  normalisePhoneNumber,
  parseCountry,
  readNamedNumber,
} from '../../lib/phone';

/** The value or the error code: two calls agree when these are deep-equal. */
function outcome(input: unknown): string {
  try {
    return `number ${normalisePhoneNumber(input)}`;
  } catch (err) {
    return `error ${err instanceof GdprWhatsAppError ? err.code : String(err)}`;
  }
}

/** One valid mobile number per country (libphonenumber's own examples), in E.164. */
const EXAMPLES = Object.entries(examples as Record<string, string>)
  .map(([country, national]) => parsePhoneNumberFromString(national, country as CountryCode)?.number)
  .filter((n): n is NonNullable<typeof n> => n !== undefined)
  .map(String);

/** Numbers near the examples: the last digits replaced. Most stay valid, some do not; both matter. */
const nearExample = fc
  .tuple(fc.constantFrom(...EXAMPLES), fc.integer({ min: 1, max: 4 }), fc.nat())
  .map(([e164, count, seed]) => {
    const tail = String(seed % 10 ** count).padStart(count, '0');
    return e164.slice(0, e164.length - count) + tail;
  });

/** The ways people and systems write one number; the first two are the ones lookupCandidate accepts. */
const writtenAs = (e164: string) => {
  const digits = e164.slice(1);
  return [
    e164,
    digits,
    `00${digits}`,
    `+${digits.slice(0, 2)} ${digits.slice(2, 5)} ${digits.slice(5)}`,
    `(+${digits.slice(0, 3)}) ${digits.slice(3, 7)}-${digits.slice(7)}`,
    ` ${e164} `,
  ];
};

/**
 * Numbers libphonenumber rewrites: a national prefix after the country code (UK 0, Russia 8), Italy's
 * leading zero (kept), Argentina's mobile 9, Mexico's old mobile 1, North America's shared +1.
 */
const TRICKY = [
  '+4407911123456',
  '+447911123456',
  '+4901511234567',
  '+78005553535',
  '+788005553535',
  '+390612345678',
  '+3906123456789',
  '+5491123456789',
  '+541123456789',
  '+5215512345678',
  '+525512345678',
  '+12015550123',
  '+120155501234',
  '+33612345678',
  '+330612345678',
];

describe('phone', () => {
  it('normalises the common ways of writing a number to E.164', () => {
    for (const written of ['+49 151 23456789', '0049 151 23456789', '+49 (151) 234-567-89', '4915123456789']) {
      assert.equal(normalisePhoneNumber(written), '+4915123456789', written);
    }
  });

  it('reads a national number with a default country', () => {
    assert.equal(normalisePhoneNumber('0151 23456789', 'DE'), '+4915123456789');
  });

  it('with a default country refuses digits that are also a valid number with a + in front, rather than guess', () => {
    // Read with DE they are valid German fixed lines (+49 4915123456789, +49 447911123456, +49 33612345678): a
    // foreigner who left out the plus would have a stranger asked for consent.
    for (const typed of ['49 151 23456789', '4915123456789', '44 7911 123456', '33612345678', '15123456789']) {
      assert.throws(
        () => normalisePhoneNumber(typed, 'DE'),
        (err: unknown) =>
          err instanceof GdprWhatsAppError && err.code === 'ambiguous-phone' && !err.message.includes(typed),
        typed,
      );
      assert.equal(isValidPhoneNumber(typed, 'DE'), false);
      assert.doesNotThrow(() => normalisePhoneNumber(`+${typed}`, 'DE'), 'with a plus it is one number');
    }
    assert.equal(normalisePhoneNumber('+44 7911 123456', 'DE'), '+447911123456');
    assert.equal(normalisePhoneNumber('0044 7911 123456', 'DE'), '+447911123456');
    // Written as Germans write them, national or international, nothing changes.
    for (const written of ['0151 23456789', '0151/23456789', '+49 151 23456789', '0049 151 23456789']) {
      assert.equal(normalisePhoneNumber(written, 'DE'), '+4915123456789', written);
    }
    assert.equal(normalisePhoneNumber('030 1234567', 'DE'), '+49301234567');
    // A national number that is no valid international one stays a national number (no country code 30 or 89).
    assert.equal(normalisePhoneNumber('301234567', 'DE'), '+49301234567');
    // A trunk prefix other than 0 marks a national number too: Moscow's 8 495 … is not Viet Nam's +84 95 ….
    assert.equal(normalisePhoneNumber('8 495 123 45 67', 'RU'), '+74951234567');
    // Both readings the same number: nothing to refuse.
    assert.equal(normalisePhoneNumber('1 415 555 0123', 'US'), '+14155550123');
    // Where numbers are written at home without a trunk prefix, digits written so are the national number, even
    // when they would also make another country's number with a + in front (+20 1555 0123 is Egypt's, say).
    for (const [typed, country, number] of [
      ['2015550123', 'US', '+12015550123'],
      ['13123456789', 'CN', '+8613123456789'],
      ['321 1234567', 'CO', '+573211234567'],
      ['6912345678', 'GR', '+306912345678'],
    ]) {
      assert.equal(normalisePhoneNumber(typed, country), number, `${typed} (${country})`);
    }
    // Without a default country digits are an international number, as WhatsApp ids are.
    assert.equal(normalisePhoneNumber('4915123456789'), '+4915123456789');
  });

  it("reads a number named by staff in the store's country only when it is written nationally, with one 0", () => {
    assert.equal(normaliseNamedNumber('0151 23456789', 'DE'), '+4915123456789');
    assert.equal(normaliseNamedNumber('(0151) 234 567 89', 'DE'), '+4915123456789');
    assert.equal(normaliseNamedNumber('0664 1234567', 'AT'), '+436641234567');
    // International as before, whatever the country: 00, +, and a WhatsApp id without +.
    assert.equal(normaliseNamedNumber('0044 7911 123456', 'DE'), '+447911123456');
    assert.equal(normaliseNamedNumber('+44 7911 123456', 'DE'), '+447911123456');
    assert.equal(normaliseNamedNumber('447911123456', 'DE'), '+447911123456');
    assert.equal(normaliseNamedNumber(4915123456789, 'DE'), '+4915123456789');
    // Without a country a national number is refused, as ever.
    assert.throws(
      () => normaliseNamedNumber('0151 23456789'),
      (err: unknown) => (err as GdprWhatsAppError).code === 'invalid-phone',
    );
    assert.throws(
      () => normaliseNamedNumber('0151 2', 'DE'),
      (err: unknown) => (err as GdprWhatsAppError).code === 'invalid-phone',
    );
    assert.deepEqual(['0151 1', ' 030 123', '(0151) 1', '00 49', '+49', '49151'].map(isNationallyWritten), [
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it("reads digits whose leading 0 a spreadsheet dropped in the store's country, and keeps both readings when both are valid", () => {
    // No valid number with a + in front, one with the 0 put back: read in the country, for a person the store knows.
    assert.deepEqual(readNamedNumber('17612345678', 'DE'), { phone: '+4917612345678', readIn: 'DE' });
    assert.deepEqual(readNamedNumber(17612345678, 'DE'), { phone: '+4917612345678', readIn: 'DE' });
    assert.deepEqual(readNamedNumber('176 1234 5678', 'DE'), { phone: '+4917612345678', readIn: 'DE' });
    // +1 512 345 6789 or 0151 23456789: both valid, the store's records decide.
    assert.deepEqual(readNamedNumber('15123456789', 'DE'), {
      phone: '+15123456789',
      nationalReading: '+4915123456789',
    });
    assert.deepEqual(namedNumberChecks('447911123456', 'DE'), { nationalReading: '+49447911123456' });
    // A WhatsApp id of the store's own country stays as it is, with nothing to check; so does any id without a country.
    assert.deepEqual(readNamedNumber('4915123456789', 'DE'), { phone: '+4915123456789' });
    assert.deepEqual(readNamedNumber('15123456789'), { phone: '+15123456789' });
    assert.deepEqual(namedNumberChecks('15123456789', undefined), {});
    assert.deepEqual(namedNumberChecks('+44 7911 123456', 'DE'), {});
    assert.deepEqual(namedNumberChecks('0151 23456789', 'DE'), { readIn: 'DE' });
    // Valid in neither reading: refused as before.
    assert.throws(
      () => readNamedNumber('12', 'DE'),
      (err: unknown) => (err as GdprWhatsAppError).code === 'invalid-phone',
    );
  });

  it('takes a country setting as a two-letter code libphonenumber knows, and nothing else', () => {
    assert.equal(parseCountry(''), undefined);
    assert.equal(parseCountry('  '), undefined);
    assert.equal(parseCountry(undefined), undefined);
    assert.equal(parseCountry(' de '), 'DE');
    assert.equal(parseCountry('AT'), 'AT');
    for (const bad of ['XX', 'DEU', 'D', 'D1', 'Deutschland', 49, true, {}]) {
      assert.throws(
        () => parseCountry(bad),
        (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'invalid-country',
        String(bad),
      );
    }
  });

  it('rejects what is not a valid number with an i18n error code', () => {
    for (const bad of ['', '12', '+49 151', 'call me', '+4915123456789; DROP TABLE', null, {}, '0151 23456789']) {
      assert.throws(
        () => normalisePhoneNumber(bad as never),
        (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'invalid-phone',
      );
      assert.equal(isValidPhoneNumber(bad), false);
    }
  });

  it('never repeats the rejected input in the error message', () => {
    assert.throws(
      () => normalisePhoneNumber('+49 151 2345'),
      (err: unknown) =>
        err instanceof GdprWhatsAppError && err.code === 'invalid-phone' && !err.message.includes('2345'),
    );
  });

  it('returns only numbers that normalise to themselves (the lookup fast path relies on it)', () => {
    const numbers = fc.oneof(nearExample, fc.constantFrom(...EXAMPLES, ...TRICKY));
    fc.assert(
      fc.property(numbers, (e164) => {
        for (const written of writtenAs(e164)) {
          const result = outcome(written);
          if (!result.startsWith('number ')) continue;
          const number = result.slice('number '.length);
          assert.equal(normalisePhoneNumber(number), number, written);
          assert.equal(normalisePhoneNumber(number.slice(1)), number, written);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('lookupCandidate is the canonical number whenever that number could be stored', () => {
    const digits = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: 20 });
    const inputs = fc.oneof(
      nearExample,
      nearExample.map((n) => n.slice(1)),
      fc.constantFrom(...TRICKY, ...TRICKY.map((n) => n.slice(1))),
      digits,
      digits.map((d) => `+${d}`),
      digits.map((d) => `00${d}`),
    );
    fc.assert(
      fc.property(inputs, (input) => {
        const candidate = lookupCandidate(input);
        if (candidate === undefined) return;
        // The candidate is exactly the text the full rules parse: both agree on value and on error.
        assert.equal(outcome(input), outcome(candidate), input);
        // A stored number is a fixed point; if the candidate is one, the full rules return it.
        if (outcome(candidate) === `number ${candidate}`) assert.equal(normalisePhoneNumber(input), candidate);
        else assert.notEqual(outcome(candidate), `number ${candidate}`);
      }),
      { numRuns: 4000 },
    );
  });

  it('lookupCandidate takes only E.164 as written by Meta or a program, never a guess', () => {
    assert.equal(lookupCandidate('+4915123456789'), '+4915123456789');
    assert.equal(lookupCandidate('4915123456789'), '+4915123456789');
    for (const other of [
      '+49 151 23456789',
      '004915123456789',
      '015123456789',
      ' +4915123456789',
      '+4915123456789 ',
      '+',
      '',
      '+49151234567890123456789012345678',
      4915123456789,
      null,
      { phone: '+4915123456789' },
    ]) {
      assert.equal(lookupCandidate(other), undefined, String(other));
    }
  });
});
