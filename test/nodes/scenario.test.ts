import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import type { LedgerHandle } from '../../lib/consent/threaded-ledger';
import type { SubjectExport } from '../../lib/consent/types';
import { DEFAULT_ERASURE_NOTICE, type ErasureReport } from '../../lib/conversation/dsr';
import { renderNoticeTexts } from '../../lib/conversation/notice';
import { confirmButtonId } from '../../lib/conversation/opt-in';
import { DEFAULT_STOP_CONFIRMATION_TEXTS } from '../../lib/conversation/stop';
import { Sandbox } from '../../lib/sandbox/sandbox';
import { type RunningSandboxServer, startSandboxServer } from '../../lib/sandbox/server';
import consentEventsNode from '../../nodes/consent-events';
import consentGateNode from '../../nodes/consent-gate';
import consentStoreNode, { type ConsentStoreNode } from '../../nodes/consent-store';
import eraseSubjectNode from '../../nodes/erase-subject';
import exportSubjectNode from '../../nodes/export-subject';
import optInFlowNode from '../../nodes/opt-in-flow';
import privacyNoticeNode from '../../nodes/privacy-notice';
import stopHandlerNode from '../../nodes/stop-handler';
import configNode from '../../nodes/whatsapp-config';
import sendNode from '../../nodes/whatsapp-send';
import webhookNode from '../../nodes/whatsapp-webhook';
import { helper } from '../helpers/node-red';
import { mountHttpApps } from '../helpers/node-red-http';
import { collect, type Msg, next, storeCredentials, storeNode, tempDir } from './consent-fixtures';

const PHONE_NUMBER_ID = '106540352242922';
const ACCESS_TOKEN = 'scenario-access-token';
const APP_SECRET = 'scenario-app-secret';
const ERIKA = '+4915123456789';
const ERIKA_WA_ID = '4915123456789';
/** The fixture purpose's German wording: opt-in-flow takes only the purpose's own wordings. */
const WORDING = 'Schickt mir den Newsletter per WhatsApp.';
const POLICY_URL = 'https://shop.example/datenschutz';
const MARKETING = 'Neu im Shop: 20 % Rabatt auf alles!';

type Outbound = { type: string; text: string };

/**
 * Issue 4's full scenario in ONE Node-RED runtime: the webhook, the GDPR nodes and whatsapp-send, talking to the
 * standalone sandbox over HTTP (Cloud API calls one way, signed webhooks the other), with a real SQLite ledger.
 */
