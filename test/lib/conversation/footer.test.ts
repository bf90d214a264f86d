import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  appendOptOutFooter,
  INTERACTIVE_FOOTER_MAX,
  mentionsOptOut,
  OPT_OUT_FOOTER_TEXTS,
  TEXT_BODY_MAX,
} from '../../../lib/conversation/footer';

function buttonMessage(extra: Record<string, unknown> = {}) {
  return {
    type: 'interactive',
    interactive: {
      type: 'button',
      body: { text: 'Your order has shipped. Track it?' },
      action: { buttons: [{ type: 'reply', reply: { id: 'track', title: 'Track' } }] },
      ...extra,
    },
  };
}

describe('conversation/footer', () => {
  it('appends the English or German opt-out line to a plain text payload', () => {
    assert.equal(
      appendOptOutFooter('Your order has shipped.', 'en'),
      'Your order has shipped.\n\nReply STOP to unsubscribe.',
    );
    assert.equal(
      appendOptOutFooter('Ihre Bestellung ist unterwegs.', 'de'),
      'Ihre Bestellung ist unterwegs.\n\nAntworten Sie mit STOP, um sich abzumelden.',
    );
  });

  it('appends to the body of a text message object without touching the input', () => {
    const body = {
      messaging_product: 'whatsapp',
      to: '+4915123456789',
      type: 'text',
      text: { body: 'Hello', preview_url: false },
    };
    const copy = structuredClone(body);
    const result = appendOptOutFooter(body, 'en');
    assert.deepEqual(body, copy);
    assert.deepEqual(result, { ...body, text: { body: 'Hello\n\nReply STOP to unsubscribe.', preview_url: false } });
  });

  it('infers a text message from a payload that omits type', () => {
    assert.deepEqual(appendOptOutFooter({ text: { body: 'Hi' } }, 'de'), {
      text: { body: 'Hi\n\nAntworten Sie mit STOP, um sich abzumelden.' },
    });
  });

  it('leaves a text that already says how to stop unchanged', () => {
    for (const text of [
      'Offer inside. Reply STOP to unsubscribe.',
      'Angebot! Mit ABMELDEN beenden Sie den Newsletter.',
      `Hi\n\n${OPT_OUT_FOOTER_TEXTS.de}`,
    ]) {
      assert.equal(appendOptOutFooter(text, 'en'), text);
    }
  });

  it('still appends when "stop" only occurs in ordinary prose', () => {
    assert.equal(mentionsOptOut('Our non-stop delivery service'), false);
    assert.equal(mentionsOptOut('Bus STOPS here'), false);
    assert.equal(
      appendOptOutFooter('Our non-stop service', 'en'),
      'Our non-stop service\n\nReply STOP to unsubscribe.',
    );
  });

  it('does not append when the 4096-character limit would be exceeded', () => {
    const nearlyFull = 'x'.repeat(TEXT_BODY_MAX - 10);
    assert.equal(appendOptOutFooter(nearlyFull, 'en'), nearlyFull);
    const fits = 'x'.repeat(TEXT_BODY_MAX - OPT_OUT_FOOTER_TEXTS.en.length - 2);
    assert.equal(appendOptOutFooter(fits, 'en').length, TEXT_BODY_MAX);
  });

  it('sets the footer of an interactive message that has none', () => {
    const result = appendOptOutFooter(buttonMessage(), 'de') as ReturnType<typeof buttonMessage> & {
      interactive: { footer?: { text: string } };
    };
    assert.deepEqual(result.interactive.footer, { text: OPT_OUT_FOOTER_TEXTS.de });
    assert.ok(OPT_OUT_FOOTER_TEXTS.de.length <= INTERACTIVE_FOOTER_MAX);
    assert.ok(OPT_OUT_FOOTER_TEXTS.en.length <= INTERACTIVE_FOOTER_MAX);
  });

  it('keeps an existing interactive footer and a body that already names STOP', () => {
    const withFooter = buttonMessage({ footer: { text: 'Shop Example' } });
    assert.equal(appendOptOutFooter(withFooter, 'en'), withFooter);
    const confirm = buttonMessage({ body: { text: 'Tap YES to confirm. Reply STOP to stop at any time.' } });
    assert.equal(appendOptOutFooter(confirm, 'en'), confirm);
  });

  it('does not set a footer longer than 60 characters or on types without footers', () => {
    const long = 'y'.repeat(INTERACTIVE_FOOTER_MAX + 1);
    const body = buttonMessage();
    assert.equal(appendOptOutFooter(body, 'en', { en: long }), body);
    const location = {
      type: 'interactive',
      interactive: { type: 'location_request_message', body: { text: 'Where?' } },
    };
    assert.equal(appendOptOutFooter(location, 'en'), location);
  });

  it('leaves templates, media and reactions untouched', () => {
    const template = { type: 'template', template: { name: 'order_update', language: { code: 'de' } } };
    const image = { type: 'image', image: { link: 'https://example.com/a.png', caption: 'Look' } };
    const reaction = { type: 'reaction', reaction: { message_id: 'wamid.1', emoji: '👍' } };
    for (const body of [template, image, reaction]) assert.equal(appendOptOutFooter(body, 'en'), body);
  });

  it('uses configured lines per language', () => {
    assert.equal(appendOptOutFooter('Hi', 'en', { en: 'Text STOP to opt out.' }), 'Hi\n\nText STOP to opt out.');
  });

  it('never exceeds the text limit and always ends up saying how to stop when there is room (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 4200 }), fc.constantFrom('en' as const, 'de' as const), (text, language) => {
        const result = appendOptOutFooter(text, language);
        if (text.length <= TEXT_BODY_MAX) assert.ok(result.length <= TEXT_BODY_MAX);
        assert.ok(result.startsWith(text));
        if (text.length + OPT_OUT_FOOTER_TEXTS[language].length + 2 <= TEXT_BODY_MAX) {
          assert.ok(mentionsOptOut(result));
        }
        // Idempotent: a second pass adds nothing.
        assert.equal(appendOptOutFooter(result, language), result);
      }),
    );
  });
});
