import assert from 'node:assert/strict';
import type http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { CloudApiClient } from '../../lib/cloud-api/client';
import type { WhatsAppConfigNode } from '../../nodes/shared/types';
import configNode from '../../nodes/whatsapp-config';
import sendNode from '../../nodes/whatsapp-send';
import { helper } from '../helpers/node-red';
import { json, MockGraph, metaError, okBody, raw, type SeenRequest } from '../lib/cloud-api/mock-graph';
import { catchNode, until } from '../nodes/consent-fixtures';

/**
 * Issue 7, API faults: whatsapp-send against a Graph API stand-in that answers each input with its own script
 * of faults (130429, 131056, 5xx with and without a Graph error body, dropped connections, malformed JSON,
 * slow answers past the timeout). Retries follow lib/cloud-api/retry.ts, no input is accepted by the API
 * twice, final failures reach output 2 (or Catch when it is not wired), and a stalled API keeps memory bounded
 * by the queue limit.
 */
const PHONE_NUMBER_ID = '106540352242922';
const ACCESS_TOKEN = 'faults-access-token-55d1';
const TO = '+4915112345678';
const MAX_ATTEMPTS = 5; // DEFAULT_RETRY_POLICY.maxAttempts
/** Long enough that no answered request times out on a loaded machine; only 'slow-accept' reaches it. */
const TIMEOUT_MS = 2500;

type Fault =
  | 'ok'
  | '130429'
  | '131056'
  | '500-html'
  | '503-html'
  | '503-131016'
  | 'drop'
  | 'bad-json-500'
  | 'bad-json-200'
  | '131047'
  | 'slow-accept'
  | '80007-wait';

/**
 * Faults after which the policy tries again. Not 'drop': the connection went after the API read the message; nor a
 * gateway's 500 without Meta's body ('500-html', 'bad-json-500'): the API may have taken it and not answered in time.
 */
const RETRIED: ReadonlySet<Fault> = new Set(['130429', '131056', '503-html', '503-131016']);
/** Faults the API answers after it has taken the message: the message may be delivered. */
const ACCEPTING: ReadonlySet<Fault> = new Set(['ok', 'bad-json-200', 'slow-accept']);
/** The code msg.error carries for a final failure. */
const FINAL_CODE: Partial<Record<Fault, number>> = {
  '130429': 130429,
  '131056': 131056,
  '503-131016': 131016,
  '131047': 131047,
};

/** Faults after which the message may have been taken: the failure says so (msg.error.deliveryUnknown). */
const DELIVERY_UNKNOWN: ReadonlySet<Fault> = new Set([
  'drop',
  'slow-accept',
  '500-html',
  'bad-json-500',
  'bad-json-200',
]);

interface Expectation {
  posts: number;
  sent: boolean;
  code?: number;
  deliveryUnknown?: boolean;
}

/** What the retry policy owes a script: attempts until success, a fault it does not retry, or the attempt limit. */
function expectationFor(script: Fault[]): Expectation {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const fault = script[attempt - 1] ?? 'ok';
    if (fault === 'ok') return { posts: attempt, sent: true };
    if (!RETRIED.has(fault) || attempt === MAX_ATTEMPTS)
      return {
        posts: attempt,
        sent: false,
        code: FINAL_CODE[fault] ?? 0,
        deliveryUnknown: DELIVERY_UNKNOWN.has(fault),
      };
  }
  throw new Error('unreachable');
}

/** The Graph stand-in: each POST is answered from the script of the input its text names ("[in-7] ..."). */
class ScriptedGraph {
  readonly graph = new MockGraph();
  readonly scripts = new Map<number, Fault[]>();
  readonly posts = new Map<number, number>();
  readonly accepted = new Map<number, number>();

  constructor() {
    this.graph.always((req, res) => this.answer(req, res));
  }

