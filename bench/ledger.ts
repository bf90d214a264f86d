/**
 * Consent ledger benchmark (issue 3): checks per second at N subjects, erase p50/p99, retention sweep of
 * N expired requests, bytes on disk per subject; SQLite and (with WA_GDPR_PG_URL) PostgreSQL.
 *   node dist/bench/ledger.js [--subjects 1000000] [--backend sqlite|postgres|both]
 * Seeding writes rows directly (bulk), as a real ledger would have written them one by one over years.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { FieldCipher, Pseudonymiser } from '../lib/consent/keys';
import { ConsentLedger } from '../lib/consent/ledger';
import { sha256Hex } from '../lib/consent/purposes';
import type { LedgerOptions, PurposeConfig } from '../lib/consent/types';
import { openSqliteDatabase } from '../lib/store/sqlite-driver';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const SUBJECTS = Number(arg('subjects', '1000000'));
const BACKEND = arg('backend', process.env.WA_GDPR_PG_URL ? 'both' : 'sqlite');
const PURPOSES: PurposeConfig[] = [
  { id: 'marketing', label: 'Offers', wording: { en: 'Yes, send me offers on WhatsApp.' }, lawfulBasis: 'consent' },
];
const WORDING = PURPOSES[0].wording.en;
const keys = { encryptionKeys: [{ id: 'k1', key: randomBytes(32) }], pseudonymKey: randomBytes(32) };
const phoneOf = (n: number) => `+49151${String(10_000_000 + n)}`;
const CONSENT_COLUMNS =
  'pseudonym, purpose, status, expires_at, purpose_version, wording_sha256, lawful_basis, method, requested_at, decided_at, retain_until, updated_at, actor';

interface Row {
  backend: string;
  subjects: number;
  seedSeconds: number;
  checksPerSecondCold: number;
  checksPerSecondHot: number;
  eraseP50Ms: number;
  eraseP99Ms: number;
  sweepSeconds: number;
  swept: number;
  bytesPerSubject: number;
}

function seedRows(from: number, to: number) {
  const pseudonyms = new Pseudonymiser(keys.pseudonymKey);
  const cipher = new FieldCipher(keys.encryptionKeys);
  const out: { p: string; phoneEnc: string }[] = [];
  for (let n = from; n < to; n += 1) {
    const p = pseudonyms.forPhone(phoneOf(n));
    out.push({ p, phoneEnc: cipher.encrypt(phoneOf(n), 'phone', p) });
  }
  return out;
}

async function seedSqlite(file: string, version: string, now: number): Promise<void> {
  const { db } = openSqliteDatabase(file);
  db.exec('PRAGMA synchronous = OFF; BEGIN');
  db.prepare('INSERT OR IGNORE INTO wordings (sha256, text) VALUES (?, ?)').run(sha256Hex(WORDING), WORDING);
  const subject = db.prepare('INSERT INTO subjects (pseudonym, phone_enc, created_at, updated_at) VALUES (?, ?, ?, ?)');
  const consent = db.prepare(
    `INSERT INTO consents (${CONSENT_COLUMNS}) VALUES (?, 'marketing', 'given', NULL, ?, ?, 'consent', 'keyword', ?, ?, ?, ?, 'bench')`,
  );
  const wordingSha = sha256Hex(WORDING);
  for (let from = 0; from < SUBJECTS; from += 10_000) {
    for (const row of seedRows(from, Math.min(SUBJECTS, from + 10_000))) {
      subject.run(row.p, row.phoneEnc, now, now);
      consent.run(row.p, version, wordingSha, now, now, now + 5 * 365 * 86_400_000, now);
    }
  }
  db.exec('COMMIT; PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
}

async function seedPostgres(url: string, schema: string, version: string, now: number): Promise<void> {
  const client = new Client({ connectionString: url, options: `-c search_path=${schema}` });
  await client.connect();
  await client.query('INSERT INTO wordings (sha256, text) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
    sha256Hex(WORDING),
    WORDING,
  ]);
  for (let from = 0; from < SUBJECTS; from += 20_000) {
    const rows = seedRows(from, Math.min(SUBJECTS, from + 20_000));
    await client.query(
      'INSERT INTO subjects (pseudonym, phone_enc, created_at, updated_at) SELECT p, e, $3, $3 FROM unnest($1::text[], $2::text[]) AS t(p, e)',
      [rows.map((r) => r.p), rows.map((r) => r.phoneEnc), now],
    );
    await client.query(
      `INSERT INTO consents (${CONSENT_COLUMNS}) SELECT p, 'marketing', 'given', NULL, $2, $3, 'consent', 'keyword', $4, $4, $5, $4, 'bench' FROM unnest($1::text[]) AS t(p)`,
      [rows.map((r) => r.p), version, sha256Hex(WORDING), now, now + 5 * 365 * 86_400_000],
    );
  }
  await client.query('VACUUM ANALYZE subjects, consents');
  await client.end();
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

async function checksPerSecond(
  ledger: ConsentLedger,
  pick: () => number,
  count: number,
  inFlight: number,
): Promise<number> {
  let done = 0;
  let allowed = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (done < count) {
      done += 1;
      if ((await ledger.checkConsent(phoneOf(pick()), 'marketing')).allowed) allowed += 1;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (allowed === 0) throw new Error('no check found a consent: the seed did not work');
  return Math.round(count / seconds);
}

async function run(backend: 'sqlite' | 'postgres'): Promise<Row> {
  const now = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-gdpr-bench-'));
  const file = path.join(dir, 'ledger.db');
  const schema = `wa_gdpr_bench_${process.pid}`;
  const url = process.env.WA_GDPR_PG_URL ?? '';
  const options: LedgerOptions =
    backend === 'sqlite'
      ? { backend, sqlitePath: file, ...keys, purposes: PURPOSES }
      : { backend, postgresUrl: url, postgresSchema: schema, ...keys, purposes: PURPOSES };
  let ledger = await ConsentLedger.open(options);
  const version = ledger.purpose('marketing')!.version;
  await ledger.close();
  const seedStart = Date.now();
  if (backend === 'sqlite') await seedSqlite(file, version, now);
  else await seedPostgres(url, schema, version, now);
  const seedSeconds = (Date.now() - seedStart) / 1000;
  ledger = await ConsentLedger.open(options);
  try {
    const random = () => Math.floor(Math.random() * SUBJECTS);
    const inFlight = backend === 'sqlite' ? 1 : 32;
    const checkCount = backend === 'sqlite' ? 300_000 : 50_000;
    await checksPerSecond(ledger, random, 5000, inFlight);
    const checksPerSecondCold = await checksPerSecond(ledger, random, checkCount, inFlight);
    const hot = () => Math.floor(Math.random() * 1000);
    await checksPerSecond(ledger, hot, 5000, inFlight);
    const checksPerSecondHot = await checksPerSecond(ledger, hot, checkCount, inFlight);

    const eraseTimes: number[] = [];
    for (let i = 0; i < 200; i += 1) {
      const started = process.hrtime.bigint();
      const report = await ledger.eraseSubject(phoneOf(SUBJECTS - 1 - i), 'bench');
      eraseTimes.push(Number(process.hrtime.bigint() - started) / 1e6);
      if (!report.found) throw new Error('erase found nothing');
    }

    let bytesPerSubject: number;
    if (backend === 'sqlite') {
      bytesPerSubject = Math.round(fs.statSync(file).size / SUBJECTS);
    } else {
      const client = new Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query(
        `SELECT SUM(pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass)) AS bytes FROM pg_tables WHERE schemaname = $1`,
        [schema],
      );
      await client.end();
      bytesPerSubject = Math.round(Number(rows[0].bytes) / SUBJECTS);
    }

    // Sweep: every seeded consent becomes a pending request that expired yesterday.
    await ledger.close();
    const sweepOptions = { ...options, retention: { sweepBatchSize: 5000 } };
    if (backend === 'sqlite') {
      const { db } = openSqliteDatabase(file);
      db.exec(`UPDATE consents SET status = 'pending', expires_at = ${now - 86_400_000}`);
      db.close();
    } else {
      const client = new Client({ connectionString: url, options: `-c search_path=${schema}` });
      await client.connect();
      await client.query(`UPDATE consents SET status = 'pending', expires_at = $1`, [now - 86_400_000]);
      await client.end();
    }
    ledger = await ConsentLedger.open(sweepOptions);
    const sweepStart = Date.now();
    const sweep = await ledger.sweepRetention();
    const sweepSeconds = (Date.now() - sweepStart) / 1000;
    return {
      backend: `${backend} (${ledger.backendDescription.replace(/^\w+ \(|\)$/g, '')})`,
      subjects: SUBJECTS,
      seedSeconds,
      checksPerSecondCold,
      checksPerSecondHot,
      eraseP50Ms: Number(percentile(eraseTimes, 50).toFixed(2)),
      eraseP99Ms: Number(percentile(eraseTimes, 99).toFixed(2)),
      sweepSeconds,
      swept: sweep.expiredRequests,
      bytesPerSubject,
    };
  } finally {
    await ledger.close();
    fs.rmSync(dir, { recursive: true, force: true });
    if (backend === 'postgres') {
      const client = new Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  }
}

async function main(): Promise<void> {
  const backends: ('sqlite' | 'postgres')[] = BACKEND === 'both' ? ['sqlite', 'postgres'] : [BACKEND as 'sqlite'];
  const rows: Row[] = [];
  for (const backend of backends) rows.push(await run(backend));
  console.log(`Consent ledger on Node ${process.versions.node}, ${os.cpus().length} CPU(s)`);
  console.table(rows);
  console.log(
    'checks/s cold: a different subject each time (number parsing + HMAC + index lookup); hot: 1,000 recurring subjects.',
  );
  console.log('PostgreSQL checks run 32 in flight (one pool); erase includes the WAL checkpoint / VACUUM.');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
