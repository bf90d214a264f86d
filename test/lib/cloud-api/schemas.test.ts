import assert from 'node:assert/strict';
import {
  assertValidMessageBody,
  LIMITS,
  type SchemaViolation,
  toMessageBody,
  toReadReceiptBody,
  validateMessageBody,
  validateReadReceiptBody,
} from '../../../lib/cloud-api/schemas';
import { GdprWhatsAppError } from '../../../lib/errors';

const TO = '+4915112345678';
const envelope = { messaging_product: 'whatsapp', recipient_type: 'individual', to: TO };

function violations(body: unknown): SchemaViolation[] {
  const result = validateMessageBody(body);
  return result.ok ? [] : result.violations;
}

function assertValid(body: unknown): void {
  assert.deepEqual(violations(body), [], 'expected a valid body');
}

function assertViolation(body: unknown, field: string, limit: string): void {
  const found = violations(body);
  assert.ok(
    found.some((v) => v.field === field && v.limit === limit && v.message.includes(field) && v.message.includes(limit)),
    `expected ${field} / ${limit}, got ${JSON.stringify(found)}`,
  );
}

const chars = (n: number) => 'x'.repeat(n);

function buttons(titles: string[], ids = titles.map((_, i) => `id${i}`)) {
  return {
    ...envelope,
    type: 'interactive',
    interactive: {
      type: 'button',
      body: { text: 'Choose' },
      action: { buttons: titles.map((title, i) => ({ type: 'reply', reply: { id: ids[i], title } })) },
    },
  };
}

function list(sections: Array<{ title?: string; rows: Array<{ id: string; title: string; description?: string }> }>) {
  return {
    ...envelope,
    type: 'interactive',
    interactive: { type: 'list', body: { text: 'Pick one' }, action: { button: 'Options', sections } },
  };
}

const rows = (n: number, prefix = 'r') =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, title: `Row ${i}` }));

