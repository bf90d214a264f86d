import assert from 'node:assert/strict';
import { Sandbox } from '../../../lib/sandbox/sandbox';
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
  textBody,
} from './helpers';

describe('sandbox Cloud API', () => {
  let clock: FakeClock;
  let sandbox: Sandbox;
  let server: RunningSandboxServer;
  let receiver: Receiver;
  let messagesUrl: string;

  function register(throughput?: number): void {
    sandbox.registerNumber({
      phoneNumberId: PHONE_NUMBER_ID,
      displayPhoneNumber: DISPLAY_NUMBER,
      verifiedName: 'Beispiel GmbH',
      accessToken: TOKEN,
      appSecret: APP_SECRET,
      throughput,
      webhookUrls: () => [receiver.url],
    });
  }

  async function customerWrites(waId = CUSTOMER): Promise<string> {
    const { messageId } = await sandbox.customerSends(PHONE_NUMBER_ID, { waId, name: 'Erika' }, { text: 'Hallo' });
    await sandbox.idle();
    receiver.received.length = 0;
    return messageId;
  }

  const send = (body: unknown) => callApi(messagesUrl, { token: TOKEN, body });

  before(async () => {
    receiver = await startReceiver();
    clock = new FakeClock();
    sandbox = new Sandbox({ clock });
    server = await startSandboxServer({ sandbox });
    messagesUrl = `${server.url}/v25.0/${PHONE_NUMBER_ID}/messages`;
  });

  beforeEach(() => {
    register();
    sandbox.reset();
    receiver.received.length = 0;
  });

  after(async () => {
    await server.close();
    sandbox.close();
    await receiver.close();
  });

  it('accepts a text message inside the window with exactly Meta success JSON', async () => {
    await customerWrites();
    const answer = await send(textBody('+49 151 12345678'));
    assert.equal(answer.status, 200);
    assert.deepEqual(Object.keys(answer.body), ['messaging_product', 'contacts', 'messages']);
    assert.equal(answer.body.messaging_product, 'whatsapp');
    assert.deepEqual(answer.body.contacts, [{ input: '+49 151 12345678', wa_id: CUSTOMER }]);
    assert.equal(answer.body.messages.length, 1);
    assert.deepEqual(Object.keys(answer.body.messages[0]), ['id']);
    assert.match(answer.body.messages[0].id, /^wamid\.[A-Za-z0-9+/=]+$/);
    const accepted = sandbox.accepted(PHONE_NUMBER_ID);
    assert.equal(accepted.length, 1);
    assert.equal(accepted[0].messageId, answer.body.messages[0].id);
    assert.equal(accepted[0].to, '+49 151 12345678');
    assert.equal(accepted[0].waId, CUSTOMER);
    assert.equal(accepted[0].at, clock.now());
    assert.deepEqual(accepted[0].body, textBody('+49 151 12345678'));
  });

  it('answers a template with message_status accepted, also outside the 24-hour window', async () => {
    const answer = await send(templateBody(CUSTOMER));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.messages, [{ id: answer.body.messages[0].id, message_status: 'accepted' }]);
  });

  it('rejects a missing or wrong token with 190 OAuthException and HTTP 401', async () => {
    for (const token of [undefined, 'wrong-token', `${TOKEN}x`, '']) {
      const answer = await callApi(messagesUrl, { token, body: textBody(CUSTOMER) });
      assert.equal(answer.status, 401);
      assert.equal(answer.body.error.code, 190);
      assert.equal(answer.body.error.type, 'OAuthException');
      assert.equal(typeof answer.body.error.fbtrace_id, 'string');
      assert.ok(!JSON.stringify(answer.body).includes(TOKEN), 'the token never appears in an error');
    }
    assert.equal(sandbox.accepted().length, 0);
  });

  it('answers an unknown phone number id with Graph error 100 subcode 33', async () => {
    const answer = await callApi(`${server.url}/v25.0/999/messages`, { token: TOKEN, body: textBody(CUSTOMER) });
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error.code, 100);
    assert.equal(answer.body.error.error_subcode, 33);
  });

  it('rejects malformed JSON with 100 Invalid parameter', async () => {
    const answer = await callApi(messagesUrl, { token: TOKEN, rawBody: '{"messaging_product": "whatsapp",' });
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error.code, 100);
    assert.equal(answer.body.error.message, '(#100) Invalid parameter');
  });

  it('rejects a schema violation with 100 and details naming the field', async () => {
    await customerWrites();
    const body = {
      messaging_product: 'whatsapp',
      to: CUSTOMER,
      type: 'interactive',
      interactive: {
        type: 'button',
        body: { text: 'Einverstanden?' },
        action: {
          buttons: [
            { type: 'reply', reply: { id: 'yes', title: 'Ja' } },
            { type: 'reply', reply: { id: 'no', title: 'Nein, auf gar keinen Fall jemals' } },
          ],
        },
      },
    };
    const answer = await send(body);
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error.code, 100);
    assert.equal(answer.body.error.type, 'OAuthException');
    assert.equal(answer.body.error.error_data.messaging_product, 'whatsapp');
    assert.match(answer.body.error.error_data.details, /interactive\.action\.buttons\[1\]\.reply\.title/);
    assert.equal(sandbox.accepted().length, 0);
  });

  it('refuses a free-form message with 131047 when the customer never wrote or wrote 24 hours ago', async () => {
    const never = await send(textBody(CUSTOMER));
    assert.equal(never.status, 400);
    assert.equal(never.body.error.code, 131047);
    assert.equal(never.body.error.message, '(#131047) Re-engagement message');
    assert.match(never.body.error.error_data.details, /24 hours/);

    await customerWrites();
    clock.advance(24 * 60 * 60 * 1000 - 1);
    assert.equal((await send(textBody(CUSTOMER))).status, 200);
    clock.advance(1);
    const late = await send(textBody(CUSTOMER));
    assert.equal(late.body.error.code, 131047);
    assert.equal((await send(templateBody(CUSTOMER))).status, 200, 'a template may always be sent');
  });

  it('answers 130429 over the number throughput and accepts again one second later', async () => {
    register(3);
    await customerWrites();
    for (let i = 0; i < 3; i++) assert.equal((await send(textBody(CUSTOMER))).status, 200);
    const over = await send(textBody(CUSTOMER));
    assert.equal(over.status, 400);
    assert.equal(over.body.error.code, 130429);
    assert.equal(over.body.error.message, '(#130429) Rate limit hit');
    clock.advance(999);
    assert.equal((await send(textBody(CUSTOMER))).body.error?.code, 130429);
    clock.advance(1);
    assert.equal((await send(textBody(CUSTOMER))).status, 200);
  });

  it('answers 131056 after a burst of 45 to one customer, then allows one message per 6 seconds', async () => {
    await customerWrites();
    for (let i = 0; i < 45; i++) {
      assert.equal((await send(textBody(CUSTOMER))).status, 200, `message ${i + 1}`);
    }
    const over = await send(textBody(CUSTOMER));
    assert.equal(over.status, 400);
    assert.equal(over.body.error.code, 131056);
    assert.equal(over.body.error.message, '(#131056) (Business Account, Consumer Account) pair rate limit hit');
    // Another customer is not affected.
    const other = '4917612345678';
    await customerWrites(other);
    assert.equal((await send(textBody(other))).status, 200);
    clock.advance(6000);
    assert.equal((await send(textBody(CUSTOMER))).status, 200);
    assert.equal((await send(textBody(CUSTOMER))).body.error?.code, 131056);
  });

  it('marks an inbound message read with {success: true}; an unknown id is 100', async () => {
    const inbound = await customerWrites();
    const answer = await send({ messaging_product: 'whatsapp', status: 'read', message_id: inbound });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { success: true });
    assert.equal(sandbox.conversation(PHONE_NUMBER_ID, CUSTOMER)[0].status, 'read');
    const unknown = await send({ messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.unknown' });
    assert.equal(unknown.body.error.code, 100);
    assert.equal(sandbox.accepted().length, 0, 'read receipts are not messages');
  });

  it('POSTs signed status webhooks sent, delivered, read in order after the response', async () => {
    await customerWrites();
    const first = await send(textBody(CUSTOMER, 'eins'));
    const second = await send(textBody(CUSTOMER, 'zwei'));
    await sandbox.idle();
    assert.equal(receiver.received.length, 6);
    for (const delivery of receiver.received) {
      assert.equal(delivery.headers['content-type'], 'application/json');
      assert.ok(signatureIsValid(delivery.raw, delivery.headers['x-hub-signature-256'], APP_SECRET));
      assert.ok(!signatureIsValid(delivery.raw, delivery.headers['x-hub-signature-256'], 'other-secret'));
    }
    const statuses = receiver.received.map((d) => {
      const value = d.json.entry[0].changes[0].value;
      assert.equal(d.json.object, 'whatsapp_business_account');
      assert.equal(d.json.entry[0].changes[0].field, 'messages');
      assert.equal(value.metadata.phone_number_id, PHONE_NUMBER_ID);
      assert.equal(value.statuses[0].recipient_id, CUSTOMER);
      return `${value.statuses[0].id === first.body.messages[0].id ? 1 : 2}:${value.statuses[0].status}`;
    });
    assert.deepEqual(statuses, ['1:sent', '1:delivered', '1:read', '2:sent', '2:delivered', '2:read']);
    assert.ok(second.body.messages[0].id !== first.body.messages[0].id);
    assert.equal(sandbox.conversation(PHONE_NUMBER_ID, CUSTOMER)[2].status, 'read');
  });

  it('prices a utility template free inside the customer service window and regular outside, as Meta does', async () => {
    await customerWrites();
    const inside = (await send(templateBody(CUSTOMER))).body.messages[0].id;
    const outside = (await send(templateBody('4915700000001'))).body.messages[0].id;
    await sandbox.idle();
    const pricingOf = (id: string) =>
      receiver.received
        .map((d) => d.json.entry[0].changes[0].value.statuses[0])
        .filter((status) => status.id === id)
        .map((status) => status.pricing);
    const free = { billable: false, pricing_model: 'PMP', category: 'utility', type: 'free_customer_service' };
    assert.deepEqual(pricingOf(inside), [free, free, free]);
    const charged = { billable: true, pricing_model: 'PMP', category: 'utility', type: 'regular' };
    assert.deepEqual(pricingOf(outside), [charged, charged, charged]);
  });

  it("returns a message's biz_opaque_callback_data in each of its statuses, as Meta does", async () => {
    await customerWrites();
    await send({ ...textBody(CUSTOMER, 'eins'), biz_opaque_callback_data: 'order-4711' });
    await send(textBody(CUSTOMER, 'zwei'));
    await sandbox.idle();
    const echoed = receiver.received.map((d) => d.json.entry[0].changes[0].value.statuses[0].biz_opaque_callback_data);
    assert.deepEqual(echoed, ['order-4711', 'order-4711', 'order-4711', undefined, undefined, undefined]);
  });

  it('answers GET phone number with display number, verified name, GREEN quality and id', async () => {
    const all = await callApi(`${server.url}/v25.0/${PHONE_NUMBER_ID}`, { token: TOKEN });
    assert.equal(all.status, 200);
    assert.equal(all.body.display_phone_number, DISPLAY_NUMBER);
    assert.equal(all.body.verified_name, 'Beispiel GmbH');
    assert.equal(all.body.quality_rating, 'GREEN');
    assert.equal(all.body.id, PHONE_NUMBER_ID);
    const some = await callApi(`${server.url}/v25.0/${PHONE_NUMBER_ID}?fields=display_phone_number,quality_rating`, {
      token: TOKEN,
    });
    assert.deepEqual(some.body, { display_phone_number: DISPLAY_NUMBER, quality_rating: 'GREEN', id: PHONE_NUMBER_ID });
    const noToken = await callApi(`${server.url}/v25.0/${PHONE_NUMBER_ID}`);
    assert.equal(noToken.status, 401);
  });

  it('answers GET settings with the local storage configuration', async () => {
    const answer = await callApi(`${server.url}/v25.0/${PHONE_NUMBER_ID}/settings`, { token: TOKEN });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, {
      storage_configuration: { status: 'IN_COUNTRY_STORAGE_ENABLED', data_localization_region: 'DE' },
    });
    sandbox.registerNumber({
      phoneNumberId: '2000',
      displayPhoneNumber: '15550002000',
      accessToken: TOKEN,
      appSecret: APP_SECRET,
      storageRegion: '',
      webhookUrls: () => [],
    });
    const defaultStorage = await callApi(`${server.url}/v25.0/2000/settings`, { token: TOKEN });
    assert.deepEqual(defaultStorage.body, { storage_configuration: { status: 'DEFAULT' } });
    sandbox.unregisterNumber('2000');
  });

  it('records what the business sent, rendered for the chat page', async () => {
    sandbox.registerTemplate({
      name: 'opt_in_request',
      language: 'de',
      category: 'UTILITY',
      body: 'Hallo {{1}}, möchten Sie Nachrichten von uns erhalten?',
      buttons: [
        { type: 'quick_reply', text: 'Ja' },
        { type: 'quick_reply', text: 'Nein' },
      ],
    });
    await send(templateBody(CUSTOMER));
    const [message] = sandbox.conversation(PHONE_NUMBER_ID, CUSTOMER);
    assert.equal(message.direction, 'outbound');
    assert.equal(message.type, 'template');
    assert.equal(message.text, 'Hallo Erika, möchten Sie Nachrichten von uns erhalten?');
    assert.deepEqual(message.buttons, [
      { kind: 'quick_reply', id: 'OPTIN_YES', title: 'Ja' },
      { kind: 'quick_reply', id: 'OPTIN_NO', title: 'Nein' },
    ]);
    assert.equal(message.template?.name, 'opt_in_request');
    assert.deepEqual(message.template?.params[0], { component: 'body', values: ['Erika'] });

    // The sub_type in capitals, as Meta's guides write it too: the tap still carries its payload.
    const capitals = JSON.parse(JSON.stringify(templateBody(CUSTOMER)).replace(/"quick_reply"/g, '"QUICK_REPLY"'));
    await send(capitals);
    const [, again] = sandbox.conversation(PHONE_NUMBER_ID, CUSTOMER);
    assert.deepEqual(
      again.buttons?.map((b) => b.id),
      ['OPTIN_YES', 'OPTIN_NO'],
    );
  });

  it('does not handle paths that are not Cloud API paths', async () => {
    const answer = await fetch(`${server.url}/elsewhere`);
    assert.equal(answer.status, 404);
  });
});
