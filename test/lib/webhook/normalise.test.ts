import assert from 'node:assert/strict';
import { normaliseWebhook } from '../../../lib/webhook/normalise';
import type { InboundMessage } from '../../../lib/webhook/types';
import { fixture } from './fixtures';

const MINIMAL = { minimise: true };

function onlyMessage(name: string): InboundMessage {
  const { messages, statuses, events } = normaliseWebhook(fixture(name), MINIMAL);
  assert.equal(messages.length, 1, `${name}: one message`);
  assert.equal(statuses.length + events.length, 0);
  return messages[0];
}

const SENDER = {
  from: '+16505551234',
  waId: '16505551234',
  name: 'Sheena Nelson',
  phoneNumberId: '106540352242922',
  displayPhoneNumber: '15550783881',
};

describe("normaliseWebhook: Meta's documented message payloads", () => {
  it('text', () => {
    assert.deepEqual(onlyMessage('text'), {
      ...SENDER,
      messageId: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=',
      timestamp: 1749416383,
      type: 'text',
      text: 'Does it come in another color?',
    });
  });

  it('button (template quick reply) with the message it answers', () => {
    const message = onlyMessage('button');
    assert.equal(message.type, 'button');
    assert.deepEqual(message.button, { payload: 'Unsubscribe from Promos', text: 'Unsubscribe from Promos' });
    assert.equal(message.text, 'Unsubscribe from Promos');
    assert.deepEqual(message.context, {
      from: '+15550783881',
      id: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA',
    });
    assert.equal(message.from, SENDER.from);
  });

  it('interactive button_reply', () => {
    const message = onlyMessage('interactive-button-reply');
    assert.deepEqual(message.interactive, { type: 'button_reply', id: 'cancel-button', title: 'Cancel' });
    assert.equal(message.text, 'Cancel');
  });

  it('interactive list_reply', () => {
    assert.deepEqual(onlyMessage('interactive-list-reply').interactive, {
      type: 'list_reply',
      id: 'priority_express',
      title: 'Priority Mail Express',
      description: 'Next Day to 2 Days',
    });
  });

  it('interactive nfm_reply (Flow answers)', () => {
    const { interactive } = onlyMessage('interactive-nfm-reply');
    assert.equal(interactive?.type, 'nfm_reply');
    assert.equal(interactive?.id, 'flow');
    assert.equal(interactive?.title, 'Sent');
    assert.deepEqual(JSON.parse(interactive?.responseJson ?? ''), {
      flow_token: 'AQAAAAACS5FpgQ_cAAAAAD0QI3s.',
      optional_param1: '<value1>',
    });
  });

  it('a message from a click-to-WhatsApp ad names the ad, but not the click id', () => {
    const payload = fixture('text');
    payload.entry[0].changes[0].value.messages[0].referral = {
      source_url: 'https://fb.me/3cr4Wqqkv',
      source_id: '120226305854810726',
      source_type: 'ad',
      body: 'Frühlingsangebot',
      headline: 'Jetzt chatten',
      media_type: 'image',
      image_url: 'https://scontent.xx.fbcdn.net/v/t45.1600-4/518949_n.png',
      ctwa_clid: 'Afd1JQZ7b1JLN0yV9QhKxK1u2Fi6QXYR',
      welcome_message: { text: 'Hallo!' },
    };
    const [message] = normaliseWebhook(payload, MINIMAL).messages;
    assert.deepEqual(message.referral, {
      sourceType: 'ad',
      sourceId: '120226305854810726',
      sourceUrl: 'https://fb.me/3cr4Wqqkv',
      headline: 'Jetzt chatten',
      body: 'Frühlingsangebot',
      mediaType: 'image',
    });
    assert.doesNotMatch(JSON.stringify(message), /Afd1JQZ7b1|fbcdn/);
  });

  it('interactive call_permission_reply: the answer to a call permission request, as accept or reject', () => {
    const payload = fixture('interactive-button-reply');
    const message = payload.entry[0].changes[0].value.messages[0];
    message.interactive = {
      type: 'call_permission_reply',
      call_permission_reply: {
        response: 'accept',
        is_permanent: false,
        expiration_timestamp: 1750701125,
        response_source: 'user_action',
      },
    };
    const [normalised] = normaliseWebhook(payload, MINIMAL).messages;
    assert.deepEqual(normalised.interactive, {
      type: 'call_permission_reply',
      id: 'accept',
      permanent: false,
      expiresAt: 1750701125,
    });
  });

  it('image, audio, video, document and sticker keep the media id, never the download url', () => {
    assert.deepEqual(onlyMessage('image').media, {
      id: '1003383421387256',
      mimeType: 'image/jpeg',
      sha256: 'RTvsQ2Hpld9xbXzHRXlGUYtIV/w5FB1fUPJWiMDAtwY=',
      caption: 'Here you go!',
    });
    assert.deepEqual(onlyMessage('audio').media, {
      id: '1003383421387256',
      mimeType: 'audio/ogg; codecs=opus',
      sha256: 'Mh7ra0bEiORtCmSa3ZSFBsPyDa4TZjOlyGcq++VXcdk=',
      voice: true,
    });
    assert.equal(onlyMessage('video').media?.caption, 'Check this out!');
    assert.deepEqual(onlyMessage('document').media, {
      id: '1003383421387256',
      mimeType: 'application/pdf',
      sha256: 'Q2l4ZWFPVF8wNDU2OTI0NTUyOTI0MzQ1NDg0',
      caption: 'Lucky Shrub Invoice',
      filename: 'lucky-shrub-invoice.pdf',
    });
    const sticker = onlyMessage('sticker');
    assert.equal(sticker.type, 'sticker');
    assert.equal(sticker.media?.mimeType, 'image/webp');
    for (const name of ['image', 'audio', 'video', 'document', 'sticker']) {
      assert.ok(!JSON.stringify(onlyMessage(name)).includes('lookaside'), name);
    }
  });

  it('location', () => {
    assert.deepEqual(onlyMessage('location').location, {
      latitude: 37.44216251868683,
      longitude: -122.161531,
      name: 'Philz Coffee',
      address: '101 Forest Ave, Palo Alto, CA 94301',
      url: 'https://www.philzcoffee.com/',
    });
  });

  it('contacts', () => {
    const { contacts, name } = onlyMessage('contacts');
    assert.equal(name, 'Sheena Nelson', 'the sender, not the shared card');
    const [card] = (contacts ?? []) as Array<{ name: { formatted_name: string } }>;
    assert.equal(contacts?.length, 1);
    assert.equal(card.name.formatted_name, 'Barbara J. Johnson');
  });

  it('reaction', () => {
    assert.deepEqual(onlyMessage('reaction').reaction, {
      messageId: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3NjNFNDZCMkI1RTM4NDdBOUMA',
      emoji: '👍',
    });
  });

  it('order', () => {
    assert.deepEqual(onlyMessage('order').order, {
      catalogId: '194836987003835',
      text: 'Is the Red Scarf in stock?',
      items: [
        { productRetailerId: 'di9ozbzfi4', quantity: 2, itemPrice: 30, currency: 'USD' },
        { productRetailerId: 'nqryix03ez', quantity: 1, itemPrice: 25, currency: 'USD' },
      ],
    });
  });

  it('system (number changed)', () => {
    const message = onlyMessage('system');
    assert.deepEqual(message.system, {
      type: 'user_changed_number',
      body: 'User Sheena Nelson changed from 16505551234 to 16505551235',
      waId: '16505551235',
    });
    assert.equal(message.from, '+16505551234');
  });

  it('system (number changed) with a contact naming the new number: the old number stays the sender', () => {
    const payload = fixture('system');
    payload.entry[0].changes[0].value.contacts[0].wa_id = '16505551235';
    const [message] = normaliseWebhook(payload, MINIMAL).messages;
    assert.equal(message.from, '+16505551234');
    assert.equal(message.waId, '16505551234');
    assert.equal(message.system?.waId, '16505551235');
  });

  it('system (new business-scoped user id): both ids, no number', () => {
    const message = onlyMessage('system-user-id');
    assert.deepEqual(message.system, {
      type: 'user_changed_user_id',
      body: 'User Sheena Nelson changed from US.13491208655302741917 to US.13491208655302741918',
      userId: 'US.13491208655302741918',
      previousUserId: 'US.13491208655302741917',
    });
    assert.equal(message.from, undefined);
  });

  it("unsupported, with Meta's error", () => {
    const message = onlyMessage('unsupported');
    assert.equal(message.type, 'unsupported');
    assert.deepEqual(message.unsupported, { type: 'edit' }, 'an edited message, which Meta does not pass on');
    assert.deepEqual(message.errors, [
      {
        code: 131051,
        title: 'Message type unknown',
        message: 'Message type unknown',
        details: 'Message type is currently not supported.',
      },
    ]);
  });

  it('a type nobody knows yet still comes out as a message', () => {
    const payload = fixture('text');
    const message = payload.entry[0].changes[0].value.messages[0];
    message.type = 'hologram';
    message.hologram = { id: 'h1' };
    delete message.text;
    const [normalised] = normaliseWebhook(payload, MINIMAL).messages;
    assert.equal(normalised.type, 'hologram');
    assert.equal(normalised.from, SENDER.from);
    assert.equal(normalised.text, undefined);
  });
});

