import { startMockGraph } from './mock-graph';
import { NODE_TYPES, post, probeNodes, report, reportNodes, startNodeRed, TAB, waitForReport } from './node-red';
import { packageFlow } from './outbound';
import type { SeededStore } from './seed';

/**
 * Benchmark 4: the Cloud API stops answering (every request is held open) while `arrivals` messages reach
 * consent-gate -> whatsapp-send. whatsapp-send's pacer (throughput 80/s) may hold at most `maxQueue` waiting
 * messages and refuses the rest at once with `queue-full` on its failure output, so memory must follow the
 * configured bound, not the number of arrivals. Requests already started (at most throughput x timeout) are
 * in flight on top of the queue.
 */
export interface MemoryRun {
  arrivals: number;
  maxQueue: number;
  queueFull: number;
  otherFailures: number;
  held: number;
  /** Started while the API was stalled: held by it, or waiting for one of the client's sockets. */
  inFlight: number;
  maxQueueSeen: number;
  startRssMiB: number;
  peakRssMiB: number;
  growthMiB: number;
  withinBound: boolean;
}

interface ArrivalReport {
  count: number;
  emitted: number;
  completed: number;
  failed: number;
  sent: number;
  blocked: number;
  errors: Record<string, number>;
  maxQueue: number;
  startRss: number;
  startedAt: number;
  lastAt: number;
}

const THROUGHPUT = 80;
const TIMEOUT_MS = 60_000;
/** Arrivals per second: 125 times what the API is allowed to take, but no faster than the flow can hand on. */
const ARRIVAL_RATE = 10_000;

/** Emits `count` messages at ARRIVAL_RATE, in chunks every 10 ms. */
const ARRIVALS = `
const p = msg.payload || {};
const b = { count: p.count, subjects: p.subjects, emitted: 0, completed: 0, failed: 0, sent: 0, blocked: 0,
  errors: {}, maxQueue: 0, startRss: global.get('benchProbe').startPeak(), startedAt: Date.now(), lastAt: 0 };
flow.set('bench', b);
function chunk() {
  const out = [];
  const due = Math.min(b.count, Math.ceil(((Date.now() - b.startedAt) / 1000) * ${ARRIVAL_RATE}));
  while (b.emitted < due) {
    b.emitted += 1;
    out.push({ to: '+49151' + (10000000 + Math.floor(Math.random() * b.subjects)), payload: 'Your voucher ' + b.emitted });
  }
  if (out.length > 0) node.send([out, null]);
  if (b.emitted < b.count) setTimeout(chunk, 10);
}
setTimeout(chunk, 10);
msg.payload = { started: true };
return [null, msg];`;

const SINK = `
const b = flow.get('bench');
b.completed += 1;
b.lastAt = Date.now();
if (msg.error) { b.failed += 1; const code = String(msg.error.code || 'error'); b.errors[code] = (b.errors[code] || 0) + 1; }
else if (msg.whatsapp && msg.whatsapp.messageId) b.sent += 1;
else b.blocked += 1;
return null;`;

/** The queue length whatsapp-send shows in its status ("queue: N"). */
const QUEUE_WATCH = `
const b = flow.get('bench');
const found = /(\\d+)/.exec(String((msg.status && msg.status.text) || ''));
if (b && found) b.maxQueue = Math.max(b.maxQueue, Number(found[1]));
return null;`;

export async function runMemory(options: {
  arrivals: number;
  maxQueue: number;
  store: SeededStore;
}): Promise<MemoryRun> {
  const mock = await startMockGraph({ stall: true });
  const red = await startNodeRed(NODE_TYPES);
  try {
    const flow = packageFlow(mock.url, options.store, {
      throughput: THROUGHPUT,
      maxQueue: options.maxQueue,
      timeoutMs: TIMEOUT_MS,
    })
      .filter((n) => n.id !== 'generator' && n.id !== 'sink' && !String(n.id).startsWith('report'))
      .concat([
        { id: 'generator', type: 'function', z: TAB.id, func: ARRIVALS, outputs: 2, wires: [['gate'], ['start-out']] },
        { id: 'sink', type: 'function', z: TAB.id, func: SINK, outputs: 1, wires: [] },
        { id: 'watch', type: 'status', z: TAB.id, scope: ['send'], wires: [['queue']] },
        { id: 'queue', type: 'function', z: TAB.id, func: QUEUE_WATCH, outputs: 1, wires: [] },
        ...reportNodes('report', '/bench/report', "msg.payload = flow.get('bench') || null;\nreturn msg;"),
        ...probeNodes(),
      ]);
    await red.deploy(flow);
    await post(red, '/bench/start', { count: options.arrivals, subjects: options.store.subjects });
    // Done when every arrival was handed on and the refusals stopped for a second (the rest waits or is held).
    let previous = -1;
    let stable = 0;
    const r = await waitForReport<ArrivalReport>(
      red,
      '/bench/report',
      (report) => {
        stable = report.emitted === report.count && report.completed === previous ? stable + 1 : 0;
        previous = report.completed;
        return stable >= 5;
      },
      120_000,
      'arrivals under a stalled API',
    );
    const { peak } = await report<{ peak: number }>(red, '/bench/probe/peak');
    const queueFull = r.errors['queue-full'] ?? 0;
    const waiting = r.emitted - r.completed;
    return {
      arrivals: r.count,
      maxQueue: options.maxQueue,
      queueFull,
      otherFailures: r.failed - queueFull,
      held: mock.held,
      inFlight: Math.max(0, waiting - r.maxQueue),
      maxQueueSeen: r.maxQueue,
      startRssMiB: mib(r.startRss),
      peakRssMiB: mib(peak),
      growthMiB: mib(peak - r.startRss),
      // Everything not refused waits in the queue or was started (at most THROUGHPUT a second) and is held.
      withinBound:
        r.maxQueue <= options.maxQueue &&
        waiting <= options.maxQueue + THROUGHPUT * Math.ceil((r.lastAt - r.startedAt) / 1000 + 1),
    };
  } finally {
    await red.stop();
    await mock.close();
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}
