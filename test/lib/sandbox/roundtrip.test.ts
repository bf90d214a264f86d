import assert from 'node:assert/strict';
import { Sandbox } from '../../../lib/sandbox/sandbox';
import { MemoryDedupeStore } from '../../../lib/webhook/dedupe';
import { handleWebhookPost } from '../../../lib/webhook/handler';
import { APP_SECRET, CUSTOMER, DISPLAY_NUMBER, PHONE_NUMBER_ID, type Receiver, startReceiver, TOKEN } from './helpers';

describe('sandbox webhooks through the webhook handler', () => {
  let receiver: Receiver;
  let sandbox: Sandbox;

  before(async () => {
    receiver = await startReceiver();
    sandbox = new Sandbox();
    sandbox.registerNumber({
      phoneNumberId: PHONE_NUMBER_ID,
      displayPhoneNumber: DISPLAY_NUMBER,
      accessToken: TOKEN,
      appSecret: APP_SECRET,
      webhookUrls: () => [receiver.url],
    });
  });

  after(async () => {
    sandbox.close();
    await receiver.close();
  });

  it('produces webhooks the package itself verifies and normalises', async () => {
    const { messageId } = await sandbox.customerSends(
      PHONE_NUMBER_ID,
      { waId: CUSTOMER, name: 'Jürgen' },
      { buttonReply: { id: 'consent_yes', title: 'Ja, gern' } },
      { contextMessageId: 'wamid.context' },
    );
    const [delivery] = receiver.received;
    const result = await handleWebhookPost({
      rawBody: delivery.raw,
      signatureHeader: delivery.headers['x-hub-signature-256'] as string,
      appSecret: APP_SECRET,
      minimise: true,
      dedupe: new MemoryDedupeStore(),
    });
    assert.equal(result.messages.length, 1);
    const [message] = result.messages;
    assert.equal(message.messageId, messageId);
    assert.equal(message.from, `+${CUSTOMER}`);
    assert.equal(message.name, 'Jürgen');
    assert.equal(message.phoneNumberId, PHONE_NUMBER_ID);
    assert.equal(message.interactive?.id, 'consent_yes');
    assert.equal(message.context?.id, 'wamid.context');
  });
});