describe('normaliseWebhook: business-scoped user ids', () => {
  it('keeps the BSUID when wa_id and from are absent', () => {
    const message = onlyMessage('bsuid-only');
    assert.equal(message.userId, 'US.13491208655302741918');
    assert.equal(message.from, undefined);
    assert.equal(message.waId, undefined);
    assert.equal(message.name, 'Sheena Nelson');
    assert.equal(message.text, 'STOP');
  });

  it('puts the recipient BSUID on a status', () => {
    const [status] = normaliseWebhook(fixture('bsuid-status'), MINIMAL).statuses;
    assert.equal(status.userId, 'US.13491208655302741918');
    assert.equal(status.recipient, '+16505551234');
  });

  it("never takes a lone contact's number for the sender's: from and from_user_id name the writer", () => {
    // One contact, and it is somebody else: STOP, number change, window and de-duplication go by message.from.
    const payload = fixture('text');
    const value = payload.entry[0].changes[0].value;
    value.contacts[0] = { profile: { name: 'Someone Else' }, wa_id: '4915199999999', user_id: 'DE.999' };
    const [message] = normaliseWebhook(payload, MINIMAL).messages;
    assert.equal(message.from, '+16505551234');
    assert.equal(message.waId, '16505551234');
    assert.equal(message.userId, undefined, "the other contact's user id is not the writer's");
    assert.equal(message.name, undefined, "nor is the other contact's name");
  });

  it('fills in an id the message leaves out only from a contact that matches exactly', () => {
    const payload = fixture('bsuid-only');
    const value = payload.entry[0].changes[0].value;
    const only = normaliseWebhook(payload, MINIMAL).messages[0];
    assert.equal(only.userId, 'US.13491208655302741918');
    // The contact with her user id names her number too: it is hers.
    value.contacts[0].wa_id = '16505551234';
    const filled = normaliseWebhook(payload, MINIMAL).messages[0];
    assert.equal(filled.from, '+16505551234');
    assert.equal(filled.name, 'Sheena Nelson');
    // A lone contact with another user id is not hers: her number stays unknown.
    value.contacts[0].user_id = 'US.1';
    const other = normaliseWebhook(payload, MINIMAL).messages[0];
    assert.equal(other.userId, 'US.13491208655302741918');
    assert.equal(other.from, undefined);
    assert.equal(other.name, undefined);
  });

  it("a contact that matches one id but names another for the other is not the writer's", () => {
    const payload = fixture('text');
    const value = payload.entry[0].changes[0].value;
    value.messages[0].from_user_id = 'US.13491208655302741918';
    value.contacts[0] = {
      profile: { name: 'Someone Else' },
      wa_id: '4915199999999',
      user_id: 'US.13491208655302741918',
    };
    const [message] = normaliseWebhook(payload, MINIMAL).messages;
    assert.equal(message.from, '+16505551234');
    assert.equal(message.userId, 'US.13491208655302741918');
    assert.equal(message.name, undefined);
  });

  it("a status takes no lone contact's user id for another recipient", () => {
    const payload = fixture('bsuid-status');
    const status = payload.entry[0].changes[0].value.statuses[0];
    delete status.recipient_user_id;
    payload.entry[0].changes[0].value.contacts = [{ wa_id: '4915199999999', user_id: 'DE.999' }];
    assert.equal(normaliseWebhook(payload, MINIMAL).statuses[0].userId, undefined);
  });

  it('takes the BSUID from the contact when the message has only from', () => {
    const payload = fixture('text');
    payload.entry[0].changes[0].value.contacts[0].user_id = 'DE.123456789';
    assert.equal(normaliseWebhook(payload, MINIMAL).messages[0].userId, 'DE.123456789');
  });
});

