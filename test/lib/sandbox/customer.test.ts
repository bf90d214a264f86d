import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Sandbox, type SandboxUpdate } from '../../../lib/sandbox/sandbox';
import { type RunningSandboxServer, startSandboxServer } from '../../../lib/sandbox/server';
import {
  APP_SECRET,
  CUSTOMER,
  callApi,
  DISPLAY_NUMBER,
  FakeClock,
  PHONE_NUMBER_ID,
  type Receiver,
  signatureIsValid,
  startReceiver,
  TOKEN,
  templateBody,
} from './helpers';

describe('sandbox customer side', () => {
  let clock: FakeClock;
  let sandbox: Sandbox;
  let receiver: Receiver;
  let second: Receiver;
  let server: RunningSandboxServer;

  before(async () => {
    receiver = await startReceiver();
    second = await startReceiver(500);
    clock = new FakeClock();
    sandbox = new Sandbox({ clock });
    server = await startSandboxServer({ sandbox });
  });

  beforeEach(() => {
    sandbox.registerNumber({
      phoneNumberId: PHONE_NUMBER_ID,
      displayPhoneNumber: DISPLAY_NUMBER,
      accessToken: TOKEN,
      appSecret: APP_SECRET,
      webhookUrls: () => [receiver.url],
    });
    sandbox.reset();
    receiver.received.length = 0;
    second.received.length = 0;
  });

  after(async () => {
    await server.close();
    sandbox.close();
    await receiver.close();
    await second.close();
  });

  it('POSTs a correctly signed, Meta-shaped text message webhook and resolves after the endpoint answered', async () => {
    const result = await sandbox.customerSends(
      PHONE_NUMBER_ID,
      { waId: CUSTOMER, name: 'Jürgen' },
      { text: 'Grüße 👋' },
    );
    assert.deepEqual(result.deliveries, [{ url: receiver.url, status: 200 }]);
    assert.equal(receiver.received.length, 1, 'delivered before customerSends resolved');
    const [delivery] = receiver.received;
    assert.equal(delivery.headers['content-type'], 'application/json');
    assert.ok(signatureIsValid(delivery.raw, delivery.headers['x-hub-signature-256'], APP_SECRET));
    const body = delivery.json;
    assert.equal(body.object, 'whatsapp_business_account');
    const change = body.entry[0].changes[0];
    assert.equal(change.field, 'messages');
    assert.equal(change.value.messaging_product, 'whatsapp');
    assert.deepEqual(change.value.metadata, { display_phone_number: DISPLAY_NUMBER, phone_number_id: PHONE_NUMBER_ID });
    assert.deepEqual(change.value.contacts, [{ profile: { name: 'Jürgen' }, wa_id: CUSTOMER }]);
    const [message] = change.value.messages;
    assert.equal(message.from, CUSTOMER);
    assert.equal(message.id, result.messageId);
    assert.equal(message.timestamp, String(Math.floor(clock.now() / 1000)));
    assert.equal(message.type, 'text');
    assert.deepEqual(message.text, { body: 'Grüße 👋' });
  });

  it('sends non-ASCII characters as UTF-8 but signs the \\u-escaped form, as Meta does', async () => {
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER }, { text: 'Straße 👋' });
    const { raw, headers } = receiver.received[0];
    assert.ok(raw.toString('utf8').includes('Straße 👋'));
    const overRawBytes = `sha256=${createHmac('sha256', APP_SECRET).update(raw).digest('hex')}`;
    assert.notEqual(headers['x-hub-signature-256'], overRawBytes, 'not signed over the raw bytes');
    assert.ok(signatureIsValid(raw, headers['x-hub-signature-256'], APP_SECRET));
  });

  it('builds button, list and template quick-reply replies with their context', async () => {
    await sandbox.customerSends(
      PHONE_NUMBER_ID,
      { waId: CUSTOMER },
      { buttonReply: { id: 'consent_yes', title: 'Ja' } },
      { contextMessageId: 'wamid.business1' },
    );
    await sandbox.customerSends(
      PHONE_NUMBER_ID,
      { waId: CUSTOMER },
      { listReply: { id: 'topic_news', title: 'Neuigkeiten', description: 'Einmal im Monat' } },
    );
    await sandbox.customerSends(
      PHONE_NUMBER_ID,
      { waId: CUSTOMER },
      { quickReply: { payload: 'STOP', text: 'Abmelden' } },
    );
    const [button, list, quick] = receiver.received.map((d) => d.json.entry[0].changes[0].value.messages[0]);
    assert.equal(button.type, 'interactive');
    assert.deepEqual(button.interactive, { type: 'button_reply', button_reply: { id: 'consent_yes', title: 'Ja' } });
    assert.deepEqual(button.context, { from: DISPLAY_NUMBER, id: 'wamid.business1' });
    assert.deepEqual(list.interactive, {
      type: 'list_reply',
      list_reply: { id: 'topic_news', title: 'Neuigkeiten', description: 'Einmal im Monat' },
    });
    assert.equal(list.context, undefined);
    assert.equal(quick.type, 'button');
    assert.deepEqual(quick.button, { payload: 'STOP', text: 'Abmelden' });
    const conversation = sandbox.conversation(PHONE_NUMBER_ID, CUSTOMER);
    assert.deepEqual(
      conversation.map((m) => [m.direction, m.type, m.text]),
      [
        ['inbound', 'interactive', 'Ja'],
        ['inbound', 'interactive', 'Neuigkeiten'],
        ['inbound', 'button', 'Abmelden'],
      ],
    );
    assert.equal(conversation[0].contextMessageId, 'wamid.business1');
  });

  it('reports every webhook URL answer, also failures and unreachable endpoints', async () => {
    sandbox.registerNumber({
      phoneNumberId: PHONE_NUMBER_ID,
      displayPhoneNumber: DISPLAY_NUMBER,
      accessToken: TOKEN,
      appSecret: APP_SECRET,
      webhookUrls: () => [receiver.url, second.url, 'http://127.0.0.1:1/unreachable'],
    });
    const { deliveries } = await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER }, { text: 'Hallo' });
    assert.deepEqual(deliveries, [
      { url: receiver.url, status: 200 },
      { url: second.url, status: 500 },
      { url: 'http://127.0.0.1:1/unreachable', status: 0 },
    ]);
    assert.equal(second.received.length, 1);
    assert.deepEqual(second.received[0].raw, receiver.received[0].raw, 'every endpoint gets the same bytes');
  });

  it('opens the 24-hour window, and normalises the customer number', async () => {
    const url = `${server.url}/v25.0/${PHONE_NUMBER_ID}/messages`;
    const text = { messaging_product: 'whatsapp', to: CUSTOMER, type: 'text', text: { body: 'Hallo' } };
    assert.equal((await callApi(url, { token: TOKEN, body: text })).body.error.code, 131047);
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: `+${CUSTOMER}` }, { text: 'Hi' });
    assert.equal((await callApi(url, { token: TOKEN, body: text })).status, 200);
    assert.equal(sandbox.conversations(PHONE_NUMBER_ID).length, 1);
    assert.equal(sandbox.conversations(PHONE_NUMBER_ID)[0].waId, CUSTOMER);
    assert.equal(sandbox.conversations(PHONE_NUMBER_ID)[0].windowOpen, true);
    await sandbox.idle();
  });

  it("a customer with a business-scoped user id: Meta's user_id fields, and messages sent to the id reach her", async () => {
    const bsuid = 'DE.1502576394655843';
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER, userId: bsuid }, { text: 'Hallo' });
    const value = receiver.received[0].json.entry[0].changes[0].value;
    assert.equal(value.contacts[0].user_id, bsuid);
    assert.equal(value.messages[0].from_user_id, bsuid);
    const url = `${server.url}/v25.0/${PHONE_NUMBER_ID}/messages`;
    const reply = { messaging_product: 'whatsapp', recipient: bsuid, type: 'text', text: { body: 'Antwort' } };
    const answer = await callApi(url, { token: TOKEN, body: reply });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.contacts, [{ input: bsuid, user_id: bsuid }], 'no wa_id for a message sent to the id');
    assert.equal(sandbox.conversation(PHONE_NUMBER_ID, CUSTOMER).at(-1)?.text, 'Antwort');
    await sandbox.idle();
    const statuses = receiver.received.slice(1).map((d) => d.json.entry[0].changes[0].value.statuses[0]);
    assert.ok(statuses.length > 0);
    for (const status of statuses) assert.equal(status.recipient_user_id, bsuid);

    const unknown = await callApi(url, { token: TOKEN, body: { ...reply, recipient: 'DE.999' } });
    assert.equal(unknown.body.error.code, 100);
    await assert.rejects(sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER, userId: 'de.1' }, { text: 'x' }), {
      code: 'sandbox-invalid-message',
    });
    await assert.rejects(
      sandbox.customerSends(PHONE_NUMBER_ID, { waId: '4917612345678', userId: bsuid }, { text: 'x' }),
      {
        code: 'sandbox-invalid-message',
      },
    );
  });

  it('a customer whose number Meta withholds: webhooks, statuses and ids name only the user id', async () => {
    const bsuid = 'DE.77';
    // The number must not be readable anywhere, not even inside a message id (Meta's ids encode it).
    const holdsNumber = (text: string) =>
      text.includes(CUSTOMER) ||
      [...text.matchAll(/wamid\.([A-Za-z0-9+/=_-]+)/g)].some((m) => Buffer.from(m[1], 'base64').includes(CUSTOMER));
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER, userId: bsuid, hideNumber: true }, { text: 'Hi' });
    const value = receiver.received[0].json.entry[0].changes[0].value;
    assert.deepEqual(value.contacts[0], { user_id: bsuid });
    assert.equal('from' in value.messages[0], false);
    assert.equal(value.messages[0].from_user_id, bsuid);
    const url = `${server.url}/v25.0/${PHONE_NUMBER_ID}/messages`;
    const reply = { messaging_product: 'whatsapp', recipient: bsuid, type: 'text', text: { body: 'Antwort' } };
    assert.equal((await callApi(url, { token: TOKEN, body: reply })).status, 200);
    await sandbox.idle();
    const statuses = receiver.received.slice(1).map((d) => d.json.entry[0].changes[0].value.statuses[0]);
    assert.ok(statuses.length > 0);
    for (const status of statuses) {
      assert.equal('recipient_id' in status, false, 'no number in the status either');
      assert.equal(status.recipient_user_id, bsuid);
    }
    await sandbox.customerOptsOutOfMarketing(PHONE_NUMBER_ID, CUSTOMER, 'stop');
    const optOut = receiver.received.at(-1)?.json.entry[0].changes[0].value;
    assert.deepEqual(optOut.contacts, [{ user_id: bsuid }]);
    // Writing on without saying (as the chat page does) keeps the number withheld.
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER }, { text: 'Noch da' });
    const last = receiver.received[receiver.received.length - 1].json.entry[0].changes[0].value;
    assert.equal('from' in last.messages[0], false);
    for (const delivery of receiver.received) {
      assert.equal(holdsNumber(delivery.raw.toString('utf8')), false, delivery.raw.toString('utf8'));
    }
    await assert.rejects(
      sandbox.customerSends(PHONE_NUMBER_ID, { waId: '4917612345678', hideNumber: true }, { text: 'x' }),
      {
        code: 'sandbox-invalid-message',
      },
    );
  });

  it('emits update for every change of a conversation', async () => {
    const updates: SandboxUpdate[] = [];
    const listener = (u: SandboxUpdate) => updates.push(u);
    sandbox.on('update', listener);
    try {
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER }, { text: 'Hallo' });
    } finally {
      sandbox.off('update', listener);
    }
    assert.deepEqual(updates, [{ phoneNumberId: PHONE_NUMBER_ID, waId: CUSTOMER }]);
  });

  it('rejects an unknown business number, a bad customer number and an empty message', async () => {
    await assert.rejects(sandbox.customerSends('404', { waId: CUSTOMER }, { text: 'x' }), {
      code: 'sandbox-unknown-number',
    });
    await assert.rejects(sandbox.customerSends(PHONE_NUMBER_ID, { waId: '12' }, { text: 'x' }), {
      code: 'invalid-phone',
    });
    await assert.rejects(sandbox.customerSends(PHONE_NUMBER_ID, { waId: CUSTOMER }, { text: '' }), {
      code: 'sandbox-invalid-message',
    });
    assert.equal(receiver.received.length, 0);
  });

  it('keeps a bounded history and can leave out status webhooks', async () => {
    const small = new Sandbox({ clock, historyLimit: 2 });
    small.registerNumber({
      phoneNumberId: '1000',
      displayPhoneNumber: DISPLAY_NUMBER,
      accessToken: TOKEN,
      appSecret: APP_SECRET,
      statusWebhooks: false,
      webhookUrls: () => [],
    });
    const local = await startSandboxServer({ sandbox: small });
    try {
      for (const text of ['eins', 'zwei', 'drei']) {
        const { deliveries } = await small.customerSends('1000', { waId: CUSTOMER }, { text });
        assert.deepEqual(deliveries, [], 'no webhook URL, no delivery');
      }
      assert.deepEqual(
        small.conversation('1000', CUSTOMER).map((m) => m.text),
        ['zwei', 'drei'],
      );
      const url = `${local.url}/v25.0/1000/messages`;
      for (let i = 0; i < 3; i++) {
        const body = { messaging_product: 'whatsapp', to: CUSTOMER, type: 'text', text: { body: `${i}` } };
        assert.equal((await callApi(url, { token: TOKEN, body })).status, 200);
      }
      await small.idle();
      assert.deepEqual(
        small.accepted().map((m) => (m.body.text as { body: string }).body),
        ['1', '2'],
      );
      assert.equal(small.conversation('1000', CUSTOMER).at(-1)?.status, 'read');
    } finally {
      await local.close();
      small.close();
    }
  });

  it('sends a user_preferences webhook when the customer stops marketing, and fails marketing templates', async () => {
    sandbox.registerTemplate({ name: 'opt_in_request', category: 'MARKETING', body: 'Angebot für {{1}}' });
    const { deliveries } = await sandbox.customerOptsOutOfMarketing(PHONE_NUMBER_ID, CUSTOMER, 'stop');
    assert.deepEqual(deliveries, [{ url: receiver.url, status: 200 }]);
    const change = receiver.received[0].json.entry[0].changes[0];
    assert.ok(
      signatureIsValid(receiver.received[0].raw, receiver.received[0].headers['x-hub-signature-256'], APP_SECRET),
    );
    assert.equal(change.field, 'user_preferences');
    assert.equal(change.value.user_preferences[0].wa_id, CUSTOMER);
    assert.equal(change.value.user_preferences[0].value, 'stop');
    assert.equal(change.value.user_preferences[0].category, 'marketing_messages');
    assert.equal(sandbox.conversations(PHONE_NUMBER_ID)[0].marketingStopped, true);

    receiver.received.length = 0;
    const answer = await callApi(`${server.url}/v25.0/${PHONE_NUMBER_ID}/messages`, {
      token: TOKEN,
      body: templateBody(CUSTOMER),
    });
    assert.equal(answer.status, 200, 'Meta accepts the call and fails the message asynchronously');
    await sandbox.idle();
    assert.equal(receiver.received.length, 1);
    const status = receiver.received[0].json.entry[0].changes[0].value.statuses[0];
    assert.equal(status.status, 'failed');
    assert.equal(status.errors[0].code, 131050);

    await sandbox.customerOptsOutOfMarketing(PHONE_NUMBER_ID, CUSTOMER, 'resume');
    assert.equal(sandbox.conversations(PHONE_NUMBER_ID)[0].marketingStopped, false);
  });
});
