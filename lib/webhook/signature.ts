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
  return digestMatches(Buffer.from(escapeNonAscii(rawBody.toString('utf8')), 'utf8'), given, appSecret);
}

function digestMatches(body: Buffer, given: Buffer, appSecret: string): boolean {
  const expected = createHmac('sha256', appSecret).update(body).digest();
  return expected.length === given.length && timingSafeEqual(expected, given);
}

function hasNonAsciiByte(body: Buffer): boolean {
  for (const byte of body) if (byte >= 0x80) return true;
  return false;
}
