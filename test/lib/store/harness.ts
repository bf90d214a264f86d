import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import type { LedgerOptions, PurposeConfig } from '../../../lib/consent/types';
import { GdprWhatsAppError } from '../../../lib/errors';
import { openSqliteDatabase } from '../../../lib/store/sqlite-driver';

/** A fresh, empty database for one test, plus raw access for assertions and tampering. */
export interface BackendHarness {
  backend: 'sqlite' | 'postgres';
  /** Options for ConsentLedger.open on this database; every call points at the same database. */
  options(overrides?: Partial<LedgerOptions>): LedgerOptions;
  all(sql: string, params?: (string | number | null)[]): Promise<Record<string, unknown>[]>;
  exec(sql: string): Promise<void>;
  /** Every row of every ledger table, order-independent: equal dumps mean nothing was written. */
  dump(): Promise<string>;
  dispose(): Promise<void>;
}

export type HarnessFactory = () => Promise<BackendHarness>;

export const TEST_KEYS = {
  encryptionKeys: [{ id: 'k1', key: randomBytes(32) }],
  pseudonymKey: randomBytes(32),
};

export const TEST_PURPOSES: PurposeConfig[] = [
  {
    id: 'marketing',
    label: 'Offers',
    wording: {
      en: 'Yes, send me offers on WhatsApp. I can unsubscribe at any time with STOP.',
      de: 'Ja, schickt mir Angebote per WhatsApp. Abmelden jederzeit mit STOP.',
    },
    lawfulBasis: 'consent',
    marketing: true,
  },
  {
    id: 'newsletter',
    label: 'Newsletter',
    wording: { en: 'Send me the monthly newsletter on WhatsApp.' },
    lawfulBasis: 'consent',
  },
  {
    id: 'orders',
    label: 'Order updates',
    wording: { en: 'Order updates for your purchases.', de: 'Bestell-Updates zu Ihren Einkäufen.' },
    lawfulBasis: 'contract',
  },
];

export const LEDGER_TABLES = [
  'subjects',
  'subject_aliases',
  'wordings',
  'purpose_versions',
  'purpose_presence',
  'consents',
  'consent_history',
  'notices',
  'suppressions',
  'dedupe_marks',
  'event_outbox',
  'event_cursors',
  'audit',
  'audit_anchor',
  'schema_version',
];

/**
 * The columns schema version 11 added to `consents` and `consent_history` (the double opt-in's request proof). The
 * tests that take a database back to an older version drop them, so that the migration runs as it would there.
 */
export const REQUEST_PROOF_COLUMNS = [
  'request_id',
  'request_sent_at',
  'request_phone_number_id',
  'confirmation_via',
  'confirmation_match',
];

/** The column schema version 12 added to `consents` and `consent_history`: which request replaced an archived one. */
export const REPLACED_BY_COLUMN = 'replaced_by_request_id';

/** The indexes schema version 13 added: the sweep finds wordings no record uses through them. */
export const WORDING_INDEXES = ['consents_by_wording', 'consent_history_by_wording'];

/** The column schema version 14 added to `subjects`: her inbound time before the last one. */
export const PREVIOUS_INBOUND_COLUMN = 'previous_inbound_at';

/** The column schema version 15 added to `consents` and `consent_history`: the time of her message that asked. */
export const REQUEST_INBOUND_COLUMN = 'request_inbound_at';

/** The database as schema version 14 left it, its rows kept: version 15's column and schema_version row go. */
export async function backToVersion14(db: BackendHarness): Promise<void> {
  for (const table of ['consents', 'consent_history']) {
    await db.exec(`ALTER TABLE ${table} DROP COLUMN ${REQUEST_INBOUND_COLUMN}`);
  }
  await db.exec('DELETE FROM schema_version WHERE version > 14');
}

/** The database as schema version 13 left it, its rows kept: version 14's column and schema_version row go. */
export async function backToVersion13(db: BackendHarness): Promise<void> {
  await backToVersion14(db);
  await db.exec(`ALTER TABLE subjects DROP COLUMN ${PREVIOUS_INBOUND_COLUMN}`);
  await db.exec('DELETE FROM schema_version WHERE version > 13');
}

