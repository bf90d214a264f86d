import assert from 'node:assert/strict';
import type { LedgerHandle } from '../../lib/consent/threaded-ledger';
import { DEFAULT_ERASURE_NOTICE, DEFAULT_ERASURE_QUESTION } from '../../lib/conversation/dsr';
import { GdprWhatsAppError } from '../../lib/errors';
import { Sandbox } from '../../lib/sandbox/sandbox';
import { type RunningSandboxServer, startSandboxServer } from '../../lib/sandbox/server';
import consentStoreNode, { type ConsentStoreNode } from '../../nodes/consent-store';
import eraseSubjectNode from '../../nodes/erase-subject';
import configNode from '../../nodes/whatsapp-config';
import sendNode from '../../nodes/whatsapp-send';
import { helper } from '../helpers/node-red';
import { collect, type Msg, next, storeCredentials, storeNode, tempDir } from './consent-fixtures';

const PHONE_NUMBER_ID = '109876543210111';
const ACCESS_TOKEN = 'token-for-erase-tests';
const ERIKA = '+4915123456789';
const JOHN = '+14155550123';

type Report = { found: boolean; removed: Record<string, number>; total: number; pseudonym: string; origin: string };

/** A normalised inbound message as whatsapp-webhook emits it on output 1, sent now unless said otherwise. */
function inbound(from: string, text: string, messageId: string, sentAtMs = Date.now()): Msg {
  return {
    payload: text,
    whatsapp: {
      from,
      waId: from.slice(1),
      messageId,
      timestamp: Math.floor(sentAtMs / 1000),
      type: 'text',
      text,
      phoneNumberId: PHONE_NUMBER_ID,
    },
  };
}

async function give(ledger: LedgerHandle, phone: string, purpose = 'news'): Promise<void> {
  await ledger.giveConsent({
    subject: phone,
    purpose,
    wording: 'Send me the newsletter on WhatsApp.',
    method: 'keyword',
    actor: 'test',
  });
  await ledger.recordNoticeShown(phone, 'v1', { actor: 'test' });
  await ledger.recordInbound(phone);
}

