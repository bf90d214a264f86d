import { isSupportedCountry, type PhoneNumber, parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { BoundedMemo } from './bounded-memo';
import { GdprWhatsAppError } from './errors';

const MAX_LENGTH = 32;
const ALLOWED = /^[+\d\s().\-/]+$/;
/** "+" and digits, or digits not starting with 0 (a WhatsApp id): text that normalisation parses unchanged. */
const BARE_INTERNATIONAL = /^(?:\+\d{1,31}|[1-9]\d{0,31})$/;

/**
 * Normalises any common way of writing a number ("+49 151 2345678", "0049-151…", "4915123456789",
 * a WhatsApp id without "+") to E.164 with a leading "+". A national number without country code
 * is read with `defaultCountry` when one is given. Throws `invalid-phone` for anything that is not a
 * valid, dialable number: nothing may be sent to or stored for a guessed number. With `defaultCountry`, digits
 * that read as two different valid numbers (see `refuseTwoReadings`) throw `ambiguous-phone`.
 *
 * Every number it returns normalises to itself (checked below, not assumed), which is what lets the
 * consent check look a number up before parsing it (see `lookupCandidate`).
 */
export function normalisePhoneNumber(input: unknown, defaultCountry?: string): string {
  // One message's number is normalised by the gate, the ledger and whatsapp-send: parse it once.
  const key = typeof input === 'string' ? `${defaultCountry ?? ''}|${input}` : undefined;
  const known = key === undefined ? undefined : recentlyNormalised.get(key);
  if (known !== undefined) return known;
  const number = normaliseUncached(input, defaultCountry);
  if (key !== undefined) recentlyNormalised.set(key, number);
  return number;
}

/**
 * How long a memo of numbers keeps one at most. It saves parsing the same number for the gate, the ledger and the
 * send of one message, within milliseconds; it must not keep numbers an erasure on another instance, or the
 * retention sweep, removed from the store.
 */
export const RECENT_NUMBERS_MAX_AGE_MS = 10 * 60_000;

/** Valid numbers only: a refused input is checked again each time (and stays out of memory). */
const recentlyNormalised = new BoundedMemo<string>(10_000, RECENT_NUMBERS_MAX_AGE_MS);

/** Erasure: the number leaves the memo too. */
export function forgetPhoneNumber(phone: string): void {
  recentlyNormalised.deleteWhere((number) => number === phone);
}

/** Whether this thread's memo still holds `phone` (E.164), in any written form. */
export function remembersPhoneNumber(phone: string): boolean {
  return recentlyNormalised.some((number) => number === phone);
}

function normaliseUncached(input: unknown, defaultCountry: string | undefined): string {
  const text = parseableText(input, defaultCountry);
  const parsed = validParse(text, defaultCountry);
  if (defaultCountry !== undefined && !text.startsWith('+')) refuseTwoReadings(text, parsed);
  const number = parsed.number;
  // A number that libphonenumber would rewrite again (a national prefix after the country code, say)
  // is refused rather than stored under a form that is not its own canonical form.
  const parsedAsWritten = number === text && defaultCountry === undefined;
  if (!parsedAsWritten && validNumber(number, undefined) !== number) throw invalidNumber();
  return number;
}

/**
 * A country setting (ISO 3166 alpha-2, any case, e.g. "de") as libphonenumber knows it; undefined when empty.
 * Throws `invalid-country` for anything else: a misspelt country must not silently read numbers as another's.
 */
export function parseCountry(value: unknown): string | undefined {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return undefined;
  const text = typeof value === 'string' ? value.trim().toUpperCase() : '';
  if (!/^[A-Z]{2}$/.test(text) || !isSupportedCountry(text)) {
    throw new GdprWhatsAppError('invalid-country', 'The country must be a two-letter ISO code such as DE', {
      value: String(value).slice(0, 40),
    });
  }
  return text;
}

/** Written as within a country: one leading 0 ("0151 23456789", "(0151) …"); 00 starts an international number. */
const NATIONALLY_WRITTEN = /^\s*\(?\s*0(?!0)/;

export function isNationallyWritten(input: unknown): boolean {
  return typeof input === 'string' && NATIONALLY_WRITTEN.test(input);
}

/** How a number that staff or a shop's system named was read (see readNamedNumber). */
export interface NamedNumberReading {
  phone: string;
  /** Read in the store's country: only for a person the store knows (see requireKnownNationalNumber). */
  readIn?: string;
  /**
   * Digits without "+" that are a valid number abroad and, with the leading 0 a spreadsheet drops put back, one in the
   * store's country: which one is meant, only the store's records can tell (see settleNamedNumber).
   */
  nationalReading?: string;
}

/**
 * A number as staff or a shop's system name it. Without a store `country`: as normalisePhoneNumber reads it, so a
 * WhatsApp id without "+" stays international. With one, a number written nationally ("0151 23456789") is read there;
 * so are digits without "+" that are no valid international number but are one there with a 0 in front ("176 …": a
 * spreadsheet dropped the 0); digits valid both ways with the international reading abroad ("15123456789": +1 512 …
 * or 0151 …) carry both readings. A WhatsApp id of the store's own country ("4915123456789") stays as it is.
 */
export function readNamedNumber(input: unknown, country?: string): NamedNumberReading {
  if (!country) return { phone: normalisePhoneNumber(input) };
  if (isNationallyWritten(input)) return { phone: normalisePhoneNumber(input, country), readIn: country };
  const digits = typeof input === 'string' || typeof input === 'number' ? String(input).trim() : '';
  if (!/^[1-9][\d\s().\-/]*$/.test(digits)) return { phone: normalisePhoneNumber(input) };
  const international = parsePhoneNumberFromString(`+${digits.replace(/\D/g, '')}`);
  const inCountry = isValidPhoneNumber(`0${digits}`, country) ? normalisePhoneNumber(`0${digits}`, country) : undefined;
  if (!international?.isValid()) {
    return inCountry ? { phone: inCountry, readIn: country } : { phone: normalisePhoneNumber(input) };
  }
  const phone = normalisePhoneNumber(input);
  if (!inCountry || international.country === country.toUpperCase()) return { phone };
  return { phone, nationalReading: inCountry };
}

/** What must still be checked against the store's records about a named number: nothing without a country. */
export function namedNumberChecks(input: unknown, country?: string): Omit<NamedNumberReading, 'phone'> {
  if (!country || input === undefined || input === null || input === '') return {};
  const { readIn, nationalReading } = readNamedNumber(input, country);
  return { ...(readIn ? { readIn } : {}), ...(nationalReading ? { nationalReading } : {}) };
}

/** The number readNamedNumber reads first; the checks against the store's records come after. */
export function normaliseNamedNumber(input: unknown, country?: string): string {
  return readNamedNumber(input, country).phone;
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

/**
 * The canonical form `input` has IF it is a valid number already written in E.164 (with or without
 * "+"), without parsing it; undefined for anything else. Only a lookup may use it: when a record is
 * stored under the candidate, the candidate came out of `normalisePhoneNumber`, which returns only
 * numbers that normalise to themselves, and `normalisePhoneNumber(input)` parses exactly the candidate
 * text, so it returns the candidate. When nothing is stored under it, the caller must normalise.
 */
export function lookupCandidate(input: unknown): string | undefined {
  if (typeof input !== 'string' || !BARE_INTERNATIONAL.test(input)) return undefined;
  return input.charCodeAt(0) === 43 /* + */ ? input : `+${input}`;
}

/** The text handed to libphonenumber; for inputs `lookupCandidate` accepts, the same string it returns. */
function parseableText(input: unknown, defaultCountry: string | undefined): string {
  if (typeof input !== 'string' && typeof input !== 'number') {
    throw new GdprWhatsAppError('invalid-phone', 'The phone number is missing or not a string');
  }
  let text = String(input).trim();
  if (text.length === 0 || text.length > MAX_LENGTH || !ALLOWED.test(text)) {
    throw new GdprWhatsAppError('invalid-phone', 'The phone number contains characters that do not belong in a number');
  }
  if (text.startsWith('00')) text = `+${text.slice(2)}`;
  const looksInternational = text.startsWith('+');
  const digitsOnly = /^\d+$/.test(text);
  // WhatsApp ids ("4915123456789") are international numbers without the plus sign.
  if (!looksInternational && digitsOnly && !defaultCountry) text = `+${text}`;
  return text;
}

function validNumber(text: string, defaultCountry: string | undefined): string {
  return validParse(text, defaultCountry).number;
}

function validParse(text: string, defaultCountry: string | undefined): PhoneNumber {
  const parsed = parsePhoneNumberFromString(text, defaultCountry as never);
  if (!parsed?.isValid()) throw invalidNumber();
  return parsed;
}

/**
 * Digits typed without "+" or "00" are read as a national number of the default country; a foreigner who types her
 * country code without the plus ("44 7911 123456" with DE) gets a valid German fixed line (+49 447911123456), and
 * the confirmation would go to a stranger. When the digits are also a valid number read with a "+" in front, and
 * that is another number, nobody can tell which one was meant: refused, the person is asked for "+" or "00".
 * A national trunk prefix ("0151 …", Russia's "8 495 …") says the number is national: libphonenumber reads it off,
 * so the national significant number is no longer all the digits, and nothing is refused; nor are digits written
 * the way the country writes its numbers at home without one ("201 555 0123" with US).
 */
function refuseTwoReadings(text: string, national: PhoneNumber): void {
  const digits = text.replace(/\D/g, '');
  if (national.nationalNumber !== digits) return;
  // Written as the country writes it at home: where a number goes without a trunk prefix (the US, China, Greek and
  // Mexican mobiles), that is how people type it, and it means the national number.
  if (national.formatNational().replace(/\D/g, '') === digits) return;
  const international = parsePhoneNumberFromString(`+${digits}`);
  if (international?.isValid() && international.number !== national.number) {
    throw new GdprWhatsAppError(
      'ambiguous-phone',
      'The number reads as a national and as an international number: write it with + or 00 and the country code',
    );
  }
}

function invalidNumber(): GdprWhatsAppError {
  return new GdprWhatsAppError(
    'invalid-phone',
    'The phone number is not a valid international number: write it with its country code, e.g. +49 151 98765432',
  );
}
