import assert from 'node:assert/strict';
import { LEDGER_EVENT_TYPES } from '../../../lib/consent/types';
import {
  confirmationKeywordFor,
  consentEventPayload,
  DEFAULT_ERASURE_NOTICE,
  DEFAULT_ERASURE_QUESTION,
  erasureNotice,
  erasureQuestion,
  erasureReport,
  eventSelected,
  exportAsFile,
  exportFileName,
  isInboundMessage,
  parseEventFilter,
  recogniseEraseRequest,
  requireKnownEventTypes,
  subjectFromMessage,
} from '../../../lib/conversation/dsr';
import { DEFAULT_ERASE_KEYWORDS } from '../../../lib/conversation/keywords';
import { GdprWhatsAppError } from '../../../lib/errors';

const inbound = (fields: Record<string, unknown>) => ({
  payload: fields.text,
  whatsapp: { messageId: 'wamid.1', from: '+4915123456789', waId: '4915123456789', type: 'text', ...fields },
});

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => err instanceof GdprWhatsAppError && err.code === code);
}

describe('conversation/dsr', () => {
  describe('subjectFromMessage', () => {
    it("reads a number staff write nationally in the store's country, and a sender's number as Meta sends it", () => {
      assert.deepEqual(subjectFromMessage({ payload: { phone: '0151 23456789' } }, 'DE').subject, {
        phone: '+4915123456789',
      });
      assert.deepEqual(subjectFromMessage({ payload: '0151 23456789' }, 'DE').subject, { phone: '+4915123456789' });
      assert.throws(
        () => subjectFromMessage({ payload: '0151 23456789' }),
        (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'invalid-phone',
      );
      // The sender of an inbound message is who Meta names, whatever the country.
      assert.deepEqual(
        subjectFromMessage(inbound({ text: 'x' }), 'AT').subject,
        subjectFromMessage(inbound({ text: 'x' })).subject,
      );
    });

    it('reads a number in any common spelling from msg.payload', () => {
      assert.deepEqual(subjectFromMessage({ payload: '0049 151 2345 6789' }), {
        subject: { phone: '+4915123456789' },
        origin: 'request',
      });
      assert.deepEqual(subjectFromMessage({ payload: 4915123456789 }).subject, { phone: '+4915123456789' });
    });

    it('reads {phone} and {userId} objects, e.g. from an http in node', () => {
      assert.deepEqual(subjectFromMessage({ payload: { phone: '+49 151 23456789', other: 'ignored' } }).subject, {
        phone: '+4915123456789',
      });
      assert.deepEqual(subjectFromMessage({ payload: { userId: 'DE.1502576394655843' } }).subject, {
        userId: 'DE.1502576394655843',
      });
      assert.deepEqual(
        subjectFromMessage({ payload: { phone: '+4915123456789', userId: 'US.ENT.1181579921' } }).subject,
        {
          phone: '+4915123456789',
          userId: 'US.ENT.1181579921',
        },
      );
    });

    it('takes the sender of an inbound message, never a number the person typed', () => {
      const request = subjectFromMessage(inbound({ text: '+14155550100', userId: 'DE.77' }));
      assert.deepEqual(request, { subject: { phone: '+4915123456789', userId: 'DE.77' }, origin: 'inbound' });
    });

    it('takes a username-only sender by user id', () => {
      const msg = { payload: 'hi', whatsapp: { messageId: 'wamid.2', userId: 'BR.15025763946', type: 'text' } };
      assert.deepEqual(subjectFromMessage(msg).subject, { userId: 'BR.15025763946' });
    });

    it('rejects a missing subject, an invalid number and a malformed user id', () => {
      assertCode(() => subjectFromMessage({}), 'missing-subject');
      assertCode(() => subjectFromMessage({ payload: { name: 'Erika' } }), 'missing-subject');
      assertCode(() => subjectFromMessage({ payload: ['+4915123456789'] }), 'missing-subject');
      assertCode(() => subjectFromMessage({ payload: '12' }), 'invalid-phone');
      assertCode(() => subjectFromMessage({ payload: 'drop table' }), 'invalid-phone');
      assertCode(() => subjectFromMessage({ payload: { userId: '4915123456789' } }), 'invalid-user-id');
      assertCode(() => subjectFromMessage({ payload: { userId: 42 } }), 'invalid-user-id');
    });

    it('never puts the number into an error message', () => {
      try {
        subjectFromMessage({ payload: '+49 151 2345678999999' });
        assert.fail('expected an error');
      } catch (err) {
        assert.ok(err instanceof GdprWhatsAppError);
        assert.doesNotMatch(err.message, /2345678/);
      }
    });
  });

  describe('recogniseEraseRequest', () => {
    const keywords = [...DEFAULT_ERASE_KEYWORDS];

    it('recognises the whole message as an erase keyword in English and German', () => {
      assert.equal(recogniseEraseRequest(inbound({ text: 'Delete my data!' }), keywords), 'DELETE MY DATA');
      assert.equal(recogniseEraseRequest(inbound({ text: ' daten löschen ' }), keywords), 'DATEN LÖSCHEN');
      assert.equal(recogniseEraseRequest(inbound({ text: 'LÖSCHEN.' }), keywords), 'LÖSCHEN');
    });

    it('takes words of courtesy only around a keyword that names the data: "Bitte löschen" may mean an order', () => {
      assert.equal(recogniseEraseRequest(inbound({ text: 'Bitte löschen' }), keywords), undefined);
      assert.equal(recogniseEraseRequest(inbound({ text: 'Löschen, danke' }), keywords), undefined);
      assert.equal(recogniseEraseRequest(inbound({ text: 'Daten löschen bitte' }), keywords), 'DATEN LÖSCHEN');
      assert.equal(recogniseEraseRequest(inbound({ text: 'Please delete my data' }), keywords), 'DELETE MY DATA');
      assert.equal(recogniseEraseRequest(inbound({ text: 'Bitte Daten löschen, danke!' }), keywords), 'DATEN LÖSCHEN');
      // German names whose data as English does, in either order.
      assert.equal(
        recogniseEraseRequest(inbound({ text: 'Bitte meine Daten löschen' }), keywords),
        'MEINE DATEN LÖSCHEN',
      );
      assert.equal(
        recogniseEraseRequest(inbound({ text: 'Bitte löschen Sie meine Daten.' }), keywords),
        'LÖSCHEN SIE MEINE DATEN',
      );
      // Nor a question whether one can.
      for (const text of ['Löschen?', 'Daten löschen？', 'DELETE MY DATA?!']) {
        assert.equal(recogniseEraseRequest(inbound({ text }), keywords), undefined, text);
      }
    });

    it('does not take a keyword written in a group as a request to the business', () => {
      assert.equal(
        recogniseEraseRequest(inbound({ text: 'LÖSCHEN', groupId: 'Y2FwaV9ncm91cDox' }), keywords),
        undefined,
      );
    });

    it('recognises template quick replies and interactive reply titles that name the data', () => {
      const quickReply = inbound({ type: 'button', button: { payload: 'x', text: 'Daten löschen' }, text: undefined });
      assert.equal(recogniseEraseRequest(quickReply, keywords), 'DATEN LÖSCHEN');
      const reply = inbound({
        type: 'interactive',
        interactive: { type: 'button_reply', id: 'r1', title: 'Delete my data' },
        text: 'Delete my data',
      });
      assert.equal(recogniseEraseRequest(reply, keywords), 'DELETE MY DATA');
    });

    it('takes no button of the business\'s own labelled with one word: "Löschen" may delete a shopping cart', () => {
      // Meta sets a template quick reply's payload to its label, and the webhook copies a reply's title into text.
      const buttons = [
        inbound({ type: 'button', button: { payload: 'Löschen', text: 'Löschen' }, text: 'Löschen' }),
        inbound({
          type: 'interactive',
          interactive: { type: 'button_reply', id: 'cart-clear', title: 'Löschen' },
          text: 'Löschen',
        }),
        inbound({ type: 'interactive', interactive: { type: 'list_reply', id: 'LÖSCHEN', title: 'Löschen' } }),
      ];
      for (const message of buttons) {
        assert.equal(recogniseEraseRequest(message, keywords), undefined, JSON.stringify(message.whatsapp));
      }
      // Typed, the word is a request.
      assert.equal(recogniseEraseRequest(inbound({ text: 'Löschen' }), keywords), 'LÖSCHEN');
    });

    it('asks for the keyword that names the data before erasing on one word: "Löschen" may be about an order', () => {
      assert.equal(confirmationKeywordFor('LÖSCHEN', keywords), 'DATEN LÖSCHEN');
      assert.equal(confirmationKeywordFor('DELETE', ['DELETE MY DATA', 'DATEN LÖSCHEN', 'DELETE']), 'DELETE MY DATA');
      assert.equal(confirmationKeywordFor('ENTFERNEN', ['VERGISS MICH', 'ENTFERNEN']), 'VERGISS MICH');
      // A keyword naming the data erases at once; a list without one erases on its one word, as configured.
      assert.equal(confirmationKeywordFor('DATEN LÖSCHEN', keywords), undefined);
      assert.equal(confirmationKeywordFor('ENTFERNEN', ['ENTFERNEN']), undefined);
    });

    it('ignores sentences that merely contain the words, other keywords and non-inbound messages', () => {
      assert.equal(recogniseEraseRequest(inbound({ text: 'Please delete my data tomorrow' }), keywords), undefined);
      assert.equal(recogniseEraseRequest(inbound({ text: 'STOP' }), keywords), undefined);
      assert.equal(recogniseEraseRequest({ whatsapp: { text: 'DELETE MY DATA' } }, keywords), undefined);
      assert.equal(recogniseEraseRequest(inbound({ text: 'ENTFERNEN' }), ['ENTFERNEN']), 'ENTFERNEN');
    });
  });

  it('tells inbound messages apart from admin requests', () => {
    assert.equal(isInboundMessage(inbound({ text: 'hi' })), true);
    assert.equal(isInboundMessage({ whatsapp: { from: '+4915123456789' } }), false);
    assert.equal(isInboundMessage({ whatsapp: 'x' }), false);
    assert.equal(isInboundMessage({}), false);
  });

  describe('erasureNotice', () => {
    it('addresses the person in German or English with the default texts', () => {
      const de = erasureNotice({ phone: '+4915123456789' }, 'de');
      assert.deepEqual(de, { to: '+4915123456789', payload: DEFAULT_ERASURE_NOTICE.de, language: 'de' });
      assert.match(DEFAULT_ERASURE_NOTICE.de, /Ihre Daten wie gewünscht gelöscht/);
      assert.match(erasureNotice({ phone: '+14155550100' }, 'en')!.payload, /deleted your data as you asked/);
    });

    it('uses configured texts and falls back to the default for an empty one', () => {
      const texts = { en: 'Bye, data gone.', de: '  ' };
      assert.equal(erasureNotice({ phone: '+14155550100' }, 'en', texts)!.payload, 'Bye, data gone.');
      assert.equal(erasureNotice({ phone: '+4915123456789' }, 'de', texts)!.payload, DEFAULT_ERASURE_NOTICE.de);
    });

    it('writes to the business-scoped user id of a person known by username only', () => {
      assert.deepEqual(erasureNotice({ userId: 'DE.123' }, 'de'), {
        to: 'DE.123',
        payload: DEFAULT_ERASURE_NOTICE.de,
        language: 'de',
      });
      assert.equal(erasureNotice({}, 'en'), undefined, 'nobody to write to');
    });
  });

  describe('erasureQuestion', () => {
    const erika = { phone: '+4915123456789' };
    const bodyOf = (q: ReturnType<typeof erasureQuestion>) => {
      assert.ok(q, 'a question');
      return typeof q.payload === 'string'
        ? { text: q.payload }
        : { button: (q.payload as { interactive: { body: { text: string } } }).interactive.body.text };
    };

    it('asks with a button titled with the keyword, in her language, with the own text where one is set', () => {
      assert.deepEqual(bodyOf(erasureQuestion(erika, 'de', 'DATEN LÖSCHEN')), {
        button: DEFAULT_ERASURE_QUESTION.de('DATEN LÖSCHEN'),
      });
      assert.deepEqual(bodyOf(erasureQuestion(erika, 'en', 'DELETE', { en: 'Send {keyword} to go.' })), {
        button: 'Send DELETE to go.',
      });
      assert.equal(erasureQuestion({}, 'en', 'DELETE'), undefined, 'nobody to write to');
    });

    it('asks in text alone where the keyword is too long for a button or makes the text too long for one', () => {
      const long = 'PLEASE DELETE ALL MY DATA';
      assert.deepEqual(bodyOf(erasureQuestion(erika, 'en', long)), { text: DEFAULT_ERASURE_QUESTION.en(long) });
      const question = `{keyword} ${'x'.repeat(1004)} {keyword}`;
      assert.equal(question.length, 1024);
      const asked = bodyOf(erasureQuestion(erika, 'de', 'DATEN LÖSCHEN', { de: question }));
      assert.deepEqual(asked, { text: question.split('{keyword}').join('DATEN LÖSCHEN') });
      // Within the limit by characters, not by UTF-16 units: an emoji counts once, as at Meta.
      const justFits = `{keyword} ${'😀'.repeat(1024 - 'DELETE '.length)}`;
      assert.ok(bodyOf(erasureQuestion(erika, 'en', 'DELETE', { en: justFits })).button);
      assert.ok(bodyOf(erasureQuestion(erika, 'en', 'DELETE', { en: `${justFits}😀` })).text);
    });

    it('asks with the default where the own text names no keyword, or the keyword makes it longer than a text', () => {
      assert.deepEqual(bodyOf(erasureQuestion(erika, 'en', 'DELETE', { en: 'Sure?' })), {
        button: DEFAULT_ERASURE_QUESTION.en('DELETE'),
      });
      const keyword = 'K'.repeat(40);
      const question = '{keyword}'.repeat(113);
      assert.deepEqual(bodyOf(erasureQuestion(erika, 'en', keyword, { en: question })), {
        text: DEFAULT_ERASURE_QUESTION.en(keyword),
      });
    });
  });

  describe('erasureReport', () => {
    it('counts what was removed and dates it', () => {
      const at = Date.UTC(2026, 4, 1, 12, 0, 0);
      const report = erasureReport(
        { found: true, removed: { consents: 2, notices: 1, inbound: 1, junk: Number.NaN }, at, pseudonym: 'p1' },
        'inbound',
      );
      assert.deepEqual(report, {
        found: true,
        removed: { consents: 2, notices: 1, inbound: 1 },
        total: 4,
        at,
        erasedAt: '2026-05-01T12:00:00.000Z',
        pseudonym: 'p1',
        origin: 'inbound',
      });
    });

    it("counts her earlier numbers' part apart from this number's own, and names none of them", () => {
      const report = erasureReport(
        {
          found: true,
          removed: { consents: 1 },
          at: 0,
          pseudonym: 'p1',
          earlierNumbers: { count: 2, removed: { consents: 2, notices: 1 } },
        },
        'inbound',
      );
      assert.equal(report.total, 1);
      assert.deepEqual(report.earlierNumbers, { count: 2, removed: { consents: 2, notices: 1 }, total: 3 });
    });

    it('reports an unknown subject as found:false with nothing removed', () => {
      const report = erasureReport({ found: false, removed: {}, at: 0, pseudonym: 'p2' }, 'request');
      assert.equal(report.found, false);
      assert.equal(report.total, 0);
    });
  });

  describe('export file', () => {
    it('names the file by date and pseudonym prefix, never by number', () => {
      const at = Date.UTC(2026, 0, 31);
      assert.equal(exportFileName('ab12/cd+34ef567890xyz', at), 'whatsapp-data-ab12cd34ef56-2026-01-31.json');
      assert.equal(exportFileName(undefined, at), 'whatsapp-data-2026-01-31.json');
    });

    it('is pretty JSON with download headers that forbid caching', () => {
      const file = exportAsFile({ subject: { phone: '+4915123456789' }, consents: [] }, 'abc', Date.UTC(2026, 0, 1));
      assert.deepEqual(JSON.parse(file.payload), { subject: { phone: '+4915123456789' }, consents: [] });
      assert.equal(file.headers['Content-Type'], 'application/json; charset=utf-8');
      assert.equal(file.headers['Content-Disposition'], 'attachment; filename="whatsapp-data-abc-2026-01-01.json"');
      assert.equal(file.headers['Cache-Control'], 'no-store');
    });
  });

  describe('consent events', () => {
    const event = {
      type: 'consent.withdrawn' as const,
      pseudonym: 'p3',
      purpose: 'marketing',
      at: 1,
      phone: '+4915123456789',
      userId: 'DE.1',
      channel: 'whatsapp-keyword' as const,
      text: 'STOP',
      name: 'Erika',
    };

    it('passes only non-personal fields unless the phone is asked for', () => {
      assert.deepEqual(consentEventPayload(event, false), {
        type: 'consent.withdrawn',
        pseudonym: 'p3',
        purpose: 'marketing',
        at: 1,
        channel: 'whatsapp-keyword',
      });
      const withPhone = consentEventPayload(event, true);
      assert.equal(withPhone.phone, '+4915123456789');
      assert.equal(withPhone.userId, 'DE.1');
      assert.equal(withPhone.name, undefined);
      assert.equal(withPhone.text, undefined);
    });

    it('filters by event type; an empty filter lets everything through', () => {
      assert.equal(parseEventFilter([]), undefined);
      assert.equal(parseEventFilter(''), undefined);
      assert.equal(eventSelected('notice.shown', parseEventFilter(undefined)), true);
      const filter = parseEventFilter('subject.erased, consent.withdrawn');
      assert.equal(eventSelected('subject.erased', filter), true);
      assert.equal(eventSelected('consent.withdrawn', filter), true);
      assert.equal(eventSelected('notice.shown', filter), false);
      assert.equal(eventSelected('consent.given', parseEventFilter(['consent.given'])), true);
    });

    it('refuses a filter naming something that is no event type, and takes every one that is', () => {
      requireKnownEventTypes(parseEventFilter([...LEDGER_EVENT_TYPES]));
      requireKnownEventTypes(undefined);
      assert.throws(
        () => requireKnownEventTypes(parseEventFilter('consent.withdrawn, subject.erase, withdrawn')),
        (err: unknown) =>
          err instanceof GdprWhatsAppError &&
          err.code === 'unknown-event-types' &&
          err.params.types === 'subject.erase, withdrawn',
      );
    });
  });
});
