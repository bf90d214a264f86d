import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  appendOptOutFooter,
  CAPTION_MAX,
  INTERACTIVE_BODY_MAX,
  INTERACTIVE_FOOTER_MAX,
  mentionsOptOut,
  nothingLeftToStop,
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
    // Opt-out keywords that do not say how to unsubscribe in an ordinary message.
    assert.equal(mentionsOptOut('Reply CANCEL to cancel your order.'), false);
    assert.equal(mentionsOptOut('Nur bis ENDE Juni!'), false);
    assert.equal(
      appendOptOutFooter('Our non-stop service', 'en'),
      'Our non-stop service\n\nReply STOP to unsubscribe.',
    );
  });

  it('a capitalised keyword that does not tell the reader what to reply is no opt-out instruction', () => {
    for (const text of [
      'NON-STOP DEALS this weekend!',
      'STOP paying too much – 50 % off',
      'Bus STOP Hauptbahnhof',
      'Reply to our NON-STOP offer today.',
      'Jetzt ABMELDEN war gestern: neue Kurse ab Montag',
      // All capitals: the reply word is shouting, not instructing.
      'SHOP WITH US AND STOP PAYING TOO MUCH!',
      'WRITE US OR STOP BY OUR STORE',
      'Send your friends our NON STOP deals',
      'Jetzt mit NON STOP Lieferservice bestellen',
      'Shop with us and STOP paying too much',
      // A colon or a line break ends what an instruction may span; "not" or "NON" before the keyword denies it.
      'We received your message: STOP by our store for the rest.',
      'Our message: STOP overpaying for phones.',
      'Thanks for your message\nSTOP PRESS: new prices',
      'Wir beraten Sie NON STOP: schreiben Sie uns',
      'NON STOP senden wir Ihre Pakete',
      'Bitte nicht STOP schreiben, sondern anrufen',
    ]) {
      assert.equal(mentionsOptOut(text), false, text);
      assert.equal(appendOptOutFooter(text, 'en'), `${text}\n\n${OPT_OUT_FOOTER_TEXTS.en}`);
    }
  });

  it('a keyword after a reply verb or "with"/"mit" is an opt-out instruction', () => {
    for (const text of [
      "Reply 'STOP' to stop these messages.",
      'Text UNSUBSCRIBE to opt out.',
      'Respond with STOPP any time.',
      'Antworte einfach mit STOPP, dann hörst du nichts mehr von uns.',
      'Schreiben Sie uns ABBESTELLEN.',
      // German puts the verb last; "message" and "Opt out:" say it too.
      'Zum Abmelden STOP senden.',
      'Um sich abzumelden, einfach STOPP schicken.',
      'Abmelden? Schick uns STOP.',
      'To opt out, message STOP.',
      'Opt out: STOP',
      'Mit ABMELDEN beenden Sie den Newsletter.',
      'Schreiben Sie uns jederzeit STOP.',
      'Antworten Sie jederzeit STOP.',
      'Reply anytime STOP to opt out.',
      'Text back STOP to leave.',
      'Reply with the keyword STOP.',
      'Mit einer Nachricht „STOP“ melden Sie sich ab.',
    ]) {
      assert.equal(mentionsOptOut(text), true, text);
    }
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

  it("keeps the business's own footer and puts the line at the end of the body instead", () => {
    const withFooter = buttonMessage({ footer: { text: 'Shop Example' } });
    const result = appendOptOutFooter(withFooter, 'en') as typeof withFooter & {
      interactive: { footer: { text: string } };
    };
    assert.deepEqual(result.interactive.footer, { text: 'Shop Example' });
    assert.equal(result.interactive.body.text, `Your order has shipped. Track it?\n\n${OPT_OUT_FOOTER_TEXTS.en}`);
    assert.equal(withFooter.interactive.body.text, 'Your order has shipped. Track it?', 'the input is not changed');
    const stopFooter = buttonMessage({ footer: { text: 'Reply STOP to unsubscribe.' } });
    assert.equal(appendOptOutFooter(stopFooter, 'en'), stopFooter);
    const confirm = buttonMessage({ body: { text: 'Tap YES to confirm. Reply STOP at any time to unsubscribe.' } });
    assert.equal(appendOptOutFooter(confirm, 'en'), confirm);
  });

  it('a line too long for a footer goes into the body, where it fits; without room the message stays as it is', () => {
    const long = 'Reply STOP to this number to stop hearing from us, whenever you like.';
    assert.ok(long.length > INTERACTIVE_FOOTER_MAX);
    const result = appendOptOutFooter(buttonMessage(), 'en', { en: long }) as ReturnType<typeof buttonMessage> & {
      interactive: { footer?: unknown };
    };
    assert.equal(result.interactive.footer, undefined);
    assert.ok(result.interactive.body.text.endsWith(long));
    const full = buttonMessage({ footer: { text: 'Shop' }, body: { text: 'x'.repeat(INTERACTIVE_BODY_MAX - 5) } });
    assert.equal(appendOptOutFooter(full, 'en'), full, 'no room: unchanged rather than refused by Meta');
  });

  it('sets the footer of a catalog message, which has an optional one', () => {
    const catalog = {
      type: 'interactive',
      interactive: {
        type: 'catalog_message',
        body: { text: 'Our spring collection' },
        action: { name: 'catalog_message' },
      },
    };
    const result = appendOptOutFooter(catalog, 'de') as typeof catalog & { interactive: { footer?: unknown } };
    assert.deepEqual(result.interactive.footer, { text: OPT_OUT_FOOTER_TEXTS.de });
  });

  it('appends the line to the body of a location request, a media carousel and a call permission request (no footer)', () => {
    const card = (i: number) => ({
      card_index: i,
      header: { type: 'image', image: { id: String(i) } },
      action: { name: 'cta_url', parameters: { display_text: 'Shop', url: `https://shop.example/${i}` } },
    });
    const bodyOnly: [string, Record<string, unknown>][] = [
      ['location_request_message', { name: 'send_location' }],
      ['carousel', { cards: [card(0), card(1)] }],
      ['call_permission_request', { name: 'call_permission_request' }],
    ];
    for (const [type, action] of bodyOnly) {
      const message = { type: 'interactive', interactive: { type, body: { text: 'Hello' }, action } };
      const result = appendOptOutFooter(message, 'de') as typeof message & { interactive: { footer?: unknown } };
      assert.equal(result.interactive.body.text, `Hello\n\n${OPT_OUT_FOOTER_TEXTS.de}`, type);
      assert.equal(result.interactive.footer, undefined, `Meta takes no footer on ${type}`);
      assert.deepEqual(result.interactive.action, action, 'the rest is left alone');
      assert.equal(message.interactive.body.text, 'Hello', 'the input is left as it was');
    }
  });

  it('leaves an empty or blank text or interactive body alone: the line alone would go out as the message', () => {
    for (const blank of ['', '   ', '\n\t ']) {
      assert.equal(appendOptOutFooter(blank, 'en'), blank);
      const text = { type: 'text', text: { body: blank } };
      assert.equal(appendOptOutFooter(text, 'de'), text);
      for (const type of ['location_request_message', 'call_permission_request']) {
        const bodyOnly = { type: 'interactive', interactive: { type, body: { text: blank }, action: { name: type } } };
        assert.equal(appendOptOutFooter(bodyOnly, 'en'), bodyOnly, type);
      }
      // A footer taken by the business: the line would have gone into the blank body.
      const footerTaken = buttonMessage({ body: { text: blank }, footer: { text: 'Lucky Shrub' } });
      assert.equal(appendOptOutFooter(footerTaken, 'en'), footerTaken);
    }
  });

  it('adds the line to the caption of an image, video or document, or makes it the caption', () => {
    const image = { type: 'image', image: { link: 'https://example.com/a.png', caption: 'Look' } };
    assert.deepEqual(appendOptOutFooter(image, 'de'), {
      type: 'image',
      image: { link: 'https://example.com/a.png', caption: `Look\n\n${OPT_OUT_FOOTER_TEXTS.de}` },
    });
    assert.equal(image.image.caption, 'Look', 'the input is not changed');
    const video = { type: 'video', video: { id: '1234' } };
    assert.deepEqual(appendOptOutFooter(video, 'en'), {
      type: 'video',
      video: { id: '1234', caption: OPT_OUT_FOOTER_TEXTS.en },
    });
    const document = { document: { id: '1', caption: 'y'.repeat(CAPTION_MAX - 3) } };
    assert.equal(appendOptOutFooter(document, 'en'), document, 'no room: unchanged');
  });

  it('leaves templates, audio, stickers and reactions untouched', () => {
    const template = { type: 'template', template: { name: 'order_update', language: { code: 'de' } } };
    const audio = { type: 'audio', audio: { id: '1' } };
    const sticker = { type: 'sticker', sticker: { id: '2' } };
    const reaction = { type: 'reaction', reaction: { message_id: 'wamid.1', emoji: '👍' } };
    for (const body of [template, audio, sticker, reaction]) assert.equal(appendOptOutFooter(body, 'en'), body);
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
        if (text.trim() === '') assert.equal(result, text, 'a blank text is no message: it gets no line');
        else if (text.length + OPT_OUT_FOOTER_TEXTS[language].length + 2 <= TEXT_BODY_MAX) {
          assert.ok(mentionsOptOut(result));
        }
        // Idempotent: a second pass adds nothing.
        assert.equal(appendOptOutFooter(result, language), result);
      }),
    );
  });

  it('knows when a STOP would end nothing: she opted out and nothing runs for her', () => {
    const withdrawn = { allowed: false, status: 'withdrawn' } as const;
    const objected = { allowed: false, status: 'refused' } as const;
    const never = { allowed: false, status: 'none' } as const;
    const orderUpdates = { allowed: true, status: 'none' } as const;
    assert.equal(nothingLeftToStop([withdrawn, objected]), true, 'after a STOP');
    assert.equal(nothingLeftToStop([withdrawn, never]), true, 'opted out of one, never signed up for the other');
    assert.equal(nothingLeftToStop([{ allowed: false, status: 'erased' }]), true, 'erased');
    assert.equal(nothingLeftToStop([never, never]), false, 'never signed up: she still reads how to stop');
    assert.equal(nothingLeftToStop([withdrawn, orderUpdates]), false, 'order updates still run');
    assert.equal(nothingLeftToStop([]), false);
  });
});
