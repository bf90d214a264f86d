/**
 * Consent ledger benchmark (issue 3): checks per second at N subjects, erase p50/p99, retention sweep of
 * N expired requests, bytes on disk per subject; SQLite and (with WA_GDPR_PG_URL) PostgreSQL.
 *   node dist/bench/ledger.js [--subjects 1000000] [--backend sqlite|postgres|both]
 *     [--phases checks,erase,size,sweep] [--keep DIR]
 * Seeding writes rows directly (bulk), as a real ledger would have written them one by one over years.
 * --keep DIR keeps the seeded SQLite file (and its bench-only keys) in DIR and reuses it on the next run,
 * so that a profile (node --cpu-prof) of the checks does not pay for seeding again. The sweep phase
 * rewrites every consent, so it is left out of the default phases when --keep is given.
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
import { describeMachine } from './machine';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const SUBJECTS = Number(arg('subjects', '1000000'));
const BACKEND = arg('backend', process.env.WA_GDPR_PG_URL ? 'both' : 'sqlite');
const KEEP = args.includes('--keep') ? path.resolve(arg('keep', '')) : undefined;
const PHASES = new Set(arg('phases', KEEP ? 'checks,erase,size' : 'checks,erase,size,sweep').split(','));
const PURPOSES: PurposeConfig[] = [
  { id: 'marketing', label: 'Offers', wording: { en: 'Yes, send me offers on WhatsApp.' }, lawfulBasis: 'consent' },
];
const WORDING = PURPOSES[0].wording.en;
/** Subject n: a valid German mobile number for every n < 90,000,000 (canonical E.164). */
const phoneOf = (n: number) => `+49151${String(10_000_000 + n)}`;
/** The same number as a person would type it: the full parse path. */
const typedPhoneOf = (n: number) => {
  const digits = String(10_000_000 + n);
  return `0049 151 ${digits.slice(0, 4)} ${digits.slice(4)}`;
};
const CONSENT_COLUMNS =
  'pseudonym, purpose, status, expires_at, purpose_version, wording_sha256, lawful_basis, method, requested_at, decided_at, retain_until, updated_at, actor';

type Keys = Pick<LedgerOptions, 'encryptionKeys' | 'pseudonymKey'>;

/**
 * cold: a different seeded subject per check, canonical E.164 input (what a webhook's wa_id gives);
 * typed: the same subjects written "0049 151 ..." (every check parses the number); unknown: valid
 * numbers that are not in the ledger (answer 'none'); hot: 1,000 recurring subjects; alone: as cold, but each
 * check in an event-loop turn of its own, so none shares SQLite's read snapshot with another (the worst case).
 */
type Scenario = 'cold' | 'alone' | 'typed' | 'unknown' | 'hot';

interface CheckRow {
  backend: string;
  scenario: Scenario;
  checksPerSecond: number;
  checksPerCpuSecond: number;
  load1: number;
}

interface Row {
  backend: string;
  subjects: number;
  seedSeconds?: number;
  eraseP50Ms?: number;
  eraseP99Ms?: number;
  bytesPerSubject?: number;
  sweepSeconds?: number;
  swept?: number;
}

function seedRows(keys: Keys, from: number, to: number) {
  const pseudonyms = new Pseudonymiser(keys.pseudonymKey);
  const cipher = new FieldCipher(keys.encryptionKeys);
  const out: { p: string; phoneEnc: string }[] = [];
  for (let n = from; n < to; n += 1) {
    const p = pseudonyms.forPhone(phoneOf(n));
    out.push({ p, phoneEnc: cipher.encrypt(phoneOf(n), 'phone', p) });
  }
  return out;
}

