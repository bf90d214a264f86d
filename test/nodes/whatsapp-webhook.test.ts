import assert from 'node:assert/strict';
import { unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import type { NodeAPI } from 'node-red';
import { buildMessageWebhook, buildStatusWebhook, buildUserPreferencesWebhook } from '../../lib/webhook/build';
import { escapeNonAscii, signPayload } from '../../lib/webhook/signature';
import consentStoreNode, { type ConsentStoreNode } from '../../nodes/consent-store';
import { bodyReadDeadline, unverifiedBytesInFlight } from '../../nodes/shared/raw-body';
import type { WhatsAppConfigNode } from '../../nodes/shared/types';
import configNode from '../../nodes/whatsapp-config';
import sendNode from '../../nodes/whatsapp-send';
import webhookNode from '../../nodes/whatsapp-webhook';
import { helper } from '../helpers/node-red';
import { mountHttpApps, routesAt } from '../helpers/node-red-http';
import { json, MockGraph, metaError, okBody } from '../lib/cloud-api/mock-graph';
import { callsOf, statusesOf, storeCredentials, storeNode, tempDir } from './consent-fixtures';

const APP_SECRET = 'app-secret-for-tests';
const VERIFY_TOKEN = 'verify-token-for-tests';
const NUMBER = { phoneNumberId: '106540352242922', displayPhoneNumber: '+49 30 1234567' };

interface Received {
  messages: Record<string, unknown>[];
  statuses: Record<string, unknown>[];
  events: Record<string, unknown>[];
}

function flow(webhook: Record<string, unknown> = {}): Record<string, unknown>[] {
  return [
    { id: 'cfg', type: 'whatsapp-config', name: 'test', mode: 'cloud', phoneNumberId: NUMBER.phoneNumberId },
    {
      id: 'hook',
      type: 'whatsapp-webhook',
      path: '/whatsapp',
      whatsapp: 'cfg',
      wires: [['out-messages'], ['out-statuses'], ['out-events']],
      ...webhook,
    },
    { id: 'out-messages', type: 'helper' },
    { id: 'out-statuses', type: 'helper' },
    { id: 'out-events', type: 'helper' },
  ];
}

const credentials = { cfg: { appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN } };

/** Collects what the three outputs emit. */
function collect(): Received {
  const received: Received = { messages: [], statuses: [], events: [] };
  helper.getNode('out-messages').on('input', (msg: Record<string, unknown>) => received.messages.push(msg));
  helper.getNode('out-statuses').on('input', (msg: Record<string, unknown>) => received.statuses.push(msg));
  helper.getNode('out-events').on('input', (msg: Record<string, unknown>) => received.events.push(msg));
  return received;
}

interface Answer {
  status: number;
  body: string;
}

/** A POST over a real socket, with the body given as exact bytes. */
function post(path: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
    const req = http.request(`${helper.url()}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(bytes.length), ...headers },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(bytes);
  });
}

function signedPost(path: string, payload: object | string, secret = APP_SECRET): Promise<Answer> {
  const raw = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return post(path, raw, { 'x-hub-signature-256': signPayload(raw, secret) });
}

function textMessage(text: string, messageId?: string): object {
  return buildMessageWebhook({
    ...NUMBER,
    waId: '4915123456789',
    profileName: 'Erika',
    message: { type: 'text', text: { body: text } },
    messageId,
  });
}

/** Meta's template_category_update for a UTILITY template of the account made MARKETING. */
function templateCategoryUpdate(name: string): object {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        time: 1767000000,
        changes: [
          {
            field: 'template_category_update',
            value: {
              message_template_id: 1689556908129832,
              message_template_name: name,
              message_template_language: 'de',
              previous_category: 'UTILITY',
              new_category: 'MARKETING',
            },
          },
        ],
      },
    ],
  };
}

/**
 * Waits until `predicate` holds; the webhook emits before or right after it answers. Up to 10 s: a store's thread
 * may take a second to start (or fail) on a loaded machine.
 */
async function until(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('whatsapp-webhook node', () => {
  let mount: ReturnType<typeof mountHttpApps>;

  beforeEach(async () => {
    await helper.startServer();
    mount = mountHttpApps();
  });

  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
  });

  /** The webhook keeping its marks and inbound times in a consent store in `dir`. */
  async function loadWithStore(dir: string): Promise<Received> {
    const nodes = [configNode, webhookNode, mount, consentStoreNode];
    const withStore = [...flow({ store: 'store' }), storeNode('store', dir)];
    await helper.load(nodes as never, withStore as never, { ...credentials, store: storeCredentials() });
    return collect();
  }

  async function load(webhook: Record<string, unknown> = {}, extra: ((RED: NodeAPI) => void)[] = []) {
    await helper.load([configNode, webhookNode, mount, ...extra] as never, flow(webhook) as never, credentials);
    return collect();
  }

  it('answers Meta verification only with the right verify token', async () => {
    await load();
    const base = `${helper.url()}/whatsapp?hub.mode=subscribe&hub.challenge=1158201444`;
    const good = await fetch(`${base}&hub.verify_token=${VERIFY_TOKEN}`);
    assert.equal(good.status, 200);
    assert.equal(await good.text(), '1158201444');
    const bad = await fetch(`${base}&hub.verify_token=wrong`);
    assert.equal(bad.status, 403);
    assert.notEqual(await bad.text(), '1158201444');
    const noMode = await fetch(`${helper.url()}/whatsapp?hub.challenge=1&hub.verify_token=${VERIFY_TOKEN}`);
    assert.equal(noMode.status, 403);
  });

  it('emits messages, statuses and events of a signed batch on their own outputs', async () => {
    const received = await load();
    const inbound = textMessage('Hallo') as { entry: { changes: unknown[] }[] };
    const second = textMessage('Noch eine Frage') as { entry: { changes: unknown[] }[] };
    const status = buildStatusWebhook({
      ...NUMBER,
      recipientWaId: '4915123456789',
      messageId: 'wamid.outgoing-1',
      status: 'delivered',
    }) as { entry: { changes: unknown[] }[] };
    const stop = buildUserPreferencesWebhook({ ...NUMBER, waId: '4915123456789', value: 'stop' }) as {
      entry: { changes: unknown[] }[];
    };
    inbound.entry[0].changes.push(...second.entry[0].changes, ...status.entry[0].changes, ...stop.entry[0].changes);

    const answer = await signedPost('/whatsapp', inbound);
    assert.equal(answer.status, 200);
    await until(() => received.messages.length === 2 && received.statuses.length === 1, 'the batch');
    await until(() => received.events.length === 1, 'the event');

    const [first, next] = received.messages;
    assert.equal(first.payload, 'Hallo');
    assert.equal(next.payload, 'Noch eine Frage');
    const whatsapp = first.whatsapp as Record<string, unknown>;
    assert.equal(whatsapp.from, '+4915123456789');
    assert.equal(whatsapp.phoneNumberId, NUMBER.phoneNumberId);
    assert.equal(whatsapp.type, 'text');
    assert.equal(received.statuses[0].payload, 'delivered');
    assert.equal((received.statuses[0].whatsapp as Record<string, unknown>).messageId, 'wamid.outgoing-1');
    assert.equal(received.events[0].payload, 'stop');
  });

  it('handles a message for another number of the business as usual, and warns once that answers go out from this one', async () => {
    const received = await load();
    const other = { phoneNumberId: '999999999999999', displayPhoneNumber: '+49 30 7654321' };
    const toOther = (text: string) =>
      buildMessageWebhook({
        ...other,
        waId: '4915123456789',
        message: { type: 'text', text: { body: text } },
      });
    assert.equal((await signedPost('/whatsapp', toOther('STOP'))).status, 200);
    assert.equal((await signedPost('/whatsapp', toOther('Hallo'))).status, 200);
    assert.equal((await signedPost('/whatsapp', textMessage('an unser Nummer'))).status, 200);
    await until(() => received.messages.length === 3, 'the three messages');
    assert.deepEqual(
      received.messages.map((m) => (m.whatsapp as Record<string, unknown>).phoneNumberId),
      [other.phoneNumberId, other.phoneNumberId, NUMBER.phoneNumberId],
    );
    const warned = callsOf('warn', 'hook').map((args) => String(args[0]));
    assert.equal(warned.length, 1, JSON.stringify(warned));
    // The test runtime has no catalogue: the key stands for the text naming both numbers.
    assert.match(warned[0], /other-number|999999999999999/);
  });

  it('keeps the raw bytes although the admin app parses JSON first (umlauts, emoji, odd spacing)', async () => {
    const received = await load();
    const raw = JSON.stringify(textMessage('Grüße aus Köln 👋'), null, 3).replace('"object"', ' "object" ');
    const answer = await signedPost('/whatsapp', raw);
    assert.equal(answer.status, 200);
    await until(() => received.messages.length === 1, 'the message');
    assert.equal(received.messages[0].payload, 'Grüße aus Köln 👋');
  });

  it('accepts a body signed the way Meta signs it (non-ASCII escaped as \\uXXXX)', async () => {
    const received = await load();
    const raw = JSON.stringify(textMessage('Schöne Grüße 🎉'));
    const answer = await post('/whatsapp', raw, {
      'x-hub-signature-256': signPayload(escapeNonAscii(raw), APP_SECRET),
    });
    assert.equal(answer.status, 200);
    await until(() => received.messages.length === 1, 'the message');
    assert.equal(received.messages[0].payload, 'Schöne Grüße 🎉');
  });

  it('answers 401 and emits nothing for a wrong, forged or missing signature', async () => {
    const received = await load();
    const forged = JSON.stringify(textMessage('forged'));
    const wrongSecret = await signedPost('/whatsapp', forged, 'not-the-app-secret');
    assert.equal(wrongSecret.status, 401);
    // Whoever tries the endpoint by hand reads why in the body.
    assert.equal(
      wrongSecret.body,
      '401 webhook-signature-invalid: The X-Hub-Signature-256 header does not match the body',
    );
    assert.match((await post('/whatsapp', forged)).body, /^401 webhook-signature-missing: /);
    // The status says why in words (the catalogue's, or the error's own where the test runtime has none).
    const refused = String(statusesOf('hook').at(-1)?.text);
    assert.match(refused, /^401: .*X-Hub-Signature-256/);
    assert.doesNotMatch(refused, /webhook-signature-invalid/);
    assert.equal((await post('/whatsapp', forged)).status, 401);
    assert.equal((await post('/whatsapp', forged, { 'x-hub-signature-256': 'sha256=' + '0'.repeat(64) })).status, 401);
    const tampered = forged.replace('forged', 'forgeD');
    assert.equal(
      (await post('/whatsapp', tampered, { 'x-hub-signature-256': signPayload(forged, APP_SECRET) })).status,
      401,
    );

    // A flood of forged POSTs must not flood the log: one warning, the rest counted into the next one.
    const warned = callsOf('warn', 'hook');
    assert.equal(warned.length, 1, JSON.stringify(warned));

    // A good one afterwards is the first and only thing emitted.
    assert.equal((await signedPost('/whatsapp', textMessage('genuine'))).status, 200);
    await until(() => received.messages.length === 1, 'the genuine message');
    assert.deepEqual(
      received.messages.map((m) => m.payload),
      ['genuine'],
    );
    assert.equal(received.statuses.length + received.events.length, 0);
  });

  it('answers 400 for malformed JSON and for bodies that are not WhatsApp webhooks', async () => {
    const received = await load();
    const malformed = await signedPost('/whatsapp', '{"object": "whatsapp_business_account", ');
    assert.deepEqual(malformed, {
      status: 400,
      body: '400 webhook-malformed-json: The webhook body is not valid JSON',
    });
    const notWhatsApp = await signedPost('/whatsapp', { object: 'page', entry: [] });
    assert.equal(notWhatsApp.status, 400);
    assert.match(notWhatsApp.body, /^400 webhook-not-whatsapp: /);
    assert.equal(received.messages.length, 0);
  });

  it('answers 413 for a body over maxBytes, declared or streamed, and still works afterwards', async () => {
    const received = await load({ maxBytes: 2048 });
    const big = JSON.stringify({ object: 'whatsapp_business_account', padding: 'x'.repeat(4096) });
    const declared = await signedPost('/whatsapp', big);
    assert.equal(declared.status, 413);
    assert.match(declared.body, /^413 webhook-too-large: The webhook body is larger than 2048 bytes/);

    // Without content-length (chunked), the limit applies while reading.
    const streamed = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${helper.url()}/whatsapp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(big, APP_SECRET) },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < big.length; i += 512) req.write(big.slice(i, i + 512));
      req.end();
    });
    assert.equal(streamed, 413);

    assert.equal((await signedPost('/whatsapp', textMessage('small'))).status, 200);
    await until(() => received.messages.length === 1, 'the small message');
  });

  it('refuses a body over the default 3 MB', async () => {
    await load();
    const big = JSON.stringify({ object: 'whatsapp_business_account', padding: 'x'.repeat(3 * 1024 * 1024) });
    assert.equal((await signedPost('/whatsapp', big)).status, 413);
  });

  it('reads at most 32 MiB of large unverified bodies at once: past that 503, small ones still pass, bytes come back', async () => {
    const received = await load();
    const size = 3 * 1024 * 1024; // the default maxBytes: each body is allowed on its own
    const stalled: http.ClientRequest[] = [];
    const answers: number[] = [];
    const open = (declared: boolean): http.ClientRequest => {
      const req = http.request(`${helper.url()}/whatsapp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-hub-signature-256': signPayload('unsigned', APP_SECRET),
          ...(declared ? { 'content-length': String(size) } : {}),
        },
      });
      req.on('response', (res) => {
        res.resume();
        answers.push(res.statusCode ?? 0);
      });
      req.on('error', () => {});
      return req;
    };
    try {
      // Ten bodies of 3 MiB, each one byte short of its end: 30 MiB held while they are read.
      for (let i = 0; i < 10; i++) {
        const req = open(true);
        req.write(Buffer.alloc(size - 1, 0x20));
        stalled.push(req);
      }
      await until(() => unverifiedBytesInFlight() === 10 * (size - 1), 'ten bodies being read');
      assert.deepEqual(answers, [], 'each body alone is within maxBytes');

      // An eleventh announcing 3 MiB is refused at once; one without content-length once it crosses the budget.
      const announced = open(true);
      announced.end(Buffer.alloc(size, 0x20));
      const chunked = open(false);
      for (let i = 0; i < 6; i++) chunked.write(Buffer.alloc(512 * 1024, 0x20));
      chunked.end();
      await until(() => answers.length === 2, 'both refused');
      assert.deepEqual(answers, [503, 503]);
      assert.equal(unverifiedBytesInFlight(), 10 * (size - 1), 'the refused bodies hold nothing');
      // Meta's bodies are small and have a budget of their own: the flood does not keep them out.
      assert.equal((await signedPost('/whatsapp', textMessage('during the flood'))).status, 200);
      await until(() => received.messages.length === 1, 'the message during the flood');

      for (const req of stalled.splice(0)) req.destroy();
      await until(() => unverifiedBytesInFlight() === 0, 'the cut connections gave their bytes back');
      assert.equal((await signedPost('/whatsapp', textMessage('after the flood'))).status, 200);
      await until(() => received.messages.length === 2, 'the message after the flood');
    } finally {
      for (const req of stalled) req.destroy();
    }
  });

  it('answers 408 to a body that trickles in, closes the connection and gives its share of the budget back', async () => {
    const received = await load();
    const deadline = bodyReadDeadline.ms;
    bodyReadDeadline.ms = 300;
    const req = http.request(`${helper.url()}/whatsapp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': '1000',
        'x-hub-signature-256': signPayload('unsigned', APP_SECRET),
      },
    });
    try {
      req.on('error', () => {});
      const answered = new Promise<{ status: number; connection: unknown }>((resolve) =>
        req.on('response', (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, connection: res.headers.connection });
        }),
      );
      const closed = new Promise<void>((resolve) => req.on('close', () => resolve()));
      req.write('{"object":');
      await until(() => unverifiedBytesInFlight() === 10, 'the first bytes counted');
      const { status, connection } = await answered;
      assert.equal(status, 408);
      assert.equal(connection, 'close');
      await closed;
      assert.equal(unverifiedBytesInFlight(), 0, 'the budget is back');
      assert.equal(received.messages.length, 0);
      assert.match(String(statusesOf('hook').at(-1)?.text), /^408: /);
    } finally {
      bodyReadDeadline.ms = deadline;
      req.destroy();
    }
    assert.equal((await signedPost('/whatsapp', textMessage('on time'))).status, 200);
  });

  it("looks a template's category up again once Meta reports it changed, instead of trusting it for ten minutes", async () => {
    const graph = new MockGraph();
    let category = 'UTILITY';
    const listings: string[] = [];
    graph.always((req, res) => {
      if (!req.url.includes('/message_templates')) return json(res, 200, {});
      listings.push(req.url);
      json(res, 200, { data: [{ name: 'order_update', language: 'de', category, status: 'APPROVED' }] });
    });
    const apiBaseUrl = await graph.start();
    try {
      const nodes = flow();
      Object.assign(nodes[0], { apiBaseUrl, wabaId: '102290129340398' });
      await helper.load([configNode, webhookNode, mount] as never, nodes as never, {
        cfg: { ...credentials.cfg, accessToken: 'token-for-template-tests' },
      });
      const client = await (helper.getNode('cfg') as unknown as WhatsAppConfigNode).client();
      assert.equal(await client.templateCategory('order_update'), 'UTILITY');
      category = 'MARKETING';
      const update = templateCategoryUpdate('order_update');
      assert.equal((await signedPost('/whatsapp', update)).status, 200);
      assert.equal(await client.templateCategory('order_update'), 'MARKETING');
      assert.equal(listings.length, 2);
    } finally {
      await graph.stop();
    }
  });

  it("makes every configuration forget a changed template's category: templates belong to the account", async () => {
    const graph = new MockGraph();
    let category = 'UTILITY';
    const listings: string[] = [];
    graph.always((req, res) => {
      if (!req.url.includes('/message_templates')) return json(res, 200, {});
      listings.push(req.url);
      json(res, 200, { data: [{ name: 'order_update', language: 'de', category, status: 'APPROVED' }] });
    });
    const apiBaseUrl = await graph.start();
    try {
      const nodes = flow();
      const account = { apiBaseUrl, wabaId: '102290129340398' };
      Object.assign(nodes[0], account);
      // A second number of the same account: Meta sends the account's template webhooks to one callback URL only.
      const second = { id: 'cfg2', type: 'whatsapp-config', name: 'second', mode: 'cloud', ...account };
      nodes.push({ ...second, phoneNumberId: '106540352242923' });
      await helper.load([configNode, webhookNode, mount] as never, nodes as never, {
        cfg: { ...credentials.cfg, accessToken: 'token-for-template-tests' },
        cfg2: { accessToken: 'token-for-template-tests' },
      });
      const client = await (helper.getNode('cfg2') as unknown as WhatsAppConfigNode).client();
      assert.equal(await client.templateCategory('order_update'), 'UTILITY');
      category = 'MARKETING';
      const update = templateCategoryUpdate('order_update');
      assert.equal((await signedPost('/whatsapp', update, 'not-the-app-secret')).status, 401);
      assert.equal(await client.templateCategory('order_update'), 'UTILITY', 'a forged webhook changes nothing');
      assert.equal((await signedPost('/whatsapp', update)).status, 200);
      assert.equal(await client.templateCategory('order_update'), 'MARKETING');
      assert.equal(listings.length, 2);
    } finally {
      await graph.stop();
    }
  });

  it('refuses a template that was waiting to be tried again when Meta made it a marketing one meanwhile', async () => {
    const graph = new MockGraph();
    let category = 'UTILITY';
    let posts = 0;
    graph.always((req, res) => {
      if (req.url.includes('/message_templates')) {
        json(res, 200, { data: [{ name: 'order_update', language: 'de', category, status: 'APPROVED' }] });
        return;
      }
      // The number's details, asked for at the start.
      if (!req.url.endsWith('/messages')) return json(res, 200, {});
      posts += 1;
      if (posts > 1) return json(res, 200, okBody('wamid.after-the-update'));
      // Meta recategorises the template and its webhook arrives before the first attempt is answered as retryable.
      category = 'MARKETING';
      signedPost('/whatsapp', templateCategoryUpdate('order_update')).then(
        () => metaError(500, 131000, 'Something went wrong')(req, res),
        () => res.destroy(),
      );
    });
    const apiBaseUrl = await graph.start();
    try {
      const nodes = flow();
      Object.assign(nodes[0], { apiBaseUrl, wabaId: '102290129340398' });
      nodes.push(
        { id: 'send', type: 'whatsapp-send', whatsapp: 'cfg', wires: [['sent'], ['failed']] },
        { id: 'sent', type: 'helper' },
        { id: 'failed', type: 'helper' },
      );
      await helper.load([configNode, webhookNode, sendNode, mount] as never, nodes as never, {
        cfg: { ...credentials.cfg, accessToken: 'token-for-template-tests' },
      });
      const outcome = new Promise<string>((resolve) => {
        helper.getNode('sent').on('input', () => resolve('sent'));
        helper
          .getNode('failed')
          .on('input', (msg: Record<string, unknown>) => resolve(String((msg.error as { code?: string }).code)));
      });
      const template = { type: 'template', template: { name: 'order_update', language: { code: 'de' } } };
      helper.getNode('send').receive({ to: '+4915123456789', payload: template });
      assert.equal(await outcome, 'marketing-template-needs-consent');
      assert.equal(posts, 1, 'not sent again without a marketing consent');
    } finally {
      await graph.stop();
    }
  });

  it('drops duplicates: the same message id or the same status twice', async () => {
    const received = await load();
    const message = textMessage('einmal', 'wamid.duplicate-1');
    assert.equal((await signedPost('/whatsapp', message)).status, 200);
    assert.equal((await signedPost('/whatsapp', message)).status, 200);
    const delivered = buildStatusWebhook({
      ...NUMBER,
      recipientWaId: '4915123456789',
      messageId: 'wamid.o',
      status: 'read',
    });
    assert.equal((await signedPost('/whatsapp', delivered)).status, 200);
    assert.equal((await signedPost('/whatsapp', delivered)).status, 200);
    assert.equal((await signedPost('/whatsapp', textMessage('zweimal', 'wamid.other-2'))).status, 200);
    await until(() => received.messages.length === 2 && received.statuses.length === 1, 'the distinct items');
    assert.deepEqual(
      received.messages.map((m) => m.payload),
      ['einmal', 'zweimal'],
    );
  });

  /** Runs `test` with the webhook keeping its marks in a consent store of its own, removed afterwards. */
  async function withOwnStore(test: (received: Received) => Promise<void>): Promise<void> {
    const dir = tempDir();
    try {
      await test(await loadWithStore(dir.path));
    } finally {
      await helper.unload();
      dir.remove();
    }
  }

  /** Her text message as Meta delivers it. */
  function textWebhook(text: string, messageId: string) {
    return buildMessageWebhook({
      ...NUMBER,
      waId: '4915123456789',
      message: { type: 'text', text: { body: text } },
      messageId,
      timestamp: 1_790_000_000,
    });
  }

  it('with a consent store: keeps de-duplication marks and the service window in the ledger before answering 200', async () => {
    await withOwnStore(async (received) => {
      const body = textWebhook('gespeichert', 'wamid.ledger-1');
      assert.equal((await signedPost('/whatsapp', body)).status, 200);
      assert.equal((await signedPost('/whatsapp', body)).status, 200);
      await until(() => received.messages.length === 1, 'the message');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(received.messages.length, 1, 'the retried delivery is dropped');

      const ledger = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
      assert.equal(await ledger.markSeen('msg:wamid.ledger-1', 1000), false, 'the mark is in the ledger');
      assert.equal(await ledger.lastInboundAt('+4915123456789'), 1_790_000_000_000, 'the 24-hour window starts');
    });
  });

  it("with a consent store: an item whose id is too long for an id of Meta's is skipped, the rest handled", async () => {
    await withOwnStore(async (received) => {
      const body = textWebhook('STOP', 'wamid.stop-1') as {
        entry: { changes: { value: { messages: Record<string, unknown>[] } }[] }[];
      };
      const messages = body.entry[0].changes[0].value.messages;
      messages.push({ ...messages[0], id: 'y'.repeat(2000), text: { body: 'x' } });
      assert.equal((await signedPost('/whatsapp', body)).status, 200);
      await until(() => received.messages.length === 1, 'the STOP');
      assert.equal((received.messages[0].whatsapp as { messageId?: string }).messageId, 'wamid.stop-1');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(received.messages.length, 1, 'the item with the long id is not emitted');
    });
  });

  it('with a consent store: a reaction after an erasure does not bring the person back, a message does', async () => {
    const dir = tempDir();
    try {
      const received = await loadWithStore(dir.path);
      const ledger = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
      const phone = '+4915123456789';
      await ledger.recordInbound(phone, Date.now() - 60_000);
      await ledger.eraseSubject(phone, 'test');
      const sentAfterErasure = Math.floor(Date.now() / 1000) + 1;
      // Her 👍 on the erasure's confirmation: nothing about her is stored again, she stays erased and gone.
      const reaction = buildMessageWebhook({
        ...NUMBER,
        waId: '4915123456789',
        message: { type: 'reaction', reaction: { message_id: 'wamid.confirmation', emoji: '👍' } },
        messageId: 'wamid.reaction-1',
        timestamp: sentAfterErasure,
      });
      assert.equal((await signedPost('/whatsapp', reaction)).status, 200);
      await until(() => received.messages.length === 1, 'the reaction');
      assert.equal(await ledger.isErasedAndGone(phone), true, 'a reaction does not bring her back');
      assert.equal(await ledger.lastInboundAt(phone), undefined, 'no time stored for her');
      // She writes: she came back (the privacy notice is shown to her again).
      const text = buildMessageWebhook({
        ...NUMBER,
        waId: '4915123456789',
        message: { type: 'text', text: { body: 'Hallo, ich bin wieder da' } },
        messageId: 'wamid.after-erasure',
        timestamp: sentAfterErasure + 1,
      });
      assert.equal((await signedPost('/whatsapp', text)).status, 200);
      await until(() => received.messages.length === 2, 'the message');
      assert.equal(await ledger.isErasedAndGone(phone), false, 'a message brings her back');
    } finally {
      await helper.unload();
      dir.remove();
    }
  });

  it('shows a store that cannot open in red at deploy, and ready again once a webhook went through it', async () => {
    const dir = tempDir();
    try {
      // The store's directory cannot be made while a file stands in its place (a volume not mounted yet, say).
      const blocker = join(dir.path, 'not-yet');
      writeFileSync(blocker, '');
      const nodes = [configNode, webhookNode, mount, consentStoreNode];
      const withStore = [
        ...flow({ store: 'store' }),
        storeNode('store', dir.path, { sqlitePath: join(blocker, 'store.db') }),
      ];
      await helper.load(nodes as never, withStore as never, { ...credentials, store: storeCredentials() });
      await until(() => statusesOf('hook').at(-1)?.fill === 'red', 'a red status at deploy');
      // A forged POST is refused for what it is, without reaching the store: no 500, no error in the log.
      const forged = JSON.stringify(textMessage('forged'));
      assert.equal(
        (await post('/whatsapp', forged, { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` })).status,
        401,
      );
      assert.deepEqual(callsOf('error', 'hook'), []);
      unlinkSync(blocker);
      assert.equal((await signedPost('/whatsapp', textMessage('wieder da', 'wamid.back-1'))).status, 200);
      await until(() => statusesOf('hook').at(-1)?.fill === 'green', 'the ready status after the first webhook');
    } finally {
      await helper.unload();
      dir.remove();
    }
  });

  it('does not stack routes on redeploy and frees the old path', async () => {
    const received = await load();
    const httpNode = mount.mounted.httpNode!;
    assert.equal(routesAt(httpNode, '/whatsapp').length, 2);
    await helper.setFlows(flow() as never, 'full', credentials as never);
    await helper.setFlows(flow() as never, 'full', credentials as never);
    assert.equal(routesAt(httpNode, '/whatsapp').length, 2, 'one GET and one POST after two redeploys');

    await helper.setFlows(flow({ path: '/whatsapp-neu' }) as never, 'full', credentials as never);
    assert.equal(routesAt(httpNode, '/whatsapp').length, 0);
    assert.equal(routesAt(httpNode, '/whatsapp-neu').length, 2);
    assert.equal((await signedPost('/whatsapp', textMessage('alt'))).status, 404);

    const now = collect();
    assert.equal((await signedPost('/whatsapp-neu', textMessage('neu'))).status, 200);
    await until(() => now.messages.length === 1, 'the message on the new path');
    assert.equal(now.messages[0].payload, 'neu');
    assert.equal(received.messages.length, 0);
  });

  it('says at deploy that a cloud config without app secret refuses every webhook, and warns without verify token', async () => {
    await helper.load([configNode, webhookNode, mount] as never, flow() as never, {
      cfg: { verifyToken: VERIFY_TOKEN },
    });
    assert.equal(statusesOf('hook').at(-1)?.fill, 'red');
    // The test runtime has no catalogues: the keys stand for the texts (package tests check that each key has both).
    assert.equal(statusesOf('hook').at(-1)?.text, 'whatsapp-webhook.status.no-app-secret');
    assert.deepEqual(callsOf('error', 'hook'), [['whatsapp-webhook.errors.no-app-secret']]);
    assert.equal((await signedPost('/whatsapp', textMessage('Stop'))).status, 401, 'refused as the status says');
    await helper.unload();

    await helper.load([configNode, webhookNode, mount] as never, flow() as never, { cfg: { appSecret: APP_SECRET } });
    assert.equal(statusesOf('hook').at(-1)?.fill, 'green');
    assert.deepEqual(callsOf('error', 'hook'), []);
    assert.deepEqual(callsOf('warn', 'hook'), [['whatsapp-webhook.warn.no-verify-token']]);
    await helper.unload();

    await load();
    assert.deepEqual([callsOf('error', 'hook'), callsOf('warn', 'hook')], [[], []]);
  });

  it('shows an error and registers no route without a valid path or config', async () => {
    await load({ path: 'no-slash' });
    assert.equal(routesAt(mount.mounted.httpNode!, 'no-slash').length, 0);
    const answer = await signedPost('/no-slash', textMessage('x'));
    assert.equal(answer.status, 404);
  });
});
