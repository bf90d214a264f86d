import { createHash } from 'node:crypto';
import { GdprWhatsAppError } from '../errors';
import { canonicalJson } from './canonical';
import type { LawfulBasis, PurposeConfig } from './types';

const PURPOSE_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const LAWFUL_BASES: LawfulBasis[] = ['consent', 'contract', 'legitimate-interest'];

export interface PurposeDefinition extends PurposeConfig {
  /** First 16 hex digits of SHA-256 over the canonical wording: a new text is a new version. */
  version: string;
  marketing: boolean;
}

/**
 * The basis a purpose is processed on: consent for marketing, whatever the store names (§ 7(2) no. 2 UWG: advertising by
 * electronic message needs consent), else the one named. Checks, the privacy page and access answers all use it.
 */
export function effectiveBasis(purpose: { lawfulBasis: string; marketing?: boolean }): string {
  return purpose.marketing === true ? 'consent' : purpose.lawfulBasis;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function purposeVersion(wording: Record<string, string>): string {
  return sha256Hex(canonicalJson(wording)).slice(0, 16);
}

export function isPurposeId(id: unknown): id is string {
  return typeof id === 'string' && PURPOSE_ID.test(id);
}

/** Validates the configured purposes once, at open, so that a typo fails loudly instead of blocking sends. */
export function definePurposes(configs: PurposeConfig[]): Map<string, PurposeDefinition> {
  if (!Array.isArray(configs)) throw new GdprWhatsAppError('invalid-purpose', 'Purposes must be a list');
  const purposes = new Map<string, PurposeDefinition>();
  for (const config of configs) {
    const id = config?.id;
    if (!isPurposeId(id)) {
      throw new GdprWhatsAppError('invalid-purpose', 'A purpose id must be lower-case letters, digits, - or _', {
        purpose: String(id ?? '').slice(0, 64),
      });
    }
    if (purposes.has(id))
      throw new GdprWhatsAppError('invalid-purpose', 'A purpose id is listed twice', { purpose: id });
    if (!LAWFUL_BASES.includes(config.lawfulBasis)) {
      throw new GdprWhatsAppError('invalid-purpose', 'A purpose needs a lawful basis', { purpose: id });
    }
    const wording = config.wording ?? {};
    const texts = Object.entries(wording);
    if (
      texts.length === 0 ||
      texts.some(([lang, text]) => !/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$/.test(lang) || !isText(text))
    ) {
      throw new GdprWhatsAppError('invalid-purpose', 'A purpose needs its wording in at least one language', {
        purpose: id,
      });
    }
    purposes.set(id, {
      id,
      label: typeof config.label === 'string' && config.label.trim() ? config.label : id,
      ...(config.labels ? { labels: { ...config.labels } } : {}),
      wording: { ...wording },
      lawfulBasis: config.lawfulBasis,
      ...(config.interest ? { interest: { ...config.interest } } : {}),
      marketing: config.marketing === true,
      version: purposeVersion(wording),
    });
  }
  return purposes;
}

/** A purpose's name in `language`, or its general label where it has none in that language. */
export function purposeLabel(purpose: Pick<PurposeConfig, 'label' | 'labels'>, language: string): string {
  const own = purpose.labels?.[language];
  return isText(own) ? own.trim() : purpose.label;
}

export function isText(value: unknown): value is string {
  return typeof value === 'string' && value.trim().length > 0;
}
