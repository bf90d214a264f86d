import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditExportLines } from '../../lib/consent/audit-verify';
import type { ConsentLedger } from '../../lib/consent/ledger';
import { DEFAULT_HELP_TEXTS, DEFAULT_STOP_CONFIRMATION_TEXTS } from '../../lib/conversation/stop';
import { Sandbox } from '../../lib/sandbox/sandbox';
import { type RunningSandboxServer, startSandboxServer } from '../../lib/sandbox/server';
import { buildMessageWebhook } from '../../lib/webhook/build';
import { signPayload } from '../../lib/webhook/signature';
import consentStoreNode from '../../nodes/consent-store';
import optInFlowNode from '../../nodes/opt-in-flow';
import stopHandlerNode from '../../nodes/stop-handler';
import configNode from '../../nodes/whatsapp-config';
import sendNode from '../../nodes/whatsapp-send';
import webhookNode from '../../nodes/whatsapp-webhook';
import { helper } from '../helpers/node-red';
import { mountHttpApps } from '../helpers/node-red-http';
import { callsOf } from './consent-fixtures';

const PHONE_NUMBER_ID = '106540352242922';
const ACCESS_TOKEN = 'token-for-stop-tests';
const APP_SECRET = 'app-secret-for-stop-tests';
const GERMAN = { waId: '4915123456789', phone: '+4915123456789' };
const BRITISH = { waId: '447911123456', phone: '+447911123456' };
const PURPOSES = [
  {
    id: 'orders',
    label: 'Order updates',
    wording: { en: 'Order updates on WhatsApp', de: 'Bestellupdates per WhatsApp' },
    lawfulBasis: 'consent',
    marketing: false,
  },
  {
    id: 'offers',
    label: 'Offers',
    wording: { en: 'Offers on WhatsApp', de: 'Angebote per WhatsApp' },
    lawfulBasis: 'consent',
    marketing: true,
  },
];

type Msg = Record<string, unknown> & {
  payload?: unknown;
  whatsapp?: Record<string, unknown>;
  stop?: Record<string, unknown>;
  error?: Record<string, unknown>;
};