  private answer(req: SeenRequest, res: http.ServerResponse): void {
    if (req.method !== 'POST') {
      json(res, 200, { display_phone_number: '+49 30 1234567', verified_name: 'Shop', quality_rating: 'GREEN' });
      return;
    }
    const text = String((req.body as { text?: { body?: string } })?.text?.body ?? '');
    const input = Number(/\[in-(\d+)\]/.exec(text)?.[1] ?? -1);
    const attempt = this.posts.get(input) ?? 0;
    this.posts.set(input, attempt + 1);
    const fault = this.scripts.get(input)?.[attempt] ?? 'ok';
    if (ACCEPTING.has(fault)) this.accepted.set(input, (this.accepted.get(input) ?? 0) + 1);
    const id = `wamid.in-${input}-${attempt}`;
    switch (fault) {
      case 'ok':
        json(res, 200, okBody(id));
        return;
      case '130429':
        metaError(400, 130429, 'Rate limit hit')(req, res);
        return;
      case '131056':
        metaError(400, 131056, '(Business Account, Consumer Account) pair rate limit hit')(req, res);
        return;
      case '500-html':
        raw(500, '<html><body>Internal Server Error</body></html>')(req, res);
        return;
      case '503-html':
        raw(503, '<html><body>Service Unavailable</body></html>')(req, res);
        return;
      case '503-131016':
        metaError(503, 131016, 'Service unavailable')(req, res);
        return;
      case 'drop':
        res.socket?.destroy();
        return;
      case 'bad-json-500':
        raw(500, '{"error": {"code": ', 'application/json')(req, res);
        return;
      case 'bad-json-200':
        raw(200, '{"messages": [{"id": "wamid.cut', 'application/json')(req, res);
        return;
      case '131047':
        metaError(400, 131047, 'Re-engagement message')(req, res);
        return;
      case '80007-wait':
        // The WABA's rate limit, with the wait in minutes in the business use case header.
        metaError(400, 80007, 'Rate limit issues', '', {
          'X-Business-Use-Case-Usage': JSON.stringify({
            '102290129340398': [{ type: 'whatsapp_business_management', estimated_time_to_regain_access: 5 }],
          }),
        })(req, res);
        return;
      case 'slow-accept':
        // Taken and carried out, but no answer comes before the client gives up (none comes at all: a late one
        // would only race the timeout on a slow machine). The client's timeout closes the connection.
        return;
    }
  }
}

function sendFlow(graphUrl: string, config: Record<string, unknown> = {}): Record<string, unknown>[] {
  return [
    { id: 'f1', type: 'tab', label: 'faults' },
    {
      id: 'cfg',
      type: 'whatsapp-config',
      mode: 'cloud',
      apiBaseUrl: graphUrl,
      apiVersion: 'v25.0',
      phoneNumberId: PHONE_NUMBER_ID,
      timeoutMs: TIMEOUT_MS,
      ...config,
    },
    { id: 'send', z: 'f1', type: 'whatsapp-send', whatsapp: 'cfg', wires: [['sent'], ['failed']] },
    // Failure output not wired: final failures go to Catch.
    { id: 'sendCatch', z: 'f1', type: 'whatsapp-send', whatsapp: 'cfg', wires: [['sent']] },
    { id: 'catcher', z: 'f1', type: 'catch', scope: ['sendCatch'], uncaught: false, wires: [['caught']] },
    { id: 'sent', z: 'f1', type: 'helper' },
    { id: 'failed', z: 'f1', type: 'helper' },
    { id: 'caught', z: 'f1', type: 'helper' },
  ];
}

async function loadSendFlow(graphUrl: string, config: Record<string, unknown> = {}): Promise<void> {
  await helper.load(
    [configNode, sendNode, catchNode()] as never,
    sendFlow(graphUrl, config) as never,
    {
      cfg: { accessToken: ACCESS_TOKEN, appSecret: 'faults-app-secret' },
    } as never,
  );
}

function inputOf(msg: Record<string, unknown>): number {
  return Number(/\[in-(\d+)\]/.exec(String(msg.payload))?.[1] ?? /\[in-(\d+)\]/.exec(String(msg.text))?.[1] ?? -1);
}

