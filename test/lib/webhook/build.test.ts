import assert from 'node:assert/strict';
import {
  buildMessageWebhook,
  buildStatusWebhook,
  buildUserPreferencesWebhook,
  newMessageId,
} from '../../../lib/webhook/build';
import { MemoryDedupeStore } from '../../../lib/webhook/dedupe';
import { handleWebhookPost } from '../../../lib/webhook/handler';
import { normaliseWebhook } from '../../../lib/webhook/normalise';
import { signPayload } from '../../../lib/webhook/signature';
import { fixture, type WebhookBody } from './fixtures';

const BUSINESS = { wabaId: '102290129340398', phoneNumberId: '106540352242922', displayPhoneNumber: '15550783881' };

describe('webhook builders (playing Meta)', () => {
  it("builds Meta's documented text message webhook exactly", () => {
    const built = buildMessageWebhook({
      ...BUSINESS,
      waId: '16505551234',
      profileName: 'Sheena Nelson',
      messageId: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=',
      timestamp: 1749416383,
      message: { type: 'text', text: { body: 'Does it come in another color?' } },
    });
    assert.deepEqual(built, fixture('text'));
  });

  it('builds an interactive reply that normalises to the reply id', () => {
    const built = buildMessageWebhook({
      ...BUSINESS,
      waId: '4915123456789',
      profileName: 'Anna Schmidt',
      message: {
        context: { from: '15550783881', id: 'wamid.prev' },
        type: 'interactive',
        interactive: { type: 'button_reply', button_reply: { id: 'consent-yes', title: 'Ja' } },
      },
    });
    const [message] = normaliseWebhook(built, { minimise: true }).messages;
    assert.equal(message.interactive?.id, 'consent-yes');
    assert.equal(message.from, '+4915123456789');
    assert.equal(message.context?.id, 'wamid.prev');
    assert.match(message.messageId, /^wamid\./);
  });

  it('builds a BSUID-only message when the wa_id is empty', () => {
    const built = buildMessageWebhook({
      ...BUSINESS,
      waId: '',
      userId: 'DE.998877',
      message: { type: 'text', text: { body: 'STOP' } },
    }) as WebhookBody;
    const value = built.entry[0].changes[0].value;
    assert.deepEqual(value.contacts, [{ user_id: 'DE.998877' }]);
    assert.equal('from' in value.messages[0], false);
    assert.equal(value.messages[0].from_user_id, 'DE.998877');
    const [message] = normaliseWebhook(built, { minimise: true }).messages;
    assert.equal(message.userId, 'DE.998877');
    assert.equal(message.from, undefined);
  });

  it("builds status webhooks in Meta's shape", () => {
    const sent = buildStatusWebhook({
      ...BUSINESS,
      recipientWaId: '16505551234',
      messageId: 'wamid.X',
      status: 'sent',
      timestamp: 1750263773,
      conversationId: 'conv1',
      category: 'marketing',
    }) as WebhookBody;
    assert.deepEqual(sent.entry[0].changes[0].value.statuses[0], {
      id: 'wamid.X',
      status: 'sent',
      timestamp: '1750263773',
      recipient_id: '16505551234',
      conversation: { id: 'conv1', origin: { type: 'marketing' }, expiration_timestamp: '1750350173' },
      pricing: { billable: true, pricing_model: 'PMP', category: 'marketing', type: 'regular' },
    });
    const failed = buildStatusWebhook({
      ...BUSINESS,
      recipientWaId: '16505551234',
      messageId: 'wamid.Y',
      status: 'failed',
      errors: [{ code: 131047, title: 'Re-engagement message' }],
    });
    const [status] = normaliseWebhook(failed, { minimise: true }).statuses;
    assert.equal(status.status, 'failed');
    assert.deepEqual(status.errors, [
      {
        code: 131047,
        title: 'Re-engagement message',
        message: 'Re-engagement message',
        details: 'Re-engagement message',
      },
    ]);
    assert.equal(status.pricing, undefined);
  });

  it("builds Meta's documented user_preferences webhook exactly", () => {
    const built = buildUserPreferencesWebhook({
      ...BUSINESS,
      waId: '16505551234',
      value: 'resume',
      timestamp: 1731705721,
    });
    assert.deepEqual(built, fixture('user-preferences'));
    const stop = buildUserPreferencesWebhook({ ...BUSINESS, waId: '16505551234', value: 'stop' });
    assert.equal(normaliseWebhook(stop, { minimise: true }).events[0].value, 'stop');
  });

  it("makes unique wamid ids that carry the number like Meta's", () => {
    const ids = new Set(Array.from({ length: 200 }, () => newMessageId('16505551234')));
    assert.equal(ids.size, 200);
    for (const id of ids) {
      assert.match(id, /^wamid\.[A-Za-z0-9+/]+=*$/);
      assert.ok(Buffer.from(id.slice(6), 'base64').includes(Buffer.from('16505551234')));
    }
    assert.match(newMessageId(), /^wamid\./);
    assert.ok(newMessageId('16505551234').startsWith('wamid.HBgLMTY1MDU1NTEyMzQVAgASGB'));
  });

  it('a built, signed webhook passes the handler', async () => {
    const body = Buffer.from(
      JSON.stringify(
        buildMessageWebhook({
          ...BUSINESS,
          waId: '491701234567',
          profileName: 'Jörg',
          message: { type: 'text', text: { body: 'Grüße 👋' } },
        }),
      ),
    );
    const result = await handleWebhookPost({
      rawBody: body,
      signatureHeader: signPayload(body, 's3cret'),
      appSecret: 's3cret',
      minimise: true,
      dedupe: new MemoryDedupeStore(),
    });
    assert.equal(result.messages[0].text, 'Grüße 👋');
    assert.equal(result.messages[0].name, 'Jörg');
  });
});
