import assert from 'node:assert/strict';
import http from 'node:http';
import { dirname } from 'node:path';
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from 'node-red';
import { buildMessageWebhook } from '../../lib/webhook/build';
import { signPayload } from '../../lib/webhook/signature';
import consentStoreNode, { type ConsentStoreNode } from '../../nodes/consent-store';
import { FirstHopCompletion, type Unfinished } from '../../nodes/shared/completion';
import stopHandlerNode from '../../nodes/stop-handler';
import configNode from '../../nodes/whatsapp-config';
import webhookNode from '../../nodes/whatsapp-webhook';
import { helper, nodeRedPath } from '../helpers/node-red';
import { mountHttpApps } from '../helpers/node-red-http';
import { callsOf, sleep, storeCredentials, storeNode, tempDir, until } from './consent-fixtures';

/**
 * The webhook writes a message's de-duplication mark as done only after the nodes wired to it finished with it:
 * a wired node that fails (or a completion wait that times out) makes the webhook answer 500 and release the
 * claim, so Meta's retry is handled instead of being dropped as a duplicate (a STOP lost for good).
 * node-red-node-test-helper hands nodes no RED.hooks; these tests give them the runtime's own hooks module, the
 * one Node-RED's Node.js triggers onComplete on, so the real completion path runs here.
 */
const APP_SECRET = 'redelivery-app-secret';
const NUMBER = { phoneNumberId: '106540352242922', displayPhoneNumber: '+49 30 1234567' };

/** The hooks module of the Node-RED runtime under test (the same instance its Node.js calls). */
function runtimeHooks(): unknown {
  const runtimeDir = dirname(require.resolve('@node-red/runtime', { paths: [dirname(nodeRedPath)] }));
  return require(require.resolve('@node-red/util', { paths: [runtimeDir] })).hooks;
}

function withRuntimeHooks(RED: NodeAPI): void {
  (RED as unknown as { hooks: unknown }).hooks = runtimeHooks();
}

/** How often the wired node saw each payload. */
const attempts = new Map<string, number>();

/**
 * A wired node with an input handler that takes `done`, as stop-handler has: payloads starting "fail-once" fail
 * the first time (a withdrawal that could not be committed), "bad-number" fails as an invalid sender always
 * would, "hang" never finishes; the rest finish on the next turn.
 */
function flakyNodeType(RED: NodeAPI): void {
  function Flaky(this: Node, config: Record<string, unknown>): void {
    RED.nodes.createNode(this, config as never);
    this.on('input', (msg: NodeMessageInFlow, _send: unknown, done: (err?: Error) => void) => {
      const text = String(msg.payload);
      const count = (attempts.get(text) ?? 0) + 1;
      attempts.set(text, count);
      if (text.startsWith('fail-once') && count === 1) return done(new Error('the withdrawal was not committed'));
      if (text.startsWith('bad-number'))
        return done(Object.assign(new Error('invalid number'), { code: 'invalid-phone' }));
      if (text.startsWith('bad-user-id'))
        return done(Object.assign(new Error('invalid user id'), { code: 'invalid-subject' }));
      // What the ledger answers for a value a node's settings gave it: the business's to fix, not the sender's.
      if (text.startsWith('bad-setting') && count === 1)
        return done(Object.assign(new Error('The field keyword is too long'), { code: 'invalid-input' }));
      if (text.startsWith('hang')) return;
      setImmediate(() => done());
    });
  }
  RED.nodes.registerType('flaky-test', Flaky as never);
}

function flow(): Record<string, unknown>[] {
  return [
    { id: 'cfg', type: 'whatsapp-config', name: 'test', mode: 'cloud', phoneNumberId: NUMBER.phoneNumberId },
    {
      id: 'hook',
      type: 'whatsapp-webhook',
      path: '/whatsapp',
      whatsapp: 'cfg',
      store: 'store',
      wires: [['flaky'], [], []],
    },
    { id: 'flaky', type: 'flaky-test' },
  ];
}

