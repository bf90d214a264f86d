import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { LedgerHandle } from '../../lib/consent/threaded-ledger';
import { FORM_ANSWER_MINIMUM_MS } from '../../lib/conversation/opt-in';
import consentStore, { type ConsentStoreNode } from '../../nodes/consent-store';
import optInFlow from '../../nodes/opt-in-flow';
import privacyNotice from '../../nodes/privacy-notice';
import stopHandler from '../../nodes/stop-handler';
import whatsappConfig from '../../nodes/whatsapp-config';
import whatsappSend from '../../nodes/whatsapp-send';
import whatsappWebhook from '../../nodes/whatsapp-webhook';
import { coreNode, helper } from '../helpers/node-red';
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

/**
 * The web form of examples 01 and 10 as in the file, from its POST route to its answer page: the check that the post
 * comes from the form's own site, opt-in-flow and the page it answers with. opt-in-flow's outputs for WhatsApp
 * messages (2 and 4) lead to the rest of the bot and are left unwired here; debug nodes are test helpers.
 */
for (const file of ['01-double-opt-in-web-form.json', '10-complete-bot.json']) {
  describe(`example ${file.slice(0, 2)}: the web form's answers`, function () {
    this.timeout(30000);
    const flow = JSON.parse(
      fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'examples', file), 'utf8'),
    ) as FlowNode[];
    const store = flow.find((n) => n.type === 'consent-store') as FlowNode;
    const optIn = flow.find((n) => n.type === 'opt-in-flow') as FlowNode;
    const post = flow.find((n) => n.type === 'http in' && n.method === 'post' && /optin/.test(String(n.url)));
    assert.ok(post, 'the example has a POST route for its form');
    let dir: ReturnType<typeof tempDir>;
    let ledger: LedgerHandle;
    let serial = 0;

    /** The form's part of the flow: what the POST route leads to, the Catch node for opt-in-flow, its config nodes. */
    function formPart(): FlowNode[] {
      const byId = new Map(flow.map((n) => [n.id, n]));
      const part = new Set<string>();
      const queue = [(post as FlowNode).id, ...flow.filter((n) => n.type === 'catch').map((n) => n.id)];
      while (queue.length > 0) {
        const id = queue.shift() as string;
        const node = byId.get(id) as FlowNode;
        if (part.has(id)) continue;
        if (node.type === 'catch' && !(node.scope as string[] | null)?.includes(optIn.id)) continue;
        part.add(id);
        const wires = (node.wires as string[][] | undefined) ?? [];
        queue.push(...(id === optIn.id ? [wires[0], wires[2]] : wires).flat());
      }
      return flow.filter(
        (n) => part.has(n.id) || n.type === 'tab' || n.type === 'whatsapp-config' || n.id === store.id,
      );
    }

    beforeEach(async () => {
      dir = tempDir();
      await helper.startServer();
    });

    afterEach(async () => {
      await helper.unload();
      await helper.stopServer();
      dir.remove();
    });

    async function load(optInSettings: Record<string, unknown> = {}): Promise<void> {
      const nodes = formPart().map((n) => {
        if (n.id === store.id) return { ...n, sqlitePath: path.join(dir.path, 'consent.db') };
        if (n.id === optIn.id) {
          const wires = n.wires as string[][];
          return { ...n, ...optInSettings, wires: [wires[0], [], wires[2], []] };
        }
        if (n.type === 'debug') return { id: n.id, z: n.z, type: 'helper', name: n.name };
        return n;
      });
      await helper.load(
        [
          consentStore,
          optInFlow,
          // Example 10 sends a chat's request through the privacy notice: the form's part holds that route too.
          privacyNotice,
          whatsappConfig,
          whatsappSend,
          coreNode('network/21-httpin.js'),
          coreNode('function/10-function.js'),
          coreNode('function/10-switch.js'),
          coreNode('common/25-catch.js'),
          mountHttpApps(),
        ] as never,
        nodes as never,
        { [store.id]: storeCredentials() } as never,
      );
      ledger = await (helper.getNode(store.id) as unknown as ConsentStoreNode).getLedger();
    }

    function newPhone(): string {
      serial += 1;
      return `+4915155${String(serial).padStart(6, '0')}`;
    }

    async function postForm(
      phone: string,
      language = 'en',
      headers: Record<string, string> = {},
    ): Promise<{ status: number; page: string; ms: number; retryAfter: string | null }> {
      const started = performance.now();
      const answer = await fetch(`${helper.url()}${String((post as FlowNode).url)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams({ phone, consent: 'on', language }),
        signal: AbortSignal.timeout(5000),
      });
      const page = await answer.text();
      return {
        status: answer.status,
        page,
        ms: performance.now() - started,
        retryAfter: answer.headers.get('retry-after'),
      };
    }

    it('answers a new number and one with a request pending alike, neither sooner than half a second', async () => {
      await load();
      const phone = newPhone();
      const first = await postForm(phone);
      const again = await postForm(phone);
      assert.equal(first.status, 200, first.page);
      assert.match(first.page, /data-outcome="requested"/);
      assert.equal(again.page, first.page, 'the same page');
      assert.equal((await ledger.getConsent(phone, 'newsletter'))?.status, 'pending');
      // Only the new number was written to the store: without the wait it was answered later than the known one.
      for (const answer of [first, again]) assert.ok(answer.ms >= FORM_ANSWER_MINIMUM_MS, `${answer.ms} ms`);
    });

    it("answers a post past the minute's limit with 429, Retry-After and a page to try again later", async () => {
      await load({ maxRequestsPerMinute: 1 });
      assert.equal((await postForm(newPhone())).status, 200);
      const phone = newPhone();
      const busy = await postForm(phone);
      assert.equal(busy.status, 429, busy.page);
      const seconds = Number(busy.retryAfter);
      assert.ok(Number.isInteger(seconds) && seconds >= 1 && seconds <= 60, `Retry-After: ${busy.retryAfter}`);
      assert.match(busy.page, /data-outcome="busy"/);
      assert.match(busy.page, />Too many sign-ups right now\. Your sign-up was not saved\. Please try again later\.</);
      const busyDe = await postForm(newPhone(), 'de');
      assert.equal(busyDe.status, 429);
      assert.match(busyDe.page, /Bitte versuchen Sie es später erneut\./);
      assert.equal(await ledger.getConsent(phone, 'newsletter'), undefined, 'nothing stored');
    });

    it("refuses a post from another site's page with 403 before opt-in-flow; its own page, curl and old browsers pass", async () => {
      await load();
      const own = new URL(helper.url()).origin;
      const foreign = newPhone();
      const byOrigin = await postForm(foreign, 'en', { origin: 'https://evil.example' });
      assert.equal(byOrigin.status, 403, byOrigin.page);
      assert.match(byOrigin.page, /data-outcome="cross-site"/);
      assert.match(
        byOrigin.page,
        />This form can only be sent from its own page\. Please open it there and try again\.</,
      );
      const byFetchSite = await postForm(foreign, 'de', { 'sec-fetch-site': 'cross-site' });
      assert.equal(byFetchSite.status, 403, byFetchSite.page);
      assert.match(byFetchSite.page, /Dieses Formular kann nur auf seiner eigenen Seite abgeschickt werden/);
      for (const origin of ['null', `${own}.evil.example`, 'not a url']) {
        assert.equal((await postForm(foreign, 'en', { origin })).status, 403, origin);
      }
      assert.equal(await ledger.getConsent(foreign, 'newsletter'), undefined, 'opt-in-flow never saw it');
      const passing: Record<string, string>[] = [
        { origin: own, 'sec-fetch-site': 'same-origin' },
        { 'sec-fetch-site': 'same-origin' },
        {},
      ];
      for (const headers of passing) {
        const phone = newPhone();
        const answer = await postForm(phone, 'en', headers);
        assert.equal(answer.status, 200, `${JSON.stringify(headers)}: ${answer.page}`);
        assert.equal((await ledger.getConsent(phone, 'newsletter'))?.status, 'pending');
      }
    });
  });
}
