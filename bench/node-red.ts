import * as path from 'node:path';
import { RealNodeRed } from '../test/helpers/real-node-red';

/**
 * A real Node-RED process for one benchmark variant: default settings, marked as a load test against a mock (a
 * throughput above Meta's highest tier is used as set: pacing off), the package installed as the palette manager
 * leaves it (test/helpers/real-node-red.ts), and the memory probe (probe.ts) in the global context.
 * Each variant gets a fresh process so that one variant's memory and warm caches never count for another.
 */
export async function startNodeRed(types: string[]): Promise<RealNodeRed> {
  const probe = JSON.stringify(path.join(__dirname, 'probe.js'));
  return RealNodeRed.start({
    types,
    settingsOverrides: `{ functionGlobalContext: { benchProbe: require(${probe}) }, functionExternalModules: true, whatsappGdprLoadTest: true }`,
    startTimeoutMs: 60_000,
  });
}

export const NODE_TYPES = [
  'whatsapp-config',
  'consent-store',
  'whatsapp-webhook',
  'whatsapp-send',
  'consent-gate',
  'stop-handler',
];

/** GET a JSON report a benchmark flow serves on RED.httpNode. */
export async function report<T>(red: RealNodeRed, route: string): Promise<T> {
  const answer = await fetch(`${red.url}${route}`);
  if (answer.status !== 200) throw new Error(`${route} answered ${answer.status}`);
  return (await answer.json()) as T;
}

export async function post(red: RealNodeRed, route: string, body: unknown): Promise<void> {
  const answer = await fetch(`${red.url}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (answer.status !== 200) throw new Error(`${route} answered ${answer.status}: ${await answer.text()}`);
}

/** Polls `route` until `done` holds; every run is bounded by `timeoutMs`, so a stuck flow cannot hang the bench. */
export async function waitForReport<T>(
  red: RealNodeRed,
  route: string,
  done: (report: T) => boolean,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < end) {
    last = await report<T>(red, route);
    if (last && done(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(
    `${what} did not finish within ${timeoutMs / 1000} s; last report ${JSON.stringify(last)}\n${tail(red.log())}`,
  );
}

export function tail(log: string, lines = 30): string {
  return log.split('\n').slice(-lines).join('\n');
}

/** The flow tab every benchmark deploys its nodes on. */
export const TAB = { id: 'bench-tab', type: 'tab', label: 'Benchmark' };

/** A report endpoint: GET `route` answers with the flow context value `key`. */
export function reportNodes(prefix: string, route: string, code: string): Record<string, unknown>[] {
  return [
    { id: `${prefix}-in`, type: 'http in', z: TAB.id, url: route, method: 'get', wires: [[`${prefix}-fn`]] },
    { id: `${prefix}-fn`, type: 'function', z: TAB.id, func: code, outputs: 1, wires: [[`${prefix}-out`]] },
    { id: `${prefix}-out`, type: 'http response', z: TAB.id, statusCode: '', headers: {}, wires: [] },
  ];
}

/** GET /bench/probe/start starts a peak-memory (and, with --profile, CPU) window; /bench/probe/peak ends it. */
export function probeNodes(): Record<string, unknown>[] {
  return [
    ...reportNodes(
      'probe-start',
      '/bench/probe/start',
      "msg.payload = { rss: global.get('benchProbe').startPeak() };\nreturn msg;",
    ),
    ...reportNodes(
      'probe-peak',
      '/bench/probe/peak',
      "const probe = global.get('benchProbe');\nmsg.payload = { cpuMs: probe.cpuMs(), mainCpuMs: probe.mainCpuMs(), busiestOtherCpuMs: probe.busiestOtherThreadCpuMs(), peak: probe.peak() };\nreturn msg;",
    ),
  ];
}
