import assert from 'node:assert/strict';
import {
  type Backend,
  configNodes,
  functionNode,
  openLedger,
  randomStoreKeys,
  type StoreKeys,
  seedConsents,
  webhookToStopHandler,
} from './support/flows';
import { createUserDir, NodeRedProcess } from './support/node-red-process';
import { dropSchema, freshSchema, PG_SKIP_LINE, postgresUrl } from './support/postgres';
import { type RoundRobinProxy, startRoundRobinProxy } from './support/proxy';
import { postWebhook, type SignedWebhook, signedTextWebhook, subjectPhone } from './support/webhooks';

/**
 * Issue 7, "Several instances": two real Node-RED processes share one PostgreSQL ledger behind a round-robin
 * proxy. Every inbound message is emitted exactly once although Meta's retries (and simultaneous copies) land
 * on the other instance, and a STOP taken by one instance is honoured by the other's next consent-gate check.
 */
const TYPES = ['whatsapp-config', 'consent-store', 'whatsapp-webhook', 'stop-handler', 'consent-gate'];
const APP_SECRET = 'h11-instances-app-secret';
const MESSAGES = 200;
const SENDERS = 20;

/** Non-STOP messages leave stop-handler on output 2 and are recorded; POST /gate asks consent-gate. */
function instanceFlow(): Record<string, unknown>[] {
  return [
    ...webhookToStopHandler([[], ['emitted']]),
    functionNode(
      'emitted',
      `const ids = flow.get('emitted') || [];
ids.push(msg.whatsapp.messageId);
flow.set('emitted', ids);
return null;`,
    ),
    {
      id: 'emitted-in',
      z: 'tab1',
      type: 'http in',
      url: '/emitted',
      method: 'get',
      upload: false,
      wires: [['emitted-fn']],
    },
    functionNode('emitted-fn', `msg.payload = flow.get('emitted') || [];\nreturn msg;`, [['answer']]),
    { id: 'gate-in', z: 'tab1', type: 'http in', url: '/gate', method: 'post', upload: false, wires: [['gate-to']] },
    functionNode('gate-to', `msg.to = msg.payload.to;\nreturn msg;`, [['gate1']]),
    {
      id: 'gate1',
      z: 'tab1',
      type: 'consent-gate',
      store: 'store1',
      purpose: 'news',
      wires: [['passed'], ['blocked']],
    },
    functionNode('passed', `msg.payload = 'passed';\nreturn msg;`, [['answer']]),
    functionNode('blocked', `msg.payload = msg.consent.reason;\nreturn msg;`, [['answer']]),
    { id: 'answer', z: 'tab1', type: 'http response', statusCode: '', headers: {}, wires: [] },
  ];
}

