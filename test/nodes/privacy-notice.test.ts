import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConsentLedger } from '../../lib/consent/ledger';
import { DEFAULT_NOTICE_TEXTS, noticeVersion, renderNoticeTexts } from '../../lib/conversation/notice';
import { Sandbox } from '../../lib/sandbox/sandbox';
import { type RunningSandboxServer, startSandboxServer } from '../../lib/sandbox/server';
import { buildStatusWebhook, SANDBOX_WABA_ID } from '../../lib/webhook/build';
import { signPayload } from '../../lib/webhook/signature';
import consentStoreNode from '../../nodes/consent-store';
import privacyNoticeNode from '../../nodes/privacy-notice';
import { SANDBOX_TEMPLATES } from '../../nodes/shared/sandbox';
import stopHandlerNode from '../../nodes/stop-handler';
import configNode from '../../nodes/whatsapp-config';
import sendNode from '../../nodes/whatsapp-send';
import webhookNode from '../../nodes/whatsapp-webhook';
import { helper } from '../helpers/node-red';
import { mountHttpApps, routesAt } from '../helpers/node-red-http';
import { callsOf, statusesOf } from './consent-fixtures';

const PHONE_NUMBER_ID = '106540352242933';
const ACCESS_TOKEN = 'token-for-notice-tests';
const APP_SECRET = 'app-secret-for-notice-tests';
const WEBHOOK_PATH = '/notice-statuses';
const POLICY_URL = 'https://shop.example/privacy';
const GERMAN = { waId: '4915123456789', phone: '+4915123456789' };
const BRITISH = { waId: '447911123456', phone: '+447911123456' };
const PURPOSES = [
  {
    id: 'orders',
    label: 'Order updates',
    wording: { en: 'I want order updates on WhatsApp.', de: 'Ich möchte Bestellupdates per WhatsApp.' },
    lawfulBasis: 'contract',
    marketing: false,
  },
  {
    id: 'offers',
    label: 'Offers',
    wording: { en: 'Send me offers.', de: 'Schickt mir Angebote.' },
    lawfulBasis: 'consent',
    marketing: true,
  },
  {
    id: 'shipping',
    label: 'Shipping notices',
    wording: { en: 'Notices about your delivery.', de: 'Hinweise zu Ihrer Lieferung.' },
    lawfulBasis: 'legitimate-interest',
    interest: { en: 'We tell customers when their order arrives.', de: 'Wir sagen Kunden, wann die Bestellung kommt.' },
    marketing: false,
  },
];

type Msg = Record<string, unknown> & {
  payload?: unknown;
  whatsapp?: Record<string, unknown>;
  error?: Record<string, unknown>;
};

async function until(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/**
 * Forwards to the sandbox, but answers the first `failures` message sends with Meta's 131026 (undeliverable), or with
 * a gateway's bare 500 after which the message may have been taken (`mayHaveArrived`), after `delayMs`.
 */
async function failingProxy(
  target: string,
  failures: number,
  delayMs = 0,
  failure: 'undeliverable' | 'mayHaveArrived' = 'undeliverable',
): Promise<{ url: string; stop(): Promise<void> }> {
  let left = failures;
  const server = http.createServer((req, res) => {
    if (req.method === 'POST' && String(req.url).endsWith('/messages') && left > 0) {
      left -= 1;
      req.resume();
      const error = { message: '(#131026) Message undeliverable', type: 'OAuthException', code: 131026 };
      const answer =
        failure === 'undeliverable'
          ? () => res.writeHead(400, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error }))
          : () =>
              res
                .writeHead(500, { 'Content-Type': 'text/html' })
                .end('<html><body>Internal Server Error</body></html>');
      setTimeout(answer, delayMs);
      return;
    }
    const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers });
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    stop: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

interface Page {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(path: string, headers: Record<string, string> = {}): Promise<Page> {
  return new Promise((resolve, reject) => {
    http
      .get(`${helper.url()}${path}`, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
      })
      .on('error', reject);
  });
}

