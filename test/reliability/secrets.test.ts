import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { confirmButtonId } from '../../lib/conversation/opt-in';
import { RealNodeRed } from '../helpers/real-node-red';
import { PURPOSES } from '../nodes/consent-fixtures';

/**
 * Issue 7, secrets and personal data: a full run in a real Node-RED process (web-form opt-in, confirmation,
 * privacy notice, a free-text message, STOP, erasure by WhatsApp) against the in-process sandbox, with every
 * node status and every caught error printed to the log by Node-RED's own status and catch nodes. Afterwards
 * the log, the exported flows (GET /flows), flows.json, flows_cred.json and the status texts hold no access
 * token, app secret, verify token, encryption or pseudonym key, and no phone number, name or message text.
 */
const PHONE_NUMBER_ID = '100200300400501';
const ACCESS_TOKEN = `EAAG${randomBytes(24).toString('hex')}`;
const APP_SECRET = randomBytes(16).toString('hex');
const VERIFY_TOKEN = `verify-${randomBytes(12).toString('hex')}`;
const ENCRYPTION_KEY = randomBytes(32).toString('base64');
const PSEUDONYM_KEY = randomBytes(32).toString('base64');
const WA_ID = '4915123456789';
const PHONE_TYPED = '+49 151 2345 6789';
const NAME = 'Erika Mustermann';
const FREE_TEXT = 'Paket 4711 kam beschaedigt an, bitte Rueckruf';
/** The fixture purpose's German wording: opt-in-flow takes only the purpose's own wordings. */
const WORDING = 'Schickt mir den Newsletter per WhatsApp.';

/** Every form in which the number could leak: E.164, the WhatsApp id, as typed, and the national digits. */
const PERSONAL = [`+${WA_ID}`, WA_ID, PHONE_TYPED, '15123456789', '151 2345 6789', NAME, FREE_TEXT];
const SECRETS = { ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, ENCRYPTION_KEY, PSEUDONYM_KEY };

function flow(): Record<string, unknown>[] {
  const debug = (id: string, complete: string) => ({
    id,
    z: 'tab1',
    type: 'debug',
    active: true,
    tosidebar: true,
    console: true,
    tostatus: false,
    complete,
    targetType: 'msg',
    wires: [],
  });
  return [
    { id: 'tab1', type: 'tab', label: 'GDPR run' },
    {
      id: 'store',
      type: 'consent-store',
      backend: 'sqlite',
      sqlitePath: 'consent.db',
      purposes: PURPOSES,
      configVersion: 1,
      credentials: { encryptionKey: ENCRYPTION_KEY, pseudonymKey: PSEUDONYM_KEY },
    },
    {
      id: 'cfg',
      type: 'whatsapp-config',
      name: 'Shop',
      mode: 'sandbox',
      phoneNumberId: PHONE_NUMBER_ID,
      configVersion: 1,
      credentials: { accessToken: ACCESS_TOKEN, appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN },
    },
    {
      id: 'hook',
      z: 'tab1',
      type: 'whatsapp-webhook',
      path: '/whatsapp',
      whatsapp: 'cfg',
      store: 'store',
      configVersion: 1,
      wires: [['stop'], [], []],
    },
    { id: 'stop', z: 'tab1', type: 'stop-handler', store: 'store', wires: [['send'], ['optin']] },
    {
      id: 'optin',
      z: 'tab1',
      type: 'opt-in-flow',
      store: 'store',
      purpose: 'news',
      mode: 'template',
      templateName: 'consent_request',
      templateLanguage: 'auto',
      templateConfirmButton: true,
      wires: [['send'], ['notice'], [], ['erase']],
    },
    {
      id: 'erase',
      z: 'tab1',
      type: 'erase-subject',
      store: 'store',
      keywordMode: true,
      notify: true,
      wires: [[], ['send'], []],
    },
    {
      id: 'notice',
      z: 'tab1',
      type: 'privacy-notice',
      store: 'store',
      policyUrl: 'https://shop.example/datenschutz',
      servePage: true,
      // What the page needs (without it the node refuses to send a notice linking it).
      controllerName: 'Beispiel Shop GmbH',
      controllerEmail: 'datenschutz@shop.example',
      storageLocation: 'Deutschland',
      wires: [['send']],
    },
    { id: 'send', z: 'tab1', type: 'whatsapp-send', whatsapp: 'cfg', wires: [[], []] },
    // The web form posts here; the answer leaves at once, the request goes on to opt-in-flow.
    { id: 'form', z: 'tab1', type: 'http in', url: '/signup', method: 'post', upload: false, wires: [['optin', 'ok']] },
    { id: 'ok', z: 'tab1', type: 'http response', statusCode: '202', headers: {}, wires: [] },
    // Node-RED's own nodes put every status text and every caught error into the log that is scanned.
    { id: 'statuses', z: 'tab1', type: 'status', scope: null, wires: [['status-log']] },
    debug('status-log', 'status'),
    { id: 'errors', z: 'tab1', type: 'catch', scope: null, uncaught: false, wires: [['error-log']] },
    debug('error-log', 'error'),
  ];
}