interface Answer {
  status: number;
  body: string;
}

function signedPost(payload: object): Promise<Answer> {
  const bytes = Buffer.from(JSON.stringify(payload), 'utf8');
  return new Promise((resolve, reject) => {
    const req = http.request(`${helper.url()}/whatsapp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': String(bytes.length),
        'x-hub-signature-256': signPayload(bytes, APP_SECRET),
      },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(bytes);
  });
}

/** One inbound text message, or several in one POST (Meta batches). */
function inbound(...messages: [text: string, messageId: string][]): object {
  const bodies = messages.map(([text, messageId]) =>
    buildMessageWebhook({
      ...NUMBER,
      waId: '4915123456789',
      message: { type: 'text', text: { body: text } },
      messageId,
    }),
  ) as { entry: { changes: unknown[] }[] }[];
  const [first, ...rest] = bodies;
  for (const body of rest) first.entry[0].changes.push(...body.entry[0].changes);
  return first;
}

describe('whatsapp-webhook: a failure before the 200 never turns the retry into a duplicate', () => {
  let dir: ReturnType<typeof tempDir>;

  beforeEach(async () => {
    attempts.clear();
    dir = tempDir();
    await helper.startServer();
  });

  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    dir.remove();
  });

  async function load(hooks = true) {
    const mount = mountHttpApps();
    const nodes = [
      configNode,
      webhookNode,
      consentStoreNode,
      flakyNodeType,
      mount,
      ...(hooks ? [withRuntimeHooks] : []),
    ];
    await helper.load(nodes as never, [...flow(), storeNode('store', dir.path)] as never, {
      cfg: { appSecret: APP_SECRET, verifyToken: 'v' },
      store: storeCredentials(),
    });
    return (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
  }

  it('a wired node failing the first time: 500, the retry is emitted again and completed, the next is a duplicate', async () => {
    const ledger = await load();
    const stop = inbound(['fail-once STOP', 'wamid.fail-1']);
    const failed = await signedPost(stop);
    assert.equal(failed.status, 500, 'answered although the wired node failed');
    // Why, for whoever reads the answer by hand; the node's own error stays in the log.
    assert.match(failed.body, /^500 webhook-not-handled: 1 webhook items were not handled by the wired nodes/);
    assert.doesNotMatch(failed.body, /fail-once|not committed/);
    assert.equal(attempts.get('fail-once STOP'), 1);
    assert.equal((await signedPost(stop)).status, 200);
    assert.equal(attempts.get('fail-once STOP'), 2, "Meta's retry was dropped as a duplicate");
    assert.equal((await signedPost(stop)).status, 200);
    assert.equal(attempts.get('fail-once STOP'), 2, 'a handled message was emitted twice');
    assert.equal(await ledger.claim('msg:wamid.fail-1', 60_000), 'done', 'the ledger holds the mark as done');
    const warned = callsOf('warn', 'hook').map((args) => String(args[0]));
    assert.ok(
      warned.some((text) => /1 webhook items were not handled/.test(text)),
      warned.join('; '),
    );
  });

  it('in a batch only the failed message is emitted again', async () => {
    await load();
    const batch = inbound(['ok in batch', 'wamid.batch-1'], ['fail-once in batch', 'wamid.batch-2']);
    assert.equal((await signedPost(batch)).status, 500);
    assert.equal((await signedPost(batch)).status, 200);
    assert.deepEqual(Object.fromEntries(attempts), { 'ok in batch': 1, 'fail-once in batch': 2 });
  });

  it('a claim whose process died is reprocessed once its lease ran out', async () => {
    const ledger = await load();
    // The claim a crashed delivery (or instance) left behind, with a lease that has run out.
    assert.equal(await ledger.claim('msg:wamid.orphan-1', 1), 'claimed');
    await sleep(5);
    assert.equal((await signedPost(inbound(['after the crash', 'wamid.orphan-1']))).status, 200);
    assert.equal(attempts.get('after the crash'), 1);
    assert.equal(await ledger.claim('msg:wamid.orphan-1', 60_000), 'done');
  });

  it('a message another delivery is still working on is answered 503 and not emitted; its retry is', async () => {
    const ledger = await load();
    assert.equal(await ledger.claim('msg:wamid.busy-1', 60_000), 'claimed');
    const body = inbound(['in the other delivery', 'wamid.busy-1'], ['new here', 'wamid.busy-2']);
    const busy = await signedPost(body);
    assert.equal(busy.status, 503);
    assert.match(busy.body, /^503 webhook-in-progress: /);
    assert.equal(attempts.get('in the other delivery'), undefined);
    assert.equal(attempts.get('new here'), 1, 'the rest of the POST is handled');
    // The other delivery failed and released its claim: Meta's retry of the 503 handles the message.
    await ledger.release('msg:wamid.busy-1');
    assert.equal((await signedPost(body)).status, 200);
    assert.deepEqual(Object.fromEntries(attempts), { 'in the other delivery': 1, 'new here': 1 });
  });

  it('an error no delivery can cure (an invalid sender) counts as handled: 200, and the retry is a duplicate', async () => {
    await load();
    for (const [text, id] of [
      ['bad-number', 'wamid.bad-1'],
      ['bad-user-id', 'wamid.bad-2'],
    ]) {
      const body = inbound([text, id]);
      assert.equal((await signedPost(body)).status, 200, text);
      assert.equal((await signedPost(body)).status, 200, text);
      assert.equal(attempts.get(text), 1, text);
    }
  });

  it("a value the ledger refuses from the settings (invalid-input) is not the sender's doing: 500, and the retry is handled", async () => {
    await load();
    const body = inbound(['bad-setting STOP', 'wamid.setting-1']);
    assert.equal((await signedPost(body)).status, 500, 'acknowledged although nothing was withdrawn');
    assert.ok(
      callsOf('warn', 'hook').some(([text]) => /1 webhook items were not handled/.test(String(text))),
      'the webhook says Meta delivers again',
    );
    assert.equal((await signedPost(body)).status, 200);
    assert.equal(attempts.get('bad-setting STOP'), 2, "Meta's retry was dropped as a duplicate");
    assert.equal((await signedPost(body)).status, 200);
    assert.equal(attempts.get('bad-setting STOP'), 2);
  });

  it('without RED.hooks (node-red-node-test-helper) completes right after sending, as before', async () => {
    await load(false);
    const body = inbound(['fail-once unobserved', 'wamid.nohooks-1']);
    assert.equal((await signedPost(body)).status, 200);
    await until(() => attempts.get('fail-once unobserved') === 1, 'the message');
    assert.equal((await signedPost(body)).status, 200);
    await sleep(20);
    assert.equal(attempts.get('fail-once unobserved'), 1);
  });
});

describe('whatsapp-webhook with a real stop-handler: a recognised STOP is withdrawn before the 200', () => {
  let dir: ReturnType<typeof tempDir>;
  /** Opt-out phrases longer than the 64 characters the ledger once kept with a withdrawal. */
  const PHRASE = 'Bitte tragen Sie mich sofort aus allen Ihren WhatsApp Verteilern aus danke';
  const LONGEST = `Ich moechte ab sofort keine Nachrichten mehr ${'und keine Angebote '.repeat(7)}erhalten`;

  beforeEach(async () => {
    dir = tempDir();
    await helper.startServer();
  });

  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    dir.remove();
  });

  async function load(keywords: string) {
    await helper.load(
      [configNode, webhookNode, consentStoreNode, stopHandlerNode, mountHttpApps(), withRuntimeHooks] as never,
      [
        { id: 'cfg', type: 'whatsapp-config', name: 'test', mode: 'cloud', phoneNumberId: NUMBER.phoneNumberId },
        {
          id: 'hook',
          type: 'whatsapp-webhook',
          path: '/whatsapp',
          whatsapp: 'cfg',
          store: 'store',
          wires: [['stop'], ['stop'], ['stop']],
        },
        { id: 'stop', type: 'stop-handler', store: 'store', keywords, wires: [['confirm'], ['other']] },
        { id: 'confirm', type: 'helper' },
        { id: 'other', type: 'helper' },
        storeNode('store', dir.path),
      ] as never,
      { cfg: { appSecret: APP_SECRET, verifyToken: 'v' }, store: storeCredentials() },
    );
    const ledger = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
    await ledger.giveConsent({
      subject: '+4915123456789',
      purpose: 'news',
      wording: 'News',
      method: 'keyword',
      actor: 't',
    });
    return ledger;
  }

  it('a configured opt-out phrase longer than 64 characters withdraws, and only then is the POST acknowledged', async () => {
    assert.ok(PHRASE.length > 64 && LONGEST.length > 180 && LONGEST.length <= 200, String(LONGEST.length));
    const ledger = await load(`STOP\n${PHRASE}\n${LONGEST}`);
    const confirmations: NodeMessage[] = [];
    helper.getNode('confirm').on('input', (msg: NodeMessage) => confirmations.push(msg));
    for (const [text, id] of [
      [PHRASE, 'wamid.phrase-1'],
      [`${LONGEST}!`, 'wamid.phrase-2'],
    ]) {
      await ledger.giveConsent({
        subject: '+4915123456789',
        purpose: 'news',
        wording: 'News',
        method: 'keyword',
        actor: 't',
      });
      assert.equal((await signedPost(inbound([text, id]))).status, 200, text);
      const record = await ledger.getConsent('+4915123456789', 'news');
      assert.equal(record?.status, 'withdrawn', text);
      assert.equal(record?.withdrawalKeyword, text.replace(/!$/, '').toUpperCase(), text);
    }
    assert.equal(confirmations.length, 2);
    assert.deepEqual(callsOf('error', 'stop'), []);
  });
});

describe('FirstHopCompletion reports what did not finish cleanly', () => {
  let results: Unfinished[][];

  /** A node that sends three messages to its wired node and records what sendAndWait resolved with. */
  function probeNodeType(RED: NodeAPI): void {
    function Probe(this: Node, config: Record<string, unknown>): void {
      RED.nodes.createNode(this, config as never);
      // Long enough for the wired node to finish on a loaded machine; only the hanging message waits it out.
      const completion = new FirstHopCompletion(RED, 2000);
      this.on('input', (msg: NodeMessageInFlow) => {
        const texts = String(msg.payload).split(',');
        const outputs: NodeMessage[][] = [texts.map((payload) => ({ payload }))];
        completion.sendAndWait(this, outputs).then((unfinished) => results.push(unfinished));
      });
      this.on('close', () => completion.close());
    }
    RED.nodes.registerType('completion-probe', Probe as never);
  }

  beforeEach(async () => {
    attempts.clear();
    results = [];
    await helper.startServer();
    await helper.load(
      [flakyNodeType, probeNodeType, withRuntimeHooks] as never,
      [
        { id: 'probe', type: 'completion-probe', wires: [['flaky']] },
        { id: 'flaky', type: 'flaky-test' },
      ] as never,
    );
  });

  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
  });

  it('nothing when every message finished', async () => {
    helper.getNode('probe').receive({ payload: 'a,b' });
    await until(() => results.length === 1, 'the completion');
    assert.deepEqual(results[0], []);
  });

  it('the message a wired node failed on, with its error, and the one that did not finish in time', async () => {
    helper.getNode('probe').receive({ payload: 'a,fail-once x,hang y' });
    await until(() => results.length === 1, 'the completion');
    const byText = new Map(results[0].map((u) => [String(u.msg.payload), u.error]));
    assert.deepEqual([...byText.keys()].sort(), ['fail-once x', 'hang y']);
    assert.match(String((byText.get('fail-once x') as Error).message), /not committed/);
    assert.equal(byText.get('hang y'), undefined, 'a timeout carries no error');
  });
});