/** The database as schema version 12 left it, its rows kept: version 13's indexes and schema_version row go. */
export async function backToVersion12(db: BackendHarness): Promise<void> {
  await backToVersion13(db);
  for (const index of WORDING_INDEXES) await db.exec(`DROP INDEX ${index}`);
  await db.exec('DELETE FROM schema_version WHERE version > 12');
}

/** The database as schema version 11 left it, its rows kept: version 12's column and its schema_version row go. */
export async function backToVersion11(db: BackendHarness): Promise<void> {
  await backToVersion12(db);
  for (const table of ['consents', 'consent_history']) {
    await db.exec(`ALTER TABLE ${table} DROP COLUMN ${REPLACED_BY_COLUMN}`);
  }
  await db.exec('DELETE FROM schema_version WHERE version > 11');
}

/** The database as schema version 10 left it, its rows kept: the later versions' columns and schema_version rows go. */
export async function backToVersion10(db: BackendHarness): Promise<void> {
  await backToVersion11(db);
  for (const table of ['consents', 'consent_history']) {
    for (const column of REQUEST_PROOF_COLUMNS) await db.exec(`ALTER TABLE ${table} DROP COLUMN ${column}`);
  }
  await db.exec('DELETE FROM schema_version WHERE version > 10');
}

async function dumpWith(all: BackendHarness['all']): Promise<string> {
  const parts: string[] = [];
  for (const table of LEDGER_TABLES) {
    const rows = (await all(`SELECT * FROM ${table}`)).map((r) =>
      JSON.stringify(Object.entries(r).map(([k, v]) => [k, String(v)])),
    );
    parts.push(`${table}:${rows.sort().join('|')}`);
  }
  return parts.join('\n');
}

let counter = 0;

export function sqliteHarness(): HarnessFactory {
  return async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-gdpr-ledger-'));
    const file = path.join(dir, `ledger-${counter++}.db`);
    // The same driver as the store: better-sqlite3's native build does not load on CI's Node 24.
    const raw = () => openSqliteDatabase(file).db;
    const harness: BackendHarness = {
      backend: 'sqlite',
      options: (overrides = {}) => ({
        backend: 'sqlite',
        sqlitePath: file,
        ...TEST_KEYS,
        purposes: TEST_PURPOSES,
        ...overrides,
      }),
      async all(sql, params = []) {
        const db = raw();
        try {
          return db.prepare(sql).all(...params) as Record<string, unknown>[];
        } finally {
          db.close();
        }
      },
      async exec(sql) {
        const db = raw();
        try {
          db.exec(sql);
        } finally {
          db.close();
        }
      },
      dump: () => dumpWith(harness.all),
      async dispose() {
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
    return harness;
  };
}

/** The PostgreSQL under test, from WA_GDPR_PG_URL (CI: postgres://postgres@127.0.0.1:5432/test). */
export const POSTGRES_URL = process.env.WA_GDPR_PG_URL;

export function postgresHarness(url: string): HarnessFactory {
  return async () => {
    // Each test gets its own schema, dropped afterwards, so parallel runs never meet.
    const schema = `wa_gdpr_test_${process.pid}_${Date.now().toString(36)}_${counter++}`;
    const client = new Client({ connectionString: url, options: `-c search_path=${schema}` });
    await client.connect();
    await client.query(`CREATE SCHEMA ${schema}`);
    const harness: BackendHarness = {
      backend: 'postgres',
      options: (overrides = {}) => ({
        backend: 'postgres',
        postgresUrl: url,
        postgresSchema: schema,
        ...TEST_KEYS,
        purposes: TEST_PURPOSES,
        ...overrides,
      }),
      all: async (sql, params = []) =>
        (
          await client.query(
            sql.replace(/\?/g, (_, i) => `$${nth(sql, i)}`),
            params,
          )
        ).rows,
      exec: async (sql) => {
        await client.query(sql);
      },
      dump: () => dumpWith(harness.all),
      async dispose() {
        await client.query(`DROP SCHEMA ${schema} CASCADE`);
        await client.end();
      },
    };
    return harness;
  };
}

/** Harness queries use "?" placeholders for both backends; PostgreSQL numbers them. */
function nth(sql: string, offset: number): number {
  return sql.slice(0, offset + 1).split('?').length - 1;
}

/** Fails unless `promise` rejects with the package's error of this `code`. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof GdprWhatsAppError, `expected GdprWhatsAppError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}
