/**
 * Saved node configurations carry `configVersion`; on load each node runs the migrations newer than
 * the saved version, in order, so flows saved by any earlier release keep working (the pattern of
 * zachowj/node-red-contrib-home-assistant-websocket). A migration never edits its input.
 */
export type SavedConfig = Record<string, unknown>;

export interface Migration {
  /** The version this migration produces; versions start at 1 and have no gaps. */
  version: number;
  up(config: SavedConfig): SavedConfig;
}

export const CONFIG_VERSION_PROPERTY = 'configVersion';

export function currentVersion(migrations: readonly Migration[]): number {
  return migrations.reduce((highest, m) => Math.max(highest, m.version), 0);
}

/** The saved config upgraded to the newest version; a config newer than the code is left as it is. */
export function migrate<T>(saved: object, migrations: readonly Migration[]): T {
  const from = Number((saved as SavedConfig)[CONFIG_VERSION_PROPERTY]) || 0;
  let config: SavedConfig = { ...saved };
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (migration.version <= from) continue;
    config = { ...migration.up(config), [CONFIG_VERSION_PROPERTY]: migration.version };
  }
  return config as T;
}

/** Version 1 of every node: fills the defaults for properties that hand-written or pre-release flows leave out. */
export function withDefaults(defaults: SavedConfig): Migration {
  return {
    version: 1,
    up: (config) => {
      const filled = { ...config };
      for (const [key, value] of Object.entries(defaults)) {
        if (filled[key] === undefined || filled[key] === null || filled[key] === '') filled[key] = value;
      }
      return filled;
    },
  };
}
