import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { signPayload } from '../../lib/webhook/signature';
import { portWasTaken, RealNodeRed, redJsPath } from '../helpers/real-node-red';

const APP_SECRET = 'real-node-red-app-secret';
const VERIFY_TOKEN = 'real-node-red-verify-token';
const TYPES = ['whatsapp-config', 'whatsapp-webhook', 'whatsapp-send'];

function webhookFlow(): Record<string, unknown>[] {
  return [
    { id: 'tab1', type: 'tab', label: 'WhatsApp' },
    {
      id: 'cfg1',
      type: 'whatsapp-config',
      name: 'e2e',
      mode: 'cloud',
      apiBaseUrl: 'https://graph.facebook.com',
      apiVersion: 'v25.0',
      phoneNumberId: '106540352242922',
      throughput: 80,
      configVersion: 1,
      credentials: { appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN },
    },
    {
      id: 'hook1',
      z: 'tab1',
      type: 'whatsapp-webhook',
      name: '',
      path: '/whatsapp',
      whatsapp: 'cfg1',
      minimise: true,
      maxBytes: 3145728,
      configVersion: 1,
      wires: [['debug1'], [], []],
    },
    {
      id: 'debug1',
      z: 'tab1',
      type: 'debug',
      name: 'inbound',
      active: true,
      tosidebar: false,
      console: true,
      tostatus: false,
      complete: 'payload',
      targetType: 'msg',
      wires: [],
    },
  ];
}

/** Meta's body shape, pretty-printed with odd spacing: re-serialising parsed JSON would not give these bytes. */
function inboundBody(text: string, id: string): string {
  const payload = {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '4930123456', phone_number_id: '106540352242922' },
              contacts: [{ profile: { name: 'Jürgen Müller' }, wa_id: '4915123456789' }],
              messages: [{ from: '4915123456789', id, timestamp: '1717000000', type: 'text', text: { body: text } }],
            },
          },
        ],
      },
    ],
  };
  return JSON.stringify(payload, null, 4).replace('"object":', '"object" :  ');
}

