import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** PostgreSQL for the reliability tests: only when WA_GDPR_PG_URL is set, each test in a schema of its own. */
export function postgresUrl(): string | undefined {
  const url = process.env.WA_GDPR_PG_URL?.trim();
  return url ? url : undefined;
}

export const PG_SKIP_LINE = 'WA_GDPR_PG_URL is not set: PostgreSQL reliability tests skipped';

export function freshSchema(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * PostgreSQL cannot reclaim a deleted row while a transaction that began before the delete is still open anywhere in
 * the database (another test's, or the bot's own usage flush): the erasure's VACUUM then leaves the row's bytes to the
 * next VACUUM, which autovacuum runs later. This waits (up to 10 s) until no other transaction holds a snapshot, then
 * vacuums the schema's tables once, as that next VACUUM would.
 */
export async function vacuumWhenNoOlderSnapshot(url: string, schema: string): Promise<void> {
  await withClient(url, async (client) => {
    for (let attempt = 0; attempt < 100; attempt++) {
      const { rows } = await client.query<{ open: string }>(
        `SELECT count(*) AS open FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL`,
      );
      if (Number(rows[0].open) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const tables = await client.query<{ relname: string }>(
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [schema],
    );
    for (const { relname } of tables.rows) await client.query(`VACUUM ${schema}.${relname}`);
  });
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  await withClient(url, (client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
}

export interface TableHit {
  table: string;
  needle: string;
}

/**
 * Every row of every table in `schema`, cast to text, searched for each needle; plus the dead tuples the
 * statistics still count (a deleted row that VACUUM has not removed keeps its bytes on disk).
 */
export async function scanSchema(
  url: string,
  schema: string,
  needles: string[],
): Promise<{ hits: TableHit[]; tables: string[]; deadTuples: Record<string, number> }> {
  return withClient(url, async (client) => {
    const tables = (
      await client.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'
         ORDER BY table_name`,
        [schema],
      )
    ).rows.map((r) => r.table_name);
    const hits: TableHit[] = [];
    for (const table of tables) {
      const rows = (await client.query<{ row: string }>(`SELECT t::text AS row FROM ${schema}.${table} t`)).rows;
      for (const needle of needles) {
        if (rows.some((r) => r.row.includes(needle))) hits.push({ table, needle });
      }
    }
    const deadTuples: Record<string, number> = {};
    const stats = await client.query<{ relname: string; n_dead_tup: string }>(
      'SELECT relname, n_dead_tup FROM pg_stat_user_tables WHERE schemaname = $1',
      [schema],
    );
    for (const row of stats.rows) deadTuples[row.relname] = Number(row.n_dead_tup);
    return { hits, tables, deadTuples };
  });
}

/** Every stored ciphertext (the *_enc columns) in the ledger's tables. */
export async function postgresCiphertexts(url: string, schema: string): Promise<string[]> {
  return withClient(url, async (client) => {
    const columns = await client.query<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns
       WHERE table_schema = $1 AND column_name LIKE '%\\_enc'`,
      [schema],
    );
    const values: string[] = [];
    for (const { table_name, column_name } of columns.rows) {
      const rows = await client.query<{ v: string }>(
        `SELECT ${column_name}::text AS v FROM ${schema}.${table_name} WHERE ${column_name} IS NOT NULL`,
      );
      values.push(...rows.rows.map((r) => r.v));
    }
    return values;
  });
}

/**
 * Searches the raw heap pages of every table in `schema`, dead tuples included, through the pageinspect
 * extension (installed into `schema`, so dropping the schema removes it). Undefined when the server has no
 * pageinspect (a PostgreSQL without contrib), except under WA_GDPR_REQUIRE_PG (CI), where that fails.
 */
export async function scanRawPages(url: string, schema: string, needles: string[]): Promise<TableHit[] | undefined> {
  return withClient(url, async (client) => {
    try {
      await client.query(`CREATE EXTENSION IF NOT EXISTS pageinspect SCHEMA ${schema}`);
    } catch (err) {
      // CI's PostgreSQL has contrib: there the scan must run, not quietly become a log line.
      if (process.env.WA_GDPR_REQUIRE_PG) throw err;
      return undefined;
    }
    const tables = await client.query<{ relname: string; blocks: string }>(
      `SELECT c.relname, pg_relation_size(c.oid) / current_setting('block_size')::int AS blocks
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relkind IN ('r', 't')`,
      [schema],
    );
    const hits: TableHit[] = [];
    for (const { relname, blocks } of tables.rows) {
      for (let block = 0; block < Number(blocks); block++) {
        const page = await client.query<{ raw: Buffer }>(`SELECT ${schema}.get_raw_page($1, $2) AS raw`, [
          `${schema}.${relname}`,
          block,
        ]);
        const raw = page.rows[0].raw;
        for (const needle of needles) {
          if (raw.includes(Buffer.from(needle, 'utf8'))) hits.push({ table: relname, needle });
        }
      }
    }
    return hits;
  });
}