describe('normaliseWebhook: statuses', () => {
  it('sent, with conversation and pricing', () => {
    const { statuses, messages } = normaliseWebhook(fixture('status-sent'), MINIMAL);
    assert.equal(messages.length, 0);
    assert.deepEqual(statuses, [
      {
        messageId: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDRDk4QjE3MTk5NTc0QjBFQzgA',
        status: 'sent',
        timestamp: 1750263773,
        phoneNumberId: '106540352242922',
        recipient: '+16505551234',
        recipientId: '16505551234',
        conversation: { id: '4b6e2e8dfe8b2d3b0a6d2a0f0c8e9c1a', category: 'marketing', expiresAt: 1750350173 },
        pricing: { billable: true, category: 'marketing', model: 'PMP', type: 'regular' },
      },
    ]);
  });

  it("the message's biz_opaque_callback_data, which Meta returns only in its statuses", () => {
    const payload = fixture('status-delivered');
    payload.entry[0].changes[0].value.statuses[0].biz_opaque_callback_data = 'order-4711';
    const [status] = normaliseWebhook(payload, MINIMAL).statuses;
    assert.equal(status.bizOpaqueCallbackData, 'order-4711');
    assert.equal(status.raw, undefined);
  });

  it('delivered, read and played', () => {
    for (const state of ['delivered', 'read', 'played']) {
      const [status] = normaliseWebhook(fixture(`status-${state}`), MINIMAL).statuses;
      assert.equal(status.status, state);
      assert.equal(status.recipient, '+16505551234');
    }
  });

  it('failed, with its errors', () => {
    const [status] = normaliseWebhook(fixture('status-failed'), MINIMAL).statuses;
    assert.equal(status.status, 'failed');
    assert.equal(status.errors?.length, 1);
    assert.equal(status.errors?.[0].code, 131050);
    assert.match(status.errors?.[0].details ?? '', /stop receiving marketing messages/);
  });

  it('a group recipient id does not pose as a phone number', () => {
    const payload = fixture('status-read');
    const status = payload.entry[0].changes[0].value.statuses[0];
    status.recipient_type = 'group';
    status.recipient_id = '120363025246125486';
    const [normalised] = normaliseWebhook(payload, MINIMAL).statuses;
    assert.equal(normalised.recipient, undefined);
    assert.equal(normalised.recipientId, '120363025246125486');
  });
});

