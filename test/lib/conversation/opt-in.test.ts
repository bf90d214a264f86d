import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ConsentRecord } from '../../../lib/consent/types';
import {
  DEFAULT_CONFIRM_KEYWORDS,
  DEFAULT_REFUSE_KEYWORDS,
  DEFAULT_START_KEYWORDS,
} from '../../../lib/conversation/keywords';
import {
  answeredPurposes,
  buildConfirmationMessage,
  CONFIRM_BUTTON_PREFIX,
  confirmButtonId,
  type FormValidationOptions,
  mayResubscribeAfterErasure,
  optInText,
  purposeWording,
  recogniseReply,
  refusedRequest,
  validateFormRequest,
} from '../../../lib/conversation/opt-in';
import type { PurposeDefinition } from '../../../lib/conversation/purposes';
import { GdprWhatsAppError } from '../../../lib/errors';

const news: PurposeDefinition = {
  id: 'news',
  label: 'Newsletter',
  wording: { en: 'Send me the newsletter on WhatsApp.', de: 'Schickt mir den Newsletter per WhatsApp.' },
  lawfulBasis: 'consent',
  marketing: true,
};
const orders: PurposeDefinition = {
  ...news,
  id: 'orders',
  label: 'Order updates',
  lawfulBasis: 'contract',
  marketing: false,
};
const options: FormValidationOptions = { purposes: [news, orders], purpose: 'news', language: 'auto' };
const form = {
  phone: '+49 151 23456789',
  consent: 'on',
  wording: 'Send me the newsletter on WhatsApp.',
  source: 'https://shop.example/signup',
};
const keywords = { confirm: DEFAULT_CONFIRM_KEYWORDS, start: DEFAULT_START_KEYWORDS };

function reasonOf(payload: unknown, opts = options): string | undefined {
  const result = validateFormRequest(payload, opts);
  return result.ok ? undefined : result.reason;
}

