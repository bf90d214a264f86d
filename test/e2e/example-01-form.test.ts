import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import consentStore, { type ConsentStoreNode } from '../../nodes/consent-store';
import optInFlow from '../../nodes/opt-in-flow';
import stopHandler from '../../nodes/stop-handler';
import whatsappConfig from '../../nodes/whatsapp-config';
import whatsappSend from '../../nodes/whatsapp-send';
import whatsappWebhook from '../../nodes/whatsapp-webhook';
import { helper, nodeRedPath } from '../helpers/node-red';
import { mountHttpApps } from '../helpers/node-red-http';
import { storeCredentials, tempDir } from '../nodes/consent-fixtures';

/**
 * Example 01's web form in Node-RED's own http, function, template and catch nodes: a form post gets an answer page
 * whatever opt-in-flow makes of it, also when the consent store cannot answer (stopped, being redeployed, failing).
 * Without its Catch node the browser would wait for the HTTP timeout. The e2e suite drives the working example.
 */
const EXAMPLE = path.resolve(__dirname, '..', '..', '..', 'examples', '01-double-opt-in-web-form.json');
const PHONE = '+4915123456789';

type FlowNode = Record<string, unknown> & { id: string; type: string; name?: string };

function coreNode(file: string): unknown {
  return require(require.resolve(`@node-red/nodes/core/${file}`, { paths: [path.dirname(nodeRedPath)] }));
}

describe('example 01: the web form answers when the consent store cannot', function () {
  this.timeout(20000);
  let dir: ReturnType<typeof tempDir>;
  const flow = JSON.parse(fs.readFileSync(EXAMPLE, 'utf8')) as FlowNode[];
  const store = flow.find((n) => n.type === 'consent-store') as FlowNode;

  beforeEach(async () => {
    dir = tempDir();
    await helper.startServer();
  });

  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    dir.remove();
  });

  /** Loads the example as it ships, its consent store on `sqlitePath`. */
  async function load(sqlitePath: string): Promise<void> {
    const nodes = flow.map((n) => (n.id === store.id ? { ...n, sqlitePath } : n));
    await helper.load(
      [
        consentStore,
        optInFlow,
        stopHandler,
        whatsappConfig,
        whatsappSend,
        whatsappWebhook,
        coreNode('network/21-httpin.js'),
        coreNode('function/10-function.js'),
        coreNode('function/80-template.js'),
        coreNode('common/21-debug.js'),
        coreNode('common/25-catch.js'),
        coreNode('common/90-comment.js'),
        mountHttpApps(),
      ] as never,
      nodes as never,
      { [store.id]: storeCredentials() } as never,
    );
  }

  async function postForm(language: string): Promise<{ status: number; page: string; ms: number }> {
    const started = Date.now();
    const answer = await fetch(`${helper.url()}/optin-ex01`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ phone: PHONE, consent: 'on', language }),
      // Node-RED's own timeout is two minutes: an answer that has not come in five seconds is not coming.
      signal: AbortSignal.timeout(5000),
    });
    return { status: answer.status, page: await answer.text(), ms: Date.now() - started };
  }

  it('has a Catch node for opt-in-flow wired to the answer page', () => {
    const optIn = flow.find((n) => n.type === 'opt-in-flow') as FlowNode;
    const answerPage = flow.find((n) => n.name === 'answer page') as FlowNode;
    const catches = flow.filter((n) => n.type === 'catch' && (n.scope as string[] | null)?.includes(optIn.id));
    assert.equal(catches.length, 1);
    assert.deepEqual(catches[0].wires, [[answerPage.id]]);
    assert.equal(catches[0].z, optIn.z);
  });

  it('answers a form post with the 502 page while the store fails to open', async () => {
    // A database path below a file: the store cannot open it, every opt-in-flow request fails.
    const file = path.join(dir.path, 'not-a-folder');
    fs.writeFileSync(file, '');
    await load(path.join(file, 'consent.db'));
    const { status, page } = await postForm('de');
    assert.equal(status, 502, page);
    assert.match(page, /data-outcome="failed"/);
    assert.match(page, /Die Bestätigung konnte nicht gesendet werden/);
    assert.match(page, /<html lang="de">/);
  });

  it('answers a form post with the 502 page while the store is stopped (a redeploy)', async () => {
    await load(path.join(dir.path, 'consent.db'));
    // It works first: a request is made.
    const first = await postForm('en');
    assert.equal(first.status, 200, first.page);
    assert.match(first.page, /data-outcome="requested"/);
    await (helper.getNode(store.id) as unknown as ConsentStoreNode & { close(r: boolean): Promise<void> }).close(false);
    const { status, page } = await postForm('en');
    assert.equal(status, 502, page);
    assert.match(page, /The confirmation could not be sent\. Please try again later\./);
  });
});
