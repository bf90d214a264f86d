import type { SubjectRef } from '../consent/types';
import { GdprWhatsAppError } from '../errors';
import { type NamedNumberReading, readNamedNumber } from '../phone';
import { type GateSubject, gateSubject } from './gate';

/**
 * A number written without its country code ("0151 23456789") is read in the consent store's country only for a person
 * the store knows. With DE, Austria's 0664 1234567 reads as a valid German number (+49 6641 234567), someone else's:
 * sending to it, erasing it or answering an access request for it would concern a stranger. A number never seen before
 * must be given with its country code. `readIn`: the country the number was read in; undefined (written with its
 * country code) needs no check.
 */
export async function requireKnownNationalNumber(
  ledger: { knowsSubject(subject: SubjectRef): Promise<boolean> },
  subject: SubjectRef,
  readIn: string | undefined,
): Promise<void> {
  if (readIn === undefined || (await ledger.knowsSubject(subject))) return;
  const country = readIn;
  throw new GdprWhatsAppError(
    'unknown-national-number',
    `A number without its country code is read in the consent store's country (${country}) only for someone the store knows; this one is unknown: give it with its country code`,
    { country },
  );
}

/**
 * The person a number read by readNamedNumber names, by the store's records: a number read in the store's country
 * only when the store knows her; of a number's two readings, the one the store knows (neither or both: refused
 * as ambiguous, nothing written). Every other subject is returned as it is.
 */
export async function settleNamedNumber(
  ledger: { knowsSubject(subject: SubjectRef): Promise<boolean> },
  subject: SubjectRef,
  reading: Omit<NamedNumberReading, 'phone'>,
): Promise<SubjectRef> {
  const { nationalReading } = reading;
  if (nationalReading === undefined) {
    await requireKnownNationalNumber(ledger, subject, reading.readIn);
    return subject;
  }
  const national = { ...subject, phone: nationalReading };
  const [knowsInternational, knowsNational] = await Promise.all([
    ledger.knowsSubject(subject),
    ledger.knowsSubject(national),
  ]);
  if (knowsInternational !== knowsNational) return knowsInternational ? subject : national;
  throw new GdprWhatsAppError(
    'ambiguous-phone',
    "The number reads as an international number and, with a leading 0, as one in the consent store's country, and the store knows neither or both: write it with + or 00 and the country code",
  );
}

/**
 * The recipient of an outgoing message (see gateSubject), a `msg.to` without its country code read as settleNamedNumber
 * says. Such a msg.to is then rewritten in international form: whatsapp-send (and a template sent instead) reads no
 * other. The ledger is opened only for such a number: a number that is none fails first, whatever the store does.
 */
export async function outgoingRecipient(
  msg: { to?: unknown; whatsapp?: unknown },
  country: string | undefined,
  ledgerOf: () => Promise<{ knowsSubject(subject: SubjectRef): Promise<boolean> }>,
): Promise<GateSubject> {
  const subject = gateSubject(msg, country);
  if (country === undefined || subject.phone === undefined || msg.to === undefined) return subject;
  const reading = readNamedNumber(msg.to, country);
  if (reading.readIn === undefined && reading.nationalReading === undefined) return subject;
  const settled = await settleNamedNumber(await ledgerOf(), subject, reading);
  msg.to = settled.phone;
  return settled as GateSubject;
}
