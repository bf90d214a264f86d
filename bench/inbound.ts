import * as http from 'node:http';
import { ConsentLedger } from '../lib/consent/ledger';
import { buildMessageWebhook, newMessageId } from '../lib/webhook/build';
import { signPayload } from '../lib/webhook/signature';
import { type ConsentStoreDef, ledgerOptions } from '../nodes/consent-store';
import { MOCK_ACCESS_TOKEN, MOCK_PHONE_NUMBER_ID, startMockGraph } from './mock-graph';
import { NODE_TYPES, probeNodes, report, reportNodes, startNodeRed, TAB, waitForReport } from './node-red';
import { BENCH_PURPOSE, benchPhone, type SeededStore } from './seed';

/**
 * Benchmark 2: Meta's signed webhooks. Package flow: whatsapp-webhook (signature, de-duplication marks kept
 * durably in the consent store) -> stop-handler (durable withdrawal). Core flow: `http in` (raw body) -> a
 * function node checking the HMAC, noting STOP in flow context -> `http response`. The driver posts
 * `count` webhooks, `concurrency` at a time over keep-alive connections, and times each until its 200.
 * One in `stopEvery` messages is "STOP"; afterwards the package's withdrawals are read back from the database.
 */
export interface InboundRun {
  count: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  stopsSeen: number;
  withdrawalsVerified: number;
  startRssMiB: number;
  peakRssMiB: number;
  /** CPU time of the Node-RED process per webhook, in microseconds (time blocked in fsync is not CPU). */
  cpuUsPerWebhook: number;
  /** The part of cpuUsPerWebhook spent on the main thread (the event loop); undefined without /proc. */
  mainCpuUsPerWebhook?: number;
  /** The part of cpuUsPerWebhook spent on the busiest other thread (the store's, where there is one). */
  busiestOtherCpuUsPerWebhook?: number;
}

/**
 * 'package-memory': whatsapp-webhook alone, without a consent store (signature, de-duplication in memory, no
 * durable withdrawal): what the package costs before the ledger, to show what durability costs.
 * 'package-withdrawal': whatsapp-webhook without a store (de-duplication in memory, no 24-hour window times)
 * -> stop-handler with the store (durable withdrawal): what durable de-duplication marks cost on top.
 */
export type InboundVariant = 'package' | 'core' | 'package-memory' | 'package-withdrawal';

const APP_SECRET = 'bench-app-secret-0123456789abcdef';
const PACKAGE_PATH = '/whatsapp';
const CORE_PATH = '/whatsapp-core';

interface InboundReport {
  messages: number;
  stops: number;
}

const COUNT_CODE = `
const b = flow.get('inbound') || { messages: 0, stops: 0 };
b.messages += 1;
if (msg.stop && msg.stop.kind === 'stop') b.stops += 1;
flow.set('inbound', b);
return null;`;

const CORE_COUNT_CODE = `
const b = flow.get('inbound') || { messages: 0, stops: 0 };
b.messages += 1;
if (msg.stop) b.stops += 1;
flow.set('inbound', b);
return null;`;

/** What a user writes in a function node to accept Meta's webhooks: HMAC over the raw body, then the messages. */
const CORE_WEBHOOK_CODE = `
const raw = Buffer.isBuffer(msg.payload) ? msg.payload : Buffer.from(String(msg.payload), 'utf8');
const header = String(msg.req.headers['x-hub-signature-256'] || '');
const expected = 'sha256=' + crypto.createHmac('sha256', ${JSON.stringify(APP_SECRET)}).update(raw).digest('hex');
if (header.length !== expected.length || !crypto.timingSafeEqual(Buffer.from(header), Buffer.from(expected))) {
  msg.statusCode = 401;
  msg.payload = '';
  return [msg, null];
}
const body = JSON.parse(raw.toString('utf8'));
const out = [];
const withdrawn = flow.get('withdrawn') || {};
for (const entry of body.entry || []) {
  for (const change of entry.changes || []) {
    for (const m of (change.value && change.value.messages) || []) {
      const text = m.text && m.text.body ? m.text.body : '';
      const stop = text.trim().toUpperCase() === 'STOP';
      if (stop) withdrawn['+' + m.from] = Date.now();
      out.push({ payload: text, from: '+' + m.from, stop });
    }
  }
}
flow.set('withdrawn', withdrawn);
msg.statusCode = 200;
msg.payload = 'OK';
return [msg, out];`;

