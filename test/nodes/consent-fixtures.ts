import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { helper, nodeRedPath } from '../helpers/node-red';

/** Shared by the consent-store, consent-gate and opt-in-flow node tests: real stores on real SQLite files. */

export const PURPOSES = [
  {
    id: 'news',
    label: 'Newsletter',
    labels: { en: 'WhatsApp newsletter', de: 'Rundbrief' },
    wording: { en: 'Send me the newsletter on WhatsApp.', de: 'Schickt mir den Newsletter per WhatsApp.' },
    lawfulBasis: 'consent',
    marketing: true,
  },
  {
    id: 'orders',
    label: 'Order updates',
    wording: { en: 'Order updates on WhatsApp.', de: 'Bestell-Updates per WhatsApp.' },
    lawfulBasis: 'contract',
    marketing: false,
  },
];

export function randomKey(bytes = 32): string {
  return randomBytes(bytes).toString('base64');
}

export function storeCredentials(): { encryptionKey: string; pseudonymKey: string } {
  return { encryptionKey: randomKey(), pseudonymKey: randomKey() };
}

export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'wa-gdpr-h6-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function storeNode(id: string, dir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    type: 'consent-store',
    backend: 'sqlite',
    sqlitePath: join(dir, `${id}.db`),
    purposes: PURPOSES,
    ...extra,
  };
}

export type Msg = Record<string, unknown>;

export function next(id: string): Promise<Msg> {
  return new Promise((resolve) => helper.getNode(id).once('input', (msg: Msg) => resolve(msg)));
}

export function collect(id: string): Msg[] {
  const seen: Msg[] = [];
  helper.getNode(id).on('input', (msg: Msg) => seen.push(msg));
  return seen;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface SpyCall {
  thisValue: { id?: string };
  args: unknown[];
}

/** The arguments of every call of a Node method (the helper spies on Node.prototype's log methods and status). */
export function callsOf(method: 'status' | 'error' | 'warn' | 'log', id: string): unknown[][] {
  const spy = (helper as unknown as { _NodePrototype: Record<string, { getCalls(): SpyCall[] }> })._NodePrototype[
    method
  ];
  return spy
    .getCalls()
    .filter((call) => call.thisValue?.id === id)
    .map((call) => call.args);
}

/** Every status a node has shown since the flow was loaded. */
export function statusesOf(id: string): { fill?: string; shape?: string; text?: string }[] {
  return callsOf('status', id).map((args) => args[0] as { fill?: string; shape?: string; text?: string });
}

export async function until(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (predicate()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Node-RED's own complete node, from the Node-RED under test: it says when a node has finished with a message. */
export function completeNode(): unknown {
  return require(require.resolve('@node-red/nodes/core/common/24-complete.js', { paths: [dirname(nodeRedPath)] }));
}

/** Node-RED's own catch node, from the Node-RED under test. */
export function catchNode(): unknown {
  return require(require.resolve('@node-red/nodes/core/common/25-catch.js', { paths: [dirname(nodeRedPath)] }));
}

/** Node-RED's own change node, from the Node-RED under test. */
export function changeNode(): unknown {
  return require(require.resolve('@node-red/nodes/core/function/15-change.js', { paths: [dirname(nodeRedPath)] }));
}
