import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import type { RealNodeRed } from '../helpers/real-node-red';
import { eventually, launchChromium, screenshot, skipWithoutChromium, startNodeRed } from './support';

/**
 * The sandbox chat page in Chromium: the customer says hello, a web-form opt-in request makes the business ask
 * for confirmation, the customer answers YES, a newsletter passes the consent gate; then STOP withdraws the
 * consent and the next newsletter is blocked.
 */

const CUSTOMER = '+4915123456789';
const CONFIRMED_TEXT = 'Danke! Ihr Newsletter-Abo ist bestätigt.';
const STOPPED_TEXT = 'Abgemeldet: Sie erhalten keinen Newsletter mehr.';

function chatFlow(): Record<string, unknown>[] {
  const key = () => randomBytes(32).toString('base64');
  const inject = (id: string, name: string, payload: string, payloadType: string, y: number) => ({
    id,
    z: 'chatTab',
    type: 'inject',
    name,
    props: [
      { p: 'payload', v: payload, vt: payloadType },
      { p: 'to', v: CUSTOMER, vt: 'str' },
    ],
    repeat: '',
    once: false,
    x: 140,
    y,
    wires: [[id === 'signupInject' ? 'optIn' : 'gate']],
  });
  const debug = (id: string, name: string, complete: string, y: number) => ({
    id,
    z: 'chatTab',
    type: 'debug',
    name,
    active: true,
    tosidebar: false,
    console: true,
    tostatus: false,
    complete,
    targetType: 'msg',
    x: 700,
    y,
    wires: [],
  });
  return [
    { id: 'chatTab', type: 'tab', label: 'Sandbox chat' },
    {
      id: 'chatConfig',
      type: 'whatsapp-config',
      name: 'Browser chat',
      mode: 'sandbox',
      apiVersion: 'v25.0',
      throughput: 20,
      maxQueue: 1000,
      timeoutMs: 15000,
      configVersion: 1,
    },
    {
      id: 'chatStore',
      type: 'consent-store',
      name: 'Browser chat store',
      backend: 'sqlite',
      purposes: [
        {
          id: 'newsletter',
          label: 'Newsletter',
          lawfulBasis: 'consent',
          marketing: true,
          wording: {
            en: 'I want to receive the newsletter on WhatsApp.',
            de: 'Ich möchte den Newsletter über WhatsApp erhalten.',
          },
        },
      ],
      configVersion: 1,
      credentials: { encryptionKey: key(), pseudonymKey: key() },
    },
    {
      id: 'hook',
      z: 'chatTab',
      type: 'whatsapp-webhook',
      whatsapp: 'chatConfig',
      path: '/whatsapp-browser-chat',
      minimise: true,
      maxBytes: 3145728,
      configVersion: 1,
      x: 140,
      y: 60,
      wires: [['stop'], ['stop'], ['stop']],
    },
    {
      id: 'stop',
      z: 'chatTab',
      type: 'stop-handler',
      store: 'chatStore',
      confirmationDe: STOPPED_TEXT,
      confirmationEn: STOPPED_TEXT,
      configVersion: 1,
      x: 340,
      y: 60,
      wires: [['send', 'stopDebug'], ['optIn']],
    },
    {
      id: 'optIn',
      z: 'chatTab',
      type: 'opt-in-flow',
      store: 'chatStore',
      purpose: 'newsletter',
      mode: 'interactive',
      confirmedTextDe: CONFIRMED_TEXT,
      confirmedTextEn: CONFIRMED_TEXT,
      configVersion: 3,
      x: 540,
      y: 120,
      wires: [['send'], ['send', 'outcomeDebug'], [], []],
    },
    {
      id: 'gate',
      z: 'chatTab',
      type: 'consent-gate',
      store: 'chatStore',
      purpose: 'newsletter',
      configVersion: 1,
      x: 340,
      y: 240,
      wires: [['send', 'passedDebug'], ['blockedDebug']],
    },
    {
      id: 'send',
      z: 'chatTab',
      type: 'whatsapp-send',
      whatsapp: 'chatConfig',
      optOutFooter: true,
      language: 'auto',
      configVersion: 1,
      x: 760,
      y: 120,
      wires: [[], []],
    },
    inject(
      'signupInject',
      'web form sign-up',
      JSON.stringify({
        phone: CUSTOMER,
        consent: true,
        wording: 'Ich möchte den Newsletter über WhatsApp erhalten.',
        source: 'browser test',
        language: 'de',
      }),
      'json',
      180,
    ),
    inject('newsletterInject', 'newsletter', 'Newsletter Nr. 1', 'str', 240),
    debug('outcomeDebug', 'opt-in outcome', 'optIn.outcome', 160),
    debug('stopDebug', 'stop outcome', 'stop.kind', 200),
    debug('passedDebug', 'gate passed', 'consent.status', 260),
    debug('blockedDebug', 'gate blocked', 'consent.reason', 300),
  ];
}