/**
 * Without a store: whatsapp-webhook alone (memory de-duplication), straight into the counter. With one, the
 * webhook keeps its de-duplication marks there unless `webhookStore` is false (then only stop-handler uses it).
 */
function packageFlow(api: string, store?: SeededStore, webhookStore = true): Record<string, unknown>[] {
  const durable = store
    ? [
        store.storeNode('bench-store'),
        { id: 'stop', type: 'stop-handler', z: TAB.id, store: 'bench-store', wires: [['count'], ['count']] },
      ]
    : [];
  return [
    TAB,
    {
      id: 'wa-config',
      type: 'whatsapp-config',
      name: 'bench number',
      mode: 'cloud',
      apiBaseUrl: api,
      apiVersion: 'v25.0',
      phoneNumberId: MOCK_PHONE_NUMBER_ID,
      throughput: 80,
      credentials: { accessToken: MOCK_ACCESS_TOKEN, appSecret: APP_SECRET, verifyToken: 'bench-verify' },
    },
    ...durable,
    {
      id: 'webhook',
      type: 'whatsapp-webhook',
      z: TAB.id,
      path: PACKAGE_PATH,
      whatsapp: 'wa-config',
      store: store && webhookStore ? 'bench-store' : '',
      minimise: true,
      wires: [[store ? 'stop' : 'count'], [], []],
    },
    { id: 'count', type: 'function', z: TAB.id, func: COUNT_CODE, outputs: 1, wires: [] },
    ...reportNodes(
      'report',
      '/bench/inbound',
      "msg.payload = flow.get('inbound') || { messages: 0, stops: 0 };\nreturn msg;",
    ),
    ...probeNodes(),
  ];
}

function coreFlow(): Record<string, unknown>[] {
  return [
    TAB,
    { id: 'in', type: 'http in', z: TAB.id, url: CORE_PATH, method: 'post', skipBodyParsing: true, wires: [['check']] },
    {
      id: 'check',
      type: 'function',
      z: TAB.id,
      func: CORE_WEBHOOK_CODE,
      libs: [{ var: 'crypto', module: 'crypto' }],
      outputs: 2,
      wires: [['out'], ['count']],
    },
    { id: 'out', type: 'http response', z: TAB.id, statusCode: '', headers: {}, wires: [] },
    { id: 'count', type: 'function', z: TAB.id, func: CORE_COUNT_CODE, outputs: 1, wires: [] },
    ...reportNodes(
      'report',
      '/bench/inbound',
      "msg.payload = flow.get('inbound') || { messages: 0, stops: 0 };\nreturn msg;",
    ),
    ...probeNodes(),
  ];
}

interface Webhook {
  body: Buffer;
  signature: string;
  stop: boolean;
  subject: number;
}

/** Signed bodies built before the clock starts, so the driver's own HMAC does not count. */
function webhooks(count: number, subjects: number, stopEvery: number, offset: number): Webhook[] {
  return Array.from({ length: count }, (_, i) => {
    const subject = (offset + i * 7919) % subjects;
    const stop = (offset + i) % stopEvery === 0;
    const waId = benchPhone(subject).slice(1);
    const body = Buffer.from(
      JSON.stringify(
        buildMessageWebhook({
          phoneNumberId: MOCK_PHONE_NUMBER_ID,
          displayPhoneNumber: '49301234567',
          waId,
          profileName: 'Bench Customer',
          messageId: newMessageId(waId),
          message: { type: 'text', text: { body: stop ? 'STOP' : 'Hello, is my order on its way?' } },
        }),
      ),
    );
    return { body, signature: signPayload(body, APP_SECRET), stop, subject };
  });
}

function postWebhook(agent: http.Agent, url: URL, hook: Webhook): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': hook.body.length,
          'x-hub-signature-256': hook.signature,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(hook.body);
  });
}

