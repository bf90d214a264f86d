import assert from 'node:assert/strict';
import type { LedgerHandle } from '../../lib/consent/threaded-ledger';
import type { SubjectExport } from '../../lib/consent/types';
import consentStoreNode, { type ConsentStoreNode } from '../../nodes/consent-store';
import eraseSubjectNode from '../../nodes/erase-subject';
import exportSubjectNode from '../../nodes/export-subject';
import privacyNoticeNode from '../../nodes/privacy-notice';
import { helper, nodeRedPath } from '../helpers/node-red';
import { mountHttpApps } from '../helpers/node-red-http';
import { collect, type Msg, next, storeCredentials, storeNode, tempDir } from './consent-fixtures';

const ERIKA = '+4915123456789';
const WORDING = 'Schickt mir den Newsletter per WhatsApp.';

// Node-RED's own http in / http response nodes, from the Node-RED under test.
const httpInNode = require(require.resolve('@node-red/nodes/core/network/21-httpin.js', { paths: [nodeRedPath] }));

async function auditLines(ledger: LedgerHandle): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of ledger.exportAudit()) lines.push(line);
  return lines;
}

describe('export-subject node', () => {
  let dir: ReturnType<typeof tempDir>;

  beforeEach(async () => {
    dir = tempDir();
    await helper.startServer();
  });

  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    dir.remove();
  });

  async function load(exportProps: Record<string, unknown> = {}, extra: Record<string, unknown>[] = []): Promise<void> {
    const flow = [
      { id: 'f1', type: 'tab', label: 'export subject' },
      storeNode('store', dir.path),
      { id: 'export', z: 'f1', type: 'export-subject', store: 'store', wires: [['out']], ...exportProps },
      { id: 'erase', z: 'f1', type: 'erase-subject', store: 'store', wires: [['erased'], [], []] },
      { id: 'out', z: 'f1', type: 'helper' },
      { id: 'erased', z: 'f1', type: 'helper' },
      { id: 'catcher', z: 'f1', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'f1', type: 'helper' },
      ...extra.map((n) => ({ z: 'f1', ...n })),
    ];
    await helper.load(
      [consentStoreNode, exportSubjectNode, eraseSubjectNode, privacyNoticeNode, httpInNode, mountHttpApps()] as never,
      flow as never,
      { store: storeCredentials() },
    );
  }

  async function ledger(): Promise<LedgerHandle> {
    return (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
  }

  async function seed(store: LedgerHandle): Promise<void> {
    await store.requestConsent({
      subject: ERIKA,
      purpose: 'news',
      wording: WORDING,
      language: 'de',
      method: 'web-form',
      source: 'https://example.com/anmelden',
      actor: 'test',
    });
    await store.confirmConsent({ subject: ERIKA, purpose: 'news', confirmationText: 'JA', actor: 'test' });
    await store.recordNoticeShown(ERIKA, 'notice-v1', { messageId: 'wamid.notice', actor: 'test' });
  }

  it('exports consents with wording and timestamps, notices and audit events, decrypted, and audits the export', async () => {
    await load();
    const store = await ledger();
    await seed(store);
    const out = next('out');
    helper.getNode('export').receive({ payload: { phone: '+49 151 2345 6789' } });
    const doc = (await out).payload as SubjectExport;
    assert.equal(doc.found, true);
    assert.equal(doc.subject?.phone, ERIKA);
    assert.equal(doc.consents.length, 1);
    assert.equal(doc.consents[0].status, 'given');
    assert.equal(doc.consents[0].wording, WORDING);
    assert.equal(doc.consents[0].confirmationText, 'JA');
    assert.equal(doc.consents[0].source, 'https://example.com/anmelden');
    assert.equal(typeof doc.consents[0].decidedAt, 'number');
    assert.deepEqual(
      doc.notices.map((n) => [n.noticeVersion, n.messageId]),
      [['notice-v1', 'wamid.notice']],
    );
    const actions = doc.auditEvents.map((e) => e.action);
    assert.ok(actions.includes('consent.confirmed'), actions.join());
    assert.ok(actions.includes('dsr.access_fulfilled'), actions.join());
    const exportAudit = doc.auditEvents.find((e) => e.action === 'dsr.access_fulfilled');
    assert.match(String(exportAudit?.actor), /^export-subject:export:request$/);
  });

  it('shows the proof of the double opt-in: which request, sent when and from which number, answered how', async () => {
    await load();
    const store = await ledger();
    const asked = await store.requestConsent({
      subject: ERIKA,
      purpose: 'news',
      wording: WORDING,
      language: 'de',
      method: 'web-form',
      actor: 'test',
    });
    const requestedAt = asked.requestedAt as number;
    await store.requestSent(ERIKA, 'news', 'wamid.request', {
      requestedAt,
      actor: 'test',
      phoneNumberId: '100200300500',
    });
    const answeredAt = Date.now();
    await store.confirmConsent({
      subject: ERIKA,
      confirmationText: 'Ja gerne',
      via: 'keyword',
      match: 'JA',
      phoneNumberId: '100200300500',
      sentAt: answeredAt,
      actor: 'test',
    });
    const out = next('out');
    helper.getNode('export').receive({ payload: ERIKA });
    const doc = (await out).payload as SubjectExport;
    const [consent] = doc.consents;
    assert.equal(consent.requestId, asked.requestId);
    assert.match(String(consent.requestId), /^[0-9a-f-]{36}$/);
    assert.equal(typeof consent.requestSentAt, 'number');
    assert.deepEqual(
      [consent.requestMessageId, consent.requestPhoneNumberId, consent.confirmationVia, consent.confirmationMatch],
      ['wamid.request', '100200300500', 'keyword', 'JA'],
    );
    const confirmed = doc.auditEvents.find((e) => e.action === 'consent.confirmed');
    assert.deepEqual(confirmed?.detail, {
      purposeVersion: consent.purposeVersion,
      wordingSha256: consent.wordingSha256,
      requestId: asked.requestId,
      requestedAt,
      requestSentAt: consent.requestSentAt,
      requestPhoneNumberId: '100200300500',
      answerPhoneNumberId: '100200300500',
      via: 'keyword',
      match: 'JA',
      answeredAt,
    });
  });

  it('names the integrator a privacy notice of the store lists on its policy page among the recipients', async () => {
    const notice = (id: string, store: string, providerName: string) => ({
      id,
      type: 'privacy-notice',
      store,
      servePage: false,
      policyUrl: 'https://example.com/privacy',
      providerName,
      wires: [[]],
    });
    await load({}, [
      notice('notice-1', 'store', 'Beispiel Integrationen GmbH'),
      notice('notice-2', 'store', ' Beispiel Integrationen GmbH '),
      notice('notice-3', 'other-store', 'Someone Else Ltd'),
      // Disabled, or on a disabled flow: it serves no page, and its provider is no recipient.
      { ...notice('notice-4', 'store', 'Former Provider GmbH'), d: true },
      { id: 'f2', type: 'tab', label: 'old', disabled: true, z: undefined },
      { ...notice('notice-5', 'store', 'Old Flow Provider GmbH'), z: 'f2' },
    ]);
    await seed(await ledger());
    const out = next('out');
    helper.getNode('export').receive({ payload: { phone: ERIKA } });
    const { information } = (await out).payload as SubjectExport;
    assert.deepEqual(
      information.recipients.map((r) => [r.name, r.role]),
      [
        ['Meta Platforms Ireland Limited', 'processor'],
        ['Beispiel Integrationen GmbH', 'processor'],
      ],
    );
  });

  it('records who on staff asked in the audit, and shows it in no export, later ones included', async () => {
    await load();
    const store = await ledger();
    await seed(store);
    for (const _ of [1, 2]) {
      const out = next('out');
      helper.getNode('export').receive({ payload: ERIKA, requestedBy: 'Jana K., ticket 4711' });
      // Not the bare ticket number: a time in the export (1796471162240) may hold the digits 4711.
      assert.doesNotMatch(JSON.stringify((await out).payload), /Jana|ticket/);
    }
    const recorded = (await auditLines(store))
      .map((line) => JSON.parse(line))
      .filter((e) => e.action === 'dsr.access_fulfilled');
    assert.deepEqual(
      recorded.map((e) => e.detail?.requestedBy),
      ['Jana K., ticket 4711', 'Jana K., ticket 4711'],
    );
  });

  it('serves the export as a JSON download through http in and http response', async () => {
    await load({ output: 'file', wires: [['respond']] }, [
      { id: 'in', type: 'http in', url: '/my-data', method: 'get', wires: [['export']] },
      { id: 'respond', type: 'http response', statusCode: '', headers: {} },
    ]);
    await seed(await ledger());
    const response = await fetch(`${helper.url()}/my-data?phone=${encodeURIComponent(ERIKA)}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const disposition = String(response.headers.get('content-disposition'));
    assert.match(disposition, /^attachment; filename="whatsapp-data-[A-Za-z0-9]{1,12}-\d{4}-\d{2}-\d{2}\.json"$/);
    assert.doesNotMatch(disposition, /4915123456789/);
    const doc = (await response.json()) as SubjectExport;
    assert.equal(doc.subject?.phone, ERIKA);
    assert.equal(doc.consents[0].wording, WORDING);
  });

  it('sets msg.filename and msg.headers in file mode', async () => {
    await load({ output: 'file' });
    await seed(await ledger());
    const out = next('out');
    helper.getNode('export').receive({ payload: ERIKA, headers: { 'X-Request': 'kept' } });
    const msg = await out;
    assert.equal(typeof msg.payload, 'string');
    assert.equal((JSON.parse(msg.payload as string) as SubjectExport).found, true);
    assert.match(String(msg.filename), /^whatsapp-data-[A-Za-z0-9]+-\d{4}-\d{2}-\d{2}\.json$/);
    assert.equal((msg.headers as Record<string, string>)['X-Request'], 'kept');
    assert.equal((msg.headers as Record<string, string>)['Cache-Control'], 'no-store');
  });

  it('serves the letter in plain words as a text download, in German for a German number, the JSON in msg.export', async () => {
    await load({ output: 'letter', wires: [['respond', 'out']] }, [
      { id: 'in', type: 'http in', url: '/my-letter', method: 'get', wires: [['export']] },
      { id: 'respond', type: 'http response', statusCode: '', headers: {} },
    ]);
    await seed(await ledger());
    const out = next('out');
    const response = await fetch(`${helper.url()}/my-letter?phone=${encodeURIComponent(ERIKA)}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const disposition = String(response.headers.get('content-disposition'));
    assert.match(disposition, /^attachment; filename="whatsapp-data-[A-Za-z0-9]{1,12}-\d{4}-\d{2}-\d{2}\.txt"$/);
    const letter = await response.text();
    assert.match(letter, /^Ihre Daten bei uns: Auskunft nach Art\. 15 DSGVO\n/);
    assert.ok(letter.includes(`Wortlaut: „${WORDING}“`), letter);
    assert.match(letter, /\n- Telefonnummer: \+4915123456789\n/);
    const msg = await out;
    assert.equal(msg.language, 'de');
    assert.equal((msg.export as SubjectExport).subject?.phone, ERIKA, 'the machine-readable copy beside the letter');
  });

  it("signs the letter as the store's privacy notice names the controller, with its authority and STOP keyword", async () => {
    await load({ output: 'letter' }, [
      {
        id: 'notice',
        type: 'privacy-notice',
        store: 'store',
        servePage: false,
        policyUrl: 'https://example.com/privacy',
        controllerName: 'Beispiel Shop GmbH',
        controllerEmail: 'datenschutz@shop.example',
        authorityName: 'Berliner Beauftragte für Datenschutz und Informationsfreiheit',
        stopKeyword: 'ABMELDEN',
        providerName: 'Beispiel Integrationen GmbH',
        wires: [[]],
      },
    ]);
    await seed(await ledger());
    const out = next('out');
    helper.getNode('export').receive({ payload: ERIKA });
    const letter = String((await out).payload);
    assert.match(letter, /\nVon: Beispiel Shop GmbH, datenschutz@shop\.example\n/);
    assert.match(
      letter,
      /\n {2}Die für uns zuständige Behörde: Berliner Beauftragte für Datenschutz und Informationsfreiheit\n/,
    );
    assert.match(letter, /z\. B\. mit der Antwort ABMELDEN im Chat/);
    assert.match(
      letter,
      /\n- Beispiel Integrationen GmbH \(Auftragsverarbeiter\): betreibt diese WhatsApp-Anbindung für uns\n/,
    );
  });

  it("finds a person staff name by a number written nationally, in the store's country", async () => {
    const flow = { id: 'f1', type: 'tab', label: 'export subject' };
    await helper.load(
      [consentStoreNode, exportSubjectNode] as never,
      [
        flow,
        storeNode('store', dir.path, { defaultCountry: 'DE' }),
        { id: 'export', z: 'f1', type: 'export-subject', store: 'store', wires: [['out']] },
        { id: 'out', z: 'f1', type: 'helper' },
        { id: 'catcher', z: 'f1', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
        { id: 'caught', z: 'f1', type: 'helper' },
      ] as never,
      { store: storeCredentials() },
    );
    await seed(await ledger());
    const out = next('out');
    helper.getNode('export').receive({ payload: { phone: '0151 23456789' } });
    const doc = (await out).payload as SubjectExport;
    assert.equal(doc.found, true);
    assert.equal(doc.subject?.phone, ERIKA);
    // A number nobody here has may be a neighbouring country's, a stranger's: no answer saying "nothing stored".
    const caught = next('caught');
    helper.getNode('export').receive({ payload: '0664 1234567' });
    assert.equal(((await caught).error as { code?: string }).code, 'unknown-national-number');
    // A spreadsheet dropped her 0: 15123456789 is also +1 512 345 6789, a number the store does not know.
    const dropped = next('out');
    helper.getNode('export').receive({ payload: { phone: 15123456789 } });
    assert.equal(((await dropped).payload as SubjectExport).subject?.phone, ERIKA);
    // Both readings unknown (+1 601 … or 0160 …): refused, no answer about either.
    const ambiguous = next('caught');
    helper.getNode('export').receive({ payload: '16012345678' });
    assert.equal(((await ambiguous).error as { code?: string }).code, 'ambiguous-phone');
  });

  it('writes the letter in msg.language when it is given', async () => {
    await load({ output: 'letter' });
    await seed(await ledger());
    const out = next('out');
    helper.getNode('export').receive({ payload: ERIKA, language: 'en' });
    const msg = await out;
    assert.match(String(msg.payload), /^Your data with us: access under Art\. 15 GDPR\n/);
    assert.equal(msg.language, 'en');
  });

  it('finds nothing personal after erase-subject ran', async () => {
    await load();
    const store = await ledger();
    await seed(store);
    const erased = next('erased');
    helper.getNode('erase').receive({ payload: ERIKA });
    await erased;
    const out = next('out');
    helper.getNode('export').receive({ payload: ERIKA });
    const doc = (await out).payload as SubjectExport;
    assert.equal(doc.found, false);
    assert.equal(doc.subject, undefined);
    assert.deepEqual(doc.consents, []);
    assert.deepEqual(doc.history, []);
    assert.deepEqual(doc.notices, []);
    assert.equal(typeof doc.erased?.at, 'number');
    // The purposes' names stay in the Art. 15 information: they are the store's settings, not hers.
    const { information: _settings, ...hers } = doc;
    assert.doesNotMatch(JSON.stringify(hers), /4915123456789|Newsletter|wamid\.notice/);
  });

  it("gives an objection to a purpose that needs no consent its wording in the person's language, not as JSON", async () => {
    await load();
    const store = await ledger();
    // STOP with no order updates on record: an objection (Art. 21) to the contract purpose.
    for (const phone of [ERIKA, '+447911123456']) {
      await store.withdrawConsent({ subject: phone, purposes: ['orders'], channel: 'whatsapp-keyword', actor: 'test' });
    }
    const exported = async (msg: Record<string, unknown>) => {
      const out = next('out');
      helper.getNode('export').receive(msg);
      const doc = (await out).payload as SubjectExport;
      const objection = doc.consents.find((c) => c.purpose === 'orders');
      assert.equal(objection?.method, 'objection');
      assert.equal(objection?.status, 'withdrawn');
      return [objection?.wording, objection?.language];
    };
    assert.deepEqual(await exported({ payload: ERIKA }), ['Bestell-Updates per WhatsApp.', 'de']);
    assert.deepEqual(await exported({ payload: ERIKA, language: 'en' }), ['Order updates on WhatsApp.', 'en']);
    assert.deepEqual(await exported({ payload: '+44 7911 123456' }), ['Order updates on WhatsApp.', 'en']);
  });

  it('answers an unknown person with an empty document, not an error', async () => {
    await load();
    const caught = collect('caught');
    const out = next('out');
    helper.getNode('export').receive({ payload: '+14155550123' });
    const doc = (await out).payload as SubjectExport;
    assert.equal(doc.found, false);
    assert.deepEqual(doc.consents, []);
    assert.equal(caught.length, 0);
  });

  it('takes the sender of an inbound message as the subject', async () => {
    await load();
    await seed(await ledger());
    const out = next('out');
    helper.getNode('export').receive({
      payload: '+14155550123',
      whatsapp: { messageId: 'wamid.x', from: ERIKA, waId: ERIKA.slice(1), type: 'text', text: '+14155550123' },
    });
    const doc = (await out).payload as SubjectExport;
    assert.equal(doc.subject?.phone, ERIKA);
  });

  it("after the number moved, gives its present holder his part and staff the previous holder's", async () => {
    await load();
    const store = await ledger();
    await seed(store);
    await store.numberChanged({ phone: ERIKA, actor: 'test' });

    const asked = next('out');
    helper.getNode('export').receive({
      whatsapp: { messageId: 'wamid.y', from: ERIKA, waId: ERIKA.slice(1), type: 'text', text: 'AUSKUNFT' },
    });
    const holder = (await asked).payload as SubjectExport;
    assert.deepEqual([holder.found, holder.consents, holder.notices], [false, [], []]);
    assert.equal(holder.numberChangedAt, undefined, 'the present holder is not told when the previous one left');

    // Staff must say whose part: an export of the wrong one would disclose the other's data.
    const caught = next('caught');
    helper.getNode('export').receive({ payload: { phone: ERIKA } });
    assert.match(String(((await caught).error as { message?: string } | undefined)?.message), /passed to another/);

    const staff = next('out');
    helper.getNode('export').receive({ payload: { phone: ERIKA, beforeNumberChange: false } });
    assert.equal(typeof ((await staff).payload as SubjectExport).numberChangedAt, 'number');

    const previous = next('out');
    helper.getNode('export').receive({ payload: { phone: ERIKA, beforeNumberChange: true } });
    const erika = (await previous).payload as SubjectExport;
    // Her newsletter consent, withdrawn by the move; not the number's block of the contract purpose, nobody's.
    assert.deepEqual(
      erika.consents.map((c) => [c.purpose, c.status, c.wording]),
      [['news', 'withdrawn', WORDING]],
    );
    assert.deepEqual(
      erika.notices.map((n) => n.noticeVersion),
      ['notice-v1'],
    );
  });

  it('gives a person who writes from her new number her part of the one she moved from, and no number of it', async () => {
    await load();
    const store = await ledger();
    const ERIKA_NEW = '+4917612345678';
    await seed(store);
    await store.numberChanged({ phone: ERIKA, newPhone: ERIKA_NEW, actor: 'test' });
    const out = next('out');
    helper.getNode('export').receive({
      whatsapp: { messageId: 'wamid.z', from: ERIKA_NEW, waId: ERIKA_NEW.slice(1), type: 'text', text: 'AUSKUNFT' },
    });
    const doc = (await out).payload as SubjectExport;
    assert.equal(doc.earlierNumbers?.length, 1);
    const [part] = doc.earlierNumbers ?? [];
    assert.deepEqual(
      part.consents.map((c) => [c.purpose, c.status, c.wording]),
      [['news', 'withdrawn', WORDING]],
    );
    assert.deepEqual(
      part.notices.map((n) => n.noticeVersion),
      ['notice-v1'],
    );
    assert.equal(typeof part.movedAwayAt, 'number');
    assert.ok(!JSON.stringify(doc.earlierNumbers).includes(ERIKA.slice(1)));
  });

  it('refuses a request its sender made before the number moved: the answer would reach the next holder', async () => {
    await load();
    const store = await ledger();
    await seed(store);
    await store.numberChanged({ phone: ERIKA, actor: 'test' });
    const before = await store.exportSubject(ERIKA, 'test', { beforeNumberChange: true });
    const request = (sentAtMs: number, messageId: string) => ({
      whatsapp: {
        messageId,
        from: ERIKA,
        waId: ERIKA.slice(1),
        timestamp: Math.floor(sentAtMs / 1000),
        type: 'text',
        text: 'AUSKUNFT',
      },
    });
    const outputs = collect('out');
    const caught = next('caught');
    helper.getNode('export').receive(request(Date.now() - 15 * 60_000, 'wamid.late'));
    assert.match(String(((await caught).error as { message?: string } | undefined)?.message), /before this number/);
    assert.equal(outputs.length, 0, 'nothing exported');
    const after = await store.exportSubject(ERIKA, 'test', { beforeNumberChange: true });
    assert.equal(after.auditEvents.length, before.auditEvents.length, 'no export recorded');
    // Written by the number's present holder, past the clocks' margin after the move: his own part.
    const own = next('out');
    helper.getNode('export').receive(request(Date.now() + 11 * 60_000, 'wamid.own'));
    assert.equal(((await own).payload as SubjectExport).found, false);
  });

  it('refuses beforeNumberChange that is not a boolean or comes without a number, and records no export', async () => {
    await load();
    const store = await ledger();
    const before = await auditLines(store);
    const outputs = collect('out');
    for (const payload of [
      { phone: ERIKA, beforeNumberChange: 'yes' },
      { userId: 'DE.1234567890', beforeNumberChange: true },
    ]) {
      const caught = next('caught');
      helper.getNode('export').receive({ payload } as Msg);
      const error = (await caught).error as { message: string };
      assert.match(error.message, /beforeNumberChange/);
    }
    assert.equal(outputs.length, 0);
    assert.deepEqual(await auditLines(store), before);
  });

  it('rejects a missing or invalid subject through a Catch node and records no export', async () => {
    await load();
    const store = await ledger();
    await seed(store);
    const before = await auditLines(store);
    const outputs = collect('out');
    for (const payload of [undefined, '12345', { userId: 'nope' }]) {
      const caught = next('caught');
      helper.getNode('export').receive({ payload } as Msg);
      const error = (await caught).error as { message: string; source: { id: string } };
      assert.equal(error.source.id, 'export');
      assert.match(error.message, /subject|number|user id/i);
    }
    assert.equal(outputs.length, 0);
    assert.deepEqual(await auditLines(store), before);
  });

  it('fails with a clear error when no store is configured', async () => {
    await load({ store: '' });
    const caught = next('caught');
    helper.getNode('export').receive({ payload: ERIKA });
    assert.match(((await caught).error as { message: string }).message, /consent store/i);
  });
});