describe('a real Node-RED process with default settings', function () {
  this.timeout(90000);
  let red: RealNodeRed;

  before(async () => {
    red = await RealNodeRed.start({ types: TYPES });
  });

  after(async () => {
    await red?.stop();
  });

  it('runs the Node-RED under test and loads the nodes from the package folder', async () => {
    const version = (createRequire(redJsPath())('./package.json') as { version: string }).version;
    assert.match(red.log(), new RegExp(`Node-RED version: v${version.replace(/\./g, '\\.')}`));
    const sets = (await (await red.request('GET', '/nodes', undefined, { Accept: 'application/json' })).json()) as {
      module: string;
      types: string[];
      enabled: boolean;
      err?: string;
    }[];
    const ours = sets.filter((set) => set.module === '@gdpr-whatsapp/node-red');
    assert.deepEqual(ours.flatMap((set) => set.types).sort(), [...TYPES].sort());
    assert.ok(
      ours.every((set) => set.enabled && !set.err),
      JSON.stringify(ours),
    );
  });

  it('accepts a signed POST with umlauts and an emoji although the admin app parses JSON first', async () => {
    await red.deploy(webhookFlow());
    const challenge = await fetch(
      `${red.url}/whatsapp?hub.mode=subscribe&hub.challenge=987654&hub.verify_token=${VERIFY_TOKEN}`,
    );
    assert.equal(challenge.status, 200);
    assert.equal(await challenge.text(), '987654');

    const mark = red.log().length;
    const body = inboundBody('Grüße aus München 👋 – schön!', 'wamid.e2e-1');
    const answer = await fetch(`${red.url}/whatsapp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(body, APP_SECRET) },
      body,
    });
    assert.equal(answer.status, 200, await answer.text());
    await red.waitForLog(/Grüße aus München 👋 – schön!/, 10000, mark);
  });

  it('answers 401 to a forged POST, emits nothing and logs the translated reason', async () => {
    const mark = red.log().length;
    const body = inboundBody('gefälscht', 'wamid.e2e-forged');
    const answer = await fetch(`${red.url}/whatsapp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(body, 'guessed-secret') },
      body,
    });
    assert.equal(answer.status, 401);
    // The text from locales/en-US/whatsapp-config.json "errors": the catalog namespace resolves in a real runtime.
    await red.waitForLog(/A webhook with a wrong X-Hub-Signature-256 signature was refused/, 10000, mark);
    assert.doesNotMatch(red.log().slice(mark), /gefälscht/);
    assert.doesNotMatch(red.log(), new RegExp(`${APP_SECRET}|${VERIFY_TOKEN}`));
  });

  it('keeps one route per path across redeploys', async () => {
    await red.deploy(webhookFlow());
    await red.deploy(webhookFlow());
    const mark = red.log().length;
    const body = inboundBody('nach dem Redeploy', 'wamid.e2e-2');
    const answer = await fetch(`${red.url}/whatsapp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(body, APP_SECRET) },
      body,
    });
    assert.equal(answer.status, 200);
    await red.waitForLog(/nach dem Redeploy/, 10000, mark);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(red.log().slice(mark).split('nach dem Redeploy').length - 1, 1, 'emitted once');
  });

  it('keeps credentials out of the flows file', async () => {
    const flows = await (await red.request('GET', '/flows')).text();
    assert.doesNotMatch(flows, new RegExp(`${APP_SECRET}|${VERIFY_TOKEN}`));
  });
});

describe('starting a real Node-RED for a test', function () {
  this.timeout(90000);

  it('starts again on another port when the free port it was given was taken meanwhile', async () => {
    const holder = net.createServer();
    // On every address, as Node-RED binds: a holder on one address may share the port on some systems.
    await new Promise<void>((resolve) => holder.listen(0, resolve));
    const taken = (holder.address() as net.AddressInfo).port;
    let red: RealNodeRed | undefined;
    try {
      red = await RealNodeRed.start({ types: ['whatsapp-config'], firstPort: taken });
      assert.notEqual(red.port, taken);
      assert.equal((await red.request('GET', '/settings')).status, 200);
    } finally {
      await red?.stop();
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it("recognises Node-RED's own words for a taken port", () => {
    // What red.js logs before it exits (server.unable-to-listen, server.port-in-use in its runtime catalog).
    assert.equal(portWasTaken('[error] Unable to listen on http://127.0.0.1:1880/\n[error] Error: port in use'), true);
    assert.equal(portWasTaken('[info] Started flows'), false);
  });
});

describe('a real Node-RED process with adminAuth', function () {
  this.timeout(90000);
  let red: RealNodeRed;
  const hash = () => {
    // bcrypt from the Node-RED under test, as `node-red admin hash-pw` does.
    const requireFromRed = createRequire(path.join(path.dirname(redJsPath()), 'package.json'));
    const bcrypt = requireFromRed('bcryptjs') as { hashSync(password: string, rounds: number): string };
    return bcrypt.hashSync('pass-for-tests', 8);
  };

  async function tokenFor(username: string, scope: string): Promise<string> {
    const answer = await red.request('POST', '/auth/token', {
      client_id: 'node-red-admin',
      grant_type: 'password',
      scope,
      username,
      password: 'pass-for-tests',
    });
    assert.equal(answer.status, 200);
    return ((await answer.json()) as { access_token: string }).access_token;
  }

  before(async () => {
    const h = hash();
    red = await RealNodeRed.start({
      types: TYPES,
      settingsOverrides: `{ adminAuth: { type: 'credentials', users: [
        { username: 'admin', password: ${JSON.stringify(h)}, permissions: '*' },
        { username: 'viewer', password: ${JSON.stringify(h)}, permissions: 'read' }
      ] } }`,
    });
    const admin = await tokenFor('admin', '*');
    await red.deploy(
      [
        { id: 'tab1', type: 'tab', label: 'Sandbox' },
        { id: 'cfg1', type: 'whatsapp-config', mode: 'sandbox', phoneNumberId: '100200300400500', configVersion: 1 },
      ],
      { Authorization: `Bearer ${admin}` },
    );
    await red.waitForLog(/WhatsApp sandbox chat: http:\/\/127\.0\.0\.1:\d+\/whatsapp-gdpr\/sandbox\//);
  });

  after(async () => {
    await red?.stop();
  });

  it('guards the connection check and the chat data with the package permissions', async () => {
    assert.equal((await red.request('POST', '/whatsapp-gdpr/config/cfg1/check')).status, 401);
    assert.equal((await red.request('GET', '/whatsapp-gdpr/sandbox/numbers')).status, 401);
    const viewer = await tokenFor('viewer', 'read');
    const auth = { Authorization: `Bearer ${viewer}` };
    const check = await red.request('POST', '/whatsapp-gdpr/config/cfg1/check', undefined, auth);
    assert.equal(check.status, 200, await check.clone().text());
    assert.equal(((await check.json()) as { euStorage: boolean }).euStorage, true);
    assert.equal((await red.request('GET', '/whatsapp-gdpr/sandbox/numbers', undefined, auth)).status, 200);
    // Replying as the customer writes: a read-only user may not (403: logged in, but not allowed).
    const send = await red.request(
      'POST',
      '/whatsapp-gdpr/sandbox/send',
      { phoneNumberId: '100200300400500', waId: '4915112345678', text: 'Hallo' },
      auth,
    );
    assert.equal(send.status, 403);
  });

  it('serves the chat page itself without a login (it holds no data)', async () => {
    const page = await red.request('GET', '/whatsapp-gdpr/sandbox/');
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
  });
});
