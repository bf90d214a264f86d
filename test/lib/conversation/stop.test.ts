import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsentLedger } from '../../../lib/consent/ledger';
import type { PurposeConfig } from '../../../lib/consent/types';
import {
  DEFAULT_HELP_TEXTS,
  DEFAULT_STOP_CONFIRMATION_TEXTS,
  marketingPurposeIds,
  objectionReplyText,
  objectionTargets,
  parsePurposeList,
  recogniseStopSignal,
  signUpKeywordFor,
  staffWithdrawalOf,
  stopReplyText,
  stopRulesFrom,
  whatStopEnded,
  withdrawForSignal,
} from '../../../lib/conversation/stop';
import type { AccountEvent, InboundMessage, MessageStatus } from '../../../lib/webhook/types';

const PHONE = '+4915123456789';
const rules = stopRulesFrom({});

function inbound(extra: Partial<InboundMessage>): InboundMessage {
  return {
    from: PHONE,
    waId: PHONE.slice(1),
    messageId: `wamid.${randomBytes(6).toString('hex')}`,
    timestamp: 1_700_000_000,
    type: 'text',
    phoneNumberId: '1000',
    ...extra,
  };
}

const PURPOSES: PurposeConfig[] = [
  { id: 'orders', label: 'Order updates', wording: { en: 'Order updates on WhatsApp' }, lawfulBasis: 'consent' },
  { id: 'offers', label: 'Offers', wording: { en: 'Offers on WhatsApp' }, lawfulBasis: 'consent', marketing: true },
  { id: 'news', label: 'News', wording: { en: 'News on WhatsApp' }, lawfulBasis: 'consent', marketing: true },
];

