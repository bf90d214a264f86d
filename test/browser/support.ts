import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { RealNodeRed, redJsPath } from '../helpers/real-node-red';

/**
 * Browser tests drive Debian's Chromium (apt-get install -y chromium) through playwright-core against a
 * real Node-RED process. Screenshots of every step land in artifacts/browser/node-red-<major>/ (ignored by git).
 */
export const CHROMIUM = process.env.WA_GDPR_CHROMIUM || '/usr/bin/chromium';
export const PACKAGE_NAME = '@gdpr-whatsapp/node-red';
/** <out>/test/browser/support.js: the build folder and the repository. */
const BUILD_DIR = path.resolve(__dirname, '..', '..');
export const REPO_DIR = path.resolve(BUILD_DIR, '..');
export const EXAMPLES_DIR = path.join(REPO_DIR, 'examples');
/** Files the editor loads from the package (resources/editor.js, shared by the edit dialogs). */
const RESOURCES_DIR = path.join(REPO_DIR, 'resources');

let missingReported = false;

/** Skips the calling suite when Chromium is not installed, saying so once per run (never a silent pass). */
export function skipWithoutChromium(suite: Mocha.Context): void {
  if (fs.existsSync(CHROMIUM)) return;
  if (!missingReported) {
    missingReported = true;
    console.log(`      browser tests skipped: ${CHROMIUM} not found (install it with: apt-get install -y chromium)`);
  }
  suite.skip();
}

export function nodeRedMajor(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(path.dirname(redJsPath()), 'package.json'), 'utf8'));
  return String(pkg.version).split('.')[0];
}

