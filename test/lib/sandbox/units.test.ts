import assert from 'node:assert/strict';
import { customerMessageObject, parseCustomerMessage, renderOutgoing } from '../../../lib/sandbox/messages';
import { PAIR_BURST, PAIR_REFILL_MS, PairRateBucket, ThroughputWindow } from '../../../lib/sandbox/rate-limits';
import { SANDBOX_TEMPLATES } from '../../../nodes/shared/sandbox';

describe('sandbox rate limits', () => {
  it('lets `perSecond` messages into any one-second window', () => {
    const window = new ThroughputWindow(2);
    assert.equal(window.take(1000), true);
    assert.equal(window.take(1500), true);
    assert.equal(window.take(1999), false);
    assert.equal(window.take(2000), true, 'the message at 1000 left the window');
    assert.equal(window.take(2100), false);
    assert.equal(window.take(2500), true);
  });

  it('allows a burst of 45 per pair, then one message per 6 seconds, refilling up to the burst', () => {
    const bucket = new PairRateBucket();
    for (let i = 0; i < PAIR_BURST; i++) assert.equal(bucket.take(0), true);
    assert.equal(bucket.take(0), false);
    assert.equal(bucket.take(PAIR_REFILL_MS - 1), false);
    assert.equal(bucket.take(PAIR_REFILL_MS), true);
    assert.equal(bucket.take(PAIR_REFILL_MS + 1), false);
    assert.equal(bucket.take(3 * PAIR_REFILL_MS), true);
    assert.equal(bucket.take(3 * PAIR_REFILL_MS), true, 'two intervals passed: two tokens');
    assert.equal(bucket.take(3 * PAIR_REFILL_MS), false);
    const rested = 1000 * PAIR_REFILL_MS;
    for (let i = 0; i < PAIR_BURST; i++) assert.equal(bucket.take(rested), true);
    assert.equal(bucket.take(rested), false, 'a long pause never refills beyond the burst');
  });
});

