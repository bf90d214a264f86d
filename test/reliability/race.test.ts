import assert from 'node:assert/strict';
import { Sandbox } from '../../lib/sandbox/sandbox';
import { type RunningSandboxServer, startSandboxServer } from '../../lib/sandbox/server';
import {
  configNodes,
  countingNodes,
  functionNode,
  openLedger,
  randomStoreKeys,
  readCounts,
  seedConsents,
  sqliteIn,
  webhookToStopHandler,
} from './support/flows';
import { createUserDir, NodeRedProcess } from './support/node-red-process';
import { BUSINESS, postWebhook, signedTextWebhook, subjectPhone } from './support/webhooks';

/**
 * Issue 7, "Race": a consent-gated broadcast runs in a real Node-RED process (consent-gate -> whatsapp-send ->
 * the standalone sandbox) while STOPs arrive for some of its recipients: no message is accepted by the sandbox
 * for a subject after the moment their STOP was acknowledged (the 200 of their webhook). The sandbox, the
 * STOP client and both clocks are in this process.
 */
const TYPES = ['whatsapp-config', 'consent-store', 'whatsapp-webhook', 'stop-handler', 'consent-gate', 'whatsapp-send'];
const APP_SECRET = 'h11-race-app-secret';
const ACCESS_TOKEN = 'h11-race-access-token';
const RECIPIENTS = 10_000;
/** A high-throughput number: 10,000 messages in about 20 s rather than two minutes at Meta's default 80. */
const THROUGHPUT = 500;
const STOPPERS = 100;
/** Stopper k is a recipient far back in the queue and sends STOP once this many messages were accepted. */
const stopperIndex = (k: number) => 4000 + 60 * k;
const stopAfterAccepted = (k: number) => 500 + 30 * k;
/**
 * A stopper is at least this far behind the last accepted message when their STOP goes out (4 s at THROUGHPUT),
 * even when the STOPs fall behind their plan on a loaded machine.
 */
const STOPPER_LEAD = 2000;
const TEMPLATE = { type: 'template', template: { name: 'news_weekly', language: { code: 'de' } } };

function broadcastFlow(): Record<string, unknown>[] {
  return [
    { id: 'bc-in', z: 'tab1', type: 'http in', url: '/broadcast', method: 'post', upload: false, wires: [['fan-out']] },
    functionNode(
      'fan-out',
      `const payload = ${JSON.stringify(TEMPLATE)};
for (const to of msg.payload.recipients) node.send([{ to, payload: JSON.parse(JSON.stringify(payload)) }, null]);
msg.payload = { queued: msg.payload.recipients.length };
return [null, msg];`,
      [['gate1'], ['bc-out']],
      2,
    ),
    { id: 'bc-out', z: 'tab1', type: 'http response', statusCode: '', headers: {}, wires: [] },
    {
      id: 'gate1',
      z: 'tab1',
      type: 'consent-gate',
      store: 'store1',
      purpose: 'news',
      wires: [['send1'], ['count-blocked']],
    },
    { id: 'send1', z: 'tab1', type: 'whatsapp-send', whatsapp: 'wa1', wires: [['count-sent'], ['count-failed']] },
    ...countingNodes(['blocked', 'sent', 'failed']),
  ];
}