async function seedSqlite(file: string, keys: Keys, version: string, now: number): Promise<void> {
  const { db } = openSqliteDatabase(file);
  db.exec('PRAGMA synchronous = OFF; BEGIN');
  db.prepare('INSERT OR IGNORE INTO wordings (sha256, text) VALUES (?, ?)').run(sha256Hex(WORDING), WORDING);
  const subject = db.prepare('INSERT INTO subjects (pseudonym, phone_enc, created_at, updated_at) VALUES (?, ?, ?, ?)');
  const consent = db.prepare(
    `INSERT INTO consents (${CONSENT_COLUMNS}) VALUES (?, 'marketing', 'given', NULL, ?, ?, 'consent', 'keyword', ?, ?, ?, ?, 'bench')`,
  );
  const wordingSha = sha256Hex(WORDING);
  for (let from = 0; from < SUBJECTS; from += 10_000) {
    for (const row of seedRows(keys, from, Math.min(SUBJECTS, from + 10_000))) {
      subject.run(row.p, row.phoneEnc, now, now);
      consent.run(row.p, version, wordingSha, now, now, now + 5 * 365 * 86_400_000, now);
    }
  }
  db.exec('COMMIT; PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
}

async function seedPostgres(url: string, schema: string, keys: Keys, version: string, now: number): Promise<void> {
  const client = new Client({ connectionString: url, options: `-c search_path=${schema}` });
  await client.connect();
  await client.query('INSERT INTO wordings (sha256, text) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
    sha256Hex(WORDING),
    WORDING,
  ]);
  for (let from = 0; from < SUBJECTS; from += 20_000) {
    const rows = seedRows(keys, from, Math.min(SUBJECTS, from + 20_000));
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

interface Throughput {
  /** Checks per second of wall-clock time. */
  wall: number;
  /** Checks per second of this process's CPU time (user + system): what the code costs on an idle core. */
  cpu: number;
}

/**
 * Inputs are built before the clock starts, so the figure is the ledger's cost alone. `expectAllowed`
 * proves the checks really found (or really did not find) the seeded consents.
 */
async function checksPerSecond(
  ledger: ConsentLedger,
  inputs: string[],
  inFlight: number,
  expectAllowed: boolean,
  eachInItsOwnTurn = false,
): Promise<Throughput> {
  let next = 0;
  let allowed = 0;
  const cpuStart = process.cpuUsage();
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < inputs.length) {
      const input = inputs[next];
      next += 1;
      if ((await ledger.checkConsent(input, 'marketing')).allowed) allowed += 1;
      if (eachInItsOwnTurn) await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  if (allowed !== (expectAllowed ? inputs.length : 0)) {
    throw new Error(`${allowed} of ${inputs.length} checks allowed: the seed or the check is wrong`);
  }
  return {
    wall: Math.round(inputs.length / seconds),
    cpu: Math.round(inputs.length / ((cpu.user + cpu.system) / 1e6)),
  };
}

function inputs(count: number, pick: () => number, format: (n: number) => string): string[] {
  return Array.from({ length: count }, () => format(pick()));
}

/** Seeds (or reuses a kept seed) and returns the options to open the seeded ledger with. */
async function prepare(
  backend: 'sqlite' | 'postgres',
  dir: string,
): Promise<{ options: LedgerOptions; seedSeconds?: number }> {
  const file = path.join(dir, 'ledger.db');
  const keysFile = path.join(dir, 'bench-keys.json');
  if (backend === 'sqlite' && KEEP && fs.existsSync(keysFile) && fs.existsSync(file)) {
    const saved = JSON.parse(fs.readFileSync(keysFile, 'utf8'));
    if (saved.subjects === SUBJECTS) {
      const keys: Keys = {
        encryptionKeys: [{ id: 'k1', key: Buffer.from(saved.encryptionKey, 'base64') }],
        pseudonymKey: Buffer.from(saved.pseudonymKey, 'base64'),
      };
      return { options: { backend, sqlitePath: file, ...keys, purposes: PURPOSES } };
    }
    fs.rmSync(file, { force: true });
  }
  const keys: Keys = { encryptionKeys: [{ id: 'k1', key: randomBytes(32) }], pseudonymKey: randomBytes(32) };
  const url = process.env.WA_GDPR_PG_URL ?? '';
  const schema = `wa_gdpr_bench_${process.pid}`;
  const options: LedgerOptions =
    backend === 'sqlite'
      ? { backend, sqlitePath: file, ...keys, purposes: PURPOSES }
      : { backend, postgresUrl: url, postgresSchema: schema, ...keys, purposes: PURPOSES };
  const ledger = await ConsentLedger.open(options);
  const version = ledger.purpose('marketing')?.version ?? '';
  await ledger.close();
  const now = Date.now();
  const seedStart = Date.now();
  if (backend === 'sqlite') await seedSqlite(file, keys, version, now);
  else await seedPostgres(url, schema, keys, version, now);
  if (backend === 'sqlite' && KEEP) {
    fs.writeFileSync(
      keysFile,
      JSON.stringify({
        subjects: SUBJECTS,
        encryptionKey: keys.encryptionKeys[0].key.toString('base64'),
        pseudonymKey: keys.pseudonymKey.toString('base64'),
      }),
      { mode: 0o600 },
    );
  }
  return { options, seedSeconds: (Date.now() - seedStart) / 1000 };
}

async function databaseBytes(options: LedgerOptions): Promise<number> {
  if (options.backend === 'sqlite') return fs.statSync(options.sqlitePath ?? '').size;
  const client = new Client({ connectionString: options.postgresUrl });
  await client.connect();
  const { rows } = await client.query(
    `SELECT SUM(pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass)) AS bytes FROM pg_tables WHERE schemaname = $1`,
    [options.postgresSchema],
  );
  await client.end();
  return Number(rows[0].bytes);
}

const checkRows: CheckRow[] = [];

async function run(backend: 'sqlite' | 'postgres'): Promise<Row> {
  const dir = KEEP ?? fs.mkdtempSync(path.join(os.tmpdir(), 'wa-gdpr-bench-'));
  fs.mkdirSync(dir, { recursive: true });
  const { options, seedSeconds } = await prepare(backend, dir);
  let ledger = await ConsentLedger.open(options);
  const row: Row = { backend: '', subjects: SUBJECTS, seedSeconds };
  try {
    row.backend = `${backend} (${ledger.backendDescription.replace(/^\w+ \(|\)$/g, '')})`;
    const inFlight = backend === 'sqlite' ? 1 : 32;
    const count = backend === 'sqlite' ? 300_000 : 50_000;
    // The last 1,000 subjects are erased below; checks pick among the others.
    const random = () => Math.floor(Math.random() * (SUBJECTS - 1000));
    const unknown = () => SUBJECTS + Math.floor(Math.random() * (80_000_000 - SUBJECTS));
    const hot = () => Math.floor(Math.random() * 1000);
    if (PHASES.has('checks')) {
      const scenarios: [Scenario, number, () => number, (n: number) => string, boolean][] = [
        ['cold', count, random, phoneOf, true],
        ['alone', count / 5, random, phoneOf, true],
        ['typed', count / 5, random, typedPhoneOf, true],
        ['unknown', count / 5, unknown, phoneOf, false],
        ['hot', count, hot, phoneOf, true],
      ];
      for (const [scenario, n, pick, format, expectAllowed] of scenarios) {
        const alone = scenario === 'alone';
        await checksPerSecond(ledger, inputs(5000, pick, format), inFlight, expectAllowed, alone);
        const figures = await checksPerSecond(ledger, inputs(n, pick, format), inFlight, expectAllowed, alone);
        checkRows.push({
          backend: row.backend,
          scenario,
          checksPerSecond: figures.wall,
          checksPerCpuSecond: figures.cpu,
          load1: Number(os.loadavg()[0].toFixed(1)),
        });
      }
    }

    if (PHASES.has('erase')) {
      const eraseTimes: number[] = [];
      const offset = KEEP ? Math.floor(Math.random() * 800) : 0;
      for (let i = 0; i < 200; i += 1) {
        const subject = phoneOf(SUBJECTS - 1 - offset - i);
        const started = process.hrtime.bigint();
        const report = await ledger.eraseSubject(subject, 'bench');
        eraseTimes.push(Number(process.hrtime.bigint() - started) / 1e6);
        if (!report.found && !KEEP) throw new Error('erase found nothing');
      }
      row.eraseP50Ms = Number(percentile(eraseTimes, 50).toFixed(2));
      row.eraseP99Ms = Number(percentile(eraseTimes, 99).toFixed(2));
    }

    if (PHASES.has('size')) row.bytesPerSubject = Math.round((await databaseBytes(options)) / SUBJECTS);

    if (PHASES.has('sweep')) {
      // Every seeded consent becomes a pending request that expired yesterday.
      await ledger.close();
      const yesterday = Date.now() - 86_400_000;
      if (backend === 'sqlite') {
        const { db } = openSqliteDatabase(options.sqlitePath ?? '');
        db.exec(`UPDATE consents SET status = 'pending', expires_at = ${yesterday}`);
        db.close();
      } else {
        const client = new Client({
          connectionString: options.postgresUrl,
          options: `-c search_path=${options.postgresSchema}`,
        });
        await client.connect();
        await client.query(`UPDATE consents SET status = 'pending', expires_at = $1`, [yesterday]);
        await client.end();
      }
      ledger = await ConsentLedger.open({ ...options, retention: { sweepBatchSize: 5000 } });
      const sweepStart = Date.now();
      const sweep = await ledger.sweepRetention();
      row.sweepSeconds = (Date.now() - sweepStart) / 1000;
      row.swept = sweep.expiredRequests;
    }
    return row;
  } finally {
    await ledger.close();
    if (!KEEP) fs.rmSync(dir, { recursive: true, force: true });
    if (backend === 'postgres') {
      const client = new Client({ connectionString: options.postgresUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${options.postgresSchema} CASCADE`);
      await client.end();
    }
  }
}

async function main(): Promise<void> {
  const backends: ('sqlite' | 'postgres')[] = BACKEND === 'both' ? ['sqlite', 'postgres'] : [BACKEND as 'sqlite'];
  const rows: Row[] = [];
  for (const backend of backends) rows.push(await run(backend));
  console.log(`Consent ledger: ${describeMachine()}`);
  if (checkRows.length) console.table(checkRows);
  console.table(rows);
  console.log(
    'cold: a different seeded subject per check (E.164 as a webhook gives it); alone: as cold, each check in its own event-loop turn; typed: the same numbers written "0049 151 ..."; unknown: valid numbers not in the ledger; hot: 1,000 recurring subjects.',
  );
  console.log("checksPerCpuSecond: per second of this process's CPU time; load1: the machine's 1-minute load average.");
  console.log(
    'SQLite checks run one at a time, PostgreSQL 32 in flight (one pool); erase includes the WAL checkpoint / VACUUM.',
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