describe('scenario: from a web form to erasure, in one runtime', () => {
  let dir: ReturnType<typeof tempDir>;
  let sandbox: Sandbox;
  let server: RunningSandboxServer;

  before(async () => {
    sandbox = new Sandbox();
    server = await startSandboxServer({ sandbox });
  });

  after(async () => {
    await server.close();
    sandbox.close();
  });

  beforeEach(async () => {
    dir = tempDir();
    await helper.startServer();
    sandbox.registerNumber({
      phoneNumberId: PHONE_NUMBER_ID,
      displayPhoneNumber: '+49 30 1234567',
      accessToken: ACCESS_TOKEN,
      appSecret: APP_SECRET,
      webhookUrls: () => [`${helper.url()}/whatsapp`],
    });
    sandbox.reset();
  });

  afterEach(async () => {
    await sandbox.idle();
    await helper.unload();
    await helper.stopServer();
    sandbox.unregisterNumber(PHONE_NUMBER_ID);
    dir.remove();
  });

  function flow(): Record<string, unknown>[] {
    return [
      { id: 'f1', type: 'tab', label: 'scenario' },
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
        id: 'hook',
        z: 'f1',
        type: 'whatsapp-webhook',
        path: '/whatsapp',
        whatsapp: 'cfg',
        store: 'store',
        wires: [['stop'], [], []],
      },
      { id: 'stop', z: 'f1', type: 'stop-handler', store: 'store', wires: [['send'], ['optin']] },
      {
        id: 'optin',
        z: 'f1',
        type: 'opt-in-flow',
        store: 'store',
        purpose: 'news',
        mode: 'template',
        templateName: 'consent_request',
        templateLanguage: 'auto',
        templateConfirmButton: true,
        wires: [['send'], ['notice'], ['rejected'], ['erase']],
      },
      {
        id: 'erase',
        z: 'f1',
        type: 'erase-subject',
        store: 'store',
        keywordMode: true,
        notify: true,
        wires: [['erased'], ['send'], ['unhandled']],
      },
      { id: 'gate', z: 'f1', type: 'consent-gate', store: 'store', purpose: 'news', wires: [['notice'], ['blocked']] },
      {
        id: 'notice',
        z: 'f1',
        type: 'privacy-notice',
        store: 'store',
        policyUrl: POLICY_URL,
        servePage: false,
        wires: [['send']],
      },
      { id: 'send', z: 'f1', type: 'whatsapp-send', whatsapp: 'cfg', wires: [['sent'], ['failed']] },
      { id: 'events', z: 'f1', type: 'consent-events', store: 'store', wires: [['crm']] },
      { id: 'export', z: 'f1', type: 'export-subject', store: 'store', wires: [['exported']] },
      { id: 'catcher', z: 'f1', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      ...['sent', 'failed', 'rejected', 'unhandled', 'blocked', 'erased', 'crm', 'exported', 'caught'].map((id) => ({
        id,
        z: 'f1',
        type: 'helper',
      })),
    ];
  }

  async function until(predicate: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      if (predicate()) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.fail(`timed out waiting for ${what}`);
  }

  /** What the business sent Erika, as the sandbox rendered it, oldest first. */
  function outbound(): Outbound[] {
    return sandbox
      .conversation(PHONE_NUMBER_ID, ERIKA_WA_ID)
      .filter((m) => m.direction === 'outbound')
      .map((m) => ({ type: m.type, text: String(m.text ?? '') }));
  }

  function load(): Promise<void> {
    return helper.load(
      [
        consentStoreNode,
        configNode,
        webhookNode,
        sendNode,
        stopHandlerNode,
        optInFlowNode,
        eraseSubjectNode,
        consentGateNode,
        privacyNoticeNode,
        consentEventsNode,
        exportSubjectNode,
        mountHttpApps(),
      ] as never,
      flow() as never,
      {
        store: storeCredentials(),
        cfg: { accessToken: ACCESS_TOKEN, appSecret: APP_SECRET, verifyToken: 'scenario-verify' },
      } as never,
    );
  }

  /** Signs Erika up on the web form and returns the confirmation button's payload. */
  async function formRequest(sent: Msg[]): Promise<string> {
    helper.getNode('optin').receive({
      payload: { phone: '+49 151 2345 6789', consent: 'on', wording: WORDING, source: 'https://shop.example/anmelden' },
    });
    await until(() => sent.length === 1, 'the confirmation template to reach the sandbox');
    const [request] = sandbox.accepted(PHONE_NUMBER_ID);
    const template = (request.body as { template: { components: unknown[] } }).template;
    const button = template.components.find((c) => (c as { type: string }).type === 'button') as {
      parameters: { payload: string }[];
    };
    return button.parameters[0].payload;
  }

  it('runs form request, confirmation, YES, notice once, gate, STOP, block, erase and an empty export', async () => {
    await load();
    const store = helper.getNode('store') as unknown as ConsentStoreNode;
    const ledger: LedgerHandle = await store.getLedger();
    const sent = collect('sent');
    const failed = collect('failed');
    const caught = collect('caught');
    const crm = collect('crm');
    const noticeDe = renderNoticeTexts({}, POLICY_URL).de;

    // 1. The web form: a request with the box ticked by the person -> pending consent, confirmation template.
    helper.getNode('optin').receive({
      payload: { phone: '+49 151 2345 6789', consent: 'on', wording: WORDING, source: 'https://shop.example/anmelden' },
    });
    await until(() => sent.length === 1, 'the confirmation template to reach the sandbox');
    const [request] = sandbox.accepted(PHONE_NUMBER_ID);
    const template = (request.body as { template: { name: string; language: { code: string }; components: unknown[] } })
      .template;
    assert.equal(request.waId, ERIKA_WA_ID);
    assert.equal(template.name, 'consent_request');
    assert.equal(template.language.code, 'de');
    const button = template.components.find((c) => (c as { type: string }).type === 'button') as {
      parameters: { payload: string }[];
    };
    assert.equal(button.parameters[0].payload, confirmButtonId('news'));
    assert.equal((await ledger.checkConsent(ERIKA, 'news')).status, 'pending');

    // 2. Erika taps YES on the template: a signed webhook into whatsapp-webhook.
    const tap = await sandbox.customerSends(
      PHONE_NUMBER_ID,
      { waId: ERIKA_WA_ID, name: 'Erika Mustermann' },
      { quickReply: { payload: button.parameters[0].payload, text: 'JA' } },
    );
    assert.deepEqual(
      tap.deliveries.map((d) => d.status),
      [200],
    );
    // 3. The privacy notice goes out before the first free-form message, then the thank-you.
    await until(() => sent.length === 3, 'the privacy notice and the confirmation reply');
    const check = await ledger.checkConsent(ERIKA, 'news');
    assert.equal(check.status, 'given');
    assert.equal(check.allowed, true);
    assert.deepEqual(
      outbound().map((m) => m.type),
      ['template', 'text', 'text'],
    );
    assert.ok(outbound()[1].text.startsWith(noticeDe), outbound()[1].text);
    assert.match(outbound()[2].text, /Ihre Einwilligung ist bestätigt/);

    // 4. A marketing message passes the gate; the notice is not repeated.
    helper.getNode('gate').receive({ to: ERIKA, payload: MARKETING });
    await until(() => sent.length === 4, 'the marketing message');
    assert.ok(outbound()[3].text.startsWith(MARKETING), outbound()[3].text);
    assert.equal(outbound().filter((m) => m.text.startsWith(noticeDe)).length, 1);

    // 5. STOP withdraws durably and confirms in German.
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: ERIKA_WA_ID }, { text: 'STOP' });
    await until(() => sent.length === 5, 'the opt-out confirmation');
    assert.equal((await ledger.checkConsent(ERIKA, 'news')).status, 'withdrawn');
    assert.equal(outbound()[4].text, DEFAULT_STOP_CONFIRMATION_TEXTS.de);

    // 6. The very next marketing message is blocked, with the reason, and nothing reaches the sandbox.
    const blocked = next('blocked');
    helper.getNode('gate').receive({ to: ERIKA, payload: MARKETING });
    const blockedMsg = await blocked;
    assert.equal((blockedMsg.consent as { status: string }).status, 'withdrawn');
    assert.equal(outbound().length, 5);

    // 7. Erika asks for erasure by WhatsApp: she is told first, then everything goes.
    const erased = next('erased');
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: ERIKA_WA_ID }, { text: 'Daten löschen' });
    const report = (await erased).payload as ErasureReport;
    await until(() => sent.length === 6, 'the erasure notice');
    assert.equal(report.found, true);
    assert.equal(report.origin, 'inbound');
    assert.ok(report.total > 0);
    assert.ok(outbound()[5].text.startsWith(DEFAULT_ERASURE_NOTICE.de), outbound()[5].text);
    assert.equal((await ledger.checkConsent(ERIKA, 'news')).status, 'erased');
    assert.equal(await ledger.isSuppressed(ERIKA), true);

    // 8. The export then finds nothing personal.
    const exported = next('exported');
    helper.getNode('export').receive({ payload: ERIKA });
    const doc = (await exported).payload as SubjectExport;
    assert.equal(doc.found, false);
    assert.equal(doc.subject, undefined);
    assert.deepEqual(doc.consents, []);
    assert.deepEqual(doc.history, []);
    assert.deepEqual(doc.notices, []);
    assert.equal(doc.erased?.at, report.at);

    // The CRM saw the whole story, by pseudonym only.
    const types = crm.map((m: Msg) => m.topic);
    for (const type of [
      'consent.requested',
      'consent.confirmed',
      'notice.shown',
      'consent.withdrawn',
      'subject.erased',
    ]) {
      assert.ok(types.includes(type), `${type} in ${types.join(', ')}`);
    }
    assert.equal(types.at(-1), 'subject.erased');
    assert.ok(crm.every((m: Msg) => (m.payload as { pseudonym: string }).pseudonym === report.pseudonym));
    assert.doesNotMatch(JSON.stringify(crm.map((m: Msg) => m.payload)), /4915123456789/);

    // Nothing went wrong on the way, and the database files no longer hold the number or the name.
    assert.deepEqual(failed, []);
    assert.deepEqual(caught, []);
    await sandbox.idle();
    const dbFile = String(storeNode('store', dir.path).sqlitePath);
    assert.ok(existsSync(dbFile), dbFile);
    for (const file of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`].filter((f) => existsSync(f))) {
      const bytes = readFileSync(file);
      assert.equal(bytes.indexOf(ERIKA_WA_ID), -1, `${file} still holds the number`);
      assert.equal(bytes.indexOf('Erika Mustermann'), -1, `${file} still holds the name`);
    }
  });

  it('reaches a person by business-scoped user id: the consent she confirmed by number counts, and STOP ends it', async () => {
    const bsuid = 'DE.1502576394655843';
    await load();
    const sent = collect('sent');
    const failed = collect('failed');
    const caught = collect('caught');
    // Erika signs up with her number and confirms in WhatsApp, where Meta names her business-scoped user id too.
    const payload = await formRequest(sent);
    await sandbox.customerSends(
      PHONE_NUMBER_ID,
      { waId: ERIKA_WA_ID, userId: bsuid, name: 'Erika Mustermann' },
      { quickReply: { payload, text: 'JA' } },
    );
    await until(() => sent.length === 3, 'the privacy notice and the confirmation reply');

    // A campaign list that knows her by the id alone: the gate finds the consent she confirmed, the message goes to
    // the id in recipient, and the notice she has seen is not repeated.
    helper.getNode('gate').receive({ to: bsuid, payload: MARKETING });
    await until(() => sent.length === 4, 'the marketing message');
    const campaign = sandbox.accepted(PHONE_NUMBER_ID).at(-1)?.body as Record<string, unknown>;
    assert.equal(campaign.recipient, bsuid);
    assert.equal('to' in campaign, false);
    assert.ok(outbound()[3].text.startsWith(MARKETING), outbound()[3].text);

    // STOP withdraws; the next message to the id is blocked and nothing more reaches the sandbox.
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: ERIKA_WA_ID, userId: bsuid }, { text: 'STOP' });
    await until(() => sent.length === 5, 'the opt-out confirmation');
    const blocked = next('blocked');
    helper.getNode('gate').receive({ to: bsuid, payload: MARKETING });
    assert.equal(((await blocked).consent as { status: string }).status, 'withdrawn');
    assert.equal(outbound().length, 5);
    assert.deepEqual(failed, []);
    assert.deepEqual(caught, []);
  });
});