async function fire(
  url: URL,
  hooks: Webhook[],
  concurrency: number,
): Promise<{ seconds: number; latencies: number[] }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < hooks.length) {
      const hook = hooks[next++];
      const t0 = process.hrtime.bigint();
      const status = await postWebhook(agent, url, hook);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (status !== 200) throw new Error(`webhook answered ${status}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  return { seconds, latencies };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/** The STOP senders' consents as the package left them in the database, read back after Node-RED stopped. */
async function verifyWithdrawals(store: SeededStore, hooks: Webhook[]): Promise<number> {
  const def = { backend: 'sqlite', sqlitePath: store.sqlitePath, purposes: [] } as unknown as ConsentStoreDef;
  const { storeNode } = store;
  const purposes = (storeNode('x') as { purposes: unknown }).purposes;
  const ledger = await ConsentLedger.open(ledgerOptions({ ...def, purposes }, store.credentials, store.dir));
  try {
    let withdrawn = 0;
    for (const hook of hooks.filter((h) => h.stop)) {
      const check = await ledger.checkConsent(benchPhone(hook.subject), BENCH_PURPOSE);
      if (check.status !== 'withdrawn')
        throw new Error(`STOP from subject ${hook.subject} left status ${check.status}`);
      withdrawn += 1;
    }
    return withdrawn;
  } finally {
    await ledger.close();
  }
}

export async function runInbound(
  variant: InboundVariant,
  options: { count: number; warmup: number; concurrency: number; stopEvery: number; store: SeededStore },
): Promise<InboundRun> {
  const durable = variant === 'package' || variant === 'package-withdrawal';
  // Each run withdraws the same senders: on the seeded file as it was, not on one an earlier round withdrew.
  const store = durable ? options.store.fresh() : undefined;
  const mock = await startMockGraph();
  const red = await startNodeRed(NODE_TYPES);
  const warm = webhooks(options.warmup, options.store.subjects, options.stopEvery, 1);
  const measured = webhooks(options.count, options.store.subjects, options.stopEvery, options.warmup + 1);
  let run: { seconds: number; latencies: number[] };
  let seen: InboundReport;
  let memory: Pick<
    InboundRun,
    'startRssMiB' | 'peakRssMiB' | 'cpuUsPerWebhook' | 'mainCpuUsPerWebhook' | 'busiestOtherCpuUsPerWebhook'
  > = {
    startRssMiB: 0,
    peakRssMiB: 0,
    cpuUsPerWebhook: 0,
  };
  try {
    await red.deploy(variant === 'core' ? coreFlow() : packageFlow(mock.url, store, variant === 'package'));
    const url = new URL(`${red.url}${variant === 'core' ? CORE_PATH : PACKAGE_PATH}`);
    await fire(url, warm, options.concurrency);
    const { rss } = await report<{ rss: number }>(red, '/bench/probe/start');
    run = await fire(url, measured, options.concurrency);
    const { peak, cpuMs, mainCpuMs, busiestOtherCpuMs } = await report<{
      peak: number;
      cpuMs: number;
      mainCpuMs?: number;
      busiestOtherCpuMs?: number;
    }>(red, '/bench/probe/peak');
    const perWebhook = (ms: number | undefined) =>
      ms === undefined ? undefined : Math.round((ms * 1000) / options.count);
    memory = {
      startRssMiB: Math.round(rss / 2 ** 20),
      peakRssMiB: Math.round(peak / 2 ** 20),
      cpuUsPerWebhook: Math.round((cpuMs * 1000) / options.count),
      mainCpuUsPerWebhook: perWebhook(mainCpuMs),
      busiestOtherCpuUsPerWebhook: perWebhook(busiestOtherCpuMs),
    };
    const total = warm.length + measured.length;
    const stops = [...warm, ...measured].filter((h) => h.stop).length;
    seen = await waitForReport<InboundReport>(
      red,
      '/bench/inbound',
      (r) => r.messages >= total,
      30_000,
      'inbound messages',
    );
    // Without a stop-handler the memory variant recognises no STOP: it only passes the messages on.
    if (variant !== 'package-memory' && seen.stops !== stops) {
      throw new Error(`${variant} flow saw ${seen.stops} STOPs of ${stops}`);
    }
  } finally {
    await red.stop();
    await mock.close();
  }
  let withdrawalsVerified = 0;
  if (store) {
    try {
      withdrawalsVerified = await verifyWithdrawals(store, [...warm, ...measured]);
    } finally {
      store.remove();
    }
  }
  return {
    count: options.count,
    perSecond: Math.round(options.count / run.seconds),
    p50Ms: round2(percentile(run.latencies, 50)),
    p99Ms: round2(percentile(run.latencies, 99)),
    stopsSeen: seen.stops,
    withdrawalsVerified,
    ...memory,
  };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
