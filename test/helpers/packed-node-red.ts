import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { preferredSqliteDriver } from '../../lib/store/sqlite-driver';

/**
 * The package as a user gets it: `npm pack`, then `npm install <tarball>` into a fresh Node-RED user
 * directory, as the palette manager does. The tarball is made from a staging copy of the project whose
 * dist/ is the build under test (the folder this file was compiled into), so packing never rebuilds or
 * touches the dist/ a running suite loads from; the copy follows package.json "files", and `npm pack`
 * applies the same rules to it.
 */
const BUILD_DIR = path.resolve(__dirname, '..', '..');
const REPO_DIR = path.resolve(BUILD_DIR, '..');
export const PACKAGE_NAME = '@gdpr-whatsapp/node-red';

export interface PackedTarball {
  file: string;
  /** Paths inside the package, as npm pack listed them. */
  files: string[];
  remove(): void;
}

export interface PackedInstall {
  userDir: string;
  /** Where the package landed: <userDir>/node_modules/@gdpr-whatsapp/node-red. */
  moduleDir: string;
  installMs: number;
  offline: boolean;
}

function npm(args: string[], cwd: string): { ok: boolean; output: string } {
  const run = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_update_notifier: 'false', npm_config_loglevel: 'error' },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { ok: run.status === 0, output: `${run.stdout ?? ''}${run.stderr ?? ''}${run.error?.message ?? ''}` };
}

export function packTarball(): PackedTarball {
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-gdpr-pack-'));
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_DIR, 'package.json'), 'utf8'));
  fs.copyFileSync(path.join(REPO_DIR, 'package.json'), path.join(stage, 'package.json'));
  for (const entry of pkg.files as string[]) {
    const source = entry.startsWith('dist/')
      ? path.join(BUILD_DIR, entry.slice('dist/'.length))
      : path.join(REPO_DIR, entry);
    if (fs.existsSync(source)) fs.cpSync(source, path.join(stage, entry), { recursive: true });
  }
  // --ignore-scripts: prepack would build again; the build under test is already in place.
  const packed = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', stage], stage);
  if (!packed.ok) throw new Error(`npm pack failed:\n${packed.output}`);
  const [report] = JSON.parse(packed.output.slice(packed.output.indexOf('['))) as {
    filename: string;
    files: { path: string }[];
  }[];
  return {
    file: path.join(stage, report.filename),
    files: report.files.map((f) => f.path),
    remove: () => fs.rmSync(stage, { recursive: true, force: true }),
  };
}

/**
 * Installs the tarball into a new user directory with the palette manager's npm options, from the npm
 * cache when it can (--offline; the dependencies are there after the project's own install), else from
 * the registry. Install scripts are skipped: the only one is better-sqlite3's native build, which is
 * needed only where Node has no node:sqlite; there the binary the project built for this same Node is
 * reused when the versions match, and otherwise `npm rebuild` compiles it.
 */
export function installTarball(tarball: string): PackedInstall {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-gdpr-e2e-'));
  fs.writeFileSync(
    path.join(userDir, 'package.json'),
    JSON.stringify({ name: 'node-red-project', description: 'A Node-RED Project', version: '0.0.1', private: true }),
  );
  const args = [
    'install',
    '--no-audit',
    '--no-update-notifier',
    '--no-fund',
    '--save',
    '--save-prefix=~',
    '--omit=dev',
    '--engine-strict',
    '--ignore-scripts',
    tarball,
  ];
  const started = Date.now();
  let offline = true;
  let install = npm([...args, '--offline'], userDir);
  if (!install.ok) {
    offline = false;
    install = npm(args, userDir);
  }
  if (!install.ok) throw new Error(`npm install of the tarball failed:\n${install.output}`);
  const moduleDir = path.join(userDir, 'node_modules', ...PACKAGE_NAME.split('/'));
  if (preferredSqliteDriver() === 'better-sqlite3') provideBetterSqlite(userDir);
  return { userDir, moduleDir, installMs: Date.now() - started, offline };
}

function provideBetterSqlite(userDir: string): void {
  const installed = path.join(userDir, 'node_modules', 'better-sqlite3');
  if (!fs.existsSync(installed)) throw new Error('better-sqlite3 was not installed with the package');
  const binary = path.join('build', 'Release', 'better_sqlite3.node');
  if (fs.existsSync(path.join(installed, binary))) return;
  const versionOf = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  let project: string | undefined;
  try {
    project = path.dirname(require.resolve('better-sqlite3/package.json', { paths: [REPO_DIR] }));
  } catch {
    project = undefined;
  }
  if (project && fs.existsSync(path.join(project, binary)) && versionOf(project) === versionOf(installed)) {
    fs.mkdirSync(path.dirname(path.join(installed, binary)), { recursive: true });
    fs.copyFileSync(path.join(project, binary), path.join(installed, binary));
    return;
  }
  const rebuilt = npm(['rebuild', 'better-sqlite3'], userDir);
  if (!rebuilt.ok) throw new Error(`building better-sqlite3 failed:\n${rebuilt.output}`);
}
