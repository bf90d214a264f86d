import fs from 'node:fs';
import path from 'node:path';
import { openSqliteDatabase } from '../../../lib/store/sqlite-driver';

export interface FileHit {
  file: string;
  needle: string;
}

/** Every regular file under `dir` (symlinks are not followed: the package's build folder is not user data). */
export function filesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...filesUnder(full));
    else if (entry.isFile()) found.push(full);
  }
  return found;
}

/** Byte search for each needle in UTF-8 and in UTF-16LE (how some tools store text) in every file under `dir`. */
export function scanFiles(dir: string, needles: string[]): { hits: FileHit[]; files: string[] } {
  const files = filesUnder(dir);
  const hits: FileHit[] = [];
  for (const file of files) {
    const bytes = fs.readFileSync(file);
    for (const needle of needles) {
      if (bytes.includes(Buffer.from(needle, 'utf8')) || bytes.includes(Buffer.from(needle, 'utf16le'))) {
        hits.push({ file: path.relative(dir, file), needle });
      }
    }
  }
  return { hits, files: files.map((file) => path.relative(dir, file)) };
}

/** Every stored ciphertext (the *_enc columns) in a SQLite ledger file: the subject's data as it sits on disk. */
export function sqliteCiphertexts(file: string): string[] {
  const { db } = openSqliteDatabase(file);
  try {
    const values: string[] = [];
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
    for (const { name } of tables) {
      const columns = (db.prepare(`PRAGMA table_info(${name})`).all() as { name: string }[])
        .map((c) => c.name)
        .filter((c) => c.endsWith('_enc'));
      for (const column of columns) {
        const rows = db.prepare(`SELECT ${column} AS v FROM ${name} WHERE ${column} IS NOT NULL`).all() as {
          v: unknown;
        }[];
        values.push(...rows.map((r) => String(r.v)));
      }
    }
    return values;
  } finally {
    db.close();
  }
}
