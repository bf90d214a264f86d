import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FieldCipher, Pseudonymiser } from '../lib/consent/keys';
import { ConsentLedger } from '../lib/consent/ledger';
import { sha256Hex } from '../lib/consent/purposes';
import { openSqliteDatabase } from '../lib/store/sqlite-driver';
import { type ConsentStoreCredentials, type ConsentStoreDef, ledgerOptions } from '../nodes/consent-store';

/** The purpose every benchmark message is sent for; all seeded subjects gave consent to it. */
export const BENCH_PURPOSE = 'marketing';
export const BENCH_PURPOSES = [
  {
    id: BENCH_PURPOSE,
    label: 'Offers',
    wording: { en: 'Yes, send me offers on WhatsApp.', de: 'Ja, schickt mir Angebote per WhatsApp.' },
    lawfulBasis: 'consent',
    marketing: true,
  },
];

/** Subject n's number: +49151 followed by eight digits, a valid German mobile number for every n < 90,000,000. */
export function benchPhone(n: number): string {
  return `+49151${String(10_000_000 + n)}`;
}

export interface SeededStore {
  dir: string;
  sqlitePath: string;
  subjects: number;
  credentials: Required<Pick<ConsentStoreCredentials, 'encryptionKey' | 'pseudonymKey'>>;
  /** A consent-store node for the benchmark flows, pointing at the seeded file. */
  storeNode(id: string): Record<string, unknown>;
  /**
   * A copy of the file as seeded, before any benchmark wrote to it: a run that withdraws consents gets its own,
   * so that a later round does not find them withdrawn already (which costs less). Removed with this store.
   */
  fresh(): SeededStore;
  remove(): void;
}

const CONSENT_COLUMNS =
  'pseudonym, purpose, status, expires_at, purpose_version, wording_sha256, lawful_basis, method, requested_at, decided_at, retain_until, updated_at, actor';

/**
 * A consent-store SQLite file holding `subjects` people with a given consent, keyed exactly as the
 * consent-store node will key them (its own option parsing, so key ids and the purpose version match).
 * Rows are written in bulk, as a ledger would have written them one by one over the years.
 */
export async function seedConsentStore(subjects: number): Promise<SeededStore> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-gdpr-bench-store-'));
  const sqlitePath = path.join(dir, 'consent.db');
  const credentials = {
    encryptionKey: randomBytes(32).toString('base64'),
    pseudonymKey: randomBytes(32).toString('base64'),
  };
  const def = { backend: 'sqlite', sqlitePath, purposes: BENCH_PURPOSES } as unknown as ConsentStoreDef;
  const options = ledgerOptions(def, credentials, dir);
  const ledger = await ConsentLedger.open(options);
  const purpose = ledger.purpose(BENCH_PURPOSE);
  await ledger.close();
  if (!purpose) throw new Error('the bench purpose was not registered');

  const pseudonyms = new Pseudonymiser(options.pseudonymKey);
  const cipher = new FieldCipher(options.encryptionKeys);
  // The exact English wording the person agreed to, as giveConsent records it.
  const wording = purpose.wording.en;
  const wordingSha = sha256Hex(wording);
  const now = Date.now();
  // Each subject consented by keyword a day ago, so that message is their last inbound one (the 24-hour window).
  const consentedAt = now - 86_400_000;
  const retainUntil = now + 5 * 365 * 86_400_000;
  const { db } = openSqliteDatabase(sqlitePath);
  db.exec('PRAGMA synchronous = OFF; BEGIN');
  db.prepare('INSERT OR IGNORE INTO wordings (sha256, text) VALUES (?, ?)').run(wordingSha, wording);
  const subject = db.prepare(
    'INSERT INTO subjects (pseudonym, phone_enc, last_inbound_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
  );
  const consent = db.prepare(
    `INSERT INTO consents (${CONSENT_COLUMNS}) VALUES (?, ?, 'given', NULL, ?, ?, 'consent', 'keyword', ?, ?, ?, ?, 'bench')`,
  );
  for (let n = 0; n < subjects; n += 1) {
    const phone = benchPhone(n);
    const p = pseudonyms.forPhone(phone);
    subject.run(p, cipher.encrypt(phone, 'phone', p), consentedAt, consentedAt, consentedAt);
    consent.run(p, BENCH_PURPOSE, purpose.version, wordingSha, consentedAt, consentedAt, retainUntil, consentedAt);
  }
  db.exec('COMMIT; PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
  const seeded = path.join(dir, 'seeded.db');
  fs.copyFileSync(sqlitePath, seeded);
  let copies = 0;

  const storeAt = (file: string, remove: () => void): SeededStore => ({
    dir: path.dirname(file),
    sqlitePath: file,
    subjects,
    credentials,
    storeNode: (id) => ({
      id,
      type: 'consent-store',
      name: 'bench store',
      backend: 'sqlite',
      sqlitePath: file,
      purposes: BENCH_PURPOSES,
      credentials,
    }),
    fresh: () => {
      copies += 1;
      const copyDir = path.join(dir, `copy-${copies}`);
      fs.mkdirSync(copyDir);
      const copy = path.join(copyDir, 'consent.db');
      fs.copyFileSync(seeded, copy);
      return storeAt(copy, () => fs.rmSync(copyDir, { recursive: true, force: true }));
    },
    remove,
  });
  return storeAt(sqlitePath, () => fs.rmSync(dir, { recursive: true, force: true }));
}
