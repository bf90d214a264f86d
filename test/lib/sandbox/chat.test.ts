import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createChatHandler } from '../../../lib/sandbox/chat';
import { Sandbox } from '../../../lib/sandbox/sandbox';
import { type RunningSandboxServer, startSandboxServer } from '../../../lib/sandbox/server';
import {
  APP_SECRET,
  CUSTOMER,
  callApi,
  DISPLAY_NUMBER,
  PHONE_NUMBER_ID,
  type Receiver,
  signatureIsValid,
  startReceiver,
  TOKEN,
  textBody,
} from './helpers';

describe('sandbox chat page and endpoints', () => {
  let sandbox: Sandbox;
  let server: RunningSandboxServer;
  let receiver: Receiver;
  let chat: string;

  before(async () => {
    receiver = await startReceiver();
    sandbox = new Sandbox();
    sandbox.registerNumber({
      phoneNumberId: PHONE_NUMBER_ID,
      displayPhoneNumber: DISPLAY_NUMBER,
      verifiedName: 'Beispiel GmbH',
      accessToken: TOKEN,
      appSecret: APP_SECRET,
      webhookUrls: () => [receiver.url],
    });
    server = await startSandboxServer({ sandbox });
    chat = `${server.url}/chat/`;
  });

  beforeEach(() => {
    sandbox.reset();
    receiver.received.length = 0;
  });

  after(async () => {
    await server.close();
    sandbox.close();
    await receiver.close();
  });

  it('answers only to a loopback name in Host on a loopback address (no DNS rebinding)', async () => {
    const status = (path: string, host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: server.port, path, headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    for (const path of ['/chat/', '/chat/conversations', '/']) {
      assert.equal(await status(path, `rebound.example:${server.port}`), 403, path);
    }
    assert.equal(await status('/chat/', `localhost:${server.port}`), 200);
    assert.equal(await status('/chat/', `127.0.0.1:${server.port}`), 200);
    // The API itself goes by its token, whatever the name it is called by (a tunnel, a container's name).
    assert.equal(await status(`/v25.0/${PHONE_NUMBER_ID}`, 'rebound.example'), 401);
  });

  it('serves the chat page, its script and stylesheet', async () => {
    const page = await fetch(chat);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const html = await page.text();
    assert.match(html, /<script src="chat\.js"><\/script>/);
    assert.match(html, /<label for="text"/);
    assert.ok(!/src="\/|href="\//.test(html), 'assets are referenced relatively');
    const script = await fetch(`${chat}chat.js`);
    assert.match(script.headers.get('content-type') ?? '', /javascript/);
    const js = await script.text();
    assert.match(js, /auth-tokens/);
    assert.match(js, /Authorization/);
    assert.ok(!/fetch\('\//.test(js) && !/request\('\//.test(js), 'endpoints are called relatively');
    const css = await fetch(`${chat}chat.css`);
    assert.match(css.headers.get('content-type') ?? '', /text\/css/);
    const redirect = await fetch(`${server.url}/chat`, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), '/chat/');
  });

  it('lets the page load only its own files and no other site frame it (it runs where the editor token lives)', async () => {
    for (const asset of ['', 'index.html', 'chat.js', 'chat.css']) {
      const answer = await fetch(`${chat}${asset}`);
      assert.equal(answer.status, 200, asset);
      const policy = answer.headers.get('content-security-policy') ?? '';
      for (const directive of [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'self'",
        "base-uri 'none'",
      ]) {
        assert.ok(policy.includes(directive), `${asset || 'page'}: ${directive} in "${policy}"`);
      }
      assert.equal(answer.headers.get('x-frame-options'), 'SAMEORIGIN', asset);
      assert.equal(answer.headers.get('x-content-type-options'), 'nosniff', asset);
      assert.equal(answer.headers.get('referrer-policy'), 'no-referrer', asset);
    }
    // The policy allows no inline script or style: the page must have none.
    const html = await (await fetch(chat)).text();
    assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)|<style|\sstyle=|\son[a-z]+=/i);
  });

  it('lists the business numbers without token or secret', async () => {
    const answer = await callApi(`${chat}numbers`);
    assert.deepEqual(answer.body, {
      numbers: [{ phoneNumberId: PHONE_NUMBER_ID, displayPhoneNumber: DISPLAY_NUMBER, verifiedName: 'Beispiel GmbH' }],
    });
  });

  it('sends a customer message as a signed webhook and shows it in messages and conversations', async () => {
    const sent = await callApi(`${chat}send`, {
      body: { phoneNumberId: PHONE_NUMBER_ID, waId: `+${CUSTOMER}`, name: 'Erika', text: 'Ich möchte mich anmelden' },
    });
    assert.equal(sent.status, 200);
    assert.deepEqual(sent.body.deliveries, [{ url: receiver.url, status: 200 }]);
    assert.equal(receiver.received.length, 1);
    assert.ok(
      signatureIsValid(receiver.received[0].raw, receiver.received[0].headers['x-hub-signature-256'], APP_SECRET),
    );
    assert.equal(receiver.received[0].json.entry[0].changes[0].value.messages[0].text.body, 'Ich möchte mich anmelden');

    const messages = await callApi(`${chat}messages?phoneNumberId=${PHONE_NUMBER_ID}&waId=${CUSTOMER}`);
    assert.equal(messages.body.messages.length, 1);
    assert.equal(messages.body.messages[0].id, sent.body.messageId);
    assert.equal(messages.body.messages[0].direction, 'inbound');
    assert.equal(messages.body.conversation.name, 'Erika');
    assert.equal(messages.body.conversation.windowOpen, true);
    assert.ok(messages.body.revision > 0);

    const conversations = await callApi(`${chat}conversations?phoneNumberId=${PHONE_NUMBER_ID}`);
    assert.equal(conversations.body.conversations.length, 1);
    assert.equal(conversations.body.conversations[0].waId, CUSTOMER);
  });

  it('long-polls messages until the business writes', async () => {
    await callApi(`${chat}send`, { body: { phoneNumberId: PHONE_NUMBER_ID, waId: CUSTOMER, text: 'Hallo' } });
    const first = await callApi(`${chat}messages?phoneNumberId=${PHONE_NUMBER_ID}&waId=${CUSTOMER}`);
    const waiting = callApi(
      `${chat}messages?phoneNumberId=${PHONE_NUMBER_ID}&waId=${CUSTOMER}&since=${first.body.revision}`,
    );
    const reply = await callApi(`${server.url}/v25.0/${PHONE_NUMBER_ID}/messages`, {
      token: TOKEN,
      body: textBody(CUSTOMER, 'Willkommen!'),
    });
    assert.equal(reply.status, 200);
    const woken = await waiting;
    assert.ok(woken.body.revision > first.body.revision);
    assert.ok(woken.body.messages.some((m: { text: string }) => m.text === 'Willkommen!'));
    await sandbox.idle();
  });

  it('answers a long-poll unchanged after its timeout', async () => {
    const handler = createChatHandler(sandbox, { basePath: '/c/', longPollMs: 50 });
    const local = http.createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = local.address() as AddressInfo;
      const answer = await callApi(
        `http://127.0.0.1:${port}/c/messages?phoneNumberId=${PHONE_NUMBER_ID}&waId=${CUSTOMER}&since=0`,
      );
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body.messages, []);
      assert.equal(answer.body.revision, 0);
    } finally {
      local.closeAllConnections();
      await new Promise((resolve) => local.close(resolve));
    }
  });

  it('sends button and list replies with the business message as context', async () => {
    await callApi(`${chat}send`, {
      body: {
        phoneNumberId: PHONE_NUMBER_ID,
        waId: CUSTOMER,
        buttonReply: { id: 'yes', title: 'Ja' },
        contextMessageId: 'wamid.HBgLNDkxNTExMjM0NTY3OBUCABEYEjQ3',
      },
    });
    await callApi(`${chat}send`, {
      body: { phoneNumberId: PHONE_NUMBER_ID, waId: CUSTOMER, listReply: { id: 'row1', title: 'Newsletter' } },
    });
    const [button, list] = receiver.received.map((d) => d.json.entry[0].changes[0].value.messages[0]);
    assert.equal(button.interactive.button_reply.id, 'yes');
    assert.equal(button.context.id, 'wamid.HBgLNDkxNTExMjM0NTY3OBUCABEYEjQ3');
    assert.equal(list.interactive.list_reply.id, 'row1');
  });

  it('records a marketing preference and sends the user_preferences webhook', async () => {
    const answer = await callApi(`${chat}marketing-preference`, {
      body: { phoneNumberId: PHONE_NUMBER_ID, waId: CUSTOMER, value: 'stop' },
    });
    assert.equal(answer.status, 200);
    assert.equal(receiver.received[0].json.entry[0].changes[0].field, 'user_preferences');
    const bad = await callApi(`${chat}marketing-preference`, {
      body: { phoneNumberId: PHONE_NUMBER_ID, waId: CUSTOMER, value: 'maybe' },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'sandbox-invalid-preference');
  });

  it("plays a number change: Meta's system message from the old number, without contacts", async () => {
    const answer = await callApi(`${chat}number-change`, {
      body: { phoneNumberId: PHONE_NUMBER_ID, waId: CUSTOMER, newWaId: '+4917612345678' },
    });
    assert.equal(answer.status, 200);
    const value = receiver.received[0].json.entry[0].changes[0].value;
    assert.equal(value.contacts, undefined);
    const [message] = value.messages;
    assert.equal(message.id, answer.body.messageId);
    assert.equal(message.from, CUSTOMER.replace(/^\+/, ''));
    assert.equal(message.type, 'system');
    assert.equal(message.system.type, 'user_changed_number');
    assert.equal(message.system.wa_id, '4917612345678');
    for (const bad of [{ newWaId: CUSTOMER }, { newWaId: '123' }, {}]) {
      const refused = await callApi(`${chat}number-change`, {
        body: { phoneNumberId: PHONE_NUMBER_ID, waId: CUSTOMER, ...bad },
      });
      assert.equal(refused.status, 400, JSON.stringify(bad));
    }
    assert.equal(receiver.received.length, 1, 'a refused change sends nothing');
  });

  it('plays a new business-scoped user id for a customer who has one, and refuses anything else', async () => {
    const refused = await callApi(`${chat}user-id-change`, {
      body: { phoneNumberId: PHONE_NUMBER_ID, waId: CUSTOMER, userId: 'DE.2' },
    });
    assert.equal(refused.status, 400, 'a customer without a user id');
    assert.equal(refused.body.error.code, 'sandbox-invalid-user-id-change');
    await callApi(`${chat}send`, {
      body: { phoneNumberId: PHONE_NUMBER_ID, waId: CUSTOMER, userId: 'DE.1', text: 'Hi' },
    });
    for (const userId of ['DE.1', 'not an id']) {
      const bad = await callApi(`${chat}user-id-change`, {
        body: { phoneNumberId: PHONE_NUMBER_ID, waId: CUSTOMER, userId },
      });
      assert.equal(bad.status, 400, userId);
    }
    const answer = await callApi(`${chat}user-id-change`, {
      body: { phoneNumberId: PHONE_NUMBER_ID, waId: CUSTOMER, userId: 'DE.2' },
    });
    assert.equal(answer.status, 200);
    assert.equal(receiver.received.length, 2);
    const value = receiver.received[1].json.entry[0].changes[0].value;
    assert.equal(value.contacts, undefined);
    const [message] = value.messages;
    assert.equal(message.from, undefined, 'no number in a user id change');
    assert.deepEqual(
      [message.system.type, message.system.previous_user_id, message.system.user_id],
      ['user_changed_user_id', 'DE.1', 'DE.2'],
    );
  });

  it('rejects bad send requests with clear codes and sends nothing', async () => {
    const noText = await callApi(`${chat}send`, { body: { phoneNumberId: PHONE_NUMBER_ID, waId: CUSTOMER } });
    assert.equal(noText.status, 400);
    assert.equal(noText.body.error.code, 'sandbox-invalid-message');
    // Too long says so, not that a text is missing.
    const long = await callApi(`${chat}send`, {
      body: { phoneNumberId: PHONE_NUMBER_ID, waId: CUSTOMER, text: 'x'.repeat(4097) },
    });
    assert.deepEqual([long.status, long.body.error.code], [400, 'sandbox-text-too-long']);
    assert.match(long.body.error.message, /at most 4096 characters; this one has 4097/);
    const badJson = await callApi(`${chat}send`, { rawBody: '{"text":' });
    assert.equal(badJson.status, 400);
    assert.equal(badJson.body.error.code, 'sandbox-invalid-request');
    const badPhone = await callApi(`${chat}send`, { body: { phoneNumberId: PHONE_NUMBER_ID, waId: '123', text: 'x' } });
    assert.equal(badPhone.status, 400);
    assert.equal(badPhone.body.error.code, 'invalid-phone');
    const unknownNumber = await callApi(`${chat}send`, { body: { phoneNumberId: '404', waId: CUSTOMER, text: 'x' } });
    assert.equal(unknownNumber.status, 404);
    assert.equal(unknownNumber.body.error.code, 'sandbox-unknown-number');
    // What another web page can post without the browser asking first (no CORS preflight for text/plain).
    const crossSite = await fetch(`${chat}send`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', origin: 'https://evil.example' },
      body: JSON.stringify({ phoneNumberId: PHONE_NUMBER_ID, waId: CUSTOMER, text: 'STOP' }),
    });
    assert.equal(crossSite.status, 415);
    assert.equal(((await crossSite.json()) as { error: { code: string } }).error.code, 'sandbox-invalid-request');
    assert.equal(receiver.received.length, 0);
  });

  it('works mounted in an express app whose body parser already read the JSON', async () => {
    const app = express();
    app.use(express.json());
    const handler = createChatHandler(sandbox, { basePath: '/whatsapp-gdpr/sandbox/' });
    // Node-RED's admin app: app.get keeps the full path, app.use strips the mount point; both must work.
    // The paths whatsapp-config registers: the base without and with a slash.
    app.get(['/whatsapp-gdpr/sandbox', '/whatsapp-gdpr/sandbox/*'], (req, res, next) => handler(req, res, next));
    app.use('/mounted', (req, res, next) => handler(req, res, next));
    app.post('/whatsapp-gdpr/sandbox/*', (req, res, next) => handler(req, res, next));
    const local = http.createServer(app);
    await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(local.address() as AddressInfo).port}`;
      const page = await fetch(`${base}/whatsapp-gdpr/sandbox/`);
      assert.equal(page.status, 200);
      const withoutSlash = await fetch(`${base}/whatsapp-gdpr/sandbox`, { redirect: 'manual' });
      assert.equal(withoutSlash.status, 302);
      assert.equal(withoutSlash.headers.get('location'), '/whatsapp-gdpr/sandbox/');
      assert.match(await page.text(), /chat\.js/);
      const mountedPage = await fetch(`${base}/mounted`, { redirect: 'manual' });
      assert.equal(mountedPage.status, 302);
      assert.equal(mountedPage.headers.get('location'), '/mounted/');
      const numbers = await callApi(`${base}/mounted/numbers`);
      assert.equal(numbers.body.numbers[0].phoneNumberId, PHONE_NUMBER_ID);
      const sent = await callApi(`${base}/whatsapp-gdpr/sandbox/send`, {
        body: { phoneNumberId: PHONE_NUMBER_ID, waId: CUSTOMER, text: 'über express' },
      });
      assert.equal(sent.status, 200);
      assert.equal(receiver.received[0].json.entry[0].changes[0].value.messages[0].text.body, 'über express');
      const unknown = await fetch(`${base}/whatsapp-gdpr/sandbox/nothing-here`);
      assert.equal(unknown.status, 404, 'unknown paths go to next()');
    } finally {
      local.closeAllConnections();
      await new Promise((resolve) => local.close(resolve));
    }
  });
});
