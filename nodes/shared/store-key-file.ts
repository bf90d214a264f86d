import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GdprWhatsAppError } from '../../lib/errors';

/**
 * Keys for a SQLite consent store whose credentials hold none (an imported example flow, a hand-written
 * flows.json): generated once, kept in the Node-RED user directory beside flows_cred.json with mode 0600,
 * and reused by every such store in that directory. Art. 32 GDPR still holds: nothing is stored in
 * plain text. PostgreSQL stores never use it: several instances must share one pair of keys, and a
 * file per instance would give each its own pseudonyms.
 */
export const STORE_KEY_FILE = 'whatsapp-consent-keys.json';

export interface StoreKeyTexts {
  encryptionKey: string;
  pseudonymKey: string;
}

function readKeyFile(file: string): StoreKeyTexts | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new GdprWhatsAppError('key-file-invalid', 'The consent store key file cannot be read', { file });
  }
  try {
    const keys = JSON.parse(text) as Partial<StoreKeyTexts>;
    if (typeof keys.encryptionKey === 'string' && typeof keys.pseudonymKey === 'string') {
      return { encryptionKey: keys.encryptionKey, pseudonymKey: keys.pseudonymKey };
    }
  } catch {
    // reported below, without the file's content
  }
  throw new GdprWhatsAppError('key-file-invalid', 'The consent store key file is not valid', { file });
}

/**
 * The keys in `<userDir>/whatsapp-consent-keys.json`, created on first use. An existing file is never
 * replaced: the data in the database is only readable with it.
 */
export function storeKeysFromFile(userDir: string): { keys: StoreKeyTexts; file: string; created: boolean } {
  const file = join(userDir, STORE_KEY_FILE);
  const existing = readKeyFile(file);
  if (existing) return { keys: existing, file, created: false };
  const keys: StoreKeyTexts = {
    encryptionKey: randomBytes(32).toString('base64'),
    pseudonymKey: randomBytes(32).toString('base64'),
  };
  try {
    // 'wx': another store (or process) that got there first wins, and its keys are used.
    writeFileSync(file, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      const written = readKeyFile(file);
      if (written) return { keys: written, file, created: false };
    }
    throw new GdprWhatsAppError('key-file-invalid', 'The consent store key file cannot be written', { file });
  }
  return { keys, file, created: true };
}

/** True when the credentials name no key at all (one key without the other stays an error). */
export function hasNoKeys(credentials: { encryptionKey?: string; pseudonymKey?: string }): boolean {
  return !String(credentials.encryptionKey ?? '').trim() && !String(credentials.pseudonymKey ?? '').trim();
}
