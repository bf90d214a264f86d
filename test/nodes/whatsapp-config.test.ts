import assert from 'node:assert/strict';
import { Sandbox } from '../../lib/sandbox/sandbox';
import { type RunningSandboxServer, startSandboxServer } from '../../lib/sandbox/server';
import { buildMessageWebhook } from '../../lib/webhook/build';
import { signPayload } from '../../lib/webhook/signature';
import {
  processSandbox,
  processSandboxSecrets,
  sandboxEndpoint,
  stopSandboxEndpoint,
} from '../../nodes/shared/sandbox';
import configNode, { carriesTokenSafely } from '../../nodes/whatsapp-config';
import sendNode from '../../nodes/whatsapp-send';
import webhookNode from '../../nodes/whatsapp-webhook';
import { helper } from '../helpers/node-red';
import { mountHttpApps } from '../helpers/node-red-http';

type Msg = Record<string, unknown> & { whatsapp?: Record<string, unknown> };

async function until(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function collect(id: string): Msg[] {
  const seen: Msg[] = [];
  helper.getNode(id).on('input', (msg: Msg) => seen.push(msg));
  return seen;
}

interface LogEntry {
  level: number;
  msg: unknown;
  type?: string;
}

function logEntries(): LogEntry[] {
  const spy = helper.log() as unknown as { args: [LogEntry][] };
  return spy.args.map(([entry]) => entry);
}

describe('whatsapp-config node', () => {
  beforeEach(async () => {
    await helper.startServer();
  });

  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
  });

  describe('in sandbox mode', () => {
    after(async () => {
      await stopSandboxEndpoint();
    });

    const PHONE_NUMBER_ID = '100200300400500';
    const flow = [
      { id: 'cfg', type: 'whatsapp-config', name: 'Demo', mode: 'sandbox', phoneNumberId: PHONE_NUMBER_ID },
      { id: 'hook', type: 'whatsapp-webhook', path: '/wa-sandbox', whatsapp: 'cfg', wires: [['in'], ['status'], []] },
      { id: 'send', type: 'whatsapp-send', whatsapp: 'cfg', wires: [['sent'], ['failed']] },
      { id: 'in', type: 'helper' },
      { id: 'status', type: 'helper' },
      { id: 'sent', type: 'helper' },
      { id: 'failed', type: 'helper' },
    ];

    it('reaches the in-process sandbox, whose signed webhooks come back into the same flow', async () => {
      await helper.load([configNode, webhookNode, sendNode, mountHttpApps()] as never, flow as never);
      const inbound = collect('in');
      const statuses = collect('status');
      const sent = collect('sent');
      const failed = collect('failed');
      await until(
        () =>
          processSandbox()
            .numbers()
            .some((n) => n.phoneNumberId === PHONE_NUMBER_ID),
        'registration',
      );

      // The customer writes on the chat page: a signed webhook reaches output 1.
      const { deliveries } = await processSandbox().customerSends(
        PHONE_NUMBER_ID,
        { waId: '4915112345678', name: 'Erika' },
        { text: 'Hallo Sandbox' },
      );
      assert.deepEqual(
        deliveries.map((d) => (d as { status?: number }).status),
        [200],
      );
      await until(() => inbound.length === 1, 'the inbound message');
      assert.equal(inbound[0].payload, 'Hallo Sandbox');

      // The flow replies to it; sent, delivered and read come back on output 2.
      helper.getNode('send').receive({ payload: 'Hallo Erika', whatsapp: inbound[0].whatsapp });
      await until(() => sent.length + failed.length === 1, 'the send result');
      assert.equal(failed.length, 0, JSON.stringify(failed[0]?.error));
      const messageId = sent[0].whatsapp?.messageId;
      await until(() => statuses.length === 3, 'three statuses');
      assert.deepEqual(
        statuses.map((s) => s.payload),
        ['sent', 'delivered', 'read'],
      );
      assert.ok(statuses.every((s) => s.whatsapp?.messageId === messageId));
    });

    it('signs with per-process secrets when the credentials are empty, and refuses other signatures', async () => {
      await helper.load([configNode, webhookNode, sendNode, mountHttpApps()] as never, flow as never);
      const inbound = collect('in');
      const body = JSON.stringify(
        buildMessageWebhook({
          phoneNumberId: PHONE_NUMBER_ID,
          displayPhoneNumber: '+1 555 040 0500',
          waId: '4915112345678',
          message: { type: 'text', text: { body: 'signiert' } },
        }),
      );
      const post = (secret: string) =>
        fetch(`${helper.url()}/wa-sandbox`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(body, secret) },
          body,
        });
      assert.equal((await post('guessed-secret')).status, 401);
      assert.equal((await post(processSandboxSecrets().appSecret)).status, 200);
      await until(() => inbound.length === 1, 'the message');
      const verify = await fetch(
        `${helper.url()}/wa-sandbox?hub.mode=subscribe&hub.challenge=42&hub.verify_token=${processSandboxSecrets().verifyToken}`,
      );
      assert.equal(await verify.text(), '42');
    });

    /** The throughput a deployed config registers its sandbox number with, and how many cap warnings it gave. */
    async function pacedAt(throughput: number, settings: Record<string, unknown> = {}): Promise<[number[], number]> {
      const sandbox = processSandbox();
      const registered: number[] = [];
      const register = sandbox.registerNumber.bind(sandbox);
      sandbox.registerNumber = (config) => {
        registered.push(config.throughput as number);
        register(config);
      };
      helper.settings(settings as never);
      try {
        await helper.load([configNode] as never, [{ ...flow[0], throughput }] as never);
        await until(() => registered.length > 0, 'registration');
        const config = helper.getNode('cfg') as unknown as { warn: { args: unknown[][] } };
        return [registered, config.warn.args.filter(([text]) => String(text).includes('throughput-capped')).length];
      } finally {
        await helper.unload();
        sandbox.registerNumber = register;
        helper.settings({});
      }
    }

    it("paces at most at Meta's highest throughput when a flows file sets more than the dialog allows", async () => {
      assert.deepEqual(await pacedAt(5000), [[1000], 1]);
      assert.deepEqual(await pacedAt(250), [[250], 0]);
    });

    it('paces as set only in a runtime that settings.js marks as a load test against a mock (npm run bench)', async () => {
      assert.deepEqual(await pacedAt(5000, { whatsappGdprLoadTest: true }), [[5000], 0]);
      assert.deepEqual(await pacedAt(5000, { whatsappGdprLoadTest: 'yes' }), [[1000], 1]);
    });

    it('answers the connection check for a deployed config and asks to deploy an unknown one', async () => {
      await helper.load([configNode, webhookNode, sendNode, mountHttpApps()] as never, flow as never);
      const check = await helper.request().post('/whatsapp-gdpr/config/cfg/check').expect(200);
      assert.equal(check.body.mode, 'sandbox');
      assert.equal(check.body.storageRegion, 'DE');
      assert.equal(check.body.euStorage, true);
      assert.equal(typeof check.body.displayPhoneNumber, 'string');
      assert.doesNotMatch(JSON.stringify(check.body), new RegExp(processSandboxSecrets().accessToken));
      const unknown = await helper.request().post('/whatsapp-gdpr/config/not-deployed/check').expect(404);
      assert.equal(unknown.body.error, 'deploy-first');
    });

    it('serves the chat page and its JSON endpoints on the admin app', async () => {
      await helper.load([configNode, webhookNode, sendNode, mountHttpApps()] as never, flow as never);
      const page = await fetch(`${helper.url()}/whatsapp-gdpr/sandbox/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      const numbers = (await (await fetch(`${helper.url()}/whatsapp-gdpr/sandbox/numbers`)).json()) as {
        numbers: { phoneNumberId: string }[];
      };
      assert.ok(numbers.numbers.some((n) => n.phoneNumberId === PHONE_NUMBER_ID));
      assert.doesNotMatch(JSON.stringify(numbers), new RegExp(processSandboxSecrets().appSecret));
      // The sandbox's own loopback port serves the Cloud API only: no login guards it, so no conversations.
      const api = await sandboxEndpoint();
      for (const path of ['/chat/numbers', '/chat/conversations', '/chat/', '/']) {
        const direct = await fetch(`${api.url}${path}`, { redirect: 'manual' });
        assert.equal(direct.status, 404, path);
        await direct.arrayBuffer();
      }
    });
  });

  describe('in cloud mode', () => {
    let sandbox: Sandbox;
    let server: RunningSandboxServer;
    const PHONE_NUMBER_ID = '123451234512345';
    const TOKEN = 'cloud-token-never-logged';

    before(async () => {
      sandbox = new Sandbox();
      server = await startSandboxServer({ sandbox });
    });

    after(async () => {
      await server.close();
      sandbox.close();
    });

    function register(storageRegion: string): void {
      sandbox.registerNumber({
        phoneNumberId: PHONE_NUMBER_ID,
        displayPhoneNumber: '+49 30 555000',
        accessToken: TOKEN,
        appSecret: 'cloud-secret',
        storageRegion,
        webhookUrls: () => [],
      });
    }

    async function loadCloud(): Promise<void> {
      const flow = [
        {
          id: 'cfg',
          type: 'whatsapp-config',
          mode: 'cloud',
          apiBaseUrl: server.url,
          apiVersion: 'v25.0',
          phoneNumberId: PHONE_NUMBER_ID,
        },
      ];
      await helper.load([configNode] as never, flow as never, { cfg: { accessToken: TOKEN } });
    }

    const storageWarnings = () =>
      logEntries().filter((e) => e.level === 30 && String(e.msg).includes('storage-outside-eu'));

    it('warns when message data is stored outside the EU/EEA, without logging secrets', async () => {
      register('');
      await loadCloud();
      await until(() => storageWarnings().length === 1, 'the storage warning');
      assert.doesNotMatch(JSON.stringify(logEntries()), new RegExp(TOKEN));
    });

    it('does not warn for local storage in Germany', async () => {
      register('DE');
      await loadCloud();
      const check = await helper.request().post('/whatsapp-gdpr/config/cfg/check').expect(200);
      assert.equal(check.body.euStorage, true);
      assert.equal(storageWarnings().length, 0);
    });

    it('reports a rejected token on the connection check without revealing it', async () => {
      register('DE');
      const flow = [
        { id: 'cfg', type: 'whatsapp-config', mode: 'cloud', apiBaseUrl: server.url, phoneNumberId: PHONE_NUMBER_ID },
      ];
      await helper.load([configNode] as never, flow as never, { cfg: { accessToken: 'not-the-token' } });
      const check = await helper.request().post('/whatsapp-gdpr/config/cfg/check').expect(502);
      assert.equal(check.body.error, 'cloud-api-error');
      assert.doesNotMatch(JSON.stringify(check.body), /not-the-token/);
    });

    it('refuses a token with a character no token has (pasted "…", a zero-width space), without revealing it', async () => {
      register('DE');
      // A space or line break around it is trimmed (it worked before tokens were checked); one inside is not.
      for (const accessToken of [`${TOKEN}…`, `\u200b${TOKEN}`, `${TOKEN.slice(0, 4)} ${TOKEN.slice(4)}`]) {
        const flow = [
          { id: 'cfg', type: 'whatsapp-config', mode: 'cloud', apiBaseUrl: server.url, phoneNumberId: PHONE_NUMBER_ID },
        ];
        await helper.load([configNode] as never, flow as never, { cfg: { accessToken } });
        const check = await helper.request().post('/whatsapp-gdpr/config/cfg/check').expect(502);
        assert.equal(check.body.error, 'config-access-token-invalid');
        assert.match(check.body.message, /access token/);
        assert.doesNotMatch(JSON.stringify(check.body), new RegExp(TOKEN));
        await helper.unload();
      }
      const flow = [
        { id: 'cfg', type: 'whatsapp-config', mode: 'cloud', apiBaseUrl: server.url, phoneNumberId: PHONE_NUMBER_ID },
      ];
      await helper.load([configNode] as never, flow as never, { cfg: { accessToken: ` ${TOKEN}\n` } });
      await helper.request().post('/whatsapp-gdpr/config/cfg/check').expect(200);
    });

    it('refuses a plain-http API address beyond this machine before the token goes anywhere', async () => {
      const flow = [
        {
          id: 'cfg',
          type: 'whatsapp-config',
          mode: 'cloud',
          apiBaseUrl: 'http://graph.example.com',
          phoneNumberId: PHONE_NUMBER_ID,
        },
      ];
      await helper.load([configNode] as never, flow as never, { cfg: { accessToken: TOKEN } });
      const check = await helper.request().post('/whatsapp-gdpr/config/cfg/check').expect(502);
      assert.equal(check.body.error, 'config-api-url-insecure');
      assert.doesNotMatch(JSON.stringify(check.body), new RegExp(TOKEN));
      for (const safe of [
        'https://graph.facebook.com',
        'http://127.0.0.1:8080',
        'http://localhost:1/v',
        'http://[::1]:9',
      ]) {
        assert.equal(carriesTokenSafely(safe), true, safe);
      }
      for (const unsafe of [
        'http://graph.facebook.com',
        'http://10.0.0.5',
        'http://127.0.0.1.evil.example',
        'ftp://x',
        'nope',
      ]) {
        assert.equal(carriesTokenSafely(unsafe), false, unsafe);
      }
    });

    it('names every problem of a cloud configuration at deploy, and a send node shows the first one in red', async () => {
      const flow = [
        {
          id: 'cfg',
          type: 'whatsapp-config',
          mode: 'cloud',
          apiBaseUrl: 'http://graph.facebook.com',
          apiVersion: '25',
          phoneNumberId: '+49 151 2345678',
        },
        { id: 'tab', type: 'tab' },
        { id: 'send', z: 'tab', type: 'whatsapp-send', whatsapp: 'cfg', wires: [[], []] },
      ];
      await helper.load([configNode, sendNode] as never, flow as never, { cfg: { accessToken: `EAAB ${TOKEN}…` } });
      const config = helper.getNode('cfg') as unknown as { error: { args: unknown[][] } };
      const logged = config.error.args.map(([text]) => String(text));
      assert.deepEqual(
        logged.map((text) => text.split(' ').slice(0, 4).join(' ')),
        ['The WhatsApp configuration has', 'The access token contains', 'The API base URL', 'The API version must'],
        logged.join('\n'),
      );
      assert.doesNotMatch(logged.join('\n'), new RegExp(TOKEN), 'the token is not logged');
      const send = helper.getNode('send') as unknown as { status: { args: { fill?: string; text?: string }[][] } };
      for (let i = 0; i < 100 && send.status.args.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(send.status.args.at(-1)?.[0]?.fill, 'red');
      assert.match(String(send.status.args.at(-1)?.[0]?.text), /phone number id/);
      await helper.unload();

      // A configuration without problems logs none.
      register('DE');
      await helper.load(
        [configNode, sendNode] as never,
        [
          { ...flow[0], apiBaseUrl: server.url, apiVersion: 'v25.0', phoneNumberId: PHONE_NUMBER_ID },
          flow[1],
          flow[2],
        ] as never,
        {
          cfg: { accessToken: TOKEN },
        },
      );
      const clean = helper.getNode('cfg') as unknown as { error: { args: unknown[][] } };
      assert.deepEqual(clean.error.args, []);
    });

    it('keeps credentials out of the saved flow', async () => {
      register('DE');
      const flow = [
        { id: 'cfg', type: 'whatsapp-config', mode: 'cloud', apiBaseUrl: server.url, phoneNumberId: PHONE_NUMBER_ID },
      ];
      await helper.load([configNode] as never, flow as never, {
        cfg: { accessToken: TOKEN, appSecret: 'secret-two', verifyToken: 'secret-three' },
      });
      const saved = JSON.stringify((helper as unknown as { _redNodes: { getFlows(): unknown } })._redNodes.getFlows());
      assert.doesNotMatch(saved, /cloud-token-never-logged|secret-two|secret-three/);
      assert.equal((helper.getNode('cfg').credentials as { accessToken?: string }).accessToken, TOKEN);
    });
  });
});
