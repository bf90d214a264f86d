import { createHmac, timingSafeEqual } from 'node:crypto';

const PREFIX = 'sha256=';
const HEX_DIGEST = /^[0-9a-fA-F]{64}$/;
const NON_ASCII = /[\u0080-\uffff]/g;

/** `X-Hub-Signature-256` value for a body: 'sha256=' + hex HMAC-SHA256 keyed with the app secret. */
export function signPayload(rawBody: Buffer | string, appSecret: string): string {
  return PREFIX + createHmac('sha256', appSecret).update(rawBody).digest('hex');
}

/**
 * Escapes every non-ASCII character as lowercase `\uXXXX`, one escape per UTF-16 code unit (so an
 * emoji becomes a surrogate pair). Meta computes X-Hub-Signature-256 over this form of the payload
 * while it delivers the characters themselves as UTF-8.
 */
export function escapeNonAscii(text: string): string {
  return text.replace(NON_ASCII, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * True when `header` is the signature of `rawBody` under `appSecret`. Timing-safe; never throws.
 * An empty app secret never verifies: a webhook without a secret must not accept everything.
 */
export function verifySignature(rawBody: Buffer, header: string | undefined, appSecret: string): boolean {
  if (typeof appSecret !== 'string' || appSecret.length === 0) return false;
  if (!Buffer.isBuffer(rawBody) || typeof header !== 'string') return false;
  const value = header.trim();
  if (!value.startsWith(PREFIX)) return false;
  const hex = value.slice(PREFIX.length);
  if (!HEX_DIGEST.test(hex)) return false;
  const given = Buffer.from(hex, 'hex');
  if (digestMatches(rawBody, given, appSecret)) return true;
  if (!hasNonAsciiByte(rawBody)) return false;
  return sameDigest(escapedDigest(rawBody.toString('utf8'), appSecret), given);
}

function digestMatches(body: Buffer, given: Buffer, appSecret: string): boolean {
  return sameDigest(createHmac('sha256', appSecret).update(body).digest(), given);
}

function sameDigest(expected: Buffer, given: Buffer): boolean {
  return expected.length === given.length && timingSafeEqual(expected, given);
}

const ESCAPE_CHUNK_BYTES = 64 * 1024;
const HEX_DIGITS = Buffer.from('0123456789abcdef');

/**
 * The HMAC of escapeNonAscii(text), fed in 64 KiB pieces as the escaped form is written: a forged 3 MiB body of
 * umlauts costs tens of milliseconds, not the hundreds that building the escaped string (three times its size, one
 * small string per character) blocked the event loop for.
 */
export function escapedDigest(text: string, appSecret: string): Buffer {
  const hmac = createHmac('sha256', appSecret);
  const chunk = Buffer.allocUnsafe(ESCAPE_CHUNK_BYTES);
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    // Room for one escape (\uXXXX, six bytes); update() has read the bytes before they are overwritten.
    if (at > ESCAPE_CHUNK_BYTES - 6) {
      hmac.update(chunk.subarray(0, at));
      at = 0;
    }
    const unit = text.charCodeAt(i);
    if (unit < 0x80) {
      chunk[at++] = unit;
      continue;
    }
    chunk[at++] = 0x5c; // backslash
    chunk[at++] = 0x75; // u
    chunk[at++] = HEX_DIGITS[(unit >> 12) & 0xf];
    chunk[at++] = HEX_DIGITS[(unit >> 8) & 0xf];
    chunk[at++] = HEX_DIGITS[(unit >> 4) & 0xf];
    chunk[at++] = HEX_DIGITS[unit & 0xf];
  }
  hmac.update(chunk.subarray(0, at));
  return hmac.digest();
}

function hasNonAsciiByte(body: Buffer): boolean {
  for (const byte of body) if (byte >= 0x80) return true;
  return false;
}