async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('reliability: STOPs racing a consent-gated broadcast', function () {
  this.timeout(240000);
  let sandbox: Sandbox;
  let server: RunningSandboxServer;
  let red: NodeRedProcess | undefined;

  before(async () => {
    sandbox = new Sandbox({ historyLimit: RECIPIENTS * 2 });
    server = await startSandboxServer({ sandbox });
    sandbox.registerNumber({
      ...BUSINESS,
      accessToken: ACCESS_TOKEN,
      appSecret: APP_SECRET,
      // Above the sender's pace, so that no 130429 retry blurs the picture.
      throughput: THROUGHPUT * 4,
      webhookUrls: () => [],
      statusWebhooks: false,
    });
    sandbox.registerTemplate({ name: 'news_weekly', language: 'de', category: 'MARKETING', body: 'Neu diese Woche' });
  });

  after(async () => {
    await red?.remove();
    await server?.close();
  });

  it('accepts no message for a subject after their STOP was answered 200', async () => {
    const userDir = createUserDir(TYPES);
    const backend = sqliteIn(userDir);
    const keys = randomStoreKeys();
    const phones = Array.from({ length: RECIPIENTS }, (_, i) => subjectPhone(30_000_000 + i));
    let started = Date.now();
    const seeding = await openLedger(backend, keys);
    await seedConsents(seeding, phones);
    await seeding.close();
    const seedMs = Date.now() - started;

    red = await NodeRedProcess.start({ types: TYPES }, userDir);
    await red.deploy([
      ...configNodes(backend, {
        appSecret: APP_SECRET,
        keys,
        apiBaseUrl: server.url,
        accessToken: ACCESS_TOKEN,
        throughput: THROUGHPUT,
        maxQueue: RECIPIENTS * 2,
      }),
      ...webhookToStopHandler(),
      ...broadcastFlow(),
    ]);

    started = Date.now();
    const broadcast = await fetch(`${red.url}/broadcast`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ recipients: phones }),
    });
    assert.equal(broadcast.status, 200, await broadcast.text());

    const ackedAt = new Map<string, number>();
    let nextIndex = 0;
    for (let k = 0; k < STOPPERS; k++) {
      await until(() => sandbox.accepted().length >= stopAfterAccepted(k), `${stopAfterAccepted(k)} accepted`, 60000);
      const index = Math.max(stopperIndex(k), sandbox.accepted().length + STOPPER_LEAD, nextIndex);
      assert.ok(index < RECIPIENTS, `stopper ${k} found no recipient far enough back in the queue`);
      nextIndex = index + 1;
      const phone = phones[index];
      const answer = await postWebhook(`${red.url}/whatsapp`, signedTextWebhook(phone, 'STOP', APP_SECRET));
      assert.equal(answer.status, 200);
      ackedAt.set(phone.slice(1), answer.at);
    }

    const url = red.url;
    let counts: Record<string, number> = {};
    await until(
      async () => {
        counts = await readCounts(url);
        return (counts.sent ?? 0) + (counts.blocked ?? 0) + (counts.failed ?? 0) >= RECIPIENTS;
      },
      'every message of the broadcast to be sent, blocked or refused',
      120000,
    );
    const broadcastMs = Date.now() - started;

    const accepted = sandbox.accepted(BUSINESS.phoneNumberId);
    const late = accepted.filter((m) => ackedAt.has(m.waId) && m.at > (ackedAt.get(m.waId) as number));
    assert.deepEqual(
      late.map((m) => `${m.waId} accepted ${m.at - (ackedAt.get(m.waId) as number)} ms after the STOP's 200`),
      [],
    );

    const reached = new Set(accepted.map((m) => m.waId));
    const withheld = [...ackedAt.keys()].filter((waId) => !reached.has(waId)).length;
    // The STOPs raced the broadcast: their subjects' messages had passed the gate and waited in the send queue.
    assert.equal(withheld, STOPPERS, 'every stopper was behind their STOP in the queue');
    assert.equal(accepted.length, RECIPIENTS - STOPPERS);
    assert.equal(counts.sent, RECIPIENTS - STOPPERS);
    assert.equal((counts.blocked ?? 0) + (counts.failed ?? 0), STOPPERS);
    assert.equal(counts.failed ?? 0, counts['failed:send-consent-ended'] ?? 0, JSON.stringify(counts));
    console.log(
      `      race figures: ${JSON.stringify({
        recipients: RECIPIENTS,
        throughput: THROUGHPUT,
        stoppers: STOPPERS,
        accepted: accepted.length,
        blockedAtGate: counts.blocked ?? 0,
        refusedWhenLeavingQueue: counts.failed ?? 0,
        lateMessages: late.length,
        seedMs,
        broadcastMs,
      })}`,
    );
  });
});
