/** The part of node:sqlite's DatabaseSync and better-sqlite3's Database that the store uses: they agree on it. */
export interface SqliteStatement {
  run(...params: unknown[]): { changes: number | bigint };
  all(...params: unknown[]): unknown[];
  get(...params: unknown[]): unknown;
}

export interface SqliteDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  close(): void;
}

export type SqliteDriverName = 'node:sqlite' | 'better-sqlite3';

/** node:sqlite is stable enough from Node 22.13 (no flag); older Nodes use better-sqlite3. */
export function preferredSqliteDriver(nodeVersion = process.versions.node): SqliteDriverName {
  const [major, minor] = nodeVersion.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 13) ? 'node:sqlite' : 'better-sqlite3';
}

export function openSqliteDatabase(
  file: string,
  driver: SqliteDriverName = preferredSqliteDriver(),
): { db: SqliteDatabase; driver: SqliteDriverName } {
  if (driver === 'node:sqlite') {
    const { DatabaseSync } = require('node:sqlite') as typeof import('node:sqlite');
    return { db: new DatabaseSync(file) as unknown as SqliteDatabase, driver };
  }
  // Optional dependency: only required here, so that Node >= 22.13 installs without a native build.
  const BetterSqlite = require('better-sqlite3') as typeof import('better-sqlite3');
  return { db: new BetterSqlite(file) as unknown as SqliteDatabase, driver };
}