describe('the sandbox chat page in Chromium', function () {
  this.timeout(120000);
  let red: RealNodeRed;
  let browser: Browser;
  let page: Page;

  before(async function () {
    skipWithoutChromium(this);
    red = await startNodeRed();
    await red.deploy(chatFlow());
    browser = await launchChromium();
    const context = await browser.newContext({ locale: 'de-DE', viewport: { width: 1000, height: 900 } });
    context.setDefaultTimeout(15000);
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    await red?.stop();
  });

  const businessMessages = () => page.locator('#messages li.from-business');
  const lastBusinessText = async () => String(await businessMessages().last().textContent());

  async function send(text: string): Promise<void> {
    await page.locator('#text').fill(text);
    await page.locator('#composer button[type="submit"]').click();
    await page.locator('#messages li.from-customer', { hasText: text }).last().waitFor();
  }

  async function inject(id: string): Promise<void> {
    const answer = await red.request('POST', `/inject/${id}`);
    assert.equal(answer.status, 200, `inject ${id}`);
  }

  it('sends YES to confirm a web-form opt-in and receives the newsletter', async () => {
    await page.goto(`${red.url}/whatsapp-gdpr/sandbox/`);
    await page.locator('#number option', { hasText: 'Browser chat' }).first().waitFor({ state: 'attached' });
    // No customer chosen yet: the marketing opt-out button (hidden) must not show.
    assert.equal(await page.locator('#marketing').isVisible(), false);
    await page.locator('#add summary').click();
    await page.locator('#new-wa').fill(CUSTOMER);
    await page.locator('#new-name').fill('Erika');
    await page.locator('#add-form button[type="submit"]').click();
    await eventually(() => page.locator('#customer').inputValue(), CUSTOMER.slice(1), 'the new customer is chosen');
    // The customer writes first: WhatsApp delivers the button message only within 24 hours of that.
    await send('Hallo');
    await inject('signupInject');
    await page.locator('#messages li.from-business .reply-button').first().waitFor();
    await screenshot(page, 'chat-confirmation-request');

    await send('YES');
    await red.waitForLog(/\[debug:opt-in outcome\][\s\S]*confirmed/);
    await eventually(async () => (await lastBusinessText()).includes(CONFIRMED_TEXT), true, 'confirmation reply');
    await inject('newsletterInject');
    await red.waitForLog(/\[debug:gate passed\]/);
    await businessMessages().filter({ hasText: 'Newsletter Nr. 1' }).waitFor();
    await screenshot(page, 'chat-confirmed-newsletter');
  });

  it('sends STOP, gets the confirmation, and the next newsletter is blocked', async () => {
    const before = await businessMessages().count();
    await send('STOP');
    await red.waitForLog(/\[debug:stop outcome\][\s\S]*stop/);
    await eventually(async () => (await lastBusinessText()).includes(STOPPED_TEXT), true, 'opt-out confirmation');
    const mark = red.log().length;
    await inject('newsletterInject');
    await red.waitForLog(/\[debug:gate blocked\]/, 10000, mark);
    assert.doesNotMatch(red.log().slice(mark), /\[debug:gate passed\]/);
    assert.equal(await businessMessages().count(), before + 1, 'only the opt-out confirmation arrived');
    await screenshot(page, 'chat-stopped');
  });

  it('moves to another number: the business hears of it, and the new number starts an empty conversation', async () => {
    const newNumber = '+4917612345678';
    const mark = red.log().length;
    await page.locator('#move summary').click();
    await page.locator('#move-wa').fill(CUSTOMER);
    await page.locator('#move-form button[type="submit"]').click();
    assert.equal(await page.locator('#move-wa').getAttribute('aria-invalid'), 'true', 'the same number is no move');
    await page.locator('#move-wa').fill(newNumber);
    await page.locator('#move-form button[type="submit"]').click();
    await eventually(() => page.locator('#customer').inputValue(), newNumber.slice(1), 'the new number is chosen');
    assert.match(String(await page.locator('#status').textContent()), /\+4917612345678.*200/);
    await red.waitForLog(/moved to another WhatsApp number/, 10000, mark);
    assert.equal(await page.locator('#empty').isVisible(), true);
    await screenshot(page, 'chat-number-changed');
  });

  it('plays a customer with a username whose number WhatsApp hides: her STOP is answered at her user id', async () => {
    const hidden = '+4915211112222';
    await page.locator('#add summary').click();
    await page.locator('#new-wa').fill(hidden);
    await page.locator('#new-name').fill('Hanna');
    await page.locator('#new-hide').check();
    await page.locator('#add-form button[type="submit"]').click();
    assert.equal(await page.locator('#new-user-id').getAttribute('aria-invalid'), 'true', 'hiding needs a user id');
    await page.locator('#new-user-id').fill('de.55');
    await page.locator('#add-form button[type="submit"]').click();
    assert.match(String(await page.locator('#status').textContent()), /DE\.1234567890/);
    await page.locator('#new-user-id').fill('DE.5550001');
    await page.locator('#add-form button[type="submit"]').click();
    await eventually(() => page.locator('#customer').inputValue(), hidden.slice(1), 'the new customer is chosen');
    const mark = red.log().length;
    await send('STOP');
    await red.waitForLog(/\[debug:stop outcome\][\s\S]*stop/, 10000, mark);
    await eventually(async () => (await lastBusinessText()).includes(STOPPED_TEXT), true, 'the answer reaches her');
    // The sandbox kept her as WhatsApp would: webhooks without her number, answers to her user id.
    const phoneNumberId = await page.locator('#number').inputValue();
    const answer = await red.request('GET', `/whatsapp-gdpr/sandbox/conversations?phoneNumberId=${phoneNumberId}`);
    const { conversations } = (await answer.json()) as {
      conversations: { waId: string; userId?: string; numberHidden?: boolean }[];
    };
    const hanna = conversations.find((c) => c.waId === hidden.slice(1));
    assert.deepEqual([hanna?.userId, hanna?.numberHidden], ['DE.5550001', true]);
    const option = page.locator('#customer option:checked');
    assert.match(String(await option.textContent()), /Hanna · DE\.5550001 \((number hidden|Nummer verborgen)\)/);
    await screenshot(page, 'chat-hidden-number');
  });
});
