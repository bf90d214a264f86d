import { GdprWhatsAppError } from '../errors';
import { migrations, SCHEMA_VERSION_TABLE } from './schema';
import type { SqlConnection } from './sql';

/** Applies the missing migrations inside the caller's transaction; returns the schema version reached. */
export async function runMigrations(db: SqlConnection, now: number): Promise<number> {
  await db.run(SCHEMA_VERSION_TABLE);
  const [row] = await db.all('SELECT MAX(version) AS version FROM schema_version');
  let current = row?.version === null || row?.version === undefined ? 0 : Number(row.version);
  const all = migrations(db.dialect);
  const newest = all[all.length - 1].version;
  if (current > newest) {
    // A newer package version migrated this database; writing with an older schema could lose data.
    throw new GdprWhatsAppError('schema-too-new', 'The consent store was created by a newer version of this package', {
      version: current,
      supported: newest,
    });
  }
  for (const migration of all) {
    if (migration.version <= current) continue;
    for (const statement of migration.statements) await db.run(statement);
    await db.run('INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)', [migration.version, now]);
    current = migration.version;
  }
  return current;
}
