import { Pool, type PoolClient, type QueryConfig } from 'pg';
import { GdprWhatsAppError } from '../errors';
import { runMigrations } from './migrate';
import { type SqlConnection, type SqlRow, SqlStoreTx, type SqlValue } from './sql';
import type { LedgerStore, StoreTx, WriteOptions } from './types';
import { VacuumRetry } from './vacuum-retry';

class PgConnection implements SqlConnection {
  readonly dialect = 'postgres' as const;

  /** `timeoutMs` overrides the pool's query timeout (migrations, which may rewrite large tables). */
  constructor(
    private readonly db: Pool | PoolClient,
    private readonly timeoutMs?: number,
  ) {}

  async all(sql: string, params: SqlValue[] = []): Promise<SqlRow[]> {
    return (await this.query(sql, params)).rows;
  }

  async run(sql: string, params: SqlValue[] = []): Promise<number> {
    return (await this.query(sql, params)).rowCount ?? 0;
  }

  private async query(text: string, values: SqlValue[]) {
    try {
      return await this.db.query({ text, values, ...(this.timeoutMs ? { query_timeout: this.timeoutMs } : {}) });
    } catch (err) {
      throw unreachableAsStoreError(err);
    }
  }
}

/**
 * How long one statement may take before the store gives up on it. Without a limit, a connection the network left
 * half open (a failover, a NAT or firewall dropping it silently) holds every webhook and consent check that uses it
 * until the operating system gives up, a quarter of an hour later, with no word in the log. A webhook answered 500
 * instead is delivered again by Meta, and a message whose consent could not be checked is not sent.
 *
 * The server ends a statement, or a wait for a lock, itself a little earlier (serverTimeoutMs): a statement the
 * client gave up on would otherwise go on on the server, holding the serial lock or its connection while the pool
 * opens another. The client's own limit is for a network that carries nothing, where the server's cannot be heard.
 */
export const QUERY_TIMEOUT_MS = 30_000;
/** The server's limits: five sixths of the client's (25 s of 30). */
const serverTimeoutMs = (queryTimeoutMs: number) => Math.floor((queryTimeoutMs * 5) / 6);
/** Statements that may rightly take long at a million subjects: migrations and an erasure's VACUUM. */
const MAINTENANCE_TIMEOUT_MS = 60 * 60_000;
/** A statement under the maintenance time limit; pg reads query_timeout per query, its types do not list it. */
function maintenance(text: string): QueryConfig {
  return { text, query_timeout: MAINTENANCE_TIMEOUT_MS } as QueryConfig;
}
/** The server's limits lifted for the transaction that migrates. */
const NO_SERVER_TIMEOUTS_LOCAL = ['SET LOCAL statement_timeout = 0', 'SET LOCAL lock_timeout = 0'];
/** TCP keepalive from 10 s of silence (the system's default waits two hours). */
const KEEPALIVE_DELAY_MS = 10_000;
/**
 * The server ends a transaction left idle this long: an instance whose connection broke mid-transaction would hold
 * the serial lock, and with it every instance's writes, until the server noticed. The store's transactions run their
 * statements back to back.
 */
const IDLE_IN_TRANSACTION_MS = 20_000;

/**
 * Node's and PostgreSQL's words for a database that cannot be reached, went away (SQLSTATE class 08, 57P0x), has no
 * connection left (53300), or did not finish in time (57014 the server's statement timeout, 55P03 its lock timeout).
 */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EPIPE',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '57014',
  '55P03',
]);
const UNREACHABLE_MESSAGES =
  /^(Connection terminated|Query read timeout|timeout exceeded when trying to connect|Client has encountered a connection error)/;

/**
 * A database that cannot be reached or did not answer in time becomes the package's `store-unavailable` (en/de text,
 * a code a Catch node can tell from a bug); the driver's words stay in `detail`. Every other error passes unchanged.
 */
export function unreachableAsStoreError(err: unknown): unknown {
  if (err instanceof GdprWhatsAppError || !(err instanceof Error)) return err;
  const code = (err as { code?: unknown }).code;
  const unreachable =
    (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || code.startsWith('08'))) ||
    UNREACHABLE_MESSAGES.test(err.message);
  if (!unreachable) return err;
  // Node 20 reports a refused dual-stack connect as an AggregateError without a message.
  const detail = err.message || String(code);
  return new GdprWhatsAppError('store-unavailable', `The consent store's database did not answer in time (${detail})`, {
    detail,
  });
}

/** PostgreSQL folds unquoted names to lower case, and the store does not quote them: lower case only. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
// Every audited write of every instance takes this lock first: the audit chain stays linear and, of
// two concurrent changes to one subject, the one committed later is the one that stands.
const SERIAL_LOCK = `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.wa_gdpr_ledger'))`;
/** How long an erasure waits for older snapshots to end before it vacuums: 40 x 25 ms, as SQLite's checkpoint. */
const OLDER_SNAPSHOT_ATTEMPTS = 40;
const OLDER_SNAPSHOT_PAUSE_MS = 25;
/** After that, how often the store looks again whether the older transaction ended. */
const REVACUUM_INTERVAL_MS = 30_000;
/** The tables with personal data, by the names StoreTx.eraseSubject counts their deleted rows under. */
const PERSONAL_TABLES: Readonly<Record<string, string>> = {
  subjects: 'subjects',
  aliases: 'subject_aliases',
  consents: 'consents',
  consentHistory: 'consent_history',
  notices: 'notices',
  eventContacts: 'event_outbox',
  wordings: 'wordings',
};

