import { isPurposeId } from '../consent/purposes';

export { purposeLabel } from '../consent/purposes';

import type { LawfulBasis, PurposeConfig } from '../consent/types';
import { GdprWhatsAppError } from '../errors';

/**
 * The purposes a consent store knows, as the consent-store edit dialog saves them. This module is the one
 * place that says what a valid purpose list is; the ledger receives only lists that passed `parsePurposes`.
 */

/** Art. 6(1)(a), (b) and (f) GDPR: the bases a WhatsApp purpose is realistically built on. */
export const LAWFUL_BASES: readonly LawfulBasis[] = ['consent', 'contract', 'legitimate-interest'];

export const MAX_LABEL_LENGTH = 100;
export const MAX_WORDING_LENGTH = 2000;

/** A purpose as the ledger takes it, with `marketing` always set. */
export type PurposeDefinition = PurposeConfig & { marketing: boolean };

export type PurposeField = 'list' | 'id' | 'label' | 'wording' | 'interest' | 'lawfulBasis' | 'marketing';

export interface PurposeProblem {
  /** Position in the list, -1 for the list itself. */
  index: number;
  field: PurposeField;
  /** i18n key under `errors.` */
  code: string;
  message: string;
}

function problemsOf(entry: unknown, index: number, seen: Set<string>): PurposeProblem[] {
  const problem = (field: PurposeField, code: string, message: string): PurposeProblem => ({
    index,
    field,
    code,
    message,
  });
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    return [problem('list', 'invalid-purpose-entry', `Purpose ${index + 1} is not an object`)];
  }
  const p = entry as Record<string, unknown>;
  const found: PurposeProblem[] = [];
  if (!isPurposeId(p.id)) {
    found.push(
      problem('id', 'invalid-purpose-id', `Purpose ${index + 1}: the id must be lower-case letters, digits, - or _`),
    );
  } else if (seen.has(p.id)) {
    found.push(problem('id', 'duplicate-purpose-id', `Purpose ${index + 1}: the id "${p.id}" is used twice`));
  } else {
    seen.add(p.id);
  }
  if (typeof p.label !== 'string' || p.label.trim().length === 0 || p.label.length > MAX_LABEL_LENGTH) {
    found.push(problem('label', 'invalid-purpose-label', `Purpose ${index + 1}: the label is missing or too long`));
  }
  if (p.labels !== undefined && !textsOf(p.labels, MAX_LABEL_LENGTH)) {
    found.push(
      problem('label', 'invalid-purpose-label', `Purpose ${index + 1}: a translated label is not text or too long`),
    );
  }
  if (typeof p.lawfulBasis !== 'string' || !LAWFUL_BASES.includes(p.lawfulBasis as LawfulBasis)) {
    found.push(problem('lawfulBasis', 'invalid-lawful-basis', `Purpose ${index + 1}: unknown lawful basis`));
  }
  if (p.marketing !== undefined && typeof p.marketing !== 'boolean') {
    found.push(
      problem('marketing', 'invalid-purpose-marketing', `Purpose ${index + 1}: "marketing" must be true or false`),
    );
  }
  const wording = textsOf(p.wording);
  // Art. 7(2): the request for consent must be in clear words; a purpose without any wording cannot be consented to.
  if (!wording || wording.usable === 0) {
    found.push(
      problem('wording', 'invalid-purpose-wording', `Purpose ${index + 1}: the wording is missing or too long`),
    );
  }
  // Optional, so that stores saved before it existed still start; the edit dialog asks for it (Art. 13(1)(d)).
  if (p.interest !== undefined && !textsOf(p.interest)) {
    found.push(
      problem('interest', 'invalid-purpose-interest', `Purpose ${index + 1}: the legitimate interest is too long`),
    );
  }
  return found;
}

/** Texts per language: undefined when they are not an object of strings up to `max` characters. */
function textsOf(value: unknown, max = MAX_WORDING_LENGTH): { usable: number } | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const texts = Object.values(value as Record<string, unknown>);
  const wellFormed = texts.every((t) => t === undefined || (typeof t === 'string' && t.length <= max));
  if (!wellFormed) return undefined;
  return { usable: texts.filter((t) => typeof t === 'string' && t.trim().length > 0).length };
}

/** Only the translations that say something, trimmed. */
function cleanTexts(value: unknown): Record<string, string> {
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([, text]) => typeof text === 'string' && text.trim().length > 0)
      .map(([lang, text]) => [lang, (text as string).trim()]),
  );
}

/**
 * A marketing purpose on a basis other than consent. Advertising by WhatsApp needs prior express consent (§ 7(2) no. 2 UWG): the
 * edit dialog refuses it, and a store saved with one still opens (so that STOPs are still recorded) but warns, and
 * its checks ask for consent all the same (evaluateCheck).
 */
export function marketingWithoutConsent(purpose: PurposeDefinition): boolean {
  return purpose.marketing === true && purpose.lawfulBasis !== 'consent';
}

/** A purpose resting on legitimate interest that does not say which: the privacy notice would be incomplete. */
export function missingInterest(purpose: PurposeDefinition): boolean {
  return purpose.lawfulBasis === 'legitimate-interest' && Object.keys(purpose.interest ?? {}).length === 0;
}

/** Every problem of a saved purpose list, for the edit dialog and for the runtime; [] when it is valid. */
export function purposeProblems(input: unknown): PurposeProblem[] {
  if (!Array.isArray(input)) {
    return [{ index: -1, field: 'list', code: 'invalid-purpose-list', message: 'The purposes are not a list' }];
  }
  const seen = new Set<string>();
  return input.flatMap((entry, index) => problemsOf(entry, index, seen));
}

/**
 * Turns the saved list (an array, or its JSON text) into clean definitions: trimmed texts, only
 * no empty translations, `marketing` defaulting to false. Throws the first problem.
 */
export function parsePurposes(input: unknown): PurposeDefinition[] {
  let list = input;
  if (typeof input === 'string') {
    try {
      list = input.trim() === '' ? [] : JSON.parse(input);
    } catch {
      throw new GdprWhatsAppError('invalid-purpose-list', 'The purposes are not valid JSON');
    }
  }
  if (list === undefined || list === null) list = [];
  const problems = purposeProblems(list);
  if (problems.length > 0) {
    const first = problems[0];
    // Named by its id too, when it has one: "Purpose 2" leaves her counting entries in a flow file.
    const entry = Array.isArray(list) ? (list as unknown[])[first.index] : undefined;
    const id = (entry as { id?: unknown } | undefined)?.id;
    const position =
      typeof id === 'string' && id.trim() !== '' ? `${first.index + 1} (${id.slice(0, 64)})` : `${first.index + 1}`;
    const message = first.message.replace(`Purpose ${first.index + 1}`, `Purpose ${position}`);
    throw new GdprWhatsAppError(first.code, message, { index: first.index + 1, position, field: first.field });
  }
  return (list as Record<string, unknown>[]).map((p) => {
    const interest = p.lawfulBasis === 'legitimate-interest' && p.interest ? cleanTexts(p.interest) : {};
    const labels = p.labels ? cleanTexts(p.labels) : {};
    return {
      id: p.id as string,
      label: (p.label as string).trim(),
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      wording: cleanTexts(p.wording),
      lawfulBasis: p.lawfulBasis as LawfulBasis,
      ...(Object.keys(interest).length > 0 ? { interest } : {}),
      marketing: p.marketing === true,
    };
  });
}

export function findPurpose(purposes: readonly PurposeDefinition[], id: unknown): PurposeDefinition | undefined {
  return typeof id === 'string' ? purposes.find((p) => p.id === id) : undefined;
}