describe('normaliseWebhook: account events', () => {
  it('user_preferences (marketing resume) as Meta documents it', () => {
    const { events, messages } = normaliseWebhook(fixture('user-preferences'), MINIMAL);
    assert.equal(messages.length, 0);
    assert.deepEqual(events, [
      {
        field: 'user_preferences',
        value: 'resume',
        from: '+16505551234',
        waId: '16505551234',
        category: 'marketing_messages',
        timestamp: 1731705721,
        phoneNumberId: '106540352242922',
      },
    ]);
  });

  it("user_preferences: the change's contacts name a person the item names by one id only, or by none", () => {
    const change = (items: object[], contacts: object[]) => ({
      object: 'whatsapp_business_account',
      entry: [
        {
          id: '102290129340398',
          changes: [
            {
              field: 'user_preferences',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' },
                contacts,
                user_preferences: items,
              },
            },
          ],
        },
      ],
    });
    const stop = { detail: 'User requested to stop marketing messages', category: 'marketing_messages', value: 'stop' };
    const who = (body: object) =>
      normaliseWebhook(body, MINIMAL).events.map((e) => [e.value, e.from, e.waId, e.userId]);
    // A withheld number: the item names nobody, the change's one contact has the user id.
    assert.deepEqual(who(change([stop], [{ user_id: 'DE.1111', profile: { name: 'Anna' } }])), [
      ['stop', undefined, undefined, 'DE.1111'],
    ]);
    // The item names the number; its contact adds the user id.
    assert.deepEqual(
      who(change([{ ...stop, wa_id: '4915123456789' }], [{ wa_id: '4915123456789', user_id: 'DE.1111' }])),
      [['stop', '+4915123456789', '4915123456789', 'DE.1111']],
    );
    // The item names the user id; its contact adds the number.
    assert.deepEqual(who(change([{ ...stop, user_id: 'DE.1111' }], [{ wa_id: '4915123456789', user_id: 'DE.1111' }])), [
      ['stop', '+4915123456789', '4915123456789', 'DE.1111'],
    ]);
    // Another person's contact is never attached, and an item that names nobody among several contacts is dropped.
    const two = [
      { wa_id: '4915123456789', user_id: 'DE.1111' },
      { wa_id: '4917612345678', user_id: 'DE.2222' },
    ];
    assert.deepEqual(who(change([{ ...stop, wa_id: '33612345678' }, stop], two)), [
      ['stop', '+33612345678', '33612345678', undefined],
    ]);
  });

  it('account_update and message_template_status_update', () => {
    assert.deepEqual(normaliseWebhook(fixture('account-update'), MINIMAL).events, [
      { field: 'account_update', value: 'VERIFIED_ACCOUNT', timestamp: 1739321024 },
    ]);
    const [template] = normaliseWebhook(fixture('template-status'), MINIMAL).events;
    assert.equal(template.field, 'message_template_status_update');
    assert.equal(template.value, 'APPROVED');
    assert.deepEqual(template.template, {
      id: '1689556908129832',
      name: 'order_confirmation',
      language: 'en_US',
      reason: 'NONE',
    });
  });

  it("template_category_update names the template and its categories, as Meta's reference documents it", () => {
    const change = (value: object) => ({
      object: 'whatsapp_business_account',
      entry: [{ id: '102290129340398', time: 1739321024, changes: [{ field: 'template_category_update', value }] }],
    });
    const done = {
      message_template_id: 1689556908129832,
      message_template_name: 'order_update',
      message_template_language: 'de',
      previous_category: 'UTILITY',
      new_category: 'MARKETING',
    };
    const [event] = normaliseWebhook(change(done), MINIMAL).events;
    assert.deepEqual(event, {
      field: 'template_category_update',
      timestamp: 1739321024,
      template: {
        id: '1689556908129832',
        name: 'order_update',
        language: 'de',
        previousCategory: 'UTILITY',
        newCategory: 'MARKETING',
      },
    });
    const impending = {
      message_template_id: 1689556908129832,
      message_template_name: 'order_update',
      message_template_language: 'de',
      correct_category: 'MARKETING',
      new_category: 'UTILITY',
      category_update_timestamp: 1739925824,
    };
    assert.equal(normaliseWebhook(change(impending), MINIMAL).events[0].template?.correctCategory, 'MARKETING');
  });

  it("a messages change's own errors (not of one message) come out as an event", () => {
    const body = {
      object: 'whatsapp_business_account',
      entry: [
        {
          id: '102290129340398',
          time: 1767000000,
          changes: [
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' },
                errors: [
                  {
                    code: 131000,
                    title: 'Something went wrong',
                    message: 'Something went wrong',
                    error_data: { details: 'Message failed to send due to an unknown error.' },
                  },
                ],
              },
            },
          ],
        },
      ],
    };
    const { messages, statuses, events } = normaliseWebhook(body, MINIMAL);
    assert.equal(messages.length + statuses.length, 0);
    assert.deepEqual(events, [
      {
        field: 'errors',
        phoneNumberId: '106540352242922',
        timestamp: 1767000000,
        errors: [
          {
            code: 131000,
            title: 'Something went wrong',
            message: 'Something went wrong',
            details: 'Message failed to send due to an unknown error.',
          },
        ],
      },
    ]);
  });
});