describe('privacy-notice node (privacy-notice -> whatsapp-send -> sandbox over HTTP)', () => {
  let sandbox: Sandbox;
  let server: RunningSandboxServer;
  let dir: string;
  let keys: { encryptionKey: string; pseudonymKey: string };
  let mount: ReturnType<typeof mountHttpApps>;
  /** The Cloud API the flow's configuration talks to: the sandbox, or a proxy in front of it. */
  let apiBase: string;

  before(async () => {
    sandbox = new Sandbox({ templates: SANDBOX_TEMPLATES });
    server = await startSandboxServer({ sandbox });
    apiBase = server.url;
    sandbox.registerNumber({
      phoneNumberId: PHONE_NUMBER_ID,
      displayPhoneNumber: '+49 30 7654321',
      accessToken: ACCESS_TOKEN,
      appSecret: 'unused-here',
      webhookUrls: () => [],
    });
  });

  after(async () => {
    await server.close();
    sandbox.close();
  });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'h7-notice-node-'));
    keys = { encryptionKey: randomBytes(32).toString('base64'), pseudonymKey: randomBytes(32).toString('base64') };
    sandbox.reset();
    await helper.startServer();
    mount = mountHttpApps();
  });

  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    rmSync(dir, { recursive: true, force: true });
  });

  function flow(
    notice: Record<string, unknown> = {},
    store: Record<string, unknown> = {},
    send: Record<string, unknown> = {},
  ): Record<string, unknown>[] {
    return [
      { id: 'f1', type: 'tab', label: 'privacy-notice test' },
      {
        id: 'cfg',
        type: 'whatsapp-config',
        mode: 'cloud',
        apiBaseUrl: apiBase,
        apiVersion: 'v25.0',
        phoneNumberId: PHONE_NUMBER_ID,
        wabaId: SANDBOX_WABA_ID,
      },
      {
        id: 'store',
        type: 'consent-store',
        backend: 'sqlite',
        sqlitePath: join(dir, 'consent.db'),
        purposes: PURPOSES,
        pendingExpiryHours: 24,
        withdrawnPersonalDataDays: 14,
        auditRetentionYears: 3,
        ...store,
      },
      {
        id: 'notice',
        z: 'f1',
        type: 'privacy-notice',
        store: 'store',
        policyUrl: POLICY_URL,
        servePage: true,
        pagePath: '/privacy',
        controllerName: 'Example Shop GmbH',
        controllerAddress: 'Hauptstraße 1\n10115 Berlin',
        controllerEmail: 'privacy@shop.example',
        dpoName: 'Dr. Daten Schutz',
        dpoEmail: 'dpo@shop.example',
        providerName: 'Integrator AG',
        storageLocation: 'Deutschland (Frankfurt am Main)',
        authorityName: 'Berliner Beauftragte für Datenschutz und Informationsfreiheit',
        authorityUrl: 'https://www.datenschutz-berlin.de',
        wires: [['send', 'out']],
        ...notice,
      },
      // The opt-out footer is whatsapp-send's business, tested there; here the texts stay as the notice node made them.
      {
        id: 'send',
        z: 'f1',
        type: 'whatsapp-send',
        whatsapp: 'cfg',
        optOutFooter: false,
        wires: [['sent'], ['failed']],
        ...send,
      },
      // Meta's status webhooks: a notice it accepted and then reported failed must be shown again.
      { id: 'hook', z: 'f1', type: 'whatsapp-webhook', path: WEBHOOK_PATH, whatsapp: 'cfg', store: 'store' },
      { id: 'out', z: 'f1', type: 'helper' },
      { id: 'sent', z: 'f1', type: 'helper' },
      { id: 'failed', z: 'f1', type: 'helper' },
      { id: 'catcher', z: 'f1', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'f1', type: 'helper' },
    ];
  }

  async function load(
    notice: Record<string, unknown> = {},
    store: Record<string, unknown> = {},
    send: Record<string, unknown> = {},
  ) {
    await helper.load(
      [configNode, consentStoreNode, sendNode, privacyNoticeNode, webhookNode, mount] as never,
      flow(notice, store, send) as never,
      { cfg: { accessToken: ACCESS_TOKEN, appSecret: APP_SECRET }, store: keys },
    );
    const out: Msg[] = [];
    const sent: Msg[] = [];
    const failed: Msg[] = [];
    const caught: Msg[] = [];
    helper.getNode('out').on('input', (msg: Msg) => out.push(msg));
    helper.getNode('sent').on('input', (msg: Msg) => sent.push(msg));
    helper.getNode('failed').on('input', (msg: Msg) => failed.push(msg));
    helper.getNode('caught').on('input', (msg: Msg) => caught.push(msg));
    return { out, sent, failed, caught };
  }

  function ledger(): Promise<ConsentLedger> {
    return (helper.getNode('store') as unknown as { getLedger(): Promise<ConsentLedger> }).getLedger();
  }

  /** What the sandbox accepted for one customer, oldest first, as readable texts. */
  function accepted(waId: string): string[] {
    return sandbox
      .accepted(PHONE_NUMBER_ID)
      .filter((m) => m.to.replace(/^\+/, '') === waId)
      .map((m) => (m.body.type === 'text' ? (m.body as { text: { body: string } }).text.body : `[${m.body.type}]`));
  }

  const version = noticeVersion(renderNoticeTexts({}, POLICY_URL));
  const germanNotice = DEFAULT_NOTICE_TEXTS.de.replace('{policyUrl}', POLICY_URL);
  const englishNotice = DEFAULT_NOTICE_TEXTS.en.replace('{policyUrl}', POLICY_URL);

  /** Meta's status webhook for one message the flow sent, signed as Meta signs it; answers the HTTP status. */
  function reportStatus(
    messageId: string,
    status: 'delivered' | 'failed',
    recipientWaId = GERMAN.waId,
  ): Promise<number> {
    const raw = JSON.stringify(
      buildStatusWebhook({
        phoneNumberId: PHONE_NUMBER_ID,
        displayPhoneNumber: '+49 30 7654321',
        recipientWaId,
        messageId,
        status,
        ...(status === 'failed'
          ? { errors: [{ code: 131026, title: 'Message undeliverable', message: 'Message undeliverable' }] }
          : {}),
      }),
    );
    return new Promise((resolve, reject) => {
      const req = http.request(`${helper.url()}${WEBHOOK_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(raw, APP_SECRET) },
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(raw);
    });
  }

  it('forgets a notice Meta accepted and then reported failed, so that the next message is preceded by it again', async () => {
    const { sent } = await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Ihre Bestellung ist unterwegs.' });
    await until(() => sent.length === 2, 'notice and message sent');
    // Each leaves whatsapp-send once sent: the notice after its id is recorded, so not always first.
    const idOf = (notice: boolean) =>
      String(sent.find((m) => (m.privacyNotice !== undefined) === notice)?.whatsapp?.messageId);
    const [noticeId, messageId] = [idOf(true), idOf(false)];
    // Delivered, and a failure of the message behind it: the notice stays on record.
    assert.equal(await reportStatus(noticeId, 'delivered'), 200);
    assert.equal(await reportStatus(messageId, 'failed'), 200);
    assert.equal(await (await ledger()).hasSeenNotice(GERMAN.phone, version), true);
    // The notice itself failed (131026 after the 200): forgotten before the webhook was answered.
    assert.equal(await reportStatus(noticeId, 'failed'), 200);
    assert.equal(await (await ledger()).hasSeenNotice(GERMAN.phone, version), false);
    // Meta delivering the same status again changes nothing more.
    assert.equal(await reportStatus(noticeId, 'failed'), 200);
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Ihre Bestellung ist da.' });
    await until(() => sent.length === 4, 'notice and message sent again');
    assert.deepEqual(accepted(GERMAN.waId), [
      germanNotice,
      'Ihre Bestellung ist unterwegs.',
      germanNotice,
      'Ihre Bestellung ist da.',
    ]);
    const exported = await (await ledger()).exportSubject(GERMAN.phone, 't');
    assert.deepEqual(
      exported.auditEvents.map((e) => e.action).filter((a) => a.startsWith('notice.')),
      ['notice.shown', 'notice.undelivered', 'notice.shown'],
    );
    // The notice on record names the message that carried it (proof that it went out).
    assert.equal(exported.notices.length, 1);
    const shownAgain = sent.slice(2).find((m) => m.privacyNotice !== undefined);
    assert.equal(exported.notices[0].messageId, String(shownAgain?.whatsapp?.messageId));
  });

  it('ends a confirmation request Meta accepted and then reported failed, so that the person may ask again at once', async () => {
    const { sent } = await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    const store = await ledger();
    const ask = () =>
      store.requestConsent({
        subject: GERMAN.phone,
        purpose: 'offers',
        wording: 'Send me offers.',
        method: 'web-form',
        actor: 'optin',
      });
    const record = await ask();
    helper.getNode('send').receive({
      to: GERMAN.phone,
      payload: 'Bitte bestätigen Sie mit JA.',
      consent: record,
      optIn: {
        outcome: 'requested',
        purpose: 'offers',
        language: 'de',
        store: 'store',
        requestedAt: record.requestedAt,
      },
    });
    await until(() => sent.length === 1, 'the request sent');
    const requestId = String(sent[0].whatsapp?.messageId);
    // Another message of hers failed: the request stands.
    assert.equal(await reportStatus('wamid.SOMETHING-ELSE', 'failed'), 200);
    assert.equal((await store.getConsent(GERMAN.phone, 'offers'))?.status, 'pending');
    await assert.rejects(ask(), { code: 'request-pending' });
    // The request itself failed (131026 after the 200): ended before the webhook was answered.
    assert.equal(await reportStatus(requestId, 'failed'), 200);
    assert.equal((await store.getConsent(GERMAN.phone, 'offers'))?.status, 'expired');
    const audit = (await store.exportSubject(GERMAN.phone, 't')).auditEvents.map((e) => e.action);
    assert.ok(audit.includes('consent.request_undelivered'), audit.join());
    assert.equal((await ask()).status, 'pending', 'asked again at once');
  });

  it('sends the German notice before the first message, records it, and lets later messages pass untouched', async () => {
    const { out, sent } = await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Ihre Bestellung ist unterwegs.' });
    await until(() => sent.length === 2, 'notice and message to be sent');
    assert.deepEqual(accepted(GERMAN.waId), [germanNotice, 'Ihre Bestellung ist unterwegs.']);
    assert.deepEqual(out[0].privacyNotice, { version, language: 'de', store: 'store' });
    assert.equal(out[0].to, GERMAN.phone);
    assert.equal(out[1].privacyNotice, undefined, 'the original message is not changed');
    assert.equal(await (await ledger()).hasSeenNotice(GERMAN.phone, version), true);
    const exported = await (await ledger()).exportSubject(GERMAN.phone, 'test');
    assert.deepEqual(
      exported.notices.map((n) => [n.noticeVersion, n.actor]),
      [[version, 'privacy-notice:notice']],
    );

    const second = { to: GERMAN.phone, payload: 'Zugestellt!', topic: 'kept' };
    helper.getNode('notice').receive(second);
    await until(() => sent.length === 3, 'the second message');
    assert.deepEqual(accepted(GERMAN.waId), [germanNotice, 'Ihre Bestellung ist unterwegs.', 'Zugestellt!']);
    assert.equal(out[2].topic, 'kept');
    assert.equal(out[2].payload, 'Zugestellt!');
  });

  it("leaves out whatsapp-send's opt-out line right behind a notice that says how to stop, not behind one that does not", async () => {
    const { sent } = await load({}, {}, { optOutFooter: true });
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Ihre Bestellung ist unterwegs.' });
    await until(() => sent.length === 2, 'notice and message sent');
    // Found, not taken by position: whatsapp-send emits the notice only once its message id is stored, so the message
    // behind it (nothing to store) may come out first, although Meta got the two in order (accepted(), below).
    const behind = sent.find((m) => m.afterPrivacyNotice !== undefined);
    assert.equal(
      (behind?.afterPrivacyNotice as { noticeSaysHowToStop?: boolean } | undefined)?.noticeSaysHowToStop,
      true,
    );
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Zugestellt!' });
    await until(() => sent.length === 3, 'the next message');
    assert.deepEqual(accepted(GERMAN.waId), [
      germanNotice,
      'Ihre Bestellung ist unterwegs.',
      'Zugestellt!\n\nAntworten Sie mit STOP, um sich abzumelden.',
    ]);
    await helper.unload();
    sandbox.reset();

    // A notice of the business's own that does not say how to stop: the line stays under the message.
    const own = await load({ noticeDe: 'Hinweis zum Datenschutz: {policyUrl}' }, {}, { optOutFooter: true });
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Ihre Bestellung ist unterwegs.' });
    await until(() => own.sent.length === 2, 'notice and message sent');
    assert.equal(
      accepted(GERMAN.waId)[1],
      'Ihre Bestellung ist unterwegs.\n\nAntworten Sie mit STOP, um sich abzumelden.',
    );
  });

  it("leaves out whatsapp-send's opt-out line for someone who opted out of everything, not for someone with anything left", async () => {
    const { sent } = await load({}, {}, { optOutFooter: true });
    const store = await ledger();
    await store.giveConsent({
      subject: GERMAN.phone,
      purpose: 'offers',
      wording: 'Offers',
      method: 'keyword',
      actor: 't',
    });
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Willkommen.' });
    await until(() => sent.length === 2, 'notice and first message');
    // She ends the offers only: the order updates and shipping notices still run, a STOP would end them.
    await store.withdrawConsent({ subject: GERMAN.phone, purposes: ['offers'], channel: 'admin', actor: 't' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Gern geschehen.' });
    await until(() => sent.length === 3, 'the answer');
    // She sends STOP: everything ends, and "Antworten Sie mit STOP" would tell her to do it again.
    await store.withdrawConsent({ subject: GERMAN.phone, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Danke für Ihre Nachricht.' });
    await until(() => sent.length === 4, 'the answer after her STOP');
    assert.equal((sent[3].afterPrivacyNotice as { stopEndsNothing?: boolean }).stopEndsNothing, true);
    assert.deepEqual(accepted(GERMAN.waId).slice(2), [
      'Gern geschehen.\n\nAntworten Sie mit STOP, um sich abzumelden.',
      'Danke für Ihre Nachricht.',
    ]);
  });

  it('records no notice that could not be delivered: the next message is preceded by it again', async () => {
    const { sent, failed } = await load();
    // She has not written in 24 hours: WhatsApp refuses free-form messages to her (131047), the notice as well.
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Ihre Bestellung ist unterwegs.' });
    await until(() => failed.length === 2, 'notice and message refused');
    assert.equal((failed[0].error as { code?: number }).code, 131047);
    // The message behind the notice is not even tried.
    assert.equal((failed[1].error as { code?: string }).code, 'privacy-notice-not-delivered');
    // The record went before the failure left whatsapp-send.
    assert.equal(await (await ledger()).hasSeenNotice(GERMAN.phone, version), false);
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo?' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Ihre Bestellung ist da.' });
    await until(() => sent.length === 2, 'notice and message sent');
    assert.deepEqual(accepted(GERMAN.waId), [germanNotice, 'Ihre Bestellung ist da.']);
    const audit = (await (await ledger()).exportSubject(GERMAN.phone, 't')).auditEvents.map((e) => e.action);
    assert.deepEqual(
      audit.filter((a) => a.startsWith('notice.')),
      ['notice.shown', 'notice.undelivered', 'notice.shown'],
    );
  });

  it('whatsapp-send ends a confirmation request it could not send, so that the person may ask again at once', async () => {
    const { failed } = await load();
    const store = await ledger();
    const record = await store.requestConsent({
      subject: GERMAN.phone,
      purpose: 'offers',
      wording: 'Send me offers.',
      method: 'web-form',
      actor: 'optin',
    });
    // As opt-in-flow emits it: an interactive YES message, which WhatsApp refuses outside the 24-hour window.
    helper.getNode('send').receive({
      to: GERMAN.phone,
      payload: 'Bitte bestätigen Sie mit JA.',
      consent: record,
      optIn: { outcome: 'requested', purpose: 'offers', language: 'de', store: 'store' },
    });
    await until(() => failed.length === 1, 'the refused request');
    assert.equal((await store.getConsent(GERMAN.phone, 'offers'))?.status, 'expired');
    const again = await store.requestConsent({
      subject: GERMAN.phone,
      purpose: 'offers',
      wording: 'Send me offers.',
      method: 'web-form',
      actor: 'optin',
    });
    assert.equal(again.status, 'pending', 'not refused as request-pending');
  });

  it('whatsapp-send keeps a confirmation request that may have arrived, and forgets a notice that may not have', async () => {
    const proxy = await failingProxy(server.url, 2, 0, 'mayHaveArrived');
    apiBase = proxy.url;
    try {
      const { failed } = await load();
      const store = await ledger();
      const record = await store.requestConsent({
        subject: GERMAN.phone,
        purpose: 'offers',
        wording: 'Send me offers.',
        method: 'web-form',
        actor: 'optin',
      });
      helper.getNode('send').receive({
        to: GERMAN.phone,
        payload: 'Bitte bestätigen Sie mit JA.',
        consent: record,
        optIn: { outcome: 'requested', purpose: 'offers', language: 'de', store: 'store' },
      });
      await until(() => failed.length === 1, 'the request whose fate is unknown');
      assert.equal(failed[0].error?.deliveryUnknown, true);
      // Her YES to a request that did arrive must find it pending, not "expired".
      assert.equal((await store.getConsent(GERMAN.phone, 'offers'))?.status, 'pending');
      const audit = (await store.exportSubject(GERMAN.phone, 't')).auditEvents.map((e) => e.action);
      assert.ok(!audit.includes('consent.request_undelivered'), audit.join());

      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
      helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Ihr Paket ist da.' });
      await until(() => failed.length === 3, 'the notice and the message behind it');
      assert.equal(failed[1].error?.deliveryUnknown, true, 'the notice');
      assert.equal(await store.hasSeenNotice(GERMAN.phone, version), false, 'shown twice rather than never');
    } finally {
      apiBase = server.url;
      await proxy.stop();
    }
  });

  it("gives the notice the message's consent, so that whatsapp-send checks it again for the notice too", async () => {
    const { out, sent } = await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    const consent = { allowed: true, status: 'given', purpose: 'news' };
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Neu im Shop', consent });
    await until(() => sent.length === 2, 'notice and message to be sent');
    assert.ok(out[0].privacyNotice, 'the notice comes first');
    assert.deepEqual(out[0].consent, consent);
  });

  it('sends the English notice to other numbers and honours msg.language', async () => {
    const { sent } = await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: BRITISH.waId }, { text: 'Hi' });
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hi' });
    helper.getNode('notice').receive({ payload: 'Your order shipped.', whatsapp: { from: BRITISH.phone } });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Your order shipped.', language: 'en' });
    await until(() => sent.length === 4, 'both notices and messages');
    assert.deepEqual(accepted(BRITISH.waId), [englishNotice, 'Your order shipped.']);
    assert.deepEqual(accepted(GERMAN.waId), [englishNotice, 'Your order shipped.']);
  });

  it("keeps working after the store's thread died and the store opened a new ledger", async () => {
    const { sent, caught } = await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: BRITISH.waId }, { text: 'Hi' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Eins' });
    await until(() => sent.length === 2, 'the notice and the first message');
    // What a crash of the thread looks like from outside: the worker ends without being closed.
    const first = await ledger();
    await (first as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await until(() => (helper.getNode('store') as unknown as { ledger?: unknown }).ledger !== first, 'a new ledger');
    helper.getNode('notice').receive({ to: BRITISH.phone, payload: 'Your order shipped.' });
    await until(() => sent.length === 4 || caught.length > 0, 'the notice and message after the restart');
    assert.deepEqual(caught, []);
    assert.deepEqual(accepted(BRITISH.waId), [englishNotice, 'Your order shipped.']);
    assert.equal(await (await ledger()).hasSeenNotice(BRITISH.phone, version), true);
  });

  it('produces one notice when two messages to the same person arrive together', async () => {
    const { sent } = await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Eins' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Zwei' });
    await until(() => sent.length === 3, 'one notice and two messages');
    assert.deepEqual(accepted(GERMAN.waId), [germanNotice, 'Eins', 'Zwei']);
  });

  it('shows the notice again when its text changes (a new version), across a restart', async () => {
    const { sent } = await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Eins' });
    await until(() => sent.length === 2, 'first notice and message');
    await helper.unload();
    await helper.stopServer();
    await helper.startServer();
    mount = mountHttpApps();

    const newText =
      'Neu: Wir speichern Ihre Nummer verschlüsselt. Datenschutz: {policyUrl}. Antworten Sie STOP zum Abmelden.';
    const again = await load({ noticeDe: newText });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Zwei' });
    await until(() => again.sent.length === 2, 'the new notice and message');
    assert.deepEqual(accepted(GERMAN.waId), [germanNotice, 'Eins', newText.replace('{policyUrl}', POLICY_URL), 'Zwei']);
    const newVersion = noticeVersion(renderNoticeTexts({ de: newText }, POLICY_URL));
    assert.notEqual(newVersion, version);
    assert.equal(again.out[0].privacyNotice && (again.out[0].privacyNotice as { version: string }).version, newVersion);
    const exported = await (await ledger()).exportSubject(GERMAN.phone, 'test');
    assert.deepEqual(exported.notices.map((n) => n.noticeVersion).sort(), [version, newVersion].sort());
  });

  it('does not send the message when the notice before it failed, and shows the notice first when it comes again', async () => {
    const proxy = await failingProxy(server.url, 1);
    apiBase = proxy.url;
    try {
      const { sent, failed } = await load();
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
      helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Ihr Paket ist da.' });
      await until(() => failed.length === 2, 'the notice and the message to fail');
      assert.equal(failed[0].error?.code, 131026, 'the notice');
      assert.equal(failed[1].error?.code, 'privacy-notice-not-delivered');
      assert.equal(failed[1].error?.retryable, true);
      assert.equal(sent.length, 0);
      assert.deepEqual(accepted(GERMAN.waId), []);
      // Sent again through the notice node, as the error says: the notice goes first, then the message.
      helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Ihr Paket ist da.' });
      await until(() => sent.length === 2, 'the notice and the message');
      assert.deepEqual(accepted(GERMAN.waId), [germanNotice, 'Ihr Paket ist da.']);
    } finally {
      apiBase = server.url;
      await proxy.stop();
    }
  });

  it('sends neither of two messages at once when their notice failed, nor either of them sent again later', async () => {
    // The failure comes late: the second message is let pass as after the notice, which then fails.
    const proxy = await failingProxy(server.url, 1, 300);
    apiBase = proxy.url;
    try {
      const { sent, failed } = await load();
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
      helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Erste Nachricht' });
      helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Zweite Nachricht' });
      await until(() => failed.length === 3, 'the notice and both messages to fail');
      assert.deepEqual(
        failed.map((m) => m.error?.code),
        [131026, 'privacy-notice-not-delivered', 'privacy-notice-not-delivered'],
      );
      // A flow that sends the refused message again straight to whatsapp-send, whenever: still not without the notice.
      helper.getNode('send').receive(failed[2]);
      await until(() => failed.length === 4, 'the message sent again to fail');
      assert.equal(failed[3].error?.code, 'privacy-notice-not-delivered');
      assert.deepEqual([sent.length, accepted(GERMAN.waId).length], [0, 0]);
      assert.equal(await (await ledger()).hasSeenNotice(GERMAN.phone, version), false);
    } finally {
      apiBase = server.url;
      await proxy.stop();
    }
  });

  it('does not send the message when recording its notice failed and the notice was not delivered', async () => {
    const proxy = await failingProxy(server.url, 1);
    apiBase = proxy.url;
    try {
      const { sent, failed, caught } = await load();
      const store = (await ledger()) as unknown as { recordNoticeShown: () => Promise<boolean> };
      store.recordNoticeShown = async () => {
        throw new Error('the disk is full');
      };
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
      helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Ihr Paket ist da.' });
      await until(() => failed.length === 2 && caught.length === 1, 'the notice and the message to fail');
      assert.deepEqual(
        failed.map((m) => m.error?.code),
        [131026, 'privacy-notice-not-delivered'],
      );
      assert.deepEqual([sent.length, accepted(GERMAN.waId).length], [0, 0]);
    } finally {
      apiBase = server.url;
      await proxy.stop();
    }
  });

  it('shows no notice to a person known to have last written more than 24 hours ago, nor the message', async () => {
    const { sent, failed } = await load();
    // Meta would accept a free-form notice and report its failure (131047) only later, in a status webhook.
    await (await ledger()).recordInbound(GERMAN.phone, Date.now() - 25 * 60 * 60 * 1000);
    // She wrote meanwhile under a key the store did not see (her user id alone): Meta's window is open.
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Ihr Paket ist da.' });
    await until(() => failed.length === 1, 'the message to be refused');
    assert.equal(failed[0].error?.code, 'privacy-notice-not-delivered', 'not sent without the notice');
    assert.deepEqual([sent.length, accepted(GERMAN.waId).length], [0, 0]);
    assert.equal(await (await ledger()).hasSeenNotice(GERMAN.phone, version), false);
    // She writes: the next message is preceded by the notice.
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    await (await ledger()).recordInbound(GERMAN.phone);
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Ihr Paket ist da.' });
    await until(() => sent.length === 2, 'the notice and the message');
    assert.deepEqual(accepted(GERMAN.waId), [germanNotice, 'Ihr Paket ist da.']);
  });

  it('lets a template pass without a notice (it could not be delivered outside the window) and records nothing', async () => {
    const { sent } = await load();
    const template = { type: 'template', template: { name: 'order_update', language: { code: 'de' } } };
    helper.getNode('notice').receive({ to: '+4917012345678', payload: template });
    await until(() => sent.length === 1, 'the template');
    assert.deepEqual(accepted('4917012345678'), ['[template]']);
    assert.equal(await (await ledger()).hasSeenNotice('+4917012345678', version), false);
  });

  it('sends no notice to an erased person and stores nothing about them again', async () => {
    const { sent } = await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    const store = await ledger();
    await store.recordInbound(GERMAN.phone);
    await store.eraseSubject(GERMAN.phone, 'test');
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Nachricht' });
    await until(() => sent.length === 1, 'the message');
    assert.deepEqual(accepted(GERMAN.waId), ['Nachricht']);
    const exported = await store.exportSubject(GERMAN.phone, 'test');
    assert.equal(exported.notices.length, 0);
    assert.equal(exported.subject, undefined);
  });

  it('shows the notice to someone who writes from an erased number after the erasure, and records it', async () => {
    const { sent } = await load();
    const store = await ledger();
    // The number's earlier holder had her data erased; a message she sent before that, delivered late, changes nothing.
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Bitte meine Daten löschen.' });
    const sentBefore = Date.now() - 1;
    await store.eraseSubject(GERMAN.phone, 'test');
    await store.recordInbound(GERMAN.phone, sentBefore);
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Erste Antwort' });
    await until(() => sent.length === 1, 'the first answer');
    assert.deepEqual(accepted(GERMAN.waId), ['Erste Antwort'], 'no notice: nothing arrived since the erasure');
    assert.equal(await store.hasSeenNotice(GERMAN.phone, version), false);
    // Now someone writes from the number (its new holder, or she came back): she is answered after the notice.
    await sandbox.customerSends(
      PHONE_NUMBER_ID,
      { waId: GERMAN.waId },
      { text: 'Hallo, wann kommt meine Bestellung?' },
    );
    await store.recordInbound(GERMAN.phone, Date.now() + 1);
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Morgen.' });
    await until(() => sent.length === 3, 'the notice and the answer');
    assert.deepEqual(accepted(GERMAN.waId), ['Erste Antwort', germanNotice, 'Morgen.']);
    // She came back: the notice is on record, as for a person who signs up again, and is not shown twice.
    assert.equal(await store.hasSeenNotice(GERMAN.phone, version), true);
    assert.equal(await store.isSuppressed(GERMAN.phone), true, 'the erasure list entry stays');
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Gern geschehen.' });
    await until(() => sent.length === 4, 'the next answer');
    assert.deepEqual(accepted(GERMAN.waId).slice(3), ['Gern geschehen.']);
  });

  it('refuses a message without recipient and one with an invalid number, sending nothing', async () => {
    const { caught, sent } = await load();
    helper.getNode('notice').receive({ payload: 'Hallo' });
    helper.getNode('notice').receive({ to: '12', payload: 'Hallo' });
    await until(() => caught.length === 2, 'both errors');
    // missing-recipient and invalid-phone (the test runtime has no message catalogue: the errors' own texts).
    assert.deepEqual(caught.map((m) => String(m.error?.message)).sort(), [
      'Error: The message has no recipient: set msg.to',
      'Error: The phone number is not a valid international number: write it with its country code, e.g. +49 151 98765432',
    ]);
    assert.equal(sent.length, 0);
    assert.equal(sandbox.accepted().length, 0);
  });

  it("reads a number written nationally in the store's country for someone the store knows, as consent-gate does", async () => {
    const { out, sent, caught } = await load({}, { defaultCountry: 'DE' });
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    // Her message makes her known to the store (the webhook records it; this test has none wired to the sandbox).
    await (await ledger()).recordInbound(GERMAN.phone);
    helper.getNode('notice').receive({ to: '0151 23456789', payload: 'Ihre Bestellung ist unterwegs.' });
    await until(() => sent.length === 2, 'notice and message to be sent');
    assert.deepEqual(accepted(GERMAN.waId), [germanNotice, 'Ihre Bestellung ist unterwegs.']);
    assert.deepEqual(
      out.map((m) => m.to),
      [GERMAN.phone, GERMAN.phone],
      'both in international form: whatsapp-send reads no other',
    );
    assert.equal(await (await ledger()).hasSeenNotice(GERMAN.phone, version), true);
    // Austria's 0664 1234567 reads as a valid German number that nobody here has: refused, nothing recorded.
    helper.getNode('notice').receive({ to: '0664 1234567', payload: 'Hallo' });
    await until(() => caught.length === 1, 'the error');
    assert.equal((caught[0].error as { code?: string }).code, 'unknown-national-number');
    assert.equal(await (await ledger()).knowsSubject('+496641234567'), false, 'nothing written about a stranger');
    assert.equal(sent.length, 2);
  });

  it('refuses a message whatsapp-send would refuse before any notice is sent or recorded', async () => {
    const { caught, sent } = await load();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    helper.getNode('notice').receive({ to: GERMAN.phone });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 42 });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: { type: 'text', text: { body: '' } } });
    await until(() => caught.length === 3, 'three errors');
    // invalid-message, naming the broken field.
    for (const msg of caught) assert.match(String(msg.error?.message), /^Error: Invalid WhatsApp message: /);
    assert.equal(sent.length, 0);
    assert.equal(await (await ledger()).hasSeenNotice(GERMAN.phone, version), false, 'no notice recorded');
  });

  it("warns when the notice links this Node-RED's own address while a number talks to Meta's Cloud API", async () => {
    // The test's whatsapp-config is in cloud mode: real customers, whose phones cannot open the address.
    await load({ policyUrl: '/privacy' });
    const spy = helper.log() as unknown as { args: [{ msg: unknown; level: number }][] };
    const warnings = spy.args.filter(([e]) => e.level === 30 && /own-address/.test(String(e.msg)));
    assert.equal(warnings.length, 1);
  });

  it('warns at deploy about a policy URL without https:// (deployed past the dialog), and only about that', async () => {
    for (const [policyUrl, warned] of [
      ['www.beispiel-shop.de/datenschutz', 1],
      ['https://www.beispiel-shop.de/datenschutz', 0],
      ['/privacy', 0],
    ] as const) {
      await load({ policyUrl });
      const spy = helper.log() as unknown as { args: [{ msg: unknown; level: number }][] };
      const warnings = spy.args.filter(([e]) => e.level === 30 && /policy-url-not-web/.test(String(e.msg)));
      assert.equal(warnings.length, warned, policyUrl);
      await helper.unload();
    }
  });

  it('warns at deploy about a notice that links no policy, and sends one with {policyURL} with the link', async () => {
    const { sent } = await load({
      noticeEn: 'Welcome! We do not say where our policy is.',
      noticeDe: 'Hinweis zum Datenschutz: {policyURL}',
    });
    const spy = helper.log() as unknown as { args: [{ msg: unknown; level: number }][] };
    const warnings = spy.args.filter(([e]) => e.level === 30 && /no-link/.test(String(e.msg)));
    assert.equal(warnings.length, 1, 'for English only');
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Ihre Bestellung ist unterwegs.' });
    await until(() => sent.length === 2, 'notice and message sent');
    assert.match(accepted(GERMAN.waId)[0], /^Hinweis zum Datenschutz: https:\/\//);
  });

  it('keeps the notice version of a policy path whatever address of this Node-RED it links', async () => {
    // The link carries this Node-RED's port, host and scheme; the notice (and the page it links) is the same on any.
    const { sent } = await load({ policyUrl: '/privacy' });
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Ihre Bestellung ist unterwegs.' });
    await until(() => sent.length === 2, 'notice and message sent');
    assert.match(accepted(GERMAN.waId)[0], /http:\/\/127\.0\.0\.1:\d+\/privacy/);
    const pathVersion = noticeVersion(renderNoticeTexts({}, '/privacy'));
    assert.equal(await (await ledger()).hasSeenNotice(GERMAN.phone, pathVersion), true);
  });

  it('refuses to send when the notice needs a policy URL that is not set', async () => {
    const { caught, sent } = await load({ policyUrl: '' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Hallo' });
    await until(() => caught.length === 1, 'the error');
    assert.match(String(caught[0].error?.message), /policy URL/);
    assert.equal(sent.length, 0);
  });

  it('serves the full policy page in German and English, with the store purposes and retention', async () => {
    await load();
    const de = await get('/privacy', { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' });
    assert.equal(de.status, 200);
    assert.match(String(de.headers['content-type']), /^text\/html; charset=utf-8/);
    assert.equal(de.headers['content-language'], 'de');
    assert.match(String(de.headers['content-security-policy']), /default-src 'none'/);
    for (const expected of [
      '<html lang="de">',
      'Datenschutzerklärung für unseren WhatsApp-Dienst',
      'Example Shop GmbH',
      'Dr. Daten Schutz',
      'Ich möchte Bestellupdates per WhatsApp.',
      'Vertragserfüllung, Art. 6 Abs. 1 lit. b DSGVO',
      'Schickt mir Angebote.',
      'Verfolgtes berechtigtes Interesse: Wir sagen Kunden, wann die Bestellung kommt.',
      'Meta Platforms Ireland Ltd.',
      'Integrator AG',
      'Deutschland (Frankfurt am Main)',
      'nach 24 Stunden',
      'Sie uns 14 Tage nicht geschrieben',
      '3 Jahre',
      'Antworten Sie im Chat mit STOP',
      version,
    ]) {
      assert.ok(de.body.includes(expected), `German page lacks: ${expected}`);
    }
    const en = await get('/privacy?lang=en', { 'accept-language': 'de-DE' });
    assert.equal(en.headers['content-language'], 'en');
    for (const expected of [
      '<html lang="en">',
      'I want order updates on WhatsApp.',
      'Legitimate interest pursued: We tell customers when their order arrives.',
      'expires after 24 hours',
      'kept for 3 years',
    ]) {
      assert.ok(en.body.includes(expected), `English page lacks: ${expected}`);
    }
  });

  it("says on the page what else STOP ends, as the store's stop-handler nodes are set", async () => {
    const cases: [string, string | undefined][] = [
      ['', 'STOP also ends the messages we send you without needing your consent (Order updates, Shipping notices).'],
      ['orders, offers', 'STOP also ends the messages we send you without needing your consent (Order updates).'],
      ['offers', undefined],
    ];
    for (const [purposes, said] of cases) {
      await helper.load(
        [configNode, consentStoreNode, sendNode, privacyNoticeNode, webhookNode, stopHandlerNode, mount] as never,
        [
          ...flow({}, {}),
          { id: 'stop', z: 'f1', type: 'stop-handler', store: 'store', purposes, wires: [[], []] },
        ] as never,
        { cfg: { accessToken: ACCESS_TOKEN, appSecret: APP_SECRET }, store: keys },
      );
      const page = (await get('/privacy?lang=en')).body.replace(/\s+/g, ' ');
      if (said) assert.ok(page.includes(said), `${purposes}: ${said}`);
      else assert.doesNotMatch(page, /also ends the messages/, purposes);
      await helper.unload();
    }
  });

  it('says that advertising alone can be objected to in her own words while a stop-handler of the store reads them', async () => {
    const said = 'To object to advertising alone, you may also write so in the chat in your own words';
    const gesagt = 'Um nur der Werbung zu widersprechen, können Sie es uns im Chat auch mit eigenen Worten schreiben';
    for (const marketingObjections of [true, false]) {
      await helper.load(
        [configNode, consentStoreNode, sendNode, privacyNoticeNode, webhookNode, stopHandlerNode, mount] as never,
        [
          ...flow({}, {}),
          { id: 'stop', z: 'f1', type: 'stop-handler', store: 'store', marketingObjections, wires: [[], []] },
        ] as never,
        { cfg: { accessToken: ACCESS_TOKEN, appSecret: APP_SECRET }, store: keys },
      );
      const en = (await get('/privacy?lang=en')).body.replace(/\s+/g, ' ');
      const de = (await get('/privacy?lang=de')).body.replace(/\s+/g, ' ');
      assert.equal(en.includes(said), marketingObjections, `en, ${marketingObjections}`);
      assert.equal(de.includes(gesagt), marketingObjections, `de, ${marketingObjections}`);
      await helper.unload();
    }
  });

  it('answers 503 while the page lacks every contact of the controller (Art. 13(1)(a)), and goes on sending', async () => {
    const { caught, sent } = await load({ controllerAddress: '', controllerEmail: '', controllerPhone: ' ' });
    assert.deepEqual(statusesOf('notice').at(-1), {
      fill: 'red',
      shape: 'dot',
      text: 'privacy-notice.status.page-incomplete',
    });
    const de = await get('/privacy', { 'accept-language': 'de-DE' });
    assert.equal(de.status, 503);
    assert.equal(
      de.body,
      'Die Datenschutzerklärung kann gerade nicht angezeigt werden. Bitte versuchen Sie es später erneut.',
    );
    assert.equal(de.body.includes('Example Shop GmbH'), false);
    const en = await get('/privacy?lang=en');
    assert.equal(en.status, 503);
    assert.equal(en.body, 'The privacy policy cannot be shown right now. Please try again later.');
    // The policy URL may be the business's own page: customers are answered on, with the notice first.
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Hallo zurück' });
    await until(() => sent.length === 2, 'the notice and the message');
    assert.equal(accepted(GERMAN.waId).at(-1), 'Hallo zurück');
    assert.equal(caught.length, 0);
    // Said once in the log, not on every visit.
    const logged = callsOf('error', 'notice').map((args) => String(args[0]));
    assert.equal(
      logged.filter((line) => line === 'privacy-notice.errors.page-incomplete').length,
      1,
      logged.join('\n'),
    );
  });

  it('serves the page only with the controller name, a contact and the storage location, also when deployed anew', async () => {
    await load({ controllerName: '' });
    assert.equal((await get('/privacy')).status, 503, 'no controller name');
    const settings = { cfg: { accessToken: ACCESS_TOKEN }, store: keys };
    await helper.setFlows(flow({ storageLocation: '' }) as never, 'full', settings);
    assert.equal((await get('/privacy')).status, 503, 'no storage location');
    await helper.setFlows(
      flow({ controllerAddress: '', controllerEmail: '', controllerPhone: '+49 30 123456' }) as never,
      'full',
      settings,
    );
    const page = await get('/privacy?lang=en');
    assert.equal(page.status, 200, 'a phone number is contact enough');
    assert.ok(page.body.includes('Phone: +49 30 123456'));
    // A notice that does not link the page goes as usual, while the page is not served.
    const own = { noticeEn: 'We use your number to answer you.', noticeDe: 'Wir nutzen Ihre Nummer, um zu antworten.' };
    await helper.setFlows(flow({ ...own, controllerName: '' }) as never, 'full', settings);
    assert.equal((await get('/privacy')).status, 503);
    const sent: Msg[] = [];
    helper.getNode('sent').on('input', (msg: Msg) => sent.push(msg));
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    helper.getNode('notice').receive({ to: GERMAN.phone, payload: 'Hallo zurück' });
    await until(() => sent.length === 2, 'the notice and the message');
    assert.deepEqual(accepted(GERMAN.waId), [own.noticeDe, 'Hallo zurück']);
    // Not served: its settings are not needed, and the notice goes as usual.
    await helper.setFlows(
      flow({ servePage: false, controllerName: '', storageLocation: '' }) as never,
      'full',
      settings,
    );
    assert.equal((await get('/privacy')).status, 404);
    assert.equal(statusesOf('notice').at(-1)?.fill, 'grey', 'ready');
  });

  it('escapes hostile settings on the page', async () => {
    await load({ controllerName: '<script>alert(1)</script>', storageLocation: '<img src=x onerror=alert(1)>' });
    const page = await get('/privacy?lang=en');
    assert.equal(page.status, 200);
    assert.equal(page.body.includes('<script'), false);
    assert.equal(page.body.includes('<img'), false);
    assert.ok(page.body.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  });

  it('removes its route on redeploy instead of stacking it, and serves no page when switched off', async () => {
    await load();
    const httpNode = mount.mounted.httpNode!;
    assert.equal(routesAt(httpNode, '/privacy').length, 1);
    await helper.setFlows(flow({ controllerName: 'Renamed GmbH' }) as never, 'full', {
      cfg: { accessToken: ACCESS_TOKEN },
      store: keys,
    });
    assert.equal(routesAt(httpNode, '/privacy').length, 1);
    assert.ok((await get('/privacy')).body.includes('Renamed GmbH'));
    await helper.setFlows(flow({ servePage: false }) as never, 'full', {
      cfg: { accessToken: ACCESS_TOKEN },
      store: keys,
    });
    assert.equal(routesAt(httpNode, '/privacy').length, 0);
    assert.equal((await get('/privacy')).status, 404);
  });
});
