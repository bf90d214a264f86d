import { BoundedMemo } from '../bounded-memo';
import { GdprWhatsAppError } from '../errors';
import { forgetPhoneNumber, lookupCandidate, normalisePhoneNumber, RECENT_NUMBERS_MAX_AGE_MS } from '../phone';
import type { Pseudonymiser } from './keys';
import type { SubjectInput } from './types';

export interface IdentifiedSubject {
  pseudonym: string;
  phone?: string;
  userId?: string;
  waId?: string;
  name?: string;
  /** Pseudonym of the BSUID when a number is known too: later BSUID-only lookups find the number's records. */
  userIdAlias?: string;
  /** True when only a BSUID identifies the subject: the pseudonym may still resolve through an alias. */
  userIdOnly: boolean;
}

const USER_ID = /^[\x21-\x7e]{1,128}$/;
const CACHE_GENERATION = 10_000;

/**
 * Turns a SubjectRef into its pseudonym. Parsing a number with full metadata costs microseconds, more
 * than the consent lookup itself, so recent inputs are remembered (bounded, for minutes; erasure forgets them).
 */
export class SubjectResolver {
  private readonly recent = new BoundedMemo<{ phone: string; pseudonym: string }>(
    CACHE_GENERATION,
    RECENT_NUMBERS_MAX_AGE_MS,
  );

  constructor(private readonly pseudonyms: Pseudonymiser) {}

  identify(input: SubjectInput): IdentifiedSubject {
    if (typeof input === 'string') return { ...this.phone(input), userIdOnly: false };
    if (!input || typeof input !== 'object') {
      throw new GdprWhatsAppError('invalid-subject', 'A subject needs a phone number or a WhatsApp user id');
    }
    const userId = this.userId(input.userId);
    const name = typeof input.name === 'string' && input.name.trim() ? input.name.slice(0, 256) : undefined;
    const numberInput = input.phone ?? input.waId;
    if (numberInput !== undefined && numberInput !== null && numberInput !== '') {
      const { phone, pseudonym } = this.phone(numberInput);
      const waId = input.waId ? phone.slice(1) : undefined;
      return {
        pseudonym,
        phone,
        userId,
        waId,
        name,
        userIdAlias: userId ? this.pseudonyms.forUserId(userId) : undefined,
        userIdOnly: false,
      };
    }
    if (!userId) throw new GdprWhatsAppError('invalid-subject', 'A subject needs a phone number or a WhatsApp user id');
    return { pseudonym: this.pseudonyms.forUserId(userId), userId, name, userIdOnly: true };
  }

  /**
   * The number's canonical form when it is written in E.164 already, for a lookup before parsing (see
   * lookupCandidate in lib/phone.ts). A subject the full rules reject (a malformed user id) has none.
   */
  lookupCandidate(input: SubjectInput): string | undefined {
    if (typeof input === 'string') return lookupCandidate(input);
    if (!input || typeof input !== 'object') return undefined;
    const userId = input.userId;
    if (
      userId !== undefined &&
      userId !== null &&
      userId !== '' &&
      (typeof userId !== 'string' || !USER_ID.test(userId))
    ) {
      return undefined;
    }
    const numberInput = input.phone ?? input.waId;
    return numberInput === '' ? undefined : lookupCandidate(numberInput);
  }

  /**
   * A record stored under `candidate` (the lookupCandidate of `input`) proved it canonical: identifying the same
   * input later (a STOP right after the message that opened the window, say) needs no parsing.
   */
  rememberCanonical(input: SubjectInput, candidate: string, pseudonym: string): void {
    const numberInput = typeof input === 'string' ? input : (input?.phone ?? input?.waId);
    if (typeof numberInput === 'string' && numberInput !== '')
      this.recent.set(numberInput, { phone: candidate, pseudonym });
  }

  forget(phone: string): void {
    this.recent.deleteWhere((entry) => entry.phone === phone);
    forgetPhoneNumber(phone);
  }

  private phone(input: unknown): { phone: string; pseudonym: string } {
    const key = typeof input === 'string' ? input : undefined;
    if (key !== undefined) {
      const cached = this.recent.get(key);
      if (cached) return cached;
    }
    const phone = normalisePhoneNumber(input);
    const entry = { phone, pseudonym: this.pseudonyms.forPhone(phone) };
    if (key !== undefined) this.recent.set(key, entry);
    return entry;
  }

  private userId(value: unknown): string | undefined {
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string' || !USER_ID.test(value)) {
      throw new GdprWhatsAppError('invalid-subject', 'The WhatsApp user id is not valid');
    }
    return value;
  }
}
