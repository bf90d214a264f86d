import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { GdprWhatsAppError } from '../errors';

export interface EncryptionKey {
  id: string;
  /** 32 bytes for AES-256-GCM. */
  key: Buffer;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const ENVELOPE_VERSION = 'v1';

/**
 * Checks the key material before anything is stored: without keys the ledger would have to keep
 * phone numbers in plain text, which Art. 32 GDPR (security of processing) rules out.
 */
export function validateKeys(encryptionKeys: EncryptionKey[] | undefined, pseudonymKey: Buffer | undefined): void {
  if (!Array.isArray(encryptionKeys) || encryptionKeys.length === 0 || !Buffer.isBuffer(pseudonymKey)) {
    throw new GdprWhatsAppError(
      'missing-keys',
      'The consent store needs an encryption key and a pseudonym key; it stores no personal data without them',
    );
  }
  const seen = new Set<string>();
  for (const entry of encryptionKeys) {
    if (!entry || typeof entry.id !== 'string' || !KEY_ID.test(entry.id) || seen.has(entry.id)) {
      throw new GdprWhatsAppError('invalid-key', 'Each encryption key needs a unique id of letters, digits, - or _');
    }
    if (!Buffer.isBuffer(entry.key) || entry.key.length !== 32) {
      throw new GdprWhatsAppError('invalid-key', 'Each encryption key must be 32 bytes (AES-256)');
    }
    seen.add(entry.id);
  }
  if (pseudonymKey.length < 32) {
    throw new GdprWhatsAppError('invalid-key', 'The pseudonym key must be at least 32 bytes');
  }
}

/** Keyed pseudonyms (HMAC-SHA256): stable for lookups, useless without the key (Art. 4(5) GDPR). */
export class Pseudonymiser {
  constructor(private readonly key: Buffer) {}

  forPhone(e164: string): string {
    return this.hmac(e164);
  }

  forUserId(userId: string): string {
    return this.hmac(`bsuid:${userId}`);
  }

  /** De-duplication keys are message ids, and Meta's message ids encode the sender's number. */
  forDedupeKey(key: string): string {
    return this.hmac(`dedupe:${key}`);
  }

  /** Tells whether two keys are the same without telling anything about either. */
  keyCheck(): string {
    return this.hmac('key-check:v1');
  }

  private hmac(text: string): string {
    return createHmac('sha256', this.key).update(text, 'utf8').digest('base64url');
  }
}

/**
 * AES-256-GCM per field: "v1.<keyId>.<iv>.<ciphertext>.<tag>" (base64url). The first key encrypts,
 * every listed key decrypts, so rotation is "put the new key first". The field name and the
 * subject's pseudonym are bound as additional data, so a ciphertext cannot be moved to another subject.
 */
export class FieldCipher {
  private readonly byId: Map<string, Buffer>;
  private readonly current: EncryptionKey;

  constructor(keys: EncryptionKey[]) {
    this.current = keys[0];
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  encrypt(plain: string, field: string, pseudonym: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    cipher.setAAD(Buffer.from(`${field}\u0000${pseudonym}`, 'utf8'));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [
      ENVELOPE_VERSION,
      this.current.id,
      iv.toString('base64url'),
      body.toString('base64url'),
      tag.toString('base64url'),
    ].join('.');
  }

  encryptOptional(plain: string | undefined, field: string, pseudonym: string): string | null {
    return plain === undefined || plain === '' ? null : this.encrypt(plain, field, pseudonym);
  }

  decrypt(envelope: string, field: string, pseudonym: string): string {
    const parts = envelope.split('.');
    const key = parts.length === 5 && parts[0] === ENVELOPE_VERSION ? this.byId.get(parts[1]) : undefined;
    if (!key) {
      throw new GdprWhatsAppError('unknown-key', 'A stored value was encrypted with a key that is not configured', {
        keyId: parts[1] ?? '',
      });
    }
    try {
      const iv = Buffer.from(parts[2], 'base64url');
      const tag = Buffer.from(parts[4], 'base64url');
      // Only what encrypt writes: a shortened tag would be far easier to forge.
      if (iv.length !== 12 || tag.length !== 16) throw new Error('bad envelope');
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
      decipher.setAAD(Buffer.from(`${field}\u0000${pseudonym}`, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(parts[3], 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new GdprWhatsAppError(
        'decryption-failed',
        'A stored value could not be decrypted (wrong key or altered data)',
      );
    }
  }

  decryptOptional(envelope: string | null | undefined, field: string, pseudonym: string): string | undefined {
    return envelope ? this.decrypt(envelope, field, pseudonym) : undefined;
  }

  /** Key id of a stored value, for rotation reports. */
  static keyIdOf(envelope: string): string | undefined {
    return envelope.split('.')[1];
  }
}