describe('conversation/stop', () => {
  describe('recogniseStopSignal', () => {
    it('names no subject from a sender that is not text, and answers nobody', () => {
      for (const text of ['STOP', 'HELP']) {
        const odd = { ...inbound({ text }), from: [491512345] as unknown as string, userId: {} as unknown as string };
        const withoutWaId = { ...odd, waId: undefined };
        assert.deepEqual(recogniseStopSignal(withoutWaId, rules), { kind: 'none' }, text);
      }
    });

    it('recognises every default opt-out keyword, whatever the case and punctuation', () => {
      for (const text of [
        'STOP',
        ' stop! ',
        'Stopp.',
        'abmelden',
        'KÜNDIGEN',
        'kündigen 👋',
        'Unsubscribe',
        'beenden',
      ]) {
        const signal = recogniseStopSignal(inbound({ text }), rules);
        assert.equal(signal.kind, 'stop', text);
        assert.equal(signal.kind === 'stop' && signal.channel, 'whatsapp-keyword');
        assert.deepEqual(signal.kind === 'stop' && signal.subject, { phone: PHONE });
      }
    });

    it('does not treat a sentence containing STOP as an opt-out, but flags one that may say it for a person', () => {
      for (const text of ['Stop sending me offers', 'please do not stop']) {
        assert.deepEqual(
          recogniseStopSignal(inbound({ text }), rules),
          { kind: 'possible-opt-out', hint: 'STOP' },
          text,
        );
      }
      assert.equal(recogniseStopSignal(inbound({ text: 'stopover in Berlin?' }), rules).kind, 'none');
    });

    it('flags an opt-out wish in other words, typed or on a button, and nothing in a group', () => {
      const cases: [unknown, string | undefined][] = [
        [inbound({ text: 'Unsubscribe me' }), 'UNSUBSCRIB'],
        [inbound({ text: 'Bitte keine Werbung mehr!' }), 'KEINE WERBUNG'],
        [inbound({ text: 'Wie kann ich mich abmelden?' }), 'ABMELD'],
        [inbound({ type: 'button', button: { payload: 'promo-off', text: 'Stop promotions' } }), 'STOP'],
        [inbound({ type: 'image', media: { id: '1', caption: 'Bitte meldet mich ab' } }), 'MELDET MICH AB'],
        [inbound({ text: 'Unsubscribe me', groupId: 'Y2FwaV9ncm91cDoxNTU1MDc4Mzg4MToxMjM0' }), undefined],
        [inbound({ text: 'Where is my parcel?' }), undefined],
      ];
      for (const [message, hint] of cases) {
        const signal = recogniseStopSignal(message, rules);
        assert.deepEqual(signal, hint ? { kind: 'possible-opt-out', hint } : { kind: 'none' }, JSON.stringify(message));
      }
    });

    it('acts on a STOP or an objection beside a request for her data, and says that the message asks for more', () => {
      const withObjections = stopRulesFrom({ marketingObjections: true });
      const stop = recogniseStopSignal(inbound({ text: 'STOP und löschen Sie meine Daten' }), withObjections);
      assert.equal(stop.kind, 'stop');
      assert.equal((stop as { keyword?: string }).keyword, 'STOP');
      assert.equal((stop as { alsoAsks?: string }).alsoAsks, 'erasure');
      // A STOP keyword beside a data request needs no setting: it is the keyword every footer asks for.
      assert.equal(recogniseStopSignal(inbound({ text: 'Stop and delete my data' }), rules).kind, 'stop');
      const objection = recogniseStopSignal(
        inbound({ text: 'Keine Werbung mehr. Was haben Sie über mich gespeichert?' }),
        withObjections,
      );
      assert.equal(objection.kind, 'marketing-objection');
      assert.equal((objection as { phrase?: string }).phrase, 'KEINE WERBUNG MEHR');
      assert.equal((objection as { alsoAsks?: string }).alsoAsks, 'access');
      // Without the setting the objection is a person's to read, as without the data request.
      assert.deepEqual(
        recogniseStopSignal(inbound({ text: 'Keine Werbung mehr und löschen Sie meine Daten' }), rules),
        { kind: 'possible-opt-out', hint: 'KEINE WERBUNG' },
      );
      // An order to delete is no data request: the STOP beside it may be about the order, a person reads it.
      assert.equal(
        recogniseStopSignal(inbound({ text: 'Stop, delete my order' }), withObjections).kind,
        'possible-opt-out',
      );
    });

    it('takes no STOP or HELP written in a group: it is said to the group, not to the business', () => {
      const groupId = 'Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD';
      const messages = [
        inbound({ text: 'Stop', groupId }),
        inbound({ text: 'Ende', groupId }),
        inbound({ text: 'Cancel', groupId }),
        inbound({ text: 'Hilfe', groupId }),
        inbound({ type: 'button', button: { payload: 'STOP', text: 'Stop' }, groupId }),
        inbound({ type: 'interactive', interactive: { type: 'button_reply', id: 'b2', title: 'Abmelden' }, groupId }),
      ];
      for (const message of messages) {
        assert.equal(recogniseStopSignal(message, rules).kind, 'none', JSON.stringify(message));
      }
      // The same words written to the business directly are a STOP and a HELP.
      assert.equal(recogniseStopSignal(inbound({ text: 'Ende' }), rules).kind, 'stop');
      assert.equal(recogniseStopSignal(inbound({ text: 'Hilfe' }), rules).kind, 'help');
    });

    it('recognises the configured opt-out button payload and reply id', () => {
      const custom = stopRulesFrom({ optOutPayload: 'OPT_OUT, unsubscribe-all' });
      const quickReply = inbound({ type: 'button', button: { payload: 'OPT_OUT', text: 'No more' } });
      const listReply = inbound({
        type: 'interactive',
        interactive: { type: 'button_reply', id: 'unsubscribe-all', title: 'Bye' },
      });
      for (const message of [quickReply, listReply]) {
        const signal = recogniseStopSignal(message, custom);
        assert.equal(signal.kind, 'stop');
        assert.equal(signal.kind === 'stop' && signal.channel, 'whatsapp-button');
      }
      // The default payload is STOP; another payload is an ordinary button.
      assert.equal(recogniseStopSignal(inbound({ type: 'button', button: { payload: 'STOP' } }), rules).kind, 'stop');
      assert.equal(recogniseStopSignal(inbound({ type: 'button', button: { payload: 'MORE' } }), rules).kind, 'none');
    });

    it('treats a reply button labelled with an opt-out keyword as an opt-out button', () => {
      const signal = recogniseStopSignal(
        inbound({ type: 'interactive', interactive: { type: 'button_reply', id: 'b2', title: 'Abmelden' } }),
        rules,
      );
      assert.equal(signal.kind === 'stop' && signal.channel, 'whatsapp-button');
      assert.equal(signal.kind === 'stop' && signal.keyword, 'ABMELDEN');
    });

    it("does not take a business's Cancel or Ende button for an opt-out: its payload or id decides", () => {
      const tapped = (title: string, id = 'b1') =>
        recogniseStopSignal(inbound({ type: 'interactive', interactive: { type: 'button_reply', id, title } }), rules);
      const quickReply = (text: string, payload: string) =>
        recogniseStopSignal(inbound({ type: 'button', button: { payload, text } }), rules);
      for (const label of ['Cancel', 'End', 'Quit', 'Revoke', 'Kündigen', 'Beenden', 'Ende']) {
        // Kündigen or Revoke may still be flagged for a person to read (possible-opt-out): nothing is withdrawn.
        assert.notEqual(tapped(label).kind, 'stop', label);
        assert.notEqual(quickReply(label, 'cancel_appt').kind, 'stop', label);
      }
      assert.equal(tapped('Cancel', 'STOP').kind, 'stop', 'the opt-out reply id');
      assert.equal(quickReply('Stopp', 'x').kind, 'stop');
      // Typed, the same words opt out.
      assert.equal(recogniseStopSignal(inbound({ text: 'Cancel' }), rules).kind, 'stop');
      // The integrator's own keyword on her own button does.
      const custom = stopRulesFrom({ keywords: 'NEWSLETTER AUS, CANCEL' });
      const label = (title: string) =>
        recogniseStopSignal(
          inbound({ type: 'interactive', interactive: { type: 'button_reply', id: 'b3', title } }),
          custom,
        ).kind;
      assert.deepEqual([label('Newsletter aus'), label('Cancel')], ['stop', 'none']);
    });

    it('recognises HELP and HILFE, and configured keyword lists replace the defaults', () => {
      assert.equal(recogniseStopSignal(inbound({ text: 'hilfe?' }), rules).kind, 'help');
      assert.equal(recogniseStopSignal(inbound({ text: 'Help' }), rules).kind, 'help');
      const custom = stopRulesFrom({ keywords: 'HALT\nENDE', helpKeywords: 'INFO' });
      assert.equal(recogniseStopSignal(inbound({ text: 'ende' }), custom).kind, 'stop');
      // Not a keyword of this list, but flagged for a person to read.
      assert.equal(recogniseStopSignal(inbound({ text: 'stoppen' }), custom).kind, 'possible-opt-out');
      assert.equal(recogniseStopSignal(inbound({ text: 'help' }), custom).kind, 'none');
      assert.equal(recogniseStopSignal(inbound({ text: 'info' }), custom).kind, 'help');
    });

    it('keeps STOP, which every footer and notice tells people to reply, beside configured keywords', () => {
      // An integrator "adding German words" types only those: the promised STOP must still withdraw.
      const german = stopRulesFrom({ keywords: 'ABMELDEN, AUSTRAGEN' });
      // And the words a message may name instead of the footer ("Antworten Sie mit STOPP").
      for (const text of ['STOP', 'Stop bitte!', 'abmelden', 'Stopp', 'UNSUBSCRIBE', 'abbestellen']) {
        const signal = recogniseStopSignal(inbound({ text }), german);
        assert.equal(signal.kind, 'stop', text);
      }
      const labelled = inbound({ type: 'interactive', interactive: { type: 'button_reply', id: 'x1', title: 'STOP' } });
      assert.equal(recogniseStopSignal(labelled, german).kind, 'stop', 'a reply button labelled STOP');
    });

    it("recognises Meta's user_preferences stop and resume for marketing messages", () => {
      const event: AccountEvent = {
        field: 'user_preferences',
        value: 'stop',
        from: PHONE,
        waId: PHONE.slice(1),
        category: 'marketing_messages',
      };
      assert.deepEqual(recogniseStopSignal(event, rules), {
        kind: 'marketing-opt-out',
        source: 'user_preferences',
        subject: { phone: PHONE },
      });
      assert.deepEqual(recogniseStopSignal({ ...event, value: 'resume' }, rules), {
        kind: 'marketing-resume',
        subject: { phone: PHONE },
      });
      assert.equal(recogniseStopSignal({ ...event, category: 'other' }, rules).kind, 'none');
      assert.equal(recogniseStopSignal({ field: 'account_update', value: 'stop' }, rules).kind, 'none');
    });

    it("recognises Meta's number change by the old number, and no other system message", () => {
      const moved = inbound({
        type: 'system',
        waId: undefined,
        text: 'User Erika changed from 4915123456789 to 4917612345678',
        system: { type: 'user_changed_number', waId: '4917612345678', body: 'User Erika changed …' },
      });
      assert.deepEqual(recogniseStopSignal(moved, rules), {
        kind: 'number-changed',
        subject: { phone: PHONE },
        newWaId: '4917612345678',
        messageId: moved.messageId,
      });
      const legacy = { ...moved, system: { type: 'customer_changed_number', waId: '4917612345678' } };
      assert.equal(recogniseStopSignal(legacy, rules).kind, 'number-changed');
      // A number change whose old number Meta did not send ends nothing.
      const idChange = { ...moved, system: { type: 'user_changed_user_id', userId: 'DE.2' } };
      assert.equal(recogniseStopSignal(idChange, rules).kind, 'none');
      assert.equal(recogniseStopSignal({ ...moved, from: undefined }, rules).kind, 'none');
      // The body is not read: a system message saying STOP is still no opt-out.
      assert.equal(recogniseStopSignal({ ...moved, text: 'STOP', system: { body: 'STOP' } }, rules).kind, 'none');
    });

    it('reads the user ids Meta names with a number change, and leaves out any that is not one', () => {
      const moved = inbound({
        type: 'system',
        system: { type: 'user_changed_number', waId: '4917612345678', previousUserId: 'DE.1', userId: 'DE.2' },
      });
      const signal = recogniseStopSignal(moved, rules);
      assert.equal(signal.kind === 'number-changed' && signal.previousUserId, 'DE.1');
      assert.equal(signal.kind === 'number-changed' && signal.newUserId, 'DE.2');
      const odd = recogniseStopSignal(
        inbound({ type: 'system', system: { type: 'user_changed_number', previousUserId: 'x', userId: 'DE.2' } }),
        rules,
      );
      assert.equal(odd.kind, 'number-changed');
      assert.equal(odd.kind === 'number-changed' && 'previousUserId' in odd, false);
      assert.equal(odd.kind === 'number-changed' && odd.newUserId, 'DE.2');
    });

    it("recognises Meta's new business-scoped user id only with both ids valid and different", () => {
      const changed = inbound({
        type: 'system',
        from: undefined,
        waId: undefined,
        userId: 'DE.2',
        system: { type: 'user_changed_user_id', previousUserId: 'DE.1', userId: 'DE.2' },
      });
      assert.deepEqual(recogniseStopSignal(changed, rules), {
        kind: 'user-id-changed',
        previousUserId: 'DE.1',
        userId: 'DE.2',
        messageId: changed.messageId,
      });
      for (const system of [
        { type: 'user_changed_user_id', userId: 'DE.2' },
        { type: 'user_changed_user_id', previousUserId: 'DE.1', userId: 'DE.1' },
        { type: 'user_changed_user_id', previousUserId: 'not an id', userId: 'DE.2' },
      ]) {
        assert.equal(recogniseStopSignal({ ...changed, system }, rules).kind, 'none', JSON.stringify(system));
      }
    });

    it('recognises a failed status with error 131050 and nothing else', () => {
      const status: MessageStatus = {
        messageId: 'wamid.out',
        status: 'failed',
        timestamp: 1_700_000_000,
        recipient: PHONE,
        recipientId: PHONE.slice(1),
        phoneNumberId: '1000',
        errors: [{ code: 131050, title: 'Unable to deliver the message' }],
      };
      assert.deepEqual(recogniseStopSignal(status, rules), {
        kind: 'marketing-opt-out',
        source: 'status-131050',
        subject: { phone: PHONE },
        sentAt: 1_700_000_000_000, // when the send failed: she had opted out by then
      });
      assert.equal(recogniseStopSignal({ ...status, errors: [{ code: 131047 }] }, rules).kind, 'none');
      assert.equal(recogniseStopSignal({ ...status, status: 'delivered', errors: undefined }, rules).kind, 'none');
    });

    it("says when the person sent her opt-out, from Meta's time", () => {
      for (const message of [inbound({ text: 'STOP' }), inbound({ type: 'button', button: { payload: 'STOP' } })]) {
        const signal = recogniseStopSignal(message, rules);
        assert.equal(signal.kind === 'stop' && signal.sentAt, 1_700_000_000_000);
      }
      const preference: AccountEvent = {
        field: 'user_preferences',
        value: 'stop',
        from: PHONE,
        timestamp: 1_700_000_100,
      };
      const optOut = recogniseStopSignal(preference, rules);
      assert.equal(optOut.kind === 'marketing-opt-out' && optOut.sentAt, 1_700_000_100_000);
      // A time that is no time leaves it unsaid: the ledger then goes by when it recorded the opt-out.
      const noTime = recogniseStopSignal(inbound({ text: 'STOP', timestamp: Number.NaN }), rules);
      assert.equal(noTime.kind === 'stop' && 'sentAt' in noTime, false);
    });

    it('keeps a business-scoped user id as the subject when Meta sends no number', () => {
      const signal = recogniseStopSignal(
        inbound({ from: undefined, waId: undefined, userId: 'DE.123', text: 'stop' }),
        rules,
      );
      assert.deepEqual(signal.kind === 'stop' && signal.subject, { userId: 'DE.123' });
    });

    it('ignores anything that is not a webhook message', () => {
      for (const value of [undefined, null, 'STOP', 42, {}, { text: 'STOP' }]) {
        assert.equal(recogniseStopSignal(value, rules).kind, 'none');
      }
    });
  });

  describe('texts', () => {
    it('answers in English and German with the defaults of issue 4, and configured texts win', () => {
      // Without a way back the flows offer in the chat, none is named ("contact us" sent people to write letters).
      assert.equal(stopReplyText('stop', 'en'), 'You have been unsubscribed. You can sign up again at any time.');
      assert.equal(stopReplyText('stop', 'de'), 'Sie wurden abgemeldet. Sie können sich jederzeit wieder anmelden.');
      assert.equal(
        stopReplyText('stop', 'de', {}, 'ANMELDEN'),
        'Sie wurden abgemeldet. Um sich wieder anzumelden, antworten Sie mit ANMELDEN.',
      );
      assert.equal(
        stopReplyText('stop', 'en', {}, 'START'),
        'You have been unsubscribed. To sign up again, reply START.',
      );
      assert.equal(stopReplyText('stop', 'en', { en: 'Bye!' }, 'START'), 'Bye!', 'a text of her own is sent as it is');
      assert.equal(stopReplyText('help', 'en', {}, 'START'), DEFAULT_HELP_TEXTS.en);
      assert.equal(stopReplyText('help', 'de'), DEFAULT_HELP_TEXTS.de);
      assert.match(DEFAULT_HELP_TEXTS.en, /STOP/);
      assert.match(DEFAULT_HELP_TEXTS.de, /STOP/);
      assert.equal(stopReplyText('stop', 'en', { en: 'Bye!', de: '' }), 'Bye!');
      assert.equal(stopReplyText('stop', 'de', { en: 'Bye!', de: '  ' }), DEFAULT_STOP_CONFIRMATION_TEXTS.de);
    });

    it('tells a STOP that ended nothing that she is not signed up, with the way in and without "again"', () => {
      const nothing = { kind: 'nothing' } as const;
      assert.equal(
        stopReplyText('stop', 'de', {}, undefined, nothing),
        'Sie sind bei uns für keine Nachrichten angemeldet. Sie können sich jederzeit anmelden.',
      );
      assert.equal(
        stopReplyText('stop', 'en', {}, ' START ', nothing),
        'You are not signed up for any messages from us. To sign up, reply START.',
      );
      assert.equal(
        stopReplyText('stop', 'de', {}, 'ANMELDEN', { kind: 'nothing', purposes: 'Newsletter, Angebote' }),
        'Sie sind nicht angemeldet: Newsletter, Angebote. Um sich anzumelden, antworten Sie mit ANMELDEN.',
      );
      assert.equal(stopReplyText('stop', 'en', { en: 'Bye!' }, 'START', nothing), 'Bye!', 'her own text as it is');
      assert.equal(stopReplyText('help', 'en', {}, undefined, nothing), DEFAULT_HELP_TEXTS.en, 'HELP is HELP');
    });

    it('says "unsubscribed" without "again" when a STOP ended only what needs no consent', () => {
      const objections = { kind: 'no-consent' } as const;
      assert.equal(
        stopReplyText('stop', 'de', {}, 'ANMELDEN', objections),
        'Sie wurden abgemeldet. Um sich anzumelden, antworten Sie mit ANMELDEN.',
      );
      assert.equal(
        stopReplyText('stop', 'en', {}, undefined, objections),
        'You have been unsubscribed. You can sign up at any time.',
      );
      assert.equal(
        stopReplyText('stop', 'en', {}, 'START', { kind: 'consent' }),
        'You have been unsubscribed. To sign up again, reply START.',
      );
    });

    it('tells what a STOP ended: a consent, only objections, or nothing (also for a STOP delivered again)', async () => {
      const purposes = [
        { id: 'news', label: 'News', labels: { de: 'Neuigkeiten' }, lawfulBasis: 'consent', wording: {} },
        { id: 'orders', label: 'Orders', lawfulBasis: 'contract', wording: {} },
      ] as unknown as Parameters<typeof whatStopEnded>[4];
      const scope = { marketingPurposes: [], consentPurposes: ['news'], actor: 't' };
      const stop = recogniseStopSignal(inbound({ type: 'text', text: 'STOP', messageId: 'wamid.S' }), rules);
      assert.equal(stop.kind, 'stop');
      if (stop.kind !== 'stop') return;
      const records: Record<string, { purpose: string; withdrawalMessageId?: string }> = {};
      const ledger = { getConsent: async (_s: unknown, id: string) => records[id] };
      const outcome = (withdrawn: string[]) => ({ withdrawn, suppressed: false });
      const ended = (withdrawn: string[], s: typeof scope & { purposes?: string[] } = scope) =>
        whatStopEnded(ledger, stop, outcome(withdrawn), s, purposes, 'de');
      assert.deepEqual(await ended(['news', 'orders']), { kind: 'consent' });
      assert.deepEqual(await ended(['orders']), { kind: 'no-consent' });
      assert.deepEqual(await ended([]), { kind: 'nothing' });
      assert.deepEqual(await ended([], { ...scope, purposes: ['news'] }), { kind: 'nothing', purposes: 'Neuigkeiten' });
      // Delivered again: the withdrawal on record is this message's, so it is confirmed as the first time.
      records.news = { purpose: 'news', withdrawalMessageId: 'wamid.S' };
      assert.deepEqual(await ended([]), { kind: 'consent' });
      records.news = { purpose: 'news', withdrawalMessageId: 'wamid.EARLIER' };
      assert.deepEqual(await ended([]), { kind: 'nothing' });
    });

    it("names the sign-up keyword in the reader's language: the node's own, else the first opt-in-flow's", () => {
      assert.equal(signUpKeywordFor('de', undefined, []), undefined);
      assert.equal(signUpKeywordFor('en', '  ', []), undefined);
      // An opt-in-flow with the default start keywords (START, SUBSCRIBE, ANMELDEN, STARTEN).
      assert.equal(signUpKeywordFor('de', '', ['']), 'ANMELDEN');
      assert.equal(signUpKeywordFor('en', undefined, [undefined]), 'START');
      assert.equal(signUpKeywordFor('de', undefined, ['Los, Anmelden', 'NEWS']), 'Anmelden');
      assert.equal(signUpKeywordFor('en', undefined, ['Los, Anmelden']), 'Los', 'none in English: the first');
      assert.equal(signUpKeywordFor('en', 'ANMELDEN, SIGN UP', ['START']), 'SIGN UP');
      assert.equal(signUpKeywordFor('en', 'NEWS', ['START']), 'NEWS', "the node's own wins");
    });

    it('parses purpose lists and finds the marketing purposes', () => {
      assert.deepEqual(parsePurposeList(' offers,news\norders, offers '), ['offers', 'news', 'orders']);
      assert.deepEqual(parsePurposeList(''), []);
      assert.deepEqual(marketingPurposeIds(PURPOSES), ['offers', 'news']);
    });
  });

  describe('withdrawForSignal with a real SQLite ledger', () => {
    let dir: string;
    let ledger: ConsentLedger;
    const actor = 'test:stop';

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'h7-stop-'));
      ledger = await ConsentLedger.open({
        backend: 'sqlite',
        sqlitePath: join(dir, 'consent.db'),
        encryptionKeys: [{ id: 'k1', key: randomBytes(32) }],
        pseudonymKey: randomBytes(32),
        purposes: PURPOSES,
      });
      for (const purpose of ['orders', 'offers', 'news']) {
        await ledger.giveConsent({ subject: PHONE, purpose, wording: `${purpose} wording`, method: 'keyword', actor });
      }
    });

    afterEach(async () => {
      await ledger.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const stop = {
      kind: 'stop' as const,
      channel: 'whatsapp-keyword' as const,
      subject: { phone: PHONE },
      keyword: 'STOP',
    };
    const metaOptOut = {
      kind: 'marketing-opt-out' as const,
      source: 'user_preferences' as const,
      subject: { phone: PHONE },
    };

    it('withdraws every purpose by default, durably before it resolves', async () => {
      const outcome = await withdrawForSignal(ledger, stop, { marketingPurposes: [], actor });
      assert.deepEqual(outcome.withdrawn.sort(), ['news', 'offers', 'orders']);
      assert.equal(outcome.suppressed, false);
      for (const purpose of ['orders', 'offers', 'news']) {
        assert.equal((await ledger.checkConsent(PHONE, purpose)).status, 'withdrawn');
      }
      const record = await ledger.getConsent(PHONE, 'orders');
      assert.equal(record?.withdrawalChannel, 'whatsapp-keyword');
      assert.equal(record?.withdrawalKeyword, 'STOP');
    });

    it('withdraws only the configured purposes when the node names some', async () => {
      const outcome = await withdrawForSignal(ledger, stop, { purposes: ['offers'], marketingPurposes: [], actor });
      assert.deepEqual(outcome.withdrawn, ['offers']);
      assert.equal((await ledger.checkConsent(PHONE, 'offers')).status, 'withdrawn');
      assert.equal((await ledger.checkConsent(PHONE, 'orders')).allowed, true);
    });

    it("withdraws only the marketing purposes on Meta's opt-out signal", async () => {
      const outcome = await withdrawForSignal(ledger, metaOptOut, {
        marketingPurposes: marketingPurposeIds(PURPOSES),
        actor,
      });
      assert.deepEqual(outcome.withdrawn.sort(), ['news', 'offers']);
      assert.equal((await ledger.checkConsent(PHONE, 'orders')).allowed, true);
      assert.equal((await ledger.getConsent(PHONE, 'offers'))?.withdrawalChannel, 'meta-marketing-optout');
    });

    it('withdraws nothing and says why when no purpose is marked as marketing', async () => {
      const signal = {
        kind: 'marketing-opt-out' as const,
        source: 'status-131050' as const,
        subject: { phone: PHONE },
      };
      const outcome = await withdrawForSignal(ledger, signal, { marketingPurposes: [], actor });
      assert.deepEqual(outcome, { withdrawn: [], suppressed: false, skipped: 'no-marketing-purpose' });
      assert.equal((await ledger.checkConsent(PHONE, 'offers')).allowed, true);
    });

    it('stores nothing about an erased subject, only that her opt-out came', async () => {
      await ledger.eraseSubject(PHONE, actor);
      const outcome = await withdrawForSignal(ledger, stop, { marketingPurposes: [], actor });
      assert.deepEqual(outcome, { withdrawn: [], suppressed: true });
      const after = await ledger.exportSubject(PHONE, actor);
      assert.equal(after.consents.length, 0);
      assert.equal(after.subject, undefined);
      const withdrawals = after.auditEvents.filter((e) => e.action === 'consent.withdrawn');
      assert.deepEqual(
        withdrawals.map((e) => e.outcome),
        ['erased'],
      );
    });

    it("stores nothing about an erased subject on Meta's marketing opt-out either", async () => {
      await ledger.eraseSubject(PHONE, actor);
      const outcome = await withdrawForSignal(ledger, metaOptOut, {
        marketingPurposes: marketingPurposeIds(PURPOSES),
        actor,
      });
      assert.deepEqual(outcome, { withdrawn: [], suppressed: true });
      const after = await ledger.exportSubject(PHONE, actor);
      assert.equal(after.consents.length, 0);
      assert.equal(after.subject, undefined);
      assert.deepEqual(
        after.auditEvents.filter((e) => e.action === 'consent.withdrawn').map((e) => e.outcome),
        ['erased'],
      );
    });

    it("ends every consent of a number its owner left, whatever the node's purposes, and objects to nothing", async () => {
      const moved = {
        kind: 'number-changed' as const,
        subject: { phone: PHONE },
        newWaId: '4917612345678',
        messageId: 'wamid.moved',
      };
      const outcome = await withdrawForSignal(ledger, moved, { purposes: ['offers'], marketingPurposes: [], actor });
      assert.deepEqual(outcome.withdrawn.sort(), ['news', 'offers', 'orders']);
      for (const purpose of ['orders', 'offers', 'news']) {
        const record = await ledger.getConsent(PHONE, purpose);
        assert.equal(record?.status, 'withdrawn');
        assert.equal(record?.withdrawalChannel, 'whatsapp-number-change');
      }
      // The new number agreed to nothing yet.
      assert.equal((await ledger.checkConsent('+4917612345678', 'offers')).status, 'none');
    });

    it('is harmless for a second STOP', async () => {
      await withdrawForSignal(ledger, stop, { marketingPurposes: [], actor });
      const again = await withdrawForSignal(ledger, stop, { marketingPurposes: [], actor });
      assert.deepEqual(again, { withdrawn: [], suppressed: false });
    });
  });
});