export function artifactsDir(): string {
  const dir = path.join(REPO_DIR, 'artifacts', 'browser', `node-red-${nodeRedMajor()}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

let shotCount = 0;
/** A numbered full-page screenshot, so the folder reads as the story of the run. */
export async function screenshot(page: Page, name: string): Promise<void> {
  shotCount += 1;
  const file = path.join(artifactsDir(), `${String(shotCount).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
}

/**
 * A user directory with this package installed as the palette manager leaves it: the package folder with its
 * package.json, the node files (a link into the build under test) and its examples/, which Node-RED lists
 * under Import > Examples.
 */
export function userDirWithPackage(): string {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-gdpr-browser-'));
  const repoPackage = JSON.parse(fs.readFileSync(path.join(REPO_DIR, 'package.json'), 'utf8'));
  const moduleDir = path.join(userDir, 'node_modules', ...PACKAGE_NAME.split('/'));
  fs.mkdirSync(moduleDir, { recursive: true });
  fs.symlinkSync(BUILD_DIR, path.join(moduleDir, 'build'), 'dir');
  if (fs.existsSync(EXAMPLES_DIR)) fs.symlinkSync(EXAMPLES_DIR, path.join(moduleDir, 'examples'), 'dir');
  fs.symlinkSync(RESOURCES_DIR, path.join(moduleDir, 'resources'), 'dir');
  const nodes: Record<string, string> = {};
  for (const [type, file] of Object.entries<string>(repoPackage['node-red'].nodes)) {
    nodes[type] = file.replace(/^dist\//, 'build/');
  }
  const pkg = { ...repoPackage, main: undefined, 'node-red': { ...repoPackage['node-red'], nodes } };
  fs.writeFileSync(path.join(moduleDir, 'package.json'), JSON.stringify(pkg, null, 2));
  fs.writeFileSync(
    path.join(userDir, 'package.json'),
    JSON.stringify({ name: 'node-red-project', private: true, dependencies: { [PACKAGE_NAME]: repoPackage.version } }),
  );
  return userDir;
}

/** Node-RED with default settings, except that no welcome tour or telemetry question covers the editor. */
export function startNodeRed(): Promise<RealNodeRed> {
  return RealNodeRed.start({
    userDir: userDirWithPackage(),
    settingsOverrides: '{ editorTheme: { projects: { enabled: false }, tours: false }, telemetry: { enabled: false } }',
  });
}

/**
 * Chromium with the flags CI needs (no sandbox as root, no GPU, no background traffic). Playwright starts it with
 * a fresh temporary --user-data-dir of its own and removes it on close.
 */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** Opens the editor and waits until the palette holds this package's nodes. */
export async function openEditor(page: Page, red: RealNodeRed): Promise<void> {
  await page.goto(red.url);
  await page.waitForFunction(
    () => Boolean(window.RED?.nodes?.getType?.('consent-gate') && document.querySelector('#red-ui-palette-container')),
    undefined,
    { timeout: 30000 },
  );
  await page.locator('.red-ui-palette-node[data-palette-type="consent-gate"]').waitFor();
  await page.waitForFunction(() => !document.querySelector('#red-ui-loading-progress:not([style*="none"])'));
}

/** Drags a palette entry onto the workspace like a user does, and returns the new node's id. */
export async function dragOntoWorkspace(page: Page, type: string, x: number, y: number): Promise<string> {
  const known: string[] = await page.evaluate(
    (t) => window.RED.nodes.filterNodes({ type: t }).map((n: { id: string }) => n.id),
    type,
  );
  const entry = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
  // A drag that starts while the palette still scrolls becomes a text selection: then the user tries again.
  for (let attempt = 1; ; attempt++) {
    await entry.scrollIntoViewIfNeeded();
    let from = await entry.boundingBox();
    for (let settled = false; !settled; ) {
      await page.waitForTimeout(100);
      const again = await entry.boundingBox();
      settled = Boolean(from && again && from.x === again.x && from.y === again.y);
      from = again;
    }
    const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
    assert.ok(from && chart, `palette entry ${type} or workspace not visible`);
    await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
    await page.mouse.down();
    await page.mouse.move(from.x + from.width / 2 + 20, from.y + from.height / 2, { steps: 4 });
    await page.mouse.move(chart.x + x, chart.y + y, { steps: 12 });
    await page.mouse.up();
    try {
      const added = await page.waitForFunction(
        ({ t, ids }) =>
          window.RED.nodes
            .filterNodes({ type: t })
            .map((n: { id: string }) => n.id)
            .find((id: string) => !ids.includes(id)),
        { t: type, ids: known },
        { timeout: 3000 },
      );
      return (await added.jsonValue()) as string;
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

/** Double-clicks a node on the workspace and waits for its edit dialog. */
export async function openNodeDialog(page: Page, id: string): Promise<void> {
  await page.locator(`g.red-ui-flow-node-group[id="${id}"] rect.red-ui-flow-node`).dblclick();
  await dialogFilled(page, id);
}

/** Opens the dialog of a node on any tab, as the editor does for a node found by search. */
export async function editNode(page: Page, id: string): Promise<void> {
  await page.evaluate((nodeId) => window.RED.editor.edit(window.RED.nodes.node(nodeId)), id);
  await dialogFilled(page, id);
}

async function dialogFilled(page: Page, id: string): Promise<void> {
  await page.locator('#node-dialog-ok').waitFor({ state: 'visible' });
  // The tray shows before the editor has filled in the saved values: typing earlier would mix with them.
  await page.waitForFunction((nodeId) => {
    const stack = window.RED.editor.getEditStack();
    const node = stack[stack.length - 1];
    if (!node || node.id !== nodeId) return false;
    return Object.keys(node._def.defaults).every((key) => {
      const input = document.getElementById(`node-input-${key}`) as HTMLInputElement | null;
      if (!input || input.type === 'checkbox' || input.tagName === 'SELECT' || typeof node[key] !== 'string')
        return true;
      return input.value === node[key];
    });
  }, id);
}

export async function confirmDialog(page: Page): Promise<void> {
  await page.locator('#node-dialog-ok').click();
  await page.locator('#node-dialog-ok').waitFor({ state: 'detached' });
}

/** Whether a field is marked invalid, and the message this package shows under it (empty when none). */
export function fieldState(page: Page, inputId: string): Promise<{ invalid: boolean; message: string }> {
  return page.evaluate((id) => {
    const element = document.getElementById(id);
    const hint = element?.closest('.form-row')?.querySelector('.whatsapp-gdpr-field-error') as HTMLElement | null;
    const message = hint && getComputedStyle(hint).display !== 'none' ? (hint.textContent ?? '').trim() : '';
    return { invalid: Boolean(element?.classList.contains('input-error')), message };
  }, inputId);
}

/** Polls until `read` gives `expected` (the message follows the typing, so a stale one may show for a moment). */
export async function eventually<T>(read: () => Promise<T>, expected: T, what: string, timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  let actual = await read();
  while (!isDeepStrictEqual(actual, expected) && Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    actual = await read();
  }
  assert.deepEqual(actual, expected, what);
}

/** The field is marked invalid and shows `expected` under it. */
export function expectFieldError(page: Page, inputId: string, expected: string): Promise<void> {
  return eventually(() => fieldState(page, inputId), { invalid: true, message: expected }, `#${inputId}`);
}

/** The field is valid again and its message is gone. */
export function fieldValid(page: Page, inputId: string): Promise<void> {
  return eventually(() => fieldState(page, inputId), { invalid: false, message: '' }, `#${inputId}`);
}

/**
 * Replaces a text field's value by typing, so the editor's key handlers run as for a user. Checks that every
 * key landed: the editor may still move the focus while a tray slides in.
 */
export async function typeInto(page: Page, inputId: string, text: string): Promise<void> {
  const input = page.locator(`#${inputId}`);
  for (let attempt = 0; attempt < 3; attempt++) {
    await input.fill('');
    if (text) await input.pressSequentially(text);
    else await input.press('Backspace');
    if ((await input.inputValue()) === text) return;
  }
  assert.equal(await input.inputValue(), text, `typed into #${inputId}`);
}

/** A message from a node set's catalog in the language the editor runs in. */
export async function catalogText(page: Page, key: string, params: Record<string, unknown> = {}): Promise<string> {
  return page.evaluate(({ k, p }) => window.RED._(k, p), { k: `${PACKAGE_NAME}/${key}`, p: params });
}

/** Clicks Deploy; resolves once the editor has nothing left to deploy. Fails on the "invalid nodes" warning. */
export async function deploy(page: Page): Promise<void> {
  await page.locator('#red-ui-header-button-deploy').click();
  // Done when nothing is left to deploy and the editor has lifted the shade it lays over the palette meanwhile.
  await page.waitForFunction(() => {
    if (document.querySelector('#red-ui-deploy-dialog-confirm-deploy-deploy')) return true;
    const shade = document.getElementById('red-ui-palette-shade');
    return !window.RED.nodes.dirty() && (!shade || getComputedStyle(shade).display === 'none');
  });
  const warning = page.locator('.red-ui-notification:has(#red-ui-deploy-dialog-confirm-deploy-deploy)');
  if (await warning.count()) {
    const text = await warning.textContent();
    throw new Error(`deploy warned instead of deploying: ${text}`);
  }
}

declare global {
  interface Window {
    /** The Node-RED editor's API (untyped), inside page.evaluate. */
    // biome-ignore lint/suspicious/noExplicitAny: the editor API has no types
    RED: any;
  }
}
