import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { FieldCipher, Pseudonymiser, validateKeys } from '../../../lib/consent/keys';
import { GdprWhatsAppError } from '../../../lib/errors';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof GdprWhatsAppError ? err.code : String(err);
  }
  return 'no error';
};

describe('pseudonyms and field encryption', () => {
  const k1 = { id: 'k1', key: randomBytes(32) };
  const k2 = { id: 'k2', key: randomBytes(32) };

  it('validates key material and never echoes it in errors', () => {
    assert.equal(
      code(() => validateKeys(undefined, undefined)),
      'missing-keys',
    );
    assert.equal(
      code(() => validateKeys([], randomBytes(32))),
      'missing-keys',
    );
    assert.equal(
      code(() => validateKeys([{ id: 'k', key: randomBytes(31) }], randomBytes(32))),
      'invalid-key',
    );
    assert.equal(
      code(() => validateKeys([k1, { ...k2, id: 'k1' }], randomBytes(32))),
      'invalid-key',
    );
    assert.equal(
      code(() => validateKeys([{ id: 'a.b', key: randomBytes(32) }], randomBytes(32))),
      'invalid-key',
    );
    assert.equal(
      code(() => validateKeys([k1], randomBytes(16))),
      'invalid-key',
    );
    assert.equal(
      code(() => validateKeys([k1], randomBytes(32))),
      'no error',
    );
  });

  it('keyed pseudonyms are stable, key-dependent and separate number, user id and dedupe key', () => {
    const a = new Pseudonymiser(randomBytes(32));
    const b = new Pseudonymiser(randomBytes(32));
    assert.equal(a.forPhone('+4915123456789'), a.forPhone('+4915123456789'));
    assert.notEqual(a.forPhone('+4915123456789'), b.forPhone('+4915123456789'));
    assert.notEqual(a.forUserId('+4915123456789'), a.forPhone('+4915123456789'));
    assert.notEqual(a.forDedupeKey('+4915123456789'), a.forPhone('+4915123456789'));
  });

  it('AES-256-GCM with a fresh IV per value, bound to field and subject', () => {
    const cipher = new FieldCipher([k1]);
    const one = cipher.encrypt('+4915123456789', 'phone', 'p1');
    assert.notEqual(one, cipher.encrypt('+4915123456789', 'phone', 'p1'));
    assert.equal(cipher.decrypt(one, 'phone', 'p1'), '+4915123456789');
    assert.equal(
      code(() => cipher.decrypt(one, 'phone', 'p2')),
      'decryption-failed',
    );
    assert.equal(
      code(() => cipher.decrypt(one, 'name', 'p1')),
      'decryption-failed',
    );
    const parts = one.split('.');
    parts[3] = Buffer.from('tampered').toString('base64url');
    assert.equal(
      code(() => cipher.decrypt(parts.join('.'), 'phone', 'p1')),
      'decryption-failed',
    );
  });

  it('rotation: the first key encrypts, every listed key decrypts', () => {
    const old = new FieldCipher([k1]).encrypt('Erika', 'name', 'p');
    const rotated = new FieldCipher([k2, k1]);
    assert.equal(rotated.decrypt(old, 'name', 'p'), 'Erika');
    assert.equal(FieldCipher.keyIdOf(rotated.encrypt('Erika', 'name', 'p')), 'k2');
    assert.equal(
      code(() => new FieldCipher([k2]).decrypt(old, 'name', 'p')),
      'unknown-key',
    );
  });

  // AES-256-GCM must take only the full 16-byte tag it writes: Node's decipher accepts 4 to 12 bytes unless told,
  // so a value altered by someone with write access to the database would need to beat 2^32 guesses, not 2^128.
  for (const bytes of [4, 8, 12]) {
    it(`refuses a stored value whose authentication tag was cut to ${bytes} bytes`, () => {
      const cipher = new FieldCipher([{ id: 'k1', key: randomBytes(32) }]);
      const parts = cipher.encrypt('+4915123456789', 'phone', 'pseudonym').split('.');
      parts[4] = Buffer.from(parts[4], 'base64url').subarray(0, bytes).toString('base64url');
      assert.throws(() => cipher.decrypt(parts.join('.'), 'phone', 'pseudonym'), { code: 'decryption-failed' });
    });
  }
});
