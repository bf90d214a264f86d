import type { SubjectRef } from '../consent/types';
import { GdprWhatsAppError } from '../errors';
import { isNationallyWritten } from '../phone';
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
 * The recipient of an outgoing message (see gateSubject), a `msg.to` written nationally read in the store's `country`
 * only for someone the store knows. Such a msg.to is then rewritten in international form: whatsapp-send (and a
 * template sent instead) reads no other. Without a country there is no ledger read.
 */
export async function outgoingRecipient(
  msg: { to?: unknown; whatsapp?: unknown },
  country: string | undefined,
  ledger: { knowsSubject(subject: SubjectRef): Promise<boolean> },
): Promise<GateSubject> {
  const subject = gateSubject(msg, country);
  if (country === undefined || subject.phone === undefined || !isNationallyWritten(msg.to)) return subject;
  await requireKnownNationalNumber(ledger, subject, country);
  msg.to = subject.phone;
  return subject;
}
