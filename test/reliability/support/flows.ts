import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { ConsentLedger } from '../../../lib/consent/ledger';
import type { LedgerOptions, PurposeConfig } from '../../../lib/consent/types';
import { BUSINESS } from './webhooks';

/** Flow builders and ledger access shared by the reliability tests. */

export const PURPOSES: PurposeConfig[] = [
  {
    id: 'news',
    label: 'Newsletter',
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

export interface StoreKeys {
  encryptionKey: string;
  pseudonymKey: string;
}

export function randomStoreKeys(): StoreKeys {
  return { encryptionKey: randomBytes(32).toString('base64'), pseudonymKey: randomBytes(32).toString('base64') };
}

/** Where a test keeps its consent ledger. */
export type Backend = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string; schema: string };

/** The SQLite file a consent-store with an empty sqlitePath uses inside the user directory. */
export function sqliteIn(userDir: string): Backend {
  return { kind: 'sqlite', file: path.join(userDir, 'whatsapp-consent.db') };
}

/** Opens the same ledger the consent-store node opens (same keys, key id derived as the node derives it). */
export function openLedger(backend: Backend, keys: StoreKeys): Promise<ConsentLedger> {
  const key = Buffer.from(keys.encryptionKey, 'base64');
  const common = {
    encryptionKeys: [{ id: `k${createHash('sha256').update(key).digest('hex').slice(0, 10)}`, key }],
    pseudonymKey: Buffer.from(keys.pseudonymKey, 'base64'),
    purposes: PURPOSES,
    instanceId: 'h11-test',
  };
  const options: LedgerOptions =
    backend.kind === 'sqlite'
      ? { backend: 'sqlite', sqlitePath: backend.file, ...common }
      : { backend: 'postgres', postgresUrl: backend.url, postgresSchema: backend.schema, ...common };
  return ConsentLedger.open(options);
}

/** Gives consent for `purpose` to every phone number, as a web-form double opt-in would have left it. */
export async function seedConsents(ledger: ConsentLedger, phones: string[], purpose = 'news'): Promise<void> {
  const wording = PURPOSES.find((p) => p.id === purpose)?.wording.en ?? '';
  const chunk = 200;
  for (let i = 0; i < phones.length; i += chunk) {
    await Promise.all(
      phones
        .slice(i, i + chunk)
        .map((phone) =>
          ledger.giveConsent({ subject: phone, purpose, wording, method: 'web-form', actor: 'h11-seed' }),
        ),
    );
  }
}

export interface ConfigNodes {
  appSecret: string;
  keys: StoreKeys;
  /** Cloud API base URL for whatsapp-send (a standalone sandbox); default: nowhere, nothing is sent. */
  apiBaseUrl?: string;
  accessToken?: string;
  throughput?: number;
  maxQueue?: number;
}

/** whatsapp-config (cloud mode) and consent-store, with credentials as the editor sends them. */
export function configNodes(backend: Backend, options: ConfigNodes): Record<string, unknown>[] {
  const store =
    backend.kind === 'sqlite'
      ? { backend: 'sqlite', sqlitePath: '', credentials: { ...options.keys } }
      : {
          backend: 'postgres',
          postgresSchema: backend.schema,
          credentials: { ...options.keys, postgresUrl: backend.url },
        };
  return [
    { id: 'tab1', type: 'tab', label: 'Reliability' },
    {
      id: 'wa1',
      type: 'whatsapp-config',
      name: 'reliability',
      mode: 'cloud',
      apiBaseUrl: options.apiBaseUrl ?? 'http://127.0.0.1:9',
      apiVersion: 'v25.0',
      phoneNumberId: BUSINESS.phoneNumberId,
      throughput: options.throughput ?? 80,
      maxQueue: options.maxQueue ?? 1000,
      credentials: {
        appSecret: options.appSecret,
        verifyToken: 'h11-verify',
        ...(options.accessToken ? { accessToken: options.accessToken } : {}),
      },
    },
    { id: 'store1', type: 'consent-store', name: 'ledger', purposes: PURPOSES, ...store },
  ];
}

/** whatsapp-webhook at /whatsapp (durable de-duplication in the store) wired into a stop-handler. */
export function webhookToStopHandler(extraWiresFromStop: string[][] = [[], []]): Record<string, unknown>[] {
  return [
    {
      id: 'hook1',
      z: 'tab1',
      type: 'whatsapp-webhook',
      path: '/whatsapp',
      whatsapp: 'wa1',
      store: 'store1',
      minimise: true,
      wires: [['stop1'], [], []],
    },
    { id: 'stop1', z: 'tab1', type: 'stop-handler', store: 'store1', purposes: '', wires: extraWiresFromStop },
  ];
}

/** A function node (Node-RED core) with the given body. */
export function functionNode(id: string, func: string, wires: string[][] = [[]], outputs = 1): Record<string, unknown> {
  return {
    id,
    z: 'tab1',
    type: 'function',
    name: id,
    func,
    outputs,
    noerr: 0,
    initialize: '',
    finalize: '',
    libs: [],
    wires,
  };
}

/**
 * Function nodes that count what reaches them in flow context (with msg.error.code for failures), and
 * GET /counts answering the counts as JSON: how a test sees the outcome of every message in a real process.
 */
export function countingNodes(keys: string[]): Record<string, unknown>[] {
  const counters = keys.map((key) =>
    functionNode(
      `count-${key}`,
      `const counts = flow.get('counts') || {};
counts[${JSON.stringify(key)}] = (counts[${JSON.stringify(key)}] || 0) + 1;
if (msg.error && msg.error.code !== undefined) {
  const byCode = ${JSON.stringify(key)} + ':' + msg.error.code;
  counts[byCode] = (counts[byCode] || 0) + 1;
}
flow.set('counts', counts);
return null;`,
    ),
  );
  return [
    ...counters,
    {
      id: 'counts-in',
      z: 'tab1',
      type: 'http in',
      url: '/counts',
      method: 'get',
      upload: false,
      wires: [['counts-fn']],
    },
    functionNode('counts-fn', `msg.payload = flow.get('counts') || {};\nreturn msg;`, [['counts-out']]),
    { id: 'counts-out', z: 'tab1', type: 'http response', statusCode: '', headers: {}, wires: [] },
  ];
}

export async function readCounts(baseUrl: string): Promise<Record<string, number>> {
  const answer = await fetch(`${baseUrl}/counts`);
  return (await answer.json()) as Record<string, number>;
}
