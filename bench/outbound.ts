import { MOCK_ACCESS_TOKEN, MOCK_PHONE_NUMBER_ID, type MockGraph, startMockGraph } from './mock-graph';
import { NODE_TYPES, post, reportNodes, startNodeRed, TAB, waitForReport } from './node-red';
import { BENCH_PURPOSE, type SeededStore } from './seed';

/**
 * Benchmark 1: a broadcast to consenting customers. Package flow: consent-gate -> whatsapp-send (pacing off).
 * Core flow, as a user would build it from Node-RED's own nodes: a function node looking the consent up in
 * flow context -> the core `http request` node with persistent connections. Both run in a fresh real
 * Node-RED process against the same loopback mock of the messages endpoint.
 *
 * The driver keeps `window` messages in flight (each completed message lets the next one in): a burst of all
 * 20,000 at once would measure how many sockets the machine allows (the core node opens one per request,
 * with no limit), not how fast a flow is.
 */
export interface OutboundRun {
  count: number;
  sent: number;
  failed: number;
  blocked: number;
  seconds: number;
  msgsPerSecond: number;
  /** CPU time of the Node-RED process per message, in microseconds. */
  cpuUsPerMsg: number;
  peakRssMiB: number;
  startRssMiB: number;
  apiCalls: number;
}

export type OutboundVariant = 'package' | 'core';

interface BenchReport {
  count: number;
  emitted: number;
  completed: number;
  sent: number;
  failed: number;
  blocked: number;
  errors: Record<string, number>;
  startedAt: number;
  finishedAt: number;
  startRss: number;
  peakRss: number;
  cpuMs: number;
}

/** Function-node source shared by both variants: the next message of the broadcast, to a random subject. */
const NEXT_MESSAGE = `
function nextMessage(b) {
  const n = Math.floor(Math.random() * b.subjects);
  b.emitted += 1;
  return { to: '+49151' + (10000000 + n), payload: 'Your voucher ' + b.emitted + ' is ready: 10% off this week.' };
}`;

const GENERATOR = `${NEXT_MESSAGE}
const p = msg.payload || {};
const b = { count: p.count, window: p.window, subjects: p.subjects, emitted: 0, completed: 0, sent: 0, failed: 0,
  blocked: 0, errors: {}, startedAt: Date.now(), finishedAt: 0, startRss: 0, peakRss: 0, cpuMs: 0 };
b.startRss = global.get('benchProbe').startPeak();
flow.set('bench', b);
const out = [];
while (b.emitted < Math.min(b.window, b.count)) out.push(nextMessage(b));
msg.payload = { started: true };
return [out, msg];`;

/** `OUTCOME` classifies a finished message as sent / failed / blocked. */
const sinkCode = (outcome: string) => `${NEXT_MESSAGE}
const b = flow.get('bench');
b.completed += 1;
${outcome}
if (b.completed === b.count) {
  b.finishedAt = Date.now();
  b.cpuMs = global.get('benchProbe').cpuMs();
  b.peakRss = global.get('benchProbe').peak();
  return null;
}
return b.emitted < b.count ? nextMessage(b) : null;`;

const PACKAGE_OUTCOME = `
if (msg.error) { b.failed += 1; const code = String(msg.error.code || 'error'); b.errors[code] = (b.errors[code] || 0) + 1; }
else if (msg.whatsapp && msg.whatsapp.messageId) b.sent += 1;
else if (msg.consent && msg.consent.reason) { b.blocked += 1; const why = 'blocked:' + msg.consent.reason; b.errors[why] = (b.errors[why] || 0) + 1; }
else b.failed += 1;`;

const CORE_OUTCOME = `
if (msg.blocked) b.blocked += 1;
else if (msg.statusCode === 200 && msg.payload && msg.payload.messages) b.sent += 1;
else { b.failed += 1; const code = String(msg.statusCode || 'error'); b.errors[code] = (b.errors[code] || 0) + 1; }`;

const consentLookup = (api: string) => `
const consent = flow.get('consent') || {};
const record = consent[msg.to];
if (!record || record.${BENCH_PURPOSE} !== 'given') { msg.blocked = true; return [null, msg]; }
msg.url = ${JSON.stringify(`${api}/v25.0/${MOCK_PHONE_NUMBER_ID}/messages`)};
msg.method = 'POST';
msg.headers = { authorization: 'Bearer ' + ${JSON.stringify(MOCK_ACCESS_TOKEN)}, 'content-type': 'application/json' };
msg.payload = { messaging_product: 'whatsapp', recipient_type: 'individual', to: msg.to, type: 'text',
  text: { body: msg.payload + '\\n\\nReply STOP to unsubscribe.' } };
return [msg, null];`;

const consentInit = (subjects: number) => `
const consent = {};
for (let n = 0; n < ${subjects}; n += 1) consent['+49151' + (10000000 + n)] = { ${BENCH_PURPOSE}: 'given' };
flow.set('consent', consent);`;

