import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { escapedDigest, escapeNonAscii, signPayload, verifySignature } from '../../../lib/webhook/signature';
import { fixtureBytes } from './fixtures';

const SECRET = 'app-secret-for-tests';

describe('webhook signature', () => {
  const body = fixtureBytes('text');

  it('signs as sha256= plus the hex HMAC-SHA256 of the body', () => {
    const expected = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
    assert.equal(signPayload(body, SECRET), expected);
    assert.equal(signPayload(body.toString('utf8'), SECRET), expected);
    assert.match(signPayload(body, SECRET), /^sha256=[0-9a-f]{64}$/);
  });

  it('accepts the right signature, also in upper-case hex and with surrounding spaces', () => {
    const header = signPayload(body, SECRET);
    assert.equal(verifySignature(body, header, SECRET), true);
    assert.equal(verifySignature(body, `sha256=${header.slice(7).toUpperCase()}`, SECRET), true);
    assert.equal(verifySignature(body, ` ${header} `, SECRET), true);
  });

  it('rejects a signature made with another secret or over another body', () => {
    assert.equal(verifySignature(body, signPayload(body, 'other-secret'), SECRET), false);
    assert.equal(verifySignature(Buffer.concat([body, Buffer.from(' ')]), signPayload(body, SECRET), SECRET), false);
  });

  it('rejects a missing, empty or forged header without throwing', () => {
    const hex = signPayload(body, SECRET).slice(7);
    const odd: Array<string | undefined> = [
      undefined,
      '',
      hex, // no prefix
      `sha1=${hex}`, // forged prefix
      `SHA256=${hex}`,
      `sha256:${hex}`,
      `sha256=${hex}0`, // odd length
      `sha256=${hex.slice(0, 63)}`,
      `sha256=${hex}${hex}`, // too long
      `sha256=${'z'.repeat(64)}`, // not hex
      `sha256=${hex.slice(0, 62)}g0`,
      'sha256=',
      `sha256=${hex},sha256=${hex}`,
    ];
    for (const header of odd) assert.equal(verifySignature(body, header, SECRET), false, String(header));
    assert.equal(verifySignature(body, 42 as unknown as string, SECRET), false);
    assert.equal(verifySignature(body, [signPayload(body, SECRET)] as unknown as string, SECRET), false);
  });

  it('never verifies with an empty or missing app secret', () => {
    assert.equal(verifySignature(body, signPayload(body, ''), ''), false);
    assert.equal(verifySignature(body, signPayload(body, ''), undefined as unknown as string), false);
  });

  describe("Meta's \\u-escaped signing", () => {
    const text = '{"text":{"body":"Grüße aus Köln, Straße 5 👍"}}';
    const raw = Buffer.from(text, 'utf8');

    it('escapes non-ASCII as lowercase \\uXXXX per UTF-16 code unit', () => {
      assert.equal(escapeNonAscii('ü'), '\\u00fc');
      assert.equal(escapeNonAscii('ß'), '\\u00df');
      assert.equal(escapeNonAscii('👍'), '\\ud83d\\udc4d');
      assert.equal(escapeNonAscii('plain ASCII "stays"\n'), 'plain ASCII "stays"\n');
      assert.equal(
        escapeNonAscii(text),
        '{"text":{"body":"Gr\\u00fc\\u00dfe aus K\\u00f6ln, Stra\\u00dfe 5 \\ud83d\\udc4d"}}',
      );
    });

    it('verifies the raw UTF-8 body against a signature over its escaped form', () => {
      const metaHeader = signPayload(escapeNonAscii(text), SECRET);
      assert.notEqual(metaHeader, signPayload(raw, SECRET));
      assert.equal(verifySignature(raw, metaHeader, SECRET), true);
    });

    it('still verifies a signature over the raw bytes', () => {
      assert.equal(verifySignature(raw, signPayload(raw, SECRET), SECRET), true);
    });

    it('rejects an escaped-form signature under the wrong secret', () => {
      assert.equal(verifySignature(raw, signPayload(escapeNonAscii(text), 'wrong'), SECRET), false);
    });

    it("computes the escaped form's HMAC in pieces exactly as over the whole escaped string", () => {
      const hmacOfEscaped = (t: string) => createHmac('sha256', SECRET).update(escapeNonAscii(t)).digest('hex');
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (t) => {
          assert.equal(escapedDigest(t, SECRET).toString('hex'), hmacOfEscaped(t));
        }),
      );
      // Across the 64 KiB pieces, with escapes falling on every offset near a boundary.
      for (const filler of ['é', 'a', '👍', 'aé']) {
        const long = `${'x'.repeat(65_531)}${filler.repeat(40_000)}`;
        assert.equal(escapedDigest(long, SECRET).toString('hex'), hmacOfEscaped(long), filler);
      }
    });

    it('does not accept the escaped signature for an ASCII body that differs', () => {
      const ascii = Buffer.from(escapeNonAscii(text), 'utf8');
      // The escaped text itself is ASCII and signed as such: that is a raw match, not a retry.
      assert.equal(verifySignature(ascii, signPayload(ascii, SECRET), SECRET), true);
      assert.equal(verifySignature(Buffer.from('{"x":1}'), signPayload(escapeNonAscii(text), SECRET), SECRET), false);
    });
  });
});