describe('sandbox message rendering', () => {
  /** What the chat shows of an interactive message the business sent. */
  const shown = (interactive: Record<string, unknown>) => renderOutgoing({ type: 'interactive', interactive }, []);

  it('renders reply buttons, header and footer', () => {
    const rendered = shown({
      type: 'button',
      header: { type: 'text', text: 'Einwilligung' },
      body: { text: 'Dürfen wir Ihnen schreiben?' },
      footer: { text: 'STOP zum Abmelden' },
      action: { buttons: [{ type: 'reply', reply: { id: 'yes', title: 'Ja' } }] },
    });
    assert.equal(rendered.text, 'Dürfen wir Ihnen schreiben?');
    assert.equal(rendered.header, 'Einwilligung');
    assert.equal(rendered.footer, 'STOP zum Abmelden');
    assert.deepEqual(rendered.buttons, [{ kind: 'reply', id: 'yes', title: 'Ja' }]);
  });

  it('renders a media carousel: cards in card_index order, their buttons in one row', () => {
    const card = (i: number, body?: string) => ({
      card_index: i,
      header: { type: i === 0 ? 'image' : 'video', [i === 0 ? 'image' : 'video']: { id: String(i) } },
      ...(body ? { body: { text: body } } : {}),
      action: { buttons: [{ type: 'quick_reply', quick_reply: { id: `pick-${i}`, title: `Nimm ${i}` } }] },
    });
    const rendered = shown({
      type: 'carousel',
      body: { text: 'Neu im Laden' },
      action: { cards: [card(1), card(0, 'Aloe')] },
    });
    assert.equal(rendered.text, 'Neu im Laden\n1. [image] Aloe\n2. [video]');
    assert.deepEqual(rendered.buttons, [
      { kind: 'reply', id: 'pick-0', title: 'Nimm 0' },
      { kind: 'reply', id: 'pick-1', title: 'Nimm 1' },
    ]);
    const links = shown({
      type: 'carousel',
      body: { text: 'Angebote' },
      action: {
        cards: [0, 1].map((i) => ({
          card_index: i,
          header: { type: 'image', image: { id: String(i) } },
          action: { name: 'cta_url', parameters: { display_text: `Shop ${i}`, url: `https://shop.example/${i}` } },
        })),
      },
    });
    assert.deepEqual(links.buttons, [
      { kind: 'url', id: '0', title: 'Shop 0', url: 'https://shop.example/0' },
      { kind: 'url', id: '1', title: 'Shop 1', url: 'https://shop.example/1' },
    ]);
    const call = shown({
      type: 'call_permission_request',
      body: { text: 'Dürfen wir anrufen?' },
      action: { name: 'call_permission_request' },
    });
    assert.equal(call.text, 'Dürfen wir anrufen?');
    assert.equal(call.header, '[call permission request]');
  });

  it('renders list messages with sections and rows', () => {
    const rendered = shown({
      type: 'list',
      body: { text: 'Worüber möchten Sie informiert werden?' },
      action: {
        button: 'Themen',
        sections: [{ title: 'Angebote', rows: [{ id: 'deals', title: 'Rabatte', description: 'Wöchentlich' }] }],
      },
    });
    assert.deepEqual(rendered.list, {
      button: 'Themen',
      sections: [{ title: 'Angebote', rows: [{ id: 'deals', title: 'Rabatte', description: 'Wöchentlich' }] }],
    });
  });

  it('renders a template without a definition readably: name, language, numbered parameters, payload buttons', () => {
    const rendered = renderOutgoing(
      {
        type: 'template',
        template: {
          name: 'order_update',
          language: { code: 'de' },
          components: [
            { type: 'header', parameters: [{ type: 'image', image: { link: 'https://example.com/a.png' } }] },
            {
              type: 'body',
              parameters: [
                { type: 'text', text: 'Erika' },
                { type: 'currency', currency: { fallback_value: '12,00 €', code: 'EUR', amount_1000: 12000 } },
              ],
            },
            { type: 'button', sub_type: 'quick_reply', index: 0, parameters: [{ type: 'payload', payload: 'OK' }] },
          ],
        },
      },
      [],
    );
    assert.equal(rendered.text, 'order_update (de)\n{{1}} = Erika\n{{2}} = 12,00 €');
    assert.deepEqual(rendered.template?.params, [
      { component: 'header', values: ['[image: https://example.com/a.png]'] },
      { component: 'body', values: ['Erika', '12,00 €'] },
      { component: 'button 0', values: ['OK'] },
    ]);
    assert.deepEqual(rendered.buttons, [{ kind: 'quick_reply', id: 'OK', title: 'OK' }]);
  });

  it("shows the examples' consent request as a customer sees it: the text, and the JA button carrying the payload", () => {
    const rendered = renderOutgoing(
      {
        type: 'template',
        template: {
          name: 'consent_request',
          language: { code: 'de' },
          components: [
            { type: 'body', parameters: [{ type: 'text', text: 'Newsletter' }] },
            {
              type: 'button',
              sub_type: 'quick_reply',
              index: 0,
              parameters: [{ type: 'payload', payload: 'gdpr-confirm:newsletter' }],
            },
          ],
        },
      },
      SANDBOX_TEMPLATES,
    );
    assert.equal(
      rendered.text,
      'Bitte bestätigen Sie Ihre Anmeldung per WhatsApp: Newsletter. Sie können sich jederzeit mit STOP abmelden.',
    );
    assert.deepEqual(rendered.buttons, [{ kind: 'quick_reply', id: 'gdpr-confirm:newsletter', title: 'JA' }]);
  });

  it('renders media as a labelled placeholder and keeps the caption', () => {
    const image = renderOutgoing(
      { type: 'image', image: { link: 'https://example.com/x.jpg', caption: 'Ihr Beleg' } },
      [],
    );
    assert.deepEqual(image.media, {
      kind: 'image',
      caption: 'Ihr Beleg',
      reference: 'https://example.com/x.jpg',
      filename: undefined,
    });
    assert.equal(image.text, 'Ihr Beleg');
    const doc = renderOutgoing({ type: 'document', document: { id: '123', filename: 'datenauskunft.json' } }, []);
    assert.equal(doc.text, '[document]');
    assert.equal(doc.media?.filename, 'datenauskunft.json');
  });

  it('checks customer messages from the chat page strictly', () => {
    assert.deepEqual(parseCustomerMessage({ text: 'Hi', extra: 1 }), { text: 'Hi' });
    assert.equal(parseCustomerMessage({ text: '' }), undefined);
    assert.equal(parseCustomerMessage({ text: 'x'.repeat(4097) }), undefined);
    assert.equal(parseCustomerMessage({ buttonReply: { id: 'a' } }), undefined);
    assert.equal(parseCustomerMessage(null), undefined);
    assert.deepEqual(customerMessageObject({ quickReply: { payload: 'P', text: 'T' } }).webhookMessage, {
      type: 'button',
      button: { payload: 'P', text: 'T' },
    });
  });
});