function commonNodes(): Record<string, unknown>[] {
  return [
    TAB,
    { id: 'start-in', type: 'http in', z: TAB.id, url: '/bench/start', method: 'post', wires: [['generator']] },
    { id: 'generator', type: 'function', z: TAB.id, func: GENERATOR, outputs: 2, wires: [['first'], ['start-out']] },
    { id: 'start-out', type: 'http response', z: TAB.id, statusCode: '', headers: {}, wires: [] },
    ...reportNodes('report', '/bench/report', "msg.payload = flow.get('bench') || null;\nreturn msg;"),
  ];
}

/** The package flow: whatsapp-config (cloud mode, the mock as API) + seeded consent-store, gate, send. */
export function packageFlow(
  api: string,
  store: SeededStore,
  config: Record<string, unknown> = {},
): Record<string, unknown>[] {
  return [
    ...commonNodes().map((n) => (n.id === 'generator' ? { ...n, wires: [['gate'], ['start-out']] } : n)),
    {
      id: 'wa-config',
      type: 'whatsapp-config',
      name: 'bench number',
      mode: 'cloud',
      apiBaseUrl: api,
      apiVersion: 'v25.0',
      phoneNumberId: MOCK_PHONE_NUMBER_ID,
      // Pacing off for the benchmark: far above what the window lets through (startNodeRed marks the runtime as a
      // load test, without which whatsapp-config caps it at Meta's highest tier, 1,000/s).
      throughput: 100_000,
      maxQueue: 100_000,
      timeoutMs: 15_000,
      credentials: { accessToken: MOCK_ACCESS_TOKEN, appSecret: 'bench-app-secret', verifyToken: 'bench-verify' },
      ...config,
    },
    store.storeNode('bench-store'),
    {
      id: 'gate',
      type: 'consent-gate',
      z: TAB.id,
      store: 'bench-store',
      purpose: BENCH_PURPOSE,
      wires: [['send'], ['sink']],
    },
    { id: 'send', type: 'whatsapp-send', z: TAB.id, whatsapp: 'wa-config', wires: [['sink'], ['sink']] },
    { id: 'sink', type: 'function', z: TAB.id, func: sinkCode(PACKAGE_OUTCOME), outputs: 1, wires: [['gate']] },
  ];
}

export function coreFlow(api: string, subjects: number): Record<string, unknown>[] {
  return [
    ...commonNodes().map((n) => (n.id === 'generator' ? { ...n, wires: [['lookup'], ['start-out']] } : n)),
    {
      id: 'lookup',
      type: 'function',
      z: TAB.id,
      func: consentLookup(api),
      initialize: consentInit(subjects),
      outputs: 2,
      wires: [['request'], ['sink']],
    },
    {
      id: 'request',
      type: 'http request',
      z: TAB.id,
      method: 'use',
      ret: 'obj',
      paytoqs: 'ignore',
      url: '',
      persist: true,
      insecureHTTPParser: false,
      authType: '',
      senderr: false,
      headers: [],
      wires: [['sink']],
    },
    { id: 'sink', type: 'function', z: TAB.id, func: sinkCode(CORE_OUTCOME), outputs: 1, wires: [['lookup']] },
  ];
}

async function broadcast(
  red: Awaited<ReturnType<typeof startNodeRed>>,
  count: number,
  window: number,
  subjects: number,
  timeoutMs: number,
): Promise<BenchReport> {
  await post(red, '/bench/start', { count, window, subjects });
  return waitForReport<BenchReport>(red, '/bench/report', (r) => r.finishedAt > 0, timeoutMs, `broadcast of ${count}`);
}

const MIB = 2 ** 20;

/** One variant in its own Node-RED process: a warm-up broadcast, then the measured one. */
export async function runOutbound(
  variant: OutboundVariant,
  options: { count: number; warmup: number; window: number; store: SeededStore },
): Promise<OutboundRun> {
  const mock: MockGraph = await startMockGraph();
  const red = await startNodeRed(NODE_TYPES);
  try {
    const flow =
      variant === 'package' ? packageFlow(mock.url, options.store) : coreFlow(mock.url, options.store.subjects);
    await red.deploy(flow);
    const timeoutMs = 30_000 + options.count * 20;
    await broadcast(red, options.warmup, options.window, options.store.subjects, timeoutMs);
    const callsBefore = mock.messages;
    const r = await broadcast(red, options.count, options.window, options.store.subjects, timeoutMs);
    if (r.sent !== options.count) {
      throw new Error(
        `${variant} flow sent ${r.sent} of ${options.count} (failed ${r.failed} ${JSON.stringify(r.errors)}, blocked ${r.blocked})`,
      );
    }
    const seconds = (r.finishedAt - r.startedAt) / 1000;
    return {
      count: r.count,
      sent: r.sent,
      failed: r.failed,
      blocked: r.blocked,
      seconds,
      msgsPerSecond: Math.round(r.count / seconds),
      cpuUsPerMsg: Math.round((r.cpuMs * 1000) / r.count),
      peakRssMiB: Math.round(r.peakRss / MIB),
      startRssMiB: Math.round(r.startRss / MIB),
      apiCalls: mock.messages - callsBefore,
    };
  } finally {
    await red.stop();
    await mock.close();
  }
}