describe('erase-subject node', () => {
  let dir: ReturnType<typeof tempDir>;
  let sandbox: Sandbox;
  let server: RunningSandboxServer;

  before(async () => {
    sandbox = new Sandbox();
    server = await startSandboxServer({ sandbox });
    sandbox.registerNumber({
      phoneNumberId: PHONE_NUMBER_ID,
      displayPhoneNumber: '+49 30 1234567',
      accessToken: ACCESS_TOKEN,
      appSecret: 'unused-here',
      webhookUrls: () => [],
    });
  });

  after(async () => {
    await server.close();
    sandbox.close();
  });

  beforeEach(() => {
    dir = tempDir();
    sandbox.reset();
  });

  afterEach(async () => {
    await helper.unload();
    dir.remove();
  });

  async function load(erase: Record<string, unknown> = {}, extra: Record<string, unknown>[] = []): Promise<void> {
    const flow = [
      { id: 'f1', type: 'tab', label: 'erase subject' },
      storeNode('store', dir.path),
      {
        id: 'cfg',
        type: 'whatsapp-config',
        mode: 'cloud',
        apiBaseUrl: server.url,
        apiVersion: 'v25.0',
        phoneNumberId: PHONE_NUMBER_ID,
      },
      {
        id: 'erase',
        z: 'f1',
        type: 'erase-subject',
        store: 'store',
        wires: [['report'], ['send'], ['other']],
        ...erase,
      },
      { id: 'send', z: 'f1', type: 'whatsapp-send', whatsapp: 'cfg', wires: [['sent'], ['failed']] },
      { id: 'report', z: 'f1', type: 'helper' },
      { id: 'other', z: 'f1', type: 'helper' },
      { id: 'sent', z: 'f1', type: 'helper' },
      { id: 'failed', z: 'f1', type: 'helper' },
      { id: 'catcher', z: 'f1', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'f1', type: 'helper' },
      ...extra.map((n) => ({ z: 'f1', ...n })),
    ];
    const credentials = { store: storeCredentials(), cfg: { accessToken: ACCESS_TOKEN } };
    await helper.load([consentStoreNode, eraseSubjectNode, configNode, sendNode] as never, flow as never, credentials);
  }

  function ledger(): Promise<LedgerHandle> {
    return (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
  }

  it('erases a subject named by number, reports the counts and leaves only the suppression entry', async () => {
    await load();
    const store = await ledger();
    await give(store, ERIKA);
    await give(store, JOHN);
    const reported = next('report');
    helper.getNode('erase').receive({ payload: '0049 151 23456789' });
    const report = (await reported).payload as Report;
    assert.equal(report.found, true);
    assert.equal(report.origin, 'request');
    // Her record (number and inbound time), her consent and her notice.
    assert.deepEqual(report.removed, { subjects: 1, consents: 1, consentHistory: 0, notices: 1, aliases: 0 });
    assert.equal(report.total, 3);
    assert.match(report.pseudonym, /^[A-Za-z0-9_-]{16,}$/);
    assert.doesNotMatch(JSON.stringify(report), /4915123456789/);

    const check = await store.checkConsent(ERIKA, 'news');
    assert.equal(check.allowed, false);
    assert.equal(check.status, 'erased');
    assert.equal(await store.isSuppressed(ERIKA), true);
    assert.equal(await store.hasSeenNotice(ERIKA, 'v1'), false);
    assert.equal(await store.lastInboundAt(ERIKA), undefined);
    const exported = await store.exportSubject(ERIKA, 'test');
    assert.equal(exported.found, false);
    assert.equal(exported.subject, undefined);
    assert.deepEqual(exported.consents, []);
    // Somebody else is untouched.
    assert.equal((await store.checkConsent(JOHN, 'news')).allowed, true);
  });

  it('records who on staff handled the request in the audit and the report, and keeps it out of exports', async () => {
    await load();
    const store = await ledger();
    await give(store, ERIKA);
    // Staff export first: the access is recorded with their name, the export itself does not show it.
    const exported = await store.exportSubject(ERIKA, 'export-subject:x:request', {
      requestedBy: 'Jana K., ticket 4711',
    });
    // 4711 as a word of its own: a millisecond time may hold those digits (1796540074711 did, once in CI).
    assert.doesNotMatch(JSON.stringify(exported), /Jana|(?<!\d)4711(?!\d)/);
    const reported = next('report');
    helper.getNode('erase').receive({ payload: ERIKA, requestedBy: 'Jana K., ticket 4711' });
    const report = (await reported).payload as Report & { requestedBy?: string };
    assert.equal(report.requestedBy, 'Jana K., ticket 4711');
    const lines: { action: string; detail?: { requestedBy?: string } }[] = [];
    for await (const line of store.exportAudit()) lines.push(JSON.parse(line));
    const dsr = lines.filter((e) => String(e.action).startsWith('dsr.'));
    assert.deepEqual(
      dsr.map((e) => [e.action, e.detail?.requestedBy]),
      [
        ['dsr.access_fulfilled', 'Jana K., ticket 4711'],
        ['dsr.erasure_executed', 'Jana K., ticket 4711'],
      ],
    );
  });

  it('refuses a requestedBy that is no one-line name, and erases nothing', async () => {
    await load();
    const store = await ledger();
    await give(store, ERIKA);
    for (const requestedBy of [
      'line one\nline two',
      'x'.repeat(129),
      42,
      '   ',
      'Jana\u2028K.',
      'Jana \u202eK.',
      'Ticket 1: Erika, +49 170 1234567',
    ]) {
      const caught = next('caught');
      helper.getNode('erase').receive({ payload: ERIKA, requestedBy });
      assert.match(String(((await caught).error as { message: string }).message), /requestedBy/);
    }
    assert.equal((await store.checkConsent(ERIKA, 'news')).allowed, true);
  });

  it('erases a subject named by business-scoped user id', async () => {
    await load();
    const store = await ledger();
    await store.giveConsent({
      subject: { userId: 'DE.1502576394655843' },
      purpose: 'news',
      wording: 'Send me the newsletter on WhatsApp.',
      method: 'keyword',
      actor: 'test',
    });
    const reported = next('report');
    helper.getNode('erase').receive({ payload: { userId: 'DE.1502576394655843' } });
    assert.equal(((await reported).payload as Report).found, true);
    assert.equal((await store.checkConsent({ userId: 'DE.1502576394655843' }, 'news')).status, 'erased');
  });

  it("refuses staff's request naming one person's number and another's user id, and erases nothing", async () => {
    await load();
    const store = await ledger();
    const wording = 'Send me the newsletter on WhatsApp.';
    for (const subject of [
      { phone: ERIKA, userId: 'DE.1502576394655843' },
      { phone: JOHN, userId: 'US.13491208655302741918' },
    ]) {
      await store.giveConsent({ subject, purpose: 'news', wording, method: 'keyword', actor: 'test' });
    }
    const reports = collect('report');
    const caught = next('caught');
    helper.getNode('erase').receive({ payload: { phone: JOHN, userId: 'DE.1502576394655843' } });
    const error = (await caught).error as { message: string };
    assert.match(error.message, /user id belongs to another number/);
    assert.equal(reports.length, 0);
    for (const subject of [ERIKA, JOHN, { userId: 'DE.1502576394655843' }]) {
      assert.equal((await store.checkConsent(subject, 'news')).allowed, true, JSON.stringify(subject));
    }
  });

  it('reports an unknown subject as found:false, not as an error', async () => {
    await load();
    const caught = collect('caught');
    const reported = next('report');
    helper.getNode('erase').receive({ payload: { phone: JOHN } });
    const report = (await reported).payload as Report;
    assert.equal(report.found, false);
    assert.equal(report.total, 0);
    assert.equal(caught.length, 0);
    assert.equal(await (await ledger()).isSuppressed(JOHN), true);
  });

  for (const [what, payload, reason] of [
    ['no subject', { name: 'Erika' }, /No phone number or WhatsApp user id given/],
    ['an invalid number', '12345', /not a valid international number/],
    ['a malformed user id', { userId: 'not-a-bsuid' }, /not a business-scoped user id/],
  ] as const) {
    it(`rejects ${what} through a Catch node with a clear reason and erases nothing`, async () => {
      await load();
      const store = await ledger();
      await give(store, ERIKA);
      const reports = collect('report');
      const caught = next('caught');
      helper.getNode('erase').receive({ payload });
      const msg = await caught;
      assert.equal((msg.error as { source: { id: string } }).source.id, 'erase');
      const message = String((msg.error as { message: string }).message);
      assert.match(message, reason);
      assert.doesNotMatch(message, /12345/);
      assert.equal(reports.length, 0);
      assert.equal((await store.checkConsent(ERIKA, 'news')).allowed, true);
      assert.equal(await store.isSuppressed(ERIKA), false);
    });
  }

  it('fails with no-consent-store when the store is missing', async () => {
    await load({ store: 'nowhere' });
    const caught = next('caught');
    helper.getNode('erase').receive({ payload: ERIKA });
    const error = (await caught).error as { message: string };
    assert.match(error.message, /consent store/i);
  });

  describe('keyword mode', () => {
    it('erases the sender of "Daten löschen" and passes other messages on output 3 untouched', async () => {
      await load({ keywordMode: true });
      const store = await ledger();
      await give(store, ERIKA);
      const others = collect('other');
      const reports = collect('report');

      const hello = inbound(ERIKA, 'Hallo, wann kommt mein Paket?', 'wamid.in1');
      const passed = next('other');
      helper.getNode('erase').receive(hello);
      assert.equal((await passed).payload, 'Hallo, wann kommt mein Paket?');
      // Someone else's number in the text is just text.
      helper.getNode('erase').receive(inbound(JOHN, ERIKA, 'wamid.in2'));
      const reported = next('report');
      helper.getNode('erase').receive(inbound(ERIKA, 'Daten löschen!', 'wamid.in3'));
      const reportMsg = await reported;
      const report = reportMsg.payload as Report;
      assert.equal(report.found, true);
      assert.equal(report.origin, 'inbound');
      // The report may go to logs: the person's message (number, name, text) does not travel with it.
      assert.equal(reportMsg.whatsapp, undefined);
      assert.doesNotMatch(JSON.stringify(reportMsg), /4915123456789|Daten löschen/);
      assert.equal(others.length, 2);
      assert.equal(reports.length, 1);
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'erased');
    });

    it('erases nothing on "Löschen" alone: the message goes on output 3 marked to ask for DATEN LÖSCHEN', async () => {
      await load({ keywordMode: true });
      const store = await ledger();
      await give(store, ERIKA);
      const passed = next('other');
      helper.getNode('erase').receive(inbound(ERIKA, 'Löschen', 'wamid.one-word'));
      const msg = await passed;
      assert.deepEqual(msg.erase, {
        kind: 'confirm-first',
        keyword: 'LÖSCHEN',
        confirmWith: 'DATEN LÖSCHEN',
        language: 'de',
      });
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'given', 'nothing erased');
    });

    it('marks a request put in other words for a person to read, and erases nothing', async () => {
      await load({ keywordMode: true });
      const store = await ledger();
      await give(store, ERIKA);
      const passed = next('other');
      helper.getNode('erase').receive(inbound(ERIKA, 'Bitte löschen Sie meine Nummer', 'wamid.other-words'));
      assert.deepEqual((await passed).erase, { kind: 'possible-request', hint: 'LOESCH', about: 'erasure' });
      // What it asks for, so that the flow's answer can offer that first.
      for (const [text, about] of [
        ['Welche Daten haben Sie über mich gespeichert?', 'access'],
        ['What data do you hold about me?', 'access'],
        ['Was wissen Sie über mich? Bitte alles löschen.', 'erasure'],
        ['Thema DSGVO', 'unclear'],
      ]) {
        const asked = next('other');
        helper.getNode('erase').receive(inbound(ERIKA, text, `wamid.${about}-${text.length}`));
        assert.equal(((await asked).erase as { about?: string }).about, about, text);
      }
      const plain = next('other');
      helper.getNode('erase').receive(inbound(ERIKA, 'Wann kommt mein Paket?', 'wamid.plain'));
      assert.equal((await plain).erase, undefined);
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'given', 'nothing erased');
    });

    it('marks a request in the caption of a picture or file, as stop-handler reads a possible opt-out there', async () => {
      await load({ keywordMode: true });
      const passed = next('other');
      const photo = inbound(ERIKA, '', 'wamid.caption');
      photo.payload = '';
      const whatsapp = photo.whatsapp as Record<string, unknown>;
      whatsapp.type = 'image';
      delete whatsapp.text;
      whatsapp.media = { id: 'media-1', mimeType: 'image/jpeg', caption: 'Bitte löschen Sie alles von mir' };
      helper.getNode('erase').receive(photo);
      assert.deepEqual((await passed).erase, { kind: 'possible-request', hint: 'LOESCH', about: 'erasure' });
    });

    it('erases on a one-word keyword when the configured list names the data with none', async () => {
      await load({ keywordMode: true, keywords: 'ENTFERNEN' });
      const store = await ledger();
      await give(store, ERIKA);
      const reported = next('report');
      helper.getNode('erase').receive(inbound(ERIKA, 'Entfernen', 'wamid.only-word'));
      assert.equal(((await reported).payload as Report).found, true);
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'erased');
    });

    it('uses the configured keywords instead of the defaults', async () => {
      await load({ keywordMode: true, keywords: 'VERGISS MICH' });
      const passed = next('other');
      helper.getNode('erase').receive(inbound(ERIKA, 'Daten löschen', 'wamid.in4'));
      await passed;
      const reported = next('report');
      helper.getNode('erase').receive(inbound(ERIKA, 'vergiss mich', 'wamid.in5'));
      assert.equal(((await reported).payload as Report).origin, 'inbound');
    });
  });

  describe('telling the person (through whatsapp-send to the sandbox)', () => {
    it('sends the German text to a German number once the erasure is done', async () => {
      await load({ keywordMode: true, notify: true });
      const store = await ledger();
      await give(store, ERIKA);
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: ERIKA.slice(1) }, { text: 'DATEN LÖSCHEN' });
      const order: string[] = [];
      const statusAtNotice: Promise<string>[] = [];
      helper.getNode('send').on('input', () => {
        order.push('notice');
        statusAtNotice.push(store.checkConsent(ERIKA, 'news').then((c) => c.status));
      });
      helper.getNode('report').on('input', () => order.push('report'));
      const sent = next('sent');
      const reported = next('report');
      helper.getNode('erase').receive(inbound(ERIKA, 'DATEN LÖSCHEN', 'wamid.in6'));
      await Promise.all([sent, reported]);
      assert.deepEqual(order, ['notice', 'report']);
      assert.deepEqual(await Promise.all(statusAtNotice), ['erased'], 'the notice leaves after the erasure');
      const [accepted] = sandbox.accepted(PHONE_NUMBER_ID);
      assert.equal(accepted.waId, ERIKA.slice(1));
      const body = accepted.body as { type: string; text: { body: string } };
      assert.equal(body.type, 'text');
      assert.ok(body.text.body.startsWith(DEFAULT_ERASURE_NOTICE.de), body.text.body);
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'erased');
    });

    it('tells a German number that wrote DELETE MY DATA in English', async () => {
      await load({ keywordMode: true, notify: true });
      const store = await ledger();
      await give(store, ERIKA);
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: ERIKA.slice(1) }, { text: 'Please delete my data' });
      const sent = next('sent');
      helper.getNode('erase').receive(inbound(ERIKA, 'Please delete my data', 'wamid.in-en'));
      await sent;
      const [accepted] = sandbox.accepted(PHONE_NUMBER_ID);
      const body = accepted.body as { text: { body: string } };
      assert.ok(body.text.body.startsWith(DEFAULT_ERASURE_NOTICE.en), body.text.body);
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'erased');
    });

    it('asks a person who wrote "Löschen" to confirm with DATEN LÖSCHEN, in German, and erases only then', async () => {
      await load({ keywordMode: true, notify: true });
      const store = await ledger();
      await give(store, ERIKA);
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: ERIKA.slice(1) }, { text: 'Löschen' });
      const asked = next('sent');
      helper.getNode('erase').receive(inbound(ERIKA, 'Löschen', 'wamid.ask'));
      await asked;
      const [question] = sandbox.accepted(PHONE_NUMBER_ID);
      const body = question.body as {
        interactive: { body: { text: string }; action: { buttons: { reply: { id: string; title: string } }[] } };
      };
      assert.equal(body.interactive.body.text, DEFAULT_ERASURE_QUESTION.de('DATEN LÖSCHEN'), 'no opt-out footer');
      assert.deepEqual(body.interactive.action.buttons[0].reply, { id: 'DATEN LÖSCHEN', title: 'DATEN LÖSCHEN' });
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'given', 'nothing erased yet');
      // A typed "Ja" is no answer to it: it goes on, and erases nothing.
      const passed = next('other');
      helper.getNode('erase').receive(inbound(ERIKA, 'Ja', 'wamid.ja'));
      await passed;
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'given');
      // Her tap on the button erases.
      const reported = next('report');
      const tap = inbound(ERIKA, 'DATEN LÖSCHEN', 'wamid.confirmed');
      tap.whatsapp = {
        ...(tap.whatsapp as Record<string, unknown>),
        type: 'interactive',
        text: undefined,
        interactive: { type: 'button_reply', id: 'DATEN LÖSCHEN', title: 'DATEN LÖSCHEN' },
      };
      helper.getNode('erase').receive(tap);
      assert.equal(((await reported).payload as Report).found, true);
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'erased');
    });

    it("asks with the node's own question, the keyword where {keyword} stands; without it, with the default", async () => {
      // questionEn as a flow written by hand could hold it: it would not say what to send.
      await load({
        keywordMode: true,
        keywords: 'DELETE MY DATA, DATEN LÖSCHEN, LÖSCHEN, DELETE',
        notify: true,
        questionDe: 'Sollen wir wirklich alles löschen? Dann tippen Sie auf {keyword} oder schreiben Sie {keyword}.',
        questionEn: 'Really delete everything?',
      });
      const logged = (helper.log() as unknown as { args: [{ msg: unknown }][] }).args.map(([e]) => String(e.msg));
      assert.equal(logged.filter((line) => line.includes('question-without-keyword')).length, 1, 'one warning, for en');
      const questionTo = async (phone: string) => {
        await sandbox.customerSends(PHONE_NUMBER_ID, { waId: phone.slice(1) }, { text: 'hi' });
        const asked = next('sent');
        helper.getNode('erase').receive(inbound(phone, phone === ERIKA ? 'Löschen' : 'Delete', `wamid.${phone}`));
        await asked;
        const message = sandbox.accepted(PHONE_NUMBER_ID).find((m) => m.waId === phone.slice(1));
        assert.ok(message, `a question to ${phone}`);
        return (message.body as { interactive: { body: { text: string } } }).interactive.body.text;
      };
      assert.equal(
        await questionTo(ERIKA),
        'Sollen wir wirklich alles löschen? Dann tippen Sie auf DATEN LÖSCHEN oder schreiben Sie DATEN LÖSCHEN.',
      );
      assert.equal(await questionTo(JOHN), DEFAULT_ERASURE_QUESTION.en('DELETE MY DATA'));
    });

    it('sends a question the keyword made too long for a button body as text alone, whole', async () => {
      // 1,024 characters in the dialog; "DATEN LÖSCHEN" is four longer than "{keyword}", twice.
      const questionDe = `Sollen wir alles löschen? Schreiben Sie {keyword}. ${'x'.repeat(957)} Also: {keyword}`;
      assert.equal(questionDe.length, 1024);
      await load({ keywordMode: true, notify: true, questionDe });
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: ERIKA.slice(1) }, { text: 'Löschen' });
      const asked = next('sent');
      helper.getNode('erase').receive(inbound(ERIKA, 'Löschen', 'wamid.long'));
      await asked;
      const [question] = sandbox.accepted(PHONE_NUMBER_ID);
      const body = question.body as { type: string; text: { body: string } };
      assert.equal(body.type, 'text');
      assert.equal(body.text.body, questionDe.split('{keyword}').join('DATEN LÖSCHEN'));
      assert.equal(body.text.body.length, 1032);
    });

    it('sends English to other numbers, or when msg.language asks for it, and the configured text when set', async () => {
      await load({ notify: true, noticeEn: 'Your data is being deleted.' });
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: JOHN.slice(1) }, { text: 'hi' });
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: ERIKA.slice(1) }, { text: 'hi' });
      const sent = collect('sent');
      const reports = collect('report');
      helper.getNode('erase').receive({ payload: JOHN });
      helper.getNode('erase').receive({ payload: ERIKA, language: 'en' });
      for (let i = 0; i < 500 && (sent.length < 2 || reports.length < 2); i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const texts = sandbox
        .accepted(PHONE_NUMBER_ID)
        .map((m) => `${m.waId}:${(m.body as { text: { body: string } }).text.body}`)
        .sort();
      assert.equal(texts.length, 2);
      // Exactly the notice: no "Reply STOP to unsubscribe" footer on a goodbye.
      assert.equal(texts[0], `${JOHN.slice(1)}:Your data is being deleted.`);
      assert.equal(texts[1], `${ERIKA.slice(1)}:Your data is being deleted.`);
    });

    /** Erika's number, after she moved and WhatsApp gave it to someone who signed up and wrote in since. */
    async function numberWithNextHolder(): Promise<LedgerHandle> {
      await load({ notify: true });
      const store = await ledger();
      await give(store, ERIKA);
      await store.numberChanged({ phone: ERIKA, actor: 'test' });
      await give(store, ERIKA);
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: ERIKA.slice(1) }, { text: 'hi' });
      return store;
    }

    it("tells nobody when staff erase the previous holder's part of a number: the number is someone else's now", async () => {
      const store = await numberWithNextHolder();
      const sends = collect('send');
      const reported = next('report');
      helper.getNode('erase').receive({ payload: { phone: ERIKA, beforeNumberChange: true } });
      const report = (await reported).payload as Report & { beforeNumberChange?: boolean };
      assert.equal(report.found, true);
      assert.equal(report.beforeNumberChange, true);
      assert.equal(sends.length, 0);
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'given', 'the next holder keeps his consent');
    });

    it("refuses a user id given with the previous holder's part, and erases nothing", async () => {
      const store = await numberWithNextHolder();
      const caught = next('caught');
      helper.getNode('erase').receive({ payload: { phone: ERIKA, userId: 'DE.1234567890', beforeNumberChange: true } });
      assert.match(
        String(((await caught).error as { message?: string } | undefined)?.message),
        /user id in a request of its own/,
      );
      const hers = await store.exportSubject(ERIKA, 'test', { beforeNumberChange: true });
      assert.equal(hers.found, true, 'her part is still there');
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'given');
    });

    it('erases only her part when her keyword, sent before the number changed hands, arrives after', async () => {
      const store = await numberWithNextHolder();
      const sends = collect('send');
      const reported = next('report');
      const sentBeforeMove = Date.now() - 15 * 60_000;
      helper.getNode('erase').receive(inbound(ERIKA, 'Daten löschen', 'wamid.late1', sentBeforeMove));
      const report = (await reported).payload as Report & { beforeNumberChange?: boolean };
      assert.equal(report.found, true);
      assert.equal(report.beforeNumberChange, true);
      assert.equal(sends.length, 0, 'the next holder is not told about an erasure he did not ask for');
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'given', 'the next holder keeps his consent');
      assert.equal(await store.isSuppressed(ERIKA), false, 'his number is not on the erasure list');
      const hers = await store.exportSubject(ERIKA, 'test', { beforeNumberChange: true });
      assert.deepEqual([hers.consents.length, hers.history.length, hers.notices.length], [0, 0, 0]);
      assert.ok(
        (helper.log() as unknown as { args: [{ msg: unknown }][] }).args.some(([e]) =>
          String(e.msg).includes('late-request'),
        ),
      );
    });

    it('puts the number she moved to on the erasure list as of when she asked, leaving a sign-up made since', async () => {
      await load({ notify: true });
      const store = await ledger();
      const ERIKA_NEW = '+4917612345678';
      await give(store, ERIKA);
      await store.numberChanged({ phone: ERIKA, newPhone: ERIKA_NEW, actor: 'test' });
      const reported = next('report');
      helper.getNode('erase').receive(inbound(ERIKA, 'Daten löschen', 'wamid.late2', Date.now() - 15 * 60_000));
      assert.equal(((await reported).payload as Report & { beforeNumberChange?: boolean }).beforeNumberChange, true);
      assert.equal(await store.isSuppressed(ERIKA_NEW), true, 'as a request before the move would have done');
      assert.equal((await store.checkConsent(ERIKA_NEW, 'news')).allowed, false);
      assert.equal(await store.isSuppressed(ERIKA), false, "the old number is someone else's");
      // Listed as of when she asked: a START she sent before that and Meta delivers now signs her up for nothing, one
      // she sent after it does.
      const start = (inboundAt: number) =>
        store.giveConsent({
          subject: ERIKA_NEW,
          purpose: 'news',
          wording: 'Send me the newsletter on WhatsApp.',
          method: 'keyword',
          inboundAt,
          actor: 'test',
        });
      await assert.rejects(start(Date.now() - 20 * 60_000), (err: GdprWhatsAppError) => err.code === 'superseded');
      assert.equal((await store.checkConsent(ERIKA_NEW, 'news')).allowed, false);
      await start(Date.now() - 10 * 60_000);
      assert.equal((await store.checkConsent(ERIKA_NEW, 'news')).status, 'given');
    });

    it('erases her part of the number she moved from too when she asks from her new one', async () => {
      await load({ notify: true });
      const store = await ledger();
      const ERIKA_NEW = '+4917612345678';
      await give(store, ERIKA);
      await store.numberChanged({ phone: ERIKA, newPhone: ERIKA_NEW, actor: 'test' });
      // The old number's next holder signs up, a moment later: within the move's millisecond it would be hers.
      await new Promise((resolve) => setTimeout(resolve, 5));
      await store.giveConsent({ subject: ERIKA, purpose: 'news', wording: 'News.', method: 'keyword', actor: 'test' });
      const reported = next('report');
      helper.getNode('erase').receive(inbound(ERIKA_NEW, 'Daten löschen', 'wamid.new1', Date.now() + 11 * 60_000));
      const report = (await reported).payload as Report & { earlierNumbers?: { count: number; total: number } };
      assert.equal(report.earlierNumbers?.count, 1);
      assert.equal(
        report.earlierNumbers?.total,
        3,
        'her consent, archived when he signed up, her notice, and the wording she agreed to (he agreed to another)',
      );
      assert.ok(!JSON.stringify(report).includes(ERIKA.slice(1)), 'the report names no number');
      const hers = await store.exportSubject(ERIKA, 'test', { beforeNumberChange: true });
      assert.deepEqual([hers.consents.length, hers.history.length, hers.notices.length], [0, 0, 0]);
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'given', 'the next holder keeps his consent');
      assert.equal(await store.isSuppressed(ERIKA), false, 'his number is not on the erasure list');
      assert.equal(await store.isSuppressed(ERIKA_NEW), true);
    });

    it('erases the present holder and tells him when he sends the keyword after the move', async () => {
      const store = await numberWithNextHolder();
      const sent = next('sent');
      const reported = next('report');
      // Past the clocks' margin after the move: his own message.
      helper.getNode('erase').receive(inbound(ERIKA, 'Daten löschen', 'wamid.own1', Date.now() + 11 * 60_000));
      const report = (await reported).payload as Report & { beforeNumberChange?: boolean };
      assert.equal(report.found, true);
      assert.equal(report.beforeNumberChange, undefined);
      await sent;
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'erased');
      assert.equal(await store.isSuppressed(ERIKA), true);
    });

    it('asks staff whose data to erase when the number changed hands, and erases nothing until told', async () => {
      const store = await numberWithNextHolder();
      const sends = collect('send');
      const caught = next('caught');
      helper.getNode('erase').receive({ payload: ERIKA });
      assert.match(
        String(((await caught).error as { message?: string } | undefined)?.message),
        /passed to another person/,
      );
      assert.equal(sends.length, 0);
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'given', 'nothing erased');

      const reported = next('report');
      helper.getNode('erase').receive({ payload: { phone: ERIKA, beforeNumberChange: false } });
      assert.equal(((await reported).payload as Report).found, true);
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'erased', 'the present holder, as asked');
    });

    it('tells nobody while the erasure fails, so retries of the request send no notices', async () => {
      await load({ notify: true });
      const store = await ledger();
      await give(store, ERIKA);
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: ERIKA.slice(1) }, { text: 'hi' });
      const sends = collect('send');
      const caught = collect('caught');
      // The database failing during the erasure (the ledger object is the one the node uses).
      const eraseSubject = store.eraseSubject;
      store.eraseSubject = () => Promise.reject(new GdprWhatsAppError('store-unavailable', 'database down'));
      helper.getNode('erase').receive({ payload: ERIKA });
      helper.getNode('erase').receive({ payload: ERIKA });
      for (let i = 0; i < 500 && caught.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(caught.length, 2);
      assert.equal(sends.length, 0);
      assert.equal((await store.checkConsent(ERIKA, 'news')).status, 'given');
      store.eraseSubject = eraseSubject;
      const sent = next('sent');
      helper.getNode('erase').receive({ payload: ERIKA });
      await sent;
      assert.equal(sandbox.accepted(PHONE_NUMBER_ID).length, 1, 'one notice, for the erasure that happened');
    });

    it('tells a person known by username only at her business-scoped user id, in German for DE.', async () => {
      await load({ notify: true });
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: ERIKA.slice(1), userId: 'DE.998877' }, { text: 'hi' });
      const sent = next('sent');
      const reported = next('report');
      helper.getNode('erase').receive({ payload: { userId: 'DE.998877' } });
      await Promise.all([sent, reported]);
      const [accepted] = sandbox.accepted(PHONE_NUMBER_ID);
      const body = accepted.body as { recipient?: string; to?: string; text: { body: string } };
      assert.equal(body.recipient, 'DE.998877');
      assert.equal(body.to, undefined);
      assert.equal(body.text.body, DEFAULT_ERASURE_NOTICE.de);
    });
  });
});