describe('normaliseWebhook: batches, names and minimisation', () => {
  it('reads every entry and every change of a batched body', () => {
    const { messages, statuses, events } = normaliseWebhook(fixture('batched'), MINIMAL);
    assert.deepEqual(
      messages.map((m) => [m.messageId, m.from, m.name, m.phoneNumberId, m.text]),
      [
        ['wamid.B1', '+4915123456789', 'Anna Schmidt', '106540352242922', 'Hallo'],
        ['wamid.B2', '+4917612345678', 'Jörg Müller', '106540352242922', 'Grüß Gott'],
        ['wamid.B3', '+4915123456789', 'Anna Schmidt', '106540352242922', 'Noch da?'],
        ['wamid.B4', '+33612345678', 'Claire Dubois', '200000000000001', 'Bonjour'],
        ['wamid.B5', '+33612345678', 'Claire Dubois', '200000000000001', 'STOP'],
      ],
    );
    assert.deepEqual(
      statuses.map((s) => [s.messageId, s.status]),
      [
        ['wamid.S1', 'delivered'],
        ['wamid.S1', 'read'],
      ],
    );
    assert.deepEqual(
      events.map((e) => [e.field, e.value, e.from, e.phoneNumberId]),
      [['user_preferences', 'stop', '+33612345678', '200000000000001']],
    );
  });

  it('maps names by sender, not by position', () => {
    const payload = fixture('batched');
    const value = payload.entry[0].changes[0].value;
    value.contacts.reverse();
    const names = normaliseWebhook(payload, MINIMAL)
      .messages.slice(0, 3)
      .map((m) => m.name);
    assert.deepEqual(names, ['Anna Schmidt', 'Jörg Müller', 'Anna Schmidt']);
  });

  it("leaves out Meta's raw objects when minimising, and attaches them when not", () => {
    const minimal = normaliseWebhook(fixture('batched'), { minimise: true });
    for (const item of [...minimal.messages, ...minimal.statuses, ...minimal.events]) assert.ok(!('raw' in item));

    const payload = fixture('batched');
    const full = normaliseWebhook(payload, { minimise: false });
    const value = payload.entry[0].changes[0].value;
    assert.deepEqual(full.messages[0].raw, value.messages[0]);
    assert.deepEqual(full.statuses[1].raw, payload.entry[0].changes[1].value.statuses[1]);
    assert.deepEqual(full.events[0].raw, payload.entry[1].changes[1].value.user_preferences[0]);
    assert.deepEqual(normaliseWebhook(fixture('account-update'), { minimise: false }).events[0].raw, {
      phone_number: '15550783881',
      event: 'VERIFIED_ACCOUNT',
    });
  });

  it('skips what it cannot read and never throws on odd shapes', () => {
    const odd: unknown[] = [
      null,
      undefined,
      42,
      'text',
      [],
      { object: 'page', entry: [] },
      { object: 'whatsapp_business_account' },
      { object: 'whatsapp_business_account', entry: 'x' },
      { object: 'whatsapp_business_account', entry: [null, 1, { changes: [null, { value: 5 }, { field: 7 }] }] },
      {
        object: 'whatsapp_business_account',
        entry: [
          {
            changes: [
              { field: 'messages', value: { metadata: { phone_number_id: '1' }, messages: [{}, { id: 5 }, null] } },
            ],
          },
        ],
      },
    ];
    for (const payload of odd) {
      const result = normaliseWebhook(payload, MINIMAL);
      assert.equal(result.statuses.length + result.events.length, 0, JSON.stringify(payload));
    }
    const numericId = normaliseWebhook(odd[9], MINIMAL).messages;
    assert.deepEqual(
      numericId.map((m) => [m.messageId, m.type, m.from]),
      [['5', 'unknown', undefined]],
    );
  });

  it('drops messages of a change without a business phone number id', () => {
    const payload = fixture('text');
    delete payload.entry[0].changes[0].value.metadata;
    assert.equal(normaliseWebhook(payload, MINIMAL).messages.length, 0);
  });
});
