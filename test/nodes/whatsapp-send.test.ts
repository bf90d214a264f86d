import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sandbox } from '../../lib/sandbox/sandbox';
import { type RunningSandboxServer, startSandboxServer } from '../../lib/sandbox/server';
import { SANDBOX_WABA_ID } from '../../lib/webhook/build';
import { SANDBOX_TEMPLATES } from '../../nodes/shared/sandbox';
import configNode from '../../nodes/whatsapp-config';
import sendNode from '../../nodes/whatsapp-send';
import { helper } from '../helpers/node-red';
import { callsOf } from './consent-fixtures';

const PHONE_NUMBER_ID = '109876543210987';
const ACCESS_TOKEN = 'token-for-send-tests';
const CUSTOMER = '+49 151 23456789';
const CUSTOMER_WA_ID = '4915123456789';

type Msg = Record<string, unknown> & { whatsapp?: Record<string, unknown>; error?: Record<string, unknown> };

/**
 * A pass-through proxy in front of the standalone sandbox that records each Cloud API answer's error
 * code, and moves the sandbox clock past the throughput window when it sees 130429, so the client's
 * retry meets a free window without the test depending on backoff timing.
 */
class RecordingProxy {
  readonly answers: { path: string; code?: number }[] = [];
  private server?: http.Server;
  url = '';

  constructor(
    private readonly target: string,
    private readonly onCode: (code: number) => void,
  ) {}

