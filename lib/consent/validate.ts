import { GdprWhatsAppError } from '../errors';
import { isText } from './purposes';

/** Input checks shared by the ledger's operations; each throws before anything is written. */
export function requireActor(actor: unknown): string {
  if (!isText(actor) || actor.length > 200) {
    throw new GdprWhatsAppError('missing-actor', 'Every ledger change needs an actor (node id or user name)');
  }
  return actor;
}

export function requireWording(wording: unknown): string {
  if (!isText(wording)) {
    throw new GdprWhatsAppError('missing-wording', 'The exact consent wording shown to the person is required');
  }
  if (wording.length > 10_000) {
    throw new GdprWhatsAppError('invalid-input', 'The consent wording is too long', { field: 'wording', max: 10000 });
  }
  return wording;
}

export function optionalText(value: unknown, field: string, max: number): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || value.length > max) {
    throw new GdprWhatsAppError('invalid-input', `The field ${field} must be text of at most ${max} characters`, {
      field,
      max,
    });
  }
  return value;
}

export function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new GdprWhatsAppError('invalid-input', `The field ${field} must be one of ${allowed.join(', ')}`, { field });
  }
  return value as T;
}

/** 100 years of 365.25 days: the consent store's dialog allows keeping proof for 100 years, counted so. */
const MAX_DURATION_MS = 100 * 365.25 * 86_400_000;

export function positiveMs(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_DURATION_MS) {
    throw new GdprWhatsAppError('invalid-input', `The field ${field} must be a positive duration in milliseconds`, {
      field,
    });
  }
  return Math.floor(value);
}

export function optionalLanguage(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || !/^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})?$/.test(value)) {
    throw new GdprWhatsAppError('invalid-input', 'The language must be a code like "en" or "de"', {
      field: 'language',
    });
  }
  return value;
}

/** A time in Unix milliseconds, such as when the person sent a message (Meta's timestamp). */
export function optionalTime(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new GdprWhatsAppError('invalid-input', 'The time must be Unix milliseconds', { field });
  }
  return value;
}

/**
 * A phone number, which a staff name or ticket reference never needs: written internationally (+49 ..., 0049 ...),
 * nationally (0170 1234567), or as WhatsApp's id (4917012345678). Times and dates (10:00, 2026-11-30) are no match.
 */
const PHONE_LIKE =
  /\+\d(?:[\s\-/().]*\d){6,}|(?<![\w:./-])00\d(?:[\s\-/().]*\d){6,}|(?<![\w:./-])0\d{2,4}[\s\-/]?\d{5,8}\b|\d{11,}/;
/** An e-mail address: the staff member's own is no more needed than the person's, which an erasure could not reach. */
const EMAIL_LIKE = /[^\s@]+@[^\s@]+\.[^\s@]+/;
/** Characters that break a line or turn the direction of the text around it. */
const NOT_ONE_PLAIN_LINE = /[\p{Cc}\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/**
 * Who on staff handled a request (ExportOptions.requestedBy): a name or ticket reference on one line, at most 128
 * characters. The audit keeps it for years and cannot be corrected, so no control or direction characters, and no
 * phone number or e-mail address (the person's data has no place there, and an erasure cannot take it out).
 */
export function optionalRequestedBy(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const text = typeof value === 'string' ? value.trim() : '';
  if (
    text === '' ||
    text.length > 128 ||
    NOT_ONE_PLAIN_LINE.test(text) ||
    PHONE_LIKE.test(text) ||
    EMAIL_LIKE.test(text)
  ) {
    throw new GdprWhatsAppError(
      'invalid-requested-by',
      'requestedBy must name who on staff handled the request: one line of at most 128 characters, no phone number or e-mail address',
    );
  }
  return text;
}
