import assert from 'node:assert/strict';
import http from 'node:http';
import type { ConsentLedger } from '../../lib/consent/ledger';
import { Sandbox } from '../../lib/sandbox/sandbox';
import { type RunningSandboxServer, startSandboxServer } from '../../lib/sandbox/server';
import { SANDBOX_WABA_ID } from '../../lib/webhook/build';
import consentGateNode from '../../nodes/consent-gate';
import consentStoreNode from '../../nodes/consent-store';
import { SANDBOX_TEMPLATES } from '../../nodes/shared/sandbox';
import configNode from '../../nodes/whatsapp-config';
import sendNode from '../../nodes/whatsapp-send';
import { helper } from '../helpers/node-red';
import {
  callsOf,
  changeNode,
  type Msg,
  PURPOSES,
  sleep,
  statusesOf,
  storeCredentials,
  storeNode,
  tempDir,
  until,
} from './consent-fixtures';

const PHONE_NUMBER_ID = '104455667788990';
const ACCESS_TOKEN = 'token-for-template-tests';
const CUSTOMER = '+4915123456789';

const MARKETING = { type: 'template', template: { name: 'spring_sale', language: { code: 'de' } } };
/** A purpose resting on consent that is not marketing: Meta's marketing opt-out does not withdraw it. */
const REMINDERS = {
  id: 'reminders',
  label: 'Appointment reminders',
  wording: { en: 'Remind me of my appointments on WhatsApp.', de: 'Erinnert mich per WhatsApp an Termine.' },
  lawfulBasis: 'consent',
  marketing: false,
};
const UTILITY = { type: 'template', template: { name: 'order_update', language: { code: 'de' } } };

/**
 * Forwards to the sandbox and records each request's path. `templatesDown` answers the template list with a 503,
 * `templatesAnswer` with the given answer, and `templatesDelayMs` delays it.
 */