async function gateAnswer(red: NodeRedProcess, to: string): Promise<string> {
  const answer = await fetch(`${red.url}/gate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ to }),
  });
  return answer.text();
}

/** Meta's behaviour after a 503: deliver again (here at once) until the answer is 200. */
async function retryUntilOk(target: string, webhook: SignedWebhook): Promise<void> {
  // A deadline, not a number of attempts: two Node-RED processes and PostgreSQL share the machine's cores.
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const answer = await postWebhook(target, webhook);
    if (answer.status === 200) return;
    assert.equal(answer.status, 503);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`${webhook.messageId} was never answered 200`);
}

async function emittedBy(red: NodeRedProcess): Promise<string[]> {
  return (await (await fetch(`${red.url}/emitted`)).json()) as string[];
}

describe('reliability: two Node-RED instances on one PostgreSQL behind a round-robin proxy', function () {
  this.timeout(180000);
  const url = postgresUrl();
  const schema = freshSchema('h11_instances');
  const keys: StoreKeys = randomStoreKeys();
  const instances: NodeRedProcess[] = [];
  let proxy: RoundRobinProxy | undefined;
  const stopper = subjectPhone(40_000_000);
  const bystander = subjectPhone(40_000_001);

  before(async function () {
    if (!url) {
      console.log(`      ${PG_SKIP_LINE}`);
      return this.skip();
    }
    const backend: Backend = { kind: 'postgres', url, schema };
    const ledger = await openLedger(backend, keys);
    await seedConsents(ledger, [stopper, bystander]);
    await ledger.close();
    const flows = [...configNodes(backend, { appSecret: APP_SECRET, keys }), ...instanceFlow()];
    for (let i = 0; i < 2; i++) {
      const red = await NodeRedProcess.start({ types: TYPES }, createUserDir(TYPES));
      instances.push(red);
      await red.deploy(flows);
    }
    proxy = await startRoundRobinProxy(() => instances.map((red) => red.url));
  });

  after(async () => {
    await proxy?.close();
    for (const red of instances) await red.remove();
    if (url) await dropSchema(url, schema);
  });

  it('emits every message once although retries and simultaneous copies reach the other instance', async () => {
    const target = `${proxy?.url}/whatsapp`;
    const webhooks: SignedWebhook[] = Array.from({ length: MESSAGES }, (_, i) =>
      signedTextWebhook(subjectPhone(40_000_100 + (i % SENDERS)), `Hallo ${i}`, APP_SECRET),
    );
    const backendsOf = new Map<string, Set<number>>();
    let busy = 0;
    const seen = (w: SignedWebhook, backend: number | undefined) => {
      const set = backendsOf.get(w.messageId) ?? new Set<number>();
      set.add(backend ?? -1);
      backendsOf.set(w.messageId, set);
    };
    for (let i = 0; i < MESSAGES; i++) {
      const webhook = webhooks[i];
      // Even: Meta's retry after the first delivery. Odd: two copies at once (a retry racing a slow answer).
      const answers =
        i % 2 === 0
          ? [await postWebhook(target, webhook), await postWebhook(target, webhook)]
          : await Promise.all([postWebhook(target, webhook), postWebhook(target, webhook)]);
      for (const answer of answers) {
        seen(webhook, answer.backend);
        if (i % 2 === 0 || answer.status === 200) {
          assert.equal(answer.status, 200);
          continue;
        }
        // The other instance still held the message's claim: 503, and Meta retries until it gets a 200.
        assert.equal(answer.status, 503);
        busy += 1;
        await retryUntilOk(target, webhook);
      }
    }
    // The round robin sent the two copies of each message to different instances.
    assert.ok([...backendsOf.values()].every((set) => set.size === 2));

    const [first, second] = await Promise.all(instances.map(emittedBy));
    const all = [...first, ...second];
    assert.equal(new Set(all).size, all.length, 'a message was emitted twice');
    assert.deepEqual([...all].sort(), webhooks.map((w) => w.messageId).sort());
    assert.ok(first.length > 0 && second.length > 0, 'both instances emitted messages');
    console.log(
      `      instances figures: ${JSON.stringify({ messages: MESSAGES, deliveries: MESSAGES * 2, answered503: busy, emittedByInstance: [first.length, second.length], served: proxy?.served })}`,
    );
  });

  it("honours a STOP taken by one instance at the other instance's next gate check", async () => {
    assert.deepEqual(await Promise.all(instances.map((red) => gateAnswer(red, stopper))), ['passed', 'passed']);
    const answer = await postWebhook(`${proxy?.url}/whatsapp`, signedTextWebhook(stopper, 'STOP', APP_SECRET));
    assert.equal(answer.status, 200);
    assert.ok(answer.backend === 0 || answer.backend === 1);
    const other = instances[1 - (answer.backend as number)];
    assert.equal(await gateAnswer(other, stopper), 'withdrawn');
    assert.equal(await gateAnswer(instances[answer.backend as number], stopper), 'withdrawn');
    assert.equal(await gateAnswer(other, bystander), 'passed');
  });
});
