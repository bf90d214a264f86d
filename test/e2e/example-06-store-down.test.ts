import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import consentGate from '../../nodes/consent-gate';
import consentStore from '../../nodes/consent-store';
import stopHandler from '../../nodes/stop-handler';
import whatsappConfig from '../../nodes/whatsapp-config';
import whatsappSend from '../../nodes/whatsapp-send';
import whatsappWebhook from '../../nodes/whatsapp-webhook';
import { coreNode, helper } from '../helpers/node-red';
import { mountHttpApps } from '../helpers/node-red-http';
import { storeCredentials, tempDir } from '../nodes/consent-fixtures';

/**
 * Example 06's order endpoint in Node-RED's own http, function, change and catch nodes while the consent store cannot
 * answer: the shop is told to try again (503 with Retry-After), not that its order was wrong (a 400 it would not send
 * again, and the order update would be lost). The e2e suite drives the working example.
 */
const EXAMPLE = path.resolve(__dirname, '..', '..', '..', 'examples', '06-order-updates-contract.json');
const TOKEN = 'a-staff-token-of-32-characters!!';

type FlowNode = Record<string, unknown> & { id: string; type: string; name?: string };

describe('example 06: the order endpoint while the consent store cannot answer', function () {
  this.timeout(20000);
  let dir: ReturnType<typeof tempDir>;
  const saved = process.env.WA_GDPR_STAFF_TOKEN;
  const flow = JSON.parse(fs.readFileSync(EXAMPLE, 'utf8')) as FlowNode[];
  const store = flow.find((n) => n.type === 'consent-store') as FlowNode;

  beforeEach(async () => {
    process.env.WA_GDPR_STAFF_TOKEN = TOKEN;
    dir = tempDir();
    await helper.startServer();
  });

  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    dir.remove();
    if (saved === undefined) delete process.env.WA_GDPR_STAFF_TOKEN;
    else process.env.WA_GDPR_STAFF_TOKEN = saved;
  });

  async function load(sqlitePath: string): Promise<void> {
    const nodes = flow.map((n) => (n.id === store.id ? { ...n, sqlitePath } : n));
    await helper.load(
      [
        consentStore,
        consentGate,
        stopHandler,
        whatsappConfig,
        whatsappSend,
        whatsappWebhook,
        coreNode('network/21-httpin.js'),
        coreNode('function/10-function.js'),
        coreNode('function/10-switch.js'),
        coreNode('function/15-change.js'),
        coreNode('common/21-debug.js'),
        coreNode('common/25-catch.js'),
        coreNode('common/90-comment.js'),
        mountHttpApps(),
      ] as never,
      nodes as never,
      { [store.id]: storeCredentials() } as never,
    );
  }

  async function postOrder(order: Record<string, unknown>) {
    const answer = await fetch(`${helper.url()}/order-ex06`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(order),
      signal: AbortSignal.timeout(5000),
    });
    return { status: answer.status, retryAfter: answer.headers.get('retry-after'), body: await answer.json() };
  }

  it("answers 503 with Retry-After while the store fails, and 400 for the order's own mistake", async () => {
    // A database path below a file: the store cannot open it, every consent check fails.
    const file = path.join(dir.path, 'not-a-folder');
    fs.writeFileSync(file, '');
    await load(path.join(file, 'consent.db'));
    const order = { to: '+4915123456789', orderId: '10023', status: 'shipped' };
    const down = await postOrder(order);
    assert.equal(down.status, 503, JSON.stringify(down.body));
    assert.equal(down.retryAfter, '60');
    assert.ok(typeof (down.body as { error?: unknown }).error === 'string', JSON.stringify(down.body));
    // The order's own mistakes stay a 400, whatever the store does.
    const unknownStatus = await postOrder({ ...order, status: 'lost' });
    assert.equal(unknownStatus.status, 400, JSON.stringify(unknownStatus.body));
    assert.equal(unknownStatus.retryAfter, null);
    const noCountryCode = await postOrder({ ...order, to: '0151 2345678' });
    assert.equal(noCountryCode.status, 400, JSON.stringify(noCountryCode.body));
    assert.equal((noCountryCode.body as { error?: unknown }).error, 'invalid-phone');
  });
});
