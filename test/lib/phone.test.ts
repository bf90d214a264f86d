import assert from 'node:assert/strict';
import { GdprWhatsAppError } from '../../lib/errors';
import { isValidPhoneNumber, normalisePhoneNumber } from '../../lib/phone';

describe('phone', () => {
  it('normalises the common ways of writing a number to E.164', () => {
    for (const written of ['+49 151 23456789', '0049 151 23456789', '+49 (151) 234-567-89', '4915123456789']) {
      assert.equal(normalisePhoneNumber(written), '+4915123456789', written);
    }
  });

  it('reads a national number with a default country', () => {
    assert.equal(normalisePhoneNumber('0151 23456789', 'DE'), '+4915123456789');
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
    try {
      normalisePhoneNumber('+49 151 2345');
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(!(err as Error).message.includes('2345'));
    }
  });
});
