import consentStoreNode, { type ConsentStoreNode } from '../../../nodes/consent-store';
import stopHandlerNode from '../../../nodes/stop-handler';
import configNode from '../../../nodes/whatsapp-config';
import webhookNode from '../../../nodes/whatsapp-webhook';
import { helper } from '../../helpers/node-red';
import { mountHttpApps } from '../../helpers/node-red-http';
import { catchNode, storeCredentials, storeNode, tempDir } from '../../nodes/consent-fixtures';

export const APP_SECRET = 'fuzz-app-secret-7c1e';
export const VERIFY_TOKEN = 'fuzz-verify-token-42aa';
export const PHONE_NUMBER_ID = '106540352242922';
export const WEBHOOK_PATH = '/whatsapp';

/** Every node a webhook message can reach, so that a leak of a refused body shows up as an emission. */
export const OBSERVERS = ['out-messages', 'out-statuses', 'out-events', 'stop-out', 'stop-pass', 'caught'] as const;
export type Observer = (typeof OBSERVERS)[number];

export interface WebhookTarget {
  url: string;
  sqliteFile: string;
  /** Messages each observer received so far. */
  seen: Record<Observer, Record<string, unknown>[]>;
  unload(): Promise<void>;
}

/**
 * A whatsapp-webhook reachable over a real socket (admin app in front, as Node-RED's default settings
 * mount it), with a SQLite consent store for durable de-duplication and a stop-handler behind it,
 * like a real flow. Output 1 is wired twice, so Node-RED clones each inbound message as it would for a
 * debug node beside the processing.
 */
export async function startWebhookTarget(
  options: { maxBytes?: number; minimise?: boolean } = {},
): Promise<WebhookTarget> {
  const dir = tempDir();
  const store = storeNode('store', dir.path);
  await helper.startServer();
  const flow = [
    { id: 'f1', type: 'tab', label: 'fuzz' },
    store,
    { id: 'cfg', type: 'whatsapp-config', name: 'fuzz', mode: 'cloud', phoneNumberId: PHONE_NUMBER_ID },
    {
      id: 'hook',
      z: 'f1',
      type: 'whatsapp-webhook',
      path: WEBHOOK_PATH,
      whatsapp: 'cfg',
      store: 'store',
      minimise: options.minimise ?? true,
      maxBytes: options.maxBytes ?? 16384,
      wires: [['stop', 'out-messages'], ['out-statuses'], ['out-events']],
    },
    { id: 'stop', z: 'f1', type: 'stop-handler', store: 'store', wires: [['stop-out'], ['stop-pass']] },
    { id: 'catcher', z: 'f1', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    ...OBSERVERS.map((id) => ({ id, z: 'f1', type: 'helper' })),
  ];
  await helper.load(
    [configNode, consentStoreNode, webhookNode, stopHandlerNode, catchNode(), mountHttpApps()] as never,
    flow as never,
    { store: storeCredentials(), cfg: { appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN } } as never,
  );
  await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
  const seen = Object.fromEntries(
    OBSERVERS.map((id) => [id, [] as Record<string, unknown>[]]),
  ) as WebhookTarget['seen'];
  for (const id of OBSERVERS) helper.getNode(id).on('input', (msg: Record<string, unknown>) => seen[id].push(msg));
  return {
    url: `${helper.url()}${WEBHOOK_PATH}`,
    sqliteFile: String(store.sqlitePath),
    seen,
    async unload() {
      await helper.unload();
      await helper.stopServer();
      dir.remove();
    },
  };
}

export function emitted(target: WebhookTarget): number {
  return OBSERVERS.reduce((sum, id) => sum + target.seen[id].length, 0);
}
