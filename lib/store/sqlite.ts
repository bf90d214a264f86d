import * as fs from 'node:fs';
import * as path from 'node:path';
import { GdprWhatsAppError } from '../errors';
import { runMigrations } from './migrate';
import { checkStateSql, type SqlConnection, type SqlRow, SqlStoreTx, type SqlValue, toCheckState } from './sql';
import { openSqliteDatabase, type SqliteDatabase, type SqliteDriverName, type SqliteStatement } from './sqlite-driver';
import type { CheckState, LedgerStore, StoreTx, WriteOptions } from './types';

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

/**
 * How much of the file the read connection maps: a million subjects take ~580 MB, and with only 256 MiB mapped
 * a fifth fewer checks per second were answered (bench/ledger.ts). Address space, not memory: only pages read
 * are resident. 32-bit processes (a Raspberry Pi OS of old) keep 256 MiB; SQLite caps it at its own limit.
 */
const MMAP_BYTES = process.arch.endsWith('64') ? 2 ** 31 - 2 ** 16 : 2 ** 28;

interface QueuedWrite {
  work: (tx: StoreTx) => Promise<unknown>;
  waitForDisk: boolean;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/**
 * SQLITE_BUSY after the busy timeout (another process held the file's write lock all that time) becomes the
 * package's `store-unavailable`, as a PostgreSQL server that does not answer: nothing was written, and a webhook
 * refused for it is delivered again. better-sqlite3 names it by `code`, node:sqlite by `errcode` (5, or an extended
 * code whose low byte is 5).
 */
function lockedAsStoreError(err: unknown): unknown {
  const { code, errcode } = (err ?? {}) as { code?: unknown; errcode?: unknown };
  const busy =
    (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) ||
    (typeof errcode === 'number' && (errcode & 0xff) === 5);
  if (!busy || !(err instanceof Error)) return err;
  return new GdprWhatsAppError(
    'store-unavailable',
    `The consent store's database did not answer in time (${err.message})`,
    { detail: err.message },
  );
}

/** How long a statement waits for another process's lock before it fails (SQLITE_BUSY). */
const BUSY_TIMEOUT_MS = 10_000;
const CHECKPOINT_BUSY_MS = 25;

export interface SqliteStoreOptions {
  path: string;
  driver?: SqliteDriverName;
  clock: () => number;
  /** Told when an erasure could not empty the write-ahead log (the ledger emits it as a warning). */
  onError?: (err: Error) => void;
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
  /**
   * Set when the disk refused a flush. Linux then marks the failed pages clean and the next fdatasync reports
   * success although they never reached the disk, so no later write may count as durable: the store refuses
   * writes until it is opened again, which reads what the disk really holds (fail-stop, as PostgreSQL does).
   */
  private diskFailure?: GdprWhatsAppError;
  /** A read transaction is open on the reader (see checkStateSync); prepared once, as they run per turn. */
  private snapshotOpen = false;
  private readonly beginSnapshot: SqliteStatement;
  private readonly commitSnapshot: SqliteStatement;

  private constructor(
    readonly driver: SqliteDriverName,
    private readonly writer: SqliteConnection,
    private readonly reader: SqliteConnection,
    private readonly wal: WalFlusher,
    private readonly onError: (err: Error) => void,
  ) {
    this.read = new SqlStoreTx(reader);
    this.beginSnapshot = reader.db.prepare('BEGIN');
    this.commitSnapshot = reader.db.prepare('COMMIT');
  }