describe('reliability: Cloud API faults through whatsapp-send', function () {
  this.timeout(120000);
  let api: ScriptedGraph;
  let url: string;
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);

  before(() => process.on('warning', onWarning));
  after(() => {
    process.off('warning', onWarning);
    // Many requests in flight share one abort signal; Node must not call that a leak in the Node-RED log.
    assert.deepEqual(
      warnings.filter((w) => /MaxListeners/.test(w)),
      [],
    );
  });

  beforeEach(async () => {
    api = new ScriptedGraph();
    url = await api.graph.start();
  });

  afterEach(async () => {
    await helper.unload();
    await api.graph.stop();
  });

  it('retries per the policy, never lets the API take one input twice, and reports final failures', async () => {
    const faults: Fault[] = ['130429', '131056', '500-html', '503-html', '503-131016', 'drop', 'bad-json-500'];
    const scripts: Fault[][] = [
      ['ok'],
      ...faults.map((fault) => [fault]),
      ...faults.map((fault) => [fault, fault]),
      [...faults.slice(0, 5)],
      ['130429', '130429', '130429', '130429', '130429'],
      ['131047'],
      ['130429', '131047'],
      ['bad-json-200'],
      ['slow-accept'],
      ['drop', 'slow-accept'],
      ['503-131016', 'bad-json-200'],
    ];
    for (const [input, script] of scripts.entries()) api.scripts.set(input, script);
    await loadSendFlow(url);
    const results = new Map<number, Record<string, unknown>>();
    const outcome = new Map<number, 'sent' | 'failed'>();
    // Counted here and asserted below: Node-RED turns an error thrown in an input listener into node.error.
    const endings = new Map<number, number>();
    const ended = (input: number, how: 'sent' | 'failed', msg: Record<string, unknown>) => {
      endings.set(input, (endings.get(input) ?? 0) + 1);
      outcome.set(input, how);
      results.set(input, msg);
    };
    helper.getNode('sent').on('input', (msg: Record<string, unknown>) => {
      ended(Number(String((msg.whatsapp as { messageId?: string }).messageId).split('-')[1]), 'sent', msg);
    });
    helper.getNode('failed').on('input', (msg: Record<string, unknown>) => ended(inputOf(msg), 'failed', msg));
    // Each input to its own recipient: messages to one recipient wait for each other, so on one number the
    // backoffs of all scripts would add up (up to 29 s) and the test would measure the sum of random jitter.
    scripts.forEach((_script, input) => {
      const to = `+49151123456${String(input).padStart(2, '0')}`;
      helper.getNode('send').receive({ to, payload: `[in-${input}] Ihre Bestellung ist unterwegs.` });
    });
    // The longest script waits up to 0.5 + 1 + 2 + 4 s of backoff (full jitter) before its last attempt; the
    // deadline is far beyond that, so only a lost input reaches it.
    for (let i = 0; i < 1800 && outcome.size < scripts.length; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(outcome.size, scripts.length);
    // A moment for a second ending of any input to arrive, then each must have ended exactly once.
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      [...endings].filter(([, count]) => count !== 1),
      [],
      'inputs that ended more than once',
    );

    let retries = 0;
    scripts.forEach((script, input) => {
      const expected = expectationFor(script);
      const what = `input ${input} (${script.join(', ')})`;
      assert.equal(api.posts.get(input), expected.posts, `${what}: POSTs`);
      assert.ok((api.accepted.get(input) ?? 0) <= 1, `${what}: the API took it ${api.accepted.get(input)} times`);
      assert.equal(outcome.get(input), expected.sent ? 'sent' : 'failed', what);
      const msg = results.get(input) as Record<string, unknown>;
      if (!expected.sent) {
        const error = msg.error as { code?: number; retryable?: boolean; title?: string; deliveryUnknown?: boolean };
        assert.equal(error.code, expected.code, `${what}: msg.error ${JSON.stringify(error)}`);
        assert.equal(error.deliveryUnknown === true, expected.deliveryUnknown, `${what}: ${JSON.stringify(error)}`);
        if (expected.deliveryUnknown) assert.equal(error.retryable, false, `${what}: must not invite a resend`);
        assert.doesNotMatch(JSON.stringify(msg.error), new RegExp(ACCESS_TOKEN));
      }
      retries += expected.posts - 1;
    });
    console.log(
      `      API faults: ${scripts.length} inputs, ${[...api.posts.values()].reduce((a, b) => a + b, 0)} POSTs ` +
        `(${retries} retries), ${[...outcome.values()].filter((o) => o === 'failed').length} final failures`,
    );
  });

  it('sends a final failure to Catch when the failure output is not wired', async () => {
    api.scripts.set(1, ['131047']);
    api.scripts.set(2, ['130429', '130429', '130429', '130429', '130429']);
    api.scripts.set(3, ['drop']);
    await loadSendFlow(url);
    const caught: Record<string, unknown>[] = [];
    helper.getNode('caught').on('input', (msg: Record<string, unknown>) => caught.push(msg));
    helper.getNode('sendCatch').receive({ to: TO, payload: '[in-1] Hallo' });
    helper.getNode('sendCatch').receive({ to: TO, payload: '[in-2] Hallo' });
    helper.getNode('sendCatch').receive({ to: '+4915112345679', payload: '[in-3] Hallo' });
    for (let i = 0; i < 400 && caught.length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(caught.length, 3);
    assert.deepEqual(caught.map(inputOf).sort(), [1, 2, 3]);
    for (const msg of caught) {
      const error = msg.error as { source?: { id?: string }; message?: string };
      assert.equal(error.source?.id, 'sendCatch');
      assert.match(String(error.message), inputOf(msg) === 3 ? /not sent again/ : /131047|130429/);
      assert.doesNotMatch(String(error.message), new RegExp(ACCESS_TOKEN));
    }
    assert.equal(api.posts.get(1), 1);
    assert.equal(api.posts.get(2), MAX_ATTEMPTS);
    assert.equal(api.posts.get(3), 1);
  });

  it('tells a Catch node what output 2 would: the wait Meta named and that nothing was sent', async () => {
    api.scripts.set(1, ['80007-wait']);
    await loadSendFlow(url);
    const caught: Record<string, unknown>[] = [];
    helper.getNode('caught').on('input', (msg: Record<string, unknown>) => caught.push(msg));
    helper.getNode('sendCatch').receive({ to: TO, payload: '[in-1] Hallo' });
    for (let i = 0; i < 200 && caught.length < 1; i++) await new Promise((r) => setTimeout(r, 50));
    helper.getNode('sendCatch').receive({ to: '+4915112345679', payload: '[in-2] Hallo' });
    for (let i = 0; i < 200 && caught.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    const [limited, held] = caught.map(
      (msg) =>
        msg.error as {
          message?: string;
          code?: string;
          cause?: { code?: number; retryAfterMs?: number; held?: boolean };
        },
    );
    assert.equal(limited.cause?.code, 80007);
    assert.equal(limited.cause?.retryAfterMs, 300_000);
    assert.match(String(limited.message), /80007.*300 s/);
    assert.equal(held.cause?.code, 80007);
    assert.ok(Number(held.cause?.retryAfterMs) > 0);
    assert.equal(limited.cause?.held, undefined);
    assert.equal(held.cause?.held, true, 'a Catch node tells the held message by a flag, not by its text');
    assert.match(String(held.message), /Not sent: after WhatsApp Cloud API error 80007/);
    assert.equal(api.posts.get(2), undefined, 'the held message never reached the API');
  });

  it('waits out an account rate limit for the time Meta names: later messages fail at once, unsent', async () => {
    api.scripts.set(1, ['80007-wait']);
    await loadSendFlow(url);
    const failed: Record<string, unknown>[] = [];
    helper.getNode('failed').on('input', (msg: Record<string, unknown>) => failed.push(msg));
    helper.getNode('send').receive({ to: TO, payload: '[in-1] Hallo' });
    for (let i = 0; i < 200 && failed.length < 1; i++) await new Promise((r) => setTimeout(r, 50));
    helper.getNode('send').receive({ to: '+4915112345679', payload: '[in-2] Hallo' });
    for (let i = 0; i < 200 && failed.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(failed.map(inputOf), [1, 2]);
    const [limited, held] = failed.map(
      (msg) => msg.error as { code?: number; retryable?: boolean; retryAfterMs?: number },
    );
    assert.deepEqual(limited, { ...limited, code: 80007, retryable: true, retryAfterMs: 300_000 });
    assert.equal(held.code, 80007);
    assert.equal(held.retryable, true);
    assert.ok(Number(held.retryAfterMs) > 240_000 && Number(held.retryAfterMs) <= 300_000, JSON.stringify(held));
    assert.equal(api.posts.get(1), 1, 'not tried again within the five minutes');
    assert.equal(api.posts.get(2), undefined, 'the second message never reached the API');
  });

  it('keeps memory bounded by the queue while 20,000 messages meet a stalled API', async () => {
    const MAX_QUEUE = 1000;
    const MESSAGES = 20000;
    // A stalled API: every POST hangs (the client's timeout is far away).
    api.graph.always(() => {});
    await loadSendFlow(url, { maxQueue: MAX_QUEUE, throughput: 1, timeoutMs: 600000 });
    const client: CloudApiClient = await (helper.getNode('cfg') as unknown as WhatsAppConfigNode).client();
    const failures: Record<string, number> = {};
    let sent = 0;
    helper.getNode('failed').on('input', (msg: Record<string, unknown>) => {
      const code = String((msg.error as { code?: unknown }).code);
      failures[code] = (failures[code] ?? 0) + 1;
    });
    helper.getNode('sent').on('input', () => {
      sent++;
    });
    const gc = exposeGc();
    // node-red-node-test-helper records every Node.send/status/log call in sinon spies: that is the harness's
    // memory, not the package's, so the records are dropped before each measurement.
    const forgetHarnessCalls = () =>
      (helper as unknown as { _sandbox: { resetHistory(): void } })._sandbox.resetHistory();
    forgetHarnessCalls();
    gc();
    const baseline = process.memoryUsage().heapUsed;
    let peak = baseline;
    let maxQueueSeen = 0;
    const sample = () => {
      forgetHarnessCalls();
      peak = Math.max(peak, process.memoryUsage().heapUsed);
      maxQueueSeen = Math.max(maxQueueSeen, client.stats().queueLength);
    };
    for (let i = 0; i < MESSAGES; i++) {
      helper.getNode('send').receive({ to: TO, payload: `[in-${i}] Angebot der Woche: 20 % auf alles.` });
      if (i % 500 === 0) sample();
    }
    // The sync part of every input ran; the queue decisions follow in microtasks and the outputs in setImmediate.
    await until(() => (failures['queue-full'] ?? 0) + client.stats().queueLength >= MESSAGES - 1, 'queue decisions');
    sample();
    gc();
    const settled = process.memoryUsage().heapUsed;
    const queued = client.stats().queueLength;
    const refused = failures['queue-full'] ?? 0;
    const started = MESSAGES - queued - refused;
    console.log(
      `      stalled API: ${MESSAGES} messages, queue ${queued}/${MAX_QUEUE}, ${refused} queue-full on output 2, ` +
        `${started} in flight; heap +${mb(peak - baseline)} MB at peak, +${mb(settled - baseline)} MB after GC`,
    );
    assert.equal(queued, MAX_QUEUE);
    assert.ok(maxQueueSeen <= MAX_QUEUE, `queue reached ${maxQueueSeen}`);
    // throughput 1: one request starts per second, so at most a couple are in flight by now.
    assert.ok(started >= 1 && started <= 3, `${started} requests started`);
    assert.equal(refused, MESSAGES - MAX_QUEUE - started);
    assert.equal(sent, 0);
    // What stays after a collection is the queue (1,000 waiting sends with their flow messages, a few MB), not
    // the 20,000 inputs: the 18,999 refused ones left on output 2 and are garbage.
    assert.ok(settled - baseline < 16 * 1024 * 1024, `heap grew by ${mb(settled - baseline)} MB`);
    assert.equal(api.graph.requests.filter((r) => r.method === 'POST').length <= started, true);
  });
});

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

/** A garbage collection on demand, for heap figures that do not depend on when V8 last collected. */
function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}
