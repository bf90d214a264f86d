import * as fs from 'node:fs';
import * as path from 'node:path';
import { runMigrations } from './migrate';
import { checkStateSql, type SqlConnection, type SqlRow, SqlStoreTx, type SqlValue, toCheckState } from './sql';
import { openSqliteDatabase, type SqliteDatabase, type SqliteDriverName, type SqliteStatement } from './sqlite-driver';
import type { CheckState, LedgerStore, StoreTx } from './types';

interface Prepared {
  statement: SqliteStatement;
  /** Index into the $n parameter list for each "?" in the rewritten statement. */
  order: number[];
}

/** Runs the $n statements of sql.ts on SQLite (whose drivers only bind "?" positionally). */
class SqliteConnection implements SqlConnection {
  readonly dialect = 'sqlite' as const;
  private readonly cache = new Map<string, Prepared>();

  constructor(readonly db: SqliteDatabase) {}

  private prepare(sql: string): Prepared {
    let prepared = this.cache.get(sql);
    if (!prepared) {
      const order: number[] = [];
      const rewritten = sql.replace(/\$(\d+)/g, (_, n: string) => {
        order.push(Number(n) - 1);
        return '?';
      });
      prepared = { statement: this.db.prepare(rewritten), order };
      this.cache.set(sql, prepared);
    }
    return prepared;
  }

  private bind(prepared: Prepared, params: SqlValue[]): SqlValue[] {
    return prepared.order.map((i) => params[i] ?? null);
  }

  async all(sql: string, params: SqlValue[] = []): Promise<SqlRow[]> {
    const prepared = this.prepare(sql);
    return prepared.statement.all(...this.bind(prepared, params)) as SqlRow[];
  }

  async run(sql: string, params: SqlValue[] = []): Promise<number> {
    const prepared = this.prepare(sql);
    return Number(prepared.statement.run(...this.bind(prepared, params)).changes);
  }

  /** Synchronous single-row read for the consent check's hot path. */
  get(sql: string, params: SqlValue[]): SqlRow | undefined {
    const prepared = this.prepare(sql);
    return prepared.statement.get(...this.bind(prepared, params)) as SqlRow | undefined;
  }
}

const CHECK_STATE_SQL = checkStateSql('sqlite');

interface QueuedWrite {
  work: (tx: StoreTx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

export interface SqliteStoreOptions {
  path: string;
  driver?: SqliteDriverName;
  clock: () => number;
}

/**
 * SQLite backend: one writer connection (writes queued in-process, BEGIN IMMEDIATE across processes)
 * and one read-only connection, so that a check never sees a change that is not committed yet.
 */
export class SqliteStore implements LedgerStore {
  readonly backend = 'sqlite' as const;
  readonly read: StoreTx;
  private queue: Promise<unknown> = Promise.resolve();
  /** The batch of writes that has not started yet; later writes join it. */
  private pending?: QueuedWrite[];
  private closed = false;

  private constructor(
    readonly driver: SqliteDriverName,
    private readonly writer: SqliteConnection,
    private readonly reader: SqliteConnection,
  ) {
    this.read = new SqlStoreTx(reader);
  }

  static async open(options: SqliteStoreOptions): Promise<SqliteStore> {
    const file = path.resolve(options.path);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Created owner-only before SQLite opens it; SQLite gives -wal and -shm the same mode.
    fs.closeSync(fs.openSync(file, 'a', 0o600));
    const opened = openSqliteDatabase(file, options.driver);
    const writer = new SqliteConnection(opened.db);
    let readerDb: SqliteDatabase | undefined;
    try {
      // Durability: a change resolves only after it reached the disk (WAL + synchronous=FULL).
      // secure_delete overwrites deleted content instead of leaving it in free pages (erasure, Art. 17).
      writer.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;
        PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;`);
      writer.db.exec('BEGIN IMMEDIATE');
      try {
        await runMigrations(writer, options.clock());
        writer.db.exec('COMMIT');
      } catch (err) {
        writer.db.exec('ROLLBACK');
        throw err;
      }
      readerDb = openSqliteDatabase(file, opened.driver).db;
      // Checks run here: a 64 MiB page cache and memory-mapped reads keep a million-subject index hot.
      readerDb.exec(
        'PRAGMA busy_timeout = 10000; PRAGMA query_only = ON; PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456;',
      );
      return new SqliteStore(opened.driver, writer, new SqliteConnection(readerDb));
    } catch (err) {
      readerDb?.close();
      opened.db.close();
      throw err;
    }
  }

  write<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: QueuedWrite = { work, resolve: resolve as (value: unknown) => void, reject };
      if (this.pending) {
        this.pending.push(entry);
        return;
      }
      const batch = [entry];
      this.pending = batch;
      this.exclusive(async () => {
        // One event-loop turn lets the writes of requests that arrived together join this batch.
        await new Promise((next) => setImmediate(next));
        this.pending = undefined;
        await this.commitBatch(batch);
      }).catch((err: unknown) => {
        if (this.pending === batch) this.pending = undefined;
        for (const queued of batch) queued.reject(err);
      });
    });
  }

  /**
   * Group commit: with synchronous=FULL every COMMIT waits for fsync and blocks the event loop (68% of a
   * webhook burst's CPU profile, bench/inbound.ts). Writes queued together share one transaction and one
   * fsync; each runs in its own savepoint, so a failing one changes nothing, and each resolves only after COMMIT.
   */
  private async commitBatch(batch: QueuedWrite[]): Promise<void> {
    const db = this.writer.db;
    const committed: { queued: QueuedWrite; result: unknown }[] = [];
    db.exec('BEGIN IMMEDIATE');
    try {
      for (const queued of batch) {
        db.exec('SAVEPOINT queued_write');
        try {
          committed.push({ queued, result: await queued.work(new SqlStoreTx(this.writer)) });
          db.exec('RELEASE queued_write');
        } catch (err) {
          db.exec('ROLLBACK TO queued_write');
          db.exec('RELEASE queued_write');
          queued.reject(err);
        }
      }
      db.exec('COMMIT');
    } catch (err) {
      try {
        db.exec('ROLLBACK');
      } catch {
        // SQLite already rolled back (e.g. after SQLITE_FULL); the original error is what matters.
      }
      throw err;
    }
    for (const { queued, result } of committed) queued.resolve(result);
  }

  /** One writer at a time in this process; other processes wait in BEGIN IMMEDIATE (busy_timeout). */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = () => {
      if (this.closed) return Promise.reject(new Error('The consent store is closed'));
      return task();
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Hot path of a consent check: one synchronous statement on the read-only connection. */
  checkStateSync(pseudonym: string, purpose: string): CheckState {
    return toCheckState(this.reader.get(CHECK_STATE_SQL, [pseudonym, purpose]));
  }

  async scrub(): Promise<void> {
    // TRUNCATE moves every page into the main file (where secure_delete zeroed the rows) and empties the WAL.
    for (let attempt = 0; attempt < 40; attempt += 1) {
      const [result] = await this.exclusive(() => this.writer.all('PRAGMA wal_checkpoint(TRUNCATE)'));
      // busy = 1: another process still reads an old snapshot; wait for it rather than leave the WAL behind.
      if (!result || Number(result.busy) === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async integrityCheck(): Promise<string> {
    const rows = await this.reader.all('PRAGMA integrity_check');
    return rows.map((r) => String(Object.values(r)[0])).join('; ');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    this.reader.db.close();
    this.writer.db.close();
  }
}