  async start(): Promise<void> {
    const agent = new http.Agent({ keepAlive: true });
    this.server = http.createServer((req, res) => {
      const upstream = http.request(`${this.target}${req.url}`, { method: req.method, headers: req.headers, agent });
      upstream.on('response', (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          const body = Buffer.concat(chunks);
          let code: number | undefined;
          try {
            code = JSON.parse(body.toString('utf8'))?.error?.code;
          } catch {
            code = undefined;
          }
          this.answers.push({ path: String(req.url), code });
          if (code !== undefined) this.onCode(code);
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(body);
        });
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  messagePosts(): { path: string; code?: number }[] {
    return this.answers.filter((a) => a.path.endsWith('/messages'));
  }

  stop(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/** The parts of an accepted body these tests read. */
type SentBody = { text?: { body: string }; interactive?: { footer?: unknown } };

describe('whatsapp-send node (against the standalone sandbox over HTTP)', () => {
  let offsetMs = 0;
  /** Set, the sandbox's clock stands still (but for offsetMs): what falls in one second does not depend on load. */
  let frozenAt: number | undefined;
  let sandbox: Sandbox;
  let server: RunningSandboxServer;
  let proxy: RecordingProxy;

  before(async () => {
    sandbox = new Sandbox({ clock: { now: () => (frozenAt ?? Date.now()) + offsetMs }, templates: SANDBOX_TEMPLATES });
    server = await startSandboxServer({ sandbox });
    proxy = new RecordingProxy(server.url, (code) => {
      if (code === 130429) offsetMs += 1001;
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.stop();
    await server.close();
    sandbox.close();
  });

  function registerNumber(throughput = 80): void {
    sandbox.registerNumber({
      phoneNumberId: PHONE_NUMBER_ID,
      displayPhoneNumber: '+49 30 9876543',
      accessToken: ACCESS_TOKEN,
      appSecret: 'unused-here',
      throughput,
      webhookUrls: () => [],
    });
  }

  beforeEach(() => {
    registerNumber();
    sandbox.reset();
    proxy.answers.length = 0;
  });

  afterEach(async () => {
    await helper.unload();
  });

  function flow(
    sendWires: string[][],
    extra: Record<string, unknown>[] = [],
    send: Record<string, unknown> = {},
  ): Record<string, unknown>[] {
    return [
      { id: 'f1', type: 'tab' },
      {
        id: 'cfg',
        type: 'whatsapp-config',
        mode: 'cloud',
        apiBaseUrl: proxy.url,
        apiVersion: 'v25.0',
        phoneNumberId: PHONE_NUMBER_ID,
        wabaId: SANDBOX_WABA_ID,
        throughput: 50,
      },
      { id: 'send', z: 'f1', type: 'whatsapp-send', whatsapp: 'cfg', wires: sendWires, ...send },
      { id: 'ok', z: 'f1', type: 'helper' },
      { id: 'fail', z: 'f1', type: 'helper' },
      ...extra.map((n) => ({ z: 'f1', ...n })),
    ];
  }

  const credentials = { cfg: { accessToken: ACCESS_TOKEN } };

  async function load(
    sendWires: string[][] = [['ok'], ['fail']],
    extra: Record<string, unknown>[] = [],
    send: Record<string, unknown> = {},
  ) {
    await helper.load([configNode, sendNode] as never, flow(sendWires, extra, send) as never, credentials);
  }

  function next(id: string): Promise<Msg> {
    return new Promise((resolve) => helper.getNode(id).once('input', (msg: Msg) => resolve(msg)));
  }

  function collect(id: string): Msg[] {
    const seen: Msg[] = [];
    helper.getNode(id).on('input', (msg: Msg) => seen.push(msg));
    return seen;
  }

  async function until(predicate: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      if (predicate()) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.fail(`timed out waiting for ${what}`);
  }

  it('sends a text to a customer who wrote within 24 hours and reports the message id', async () => {
    await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER_WA_ID }, { text: 'Hallo' });
    const done = next('ok');
    const earlierSend = { topic: 'kept', messageStatus: 'held_for_quality_assessment' };
    helper.getNode('send').receive({ to: CUSTOMER, payload: 'Guten Tag!', whatsapp: earlierSend });
    const msg = await done;
    assert.equal(msg.whatsapp?.messageStatus, undefined, 'a text has no message_status; an earlier one is not kept');
    assert.match(String(msg.whatsapp?.messageId), /^wamid\./);
    assert.equal(msg.whatsapp?.waId, CUSTOMER_WA_ID);
    assert.equal(msg.whatsapp?.to, '+4915123456789');
    assert.equal(msg.whatsapp?.topic, 'kept');
    const [accepted] = sandbox.accepted(PHONE_NUMBER_ID);
    assert.equal(accepted.messageId, msg.whatsapp?.messageId);
    assert.deepEqual((accepted.body as { text: unknown }).text, {
      body: 'Guten Tag!\n\nAntworten Sie mit STOP, um sich abzumelden.',
      preview_url: false,
    });
  });

  it('says how to opt out in every free-form message: text line by language, interactive footer', async () => {
    await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER_WA_ID }, { text: 'Hallo' });
    const sent = collect('ok');
    const send = helper.getNode('send');
    send.receive({ to: CUSTOMER, payload: 'Your order shipped.', language: 'en' });
    send.receive({
      to: CUSTOMER,
      payload: {
        type: 'interactive',
        interactive: {
          type: 'button',
          body: { text: 'Termin bestätigen?' },
          action: { buttons: [{ type: 'reply', reply: { id: 'ok', title: 'Ja' } }] },
        },
      },
    });
    send.receive({ to: CUSTOMER, payload: 'Sie wurden abgemeldet.', optOutFooter: false });
    await until(() => sent.length === 3, 'three messages');
    const bodies = sandbox.accepted(PHONE_NUMBER_ID).map((a) => a.body as SentBody);
    assert.equal(bodies[0].text?.body, 'Your order shipped.\n\nReply STOP to unsubscribe.');
    assert.deepEqual(bodies[1].interactive?.footer, { text: 'Antworten Sie mit STOP, um sich abzumelden.' });
    assert.equal(bodies[2].text?.body, 'Sie wurden abgemeldet.', 'msg.optOutFooter = false skips the line');
  });

  it("leaves messages untouched when the node's opt-out option is off", async () => {
    await load([['ok'], ['fail']], [], { optOutFooter: false });
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER_WA_ID }, { text: 'Hallo' });
    const done = next('ok');
    helper.getNode('send').receive({ to: CUSTOMER, payload: 'Guten Tag!' });
    await done;
    assert.equal((sandbox.accepted(PHONE_NUMBER_ID)[0].body as SentBody).text?.body, 'Guten Tag!');
  });

  it('refuses an empty or blank text or interactive body on output 2 instead of sending the opt-out line alone', async () => {
    await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER_WA_ID }, { text: 'Hallo' });
    const failed = collect('fail');
    const ok = collect('ok');
    const send = helper.getNode('send');
    send.receive({ to: CUSTOMER, payload: '' });
    send.receive({ to: CUSTOMER, payload: '  \n ' });
    send.receive({ to: CUSTOMER, payload: { type: 'text', text: { body: '' } } });
    send.receive({
      to: CUSTOMER,
      payload: {
        type: 'interactive',
        interactive: { type: 'location_request_message', body: { text: ' ' }, action: { name: 'send_location' } },
      },
    });
    await until(() => failed.length === 4, 'four refusals');
    for (const msg of failed) {
      assert.equal(msg.error?.code, 'invalid-message');
      assert.equal(msg.error?.retryable, false);
    }
    assert.match(String(failed[0].error?.title), /text\.body/);
    assert.equal(ok.length, 0);
    assert.equal(proxy.messagePosts().length, 0, 'no request reached the API');
    assert.deepEqual(sandbox.accepted(PHONE_NUMBER_ID), []);
  });