export interface PostgresStoreOptions {
  url: string;
  schema?: string;
  clock: () => number;
  poolSize?: number;
  onError?: (err: Error) => void;
  /** How often an erasure's VACUUM that an older transaction held back is tried again (tests shorten it). */
  revacuumIntervalMs?: number;
  /** How long one statement may take (QUERY_TIMEOUT_MS; tests shorten it). */
  queryTimeoutMs?: number;
}

/** PostgreSQL backend for several Node-RED instances: no cache, every check reads committed rows. */
export class PostgresStore implements LedgerStore {
  readonly backend = 'postgres' as const;
  readonly driver = 'pg';
  readonly read: StoreTx;
  private closed = false;
  /** VACUUM (PARALLEL 0) is known (PostgreSQL 13 and later) until the server says otherwise. */
  private parallelVacuumOption = true;
  /** Erasures whose VACUUM an older transaction held back: vacuumed again once it ended. */
  private readonly retry: VacuumRetry;
  /** Erasures' scrubs under way: closing waits for them, or their VACUUM would meet an ended pool. */
  private readonly scrubbing = new Set<Promise<void>>();

  private constructor(
    private readonly pool: Pool,
    private readonly onError: (err: Error) => void,
    revacuumIntervalMs = REVACUUM_INTERVAL_MS,
  ) {
    this.read = new SqlStoreTx(new PgConnection(pool));
    this.retry = new VacuumRetry({
      olderEnded: (since) => this.olderSnapshotsEnded(since, 1),
      vacuum: (tables) => this.vacuum(tables),
      onError,
      intervalMs: revacuumIntervalMs,
    });
  }

  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const schema = options.schema ?? 'public';
    if (!SCHEMA_NAME.test(schema)) {
      throw new GdprWhatsAppError(
        'invalid-schema',
        'The PostgreSQL schema name must be lower-case letters, digits or _',
      );
    }
    const queryTimeoutMs = options.queryTimeoutMs ?? QUERY_TIMEOUT_MS;
    // connectionTimeoutMillis also bounds the wait for a free connection of the pool: as long as a statement may
    // take, so that a burst of writes waiting for the serial lock does not fail the reads queued behind them.
    const pool = new Pool({
      connectionString: options.url,
      options: `-c search_path=${schema}`,
      idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
      statement_timeout: serverTimeoutMs(queryTimeoutMs),
      lock_timeout: serverTimeoutMs(queryTimeoutMs),
      max: options.poolSize ?? 10,
      query_timeout: queryTimeoutMs,
      connectionTimeoutMillis: queryTimeoutMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    });
    // An idle client losing its connection must not crash Node-RED; the next query reports the error.
    pool.on('error', (err) => options.onError?.(err));
    const store = new PostgresStore(pool, (err) => options.onError?.(err), options.revacuumIntervalMs);
    try {
      await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`).catch((err: { code?: string }) => {
        // Two instances starting at once may both try to create it (unique_violation / duplicate_schema).
        if (err.code !== '23505' && err.code !== '42P06') throw err;
      });
      await store.write((tx) => tx.auditHead(), { serial: true, migrate: options.clock() });
    } catch (err) {
      await pool.end();
      throw unreachableAsStoreError(err);
    }
    return store;
  }

  async write<T>(work: (tx: StoreTx) => Promise<T>, options: WriteOptions & { migrate?: number } = {}): Promise<T> {
    if (this.closed) throw new Error('The consent store is closed');
    return this.withClient(async (client, drop) => {
      const connection = new PgConnection(client, options.migrate === undefined ? undefined : MAINTENANCE_TIMEOUT_MS);
      try {
        // Read committed whatever the server's default: the serial lock is the first statement, and under repeatable
        // read its snapshot would predate the commit of the writer it waited for (a stale audit head).
        await connection.run('BEGIN ISOLATION LEVEL READ COMMITTED');
        // Another instance may hold the serial lock for its own migration: this one waits for it.
        if (options.migrate !== undefined) for (const lift of NO_SERVER_TIMEOUTS_LOCAL) await connection.run(lift);
        if (options.serial !== false || options.migrate !== undefined) await connection.run(SERIAL_LOCK);
        // PostgreSQL's own form of the same promise: COMMIT returns before the WAL is flushed.
        if (options.waitForDisk === false) await connection.run('SET LOCAL synchronous_commit = off');
        if (options.migrate !== undefined) await runMigrations(connection, options.migrate);
        const result = await work(new SqlStoreTx(connection));
        await connection.run('COMMIT');
        return result;
      } catch (err) {
        if ((err as { code?: unknown }).code === 'store-unavailable') {
          // No ROLLBACK over a connection that did not answer: it would wait as long again. Ending the connection
          // ends the transaction on the server.
          drop(err as Error);
        } else {
          try {
            await client.query('ROLLBACK');
          } catch (rollbackError) {
            drop(rollbackError as Error);
          }
        }
        throw err;
      }
    });
  }

  /**
   * Runs `use` on a connection of the pool. A connection lost while out of the pool is also told as an 'error'
   * event, which nothing else listens for on a checked-out client: unheard, it would end the thread. One that broke,
   * or that `use` dropped, is ended instead of going back to the pool.
   */
  private async withClient<T>(use: (client: PoolClient, drop: (err: Error) => void) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw unreachableAsStoreError(err);
    }
    let broken: Error | undefined;
    const drop = (err: Error) => {
      broken ??= err;
    };
    client.on('error', drop);
    try {
      return await use(client, drop);
    } finally {
      client.removeListener('error', drop);
      client.release(broken);
    }
  }

  async scrub(erased?: Readonly<Record<string, number>>): Promise<void> {
    const scrubbing = this.scrubTables(erased);
    this.scrubbing.add(scrubbing);
    try {
      await scrubbing;
    } finally {
      this.scrubbing.delete(scrubbing);
    }
  }

  private async scrubTables(erased?: Readonly<Record<string, number>>): Promise<void> {
    // Deleted rows stay readable in their pages until VACUUM reclaims them. Only the tables an erasure deleted
    // from: vacuuming all five took most of an erasure's time at a million subjects (bench/ledger.ts).
    const tables = Object.entries(PERSONAL_TABLES)
      .filter(([name]) => erased === undefined || (erased[name] ?? 0) > 0)
      .map(([, table]) => table);
    if (tables.length === 0) return;
    // VACUUM cannot remove a deleted row that a transaction begun before the delete may still see (another
    // instance's, a report's, this store's own usage flush): those get a moment to end, as SQLite's readers do.
    const erasedAt = await this.databaseNow();
    if (!(await this.olderSnapshotsEnded(erasedAt))) {
      this.onError(
        new GdprWhatsAppError(
          'erasure-vacuum-incomplete',
          'A database transaction older than the erasure was still open: the erased rows stay in the table files until it ends, then the store vacuums again',
        ),
      );
      this.retry.hold(tables, erasedAt);
    }
    await this.vacuum(tables);
  }

  private async vacuum(tables: readonly string[]): Promise<void> {
    // VACUUM runs outside a transaction, so the server's statement limit is lifted for this session, and restored
    // before the connection goes back to the pool (one that failed on the way is dropped instead).
    await this.withClient(async (client, drop) => {
      try {
        await client.query('SET statement_timeout = 0');
        await this.vacuumOn(client, tables);
        await client.query('RESET statement_timeout');
      } catch (err) {
        drop(err as Error);
        throw err;
      }
    });
  }

  private async vacuumOn(client: PoolClient, tables: readonly string[]): Promise<void> {
    if (this.parallelVacuumOption) {
      try {
        // Parallel index cleanup starts worker processes: ten times the cost of the vacuum itself here.
        await client.query(maintenance(`VACUUM (PARALLEL 0) ${tables.join(', ')}`));
        return;
      } catch (err) {
        // PostgreSQL before 13 does not know the option (syntax error): plain VACUUM from now on.
        if ((err as { code?: string }).code !== '42601') throw err;
        this.parallelVacuumOption = false;
      }
    }
    await client.query(maintenance(`VACUUM ${tables.join(', ')}`));
  }

  /**
   * Waits (up to about a second) until no other session of this database holds a snapshot or a transaction id from
   * before `started`, i.e. before the erasure committed (a writer idle in its transaction has no snapshot, and still
   * holds VACUUM back). Sessions of other roles show neither unless this role may read their statistics; those, and
   * prepared transactions and replication slots, are not waited for.
   */
  private async olderSnapshotsEnded(started: Date, attempts = OLDER_SNAPSHOT_ATTEMPTS): Promise<boolean> {
    for (let attempt = 0; attempt < attempts; attempt += 1) {
      const { rows } = await this.pool.query(
        `SELECT count(*)::int AS open FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
           AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL) AND xact_start < $1`,
        [started],
      );
      if (rows[0].open === 0) return true;
      if (attempt + 1 < attempts) await new Promise((resolve) => setTimeout(resolve, OLDER_SNAPSHOT_PAUSE_MS));
    }
    return false;
  }

  private async databaseNow(): Promise<Date> {
    return (await this.pool.query('SELECT clock_timestamp() AS at')).rows[0].at as Date;
  }

  async integrityCheck(): Promise<string> {
    await this.pool.query('SELECT count(*) FROM audit');
    return 'ok';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A last look before the pool ends, once every erasure's scrub is done.
    await Promise.allSettled([...this.scrubbing]);
    await this.retry.close();
    await this.pool.end();
  }
}