async function until(predicate: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('stop-handler node (webhook -> stop-handler -> whatsapp-send -> sandbox over HTTP)', () => {
  let sandbox: Sandbox;
  let server: RunningSandboxServer;
  let dir: string;

  before(async () => {
    sandbox = new Sandbox();
    server = await startSandboxServer({ sandbox });
    sandbox.registerTemplate({
      name: 'weekly_offers',
      language: 'de',
      category: 'MARKETING',
      body: 'Angebote der Woche',
    });
  });

  after(async () => {
    await server.close();
    sandbox.close();
  });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'h7-stop-node-'));
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
    await helper.unload();
    await helper.stopServer();
    sandbox.unregisterNumber(PHONE_NUMBER_ID);
    rmSync(dir, { recursive: true, force: true });
  });

  interface Options {
    stop?: Record<string, unknown>;
    hook?: Record<string, unknown>;
    hookWires?: string[][];
    storePath?: string;
    purposes?: Record<string, unknown>[];
    /** More settings of the consent store. */
    store?: Record<string, unknown>;
    extra?: Record<string, unknown>[];
  }

  async function load(
    options: Options = {},
  ): Promise<{ sent: Msg[]; other: Msg[]; caught: Msg[]; ledger?: ConsentLedger }> {
    const flow = [
      { id: 'f1', type: 'tab', label: 'stop-handler test' },
      {
        id: 'cfg',
        type: 'whatsapp-config',
        mode: 'cloud',
        apiBaseUrl: server.url,
        apiVersion: 'v25.0',
        phoneNumberId: PHONE_NUMBER_ID,
      },
      {
        id: 'store',
        type: 'consent-store',
        backend: 'sqlite',
        sqlitePath: options.storePath ?? join(dir, 'consent.db'),
        purposes: options.purposes ?? PURPOSES,
        ...options.store,
      },
      {
        id: 'hook',
        z: 'f1',
        type: 'whatsapp-webhook',
        path: '/whatsapp',
        whatsapp: 'cfg',
        wires: options.hookWires ?? [['stop'], ['stop'], ['stop']],
        ...options.hook,
      },
      { id: 'stop', z: 'f1', type: 'stop-handler', store: 'store', wires: [['send'], ['other']], ...options.stop },
      { id: 'send', z: 'f1', type: 'whatsapp-send', whatsapp: 'cfg', wires: [['sent'], ['failed']] },
      { id: 'sent', z: 'f1', type: 'helper' },
      { id: 'failed', z: 'f1', type: 'helper' },
      { id: 'other', z: 'f1', type: 'helper' },
      { id: 'catcher', z: 'f1', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'f1', type: 'helper' },
      ...(options.extra ?? []),
    ];
    const credentials = {
      cfg: { accessToken: ACCESS_TOKEN, appSecret: APP_SECRET, verifyToken: 'verify' },
      store: { encryptionKey: randomBytes(32).toString('base64'), pseudonymKey: randomBytes(32).toString('base64') },
    };
    await helper.load(
      [configNode, consentStoreNode, webhookNode, sendNode, stopHandlerNode, optInFlowNode, mountHttpApps()] as never,
      flow as never,
      credentials,
    );
    const sent: Msg[] = [];
    const other: Msg[] = [];
    const caught: Msg[] = [];
    helper.getNode('sent').on('input', (msg: Msg) => sent.push(msg));
    helper.getNode('other').on('input', (msg: Msg) => other.push(msg));
    helper.getNode('caught').on('input', (msg: Msg) => caught.push(msg));
    return { sent, other, caught };
  }

  async function ledgerOf(): Promise<ConsentLedger> {
    return (helper.getNode('store') as unknown as { getLedger(): Promise<ConsentLedger> }).getLedger();
  }

  async function subscribe(phone: string, purposes = ['orders', 'offers']): Promise<ConsentLedger> {
    const ledger = await ledgerOf();
    for (const purpose of purposes) {
      await ledger.giveConsent({
        subject: phone,
        purpose,
        wording: `${purpose} wording`,
        method: 'keyword',
        actor: 'test',
      });
    }
    return ledger;
  }

  /** A webhook POST signed as Meta signs it, for what the sandbox's chat cannot send (a group message). */
  async function signedPost(body: object): Promise<number> {
    const bytes = JSON.stringify(body);
    const res = await fetch(`${helper.url()}/whatsapp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(bytes, APP_SECRET) },
      body: bytes,
    });
    await res.arrayBuffer();
    return res.status;
  }

  /** Outgoing texts the sandbox accepted for one customer, oldest first. */
  function textsTo(waId: string): string[] {
    return sandbox
      .accepted(PHONE_NUMBER_ID)
      .filter((m) => m.to.replace(/^\+/, '') === waId && m.body.type === 'text')
      .map((m) => (m.body as { text: { body: string } }).text.body);
  }

  it('withdraws every purpose on STOP and sends the German confirmation to a German number', async () => {
    const { sent } = await load();
    const ledger = await subscribe(GERMAN.phone);
    const inbound = await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Stopp!' });
    assert.deepEqual(
      inbound.deliveries.map((d) => d.status),
      [200],
    );
    await until(() => sent.length === 1, 'the confirmation to be sent');
    // No opt-in-flow signs up by keyword here: the way back is not named, and she is not sent to "contact us".
    assert.deepEqual(textsTo(GERMAN.waId), ['Sie wurden abgemeldet. Sie können sich jederzeit wieder anmelden.']);
    const msg = sent[0];
    assert.equal(msg.to, GERMAN.phone);
    assert.equal(msg.optOutFooter, false);
    assert.equal(msg.stop?.kind, 'stop');
    assert.equal(msg.stop?.channel, 'whatsapp-keyword');
    assert.equal(msg.stop?.keyword, 'STOPP');
    assert.equal(msg.stop?.language, 'de');
    assert.deepEqual([...((msg.stop?.withdrawn ?? []) as string[])].sort(), ['offers', 'orders']);
    for (const purpose of ['orders', 'offers']) {
      const check = await ledger.checkConsent(GERMAN.phone, purpose);
      assert.equal(check.status, 'withdrawn');
      assert.equal(check.allowed, false);
    }
    const record = await ledger.getConsent(GERMAN.phone, 'orders');
    assert.equal(record?.withdrawalChannel, 'whatsapp-keyword');
    assert.equal(record?.withdrawalKeyword, 'STOPP');
    assert.equal(record?.actor, 'stop-handler:stop');
  });

  it("names the keyword that signs her up again: an opt-in-flow's of the same store, or the node's own", async () => {
    const optIn = (id: string, props: Record<string, unknown>) => ({
      id,
      z: 'f1',
      type: 'opt-in-flow',
      store: 'store',
      purpose: 'offers',
      allowSingleStep: true,
      wires: [[], [], [], []],
      ...props,
    });
    const confirmations = async (): Promise<string[]> => {
      for (const who of [GERMAN, BRITISH]) {
        await subscribe(who.phone);
        await sandbox.customerSends(PHONE_NUMBER_ID, { waId: who.waId }, { text: 'STOP' });
      }
      await until(() => textsTo(GERMAN.waId).length === 1 && textsTo(BRITISH.waId).length === 1, 'both confirmations');
      return [textsTo(GERMAN.waId)[0], textsTo(BRITISH.waId)[0]];
    };
    // Only sign-up by keyword, for a purpose this STOP withdraws, through a node that runs, counts.
    await load({
      stop: { purposes: 'orders' },
      extra: [
        optIn('offers-by-keyword', {}),
        optIn('form-only', { purpose: 'orders', allowSingleStep: false }),
        optIn('switched-off', { purpose: 'orders', d: true }),
      ],
    });
    assert.deepEqual(await confirmations(), [
      'Sie wurden abgemeldet. Sie können sich jederzeit wieder anmelden.',
      'You have been unsubscribed. You can sign up again at any time.',
    ]);
    await helper.unload();
    sandbox.reset();

    // The opt-in-flow's start keywords (defaults START, SUBSCRIBE, ANMELDEN, STARTEN), each reader's own; also when
    // the keyword gets a confirmation request rather than signing up at once.
    for (const [storeFile, byKeyword] of [
      ['second.db', {}],
      ['second-asks.db', { allowSingleStep: false, confirmStartKeyword: true }],
    ] as const) {
      await load({ storePath: join(dir, storeFile), extra: [optIn('offers-by-keyword', byKeyword)] });
      assert.deepEqual(
        await confirmations(),
        [
          'Sie wurden abgemeldet. Um sich wieder anzumelden, antworten Sie mit ANMELDEN.',
          'You have been unsubscribed. To sign up again, reply START.',
        ],
        storeFile,
      );
      await helper.unload();
      sandbox.reset();
    }

    // The node's own keyword wins; one in a single language is named to everyone.
    await load({
      storePath: join(dir, 'third.db'),
      stop: { signUpKeyword: 'Hallo Newsletter' },
      extra: [optIn('offers-by-keyword', {})],
    });
    assert.deepEqual(await confirmations(), [
      'Sie wurden abgemeldet. Um sich wieder anzumelden, antworten Sie mit Hallo Newsletter.',
      'You have been unsubscribed. To sign up again, reply Hallo Newsletter.',
    ]);
  });

  it('withdraws for a person known by username only and confirms to her business-scoped user id', async () => {
    const bsuid = 'DE.1502576394655843';
    const { sent, other } = await load();
    const ledger = await ledgerOf();
    await ledger.giveConsent({
      subject: { userId: bsuid },
      purpose: 'offers',
      wording: 'w',
      method: 'keyword',
      actor: 't',
    });
    // She wrote before (the sandbox learns her id and opens the window); now Meta withholds her number.
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId, userId: bsuid }, { text: 'Hallo' });
    await until(() => other.length === 1, 'her first message to pass through');
    const stop = await sandbox.customerSends(
      PHONE_NUMBER_ID,
      { waId: GERMAN.waId, userId: bsuid, hideNumber: true },
      { text: 'STOP' },
    );
    assert.deepEqual(
      stop.deliveries.map((d) => d.status),
      [200],
    );
    await until(() => sent.length === 1, 'the confirmation to be sent');
    assert.equal((await ledger.checkConsent({ userId: bsuid }, 'offers')).status, 'withdrawn');
    const confirmation = sandbox.accepted(PHONE_NUMBER_ID).at(-1)?.body as Record<string, unknown>;
    assert.equal(confirmation.recipient, bsuid);
    assert.equal('to' in confirmation, false);
    assert.equal((confirmation.text as { body: string }).body, DEFAULT_STOP_CONFIRMATION_TEXTS.de, 'DE. speaks German');
  });

  it('answers in English for other numbers and uses configured texts', async () => {
    const { sent } = await load({ stop: { confirmationEn: 'Done - no more messages from us.' } });
    await subscribe(BRITISH.phone);
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: BRITISH.waId }, { text: 'unsubscribe' });
    await until(() => sent.length === 1, 'the confirmation');
    assert.deepEqual(textsTo(BRITISH.waId), ['Done - no more messages from us.']);
    assert.equal(sent[0].stop?.language, 'en');
  });

  it('answers a keyword in the language it is written in: UNSUBSCRIBE from a German number in English', async () => {
    const { sent } = await load();
    await subscribe(GERMAN.phone);
    await subscribe(BRITISH.phone);
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Unsubscribe please' });
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: BRITISH.waId }, { text: 'Abmelden' });
    await until(() => sent.length === 2, 'both confirmations');
    assert.deepEqual(textsTo(GERMAN.waId), [DEFAULT_STOP_CONFIRMATION_TEXTS.en]);
    assert.deepEqual(textsTo(BRITISH.waId), [DEFAULT_STOP_CONFIRMATION_TEXTS.de]);
    // STOP is both languages' word: the number decides.
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hilfe' });
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: BRITISH.waId }, { text: 'STOP' });
    await until(() => sent.length === 4, 'the help text and the second confirmation');
    assert.deepEqual(textsTo(GERMAN.waId), [DEFAULT_STOP_CONFIRMATION_TEXTS.en, DEFAULT_HELP_TEXTS.de]);
    // Her second STOP ended nothing: she is told she is not signed up.
    assert.deepEqual(textsTo(BRITISH.waId), [
      DEFAULT_STOP_CONFIRMATION_TEXTS.de,
      'You are not signed up for any messages from us. You can sign up at any time.',
    ]);
  });

  it('tells a STOP that ended nothing that she is not signed up, not how to sign up "again"', async () => {
    const { sent } = await load({ stop: { signUpKeyword: 'ANMELDEN' } });
    // Never signed up.
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'STOP' });
    await until(() => sent.length === 1, 'the answer');
    assert.deepEqual(sent[0].stop?.withdrawn, []);
    assert.deepEqual(textsTo(GERMAN.waId), [
      'Sie sind bei uns für keine Nachrichten angemeldet. Um sich anzumelden, antworten Sie mit ANMELDEN.',
    ]);
    // Signed up, then STOP twice: the first ends her consents, the second nothing.
    await subscribe(BRITISH.phone);
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: BRITISH.waId }, { text: 'STOP' });
    await until(() => sent.length === 2, 'the confirmation');
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: BRITISH.waId }, { text: 'STOP' });
    await until(() => sent.length === 3, 'the second answer');
    assert.deepEqual(textsTo(BRITISH.waId), [
      'You have been unsubscribed. To sign up again, reply ANMELDEN.',
      'You are not signed up for any messages from us. To sign up, reply ANMELDEN.',
    ]);
  });

  it('says "unsubscribed" without "again" to someone never signed up whose STOP ended only order updates', async () => {
    const shipping = {
      id: 'shipping',
      label: 'Shipping notices',
      wording: { en: 'Notices about your deliveries', de: 'Hinweise zu Ihren Lieferungen' },
      lawfulBasis: 'contract',
    };
    const { sent } = await load({ stop: { signUpKeyword: 'ANMELDEN' }, purposes: [...PURPOSES, shipping] });
    // Never signed up: her STOP is an objection to the shipping notices, which need no consent.
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'STOP' });
    await until(() => sent.length === 1, 'the answer');
    assert.deepEqual(sent[0].stop?.withdrawn, ['shipping']);
    // Signed up for offers: her STOP ends a consent, and "wieder" is right.
    await subscribe(BRITISH.phone, ['offers']);
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: BRITISH.waId }, { text: 'STOP' });
    await until(() => sent.length === 2, 'the confirmation');
    assert.deepEqual(
      [textsTo(GERMAN.waId), textsTo(BRITISH.waId)],
      [
        ['Sie wurden abgemeldet. Um sich anzumelden, antworten Sie mit ANMELDEN.'],
        ['You have been unsubscribed. To sign up again, reply ANMELDEN.'],
      ],
    );
  });

  it('confirms a STOP Meta delivers again (its 200 was lost) as the first time, not as one that ended nothing', async () => {
    const { sent, other } = await load();
    const ledger = await subscribe(GERMAN.phone);
    // She wrote before (the sandbox lets answers reach her); then her STOP comes in straight, twice.
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hallo' });
    await until(() => other.length === 1, 'her first message to pass through');
    const stop = {
      payload: 'STOP',
      whatsapp: {
        from: GERMAN.phone,
        waId: GERMAN.waId,
        messageId: 'wamid.stop-delivered-twice',
        timestamp: Math.floor(Date.now() / 1000),
        type: 'text',
        text: 'STOP',
        phoneNumberId: PHONE_NUMBER_ID,
      },
    };
    helper.getNode('stop').receive(structuredClone(stop));
    await until(() => sent.length === 1, 'the confirmation');
    helper.getNode('stop').receive(structuredClone(stop));
    await until(() => sent.length === 2, 'the confirmation of the second delivery');
    assert.deepEqual(sent[1].stop?.withdrawn, [], 'nothing more to withdraw');
    assert.deepEqual(textsTo(GERMAN.waId), [DEFAULT_STOP_CONFIRMATION_TEXTS.de, DEFAULT_STOP_CONFIRMATION_TEXTS.de]);
    // Another STOP of hers (another message) ended nothing: she is told so.
    helper
      .getNode('stop')
      .receive({ ...structuredClone(stop), whatsapp: { ...stop.whatsapp, messageId: 'wamid.another' } });
    await until(() => sent.length === 3, 'the third answer');
    assert.equal(
      textsTo(GERMAN.waId)[2],
      'Sie sind bei uns für keine Nachrichten angemeldet. Sie können sich jederzeit anmelden.',
    );
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).status, 'withdrawn');
  });

  it('names the purposes a STOP of a node with a purpose list found nothing to end in', async () => {
    const { sent } = await load({ stop: { purposes: 'offers' } });
    const ledger = await subscribe(BRITISH.phone, ['orders']);
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: BRITISH.waId }, { text: 'STOP' });
    await until(() => sent.length === 1, 'the answer');
    assert.deepEqual(textsTo(BRITISH.waId), ['You are not signed up: Offers. You can sign up at any time.']);
    assert.equal((await ledger.checkConsent(BRITISH.phone, 'orders')).allowed, true, 'not in its list');
  });

  it('withdraws only the configured purposes', async () => {
    const { sent } = await load({ stop: { purposes: 'offers' } });
    const ledger = await subscribe(GERMAN.phone);
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'ABMELDEN' });
    await until(() => sent.length === 1, 'the confirmation');
    assert.deepEqual(sent[0].stop?.withdrawn, ['offers']);
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).status, 'withdrawn');
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).allowed, true);
  });

  it('leaves out a purpose the store no longer has, with a warning, instead of failing every STOP', async () => {
    const { sent } = await load({ stop: { purposes: 'offers, renamed-purpose' } });
    const warned = () => callsOf('warn', 'stop').map((args) => String(args[0]));
    assert.ok(
      warned().some((text) => /renamed-purpose|warn\.unknown-purposes/.test(text)),
      warned().join('; '),
    );
    const ledger = await subscribe(GERMAN.phone);
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'STOP' });
    await until(() => sent.length === 1, 'the confirmation');
    assert.deepEqual(sent[0].stop?.withdrawn, ['offers']);
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).allowed, true);
  });

  it('warns of a keyword longer than the ledger records with a withdrawal, and runs without it', async () => {
    const overlong = `Bitte ${'keine Nachrichten mehr '.repeat(10)}senden`;
    const { sent, other } = await load({ stop: { keywords: `HALT\n${overlong}` } });
    // The test helper loads no message catalogs: the key stands for the text (both catalogs hold it).
    assert.deepEqual(
      callsOf('warn', 'stop').map(([text]) => String(text)),
      ['stop-handler.warn.keywords-too-long'],
    );
    const ledger = await subscribe(GERMAN.phone);
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: overlong });
    await until(() => other.length === 1, 'the message on output 2');
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'halt' });
    await until(() => sent.length === 1, 'the confirmation of HALT');
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).status, 'withdrawn');
  });

  it('withdraws every purpose when none of its list is left in the store', async () => {
    const { sent } = await load({ stop: { purposes: 'gone' } });
    const ledger = await subscribe(GERMAN.phone);
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'STOP' });
    await until(() => sent.length === 1, 'the confirmation');
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).status, 'withdrawn');
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).status, 'withdrawn');
  });

  it('treats a tap on the opt-out button like STOP', async () => {
    const { sent } = await load({ stop: { optOutPayload: 'unsubscribe-all' } });
    const ledger = await subscribe(GERMAN.phone);
    await sandbox.customerSends(
      PHONE_NUMBER_ID,
      { waId: GERMAN.waId },
      { buttonReply: { id: 'unsubscribe-all', title: 'Keine Nachrichten' } },
    );
    await until(() => sent.length === 1, 'the confirmation');
    assert.equal(sent[0].stop?.channel, 'whatsapp-button');
    assert.equal((await ledger.getConsent(GERMAN.phone, 'offers'))?.withdrawalChannel, 'whatsapp-button');
  });

  it('withdraws for a STOP with an invisible character or a Cyrillic look-alike letter in it', async () => {
    const { sent } = await load();
    const ledger = await subscribe(GERMAN.phone);
    await subscribe(BRITISH.phone);
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'ST\u200BOP' });
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: BRITISH.waId }, { text: 'STОP' });
    await until(() => sent.length === 2, 'both confirmations');
    assert.deepEqual(sent.map((m) => m.stop?.keyword).sort(), ['STOP', 'STOP']);
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).status, 'withdrawn');
    assert.equal((await ledger.checkConsent(BRITISH.phone, 'offers')).status, 'withdrawn');
  });

  it('answers HELP with the help text and changes nothing', async () => {
    const { sent } = await load();
    const ledger = await subscribe(GERMAN.phone);
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'Hilfe' });
    await until(() => sent.length === 1, 'the help text');
    assert.deepEqual(textsTo(GERMAN.waId), [DEFAULT_HELP_TEXTS.de]);
    assert.equal(sent[0].stop?.kind, 'help');
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).allowed, true);
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).allowed, true);
  });

  it('passes other messages through output 2 unchanged and changes nothing', async () => {
    const { sent, other } = await load();
    const ledger = await subscribe(GERMAN.phone);
    const { messageId } = await sandbox.customerSends(
      PHONE_NUMBER_ID,
      { waId: GERMAN.waId },
      { text: 'Wann kommt mein Paket?' },
    );
    await until(() => other.some((m) => m.whatsapp?.messageId === messageId), 'the message on output 2');
    const msg = other.find((m) => m.whatsapp?.messageId === messageId)!;
    assert.equal(msg.payload, 'Wann kommt mein Paket?');
    assert.equal(msg.stop, undefined);
    assert.equal(msg.to, undefined);
    assert.equal(sent.length, 0);
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).allowed, true);
  });

  it('flags a message that may ask to opt out in other words for a person, and withdraws nothing', async () => {
    const { sent, other } = await load();
    const ledger = await subscribe(GERMAN.phone);
    const { messageId } = await sandbox.customerSends(
      PHONE_NUMBER_ID,
      { waId: GERMAN.waId },
      { text: 'Stop sending offers please' },
    );
    await until(() => other.some((m) => m.whatsapp?.messageId === messageId), 'the message on output 2');
    const msg = other.find((m) => m.whatsapp?.messageId === messageId)!;
    assert.equal(msg.payload, 'Stop sending offers please');
    assert.deepEqual(msg.stop, { kind: 'possible-opt-out', hint: 'STOP' });
    assert.equal(msg.to, undefined);
    assert.equal(sent.length, 0);
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).allowed, true);
  });

  describe('an objection to advertising in other words (marketingObjections)', () => {
    /** An inbound message, not a delivery status of an answer (the webhook's output 2 is wired here as well). */
    const isMessage = (m: Msg) => typeof m.whatsapp?.status !== 'string';

    /** Sends each text from the German customer, one at a time, and takes what the node let go on either output. */
    async function say(texts: string[], outputs: { sent: Msg[]; other: Msg[] }): Promise<Msg[]> {
      const results: Msg[] = [];
      for (const text of texts) {
        const [sentBefore, otherBefore] = [outputs.sent.length, outputs.other.filter(isMessage).length];
        await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text });
        const grown = () => {
          const passed = outputs.other.filter(isMessage);
          if (outputs.sent.length > sentBefore) return outputs.sent.at(-1);
          return passed.length > otherBefore ? passed.at(-1) : undefined;
        };
        await until(() => grown() !== undefined, `"${text}" on an output`);
        results.push(grown()!);
      }
      return results;
    }

    it('withdraws the marketing purposes only, durably, and says so with the STOP sentence for the rest', async () => {
      const { sent, other } = await load({ stop: { marketingObjections: true } });
      const ledger = await subscribe(GERMAN.phone);
      const [msg] = await say(['Hallo, bitte keine Werbung mehr! Danke'], { sent, other });
      assert.equal(sent.length, 1, 'answered on output 1');
      assert.deepEqual(msg.stop, {
        kind: 'marketing-objection',
        phrase: 'KEINE WERBUNG MEHR',
        reach: 'advertising',
        language: 'de',
        withdrawn: ['offers'],
        suppressed: false,
      });
      assert.equal(msg.to, GERMAN.phone);
      assert.equal(msg.optOutFooter, false);
      await until(() => textsTo(GERMAN.waId).length === 1, 'the answer in the chat');
      assert.deepEqual(textsTo(GERMAN.waId), [
        'Verstanden: Sie erhalten keine Werbung mehr von uns (Offers). Wenn Sie auch unsere übrigen Nachrichten nicht mehr erhalten möchten, antworten Sie mit STOP.',
      ]);
      assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).status, 'withdrawn');
      assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).allowed, true, 'order updates go on');
      const record = await ledger.getConsent(GERMAN.phone, 'offers');
      // Its own channel: she typed no keyword; the sentence read as the objection is kept as what she said.
      assert.equal(record?.withdrawalChannel, 'whatsapp-text');
      assert.equal(record?.withdrawalKeyword, 'KEINE WERBUNG MEHR');
      assert.equal(record?.actor, 'stop-handler:stop');
    });

    it('withdraws every consent for a withdrawal of her consent, not only advertising; purposes without consent go on', async () => {
      const shipping = {
        id: 'shipping',
        label: 'Shipping notices',
        wording: { en: 'Notices about your deliveries', de: 'Hinweise zu Ihren Lieferungen' },
        lawfulBasis: 'contract',
      };
      const { sent, other } = await load({ stop: { marketingObjections: true }, purposes: [...PURPOSES, shipping] });
      const ledger = await subscribe(GERMAN.phone);
      const [msg] = await say(['Hiermit widerrufe ich meine Einwilligung.'], { sent, other });
      assert.equal(msg.stop?.reach, 'every-consent');
      assert.deepEqual([...((msg.stop?.withdrawn as string[] | undefined) ?? [])].sort(), ['offers', 'orders']);
      for (const purpose of ['orders', 'offers']) {
        assert.equal((await ledger.checkConsent(GERMAN.phone, purpose)).status, 'withdrawn', purpose);
      }
      assert.equal((await ledger.checkConsent(GERMAN.phone, 'shipping')).allowed, true, 'a contract needs no consent');
      assert.equal((await ledger.getConsent(GERMAN.phone, 'orders'))?.withdrawalChannel, 'whatsapp-text');
      await until(() => textsTo(GERMAN.waId).length === 1, 'the answer in the chat');
      assert.deepEqual(textsTo(GERMAN.waId), [
        'Wir haben Ihren Widerruf erhalten: Sie erhalten von uns keine Nachrichten mehr, für die wir Ihre Einwilligung benötigen (Order updates, Offers). Wenn Sie auch unsere übrigen Nachrichten nicht mehr erhalten möchten, antworten Sie mit STOP.',
      ]);
    });

    it('keeps what she asks to keep, and answers a withdrawal of every consent in its own words, not the node text', async () => {
      const { sent, other } = await load({
        stop: { marketingObjections: true, objectionDe: 'Keine Werbung mehr; Bestell-Updates erhalten Sie weiter.' },
      });
      const ledger = await subscribe(GERMAN.phone);
      const [kept] = await say(['Ich widerrufe meine Einwilligung, aber die Bestell-Updates gerne'], { sent, other });
      assert.equal(kept.stop?.reach, 'advertising');
      assert.deepEqual(kept.stop?.withdrawn, ['offers']);
      assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).allowed, true, 'the order updates she kept');
      const [all] = await say(['Ich widerrufe meine Einwilligung'], { sent, other });
      assert.deepEqual(all.stop?.withdrawn, ['orders']);
      await until(() => textsTo(GERMAN.waId).length === 2, 'both answers in the chat');
      assert.deepEqual(textsTo(GERMAN.waId), [
        'Keine Werbung mehr; Bestell-Updates erhalten Sie weiter.',
        'Wir haben Ihren Widerruf erhalten: Sie erhalten von uns keine Nachrichten mehr, für die wir Ihre Einwilligung benötigen (Order updates, Offers).',
      ]);
    });

    it('ends only advertising for a withdrawal of her consent to advertising, and everything with consent alone', async () => {
      const { sent, other } = await load({ stop: { marketingObjections: true } });
      const ledger = await subscribe(GERMAN.phone);
      const [named] = await say(['Ich widerrufe meine Einwilligung zum Newsletter'], { sent, other });
      assert.equal(named.stop?.reach, 'advertising');
      assert.deepEqual(named.stop?.withdrawn, ['offers']);
      assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).allowed, true, 'order updates go on');
      // With every purpose resting on consent, nothing is left for a STOP to end: no STOP sentence.
      const [all] = await say(['Ich widerrufe meine Einwilligung'], { sent, other });
      assert.deepEqual(all.stop?.withdrawn, ['orders']);
      await until(() => textsTo(GERMAN.waId).length === 2, 'both answers in the chat');
      assert.equal(
        textsTo(GERMAN.waId)[1],
        'Wir haben Ihren Widerruf erhalten: Sie erhalten von uns keine Nachrichten mehr, für die wir Ihre Einwilligung benötigen (Order updates, Offers).',
      );
    });

    it('leaves questions, negated phrases and other opt-out words to a person, and withdraws nothing', async () => {
      const { sent, other } = await load({ stop: { marketingObjections: true } });
      const ledger = await subscribe(GERMAN.phone);
      const results = await say(
        ['Wie kann ich mich abmelden?', 'Bitte nicht abmelden', 'Ich kündige', 'Stop the delivery'],
        { sent, other },
      );
      assert.deepEqual(
        results.map((m) => m.stop),
        [
          { kind: 'possible-opt-out', hint: 'ABMELD' },
          { kind: 'possible-opt-out', hint: 'ABMELD' },
          { kind: 'possible-opt-out', hint: 'KUENDIG' },
          { kind: 'possible-opt-out', hint: 'STOP' },
        ],
      );
      assert.equal(sent.length, 0);
      for (const purpose of ['orders', 'offers']) {
        assert.equal((await ledger.checkConsent(GERMAN.phone, purpose)).allowed, true, purpose);
      }
    });

    it('flags it for a person as before in a node saved without the setting', async () => {
      const { sent, other } = await load();
      const ledger = await subscribe(GERMAN.phone);
      const [msg] = await say(['Bitte keine Werbung mehr'], { sent, other });
      assert.deepEqual(msg.stop, { kind: 'possible-opt-out', hint: 'KEINE WERBUNG' });
      assert.equal(sent.length, 0);
      assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).allowed, true);
    });

    it("ends every marketing purpose whatever the node's STOP ends, and names STOP only when it ends more", async () => {
      const ordersOnly = await load({ stop: { marketingObjections: true, purposes: 'orders' } });
      let ledger = await subscribe(GERMAN.phone);
      const [answered] = await say(['Newsletter abbestellen'], ordersOnly);
      assert.deepEqual(answered.stop?.withdrawn, ['offers']);
      assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).allowed, true);
      await until(() => textsTo(GERMAN.waId).length === 1, 'the answer in the chat');
      assert.match(
        textsTo(GERMAN.waId)[0],
        /^Verstanden: Sie erhalten keine Werbung mehr von uns \(Offers\)\. Wenn Sie auch/,
      );
      await helper.unload();
      sandbox.reset();

      const offersOnly = await load({
        stop: { marketingObjections: true, purposes: 'offers' },
        storePath: join(dir, 'second.db'),
      });
      ledger = await subscribe(GERMAN.phone);
      await say(['Newsletter abbestellen'], offersOnly);
      await until(() => textsTo(GERMAN.waId).length === 1, 'the answer in the chat');
      assert.deepEqual(textsTo(GERMAN.waId), ['Verstanden: Sie erhalten keine Werbung mehr von uns (Offers).']);
      await helper.unload();
      sandbox.reset();

      // A store with no marketing purpose: nothing to end, a person reads it.
      const noMarketing = await load({
        stop: { marketingObjections: true },
        storePath: join(dir, 'third.db'),
        purposes: [PURPOSES[0]],
      });
      ledger = await subscribe(GERMAN.phone, ['orders']);
      const [flagged] = await say(['Newsletter abbestellen'], noMarketing);
      assert.deepEqual(flagged.stop, { kind: 'possible-opt-out', hint: 'ABBESTELL' });
      assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).allowed, true);
    });

    it('leaves the STOP sentence out when her STOP has ended the rest already', async () => {
      const { sent, other } = await load({ stop: { marketingObjections: true } });
      const ledger = await subscribe(GERMAN.phone);
      const [, objection] = await say(['STOP', 'Keine Werbung mehr'], { sent, other });
      assert.equal(objection.stop?.kind, 'marketing-objection');
      assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).allowed, false, 'STOP ended the order updates');
      await until(() => textsTo(GERMAN.waId).length === 2, 'both answers in the chat');
      assert.equal(textsTo(GERMAN.waId)[1], 'Verstanden: Sie erhalten keine Werbung mehr von uns (Offers).');
    });

    it('leaves an objection with a yes to a person', async () => {
      const { sent, other } = await load({ stop: { marketingObjections: true } });
      const ledger = await subscribe(GERMAN.phone);
      const [msg] = await say(['Ja gerne, aber keine Werbung mehr'], { sent, other });
      assert.equal(msg.stop?.kind, 'possible-opt-out');
      assert.equal(sent.length, 0);
      assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).allowed, true);
    });

    it('acts on an objection beside a request to erase her data, and passes the message on for that request', async () => {
      const { sent, other } = await load({ stop: { marketingObjections: true } });
      const ledger = await subscribe(GERMAN.phone);
      const text = 'Bitte keine Werbung mehr und löschen Sie meine Daten';
      await say([text], { sent, other });
      await until(() => other.filter(isMessage).length === 1, 'the message on output 2 as well');
      await until(() => sent.length === 1, 'the objection answered on output 1, through whatsapp-send');
      assert.equal(sent[0].stop?.kind, 'marketing-objection');
      assert.equal(sent[0].stop?.alsoAsks, 'erasure');
      assert.deepEqual(sent[0].stop?.withdrawn, ['offers']);
      const [passedOn] = other.filter(isMessage);
      assert.equal((passedOn.whatsapp as { text?: string }).text, text, 'as it came, for erase-subject');
      assert.equal(passedOn.payload, text);
      assert.deepEqual(passedOn.stop, sent[0].stop);
      assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).allowed, false, 'advertising ended at once');
      assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).allowed, true);
      await until(() => textsTo(GERMAN.waId).length === 1, 'the answer in the chat');
      assert.match(textsTo(GERMAN.waId)[0], /^Verstanden: Sie erhalten keine Werbung mehr von uns/);
    });

    it('acts on a STOP beside a request to erase her data, and passes the message on for that request', async () => {
      const { sent, other } = await load({});
      const ledger = await subscribe(GERMAN.phone);
      await say(['STOP und löschen Sie meine Daten'], { sent, other });
      await until(() => other.filter(isMessage).length === 1, 'the message on output 2 as well');
      await until(() => sent.length === 1, 'the STOP answered on output 1, through whatsapp-send');
      assert.equal(sent[0].stop?.kind, 'stop');
      assert.equal(sent[0].stop?.alsoAsks, 'erasure');
      assert.equal(other.filter(isMessage)[0].stop?.alsoAsks, 'erasure');
      assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).allowed, false, 'the STOP ended everything');
    });

    it('answers an erased person without storing anything about her again, as a STOP does', async () => {
      const { sent, other } = await load({ stop: { marketingObjections: true } });
      const ledger = await subscribe(GERMAN.phone);
      await ledger.eraseSubject(GERMAN.phone, 'test');
      const [msg] = await say(['Keine Werbung mehr'], { sent, other });
      assert.equal(msg.stop?.kind, 'marketing-objection');
      assert.equal(msg.stop?.suppressed, true);
      assert.deepEqual(msg.stop?.withdrawn, []);
      assert.equal((await ledger.exportSubject(GERMAN.phone, 'test')).found, false);
    });

    it('ends a sign-up still waiting for its confirmation, as a STOP does', async () => {
      const { sent, other } = await load({ stop: { marketingObjections: true } });
      const ledger = await ledgerOf();
      await ledger.requestConsent({
        subject: GERMAN.phone,
        purpose: 'offers',
        wording: 'offers wording',
        method: 'web-form',
        actor: 'test',
      });
      const [msg] = await say(['Keine Werbung bitte'], { sent, other });
      assert.deepEqual(msg.stop?.withdrawn, ['offers']);
      assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).allowed, false);
    });

    it('sends an answer of your own as it is, in the language of the number', async () => {
      const { sent, other } = await load({
        stop: {
          marketingObjections: true,
          objectionEn: 'Done, no more ads.',
          objectionDe: 'Erledigt, keine Werbung mehr.',
        },
      });
      await subscribe(BRITISH.phone);
      await sandbox.customerSends(PHONE_NUMBER_ID, { waId: BRITISH.waId }, { text: 'unsubscribe me' });
      await until(() => sent.length === 1, 'the answer');
      assert.deepEqual(other.filter(isMessage), []);
      assert.deepEqual(
        sent.map((m) => m.stop?.kind),
        ['marketing-objection'],
      );
      await until(() => textsTo(BRITISH.waId).length === 1, 'the answer in the chat');
      assert.deepEqual(textsTo(BRITISH.waId), ['Done, no more ads.']);
    });
  });

  it('takes a STOP written in a WhatsApp group as no opt-out: nothing withdrawn, nothing sent, on to output 2', async () => {
    const { sent, other } = await load();
    const ledger = await subscribe(GERMAN.phone);
    const groupId = 'Y2FwaV9ncm91cDoxNTU1MDc4Mzg4MToxMjM0';
    for (const [text, messageId] of [
      ['Stop', 'wamid.group-stop-1'],
      ['Ende', 'wamid.group-stop-2'],
      ['Hilfe', 'wamid.group-help-1'],
    ]) {
      const body = buildMessageWebhook({
        phoneNumberId: PHONE_NUMBER_ID,
        displayPhoneNumber: '+49 30 1234567',
        waId: GERMAN.waId,
        messageId,
        message: { group_id: groupId, type: 'text', text: { body: text } },
      });
      assert.equal(await signedPost(body), 200, text);
    }
    await until(() => other.length === 3, 'the group messages on output 2');
    assert.deepEqual(
      other.map((m) => [m.payload, m.whatsapp?.groupId, m.stop]),
      [
        ['Stop', groupId, undefined],
        ['Ende', groupId, undefined],
        ['Hilfe', groupId, undefined],
      ],
    );
    assert.equal(sent.length, 0);
    assert.deepEqual(textsTo(GERMAN.waId), []);
    for (const purpose of ['orders', 'offers']) {
      assert.equal((await ledger.checkConsent(GERMAN.phone, purpose)).allowed, true, purpose);
    }
  });

  it("withdraws only marketing purposes on Meta's user_preferences stop, silently, and ignores resume", async () => {
    const { sent, other } = await load();
    const ledger = await subscribe(GERMAN.phone);
    await sandbox.customerOptsOutOfMarketing(PHONE_NUMBER_ID, GERMAN.waId, 'stop');
    await until(() => other.some((m) => m.stop?.kind === 'marketing-opt-out'), 'the marketing opt-out on output 2');
    const msg = other.find((m) => m.stop?.kind === 'marketing-opt-out')!;
    assert.equal(msg.stop?.source, 'user_preferences');
    assert.deepEqual(msg.stop?.withdrawn, ['offers']);
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).status, 'withdrawn');
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).allowed, true);
    assert.equal((await ledger.getConsent(GERMAN.phone, 'offers'))?.withdrawalChannel, 'meta-marketing-optout');
    await sandbox.customerOptsOutOfMarketing(PHONE_NUMBER_ID, GERMAN.waId, 'resume');
    await until(() => other.some((m) => m.stop?.kind === 'marketing-resume'), 'the resume on output 2');
    assert.deepEqual(other.find((m) => m.stop?.kind === 'marketing-resume')?.stop?.restored, []);
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).status, 'withdrawn', 'resume is not consent');
    assert.equal(sent.length, 0, 'no confirmation for Meta signals');
    assert.deepEqual(textsTo(GERMAN.waId), []);
  });

  it('keeps when the person sent STOP, so that a START she sent before it and Meta delivers later signs up nobody', async () => {
    const { sent, other } = await load();
    const ledger = await subscribe(GERMAN.phone);
    const before = Date.now();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'STOP' });
    await sandbox.customerOptsOutOfMarketing(PHONE_NUMBER_ID, GERMAN.waId, 'stop');
    await until(
      () => sent.length === 1 && other.some((m) => m.stop?.kind === 'marketing-opt-out'),
      'the STOP and the marketing opt-out',
    );
    const withdrawals: { detail: { sentAt?: number; channel: string } }[] = [];
    for await (const line of auditExportLines((after) => ledger.exportAuditPage(after))) {
      const entry = JSON.parse(line);
      if (entry.action === 'consent.withdrawn') withdrawals.push(entry);
    }
    const channels = new Set(withdrawals.map((w) => w.detail.channel));
    assert.deepEqual([...channels].sort(), ['meta-marketing-optout', 'whatsapp-keyword']);
    for (const { detail } of withdrawals) {
      // Meta's time of the message, in whole seconds, as the person sent it.
      assert.equal(typeof detail.sentAt, 'number');
      assert.equal((detail.sentAt as number) % 1000, 0);
      assert.ok((detail.sentAt as number) >= before - 1000 && (detail.sentAt as number) <= Date.now());
    }
    const stopSentAt = withdrawals.find((w) => w.detail.channel === 'whatsapp-keyword')?.detail.sentAt as number;
    await assert.rejects(
      ledger.giveConsent({
        subject: GERMAN.phone,
        purpose: 'offers',
        wording: 'offers wording',
        method: 'keyword',
        inboundAt: stopSentAt - 1000,
        actor: 'test',
      }),
      /opted out after sending/,
    );
  });

  it("ends the old number's consents when its owner moves to another number, and answers nobody", async () => {
    // The webhook keeps its marks and the 24-hour window in the store, as in the examples.
    const { sent, other, caught } = await load({ hook: { store: 'store' } });
    const ledger = await subscribe(GERMAN.phone);
    const newNumber = '+4917612345678';
    const change = await sandbox.customerChangesNumber(PHONE_NUMBER_ID, GERMAN.waId, newNumber);
    assert.deepEqual(
      change.deliveries.map((d) => d.status),
      [200],
    );
    await until(
      async () => (await ledger.checkConsent(GERMAN.phone, 'orders')).status === 'withdrawn',
      'the old number to lose its consent',
    );
    for (const purpose of ['orders', 'offers']) {
      const record = await ledger.getConsent(GERMAN.phone, purpose);
      assert.equal(record?.status, 'withdrawn', purpose);
      assert.equal(record?.withdrawalChannel, 'whatsapp-number-change');
    }
    assert.equal((await ledger.checkConsent(newNumber, 'offers')).status, 'none', 'the new number agreed to nothing');
    // Meta wrote the message, not the person: no 24-hour window opens for the old number.
    assert.equal(await ledger.lastInboundAt(GERMAN.phone), undefined);
    await sandbox.idle();
    assert.equal(sent.length, 0);
    assert.equal(other.length, 0, 'a bot behind output 2 must not answer the old number');
    assert.equal(caught.length, 0);
    assert.deepEqual(textsTo(GERMAN.waId), []);
  });

  it('records a STOP sent before the number changed hands for its sender, and answers nobody at the number', async () => {
    const { sent, other, caught } = await load();
    const ledger = await subscribe(GERMAN.phone, ['offers']);
    const newNumber = '+4917612345678';
    await ledger.numberChanged({ phone: GERMAN.phone, newPhone: newNumber, actor: 'test' });
    // The number's next holder signs up; then Meta delivers the STOP she sent before she moved.
    await ledger.giveConsent({ subject: GERMAN.phone, purpose: 'offers', wording: 'o', method: 'keyword', actor: 't' });
    const sentBeforeMove = Date.now() - 15 * 60_000;
    helper.getNode('stop').receive({
      payload: 'STOP',
      whatsapp: {
        from: GERMAN.phone,
        waId: GERMAN.waId,
        messageId: 'wamid.late-stop',
        timestamp: Math.floor(sentBeforeMove / 1000),
        type: 'text',
        text: 'STOP',
        phoneNumberId: PHONE_NUMBER_ID,
      },
    });
    await until(
      () =>
        (helper.log() as unknown as { args: [{ msg: unknown }][] }).args.some(([e]) =>
          String(e.msg).includes('late-stop'),
        ),
      'the late STOP to be logged',
    );
    await sandbox.idle();
    assert.deepEqual([sent.length, other.length, caught.length], [0, 0, 0], 'nothing reaches the next holder');
    assert.deepEqual(textsTo(GERMAN.waId), []);
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).status, 'given', 'the next holder keeps his');
    assert.equal((await ledger.checkConsent(newNumber, 'offers')).allowed, false);
  });

  it('links the user id Meta gives with a number change to her new number', async () => {
    const { caught } = await load({ hook: { store: 'store' } });
    const ledger = await ledgerOf();
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId, userId: 'DE.4242' }, { text: 'Hallo' });
    const newNumber = '+4917612345678';
    await sandbox.customerChangesNumber(PHONE_NUMBER_ID, GERMAN.waId, newNumber);
    // A number change regenerates the user id; the sandbox, like Meta, names the old and the new one.
    const moved = sandbox.conversations(PHONE_NUMBER_ID).find((c) => c.waId === newNumber.slice(1));
    const newUserId = moved?.userId ?? '';
    assert.match(newUserId, /^DE\.\d+$/);
    await ledger.giveConsent({ subject: newNumber, purpose: 'offers', wording: 'o', method: 'keyword', actor: 't' });
    // A send by her new id alone finds what her new number gave.
    await until(
      async () => (await ledger.checkConsent({ userId: newUserId }, 'offers')).status === 'given',
      'the new user id to lead to the new number',
    );
    assert.equal((await ledger.checkConsent({ userId: 'DE.4242' }, 'offers')).allowed, false);
    assert.equal(caught.length, 0);
  });

  it('keeps an erased person on the erasure list at the new number she moves to', async () => {
    const { caught } = await load({ hook: { store: 'store' } });
    const ledger = await subscribe(GERMAN.phone);
    await ledger.eraseSubject(GERMAN.phone, 'test');
    const newNumber = '+4917612345678';
    await sandbox.customerChangesNumber(PHONE_NUMBER_ID, GERMAN.waId, newNumber);
    await until(() => ledger.isSuppressed(newNumber), 'the new number on the erasure list');
    assert.equal((await ledger.checkConsent(newNumber, 'offers')).status, 'erased');
    assert.equal(caught.length, 0);
  });

  it("links a person's new user id to the previous one, so her STOP under the new id withdraws", async () => {
    const { sent, other, caught } = await load({ hook: { store: 'store' } });
    const ledger = await ledgerOf();
    const previous = 'DE.1502576394655843';
    const next = 'DE.1502576394655844';
    // Consent by keyword under the previous id, her number withheld throughout.
    await ledger.giveConsent({
      subject: { userId: previous },
      purpose: 'offers',
      wording: 'w',
      method: 'keyword',
      actor: 't',
    });
    await sandbox.customerSends(
      PHONE_NUMBER_ID,
      { waId: GERMAN.waId, userId: previous, hideNumber: true },
      { text: 'Hallo' },
    );
    await until(() => other.length === 1, 'her first message to pass through');
    const change = await sandbox.customerChangesUserId(PHONE_NUMBER_ID, GERMAN.waId, next);
    assert.deepEqual(
      change.deliveries.map((d) => d.status),
      [200],
    );
    await until(async () => (await ledger.checkConsent({ userId: next }, 'offers')).allowed, 'the new id to be linked');
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'STOP' });
    await until(() => sent.length === 1, 'the confirmation to be sent');
    assert.equal(
      (sandbox.accepted(PHONE_NUMBER_ID).at(-1)?.body as Record<string, unknown> | undefined)?.recipient,
      next,
    );
    assert.equal((await ledger.checkConsent({ userId: previous }, 'offers')).status, 'withdrawn');
    assert.deepEqual(
      other.filter((m) => m.whatsapp?.type === 'system'),
      [],
      'the system message left on neither output',
    );
    assert.equal(caught.length, 0);
  });

  it('withdraws marketing purposes when a marketing template fails with 131050', async () => {
    // Only statuses reach the stop-handler here, so the withdrawal can only come from the 131050 failure.
    const { other } = await load({ hookWires: [[], ['stop'], []] });
    const ledger = await subscribe(GERMAN.phone);
    await sandbox.customerOptsOutOfMarketing(PHONE_NUMBER_ID, GERMAN.waId, 'stop');
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).allowed, true);
    const template = { type: 'template', template: { name: 'weekly_offers', language: { code: 'de' } } };
    // As a consent-gate for the marketing purpose passes it: a marketing template goes only with consent.
    const consent = { status: 'given', purpose: 'offers', store: 'store' };
    helper.getNode('send').receive({ to: GERMAN.phone, payload: template, consent });
    await until(() => other.some((m) => m.stop?.kind === 'marketing-opt-out'), 'the 131050 withdrawal');
    const msg = other.find((m) => m.stop?.kind === 'marketing-opt-out')!;
    assert.equal(msg.stop?.source, 'status-131050');
    assert.equal(((msg.whatsapp?.errors ?? []) as { code: number }[])[0]?.code, 131050);
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).status, 'withdrawn');
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).allowed, true);
  });

  it('confirms a STOP from an erased person without storing anything about them again, only that it came', async () => {
    const { sent } = await load();
    const ledger = await subscribe(GERMAN.phone);
    await ledger.eraseSubject(GERMAN.phone, 'test');
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'STOP' });
    await until(() => sent.length === 1, 'the confirmation');
    assert.equal(sent[0].stop?.suppressed, true);
    assert.deepEqual(sent[0].stop?.withdrawn, []);
    const exported = await ledger.exportSubject(GERMAN.phone, 'test');
    assert.equal(exported.subject, undefined);
    assert.equal(exported.consents.length, 0);
    assert.deepEqual(
      exported.auditEvents.filter((e) => e.action === 'consent.withdrawn').map((e) => e.outcome),
      ['erased'],
    );
  });

  it('records a withdrawal staff received by e-mail or phone, for the purposes named, and sends her nothing', async () => {
    const { sent, other } = await load();
    const ledger = await subscribe(GERMAN.phone);
    helper.getNode('stop').receive({
      withdraw: { phone: '+49 151 23456789', purposes: ['offers'] },
      requestedBy: 'Jana Weber, ticket 4711',
    } as never);
    await until(() => other.length === 1, 'the staff withdrawal on output 2');
    assert.deepEqual(other[0].stop, { kind: 'stop', channel: 'admin', withdrawn: ['offers'], suppressed: false });
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'offers')).status, 'withdrawn');
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).allowed, true);
    assert.equal((await ledger.getConsent(GERMAN.phone, 'offers'))?.withdrawalChannel, 'admin');
    const withdrawals: { actor: string; detail: Record<string, unknown> }[] = [];
    for await (const line of auditExportLines((after) => ledger.exportAuditPage(after))) {
      const entry = JSON.parse(line);
      if (entry.action === 'consent.withdrawn') withdrawals.push(entry);
    }
    assert.equal(withdrawals.length, 1);
    assert.equal(withdrawals[0].actor, 'stop-handler:stop');
    assert.equal(withdrawals[0].detail.requestedBy, 'Jana Weber, ticket 4711');
    // Who on staff handled it is the business's bookkeeping, not her data.
    const exported = await ledger.exportSubject(GERMAN.phone, 'test');
    assert.doesNotMatch(JSON.stringify(exported), /Jana Weber/);
    assert.equal(sent.length, 0);
    assert.deepEqual(textsTo(GERMAN.waId), []);

    helper.getNode('stop').receive({ withdraw: { phone: GERMAN.phone } } as never);
    await until(() => other.length === 2, 'a withdrawal of every purpose');
    assert.deepEqual(other[1].stop?.withdrawn, ['orders']);
    assert.equal((await ledger.checkConsent(GERMAN.phone, 'orders')).status, 'withdrawn');
  });

  it("reads a staff withdrawal's number written nationally in the store's country, only for someone it knows", async () => {
    const { other, caught } = await load({ store: { defaultCountry: 'DE' } });
    const ledger = await subscribe(GERMAN.phone);
    helper.getNode('stop').receive({ withdraw: { phone: '0151 23456789', purposes: ['offers'] } } as never);
    await until(() => other.length === 1, 'the staff withdrawal on output 2');
    assert.deepEqual(other[0].stop?.withdrawn, ['offers']);
    // Austria's 0664 1234567 reads as a valid German number nobody here has: refused, nothing written about it.
    helper.getNode('stop').receive({ withdraw: { phone: '0664 1234567' } } as never);
    await until(() => caught.length === 1, 'the refusal');
    assert.equal((caught[0].error as { code?: string }).code, 'unknown-national-number');
    assert.equal(await ledger.knowsSubject('+496641234567'), false);
  });

  it('refuses a staff withdrawal it cannot read, with its reason, and changes nothing', async () => {
    const { other, caught } = await load();
    const ledger = await subscribe(GERMAN.phone);
    const bad: [Record<string, unknown>, string][] = [
      [{ withdraw: 'yes' }, 'invalid-withdrawal'],
      [{ withdraw: {} }, 'missing-subject'],
      [{ withdraw: { phone: '12345' } }, 'invalid-phone'],
      [{ withdraw: { phone: GERMAN.phone, purposes: [7] } }, 'invalid-withdrawal'],
      // Without purposes every purpose ends: a misspelt field or an empty list must not mean that.
      [{ withdraw: { phone: GERMAN.phone, purpose: 'offers' } }, 'invalid-withdrawal'],
      [{ withdraw: { phone: GERMAN.phone, purposes: [] } }, 'invalid-withdrawal'],
      [{ withdraw: { phone: GERMAN.phone, purposes: ' , ' } }, 'invalid-withdrawal'],
      [{ withdraw: { phone: GERMAN.phone, purposes: ['newsletter'] } }, 'unknown-purpose'],
      [{ withdraw: { phone: GERMAN.phone }, requestedBy: 'call +49 151 23456789' }, 'invalid-requested-by'],
      [{ withdraw: { phone: GERMAN.phone }, whatsapp: { messageId: 'wamid.x', type: 'text' } }, 'invalid-withdrawal'],
    ];
    for (const [msg, code] of bad) {
      const before = caught.length;
      helper.getNode('stop').receive(msg as never);
      await until(() => caught.length === before + 1, `the error for ${JSON.stringify(msg)}`);
      const error = caught[before].error as { message?: string; code?: string };
      assert.equal(caught[before].code ?? error.code, code, JSON.stringify(msg));
      assert.doesNotMatch(String(error.message), /4915123456789/);
    }
    assert.equal(other.length, 0);
    for (const purpose of ['orders', 'offers'])
      assert.equal((await ledger.checkConsent(GERMAN.phone, purpose)).allowed, true);
  });

  it('sends no confirmation when the withdrawal cannot be stored, and reports the error', async () => {
    // A directory where the SQLite file should be: the store cannot open.
    const { sent, caught } = await load({ storePath: dir });
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'STOP' });
    await until(() => caught.length === 1, 'the error at the Catch node');
    assert.equal((caught[0].error?.source as { id?: string } | undefined)?.id, 'stop');
    assert.doesNotMatch(String(caught[0].error?.message), /4915123456789/);
    assert.equal(sent.length, 0);
    assert.deepEqual(textsTo(GERMAN.waId), []);
  });

  it('reports a missing consent store on STOP without sending anything', async () => {
    const { sent, caught } = await load({ stop: { store: 'nowhere' } });
    await sandbox.customerSends(PHONE_NUMBER_ID, { waId: GERMAN.waId }, { text: 'STOP' });
    await until(() => caught.length === 1, 'the error at the Catch node');
    assert.match(String(caught[0].error?.message), /consent store/i);
    assert.equal(sent.length, 0);
  });
});