  it('sends a location with its coordinates as decimal strings, as Meta documents them, unchanged', async () => {
    await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER_WA_ID }, { text: 'Wo seid ihr?' });
    const outcome = Promise.race([next('ok'), next('fail')]);
    const location = { latitude: '52.520008', longitude: '13.404954', name: 'Laden', address: 'Berlin' };
    helper.getNode('send').receive({ to: CUSTOMER, payload: { type: 'location', location } });
    const msg = await outcome;
    assert.equal(msg.error, undefined, `refused: ${JSON.stringify(msg.error)}`);
    assert.match(String(msg.whatsapp?.messageId), /^wamid\./);
    assert.deepEqual(sandbox.accepted(PHONE_NUMBER_ID)[0].body.location, location);
  });

  it('replies to msg.whatsapp.from when there is no msg.to', async () => {
    await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER_WA_ID }, { text: 'Frage' });
    const done = next('ok');
    helper.getNode('send').receive({ payload: 'Antwort', whatsapp: { from: '+4915123456789', userId: 'DE.77' } });
    const sent = await done;
    assert.equal(sent.whatsapp?.waId, CUSTOMER_WA_ID);
    assert.equal(sent.whatsapp?.userId, undefined, 'sent by number: no user id named, not the inbound one either');
  });

  it('replies by business-scoped user id to a person known by username only, in recipient and never in to', async () => {
    const bsuid = 'DE.1502576394655843';
    await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER_WA_ID, userId: bsuid }, { text: 'Frage' });
    const sent = collect('ok');
    // The inbound message's id when the number was withheld, and the same id written into msg.to.
    helper.getNode('send').receive({ payload: 'Antwort', whatsapp: { userId: bsuid } });
    helper.getNode('send').receive({ to: bsuid, payload: 'Noch eine Antwort' });
    await until(() => sent.length === 2, 'both replies');
    for (const msg of sent) {
      assert.equal(msg.whatsapp?.userId, bsuid);
      assert.equal(msg.whatsapp?.to, bsuid);
      assert.equal(msg.whatsapp?.waId, undefined, 'Meta names no number for a message sent by user id');
    }
    const bodies = sandbox.accepted(PHONE_NUMBER_ID).map((a) => a.body as Record<string, unknown>);
    for (const body of bodies) {
      assert.equal(body.recipient, bsuid);
      assert.equal('to' in body, false);
    }
    // DE. tells the language as +49 does.
    assert.equal((bodies[0].text as { body: string }).body, 'Antwort\n\nAntworten Sie mit STOP, um sich abzumelden.');
  });

  it('refuses a malformed user id or one that names nobody, on output 2', async () => {
    await load();
    const failed = collect('fail');
    helper.getNode('send').receive({ payload: 'Hallo', whatsapp: { userId: 'not a bsuid' } });
    helper.getNode('send').receive({ to: 'DE.999', payload: 'Hallo' });
    await until(() => failed.length === 2, 'two refusals');
    assert.equal(failed[0].error?.code, 'missing-recipient');
    assert.equal(failed[1].error?.code, 100, 'the sandbox, like Meta, knows no customer with that id');
    assert.equal(sandbox.accepted().length, 0);
  });

  it('sends a template without an open service window', async () => {
    await load();
    const done = next('ok');
    const template = { type: 'template', template: { name: 'order_update', language: { code: 'de' } } };
    helper.getNode('send').receive({ to: '+49 170 1234567', payload: template });
    const msg = await done;
    assert.match(String(msg.whatsapp?.messageId), /^wamid\./);
    assert.equal(msg.whatsapp?.messageStatus, 'accepted', "Meta's message_status of a template");
    assert.equal(sandbox.accepted(PHONE_NUMBER_ID)[0].body.type, 'template');
  });

  it("sends a template whose button sub_type is written in capitals, as Meta's catalog template guide does, unchanged", async () => {
    await load();
    const outcome = Promise.race([next('ok'), next('fail')]);
    const catalogButton = {
      type: 'button',
      sub_type: 'CATALOG',
      index: 0,
      parameters: [{ type: 'action', action: { thumbnail_product_retailer_id: '2lc20305pt' } }],
    };
    const template = {
      name: 'order_update',
      language: { code: 'de' },
      components: [{ type: 'body', parameters: [{ type: 'text', text: 'A-1' }] }, catalogButton],
    };
    helper.getNode('send').receive({ to: '+49 170 1234567', payload: { type: 'template', template } });
    const msg = await outcome;
    assert.equal(msg.error, undefined, `refused: ${JSON.stringify(msg.error)}`);
    const sent = sandbox.accepted(PHONE_NUMBER_ID)[0].body as { template: { components: unknown[] } };
    assert.deepEqual(sent.template.components[1], catalogButton);
  });

  it('refuses an invalid number on output 2 and sends nothing', async () => {
    await load();
    const failed = next('fail');
    const ok = collect('ok');
    helper.getNode('send').receive({ to: '12', payload: 'Hallo' });
    const msg = await failed;
    assert.equal(msg.error?.code, 'invalid-phone');
    assert.equal(msg.error?.retryable, false);
    assert.equal(ok.length, 0);
    assert.equal(proxy.messagePosts().length, 0, 'no request reached the API');
    assert.equal(sandbox.accepted().length, 0);
  });

  it('reports 131047 (outside the 24-hour window) on output 2 with the API error', async () => {
    await load();
    const failed = next('fail');
    helper.getNode('send').receive({ to: '+49 160 5550000', payload: 'Werbung' });
    const msg = await failed;
    assert.equal(msg.error?.code, 131047);
    assert.equal(msg.error?.retryable, false);
    assert.equal(typeof msg.error?.title, 'string');
    assert.equal(proxy.messagePosts().length, 1, 'not retried');
    assert.equal(sandbox.accepted().length, 0);
  });

  it('hands the error to a Catch node when output 2 is not wired', async () => {
    await load(
      [['ok']],
      [
        { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ],
    );
    const caught = next('caught');
    helper.getNode('send').receive({ to: '+49 160 5550001', payload: 'Werbung' });
    const msg = await caught;
    assert.equal(msg.error?.code, 131047);
    assert.match(String(msg.error?.message), /131047/);
    assert.equal((msg.error?.source as { id?: string } | undefined)?.id, 'send');
    assert.doesNotMatch(String(msg.error?.message), /4916055500|token-for-send-tests/);
  });

  it('says in the log how many messages it left unsent or unanswered when it stops', async () => {
    const stop = () => (helper.getNode('send') as unknown as { close(removed: boolean): Promise<void> }).close(false);
    // All finished: nothing to say.
    await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER_WA_ID }, { text: 'Hallo' });
    const first = next('ok');
    helper.getNode('send').receive({ to: CUSTOMER, payload: 'eins' });
    await first;
    await stop();
    assert.deepEqual(callsOf('warn', 'send'), []);
    await helper.unload();
    // One message a second: of three sent at once, two wait in the number's queue.
    const slow = flow([['ok'], ['fail']]).map((n) => (n.id === 'cfg' ? { ...n, throughput: 1 } : n));
    await helper.load([configNode, sendNode] as never, slow as never, credentials);
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER_WA_ID }, { text: 'Hallo' });
    const sent = collect('ok');
    for (const text of ['eins', 'zwei', 'drei']) helper.getNode('send').receive({ to: CUSTOMER, payload: text });
    await until(() => sent.length === 1, 'the first message');
    await stop();
    const warned = callsOf('warn', 'send').map(([text, ...rest]) => [String(text), ...rest]);
    assert.deepEqual(warned, [['whatsapp-send.log.stopped-with-unsent']]);
  });

  it('retries after 130429 (throughput reached) and then succeeds', async () => {
    registerNumber(1);
    await load();
    const ok = collect('ok');
    const failed = collect('fail');
    const template = { type: 'template', template: { name: 'order_update', language: { code: 'de' } } };
    // Both sends in the same sandbox second, however long the machine takes between them.
    frozenAt = Date.now();
    try {
      helper.getNode('send').receive({ to: '+49 170 1111111', payload: template });
      helper.getNode('send').receive({ to: '+49 170 2222222', payload: template });
      await until(() => ok.length + failed.length === 2, 'both results');
    } finally {
      frozenAt = undefined;
    }
    assert.equal(failed.length, 0, JSON.stringify(failed.map((m) => m.error)));
    const codes = proxy.messagePosts().map((a) => a.code);
    assert.deepEqual(
      codes.filter((c) => c !== undefined),
      [130429],
    );
    assert.equal(codes.length, 3, 'two messages, one retried');
    assert.equal(sandbox.accepted(PHONE_NUMBER_ID).length, 2);
  });

  it('sends a read receipt for msg.whatsapp.markRead', async () => {
    await load();
    const { messageId } = await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER_WA_ID }, { text: 'Gelesen?' });
    const done = next('ok');
    // The msg went through an earlier whatsapp-send of a template, which Meta held.
    const earlierSend = { messageStatus: 'held_for_quality_assessment' };
    helper.getNode('send').receive({
      payload: 'Gelesen?',
      whatsapp: { messageId, from: '+4915123456789', markRead: true, ...earlierSend },
    });
    const msg = await done;
    assert.equal(msg.whatsapp?.readReceipt, messageId);
    assert.equal(msg.whatsapp?.markRead, undefined);
    assert.equal(
      msg.whatsapp?.messageStatus,
      undefined,
      'a read receipt has no message_status; an earlier one is not kept',
    );
    const inbound = sandbox.conversation(PHONE_NUMBER_ID, CUSTOMER_WA_ID).find((m) => m.id === messageId);
    assert.equal(inbound?.status, 'read');
    assert.equal(sandbox.accepted().length, 0, 'a read receipt sends no message');
  });

  it('shows a typing indicator with the read receipt for msg.whatsapp.typing, and sends no message', async () => {
    await load();
    const { messageId } = await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER_WA_ID }, { text: 'Und?' });
    const done = next('ok');
    helper
      .getNode('send')
      .receive({ payload: 'ignored', whatsapp: { messageId, from: '+4915123456789', typing: true } });
    const msg = await done;
    assert.equal(msg.whatsapp?.readReceipt, messageId);
    assert.equal(msg.whatsapp?.typingIndicator, true);
    assert.equal(msg.whatsapp?.typing, undefined);
    const inbound = sandbox.conversation(PHONE_NUMBER_ID, CUSTOMER_WA_ID).find((m) => m.id === messageId);
    assert.equal(inbound?.status, 'read');
    assert.equal(inbound?.typing, true);
    assert.equal(sandbox.accepted().length, 0, 'a typing indicator sends no message');
  });

  it('refuses to send with a token holding a character no token has, as a config error, sending nothing', async () => {
    await helper.load([configNode, sendNode] as never, flow([['ok'], ['fail']]) as never, {
      cfg: { accessToken: `${ACCESS_TOKEN}…` },
    });
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER_WA_ID }, { text: 'Hallo' });
    const failed = next('fail');
    helper.getNode('send').receive({ to: CUSTOMER, payload: 'Hallo' });
    const msg = await failed;
    assert.equal(msg.error?.code, 'config-access-token-invalid');
    assert.equal(msg.error?.retryable, false);
    assert.equal(msg.error?.deliveryUnknown, undefined);
    assert.doesNotMatch(JSON.stringify(msg.error), new RegExp(ACCESS_TOKEN));
    assert.equal(proxy.messagePosts().length, 0, 'no request reached the API');
    assert.equal(sandbox.accepted().length, 0);
  });

  it('sends with a token pasted with a space or line break around it, as it did before tokens were checked', async () => {
    await helper.load([configNode, sendNode] as never, flow([['ok'], ['fail']]) as never, {
      cfg: { accessToken: ` ${ACCESS_TOKEN} \n` },
    });
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER_WA_ID }, { text: 'Hallo' });
    const sent = next('ok');
    helper.getNode('send').receive({ to: CUSTOMER, payload: 'Hallo' });
    await sent;
    assert.equal(sandbox.accepted().length, 1);
  });

  it('reports a bad access token (190) without revealing it', async () => {
    await helper.load([configNode, sendNode] as never, flow([['ok'], ['fail']]) as never, {
      cfg: { accessToken: 'wrong-token-value' },
    });
    const failed = next('fail');
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER_WA_ID }, { text: 'Hallo' });
    helper.getNode('send').receive({ to: CUSTOMER, payload: 'x' });
    const msg = await failed;
    assert.equal(msg.error?.code, 190);
    assert.doesNotMatch(JSON.stringify(msg.error), /wrong-token-value/);
  });
});