describe('reliability: no secret and no personal data in logs, flows or status texts', function () {
  this.timeout(120000);
  let red: RealNodeRed;

  before(async () => {
    red = await RealNodeRed.start();
  });

  after(async () => {
    await red?.stop();
  });

  /** The sandbox conversation with the customer, as the chat page reads it. */
  async function outbound(): Promise<{ type: string; text: string }[]> {
    const answer = await red.request(
      'GET',
      `/whatsapp-gdpr/sandbox/messages?phoneNumberId=${PHONE_NUMBER_ID}&waId=${WA_ID}`,
    );
    const body = (await answer.json()) as { messages: { direction: string; type: string; text: string }[] };
    return body.messages.filter((m) => m.direction === 'outbound');
  }

  async function untilOutbound(count: number, what: string): Promise<{ type: string; text: string }[]> {
    for (let i = 0; i < 300; i++) {
      const messages = await outbound();
      if (messages.length >= count) return messages;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`timed out waiting for ${what}:\n${red.log()}`);
  }

  async function customerSends(message: Record<string, unknown>): Promise<void> {
    const answer = await red.request('POST', '/whatsapp-gdpr/sandbox/send', {
      phoneNumberId: PHONE_NUMBER_ID,
      waId: WA_ID,
      name: NAME,
      ...message,
    });
    assert.equal(answer.status, 200, await answer.text());
  }

  it('runs opt-in, notice, STOP and erasure, then finds none of them in what Node-RED shows or stores', async () => {
    await red.deploy(flow());
    await red.waitForLog(/WhatsApp sandbox chat/);

    // 1. The web form: double opt-in starts with the confirmation template.
    const form = await fetch(`${red.url}/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ phone: PHONE_TYPED, consent: 'on', wording: WORDING, source: 'https://shop.example/' }),
    });
    assert.equal(form.status, 202);
    await untilOutbound(1, 'the confirmation template');
    // 2. YES on the template: the notice comes first, then the thank-you.
    await customerSends({ quickReply: { payload: confirmButtonId('news'), text: 'JA' } });
    await untilOutbound(3, 'the privacy notice and the thank-you');
    // 3. A free-text message nobody handles, 4. STOP, 5. erasure by keyword.
    await customerSends({ text: FREE_TEXT });
    await customerSends({ text: 'STOP' });
    const afterStop = await untilOutbound(4, 'the STOP confirmation');
    assert.match(afterStop[3].text, /abgemeldet|unsubscribed|keine/i, afterStop[3].text);
    const beforeErasure = red.log().length;
    await customerSends({ text: 'Daten löschen' });
    await untilOutbound(5, 'the erasure notice');
    // erase-subject's status after the erasure, logged by the status node: the scan must cover it.
    await red.waitForLog(/type: 'erase-subject'/, 15000, beforeErasure);
    // Statuses reach the log through the status node: give the last ones a moment.
    const statusCount = await untilStable(() => (red.log().match(/\bstatus\b/g) ?? []).length);

    // The texts really went through the system (the chat page shows them), so their absence below means something.
    const chat = await (
      await red.request('GET', `/whatsapp-gdpr/sandbox/messages?phoneNumberId=${PHONE_NUMBER_ID}&waId=${WA_ID}`)
    ).text();
    assert.ok(chat.includes(FREE_TEXT), 'the free text reached the sandbox conversation');
    const exported = await (await red.request('GET', '/flows')).text();
    const files = readTree(red.userDir, /^(flows.*\.json|\.config\..*\.json|settings\.js)$/);
    const places: Record<string, string> = { log: red.log(), 'GET /flows': exported, ...files };
    assert.ok(
      Object.keys(files).some((f) => f.endsWith('flows.json')),
      Object.keys(files).join(', '),
    );
    // Each node shows a status only when it changes, so there are few lines; but every kind of node must be there.
    const statusSources = new Set(red.log().match(/type: '[a-z-]+'/g) ?? []);
    for (const type of ['opt-in-flow', 'whatsapp-send', 'privacy-notice', 'stop-handler', 'erase-subject']) {
      assert.ok(statusSources.has(`type: '${type}'`), `no status of ${type} in the log: the scan would prove nothing`);
    }
    assert.ok(statusCount >= 6, `the log shows ${statusCount} status lines: the scan would prove nothing`);
    for (const [where, text] of Object.entries(places)) {
      for (const [name, secret] of Object.entries(SECRETS)) {
        assert.equal(text.includes(secret), false, `${name} appears in ${where}`);
      }
      for (const personal of PERSONAL) {
        assert.equal(text.includes(personal), false, `"${personal}" appears in ${where}`);
      }
    }
    console.log(
      `      scanned: log ${red.log().length} chars with ${statusCount} status lines, GET /flows, ` +
        `${Object.keys(files).join(', ')}`,
    );
  });
});

/** Files under `dir` (not node_modules) whose name matches, by path relative to `dir`. */
function readTree(dir: string, name: RegExp, prefix = ''): Record<string, string> {
  const found: Record<string, string> = {};
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules') continue;
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) Object.assign(found, readTree(full, name, `${prefix}${entry}/`));
    else if (name.test(entry)) found[`${prefix}${entry}`] = readFileSync(full, 'utf8');
  }
  return found;
}

/**
 * Polls `read` until two readings 700 ms apart agree; returns the last. Running counts (stop-handler, consent-gate)
 * are shown at most every 500 ms, so a shorter pause could end before the last of them.
 */
async function untilStable(read: () => number): Promise<number> {
  let last = read();
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 700));
    const now = read();
    if (now === last) return now;
    last = now;
  }
  return last;
}