class CountingProxy {
  readonly paths: string[] = [];
  templatesDown = false;
  templatesAnswer?: { status: number; headers: Record<string, string>; body: unknown };
  templatesDelayMs = 0;
  /** While set, template list requests wait unanswered until releaseTemplates(). */
  templatesHeld = false;
  private readonly heldListings: (() => void)[] = [];
  url = '';
  private server?: http.Server;

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      this.paths.push(String(req.url));
      const listing = String(req.url).includes('/message_templates');
      if (listing && this.templatesHeld) {
        this.heldListings.push(() => this.forward(req, res));
        return;
      }
      if (listing && this.templatesDown) {
        res.writeHead(503, { 'Content-Type': 'text/plain' }).end('down');
        return;
      }
      const answer = listing ? this.templatesAnswer : undefined;
      if (answer) {
        res.writeHead(answer.status, { 'Content-Type': 'application/json', ...answer.headers });
        res.end(JSON.stringify(answer.body));
        return;
      }
      if (listing && this.templatesDelayMs > 0) {
        setTimeout(() => this.forward(req, res), this.templatesDelayMs);
        return;
      }
      this.forward(req, res);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as { port: number }).port}`;
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    {
      const upstream = http.request(`${this.target}${req.url}`, { method: req.method, headers: req.headers });
      upstream.on('response', (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    }
  }

  /** Answers the template list requests held so far. */
  releaseTemplates(): void {
    this.templatesHeld = false;
    for (const answer of this.heldListings.splice(0)) answer();
  }

  heldTemplateListings(): number {
    return this.heldListings.length;
  }

  listings(): number {
    return this.paths.filter((path) => path.includes('/message_templates')).length;
  }

  stop(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

describe('whatsapp-send: marketing templates only with consent (§ 7(2) UWG)', () => {
  let sandbox: Sandbox;
  let server: RunningSandboxServer;
  let proxy: CountingProxy;
  let dir: ReturnType<typeof tempDir>;
  /** One pair per test: a flow loaded again opens the same database. */
  let storeKeys: ReturnType<typeof storeCredentials>;

  before(async () => {
    sandbox = new Sandbox({ templates: SANDBOX_TEMPLATES });
    server = await startSandboxServer({ sandbox });
    proxy = new CountingProxy(server.url);
    await proxy.start();
  });

  after(async () => {
    await proxy.stop();
    await server.close();
    sandbox.close();
  });

  beforeEach(() => {
    dir = tempDir();
    storeKeys = storeCredentials();
    sandbox.registerNumber({
      phoneNumberId: PHONE_NUMBER_ID,
      displayPhoneNumber: '+49 30 5550000',
      accessToken: ACCESS_TOKEN,
      appSecret: 'unused-here',
      webhookUrls: () => [],
    });
    sandbox.reset();
    proxy.paths.length = 0;
    proxy.templatesDown = false;
    proxy.templatesAnswer = undefined;
    proxy.templatesDelayMs = 0;
    proxy.releaseTemplates();
  });

  afterEach(async () => {
    await helper.unload();
    dir.remove();
  });

  /** A gate per purpose of the fixtures: `news` rests on consent (marketing), `orders` on a contract. */
  async function load(config: Record<string, unknown> = {}): Promise<void> {
    const flow = [
      { id: 'f1', type: 'tab' },
      {
        id: 'cfg',
        type: 'whatsapp-config',
        mode: 'cloud',
        apiBaseUrl: proxy.url,
        apiVersion: 'v25.0',
        phoneNumberId: PHONE_NUMBER_ID,
        wabaId: SANDBOX_WABA_ID,
        ...config,
      },
      storeNode('store', dir.path, { purposes: [...PURPOSES, REMINDERS] }),
      {
        id: 'gate-reminders',
        z: 'f1',
        type: 'consent-gate',
        store: 'store',
        purpose: 'reminders',
        wires: [['send'], ['blocked']],
      },
      {
        id: 'gate-news',
        z: 'f1',
        type: 'consent-gate',
        store: 'store',
        purpose: 'news',
        wires: [['send'], ['blocked']],
      },
      {
        id: 'gate-orders',
        z: 'f1',
        type: 'consent-gate',
        store: 'store',
        purpose: 'orders',
        wires: [['send'], ['blocked']],
      },
      // Example 06's fallback: outside the service window, output 2 sends a template instead of the text.
      ...[
        ['news', MARKETING],
        ['orders', UTILITY],
      ].flatMap(([purpose, template]) => [
        {
          id: `window-${purpose}`,
          z: 'f1',
          type: 'consent-gate',
          store: 'store',
          purpose,
          checkServiceWindow: true,
          wires: [['send'], [`as-template-${purpose}`]],
        },
        {
          id: `as-template-${purpose}`,
          z: 'f1',
          type: 'change',
          rules: [{ t: 'set', p: 'payload', pt: 'msg', to: JSON.stringify(template), tot: 'json' }],
          wires: [['send']],
        },
      ]),
      { id: 'send', z: 'f1', type: 'whatsapp-send', whatsapp: 'cfg', wires: [['sent'], ['failed']] },
      { id: 'sent', z: 'f1', type: 'helper' },
      { id: 'failed', z: 'f1', type: 'helper' },
      { id: 'blocked', z: 'f1', type: 'helper' },
    ];
    const credentials = { cfg: { accessToken: ACCESS_TOKEN }, store: storeKeys };
    const nodes = [configNode, consentStoreNode, consentGateNode, sendNode, changeNode()];
    await helper.load(nodes as never, flow as never, credentials);
  }

  async function ledger(): Promise<ConsentLedger> {
    return (helper.getNode('store') as unknown as { getLedger(): Promise<ConsentLedger> }).getLedger();
  }

  /** The outcome of one message sent into `node`: the message on output `sent` or `failed`. */
  async function outcome(node: string, msg: Msg): Promise<{ sent?: Msg; failed?: Msg }> {
    // Node-RED skips a node's next input listener when a once() listener before it removes itself: one listener each.
    const results: { sent?: Msg; failed?: Msg }[] = [];
    const onSent = (m: Msg) => results.push({ sent: m });
    const onFailed = (m: Msg) => results.push({ failed: m });
    helper.getNode('sent').on('input', onSent);
    helper.getNode('failed').on('input', onFailed);
    try {
      helper.getNode(node).receive(msg);
      for (let i = 0; i < 1000 && results.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(results.length, 1, 'one outcome');
      return results[0];
    } finally {
      helper.getNode('sent').removeListener('input', onSent);
      helper.getNode('failed').removeListener('input', onFailed);
    }
  }

  function codeOf(failed: Msg | undefined): unknown {
    return (failed?.error as { code?: unknown } | undefined)?.code;
  }

  function templatesAccepted(): string[] {
    return sandbox
      .accepted(PHONE_NUMBER_ID)
      .map((m) => (m.body as { template?: { name: string } }).template?.name ?? '');
  }

  it('refuses a marketing template under a contract purpose, and sends nothing', async () => {
    await load();
    const { failed } = await outcome('gate-orders', { to: CUSTOMER, payload: MARKETING });
    const error = failed?.error as { code: string; retryable: boolean };
    assert.equal(error.code, 'marketing-template-needs-consent');
    assert.equal(error.retryable, false);
    assert.deepEqual(templatesAccepted(), []);
    assert.equal(proxy.paths.filter((p) => p.endsWith('/messages')).length, 0, 'no send request left');
  });

  it('refuses a marketing template that passed no consent-gate at all', async () => {
    await load();
    const { failed } = await outcome('send', { to: CUSTOMER, payload: MARKETING });
    assert.equal(codeOf(failed), 'marketing-template-needs-consent');
    assert.deepEqual(templatesAccepted(), []);
  });

  it('sends a utility template under a contract purpose, looking its category up once for many sends', async () => {
    await load();
    for (let i = 0; i < 3; i++) {
      const { sent, failed } = await outcome('gate-orders', { to: CUSTOMER, payload: UTILITY });
      assert.ok(sent, JSON.stringify(failed?.error));
    }
    assert.deepEqual(templatesAccepted(), ['order_update', 'order_update', 'order_update']);
    assert.equal(proxy.listings(), 1);
  });

  it('sends a marketing template through a gate whose purpose rests on consent, without a lookup', async () => {
    await load();
    await (await ledger()).giveConsent({
      subject: CUSTOMER,
      purpose: 'news',
      wording: 'Send me the newsletter on WhatsApp.',
      method: 'keyword',
      actor: 'test',
    });
    const { sent, failed } = await outcome('gate-news', { to: CUSTOMER, payload: MARKETING });
    assert.ok(sent, JSON.stringify(failed?.error));
    assert.deepEqual(templatesAccepted(), ['spring_sale']);
    assert.equal(proxy.listings(), 0);
  });

  it('sends the template a gate outside the service window falls back to, for a marketing purpose', async () => {
    await load();
    await (await ledger()).giveConsent({
      subject: CUSTOMER,
      purpose: 'news',
      wording: 'Send me the newsletter on WhatsApp.',
      method: 'keyword',
      actor: 'test',
    });
    // She never wrote: the text leaves output 2 (outside-service-window), the template behind it is her consent's.
    const { sent, failed } = await outcome('window-news', { to: CUSTOMER, payload: 'Spring sale!' });
    assert.ok(sent, JSON.stringify(failed?.error));
    const { reason, store } = sent.consent as { reason?: string; store?: string };
    assert.deepEqual({ reason, store }, { reason: 'outside-service-window', store: 'store' });
    assert.deepEqual(templatesAccepted(), ['spring_sale']);
    assert.equal(proxy.listings(), 0);
  });

  /** A STOP while the fallback template waits in the send queue (one message a second) stops it at the send. */
  async function stopWhileTemplateWaits(purpose: 'news' | 'orders'): Promise<{ sent: Msg[]; failed: Msg[] }> {
    await load({ throughput: 1 });
    const store = await ledger();
    if (purpose === 'news') {
      const wording = 'Send me the newsletter on WhatsApp.';
      await store.giveConsent({ subject: CUSTOMER, purpose, wording, method: 'keyword', actor: 'test' });
    }
    const sent: Msg[] = [];
    const failed: Msg[] = [];
    helper.getNode('sent').on('input', (m: Msg) => sent.push(m));
    helper.getNode('failed').on('input', (m: Msg) => failed.push(m));
    // Another customer's message takes this second's slot; hers waits behind it.
    helper.getNode('send').receive({ to: '+4915199999999', payload: UTILITY });
    helper.getNode(`window-${purpose}`).receive({ to: CUSTOMER, payload: 'Your order shipped.' });
    await until(() => sent.length === 1, 'the first message');
    await store.withdrawConsent({ subject: CUSTOMER, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 'test' });
    await until(() => sent.length + failed.length === 2, 'the fallback template');
    return { sent, failed };
  }

  it('checks the consent again when the fallback template leaves the queue: a STOP meanwhile stops it', async () => {
    const { sent, failed } = await stopWhileTemplateWaits('news');
    assert.deepEqual(failed.map(codeOf), ['send-consent-ended']);
    assert.equal(sent.length, 1);
    assert.deepEqual(templatesAccepted(), ['order_update']);
  });

  it('example 06: an order update sent as a template outside the window honours a STOP that came while it waited', async () => {
    const { sent, failed } = await stopWhileTemplateWaits('orders');
    assert.deepEqual(failed.map(codeOf), ['send-consent-ended']);
    assert.equal(sent.length, 1);
    assert.deepEqual(templatesAccepted(), ['order_update']);
  });

  it("sends opt-in-flow's confirmation request, which asks for the consent, without a consent", async () => {
    await load();
    const optIn = { outcome: 'requested', purpose: 'news', store: 'store', template: 'spring_sale' };
    const { sent, failed } = await outcome('send', { to: CUSTOMER, payload: MARKETING, optIn });
    assert.ok(sent, JSON.stringify(failed?.error));
    assert.deepEqual(templatesAccepted(), ['spring_sale']);
  });

  describe('the opt-in confirmation template should be a UTILITY one', () => {
    const REQUEST = { type: 'template', template: { name: 'consent_request', language: { code: 'de' } } };
    const requestOf = (template: string) => ({ outcome: 'requested', purpose: 'news', store: 'store', template });
    const listing = (category: string) => ({
      status: 200,
      headers: {},
      body: { data: [{ name: 'consent_request', language: 'de', category, status: 'APPROVED' }] },
    });
    const marketingWarnings = () =>
      callsOf('warn', 'send')
        .map((args) => String(args[0]))
        .filter((text) => text === 'whatsapp-send.log.opt-in-template-marketing');
    const lastStatus = () => statusesOf('send').at(-1);

    it('sends a MARKETING one all the same, warns once and shows a yellow status', async () => {
      await load();
      for (let i = 0; i < 3; i++) {
        const { sent, failed } = await outcome('send', {
          to: CUSTOMER,
          payload: MARKETING,
          optIn: requestOf('spring_sale'),
        });
        assert.ok(sent, JSON.stringify(failed?.error));
      }
      assert.deepEqual(templatesAccepted(), ['spring_sale', 'spring_sale', 'spring_sale']);
      await until(() => marketingWarnings().length > 0, 'the warning');
      await until(() => lastStatus()?.fill === 'yellow', 'the yellow status');
      assert.equal(marketingWarnings().length, 1, 'once, not with every request');
      assert.match(String(lastStatus()?.text), /whatsapp-send\.status\.opt-in-template-marketing/);
      assert.equal(proxy.listings(), 1, 'looked up once, then from memory');
    });

    it('sends a UTILITY one without a warning, its status green', async () => {
      await load();
      const { sent } = await outcome('send', { to: CUSTOMER, payload: REQUEST, optIn: requestOf('consent_request') });
      assert.ok(sent);
      await until(() => proxy.listings() === 1, 'the lookup');
      await sleep(100);
      assert.deepEqual(marketingWarnings(), []);
      assert.equal(lastStatus()?.fill, 'green');
    });

    it('does not wait for the template list: the request is sent while the lookup is held', async () => {
      await load();
      proxy.templatesHeld = true;
      const { sent, failed } = await outcome('send', {
        to: CUSTOMER,
        payload: MARKETING,
        optIn: requestOf('spring_sale'),
      });
      assert.ok(sent, JSON.stringify(failed?.error));
      assert.equal(proxy.heldTemplateListings(), 1, 'the lookup is still unanswered');
      assert.deepEqual(marketingWarnings(), []);
      proxy.releaseTemplates();
      await until(() => marketingWarnings().length === 1, 'the warning once the list answers');
    });

    it('sends it while the template list answers 503, without a warning', async () => {
      await load();
      proxy.templatesDown = true;
      const { sent, failed } = await outcome('send', {
        to: CUSTOMER,
        payload: MARKETING,
        optIn: requestOf('spring_sale'),
      });
      assert.ok(sent, JSON.stringify(failed?.error));
      await until(() => proxy.listings() >= 1, 'the lookup');
      await sleep(200);
      assert.deepEqual(marketingWarnings(), []);
      assert.notEqual(lastStatus()?.fill, 'yellow');
      assert.deepEqual(templatesAccepted(), ['spring_sale']);
    });

    it('asks a template list answering 503 once for many requests, all sent, and again after a template webhook', async () => {
      await load();
      proxy.templatesDown = true;
      for (let i = 0; i < 3; i++) {
        const { sent, failed } = await outcome('send', {
          to: CUSTOMER,
          payload: REQUEST,
          optIn: requestOf('consent_request'),
        });
        assert.ok(sent, JSON.stringify(failed?.error));
        await until(() => proxy.listings() >= 1, 'the lookup');
        await sleep(50);
      }
      assert.deepEqual(templatesAccepted(), ['consent_request', 'consent_request', 'consent_request']);
      assert.equal(proxy.listings(), 1, 'the failure is remembered for a back-off');
      const unknownWarnings = () =>
        callsOf('warn', 'send').filter((args) => String(args[0]) === 'whatsapp-send.log.opt-in-template-unknown');
      assert.equal(unknownWarnings().length, 1, 'told once, not with every request');
      assert.equal(lastStatus()?.fill, 'green', 'no failed send to show');
      // Meta reports a template change (whatsapp-webhook): the next request looks again, and sees it.
      proxy.templatesDown = false;
      proxy.templatesAnswer = listing('MARKETING');
      (helper.getNode('cfg') as unknown as { forgetTemplateCategories(n: string[]): void }).forgetTemplateCategories([
        'consent_request',
      ]);
      const { sent } = await outcome('send', { to: CUSTOMER, payload: REQUEST, optIn: requestOf('consent_request') });
      assert.ok(sent);
      await until(() => marketingWarnings().length === 1, 'the warning once the list answers');
      assert.equal(proxy.listings(), 2);
    });

    it('looks again after a template webhook: made MARKETING it is warned about, made UTILITY the warning clears', async () => {
      await load();
      const send = async () => {
        const { sent } = await outcome('send', { to: CUSTOMER, payload: REQUEST, optIn: requestOf('consent_request') });
        assert.ok(sent);
      };
      // What whatsapp-webhook does on template_category_update and message_template_status_update.
      const webhookSaysChanged = () =>
        (helper.getNode('cfg') as unknown as { forgetTemplateCategories(n: string[]): void }).forgetTemplateCategories([
          'consent_request',
        ]);
      proxy.templatesAnswer = listing('UTILITY');
      await send();
      await until(() => proxy.listings() === 1, 'the first lookup');
      proxy.templatesAnswer = listing('MARKETING');
      await send();
      await sleep(100);
      assert.deepEqual(marketingWarnings(), [], 'remembered as UTILITY until Meta reports a change');
      webhookSaysChanged();
      await send();
      await until(() => marketingWarnings().length === 1, 'the warning after the change');
      await until(() => lastStatus()?.fill === 'yellow', 'the yellow status');
      proxy.templatesAnswer = listing('UTILITY');
      webhookSaysChanged();
      await send();
      await until(() => lastStatus()?.fill === 'green', 'the status back to green');
      proxy.templatesAnswer = listing('MARKETING');
      webhookSaysChanged();
      await send();
      await until(() => marketingWarnings().length === 2, 'a warning again when made MARKETING once more');
    });
  });

  it('refuses another marketing template on a message that still carries the confirmation request', async () => {
    await load();
    // A flow that sends an offer after the request, on the same message: she has not confirmed yet.
    const optIn = { outcome: 'requested', purpose: 'news', store: 'store', template: 'consent_request' };
    const { failed } = await outcome('send', { to: CUSTOMER, payload: MARKETING, optIn });
    assert.equal(codeOf(failed), 'marketing-template-needs-consent');
    assert.deepEqual(templatesAccepted(), []);
  });

  it('refuses a marketing template under a consent that is not for marketing', async () => {
    await load();
    await (await ledger()).giveConsent({
      subject: CUSTOMER,
      purpose: 'reminders',
      wording: REMINDERS.wording.en,
      method: 'keyword',
      actor: 'test',
    });
    const offer = await outcome('gate-reminders', { to: CUSTOMER, payload: MARKETING });
    assert.equal(codeOf(offer.failed), 'marketing-template-needs-consent');
    const reminder = await outcome('gate-reminders', { to: CUSTOMER, payload: UTILITY });
    assert.ok(reminder.sent, JSON.stringify(reminder.failed?.error));
    assert.deepEqual(templatesAccepted(), ['order_update']);
  });

  it('refuses a malformed template as such, without a lookup', async () => {
    await load();
    const malformed = { type: 'template', template: { name: 'no_such_template' } };
    const { failed } = await outcome('gate-orders', { to: CUSTOMER, payload: malformed });
    assert.equal(codeOf(failed), 'invalid-message');
    assert.equal(proxy.listings(), 0);
  });

  it('keeps the order of messages to one person while a lookup waits', async () => {
    await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER.slice(1) }, { text: 'Hallo' });
    proxy.templatesDelayMs = 300;
    const results: Msg[] = [];
    helper.getNode('sent').on('input', (m: Msg) => results.push(m));
    // Both straight into whatsapp-send, the template first (a gate would answer after the text arrived).
    helper.getNode('send').receive({ to: CUSTOMER, payload: UTILITY });
    helper.getNode('send').receive({ to: CUSTOMER, payload: 'Your parcel left our warehouse.' });
    for (let i = 0; i < 500 && results.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    const kinds = sandbox.accepted(PHONE_NUMBER_ID).map((m) => m.body.type);
    assert.deepEqual(kinds, ['template', 'text']);
  });

  it("passes Meta's rate limit on the list on with its wait, and its management call limit as retryable", async () => {
    await load();
    proxy.templatesAnswer = {
      status: 400,
      headers: {},
      body: { error: { message: '(#80008) Too many calls', type: 'OAuthException', code: 80008 } },
    };
    const busy = await outcome('gate-orders', { to: CUSTOMER, payload: UTILITY });
    const busyError = busy.failed?.error as { code: unknown; retryable: boolean };
    assert.deepEqual([busyError.code, busyError.retryable], ['template-check-unavailable', true]);
    // An account of its own: a rate limit may hold its calls for the rest of this process.
    await helper.unload();
    await load({ wabaId: '999000111' });
    proxy.templatesAnswer = {
      status: 400,
      headers: { 'Retry-After': '120' },
      body: { error: { message: '(#80007) Rate limit hit', type: 'OAuthException', code: 80007 } },
    };
    const limited = await outcome('gate-orders', { to: CUSTOMER, payload: UTILITY });
    const error = limited.failed?.error as { code: unknown; retryable: boolean; retryAfterMs?: number };
    assert.deepEqual([error.code, error.retryable, error.retryAfterMs], [80007, true, 120_000]);
    assert.deepEqual(templatesAccepted(), []);
  });

  it('refuses a template the business account does not list', async () => {
    await load();
    const unknown = { type: 'template', template: { name: 'no_such_template', language: { code: 'de' } } };
    const { failed } = await outcome('gate-orders', { to: CUSTOMER, payload: unknown });
    assert.equal(codeOf(failed), 'template-not-listed');
    assert.deepEqual(templatesAccepted(), []);
  });

  it('refuses a template without a business account id to look it up in, while texts still go', async () => {
    await load({ wabaId: '' });
    assert.ok(
      callsOf('warn', 'cfg').some(([text]) => String(text).includes('no-waba-id')),
      'the configuration warned at deploy',
    );
    const { failed } = await outcome('gate-orders', { to: CUSTOMER, payload: UTILITY });
    assert.equal(codeOf(failed), 'template-check-no-account');
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER.slice(1) }, { text: 'Hallo' });
    const { sent } = await outcome('send', { to: CUSTOMER, payload: 'Ihre Bestellung ist unterwegs.' });
    assert.ok(sent);
  });

  it('refuses, as retryable, while the template list does not answer, and sends once it does', async () => {
    await load();
    proxy.templatesDown = true;
    const first = await outcome('gate-orders', { to: CUSTOMER, payload: UTILITY });
    const error = first.failed?.error as { code: string; retryable: boolean };
    assert.equal(error.code, 'template-check-unavailable');
    assert.equal(error.retryable, true);
    assert.deepEqual(templatesAccepted(), []);
    proxy.templatesDown = false;
    const second = await outcome('gate-orders', { to: CUSTOMER, payload: UTILITY });
    assert.ok(second.sent, 'a failed lookup is not remembered');
  });

  it('refuses, not retryable, when Meta refuses the token access to the list', async () => {
    await load();
    sandbox.registerNumber({
      phoneNumberId: PHONE_NUMBER_ID,
      displayPhoneNumber: '+49 30 5550000',
      accessToken: 'another-token',
      appSecret: 'unused-here',
      webhookUrls: () => [],
    });
    const { failed } = await outcome('gate-orders', { to: CUSTOMER, payload: UTILITY });
    const error = failed?.error as { code: string; retryable: boolean };
    assert.equal(error.code, 'template-check-failed');
    assert.equal(error.retryable, false);
  });
});
