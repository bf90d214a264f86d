import { createHash } from 'node:crypto';
import { openSqliteDatabase } from '../../../lib/store/sqlite-driver';

export interface StoreState {
  /** Rows per table. */
  counts: Record<string, number>;
  /** Highest audit sequence number (the length of the hash chain). */
  auditLength: number;
  /** SHA-256 over every row of every table: any write shows. */
  digest: string;
}

/** Columns the ledger's batched usage flush (consent-gate passes) updates on its own timer. */
export const USAGE_COLUMNS = ['last_used_at', 'retain_until'] as const;

/**
 * What a consent store's SQLite file holds, read over a second connection (WAL mode lets it see every
 * committed write). Comparing two snapshots proves that a refused input wrote nothing, not even half a change.
 */
export function storeState(file: string, options: { ignoreColumns?: readonly string[] } = {}): StoreState {
  const ignored = new Set(options.ignoreColumns ?? []);
  const { db } = openSqliteDatabase(file);
  try {
    const tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]
    ).map((row) => row.name);
    const counts: Record<string, number> = {};
    const hash = createHash('sha256');
    for (const table of tables) {
      const rows = db.prepare(`SELECT * FROM "${table}"`).all() as Record<string, unknown>[];
      counts[table] = rows.length;
      const lines = rows.map((row) =>
        JSON.stringify(row, (key, value) => {
          if (ignored.has(key)) return undefined;
          return typeof value === 'bigint' ? String(value) : value;
        }),
      );
      hash.update(`${table}\n${lines.sort().join('\n')}\n`);
    }
    const audit = tables.includes('audit')
      ? (db.prepare('SELECT COALESCE(MAX(seq), 0) AS n FROM audit').all() as { n: number | bigint }[])[0]
      : { n: 0 };
    return { counts, auditLength: Number(audit.n), digest: hash.digest('hex') };
  } finally {
    db.close();
  }
}