describe('cloud-api schemas', () => {
  describe('a valid body of every message type', () => {
    const valid: Record<string, unknown> = {
      text: { ...envelope, type: 'text', text: { body: 'Hallo', preview_url: true } },
      'text reply': { ...envelope, type: 'text', context: { message_id: 'wamid.abc' }, text: { body: 'Hi' } },
      template: {
        ...envelope,
        type: 'template',
        template: {
          name: 'double_opt_in_v2',
          language: { code: 'de' },
          components: [
            { type: 'header', parameters: [{ type: 'image', image: { link: 'https://example.com/a.png' } }] },
            { type: 'body', parameters: [{ type: 'text', text: 'Erika' }] },
            {
              type: 'button',
              sub_type: 'quick_reply',
              index: '0',
              parameters: [{ type: 'payload', payload: 'CONFIRM' }],
            },
            { type: 'button', sub_type: 'quick_reply', index: 1, parameters: [{ type: 'payload', payload: 'STOP' }] },
            { type: 'button', sub_type: 'url', index: '2', parameters: [{ type: 'text', text: 'token123' }] },
          ],
        },
      },
      'interactive button': buttons(['Ja', 'Nein', 'Später']),
      'interactive list': list([
        { title: 'Newsletter', rows: [{ id: 'n1', title: 'Weekly', description: 'Every Monday' }] },
        { title: 'Offers', rows: [{ id: 'o1', title: 'Monthly' }] },
      ]),
      'interactive with header and footer': {
        ...envelope,
        type: 'interactive',
        interactive: {
          type: 'button',
          header: { type: 'image', image: { id: '1013859600285441' } },
          body: { text: 'Choose' },
          footer: { text: 'Reply STOP to opt out' },
          action: { buttons: [{ type: 'reply', reply: { id: 'yes', title: 'Yes' } }] },
        },
      },
      'image by id': { ...envelope, type: 'image', image: { id: '1013859600285441', caption: 'Aloe' } },
      'image by link': { ...envelope, type: 'image', image: { link: 'https://example.com/aloe.png' } },
      video: { ...envelope, type: 'video', video: { link: 'https://example.com/a.mp4', caption: 'Clip' } },
      audio: { ...envelope, type: 'audio', audio: { id: '123' } },
      'voice message': { ...envelope, type: 'audio', audio: { id: '123', voice: true } },
      document: { ...envelope, type: 'document', document: { id: '123', filename: 'privacy.pdf', caption: 'Notice' } },
      sticker: { ...envelope, type: 'sticker', sticker: { id: '123' } },
      reaction: { ...envelope, type: 'reaction', reaction: { message_id: 'wamid.abc', emoji: '\u{1F44D}' } },
      'reaction removal': { ...envelope, type: 'reaction', reaction: { message_id: 'wamid.abc', emoji: '' } },
      location: {
        ...envelope,
        type: 'location',
        location: { latitude: 52.52, longitude: 13.405, name: 'Office', address: 'Berlin' },
      },
      contacts: {
        ...envelope,
        type: 'contacts',
        contacts: [{ name: { formatted_name: 'Support', first_name: 'Support' }, phones: [{ phone: '+4930123456' }] }],
      },
    };
    for (const [name, body] of Object.entries(valid)) {
      it(name, () => assertValid(body));
    }
  });

  describe('limits: pass at the limit, fail one over, name the field', () => {
    const cases: Array<{ name: string; build: (n: number) => unknown; limit: number; field: string; text: string }> = [
      {
        name: 'text body',
        build: (n) => ({ ...envelope, type: 'text', text: { body: chars(n) } }),
        limit: LIMITS.textBody,
        field: 'text.body',
        text: 'at most 4096 characters',
      },
      {
        name: 'reply button title',
        build: (n) => buttons(['Yes', chars(n)]),
        limit: 20,
        field: 'interactive.action.buttons[1].reply.title',
        text: 'at most 20 characters',
      },
      {
        name: 'reply button id',
        build: (n) => buttons(['Yes', 'No'], ['a', chars(n)]),
        limit: 256,
        field: 'interactive.action.buttons[1].reply.id',
        text: 'at most 256 characters',
      },
      {
        name: 'number of reply buttons',
        build: (n) => buttons(Array.from({ length: n }, (_, i) => `B${i}`)),
        limit: 3,
        field: 'interactive.action.buttons',
        text: 'at most 3 items',
      },
      {
        name: 'interactive body',
        build: (n) => ({ ...buttons(['A']), interactive: { ...buttons(['A']).interactive, body: { text: chars(n) } } }),
        limit: 1024,
        field: 'interactive.body.text',
        text: 'at most 1024 characters',
      },
      {
        name: 'interactive header text',
        build: (n) => ({
          ...buttons(['A']),
          interactive: { ...buttons(['A']).interactive, header: { type: 'text', text: chars(n) } },
        }),
        limit: 60,
        field: 'interactive.header.text',
        text: 'at most 60 characters',
      },
      {
        name: 'interactive footer',
        build: (n) => ({
          ...buttons(['A']),
          interactive: { ...buttons(['A']).interactive, footer: { text: chars(n) } },
        }),
        limit: 60,
        field: 'interactive.footer.text',
        text: 'at most 60 characters',
      },
      {
        name: 'list button text',
        build: (n) => {
          const body = list([{ rows: rows(1) }]);
          body.interactive.action.button = chars(n);
          return body;
        },
        limit: 20,
        field: 'interactive.action.button',
        text: 'at most 20 characters',
      },
      {
        name: 'list row title',
        build: (n) => list([{ rows: [{ id: 'a', title: chars(n) }] }]),
        limit: 24,
        field: 'interactive.action.sections[0].rows[0].title',
        text: 'at most 24 characters',
      },
      {
        name: 'list row description',
        build: (n) => list([{ rows: [{ id: 'a', title: 'A', description: chars(n) }] }]),
        limit: 72,
        field: 'interactive.action.sections[0].rows[0].description',
        text: 'at most 72 characters',
      },
      {
        name: 'list section title',
        build: (n) => list([{ title: chars(n), rows: rows(1) }]),
        limit: 24,
        field: 'interactive.action.sections[0].title',
        text: 'at most 24 characters',
      },
      {
        name: 'list sections',
        build: (n) =>
          list(Array.from({ length: n }, (_, i) => ({ title: `S${i}`, rows: [{ id: `r${i}`, title: 'R' }] }))),
        limit: 10,
        field: 'interactive.action.sections',
        text: 'at most 10 items',
      },
      {
        name: 'list rows in total (across sections)',
        build: (n) =>
          list([
            { title: 'A', rows: rows(5, 'a') },
            { title: 'B', rows: rows(n - 5, 'b') },
          ]),
        limit: 10,
        field: 'interactive.action.sections',
        text: 'at most 10 rows in total',
      },
      {
        name: 'image caption',
        build: (n) => ({ ...envelope, type: 'image', image: { id: '1', caption: chars(n) } }),
        limit: 1024,
        field: 'image.caption',
        text: 'at most 1024 characters',
      },
      {
        name: 'document caption',
        build: (n) => ({ ...envelope, type: 'document', document: { id: '1', caption: chars(n) } }),
        limit: 1024,
        field: 'document.caption',
        text: 'at most 1024 characters',
      },
      {
        name: 'template name length',
        build: (n) => ({ ...envelope, type: 'template', template: { name: chars(n), language: { code: 'de' } } }),
        limit: 512,
        field: 'template.name',
        text: 'lowercase letters, digits and underscores, 1 to 512 characters',
      },
    ];
    for (const c of cases) {
      it(`${c.name}: ${c.limit} passes, ${c.limit + 1} fails`, () => {
        assertValid(c.build(c.limit));
        assertViolation(c.build(c.limit + 1), c.field, c.text);
      });
    }
  });

  describe('rules JSON Schema cannot express', () => {
    it('reply button titles must be unique', () => {
      assertViolation(
        buttons(['Yes', 'No', 'Yes']),
        'interactive.action.buttons[2].reply.title',
        'unique within the message',
      );
    });

    it('reply button ids must be unique', () => {
      assertViolation(
        buttons(['Yes', 'No'], ['same', 'same']),
        'interactive.action.buttons[1].reply.id',
        'unique within the message',
      );
    });

    it('list sections need titles when there are several', () => {
      assertViolation(
        list([{ rows: rows(1, 'a') }, { title: 'B', rows: rows(1, 'b') }]),
        'interactive.action.sections[0].title',
        'required when there is more than one section',
      );
      assertValid(list([{ rows: rows(1) }]));
    });

    it('a second content object next to the typed one is refused', () => {
      assertViolation(
        { ...envelope, type: 'text', text: { body: 'a' }, image: { id: '1' } },
        'image',
        'not allowed in a message of type text',
      );
    });
  });

  describe('shapes', () => {
    it('a call-to-action button opens a web address only', () => {
      const cta = (url: string) => ({
        ...envelope,
        type: 'interactive',
        interactive: {
          type: 'cta_url',
          body: { text: 'Termine ansehen' },
          action: { name: 'cta_url', parameters: { display_text: 'Termine', url } },
        },
      });
      assertValid(cta('https://shop.example/termine?ref=wa'));
      for (const url of ['javascript:alert(1)', 'data:text/html,<b>x</b>', 'JaVaScRiPt:fetch(1)', 'https://a b']) {
        assert.ok(
          violations(cta(url)).some((v) => v.field === 'interactive.action.parameters.url'),
          url,
        );
      }
      const long = cta('https://shop.example/');
      (long.interactive.action.parameters as { display_text: string }).display_text = 'x'.repeat(21);
      assert.ok(violations(long).some((v) => v.field === 'interactive.action.parameters.display_text'));
    });

    it('names the type expected with its article, and the shape of a text message written as a string', () => {
      assertViolation(
        { messaging_product: 'whatsapp', to: '4915112345678', type: 'text', text: 'hello' },
        'text',
        'an object such as {"body": "Hello"} (a text alone can be msg.payload itself)',
      );
      assertViolation(
        { messaging_product: 'whatsapp', to: '4915112345678', type: 'image', image: 'https://x.example/a.png' },
        'image',
        'an object',
      );
    });

    it('a list header must be text', () => {
      const body = list([{ rows: rows(1) }]);
      (body.interactive as Record<string, unknown>).header = { type: 'image', image: { id: '1' } };
      assertViolation(body, 'interactive.header.type', 'exactly "text"');
    });

    it('media needs exactly one of id or link', () => {
      assertViolation({ ...envelope, type: 'image', image: {} }, 'image', 'exactly one of id or link');
      assertViolation(
        { ...envelope, type: 'image', image: { id: '1', link: 'https://a.b/c' } },
        'image',
        'exactly one of id or link',
      );
      assertViolation({ ...envelope, type: 'image', image: { link: 'ftp://a.b/c' } }, 'image.link', 'an http(s) URL');
    });

    it('audio and stickers take no caption', () => {
      assertViolation(
        { ...envelope, type: 'audio', audio: { id: '1', caption: 'x' } },
        'audio.caption',
        'not allowed here',
      );
      assertViolation({ ...envelope, type: 'audio', audio: { id: '1', voice: 'yes' } }, 'audio.voice', 'a boolean');
    });

    it('media card carousel and limited-time offer templates, as Meta documents their sending', () => {
      const card = (index: number) => ({
        card_index: index,
        components: [
          { type: 'header', parameters: [{ type: 'image', image: { id: `12${index}` } }] },
          {
            type: 'button',
            sub_type: 'quick_reply',
            index: 0,
            parameters: [{ type: 'payload', payload: `more-${index}` }],
          },
        ],
      });
      const carousel = (cards: unknown[]) => ({
        ...envelope,
        type: 'template',
        template: {
          name: 'summer_carousel',
          language: { code: 'de' },
          components: [
            { type: 'body', parameters: [{ type: 'text', text: '15OFF' }] },
            { type: 'carousel', cards },
          ],
        },
      });
      assertValid(carousel([card(0), card(1), card(2)]));
      assertViolation(carousel([card(0)]), 'template.components[1].cards', 'at least 2 items');
      assertValid({
        ...envelope,
        type: 'template',
        template: {
          name: 'summer_offer',
          language: { code: 'de' },
          components: [
            {
              type: 'limited_time_offer',
              parameters: [{ type: 'limited_time_offer', limited_time_offer: { expiration_time_ms: 1767225600000 } }],
            },
            {
              type: 'button',
              sub_type: 'copy_code',
              index: 0,
              parameters: [{ type: 'coupon_code', coupon_code: 'SUMMER25' }],
            },
          ],
        },
      });
    });

    it('an interactive media carousel: 2 to 10 cards in card_index order, the same buttons on each', () => {
      const card = (i: number, action: Record<string, unknown>) => ({
        card_index: i,
        header: { type: 'image', image: { link: `https://shop.example/p${i}.jpg` } },
        body: { text: `Pflanze ${i}` },
        action,
      });
      const url = (i: number) => ({
        name: 'cta_url',
        parameters: { display_text: 'Ansehen', url: `https://shop.example/${i}` },
      });
      const replies = (i: number, n = 2) => ({
        buttons: Array.from({ length: n }, (_, b) => ({
          type: 'quick_reply',
          quick_reply: { id: `c${i}b${b}`, title: `Wahl ${b}` },
        })),
      });
      const carousel = (cards: unknown[], extra: Record<string, unknown> = {}) => ({
        ...envelope,
        type: 'interactive',
        interactive: { type: 'carousel', body: { text: 'Neu im Laden' }, action: { cards }, ...extra },
      });
      assertValid(carousel([card(0, url(0)), { ...card(1, url(1)), type: 'cta_url' }]));
      assertValid(carousel([card(1, replies(1)), card(0, replies(0))]));
      assertViolation(carousel([card(0, url(0))]), 'interactive.action.cards', 'at least 2 items');
      assertViolation(
        carousel(Array.from({ length: 11 }, (_, i) => card(i, url(i)))),
        'interactive.action.cards',
        'at most 10 items',
      );
      assertViolation(
        carousel([card(0, url(0)), card(0, url(1))]),
        'interactive.action.cards[1].card_index',
        'unique and below 2',
      );
      assertViolation(
        carousel([card(0, url(0)), card(2, url(1))]),
        'interactive.action.cards[1].card_index',
        'unique and below 2',
      );
      assertViolation(
        carousel([card(0, url(0)), card(1, replies(1))]),
        'interactive.action.cards[1].action',
        'the same kind and number of buttons as card 0',
      );
      assertViolation(
        carousel([card(0, replies(0, 2)), card(1, replies(1, 1))]),
        'interactive.action.cards[1].action',
        'the same kind and number of buttons as card 0',
      );
      const twin = card(0, {
        buttons: [0, 1].map(() => ({ type: 'quick_reply', quick_reply: { id: 'same', title: 'Gleich' } })),
      });
      assertViolation(
        carousel([twin, card(1, replies(1))]),
        'interactive.action.cards[0].action.buttons[1].quick_reply.id',
        'unique within the message',
      );
      assertViolation(
        carousel([card(0, url(0)), card(1, url(1))], { footer: { text: 'STOP' } }),
        'interactive.footer',
        'not allowed in a carousel',
      );
      assertViolation(
        carousel([card(0, url(0)), card(1, url(1))], { header: { type: 'text', text: 'Hallo' } }),
        'interactive.header',
        'not allowed in a carousel',
      );
      const document = { ...card(1, url(1)), header: { type: 'document', document: { id: '1' } } };
      assertViolation(
        carousel([card(0, url(0)), document]),
        'interactive.action.cards[1].header.type',
        'one of image, video',
      );
      const longBody = { ...card(1, url(1)), body: { text: chars(LIMITS.carouselCardBody + 1) } };
      assertViolation(
        carousel([card(0, url(0)), longBody]),
        'interactive.action.cards[1].body.text',
        'at most 160 characters',
      );
      const both = card(1, { ...url(1), ...replies(1) });
      assertViolation(
        carousel([card(0, url(0)), both]),
        'interactive.action.cards[1].action',
        'either one URL button (name cta_url with parameters) or quick-reply buttons',
      );
      const script = card(1, { name: 'cta_url', parameters: { display_text: 'x', url: 'javascript:alert(1)' } });
      assert.ok(
        violations(carousel([card(0, url(0)), script])).some((v) => v.field === 'interactive.action.cards[1].action'),
      );
      const noBody = carousel([card(0, url(0)), card(1, url(1))]);
      delete (noBody.interactive as Record<string, unknown>).body;
      assertViolation(noBody, 'interactive.body', 'required');
    });

    it('a call permission request has a body and the action call_permission_request', () => {
      const request = (action: unknown, body: unknown = { text: 'Dürfen wir Sie zu Ihrer Bestellung anrufen?' }) => ({
        ...envelope,
        type: 'interactive',
        interactive: { type: 'call_permission_request', body, action },
      });
      assertValid(request({ name: 'call_permission_request' }));
      assertViolation(request({ name: 'cta_url' }), 'interactive.action.name', 'exactly "call_permission_request"');
      assertViolation(request({}), 'interactive.action.name', 'required');
      const noBody = request({ name: 'call_permission_request' });
      delete (noBody.interactive as Record<string, unknown>).body;
      assertViolation(noBody, 'interactive.body', 'required');
    });

    it('template names are lowercase, digits and underscores', () => {
      const body = (name: string) => ({
        ...envelope,
        type: 'template',
        template: { name, language: { code: 'en_US' } },
      });
      assertValid(body('order_update_2'));
      assertViolation(
        body('Order-Update'),
        'template.name',
        'lowercase letters, digits and underscores, 1 to 512 characters',
      );
      assertViolation(body(''), 'template.name', 'lowercase letters, digits and underscores, 1 to 512 characters');
    });

    it('template language code is required', () => {
      assertViolation(
        { ...envelope, type: 'template', template: { name: 'a', language: {} } },
        'template.language.code',
        'required',
      );
    });

    it('template buttons need sub_type and an index from 0 to 9, quick replies a payload', () => {
      const body = (component: object) => ({
        ...envelope,
        type: 'template',
        template: { name: 'a', language: { code: 'de' }, components: [component] },
      });
      assertViolation(body({ type: 'button', index: 0 }), 'template.components[0].sub_type', 'required');
      assertViolation(
        body({ type: 'button', sub_type: 'quick_reply', index: 10 }),
        'template.components[0].index',
        'a button position from 0 to 9',
      );
      assertViolation(
        body({ type: 'button', sub_type: 'quick_reply', index: 0, parameters: [{ type: 'text', text: 'x' }] }),
        'template.components[0].parameters[0].type',
        'exactly "payload"',
      );
      assertViolation(
        body({ type: 'button', sub_type: 'quick_reply', index: 0, parameters: [{ type: 'payload' }] }),
        'template.components[0].parameters[0].payload',
        'required',
      );
    });

    it('a button sub_type is read in any case: the catalog template as Meta documents it ("CATALOG")', () => {
      const body = (...components: object[]) => ({
        ...envelope,
        type: 'template',
        template: { name: 'intro_catalog_offer', language: { code: 'en_US' }, components },
      });
      const catalog = {
        type: 'button',
        sub_type: 'CATALOG',
        index: 0,
        parameters: [{ type: 'action', action: { thumbnail_product_retailer_id: '2lc20305pt' } }],
      };
      assertValid(body({ type: 'body', parameters: [{ type: 'text', text: '100' }] }, catalog));
      assertValid(body({ ...catalog, sub_type: 'Catalog' }));
      assertValid(
        body({
          type: 'button',
          sub_type: 'COPY_CODE',
          index: 0,
          parameters: [{ type: 'coupon_code', coupon_code: 'X' }],
        }),
      );
      // A quick reply is one in any case, and still needs a payload.
      assertViolation(
        body({ type: 'button', sub_type: 'QUICK_REPLY', index: 0, parameters: [{ type: 'text', text: 'x' }] }),
        'template.components[0].parameters[0].type',
        'exactly "payload"',
      );
      const known = 'one of quick_reply, url, copy_code, flow, catalog, mpm, voice_call, order_details (in any case)';
      assertViolation(body({ ...catalog, sub_type: 'catalogue' }), 'template.components[0].sub_type', known);
      assertViolation(body({ ...catalog, sub_type: 7 }), 'template.components[0].sub_type', known);
    });

    it('envelope fields are checked', () => {
      assertViolation({ type: 'text', to: TO, text: { body: 'a' } }, 'messaging_product', 'required');
      assertViolation(
        { ...envelope, messaging_product: 'sms', type: 'text', text: { body: 'a' } },
        'messaging_product',
        'exactly "whatsapp"',
      );
      assertViolation(
        { ...envelope, type: 'fax', fax: {} },
        'type',
        'one of text, template, interactive, image, video, audio, document, sticker, reaction, location, contacts',
      );
      assertViolation({ ...envelope, type: 'text' }, 'text', 'required');
      assertViolation({ ...envelope, type: 'text', text: { bdy: 'a' } }, 'text.bdy', 'not allowed here');
      assertViolation(
        { ...envelope, type: 'text', text: { body: 'a' }, context: {} },
        'context.message_id',
        'required',
      );
    });

    it('a number goes in to, a business-scoped user id in recipient, never both or neither', () => {
      const text = { type: 'text', text: { body: 'a' } };
      const byUserId = {
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        recipient: 'DE.1502576394655843',
      };
      assertValid({ ...byUserId, ...text });
      assertValid({ ...byUserId, recipient: 'US.ENT.11815799212886844830', ...text });
      assertViolation(
        { ...envelope, recipient: 'DE.1502576394655843', ...text },
        'message',
        'exactly one of to or recipient',
      );
      assertViolation({ messaging_product: 'whatsapp', ...text }, 'message', 'exactly one of to or recipient');
      assertViolation(
        { ...envelope, to: 'DE.1502576394655843', ...text },
        'to',
        'a phone number (a business-scoped user id goes in recipient)',
      );
      for (const malformed of ['de.123', 'DE123', 'DE.', 'DE.12-34', `DE.${'1'.repeat(129)}`, '+4915112345678']) {
        assertViolation(
          { ...byUserId, recipient: malformed, ...text },
          'recipient',
          'a business-scoped user id such as US.13491208655302741918',
        );
      }
    });

    it('a text or interactive body that is empty or only spaces is refused', () => {
      const blankText = 'a text, not empty or only spaces';
      for (const blank of ['', ' ', '\n\n\t']) {
        assertViolation({ ...envelope, type: 'text', text: { body: blank } }, 'text.body', blankText);
        assertViolation(toMessageBody(TO, blank), 'text.body', blankText);
        const button = buttons(['Yes']);
        assertViolation(
          { ...button, interactive: { ...button.interactive, body: { text: blank } } },
          'interactive.body.text',
          blankText,
        );
      }
      assertValid({ ...envelope, type: 'text', text: { body: ' x ' } });
    });

    it('location coordinates are in range', () => {
      assertViolation(
        { ...envelope, type: 'location', location: { latitude: 90.5, longitude: 0 } },
        'location.latitude',
        'at most 90',
      );
      assertViolation(
        { ...envelope, type: 'location', location: { latitude: 0, longitude: -181 } },
        'location.longitude',
        'at least -180',
      );
    });

    it('location coordinates may be decimal strings, as Meta documents them, and are range-checked as well', () => {
      // Meta's location-message guide: latitude and longitude are Strings in decimal degrees.
      const at = (latitude: unknown, longitude: unknown) => ({
        ...envelope,
        type: 'location',
        location: { latitude, longitude, name: 'Philz Coffee', address: '101 Forest Ave' },
      });
      assertValid(at('37.44216251868683', '-122.16153582049394'));
      assertValid(at('-90', '180'));
      assertValid(at('+52.5', '13'));
      assertValid(at(52.52, '13.405'));
      const degrees = (limit: number) => `a decimal number from -${limit} to ${limit}`;
      assertViolation(at('90.5', '0'), 'location.latitude', degrees(90));
      assertViolation(at('0', '-180.01'), 'location.longitude', degrees(180));
      for (const malformed of ['', ' 52.5', '52,5', 'abc', '1e2', '0x10', 'NaN', 'Infinity']) {
        assertViolation(at(malformed, '0'), 'location.latitude', degrees(90));
      }
      assertViolation(at(true, '0'), 'location.latitude', 'a number or a string');
    });

    it('a location template header takes decimal-string coordinates too, range-checked', () => {
      const header = (location: Record<string, unknown>) => ({
        ...envelope,
        type: 'template',
        template: {
          name: 'store_opening',
          language: { code: 'de' },
          components: [{ type: 'header', parameters: [{ type: 'location', location }] }],
        },
      });
      assertValid(header({ latitude: '52.52', longitude: '13.40', name: 'Laden', address: 'Berlin' }));
      assertViolation(
        header({ latitude: '52.52', longitude: '181' }),
        'template.components[0].parameters[0].location.longitude',
        'a decimal number from -180 to 180',
      );
    });

    it('contacts need a formatted name', () => {
      assertViolation(
        { ...envelope, type: 'contacts', contacts: [{ name: {} }] },
        'contacts[0].name.formatted_name',
        'required',
      );
      assertViolation({ ...envelope, type: 'contacts', contacts: [] }, 'contacts', 'at least 1 item');
    });

    it('reports every violation, not only the first', () => {
      const found = violations(buttons([chars(21), chars(21)], ['a', chars(257)]));
      const fields = found.map((v) => v.field);
      assert.ok(fields.includes('interactive.action.buttons[0].reply.title'));
      assert.ok(fields.includes('interactive.action.buttons[1].reply.title'));
      assert.ok(fields.includes('interactive.action.buttons[1].reply.id'));
    });

    it('non-objects are refused', () => {
      for (const body of [null, 'text', 42, []]) {
        assert.equal(validateMessageBody(body).ok, false);
      }
    });
  });

  describe('assertValidMessageBody', () => {
    it('throws invalid-message naming field and limit, without the content', () => {
      const secretText = `${chars(4096)}SECRET`;
      assert.throws(
        () => assertValidMessageBody({ ...envelope, type: 'text', text: { body: secretText } }),
        (err: unknown) => {
          assert.ok(err instanceof GdprWhatsAppError);
          assert.equal(err.code, 'invalid-message');
          assert.deepEqual(err.params, { field: 'text.body', limit: 'at most 4096 characters' });
          assert.match(err.message, /text\.body must be at most 4096 characters/);
          assert.ok(!err.message.includes('SECRET'));
          assert.ok(!err.message.includes(TO), 'no phone number in the message');
          return true;
        },
      );
    });

    it('passes a valid body', () => {
      assert.doesNotThrow(() => assertValidMessageBody(toMessageBody(TO, 'Hallo')));
    });
  });

  describe('toMessageBody', () => {
    it('turns a string into a text message without link preview', () => {
      assert.deepEqual(toMessageBody(TO, 'See https://example.com'), {
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        to: TO,
        type: 'text',
        text: { body: 'See https://example.com', preview_url: false },
      });
    });

    it('addresses a business-scoped user id in recipient, whatever the payload object names', () => {
      const bsuid = 'DE.1502576394655843';
      assert.deepEqual(toMessageBody(bsuid, 'Hallo'), {
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        recipient: bsuid,
        type: 'text',
        text: { body: 'Hallo', preview_url: false },
      });
      const template = toMessageBody(bsuid, {
        to: '+4915112345678',
        template: { name: 'welcome', language: { code: 'de' } },
      }) as unknown as Record<string, unknown>;
      assert.equal(template.recipient, bsuid);
      assert.equal('to' in template, false, "a payload's own address never decides where it goes");
      assertValid(template);
      const byNumber = toMessageBody(TO, { recipient: bsuid, text: { body: 'x' } }) as unknown as Record<
        string,
        unknown
      >;
      assert.equal(byNumber.to, TO);
      assert.equal('recipient' in byNumber, false);
    });

    it('keeps preview_url when the payload object asks for it', () => {
      const body = toMessageBody(TO, { text: { body: 'https://example.com', preview_url: true } });
      assert.equal(body.type, 'text');
      assert.deepEqual((body as { text: unknown }).text, { body: 'https://example.com', preview_url: true });
      assertValid(body);
    });

    it('fills in the envelope and infers the type from the one content key', () => {
      const body = toMessageBody(TO, { template: { name: 'welcome', language: { code: 'de' } } });
      assert.equal(body.messaging_product, 'whatsapp');
      assert.equal(body.recipient_type, 'individual');
      assert.equal(body.to, TO);
      assert.equal(body.type, 'template');
      assertValid(body);
    });

    it('keeps an explicit type and does not guess with two content keys', () => {
      assert.equal(toMessageBody(TO, { type: 'image', image: { id: '1' } }).type, 'image');
      const ambiguous = toMessageBody(TO, { text: { body: 'a' }, image: { id: '1' } });
      assert.equal(ambiguous.type, undefined);
      assertViolation(ambiguous, 'type', 'required');
    });

    it('the recipient given wins over one inside the payload', () => {
      assert.equal(toMessageBody(TO, { to: '+15550001111', text: { body: 'a' } }).to, TO);
    });

    it('does not change the payload object', () => {
      const payload = { text: { body: 'a' } };
      toMessageBody(TO, payload);
      assert.deepEqual(payload, { text: { body: 'a' } });
    });

    it('refuses payloads that are neither string nor object', () => {
      for (const payload of [undefined, null, 5, ['a']]) {
        assert.throws(
          () => toMessageBody(TO, payload),
          (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'invalid-message',
        );
      }
    });
  });

  describe('read receipts', () => {
    it('builds and validates the read body, with and without typing indicator', () => {
      assert.deepEqual(toReadReceiptBody('wamid.1'), {
        messaging_product: 'whatsapp',
        status: 'read',
        message_id: 'wamid.1',
      });
      assert.deepEqual(toReadReceiptBody('wamid.1', true).typing_indicator, { type: 'text' });
      assert.equal(validateReadReceiptBody(toReadReceiptBody('wamid.1', true)).ok, true);
    });

    it('refuses an empty message id or a wrong status', () => {
      const empty = validateReadReceiptBody(toReadReceiptBody(''));
      assert.ok(!empty.ok && empty.violations.some((v) => v.field === 'message_id'));
      const wrong = validateReadReceiptBody({ messaging_product: 'whatsapp', status: 'delivered', message_id: 'w' });
      assert.ok(!wrong.ok && wrong.violations.some((v) => v.field === 'status' && v.limit === 'exactly "read"'));
    });
  });
});