describe('conversation/opt-in', () => {
  describe('validateFormRequest', () => {
    it('accepts an explicitly ticked request and normalises it', () => {
      const result = validateFormRequest({ ...form, submittedAt: '2025-01-10T12:00:00Z' }, options);
      assert.ok(result.ok);
      assert.equal(result.request.phone, '+4915123456789');
      assert.equal(result.request.purpose.id, 'news');
      assert.equal(result.request.wording, form.wording);
      assert.equal(result.request.source, form.source);
      assert.equal(result.request.language, 'en', 'the language of the wording shown, whatever the number');
      assert.equal(result.request.submittedAt, Date.UTC(2025, 0, 10, 12));
      const english = validateFormRequest({ ...form, consent: true, language: 'en' }, options);
      assert.ok(english.ok && english.request.language === 'en');
    });

    it('rejects a box that the person did not tick, whatever a default looks like', () => {
      for (const consent of [undefined, false, 'off', '', 'yes', 1, '1', 'ON ', null]) {
        assert.equal(reasonOf({ ...form, consent }), 'consent-not-ticked', `consent=${String(consent)}`);
      }
    });

    it('rejects a form that says the box was pre-ticked', () => {
      for (const prechecked of [true, 'on', 'true', 1, 'yes']) {
        assert.equal(reasonOf({ ...form, prechecked }), 'prechecked', `prechecked=${String(prechecked)}`);
      }
      for (const prechecked of [false, 'false', 'off', 0, ''])
        assert.equal(reasonOf({ ...form, prechecked }), undefined);
    });

    it('rejects missing or empty wording, purposes it does not know and invalid numbers', () => {
      assert.equal(reasonOf({ ...form, wording: '   ' }), 'missing-wording');
      assert.equal(reasonOf({ ...form, wording: undefined }), 'missing-wording');
      assert.equal(reasonOf({ ...form, wording: 'x'.repeat(4001) }), 'missing-wording');
      assert.equal(reasonOf(form, { ...options, purpose: 'gone' }), 'unknown-purpose');
      assert.equal(reasonOf(form, { ...options, purpose: '' }), 'missing-purpose');
      assert.equal(reasonOf({ ...form, phone: '0151 2345' }), 'invalid-phone');
      assert.equal(reasonOf({ ...form, phone: undefined }), 'invalid-phone');
      assert.equal(reasonOf('phone=+4915123456789'), 'invalid-request');
      assert.equal(reasonOf([form]), 'invalid-request');
    });

    it("takes only one of the purpose's wordings, and stores the purpose's own text", () => {
      const wordingOf = (wording: string, opts = options) => {
        const result = validateFormRequest({ ...form, wording }, opts);
        return result.ok ? result.request.wording : result.reason;
      };
      // Anyone can post to a public form; the confirmation quotes the wording to the number typed in.
      assert.equal(wordingOf('Click https://phish.example to win!'), 'unknown-wording');
      assert.equal(wordingOf('Send me the newsletter on WhatsApp. And offers.'), 'unknown-wording');
      assert.equal(wordingOf('Send me the newsletter on WhatsApp'), 'unknown-wording', 'one character is a change');
      // The same text as a browser may send it: other line breaks and spaces, or decomposed umlauts.
      assert.equal(wordingOf('  Send me the\n newsletter   on WhatsApp.\t'), 'Send me the newsletter on WhatsApp.');
      assert.equal(wordingOf('Schickt mir den Newsletter per WhatsApp.'), 'Schickt mir den Newsletter per WhatsApp.');
      const umlaut: PurposeDefinition = { ...news, wording: { de: 'Ja, ich möchte Angebote erhalten.' } };
      assert.equal(
        wordingOf('Ja, ich mo\u0308chte Angebote erhalten.', { ...options, purposes: [umlaut] }),
        'Ja, ich möchte Angebote erhalten.',
      );
      // Another purpose's wording is not this purpose's.
      const other: PurposeDefinition = { ...orders, wording: { en: 'Order updates on WhatsApp.' } };
      assert.equal(wordingOf('Order updates on WhatsApp.', { ...options, purposes: [news, other] }), 'unknown-wording');
      // A node saved before the check: any wording, kept as sent.
      assert.equal(wordingOf('  Our own text.', { ...options, acceptAnyWording: true }), 'Our own text.');
    });

    it('asks in the language of the wording shown; only a wording that does not tell leaves it to form and number', () => {
      const languageOf = (payload: Record<string, unknown>, opts = options) => {
        const result = validateFormRequest({ ...form, ...payload }, opts);
        return result.ok ? result.request.language : result.reason;
      };
      const german = news.wording.de;
      assert.equal(languageOf({}), 'en', 'English wording, German number');
      assert.equal(languageOf({ wording: german, phone: '+44 7911 123456' }), 'de', 'German wording, British number');
      assert.equal(languageOf({ wording: german, language: 'en' }), 'de', "the wording shown, not the form's field");
      assert.equal(languageOf({ language: 'de' }, { ...options, language: 'de' }), 'en', 'nor the node setting');
      // The same text in both languages, or only in another language: the form, the node, the number decide.
      const same: PurposeDefinition = { ...news, wording: { en: 'WhatsApp: OK!', de: 'WhatsApp: OK!' } };
      const french: PurposeDefinition = {
        ...news,
        wording: { fr: 'Envoyez-moi la lettre.', 'de-AT': 'Schickt ihn mir.' },
      };
      assert.equal(languageOf({ wording: 'WhatsApp: OK!', language: 'en' }, { ...options, purposes: [same] }), 'en');
      assert.equal(languageOf({ wording: 'WhatsApp: OK!' }, { ...options, purposes: [same] }), 'de');
      assert.equal(languageOf({ wording: 'Envoyez-moi la lettre.' }, { ...options, purposes: [french] }), 'de');
      assert.equal(
        languageOf({ wording: 'Schickt ihn mir.', phone: '+44 7911 123456' }, { ...options, purposes: [french] }),
        'de',
        'an Austrian German wording is German',
      );
      // A node that takes any wording cannot tell which one it is.
      assert.equal(
        languageOf({ wording: 'Our own text.', language: 'de' }, { ...options, acceptAnyWording: true }),
        'de',
      );
    });

    it('reads a number without country code with the default country, and only then', () => {
      const phoneOf = (phone: string, defaultCountry?: string) => {
        const result = validateFormRequest({ ...form, phone }, { ...options, defaultCountry });
        return result.ok ? result.request.phone : result.reason;
      };
      assert.equal(phoneOf('0151 23456789', 'DE'), '+4915123456789');
      assert.equal(phoneOf('0664 1234567', 'AT'), '+436641234567');
      assert.equal(phoneOf('+43 664 1234567', 'DE'), '+436641234567', 'a country code beats the default');
      assert.equal(phoneOf('0049 151 23456789', 'AT'), '+4915123456789');
      assert.equal(phoneOf('0151 23456789'), 'invalid-phone');
      assert.equal(phoneOf('0151 2345', 'DE'), 'invalid-phone', 'too short for a German mobile number');
      // Digits that are a German fixed line and, with a plus, another country's number: asked for + or 00.
      for (const typed of ['49 151 23456789', '4915123456789', '44 7911 123456', '33612345678']) {
        assert.equal(phoneOf(typed, 'DE'), 'ambiguous-phone', typed);
        assert.equal(
          phoneOf(typed.replace(/\s/g, '')),
          `+${typed.replace(/\s/g, '')}`,
          `${typed} without a default country`,
        );
      }
    });

    it('lets the request choose the purpose only when the node allows it', () => {
      const chosen = validateFormRequest({ ...form, purpose: 'orders' }, { ...options, allowMsgPurpose: true });
      assert.ok(chosen.ok && chosen.request.purpose.id === 'orders');
      const ignored = validateFormRequest({ ...form, purpose: 'orders' }, options);
      assert.ok(ignored.ok && ignored.request.purpose.id === 'news');
      assert.equal(reasonOf({ ...form, purpose: 'gone' }, { ...options, allowMsgPurpose: true }), 'unknown-purpose');
    });

    it('answers every input with a decision and never throws', () => {
      fc.assert(
        fc.property(
          fc.record(
            {
              phone: fc.oneof(fc.string(), fc.constant('+4915123456789')),
              consent: fc.jsonValue(),
              wording: fc.jsonValue(),
              prechecked: fc.jsonValue(),
              purpose: fc.jsonValue(),
              language: fc.jsonValue(),
              submittedAt: fc.jsonValue(),
            },
            { requiredKeys: [] },
          ),
          (payload) => {
            const result = validateFormRequest(payload, { ...options, allowMsgPurpose: true });
            return result.ok ? result.request.phone.startsWith('+') : typeof result.reason === 'string';
          },
        ),
      );
    });
  });

  it('lets a suppressed subject sign up again only with a request made now', () => {
    const now = Date.UTC(2025, 0, 10);
    const valid = validateFormRequest(form, options);
    assert.ok(valid.ok);
    const request = valid.request;
    assert.equal(mayResubscribeAfterErasure(request, now, 3_600_000), true);
    assert.equal(mayResubscribeAfterErasure({ ...request, submittedAt: now - 60_000 }, now, 3_600_000), true);
    assert.equal(mayResubscribeAfterErasure({ ...request, submittedAt: now - 3_600_001 }, now, 3_600_000), false);
    assert.equal(mayResubscribeAfterErasure({ ...request, submittedAt: now + 3_600_000 }, now, 3_600_000), false);
  });

  describe('recogniseReply', () => {
    it('ignores YES and START written in a group: they are not said to the business', () => {
      assert.equal(recogniseReply({ type: 'text', text: 'JA', groupId: 'Y2FwaV9ncm91cDox' }, keywords), undefined);
      assert.equal(recogniseReply({ type: 'text', text: 'START', groupId: 'Y2FwaV9ncm91cDox' }, keywords), undefined);
      assert.notEqual(recogniseReply({ type: 'text', text: 'JA' }, keywords), undefined);
    });

    it('takes a forwarded YES or START for nothing: it is not the person answering the request', () => {
      for (const context of [{ forwarded: true }, { frequentlyForwarded: true }, { id: 'wamid.X', forwarded: true }]) {
        assert.equal(
          recogniseReply({ type: 'text', text: 'JA', context }, keywords),
          undefined,
          JSON.stringify(context),
        );
        assert.equal(recogniseReply({ type: 'text', text: 'START', context }, keywords), undefined);
      }
      assert.equal(
        recogniseReply({ type: 'text', text: 'JA', context: { forwarded: false } }, keywords)?.kind,
        'confirm',
      );
    });

    it('recognises our confirm button with its purpose, as interactive reply and as template quick reply', () => {
      assert.deepEqual(
        recogniseReply(
          { type: 'interactive', interactive: { type: 'button_reply', id: confirmButtonId('news'), title: 'JA' } },
          keywords,
        ),
        { kind: 'confirm', via: 'button', match: 'gdpr-confirm:news', purpose: 'news', text: 'JA' },
      );
      assert.deepEqual(
        recogniseReply(
          { type: 'button', button: { payload: `${CONFIRM_BUTTON_PREFIX}orders`, text: 'Yes' } },
          keywords,
        ),
        {
          kind: 'confirm',
          via: 'button',
          match: 'gdpr-confirm:orders',
          purpose: 'orders',
          text: 'Yes',
        },
      );
      assert.deepEqual(recogniseReply({ type: 'button', button: { payload: 'Ja', text: 'Ja' } }, keywords), {
        kind: 'confirm',
        via: 'button',
        match: 'Ja',
        text: 'Ja',
      });
    });

    it('recognises typed confirm and start keywords in English and German, and nothing else', () => {
      assert.deepEqual(recogniseReply({ type: 'text', text: ' ja! ' }, keywords), {
        kind: 'confirm',
        via: 'keyword',
        match: 'JA',
        text: ' ja! ',
      });
      assert.equal(recogniseReply({ type: 'text', text: 'YES' }, keywords)?.kind, 'confirm');
      assert.deepEqual(recogniseReply({ type: 'text', text: 'Anmelden' }, keywords), {
        kind: 'start',
        keyword: 'ANMELDEN',
        text: 'Anmelden',
      });
      assert.equal(recogniseReply({ type: 'text', text: 'start' }, keywords)?.kind, 'start');
      assert.equal(recogniseReply({ type: 'text', text: 'yes please tell me more' }, keywords), undefined);
      assert.equal(
        recogniseReply(
          { type: 'interactive', interactive: { type: 'button_reply', id: 'other-button', title: 'YES' } },
          keywords,
        ),
        undefined,
      );
      assert.equal(recogniseReply({ type: 'button', button: { payload: 'MORE', text: 'More' } }, keywords), undefined);
    });

    it("takes a question or another template's button for no confirmation, and a polite yes for one", () => {
      assert.equal(recogniseReply({ type: 'text', text: 'Ja?' }, keywords), undefined);
      assert.equal(recogniseReply({ type: 'text', text: 'ok ? ' }, keywords), undefined);
      for (const text of ['Ja？', 'Ja?!', 'Ja? 🙂', 'Ja;', 'Ja\u037E', 'Ja؟', 'Ja‽'])
        assert.equal(recogniseReply({ type: 'text', text }, keywords), undefined, text);
      // A struck-out yes takes it back: WhatsApp's ~text~, or letters with a stroke through them.
      for (const text of ['~ja~', 'J\u0336A\u0336', 'J\u0338A'])
        assert.equal(recogniseReply({ type: 'text', text }, keywords), undefined, text);
      // A yes beside a sign that says no is no unambiguous yes; beside a friendly emoji it is one.
      for (const text of ['Ja ❌', 'JA 👎', 'ja 👎🏽', 'Yes ✖️', 'OK 🚫', 'Ja ⛔', 'JA 🙅‍♀️', 'Ja ✘', 'Start 🛑'])
        assert.equal(recogniseReply({ type: 'text', text }, keywords), undefined, text);
      for (const text of ['Ja ✅', 'JA 👍', 'Ja 🙂', 'Yes ✔️'])
        assert.equal(recogniseReply({ type: 'text', text }, keywords)?.kind, 'confirm', text);
      // A typed no to a request, when the node reads no-keywords; a question is none, a no-sign makes it no clearer.
      const withRefuse = { ...keywords, refuse: DEFAULT_REFUSE_KEYWORDS };
      // The proof keeps the keyword matched, never her words.
      const noes = { Nein: 'NEIN', 'nein danke': 'NEIN', 'No thanks': 'NO', N: 'N', 'Nein ❌': 'NEIN', 'NO 👎': 'NO' };
      for (const [text, match] of Object.entries(noes))
        assert.deepEqual(
          recogniseReply({ type: 'text', text }, withRefuse),
          { kind: 'refuse', via: 'keyword', match, text },
          text,
        );
      for (const text of ['Nein?', '~nein~', 'Nein, doch ja', 'Nein ja'])
        assert.equal(recogniseReply({ type: 'text', text }, withRefuse), undefined, text);
      assert.equal(recogniseReply({ type: 'text', text: 'Nein' }, keywords), undefined, 'not read without the list');
      assert.equal(recogniseReply({ type: 'text', text: 'Ja' }, withRefuse)?.kind, 'confirm');
      // A template's "Nein" quick reply (no payload of its own: the text comes back as payload) is a no as well; one
      // with a payload of its own belongs to another template.
      assert.deepEqual(recogniseReply({ type: 'button', button: { payload: 'Nein', text: 'Nein' } }, withRefuse), {
        kind: 'refuse',
        via: 'button',
        match: 'Nein',
        text: 'Nein',
      });
      assert.equal(
        recogniseReply({ type: 'button', button: { payload: 'tracking-no', text: 'Nein' } }, withRefuse),
        undefined,
      );
      // Read with its accents: Portuguese "já" (already) is no JA, and "stárt" signs nobody up.
      assert.equal(recogniseReply({ type: 'text', text: 'já' }, keywords), undefined);
      assert.equal(recogniseReply({ type: 'text', text: 'stárt' }, keywords), undefined);
      assert.equal(recogniseReply({ type: 'text', text: 'bestaetigen' }, keywords)?.kind, 'confirm');
      assert.equal(recogniseReply({ type: 'text', text: 'Anmelden?' }, keywords), undefined);
      // A delivery notice's quick reply "OK" comes with that template's own payload.
      assert.equal(recogniseReply({ type: 'button', button: { payload: 'ack-1', text: 'OK' } }, keywords), undefined);
      assert.equal(recogniseReply({ type: 'text', text: 'Ja, bitte!' }, keywords)?.kind, 'confirm');
      assert.equal(recogniseReply({ type: 'text', text: 'Yes please' }, keywords)?.kind, 'confirm');
      assert.equal(recogniseReply({ type: 'text', text: 'Ja gerne' }, keywords)?.kind, 'confirm');
      // "Ok danke" acknowledges an order update as often as a request: no consent by default.
      assert.equal(recogniseReply({ type: 'text', text: 'Ok danke' }, keywords), undefined);
      assert.equal(recogniseReply({ type: 'text', text: 'OK' }, keywords), undefined);
      assert.equal(recogniseReply({ type: 'image' }, keywords), undefined);
    });
  });

  describe('answeredPurposes', () => {
    const request = (purpose: string, status: string, requestedAt: number, expiresAt?: number) =>
      ({ purpose, status, requestedAt, expiresAt }) as ConsentRecord;
    it('names the pending request sent last, as the ledger picks it for a bare YES', () => {
      const records = [request('news', 'pending', 100, 10_000), undefined, request('offers', 'pending', 200, 10_000)];
      assert.deepEqual(answeredPurposes(records, 1_000), ['offers']);
    });
    it('leaves out requests that expired, whether marked or not, and those no longer pending', () => {
      const records = [
        request('news', 'pending', 100, 10_000),
        request('offers', 'pending', 200, 500),
        request('orders', 'given', 300),
        request('tips', 'expired', 400, 10_000),
      ];
      assert.deepEqual(answeredPurposes(records, 1_000), ['news']);
      assert.deepEqual(answeredPurposes([request('offers', 'pending', 200, 500)], 1_000), []);
      assert.deepEqual(answeredPurposes([], 1_000), []);
    });
    it('names the request sent last before the reply, when it says when it was sent', () => {
      // A reply sent at 10 s, delivered after a request made at 70 s: it answers the one made at 0.
      const records = [request('news', 'pending', 0, 1e9), request('offers', 'pending', 70_000, 1e9)];
      assert.deepEqual(answeredPurposes(records, 80_000, 10_000), ['news']);
      // Within the margin for Meta's clock, the later one still counts as sent before.
      assert.deepEqual(answeredPurposes(records, 80_000, 50_000), ['offers']);
      // Sent before every request: the one sent last (the ledger then answers that the reply is stale).
      const later = [request('news', 'pending', 70_000, 1e9), request('offers', 'pending', 90_000, 1e9)];
      assert.deepEqual(answeredPurposes(later, 100_000, 0), ['offers']);
    });
    it('names both when two were sent in the same millisecond', () => {
      const records = [request('news', 'pending', 100, 10_000), request('offers', 'pending', 100, 10_000)];
      assert.deepEqual(answeredPurposes(records, 1_000), ['news', 'offers']);
    });
    it('names the request whose message a quoted reply quotes, whichever was sent last', () => {
      const sentAs = (record: ConsentRecord, requestMessageId: string) => ({ ...record, requestMessageId });
      const records = [
        sentAs(request('news', 'pending', 100, 10_000), 'wamid.news'),
        sentAs(request('offers', 'pending', 200, 10_000), 'wamid.offers'),
      ];
      assert.deepEqual(answeredPurposes(records, 1_000, undefined, 'wamid.news'), ['news']);
      // Expired: its own node answers that it expired.
      assert.deepEqual(answeredPurposes(records, 20_000, undefined, 'wamid.news'), ['news']);
      // Quoting another message: the request sent last, whose node then confirms nothing (the ledger refuses it).
      assert.deepEqual(answeredPurposes(records, 1_000, undefined, 'wamid.call-back'), ['offers']);
    });
    it('leaves out the requests sent from another business number than the reply came to', () => {
      const from = (record: ConsentRecord, requestPhoneNumberId?: string) => ({ ...record, requestPhoneNumberId });
      const records = [
        from(request('news', 'pending', 100, 10_000), '111'),
        from(request('offers', 'pending', 200, 10_000), '222'),
        from(request('tips', 'pending', 50, 10_000)),
      ];
      assert.deepEqual(answeredPurposes(records, 1_000, undefined, undefined, '111'), ['news']);
      assert.deepEqual(answeredPurposes(records, 1_000, undefined, undefined, '222'), ['offers']);
      // A number with no request of its own: only the request whose number is not on record may be answered there.
      assert.deepEqual(answeredPurposes(records, 1_000, undefined, undefined, '333'), ['tips']);
      // Neither side known: as before.
      assert.deepEqual(answeredPurposes(records, 1_000), ['offers']);
    });
  });

  describe('refusedRequest', () => {
    const request = (purpose: string, status: string, requestedAt: number, expiresAt?: number, id?: string) =>
      ({ purpose, status, requestedAt, expiresAt, requestMessageId: id }) as ConsentRecord;
    it('takes a typed no for the pending request sent last before it, or the one it quotes', () => {
      const records = [request('news', 'pending', 0, 1e9, 'wamid.news'), request('offers', 'pending', 70_000, 1e9)];
      assert.equal(refusedRequest(records, 80_000)?.purpose, 'offers');
      assert.equal(refusedRequest(records, 80_000, 10_000)?.purpose, 'news', 'written before the later request');
      assert.equal(refusedRequest(records, 80_000, undefined, 'wamid.news')?.purpose, 'news');
    });
    it('refuses nothing that is not pending, nor for a no quoting another message or written before the request', () => {
      assert.equal(refusedRequest([request('news', 'given', 0), undefined], 1_000), undefined);
      assert.equal(refusedRequest([request('news', 'pending', 0, 500)], 1_000), undefined, 'expired');
      const sent = [request('news', 'pending', 0, 1e9, 'wamid.news')];
      assert.equal(refusedRequest(sent, 1_000, undefined, 'wamid.call-back'), undefined);
      assert.equal(refusedRequest([request('news', 'pending', 100_000, 1e9)], 200_000, 0), undefined);
    });
    it('refuses nothing for a no that came to another business number than the request went from', () => {
      const sent = [{ ...request('news', 'pending', 0, 1e9, 'wamid.news'), requestPhoneNumberId: '111' }];
      assert.equal(refusedRequest(sent, 1_000, undefined, undefined, '222'), undefined);
      assert.equal(refusedRequest(sent, 1_000, undefined, 'wamid.news', '222'), undefined, 'not even quoting it');
      assert.equal(refusedRequest(sent, 1_000, undefined, undefined, '111')?.purpose, 'news');
      assert.equal(refusedRequest(sent, 1_000)?.purpose, 'news', 'the number it came to not known');
    });
  });

  describe('confirmation message', () => {
    it('builds an interactive confirm button in German and English', () => {
      const de = buildConfirmationMessage({
        language: 'de',
        purpose: news,
        wording: 'Newsletter bitte',
        mode: 'interactive',
      });
      assert.deepEqual(de, {
        type: 'interactive',
        interactive: {
          type: 'button',
          body: {
            text: 'Sie möchten von uns über WhatsApp Nachrichten erhalten: „Newsletter bitte“\nBitte bestätigen Sie: Tippen Sie auf JA. Antworten Sie jederzeit mit STOP, um sich abzumelden.',
          },
          action: { buttons: [{ type: 'reply', reply: { id: 'gdpr-confirm:news', title: 'JA' } }] },
        },
      });
      const en = buildConfirmationMessage({
        language: 'en',
        purpose: news,
        wording: 'News please',
        mode: 'interactive',
      }) as {
        interactive: { body: { text: string }; action: { buttons: { reply: { title: string } }[] } };
      };
      assert.equal(
        en.interactive.body.text,
        'You asked to hear from us on WhatsApp: "News please"\nPlease confirm: tap YES. Reply STOP at any time to unsubscribe.',
      );
      assert.equal(en.interactive.action.buttons[0].reply.title, 'YES');
    });

    it("uses the integrator's text and keeps the body within the 1024 characters Meta allows", () => {
      const custom = buildConfirmationMessage({
        language: 'en',
        purpose: news,
        wording: 'w',
        mode: 'interactive',
        texts: { en: 'Confirm {label}?' },
      }) as {
        interactive: { body: { text: string } };
      };
      assert.equal(custom.interactive.body.text, 'Confirm Newsletter?');
      const long = buildConfirmationMessage({
        language: 'en',
        purpose: news,
        wording: 'w'.repeat(3000),
        mode: 'interactive',
      }) as {
        interactive: { body: { text: string } };
      };
      assert.ok(long.interactive.body.text.length <= 1024);
      assert.ok(long.interactive.body.text.endsWith('Reply STOP at any time to unsubscribe.'));
    });

    it("names the purpose in the person's language, and in a fixed template's own language", () => {
      const orders = {
        ...news,
        id: 'orders',
        label: 'Order updates',
        labels: { en: 'Order updates', de: 'Bestell-Updates' },
      };
      const interactive = buildConfirmationMessage({
        language: 'de',
        purpose: orders,
        wording: 'w',
        mode: 'interactive',
        texts: { de: 'Bestätigen: {label}?' },
      }) as { interactive: { body: { text: string } } };
      assert.equal(interactive.interactive.body.text, 'Bestätigen: Bestell-Updates?');
      const parameter = (language: string) =>
        (
          buildConfirmationMessage({
            language: 'de',
            purpose: orders,
            wording: 'w',
            mode: 'template',
            template: { name: 'optin_confirm', language, parameters: ['{label}'], confirmButton: false },
          }) as { template: { components: { parameters: { text: string }[] }[] } }
        ).template.components[0].parameters[0].text;
      assert.equal(parameter('auto'), 'Bestell-Updates');
      assert.equal(parameter('en_US'), 'Order updates');
    });

    it('builds a template with body parameters and the confirm payload on its quick-reply button', () => {
      const body = buildConfirmationMessage({
        language: 'de',
        purpose: news,
        wording: 'Newsletter bitte',
        mode: 'template',
        template: { name: 'optin_confirm', language: 'auto', parameters: ['{label}', 'Shop'], confirmButton: true },
      });
      assert.deepEqual(body, {
        type: 'template',
        template: {
          name: 'optin_confirm',
          language: { code: 'de' },
          components: [
            {
              type: 'body',
              parameters: [
                { type: 'text', text: 'Newsletter' },
                { type: 'text', text: 'Shop' },
              ],
            },
            {
              type: 'button',
              sub_type: 'quick_reply',
              index: '0',
              parameters: [{ type: 'payload', payload: 'gdpr-confirm:news' }],
            },
          ],
        },
      });
      const plain = buildConfirmationMessage({
        language: 'de',
        purpose: news,
        wording: 'x',
        mode: 'template',
        template: { name: 'optin_confirm', language: 'en_US', parameters: [], confirmButton: false },
      });
      assert.deepEqual(plain, { type: 'template', template: { name: 'optin_confirm', language: { code: 'en_US' } } });
      assert.throws(
        () =>
          buildConfirmationMessage({
            language: 'de',
            purpose: news,
            wording: 'x',
            mode: 'template',
            template: { name: 'Bad Name', language: 'de', parameters: [], confirmButton: false },
          }),
        (e: unknown) => e instanceof GdprWhatsAppError && e.code === 'invalid-template-name',
      );
    });
  });

  it('has confirmed, expired and sign-up texts in both languages', () => {
    const context = { label: 'Newsletter', wording: 'News per WhatsApp' };
    assert.equal(
      optInText('confirmed', 'en', context),
      'Thank you, your consent is confirmed: Newsletter. Reply STOP at any time to unsubscribe.',
    );
    assert.equal(
      optInText('confirmed', 'de', context),
      'Vielen Dank, Ihre Einwilligung ist bestätigt: Newsletter. Antworten Sie jederzeit mit STOP, um sich abzumelden.',
    );
    assert.match(optInText('expired', 'de', context), /abgelaufen/);
    assert.match(optInText('expired', 'en', context), /expired/);
    assert.equal(
      optInText('subscribed', 'de', context),
      'Sie sind jetzt angemeldet: „News per WhatsApp“\nAntworten Sie jederzeit mit STOP, um sich abzumelden.',
    );
    assert.equal(purposeWording(news, 'de'), 'Schickt mir den Newsletter per WhatsApp.');
  });

  it('answers a typed no with the label after a colon, as the confirmation does: labels come without an article', () => {
    // "nicht für {label} angemeldet" made "nicht für Rundbrief angemeldet": German wants "den Rundbrief", and which
    // article a label takes (der Newsletter, die Angebote) the package cannot know.
    for (const label of ['Rundbrief', 'WhatsApp newsletter', 'Angebote und Gutscheine']) {
      const context = { label, wording: 'irrelevant' };
      assert.equal(optInText('refused', 'de', context), `Verstanden, Sie sind nicht angemeldet: ${label}.`);
      assert.equal(optInText('refused', 'en', context), `Understood, you are not signed up: ${label}.`);
    }
  });
});