describe('conversation/stop: staffWithdrawalOf', () => {
  it("reads a number staff write nationally in the store's country, and refuses it without one", () => {
    assert.deepEqual(staffWithdrawalOf({ withdraw: { phone: '0151 23456789' } }, 'DE').subject, {
      phone: '+4915123456789',
    });
    assert.throws(
      () => staffWithdrawalOf({ withdraw: { phone: '0151 23456789' } }),
      (err: unknown) => (err as { code?: string }).code === 'invalid-phone',
    );
  });
});

describe('conversation/stop: a withdrawal of every consent in her own words', () => {
  const purposes = [
    { id: 'news', label: 'Newsletter', marketing: true },
    { id: 'surveys', label: 'Surveys', labels: { de: 'Umfragen' }, marketing: false },
    { id: 'orders', label: 'Order updates', marketing: false },
  ];

  it('ends the marketing purposes, and for a withdrawal of every consent those resting on consent too', () => {
    const scope = { marketingPurposes: ['news'], consentPurposes: ['news', 'surveys'] };
    assert.deepEqual(objectionTargets({ kind: 'marketing-objection', reach: 'advertising' }, scope), ['news']);
    assert.deepEqual(objectionTargets({ kind: 'marketing-objection', reach: 'every-consent' }, scope), [
      'news',
      'surveys',
    ]);
    // Meta's marketing opt-out is about marketing only, whatever reach a caller passes.
    assert.deepEqual(objectionTargets({ kind: 'marketing-opt-out', reach: 'every-consent' }, scope), ['news']);
  });

  it("answers in the package's words naming what ended, in German and English, whatever the node's own text", () => {
    const own = { de: 'Keine Werbung mehr; Bestell-Updates erhalten Sie weiter.', en: 'No more ads.' };
    assert.equal(
      objectionReplyText('de', own, purposes, true, ['news', 'surveys']),
      'Wir haben Ihren Widerruf erhalten: Sie erhalten von uns keine Nachrichten mehr, für die wir Ihre Einwilligung benötigen (Newsletter, Umfragen). Wenn Sie auch unsere übrigen Nachrichten nicht mehr erhalten möchten, antworten Sie mit STOP.',
    );
    assert.equal(
      objectionReplyText('en', own, purposes, false, ['news', 'surveys']),
      'We have received your withdrawal: you will receive no more messages from us that need your consent (Newsletter, Surveys).',
    );
    // An objection to advertising keeps the node's own text.
    assert.equal(objectionReplyText('en', own, purposes, true), 'No more ads.');
  });
});
