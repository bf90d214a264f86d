import { keywordMessageLanguage } from './keywords';

/** Languages the package ships texts in. Anything else falls back to English. */
export type Language = 'en' | 'de';

const GERMAN_SPEAKING_COUNTRY_CODES = ['+49', '+43', '+41', '+423'];
/** The same countries as a business-scoped user id starts with them (ISO 3166 codes). */
const GERMAN_SPEAKING_COUNTRIES = ['DE.', 'AT.', 'CH.', 'LI.'];

/**
 * The language to address a person in: an explicit choice (msg.language, a form field) wins,
 * then the node's setting; "auto" takes the language of the keyword message she wrote, if it says one ("Unsubscribe",
 * "Abmelden"; keywordMessageLanguage), and else guesses German for numbers (or business-scoped user ids) from Germany,
 * Austria, Switzerland and Liechtenstein and English otherwise.
 */
export function chooseLanguage(
  explicit: unknown,
  nodeSetting: string | undefined,
  recipient?: unknown,
  herMessage?: unknown,
): Language {
  const requested = typeof explicit === 'string' ? explicit.toLowerCase().slice(0, 2) : undefined;
  if (requested === 'de' || requested === 'en') return requested;
  if (nodeSetting === 'de' || nodeSetting === 'en') return nodeSetting;
  const written = keywordMessageLanguage(herMessage);
  if (written) return written;
  const prefixes = [...GERMAN_SPEAKING_COUNTRY_CODES, ...GERMAN_SPEAKING_COUNTRIES];
  if (typeof recipient === 'string' && prefixes.some((prefix) => recipient.startsWith(prefix))) return 'de';
  return 'en';
}

/** Picks the text for `language` from a per-language map, falling back to English, then to any text. */
export function textFor(texts: Partial<Record<string, string>>, language: Language): string | undefined {
  return texts[language] || texts.en || Object.values(texts).find((t) => typeof t === 'string' && t.length > 0);
}