  static async open(options: SqliteStoreOptions): Promise<SqliteStore> {
    const file = path.resolve(options.path);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Created owner-only before SQLite opens it; SQLite gives -wal and -shm the same mode.
    fs.closeSync(fs.openSync(file, 'a', 0o600));
    const opened = openSqliteDatabase(file, options.driver);
    const writer = new SqliteConnection(opened.db);
    let readerDb: SqliteDatabase | undefined;
    let walFd: number | undefined;
    try {
      // Durability: a change resolves only after it reached the disk. SQLite itself does not wait for the disk at
      // COMMIT (WAL + synchronous=NORMAL; it still syncs around checkpoints); the store flushes the WAL file on
      // libuv's thread pool before it resolves the batch (see commitBatch), so the event loop keeps running.
      // secure_delete overwrites deleted content instead of leaving it in free pages (erasure, Art. 17).
      // A checkpoint every 8,192 pages (32 MiB of WAL) instead of SQLite's 1,000: the index pages every webhook
      // touches (de-duplication expiry, audit tail) are copied once per checkpoint, so fewer copies and syncs
      // (the inbound bench's ledger work alone: 343 -> 249 µs per webhook). Erasure still empties the WAL (scrub).
      writer.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;
        PRAGMA foreign_keys = ON; PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}; PRAGMA wal_autocheckpoint = 8192;`);
      writer.db.exec('BEGIN IMMEDIATE');
      try {
        await runMigrations(writer, options.clock());
        writer.db.exec('COMMIT');
      } catch (err) {
        writer.db.exec('ROLLBACK');
        throw err;
      }
      walFd = openWal(file);
      // Without a WAL file (a file system without shared memory keeps SQLite in rollback mode) SQLite syncs itself.
      if (walFd === undefined) writer.db.exec('PRAGMA synchronous = FULL');
      readerDb = openSqliteDatabase(file, opened.driver).db;
      // Checks run here: a 64 MiB page cache and memory-mapped reads keep a million-subject index hot.
      readerDb.exec(
        `PRAGMA busy_timeout = 10000; PRAGMA query_only = ON; PRAGMA cache_size = -65536; PRAGMA mmap_size = ${MMAP_BYTES};`,
      );
      const onError = options.onError ?? (() => undefined);
      return new SqliteStore(opened.driver, writer, new SqliteConnection(readerDb), new WalFlusher(walFd), onError);
    } catch (err) {
      if (walFd !== undefined) fs.closeSync(walFd);
      readerDb?.close();
      opened.db.close();
      throw err;
    }
  }

  write<T>(work: (tx: StoreTx) => Promise<T>, options: WriteOptions = {}): Promise<T> {
    if (this.diskFailure) return Promise.reject(this.diskFailure);
    return new Promise<T>((resolve, reject) => {
      const entry: QueuedWrite = {
        work,
        waitForDisk: options.waitForDisk !== false,
        resolve: resolve as (value: unknown) => void,
        reject,
      };
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
        const failure = lockedAsStoreError(err);
        for (const queued of batch) queued.reject(failure);
      });
    });
  }

  /**
   * Group commit: writes queued together share one transaction and one flush of the WAL; each runs in its own
   * savepoint, so a failing one changes nothing, and each resolves only once its COMMIT is on disk. The flush
   * runs off the event loop while the next batch already commits (a synchronous fsync in COMMIT blocked the
   * loop for a fifth of a webhook burst, bench/inbound.ts).
   */
  private async commitBatch(batch: QueuedWrite[]): Promise<void> {
    if (this.diskFailure) throw this.diskFailure;
    const db = this.writer.db;
    const committed: { queued: QueuedWrite; result: unknown }[] = [];
    // Checks from here on read a snapshot that ends with this COMMIT, not one from before; nor does an old
    // snapshot hold back the checkpoint that COMMIT may run.
    this.endSnapshot();
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
      this.endSnapshot();
    } catch (err) {
      try {
        db.exec('ROLLBACK');
      } catch {
        // SQLite already rolled back (e.g. after SQLITE_FULL); the original error is what matters.
      }
      throw err;
    }
    const durable = committed.filter(({ queued }) => queued.waitForDisk);
    for (const { queued, result } of committed) if (!queued.waitForDisk) queued.resolve(result);
    if (durable.length === 0) return;
    // Not awaited: the exclusive queue moves on to the next batch while this one's flush runs.
    this.wal.flush().then(
      () => {
        // A flush after a failed one proves nothing: the frames before it may be gone, and with them these.
        for (const { queued, result } of durable) {
          if (this.diskFailure) queued.reject(this.diskFailure);
          else queued.resolve(result);
        }
      },
      (err: unknown) => {
        // Committed, but the disk refused to confirm it: the caller must not report it as durable.
        for (const { queued } of durable) queued.reject(err);
        this.stopWriting(err);
      },
    );
  }

  private stopWriting(cause: unknown): void {
    if (this.diskFailure) return;
    this.diskFailure = new GdprWhatsAppError(
      'store-disk-failed',
      `The disk did not confirm a write to the consent store (${(cause as { code?: string })?.code ?? 'error'}): it takes no more changes until it is opened again (redeploy or restart)`,
    );
    this.onError(this.diskFailure);
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

  /**
   * Hot path of a consent check: one synchronous statement on the read-only connection, inside a read snapshot
   * that the checks of one event-loop turn share. Starting and ending SQLite's read transaction (its locks on
   * the WAL index) cost four times the lookup itself: 6.8 µs per check alone, 1.3 µs in a shared snapshot.
   * The snapshot ends when this store writes (before and after the COMMIT) and at the end of the turn, so a
   * check sees every change this process made before it, and another process's changes from the next turn.
   */
  checkStateSync(pseudonym: string, purpose: string): CheckState {
    if (!this.snapshotOpen) {
      this.beginSnapshot.run();
      this.snapshotOpen = true;
      setImmediate(this.endSnapshot);
    }
    return toCheckState(this.reader.get(CHECK_STATE_SQL, [pseudonym, purpose]));
  }

  private readonly endSnapshot = (): void => {
    if (!this.snapshotOpen) return;
    this.snapshotOpen = false;
    this.commitSnapshot.run();
  };

  /** Every table at once: the checkpoint moves all pages, whichever tables they belong to. */
  async scrub(): Promise<void> {
    // TRUNCATE moves every page into the main file (where secure_delete zeroed the rows) and empties the WAL.
    for (let attempt = 0; attempt < 40; attempt += 1) {
      this.endSnapshot();
      const [result] = await this.exclusive(() => this.checkpointSoon());
      // busy = 1: another process still reads an old snapshot; wait for it rather than leave the WAL behind.
      if (!result || Number(result.busy) === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    this.onError(
      new GdprWhatsAppError(
        'erasure-checkpoint-incomplete',
        'Another connection still read an older snapshot: the erased rows stay in the write-ahead log until the next checkpoint',
      ),
    );
  }

  /**
   * TRUNCATE calls the busy handler while a reader holds an old snapshot: with the writer's 10 s busy_timeout each
   * attempt would block the thread, and every write behind it, for 10 s. Here an attempt waits 25 ms at most.
   */
  private async checkpointSoon(): Promise<SqlRow[]> {
    this.writer.db.exec(`PRAGMA busy_timeout = ${CHECKPOINT_BUSY_MS}`);
    try {
      return await this.writer.all('PRAGMA wal_checkpoint(TRUNCATE)');
    } finally {
      this.writer.db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
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
    await this.wal.flush().catch(() => undefined);
    this.wal.close();
    this.endSnapshot();
    this.reader.db.close();
    this.writer.db.close();
  }
}

/**
 * fdatasync of the WAL file on libuv's thread pool. Callers that arrive while a flush runs share the next one
 * (which starts when the running one ends), so a burst of commits costs two flushes, not one each.
 */
class WalFlusher {
  private running?: Promise<void>;
  private next?: Promise<void>;

  /** Without a WAL file, SQLite's own COMMIT synced already and there is nothing to flush. */
  constructor(private readonly fd: number | undefined) {}

  flush(): Promise<void> {
    if (!this.running) return this.start();
    if (!this.next) {
      const startNext = () => {
        this.next = undefined;
        return this.start();
      };
      this.next = this.running.then(startNext, startNext);
    }
    return this.next;
  }

  private start(): Promise<void> {
    const fd = this.fd;
    if (fd === undefined) return Promise.resolve();
    const run = new Promise<void>((resolve, reject) => {
      fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()));
    });
    const clear = () => {
      if (this.running === run) this.running = undefined;
    };
    run.then(clear, clear);
    this.running = run;
    return run;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
  }
}

/** The WAL exists after the first commit and stays (the same file, truncated at most) while the store is open. */
function openWal(file: string): number | undefined {
  let fd: number;
  try {
    fd = fs.openSync(`${file}-wal`, 'r+');
  } catch {
    return undefined;
  }
  fs.fdatasyncSync(fd);
  syncDirectory(path.dirname(file));
  return fd;
}

/** A new WAL file's directory entry reaches the disk too (SQLite does this only with synchronous=FULL). */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some file systems cannot open or sync a directory; the WAL file itself is synced either way.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
