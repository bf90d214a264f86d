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
export function withDefaults(defaults: SavedConfig): Migration & { defaults: SavedConfig } {
  return {
    version: 1,
    defaults,
    up: (config) => {
      const filled = { ...config };
      for (const [key, value] of Object.entries(defaults)) {
        if (filled[key] === undefined || filled[key] === null || filled[key] === '') filled[key] = value;
      }
      return filled;
    },
  };
}

/** What the edit dialog reads from the runtime as `RED.settings.<type in camelCase>SavedConfig`. */
export interface SavedConfigSetting {
  /** The version a dialog saves: the runtime then runs no migration over what the dialog wrote. */
  configVersion: number;
  /** The values the runtime uses for settings a saved node lacks (empty counts as lacking, as in withDefaults). */
  defaults: SavedConfig;
}

/**
 * Node settings for registerType: the editor shows a saved node's missing settings with the runtime's own values
 * and saves them with the current version (nodes/*.html oneditprepare and oneditsave), so the defaults live in
 * one place. Node-RED hands exportable node settings to the editor; their names must start with the type.
 */
export function savedConfigSettings(
  type: string,
  migrations: readonly Migration[],
): Record<string, { value: SavedConfigSetting; exportable: true }> {
  const first = migrations.find((m) => m.version === 1) as Partial<ReturnType<typeof withDefaults>> | undefined;
  const name = `${type.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())}SavedConfig`;
  return {
    [name]: {
      value: { configVersion: currentVersion(migrations), defaults: { ...first?.defaults } },
      exportable: true,
    },
  };
}
