import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { GdprWhatsAppError } from './errors';

/**
 * Normalises any common way of writing a number ("+49 151 2345678", "0049-151…", "4915123456789",
 * a WhatsApp id without "+") to E.164 with a leading "+". A national number without country code
 * is read with `defaultCountry` when one is given. Throws `invalid-phone` for anything that is not a
 * valid, dialable number: nothing may be sent to or stored for a guessed number.
 */
export function normalisePhoneNumber(input: unknown, defaultCountry?: string): string {
  if (typeof input !== 'string' && typeof input !== 'number') {
    throw new GdprWhatsAppError('invalid-phone', 'The phone number is missing or not a string');
  }
  let text = String(input).trim();
  if (text.length === 0 || text.length > 32 || !/^[+\d\s().\-/]+$/.test(text)) {
    throw new GdprWhatsAppError('invalid-phone', 'The phone number contains characters that do not belong in a number');
  }
  if (text.startsWith('00')) text = `+${text.slice(2)}`;
  const looksInternational = text.startsWith('+');
  const digitsOnly = /^\d+$/.test(text);
  // WhatsApp ids ("4915123456789") are international numbers without the plus sign.
  if (!looksInternational && digitsOnly && !defaultCountry) text = `+${text}`;
  const parsed = parsePhoneNumberFromString(text, defaultCountry as never);
  if (!parsed || !parsed.isValid()) {
    throw new GdprWhatsAppError('invalid-phone', 'The phone number is not a valid international number');
  }
  return parsed.number;
}

/** True when `input` normalises; for validation in places that must not throw. */
export function isValidPhoneNumber(input: unknown, defaultCountry?: string): boolean {
  try {
    normalisePhoneNumber(input, defaultCountry);
    return true;
  } catch {
    return false;
  }
}
