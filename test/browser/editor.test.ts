import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Dialog, Page } from 'playwright-core';
import { startSandboxServer } from '../../lib/sandbox/server';
import { CONSENT_STORE_DEFAULTS, consentStoreMigrations } from '../../nodes/consent-store';
import { exportSubjectMigrations } from '../../nodes/export-subject';
import { optInFlowMigrations } from '../../nodes/opt-in-flow';
import { DEFAULT_POLICY_PATH, PRIVACY_NOTICE_MIGRATIONS } from '../../nodes/privacy-notice';
import { currentVersion, type Migration } from '../../nodes/shared/migrations';
import { WHATSAPP_CONFIG_DEFAULTS, whatsappConfigMigrations } from '../../nodes/shared/migrations/whatsapp-config';
import { whatsappSendMigrations } from '../../nodes/shared/migrations/whatsapp-send';
import { WHATSAPP_WEBHOOK_DEFAULTS, whatsappWebhookMigrations } from '../../nodes/shared/migrations/whatsapp-webhook';
import { STOP_HANDLER_MIGRATIONS } from '../../nodes/stop-handler';
import type { RealNodeRed } from '../helpers/real-node-red';
import {
  catalogText,
  confirmDialog,
  deploy,
  dragOntoWorkspace,
  EXAMPLES_DIR,
  editNode,
  eventually,
  expectFieldError,
  fieldValid,
  launchChromium,
  openEditor,
  openNodeDialog,
  PACKAGE_NAME,
  REPO_DIR,
  screenshot,
  skipWithoutChromium,
  startNodeRed,
  typeInto,
} from './support';

/**
 * The editor as a user meets it, in Chromium against a real Node-RED: the palette, each node's dialog with
 * validation as you type, config nodes created in place, deploys, the examples from Import > Examples, and the
 * editor in German.
 */

const CATEGORY_ID = 'red-ui-palette-container-WhatsApp_GDPR';
const FLOW_TYPES = [
  'whatsapp-webhook',
  'whatsapp-send',
  'consent-gate',
  'opt-in-flow',
  'stop-handler',
  'privacy-notice',
  'erase-subject',
  'export-subject',
  'consent-events',
];

interface NodeScenario {
  type: string;
  /** With the dialog open: enter invalid values and check the messages next to the fields. */
  invalid(page: Page): Promise<void>;
  /** With the dialog open: make every field valid. */
  fix(page: Page): Promise<void>;
}

async function expectMessage(page: Page, inputId: string, key: string, params: Record<string, unknown> = {}) {
  const expected = await catalogText(page, key, params);
  assert.ok(!expected.includes(key.split(':')[1]), `catalog has no text for ${key}`);
  await expectFieldError(page, inputId, expected);
}

/** whatsapp-config, created in place from a flow node's dialog (the "+" next to its selector). */
async function addWhatsAppConfig(page: Page): Promise<void> {
  await expectMessage(page, 'node-input-whatsapp', 'whatsapp-config:whatsapp-config.validation.config-missing');
  await page.locator('#node-input-btn-whatsapp-add').click();
  await page.locator('#node-config-dialog-ok').waitFor({ state: 'visible' });
  await page.locator('#node-config-input-mode').selectOption('cloud');
  await expectMessage(
    page,
    'node-config-input-phoneNumberId',
    'whatsapp-config:whatsapp-config.validation.phone-number-id-missing',
  );
  await typeInto(page, 'node-config-input-phoneNumberId', '+49 151');
  await expectMessage(
    page,
    'node-config-input-phoneNumberId',
    'whatsapp-config:whatsapp-config.validation.phone-number-id',
  );
  await typeInto(page, 'node-config-input-throughput', '5000');
  await expectMessage(page, 'node-config-input-throughput', 'whatsapp-config:whatsapp-config.validation.range', {
    min: 1,
    max: 1000,
  });
  await screenshot(page, 'whatsapp-config-invalid');
  await page.locator('#node-config-input-mode').selectOption('sandbox');
  await typeInto(page, 'node-config-input-phoneNumberId', '');
  await fieldValid(page, 'node-config-input-phoneNumberId');
  await typeInto(page, 'node-config-input-throughput', '20');
  await fieldValid(page, 'node-config-input-throughput');
  await typeInto(page, 'node-config-input-name', 'Browser sandbox');
  // Not deployed yet: the connection check says so instead of failing obscurely.
  await page.locator('#node-config-whatsapp-check').click();
  const result = page.locator('#node-config-whatsapp-check-result');
  await assertText(result, await catalogText(page, 'whatsapp-config:whatsapp-config.check.deployFirst'));
  await result.scrollIntoViewIfNeeded();
  await screenshot(page, 'whatsapp-config-valid-not-deployed');
  await page.locator('#node-config-dialog-ok').click();
  await page.locator('#node-config-dialog-ok').waitFor({ state: 'detached' });
  await fieldValid(page, 'node-input-whatsapp');
}

/** consent-store, created in place: keys are generated, purposes are edited as a list. */
async function addConsentStore(page: Page): Promise<void> {
  await expectMessage(page, 'node-input-store', 'whatsapp-config:whatsapp-config.validation.config-missing');
  await page.locator('#node-input-btn-store-add').click();
  await page.locator('#node-config-dialog-ok').waitFor({ state: 'visible' });
  for (const key of ['encryptionKey', 'pseudonymKey']) {
    const value = await page.locator(`#node-config-input-${key}`).inputValue();
    assert.equal(Buffer.from(value, 'base64').length, 32, `${key} is generated: 32 random bytes in base64`);
  }
  // The encryption key is exactly 32 bytes; the pseudonym key's range is checked with a deployed store below.
  await typeInto(page, 'node-config-input-encryptionKey', 'short');
  await expectMessage(page, 'node-config-input-encryptionKey', 'consent-store:consent-store.validation.key-length', {
    bytes: 32,
  });
  await page.locator('#consent-store-generate-encryptionKey').click();
  await fieldValid(page, 'node-config-input-encryptionKey');
  await typeInto(page, 'node-config-input-pendingExpiryHours', '0');
  await expectMessage(page, 'node-config-input-pendingExpiryHours', 'consent-store:consent-store.validation.range', {
    min: 1,
    max: 24 * 365,
  });
  await typeInto(page, 'node-config-input-pendingExpiryHours', '48');
  await fieldValid(page, 'node-config-input-pendingExpiryHours');

  await page.locator('.red-ui-editableList-addButton').click();
  const row = page.locator('#node-config-input-purposes-container li').last();
  // The row's fields have no visible labels: screen readers read their aria-labels from the catalog.
  assert.equal(
    await row.locator('.purpose-basis').getAttribute('aria-label'),
    await catalogText(page, 'consent-store:consent-store.label.lawful-basis'),
  );
  for (const field of [
    '.purpose-id',
    '.purpose-label',
    '.purpose-label-de',
    '.purpose-wording-en',
    '.purpose-wording-de',
  ]) {
    assert.ok(await row.locator(field).getAttribute('aria-label'), `${field} has an aria-label`);
  }
  await row.locator('.purpose-id').pressSequentially('News Letter');
  const idMessage = await catalogText(page, 'consent-store:consent-store.validation.purpose-id');
  await assertText(row.locator('.purpose-error'), idMessage);
  await screenshot(page, 'consent-store-invalid-purpose');
  await row.locator('.purpose-id').fill('');
  await row.locator('.purpose-id').pressSequentially('newsletter');
  await row.locator('.purpose-label').pressSequentially('Newsletter');
  await row.locator('.purpose-label-de').pressSequentially('Rundbrief');
  await row.locator('.purpose-wording-en').pressSequentially('I want to receive the newsletter on WhatsApp.');
  await row.locator('.purpose-wording-de').pressSequentially('Ich möchte den Newsletter über WhatsApp erhalten.');
  await row.locator('.purpose-marketing').check();
  await assertText(row.locator('.purpose-error'), '');
  // A legitimate-interest purpose also names the interest pursued (Art. 13(1)(d)); its fields show for that basis only.
  assert.equal(await row.locator('.purpose-interest-en').isVisible(), false);
  await row.locator('.purpose-basis').selectOption('legitimate-interest');
  assert.equal(await row.locator('.purpose-interest-en').isVisible(), true);
  const interestMessage = await catalogText(page, 'consent-store:consent-store.validation.purpose-interest');
  await assertText(row.locator('.purpose-error'), interestMessage);
  await screenshot(page, 'consent-store-interest-missing');
  await row.locator('.purpose-interest-de').pressSequentially('Wir informieren über neue Ausgaben.');
  // Marketing is ticked: advertising by WhatsApp needs consent, whatever interest is named (§ 7(2) UWG).
  const marketingMessage = await catalogText(page, 'consent-store:consent-store.validation.purpose-marketing');
  await assertText(row.locator('.purpose-error'), marketingMessage);
  await row.locator('.purpose-basis').selectOption('consent');
  await assertText(row.locator('.purpose-error'), '');
  assert.equal(await row.locator('.purpose-interest-en').isVisible(), false);
  await screenshot(page, 'consent-store-valid');
  await page.locator('#node-config-dialog-ok').click();
  await page.locator('#node-config-dialog-ok').waitFor({ state: 'detached' });
  await fieldValid(page, 'node-input-store');
  // The customer sees the purpose's name in her language: both labels are saved.
  const saved = await page.evaluate(() => {
    let purposes: unknown;
    window.RED.nodes.eachConfig((n: { type: string; purposes?: unknown }) => {
      if (n.type === 'consent-store') purposes = n.purposes;
    });
    return purposes as { label: string; labels?: Record<string, string> }[];
  });
  assert.deepEqual(
    saved.map((p) => [p.label, p.labels]),
    [['Newsletter', { en: 'Newsletter', de: 'Rundbrief' }]],
  );
}

function assertText(locator: ReturnType<Page['locator']>, expected: string): Promise<void> {
  return eventually(async () => String(await locator.textContent()).trim(), expected, 'text');
}

async function chooseNoConfig(page: Page, property: string): Promise<void> {
  await page.locator(`#node-input-${property}`).selectOption('_ADD_');
  await expectMessage(page, `node-input-${property}`, 'whatsapp-config:whatsapp-config.validation.config-missing');
}

async function chooseFirstConfig(page: Page, property: string): Promise<void> {
  const first = await page.locator(`#node-input-${property} option:not([value="_ADD_"])`).first().getAttribute('value');
  assert.ok(first, `a ${property} configuration exists`);
  await page.locator(`#node-input-${property}`).selectOption(first);
  await fieldValid(page, `node-input-${property}`);
}

const SCENARIOS: NodeScenario[] = [
  {
    type: 'whatsapp-webhook',
    async invalid(page) {
      await addWhatsAppConfig(page);
      await typeInto(page, 'node-input-path', 'whatsapp browser');
      await expectMessage(page, 'node-input-path', 'whatsapp-webhook:whatsapp-webhook.validation.path');
      await typeInto(page, 'node-input-maxBytes', '12');
      await expectMessage(page, 'node-input-maxBytes', 'whatsapp-webhook:whatsapp-webhook.validation.max-bytes');
    },
    async fix(page) {
      await typeInto(page, 'node-input-path', '/whatsapp-browser');
      await typeInto(page, 'node-input-maxBytes', '3145728');
      await fieldValid(page, 'node-input-path');
      await fieldValid(page, 'node-input-maxBytes');
    },
  },
  {
    type: 'whatsapp-send',
    invalid: (page) => chooseNoConfig(page, 'whatsapp'),
    fix: (page) => chooseFirstConfig(page, 'whatsapp'),
  },
  {
    type: 'consent-gate',
    async invalid(page) {
      await addConsentStore(page);
      await expectMessage(page, 'node-input-purpose', 'consent-gate:consent-gate.validation.purpose-missing');
      await typeInto(page, 'node-input-purpose', 'News Letter');
      await expectMessage(page, 'node-input-purpose', 'consent-gate:consent-gate.validation.purpose-id');
      await typeInto(page, 'node-input-purpose', 'offers');
      await expectMessage(page, 'node-input-purpose', 'consent-gate:consent-gate.validation.purpose-unknown');
    },
    async fix(page) {
      await typeInto(page, 'node-input-purpose', 'newsletter');
      await fieldValid(page, 'node-input-purpose');
    },
  },
  {
    type: 'opt-in-flow',
    async invalid(page) {
      await chooseFirstConfig(page, 'store');
      await expectMessage(page, 'node-input-purpose', 'opt-in-flow:opt-in-flow.validation.purpose-missing');
      await page.locator('#node-input-mode').selectOption('template');
      await typeInto(page, 'node-input-templateName', 'Opt-In');
      await expectMessage(page, 'node-input-templateName', 'opt-in-flow:opt-in-flow.validation.template-name');
      await typeInto(page, 'node-input-confirmKeywords', ' , ');
      await expectMessage(page, 'node-input-confirmKeywords', 'opt-in-flow:opt-in-flow.validation.keywords');
    },
    async fix(page) {
      await typeInto(page, 'node-input-purpose', 'newsletter');
      await typeInto(page, 'node-input-templateName', 'optin_confirmation');
      await typeInto(page, 'node-input-confirmKeywords', 'YES, JA');
      for (const field of ['purpose', 'templateName', 'confirmKeywords']) await fieldValid(page, `node-input-${field}`);
    },
  },
  {
    type: 'stop-handler',
    async invalid(page) {
      await chooseFirstConfig(page, 'store');
      await typeInto(page, 'node-input-purposes', 'newsletter, Offers!');
      await expectMessage(page, 'node-input-purposes', 'stop-handler:stop-handler.validation.purpose-id', {
        ids: 'Offers!',
      });
      await typeInto(page, 'node-input-purposes', 'newsletter, offers');
      await expectMessage(page, 'node-input-purposes', 'stop-handler:stop-handler.validation.purpose-unknown', {
        ids: 'offers',
      });
      await typeInto(page, 'node-input-keywords', ',');
      await expectMessage(page, 'node-input-keywords', 'stop-handler:stop-handler.validation.keywords');
    },
    async fix(page) {
      await typeInto(page, 'node-input-purposes', 'newsletter');
      await typeInto(page, 'node-input-keywords', 'STOP, STOPP');
      await fieldValid(page, 'node-input-purposes');
      await fieldValid(page, 'node-input-keywords');
    },
  },
  {
    type: 'privacy-notice',
    async invalid(page) {
      await chooseFirstConfig(page, 'store');
      await expectMessage(page, 'node-input-policyUrl', 'privacy-notice:privacy-notice.validation.policy-url-missing');
      await expectMessage(
        page,
        'node-input-controllerName',
        'privacy-notice:privacy-notice.validation.required-for-page',
      );
      // Art. 13(1)(a): a way to reach the controller besides the name; any one of the three.
      await expectMessage(
        page,
        'node-input-controllerPhone',
        'privacy-notice:privacy-notice.validation.contact-for-page',
      );
      await typeInto(page, 'node-input-policyUrl', 'example.com/privacy');
      await expectMessage(page, 'node-input-policyUrl', 'privacy-notice:privacy-notice.validation.url');
      // A path is this Node-RED's own page (the examples'), but not one that names another host.
      await typeInto(page, 'node-input-policyUrl', '/privacy-browser');
      await fieldValid(page, 'node-input-policyUrl');
      await typeInto(page, 'node-input-policyUrl', '//example.com/privacy');
      await expectMessage(page, 'node-input-policyUrl', 'privacy-notice:privacy-notice.validation.url');
      await typeInto(page, 'node-input-pagePath', 'privacy');
      await expectMessage(page, 'node-input-pagePath', 'privacy-notice:privacy-notice.validation.page-path');
      await typeInto(page, 'node-input-controllerEmail', 'privacy at example.com');
      await expectMessage(page, 'node-input-controllerEmail', 'privacy-notice:privacy-notice.validation.email');
    },
    async fix(page) {
      await typeInto(page, 'node-input-policyUrl', 'https://example.com/privacy');
      await typeInto(page, 'node-input-pagePath', '/privacy-browser');
      await typeInto(page, 'node-input-controllerName', 'Beispiel GmbH');
      await typeInto(page, 'node-input-controllerEmail', 'privacy@example.com');
      await typeInto(page, 'node-input-storageLocation', 'Frankfurt am Main, Germany');
      const fields = ['policyUrl', 'pagePath', 'controllerName', 'controllerEmail', 'storageLocation'];
      for (const field of [...fields, 'controllerAddress', 'controllerPhone']) {
        await fieldValid(page, `node-input-${field}`);
      }
    },
  },
  {
    type: 'erase-subject',
    async invalid(page) {
      await chooseFirstConfig(page, 'store');
      await page.locator('#node-input-keywordMode').check();
      await typeInto(page, 'node-input-keywords', ', ,');
      await expectMessage(page, 'node-input-keywords', 'erase-subject:erase-subject.validation.keywords');
      // The question to a one-word keyword must say what to send.
      await page.locator('#node-input-notify').check();
      await typeInto(page, 'node-input-questionDe', 'Wirklich alles löschen?');
      await expectMessage(page, 'node-input-questionDe', 'erase-subject:erase-subject.validation.question-keyword', {
        max: 1024,
      });
    },
    async fix(page) {
      await typeInto(page, 'node-input-keywords', 'DELETE MY DATA, DATEN LÖSCHEN');
      await fieldValid(page, 'node-input-keywords');
      await typeInto(page, 'node-input-questionDe', 'Wirklich alles löschen? Dann antworten Sie mit {keyword}.');
      await fieldValid(page, 'node-input-questionDe');
    },
  },
  {
    type: 'export-subject',
    invalid: (page) => chooseNoConfig(page, 'store'),
    fix: (page) => chooseFirstConfig(page, 'store'),
  },
  {
    type: 'consent-events',
    async invalid(page) {
      await chooseNoConfig(page, 'store');
      // The redelivery time matters only when events are acknowledged on return.
      assert.equal(await page.locator('#consent-events-redeliver-row').isVisible(), false);
      await page.locator('#node-input-acknowledge').selectOption('returned');
      await page.locator('#consent-events-redeliver-row').waitFor({ state: 'visible' });
      await typeInto(page, 'node-input-redeliverAfter', '0');
      await expectMessage(
        page,
        'node-input-redeliverAfter',
        'consent-events:consent-events.validation.redeliver-after',
      );
      // The runtime's default for a node that has none yet.
      assert.equal(await page.locator('#node-input-maxAttempts').inputValue(), '5');
      await typeInto(page, 'node-input-maxAttempts', '2.5');
      await expectMessage(page, 'node-input-maxAttempts', 'consent-events:consent-events.validation.max-attempts');
    },
    async fix(page) {
      await chooseFirstConfig(page, 'store');
      // Acknowledged when sent on, the hidden time and limit hold nothing up.
      await page.locator('#node-input-acknowledge').selectOption('sent');
      assert.equal(await page.locator('#consent-events-attempts-row').isVisible(), false);
      await fieldValid(page, 'node-input-redeliverAfter');
      await fieldValid(page, 'node-input-maxAttempts');
      await page.locator('#node-input-acknowledge').selectOption('returned');
      await typeInto(page, 'node-input-redeliverAfter', '30');
      await fieldValid(page, 'node-input-redeliverAfter');
      // 0: never give up.
      await typeInto(page, 'node-input-maxAttempts', '0');
      await fieldValid(page, 'node-input-maxAttempts');
    },
  },
];

async function nodeValid(page: Page, id: string): Promise<boolean> {
  return page.evaluate((nodeId) => window.RED.nodes.node(nodeId).valid !== false, id);
}

/** Deploy with an invalid node: Node-RED stops and lists it; the user cancels. */
async function deployIsHeldBack(page: Page, label: string): Promise<void> {
  await page.locator('#red-ui-header-button-deploy').click();
  const warning = page
    .locator('.red-ui-notification')
    .filter({ has: page.locator('#red-ui-deploy-dialog-confirm-deploy-deploy') });
  await warning.waitFor({ state: 'visible' });
  await screenshot(page, `${label}-deploy-held-back`);
  await warning.locator('button').first().click();
  await warning.waitFor({ state: 'detached' });
}

function errorLines(log: string): string[] {
  return log.split('\n').filter((line) => /\[error\]/.test(line));
}

describe('the editor in Chromium (playwright-core, real Node-RED)', function () {
  this.timeout(180000);
  let red: RealNodeRed;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  before(async function () {
    skipWithoutChromium(this);
    red = await startNodeRed();
    browser = await launchChromium();
    context = await browser.newContext({ locale: 'en-US', viewport: { width: 1400, height: 900 } });
    context.setDefaultTimeout(15000);
    page = await context.newPage();
    await openEditor(page, red);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && page) {
      await screenshot(page, `FAILED-${this.currentTest.title.split(':')[0].replace(/\W+/g, '-')}`).catch(() => {});
      // Leave the editor as the next test expects it: no dialog open.
      const cancel = page.locator('#node-config-dialog-cancel, #node-dialog-cancel');
      for (let i = 0; i < 3 && (await cancel.count()); i++) {
        await cancel.first().click();
        await page.waitForTimeout(400);
      }
    }
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await red?.stop();
  });

  it('lists every node under "WhatsApp GDPR" in the palette, with its icon and label', async () => {
    const category = page.locator(`#${CATEGORY_ID}`);
    await category.waitFor({ state: 'visible' });
    assert.equal(String(await category.locator('.red-ui-palette-header span').textContent()).trim(), 'WhatsApp GDPR');
    for (const type of FLOW_TYPES) {
      const entry = category.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
      assert.equal(await entry.count(), 1, `${type} in the category`);
      const label = await catalogText(page, `${type}:${type}.paletteLabel`);
      const shown = await entry.locator('.red-ui-palette-label').textContent();
      // The palette breaks long labels at hyphens and spaces.
      assert.equal(String(shown).replace(/\s+/g, ''), label.replace(/\s+/g, ''));
      const icon = await entry.locator('.red-ui-palette-icon').evaluate((el) => getComputedStyle(el).backgroundImage);
      assert.match(icon, new RegExp(`${type}\\.svg`), `${type} shows its own icon`);
    }
    await category.scrollIntoViewIfNeeded();
    await screenshot(page, 'palette');
  });

  SCENARIOS.forEach((scenario, index) => {
    it(`${scenario.type}: dragged in, validates as you type, is held back while invalid, deploys when valid`, async () => {
      // Below the strip where deploy notifications appear.
      const x = 160 + (index % 3) * 260;
      const y = 220 + Math.floor(index / 3) * 120;
      const id = await dragOntoWorkspace(page, scenario.type, x, y);
      await openNodeDialog(page, id);
      await screenshot(page, `${scenario.type}-dialog`);
      await scenario.invalid(page);
      await screenshot(page, `${scenario.type}-invalid`);
      await confirmDialog(page);
      assert.equal(await nodeValid(page, id), false, 'the node is marked invalid');
      await page.locator(`g.red-ui-flow-node-group[id="${id}"] .red-ui-flow-node-error`).waitFor({ state: 'visible' });
      await deployIsHeldBack(page, scenario.type);

      await openNodeDialog(page, id);
      await scenario.fix(page);
      await screenshot(page, `${scenario.type}-valid`);
      await confirmDialog(page);
      assert.equal(await nodeValid(page, id), true, 'the node is valid');
      const mark = red.log().length;
      await deploy(page);
      await red.waitForLog(/Started flows/, 15000, mark);
      assert.deepEqual(errorLines(red.log().slice(mark)), []);
      await screenshot(page, `${scenario.type}-deployed`);
    });
  });

  it("keeps a purpose's names through the edit dialog: an old single label, and one with a German label only", async () => {
    await page.evaluate(() =>
      window.RED.view.importNodes([
        {
          id: 'labelsStore',
          type: 'consent-store',
          name: 'Labels',
          backend: 'sqlite',
          sqlitePath: 'labels.db',
          purposes: [
            { id: 'legacy', label: 'Order updates', wording: { en: 'Updates.' }, lawfulBasis: 'contract' },
            {
              id: 'german',
              label: 'Shipping',
              labels: { de: 'Versand' },
              wording: { de: 'Versand-Infos.' },
              lawfulBasis: 'contract',
            },
          ],
        },
      ]),
    );
    await page.evaluate(() => window.RED.editor.editConfig('', 'consent-store', 'labelsStore'));
    const rows = page.locator('#node-config-input-purposes-container li');
    await rows.nth(1).waitFor();
    assert.equal(await rows.nth(0).locator('.purpose-label').inputValue(), 'Order updates');
    assert.equal(await rows.nth(0).locator('.purpose-label-de').inputValue(), '');
    assert.equal(await rows.nth(1).locator('.purpose-label').inputValue(), 'Shipping', 'the general label stays');
    assert.equal(await rows.nth(1).locator('.purpose-label-de').inputValue(), 'Versand');
    await page.locator('#node-config-dialog-ok').click();
    await page.locator('#node-config-dialog-ok').waitFor({ state: 'detached' });
    const saved = await page.evaluate(
      () => window.RED.nodes.node('labelsStore').purposes as { label: string; labels?: Record<string, string> }[],
    );
    assert.deepEqual(
      saved.map((p) => [p.label, p.labels]),
      [
        ['Order updates', undefined],
        ['Shipping', { en: 'Shipping', de: 'Versand' }],
      ],
    );
    await page.evaluate(() => {
      window.RED.nodes.remove('labelsStore');
      window.RED.nodes.dirty(false);
    });
  });

  it('marks a text a hand-written flow holds beyond what WhatsApp sends, and a question that names no keyword', async () => {
    await page.evaluate(() =>
      window.RED.view.importNodes([
        {
          id: 'handWrittenErase',
          type: 'erase-subject',
          keywordMode: true,
          notify: true,
          noticeDe: 'x'.repeat(4097),
          questionEn: 'Really delete everything?',
          x: 600,
          y: 300,
          wires: [[], [], []],
        },
      ]),
    );
    await editNode(page, 'handWrittenErase');
    // The fields' own limit (maxlength) stops typing, not a value loaded from the flow: the validator must say it.
    await page.locator('#node-input-noticeDe').dispatchEvent('change');
    await expectMessage(page, 'node-input-noticeDe', 'erase-subject:erase-subject.validation.too-long', { max: 4096 });
    await expectMessage(page, 'node-input-questionEn', 'erase-subject:erase-subject.validation.question-keyword', {
      max: 1024,
    });
    await screenshot(page, 'erase-subject-hand-written-texts');
    await page.locator('#node-dialog-cancel').click();
    await page.locator('#node-dialog-cancel').waitFor({ state: 'detached' });
    await page.evaluate(() => {
      window.RED.nodes.remove('handWrittenErase');
      window.RED.nodes.dirty(false);
    });
  });

  it('has a "check connection" button that shows number, quality and storage region', async () => {
    const config = await page.evaluate(() => {
      let found = '';
      window.RED.nodes.eachConfig((n: { type: string; id: string }) => {
        if (n.type === 'whatsapp-config') found = n.id;
      });
      return found;
    });
    await page.evaluate((id) => window.RED.editor.editConfig('', 'whatsapp-config', id), config);
    await page.locator('#node-config-whatsapp-check').click();
    const result = page.locator('#node-config-whatsapp-check-result');
    await assertText(
      result.locator('div').first(),
      await catalogText(page, 'whatsapp-config:whatsapp-config.check.sandbox'),
    );
    const text = String(await result.textContent());
    const quality = await catalogText(page, 'whatsapp-config:whatsapp-config.check.quality', { quality: 'GREEN' });
    assert.ok(text.includes(quality), text);
    assert.match(text, /\+1 555 \d{3} \d{4}/, 'the display number of the sandbox');
    const region = await catalogText(page, 'whatsapp-config:whatsapp-config.check.eu', { region: 'DE' });
    assert.ok(text.includes(region), text);
    await result.scrollIntoViewIfNeeded();
    await screenshot(page, 'whatsapp-config-check');
    await page.locator('#node-config-dialog-cancel').click();
    await page.locator('#node-config-dialog-cancel').waitFor({ state: 'detached' });
  });

  it('speaks German when the browser does: palette, dialog, validation message and help', async () => {
    const german = await browser.newContext({ locale: 'de-DE', viewport: { width: 1400, height: 900 } });
    german.setDefaultTimeout(15000);
    try {
      const de = await german.newPage();
      await openEditor(de, red);
      const catalog = (type: string) =>
        JSON.parse(fs.readFileSync(path.join(REPO_DIR, 'nodes', 'locales', 'de', `${type}.json`), 'utf8'))[type];
      for (const type of FLOW_TYPES) {
        const shown = await de
          .locator(`#${CATEGORY_ID} .red-ui-palette-node[data-palette-type="${type}"] .red-ui-palette-label`)
          .textContent();
        assert.equal(String(shown).replace(/\s+/g, ''), catalog(type).paletteLabel.replace(/\s+/g, ''));
      }
      await screenshot(de, 'german-palette');

      const gate = await de.evaluate(() => window.RED.nodes.filterNodes({ type: 'consent-gate' })[0].id);
      await openNodeDialog(de, gate);
      const texts = catalog('consent-gate');
      assert.equal((await de.locator('label[for="node-input-purpose"]').textContent())?.trim(), texts.label.purpose);
      await typeInto(de, 'node-input-purpose', 'Newsletter');
      await expectFieldError(de, 'node-input-purpose', texts.validation['purpose-id']);
      await de.evaluate(() => window.RED.sidebar.help.show('consent-gate'));
      const help = de.locator('.red-ui-help');
      await help.locator('h3', { hasText: 'Eingangsdaten' }).waitFor({ state: 'visible' });
      await screenshot(de, 'german-dialog-and-help');
      await de.locator('#node-dialog-cancel').click();
    } finally {
      await german.close();
    }
  });

  it("fits each label into its dialog's label column, in English and German (long words break at soft hyphens)", async () => {
    const german = await browser.newContext({ locale: 'de-DE', viewport: { width: 1400, height: 900 } });
    german.setDefaultTimeout(15000);
    try {
      const de = await german.newPage();
      await openEditor(de, red);
      const cut: string[] = [];
      for (const [language, tab] of [
        ['en-US', page],
        ['de-DE', de],
      ] as const) {
        for (const type of ['whatsapp-config', 'consent-store', ...FLOW_TYPES]) {
          const id = await tab.evaluate((t) => {
            let found: string | undefined;
            const take = (n: { id: string; type: string }) => {
              if (!found && n.type === t) found = n.id;
            };
            window.RED.nodes.eachConfig(take);
            window.RED.nodes.eachNode(take);
            return found;
          }, type);
          assert.ok(id, `a ${type} to open`);
          const config = type === 'whatsapp-config' || type === 'consent-store';
          if (config) {
            await tab.evaluate(({ t, nodeId }) => window.RED.editor.editConfig('', t, nodeId), { t: type, nodeId: id });
            await tab.locator('#node-config-dialog-ok').waitFor({ state: 'visible' });
          } else {
            await editNode(tab, id);
          }
          // Rows hidden for the current settings (cloud fields, the other database, closed tabs) are measured too.
          const overflowing = await tab.evaluate(() => {
            const trays = document.querySelectorAll('.red-ui-tray');
            const body = trays[trays.length - 1].querySelector('.red-ui-tray-body') as HTMLElement;
            const revealed: [HTMLElement, string | null][] = [];
            body.querySelectorAll<HTMLElement>('*').forEach((el) => {
              if ((el.matches('label') || el.querySelector('label')) && getComputedStyle(el).display === 'none') {
                revealed.push([el, el.getAttribute('style')]);
                el.style.setProperty('display', 'block', 'important');
              }
            });
            const found: string[] = [];
            body.querySelectorAll('label').forEach((label) => {
              if (label.scrollWidth > label.clientWidth + 1)
                found.push(
                  String(label.textContent)
                    .replace(/\u00AD/g, '')
                    .trim(),
                );
            });
            for (const [el, style] of revealed) {
              if (style === null) el.removeAttribute('style');
              else el.setAttribute('style', style);
            }
            return found;
          });
          cut.push(...overflowing.map((text) => `${language} ${type}: ${text}`));
          if (language === 'de-DE') await screenshot(tab, `labels-de-${type}`);
          await tab.locator(config ? '#node-config-dialog-cancel' : '#node-dialog-cancel').click();
          await tab
            .locator(config ? '#node-config-dialog-cancel' : '#node-dialog-cancel')
            .waitFor({ state: 'detached' });
        }
      }
      assert.deepEqual(cut, []);
    } finally {
      await german.close();
    }
  });

  it('checks the connection of a live (cloud mode) number: display number, quality, storage outside the EU', async () => {
    const api = await startSandboxServer();
    try {
      api.sandbox.registerNumber({
        phoneNumberId: '106540352242922',
        displayPhoneNumber: '+49 30 1234567',
        verifiedName: 'Beispiel GmbH',
        accessToken: 'live-check-token',
        appSecret: 'live-check-secret',
        storageRegion: 'US',
        webhookUrls: () => [],
      });
      await red.deploy([
        {
          id: 'liveConfig',
          type: 'whatsapp-config',
          name: 'Live number',
          mode: 'cloud',
          apiBaseUrl: api.url,
          apiVersion: 'v25.0',
          phoneNumberId: '106540352242922',
          throughput: 80,
          maxQueue: 1000,
          timeoutMs: 15000,
          configVersion: 1,
          credentials: { accessToken: 'live-check-token', appSecret: 'live-check-secret', verifyToken: 'v' },
        },
      ]);
      await openEditor(page, red);
      await page.evaluate(() => window.RED.editor.editConfig('', 'whatsapp-config', 'liveConfig'));
      await page.locator('#node-config-whatsapp-check').click();
      const result = page.locator('#node-config-whatsapp-check-result');
      const expected = [
        await catalogText(page, 'whatsapp-config:whatsapp-config.check.cloud'),
        await catalogText(page, 'whatsapp-config:whatsapp-config.check.number', {
          number: '+49 30 1234567',
          name: 'Beispiel GmbH',
        }),
        await catalogText(page, 'whatsapp-config:whatsapp-config.check.quality', { quality: 'GREEN' }),
        await catalogText(page, 'whatsapp-config:whatsapp-config.check.outsideEu', { region: 'US' }),
      ];
      await assertText(result, expected.join(''));
      await result.scrollIntoViewIfNeeded();
      await screenshot(page, 'whatsapp-config-check-live');
      await page.locator('#node-config-dialog-cancel').click();
      await page.locator('#node-config-dialog-cancel').waitFor({ state: 'detached' });
    } finally {
      await api.close();
    }
  });

  it('imports each example from Import > Examples and deploys it without errors', async function () {
    const examples = fs.existsSync(EXAMPLES_DIR)
      ? fs
          .readdirSync(EXAMPLES_DIR)
          .filter((f) => f.endsWith('.json'))
          .sort()
      : [];
    if (examples.length === 0) {
      console.log(`      no examples in ${EXAMPLES_DIR} yet: nothing to import`);
      this.skip();
    }
    for (const file of examples) {
      const name = path.basename(file, '.json');
      await red.deploy([]);
      await openEditor(page, red);
      await page.evaluate(() => window.RED.actions.invoke('core:show-import-dialog'));
      await page.locator('#red-ui-clipboard-dialog-import-tabs li', { hasText: /Examples|Beispiele/ }).click();
      const tab = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
      await tab.locator('.red-ui-treeList-label', { hasText: PACKAGE_NAME }).first().click();
      // The package folder loads its children asynchronously: a click that lands while the tree is redrawn selects
      // nothing, and Import then imports nothing. Click until the example is the selection the dialog will import (on
      // a busy machine the redraw can swallow more than one click).
      const example = tab.locator('.red-ui-treeList-label', { hasText: name }).first();
      const selected = tab.locator('.red-ui-treeList-label.selected', { hasText: name });
      for (let attempt = 1; ; attempt++) {
        await example.click();
        const chosen = await selected.waitFor({ timeout: 3000 }).then(
          () => true,
          () => false,
        );
        if (chosen) break;
        assert.ok(attempt < 5, `${name} is not selected after ${attempt} clicks`);
      }
      await page.waitForFunction(
        () => !(document.querySelector('#red-ui-clipboard-dialog-ok') as HTMLButtonElement | null)?.disabled,
      );
      await page.locator('#red-ui-clipboard-dialog-import-opt-new').click();
      await screenshot(page, `example-${name}-import`);
      await page.locator('#red-ui-clipboard-dialog-ok').click();
      await page.waitForFunction(() => window.RED.nodes.dirty());
      const mark = red.log().length;
      await deploy(page);
      await red.waitForLog(/Started flows/, 15000, mark);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(errorLines(red.log().slice(mark)), [], `${name} deploys without errors`);
      await screenshot(page, `example-${name}-deployed`);
    }
  });

  describe('a flow saved earlier, as the editor loads it (no defaults applied)', () => {
    const key = () => Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 3)).toString('base64');
    const purpose = (id: string) => ({
      id,
      label: `Purpose ${id}`,
      wording: { en: `I want ${id} on WhatsApp.`, de: `Ich möchte ${id} über WhatsApp.` },
      lawfulBasis: 'consent',
    });
    const optIn = (id: string, extra: Record<string, unknown>) => ({
      id,
      type: 'opt-in-flow',
      z: 'savedTab',
      store: 'savedStore',
      purpose: 'news',
      x: 400,
      y: 100,
      // Requested: 201; rejected: 422 with the reason.
      wires: [['formAccepted'], [], ['formReason'], []],
      ...extra,
    });
    // A web form posting to each opt-in-flow node, so a test can ask the deployed node which wordings it takes.
    const form = (id: string) => ({
      id: `${id}Form`,
      type: 'http in',
      z: 'savedTab',
      url: `/form-${id}`,
      method: 'post',
      upload: false,
      swaggerDoc: '',
      x: 200,
      y: 500,
      wires: [[id]],
    });
    const SAVED_FLOW: Record<string, unknown>[] = [
      { id: 'savedTab', type: 'tab', label: 'Saved' },
      { id: 'offTab', type: 'tab', label: 'Switched off', disabled: true },
      {
        id: 'savedConfig',
        type: 'whatsapp-config',
        name: 'Saved sandbox',
        mode: 'sandbox',
        apiVersion: 'v25.0',
        throughput: 80,
        maxQueue: 1000,
        timeoutMs: 15000,
        configVersion: 1,
      },
      {
        id: 'savedStore',
        type: 'consent-store',
        name: 'Saved store',
        backend: 'sqlite',
        sqlitePath: 'saved.db',
        purposes: ['news', 'offers', 'orders', 'events'].map(purpose),
        pendingExpiryHours: 48,
        withdrawnPersonalDataDays: 30,
        auditRetentionYears: 5,
        sweepIntervalMinutes: 60,
        configVersion: 1,
        credentials: { encryptionKey: key(), pseudonymKey: key() },
      },
      // Written before these settings existed, or by hand: each runs with them on.
      {
        id: 'savedSend',
        type: 'whatsapp-send',
        z: 'savedTab',
        whatsapp: 'savedConfig',
        x: 100,
        y: 100,
        wires: [[], []],
      },
      {
        id: 'savedHook',
        type: 'whatsapp-webhook',
        z: 'savedTab',
        whatsapp: 'savedConfig',
        path: '/saved-hook',
        maxBytes: 3145728,
        x: 100,
        y: 200,
        wires: [[], [], []],
      },
      {
        id: 'savedNotice',
        type: 'privacy-notice',
        z: 'savedTab',
        store: 'savedStore',
        policyUrl: 'https://example.com/privacy',
        pagePath: '/saved-privacy',
        controllerName: 'Beispiel GmbH',
        controllerEmail: 'datenschutz@example.com',
        storageLocation: 'Frankfurt am Main',
        x: 100,
        y: 300,
        wires: [[]],
      },
      optIn('optInV2', { configVersion: 2 }),
      optIn('optInV0', {}),
      optIn('optInV3', { configVersion: 3 }),
      ...['optInV2', 'optInV0', 'optInV3'].map(form),
      {
        id: 'formAccepted',
        type: 'http response',
        z: 'savedTab',
        statusCode: '201',
        headers: {},
        x: 700,
        y: 500,
        wires: [],
      },
      {
        id: 'formReason',
        type: 'change',
        z: 'savedTab',
        rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'optIn.reason', tot: 'msg' }],
        x: 600,
        y: 560,
        wires: [['formRejected']],
      },
      {
        id: 'formRejected',
        type: 'http response',
        z: 'savedTab',
        statusCode: '422',
        headers: {},
        x: 800,
        y: 560,
        wires: [],
      },
      // Written by hand or by a release before the settings existed: the runtime fills in its defaults.
      { id: 'bareConfig', type: 'whatsapp-config', name: 'Bare sandbox', mode: 'sandbox' },
      {
        id: 'bareStore',
        type: 'consent-store',
        name: 'Bare store',
        purposes: [purpose('news')],
        credentials: { encryptionKey: key(), pseudonymKey: key() },
      },
      {
        id: 'bareHook',
        type: 'whatsapp-webhook',
        z: 'savedTab',
        whatsapp: 'bareConfig',
        path: '/bare-hook',
        x: 100,
        y: 400,
        wires: [[], [], []],
      },
      { id: 'bareStop', type: 'stop-handler', z: 'savedTab', store: 'bareStore', x: 700, y: 300, wires: [[], []] },
      { id: 'bareExport', type: 'export-subject', z: 'savedTab', store: 'bareStore', x: 700, y: 400, wires: [[]] },
      { id: 'bareSend', type: 'whatsapp-send', z: 'savedTab', whatsapp: 'bareConfig', x: 900, y: 100, wires: [[], []] },
      {
        id: 'bareNotice',
        type: 'privacy-notice',
        z: 'savedTab',
        store: 'bareStore',
        policyUrl: 'https://example.com/privacy',
        controllerName: 'Beispiel GmbH',
        controllerEmail: 'datenschutz@example.com',
        storageLocation: 'Frankfurt am Main',
        x: 900,
        y: 200,
        wires: [[]],
      },
      optIn('bareOptIn', { store: 'bareStore', x: 900, y: 300 }),
      {
        id: 'savedEvents',
        type: 'consent-events',
        z: 'savedTab',
        store: 'savedStore',
        eventTypes: 'subject.erased, consent.withdrawn',
        includePhone: true,
        configVersion: 1,
        x: 400,
        y: 300,
        wires: [[]],
      },
      // Same path, but on a tab that is switched off: the runtime does not start it.
      {
        id: 'hookOff',
        type: 'whatsapp-webhook',
        z: 'offTab',
        whatsapp: 'savedConfig',
        path: '/saved-hook',
        maxBytes: 3145728,
        x: 100,
        y: 100,
        wires: [[], [], []],
      },
    ];

    before(async () => {
      await red.deploy(SAVED_FLOW);
      await openEditor(page, red);
    });

    it('shows each setting a saved node lacks as the runtime runs it, and Done keeps it so', async () => {
      // [node, property, what the runtime does without the property]
      const cases: [string, string, boolean][] = [
        ['savedSend', 'optOutFooter', true],
        ['savedHook', 'minimise', true],
        ['savedNotice', 'servePage', true],
        ['optInV2', 'templateConfirmButton', true],
        // Migration 3: saved at version 1 or 2 without the setting, the node takes any wording (and warns).
        ['optInV2', 'acceptAnyWording', true],
        // Migration 1 fills false for a node saved without any version.
        ['optInV0', 'acceptAnyWording', false],
        ['optInV3', 'acceptAnyWording', false],
      ];
      for (const id of new Set(cases.map(([nodeId]) => nodeId))) {
        const mine = cases.filter(([nodeId]) => nodeId === id);
        const loaded = await page.evaluate(([nodeId, props]) => props.map((p) => window.RED.nodes.node(nodeId)[p]), [
          id,
          mine.map(([, p]) => p),
        ] as const);
        assert.deepEqual(
          loaded,
          mine.map(() => undefined),
          `${id} is loaded without the settings`,
        );
        await editNode(page, id);
        for (const [, property, runs] of mine) {
          assert.equal(await page.locator(`#node-input-${property}`).isChecked(), runs, `${id}: ${property} shown`);
        }
        await screenshot(page, `saved-${id}`);
        await confirmDialog(page);
        for (const [, property, runs] of mine) {
          const saved = await page.evaluate(([nodeId, p]) => window.RED.nodes.node(nodeId)[p], [id, property] as const);
          assert.equal(saved, runs, `${id}: ${property} saved`);
        }
      }
    });

    it("shows a saved node's missing settings with the runtime's values, valid, and Done saves them at the current version", async () => {
      const version = (migrations: readonly Migration[]) => currentVersion(migrations);
      // [node, config node?, the dialog's values for the settings it lacks (the runtime's), the version saved]
      const cases: [string, boolean, Record<string, string>, number][] = [
        [
          'bareConfig',
          true,
          {
            apiBaseUrl: WHATSAPP_CONFIG_DEFAULTS.apiBaseUrl,
            apiVersion: WHATSAPP_CONFIG_DEFAULTS.apiVersion,
            throughput: String(WHATSAPP_CONFIG_DEFAULTS.throughput),
            maxQueue: String(WHATSAPP_CONFIG_DEFAULTS.maxQueue),
            timeoutMs: String(WHATSAPP_CONFIG_DEFAULTS.timeoutMs),
          },
          version(whatsappConfigMigrations),
        ],
        [
          'bareStore',
          true,
          {
            backend: CONSENT_STORE_DEFAULTS.backend,
            pendingExpiryHours: String(CONSENT_STORE_DEFAULTS.pendingExpiryHours),
            withdrawnPersonalDataDays: String(CONSENT_STORE_DEFAULTS.withdrawnPersonalDataDays),
            auditRetentionYears: String(CONSENT_STORE_DEFAULTS.auditRetentionYears),
            sweepIntervalMinutes: String(CONSENT_STORE_DEFAULTS.sweepIntervalMinutes),
          },
          version(consentStoreMigrations),
        ],
        [
          'bareHook',
          false,
          { maxBytes: String(WHATSAPP_WEBHOOK_DEFAULTS.maxBytes) },
          version(whatsappWebhookMigrations),
        ],
        ['bareSend', false, { language: 'auto' }, version(whatsappSendMigrations)],
        ['bareNotice', false, { language: 'auto', pagePath: DEFAULT_POLICY_PATH }, version(PRIVACY_NOTICE_MIGRATIONS)],
        ['bareStop', false, { language: 'auto' }, version(STOP_HANDLER_MIGRATIONS)],
        ['bareExport', false, { output: 'object' }, version(exportSubjectMigrations)],
        [
          'bareOptIn',
          false,
          { language: 'auto', mode: 'interactive', maxRequestsPerMinute: '30' },
          version(optInFlowMigrations),
        ],
      ];
      for (const [id, isConfig, shown, savedVersion] of cases) {
        const before = await page.evaluate(
          ([nodeId, props]) => {
            const node = window.RED.nodes.node(nodeId);
            window.RED.editor.validateNode(node);
            return { valid: node.valid, values: props.map((p) => node[p]) };
          },
          [id, Object.keys(shown)] as const,
        );
        assert.deepEqual(before, { valid: true, values: Object.keys(shown).map(() => undefined) }, `${id} as loaded`);
        const prefix = isConfig ? 'node-config-input' : 'node-input';
        if (isConfig) {
          const type = await page.evaluate((nodeId) => window.RED.nodes.node(nodeId).type, id);
          await page.evaluate(([t, nodeId]) => window.RED.editor.editConfig('', t, nodeId), [type, id] as const);
          await page.locator('#node-config-dialog-ok').waitFor({ state: 'visible' });
        } else {
          await editNode(page, id);
        }
        for (const [property, value] of Object.entries(shown)) {
          await eventually(
            () => page.locator(`#${prefix}-${property}`).inputValue(),
            value,
            `${id}: ${property} shown`,
          );
          await fieldValid(page, `${prefix}-${property}`);
        }
        await screenshot(page, `missing-settings-${id}`);
        if (isConfig) {
          await page.locator('#node-config-dialog-ok').click();
          await page.locator('#node-config-dialog-ok').waitFor({ state: 'detached' });
        } else {
          await confirmDialog(page);
        }
        const saved = await page.evaluate(
          ([nodeId, props]) => {
            const node = window.RED.nodes.node(nodeId);
            return { values: props.map((p) => String(node[p])), configVersion: node.configVersion };
          },
          [id, Object.keys(shown)] as const,
        );
        assert.deepEqual(saved, { values: Object.values(shown), configVersion: savedVersion }, `${id} as saved`);
      }

      // A wrong value is still marked, next to a missing one: the node on the canvas and the field in the dialog.
      const bad = await page.evaluate(() => {
        window.RED.view.importNodes([
          { id: 'badConfig', type: 'whatsapp-config', name: 'Bad version', mode: 'sandbox', apiVersion: '25' },
        ]);
        const node = window.RED.nodes.node('badConfig');
        window.RED.editor.validateNode(node);
        return node.valid;
      });
      assert.equal(bad, false, 'apiVersion "25" is invalid');
      await page.evaluate(() => window.RED.editor.editConfig('', 'whatsapp-config', 'badConfig'));
      await page.locator('#node-config-dialog-ok').waitFor({ state: 'visible' });
      await expectMessage(
        page,
        'node-config-input-apiVersion',
        'whatsapp-config:whatsapp-config.validation.api-version',
      );
      await fieldValid(page, 'node-config-input-throughput');
      await page.locator('#node-config-dialog-cancel').click();
      await page.locator('#node-config-dialog-cancel').waitFor({ state: 'detached' });
      await page.evaluate(() => window.RED.nodes.remove('badConfig'));
    });

    it('saves an opt-in-flow from an older version at the current one, and the deployed node takes the same wordings', async () => {
      // The runtime as the saved flow has it: migration 3 lets the node saved at version 2 take any wording.
      await red.deploy(SAVED_FLOW);
      await openEditor(page, red);
      let phone = 0;
      const anyWording = async (id: string) => {
        phone += 1;
        const answer = await red.request('POST', `/form-${id}`, {
          phone: `+49151234567${String(phone).padStart(2, '0')}`,
          consent: true,
          wording: 'Whatever the form happens to show.',
        });
        return `${answer.status} ${answer.status === 201 ? '' : await answer.text()}`.trim();
      };
      const ids = ['optInV2', 'optInV0', 'optInV3'];
      const runsBefore = [];
      for (const id of ids) runsBefore.push(await anyWording(id));
      assert.deepEqual(runsBefore, ['201', '422 unknown-wording', '422 unknown-wording'], 'before the dialogs');

      for (const id of ids) {
        await editNode(page, id);
        await confirmDialog(page);
      }
      const mark = red.log().length;
      await deploy(page);
      await red.waitForLog(/Started flows/, 15000, mark);
      const answer = await red.request('GET', '/flows', undefined, { 'Node-RED-API-Version': 'v1' });
      const deployed = (await answer.json()) as Record<string, unknown>[];
      const stored = ids.map((id) => {
        const node = deployed.find((n) => n.id === id) ?? {};
        return [id, node.configVersion, node.acceptAnyWording];
      });
      // Written out: the runtime has nothing left to migrate, and the node at version 2 still takes any wording.
      const current = currentVersion(optInFlowMigrations);
      assert.deepEqual(stored, [
        ['optInV2', current, true],
        ['optInV0', current, false],
        ['optInV3', current, false],
      ]);
      const runsAfter = [];
      for (const id of ids) runsAfter.push(await anyWording(id));
      assert.deepEqual(runsAfter, runsBefore, 'the deployed nodes take the same wordings as before the dialogs');
      assert.match(red.log().slice(mark), /any consent wording/, 'the node taking any wording still warns');
    });

    it('reads an event filter saved as text, as the runtime does, and keeps it through the dialog', async () => {
      const loaded = await page.evaluate(() => {
        const node = window.RED.nodes.node('savedEvents');
        window.RED.editor.validateNode(node);
        return { errors: node.validationErrors, eventTypes: node.eventTypes };
      });
      assert.deepEqual(loaded, { errors: [], eventTypes: 'subject.erased, consent.withdrawn' });
      await editNode(page, 'savedEvents');
      const ticked = await page
        .locator('#consent-events-types input:checked')
        .evaluateAll((inputs) => inputs.map((input) => (input as HTMLInputElement).value));
      assert.deepEqual(ticked, ['consent.withdrawn', 'subject.erased']);
      const offered = await page
        .locator('#consent-events-types input')
        .evaluateAll((inputs) => inputs.map((input) => (input as HTMLInputElement).value));
      assert.deepEqual(offered, [
        'consent.requested',
        'consent.confirmed',
        'consent.given',
        'consent.refused',
        'consent.withdrawn',
        'consent.expired',
        'subject.erased',
        'subject.number-changed',
        'subject.previous-holder-erased',
        'notice.shown',
      ]);
      await confirmDialog(page);
      const saved = await page.evaluate(() => window.RED.nodes.node('savedEvents').eventTypes);
      assert.deepEqual(saved, ['consent.withdrawn', 'subject.erased'], 'not every event, phone numbers included');
    });

    it('finds webhook paths that clash as the runtime does: case and trailing slash aside, tabs switched off aside', async () => {
      const errors = (id: string) =>
        page.evaluate((nodeId) => {
          const node = window.RED.nodes.node(nodeId);
          window.RED.editor.validateNode(node);
          return node.validationErrors as string[];
        }, id);
      const inUse = await catalogText(page, 'whatsapp-webhook:whatsapp-webhook.validation.path-in-use');
      assert.deepEqual(await errors('savedHook'), [], 'the same path on a tab switched off does not clash');
      await page.evaluate(() => {
        const hook = (id: string, path: string, y: number) => ({
          id,
          type: 'whatsapp-webhook',
          z: 'savedTab',
          whatsapp: 'savedConfig',
          path,
          minimise: true,
          maxBytes: 3145728,
          configVersion: 1,
          x: 700,
          y,
          wires: [[], [], []],
        });
        window.RED.nodes.import([hook('hookCase', '/Saved-Hook/', 100), hook('hookOther', '/saved-hook-2', 200)]);
      });
      assert.deepEqual(await errors('hookCase'), [inUse], '/Saved-Hook/ is the route of /saved-hook');
      assert.deepEqual(await errors('hookOther'), []);
      await page.evaluate(() => {
        window.RED.nodes.remove('hookCase');
        window.RED.nodes.remove('hookOther');
      });
    });

    it("asks before replacing a deployed store's key, saying what replacing each one costs", async () => {
      await page.evaluate(() => window.RED.editor.editConfig('', 'consent-store', 'savedStore'));
      const pseudonymKey = page.locator('#node-config-input-pseudonymKey');
      await eventually(() => pseudonymKey.inputValue(), '__PWRD__', 'the deployed key, hidden');
      const asked: string[] = [];
      const answer = (dialog: Dialog) => {
        asked.push(dialog.message());
        dialog.dismiss().catch(() => {});
      };
      page.on('dialog', answer);
      try {
        await page.locator('#consent-store-generate-pseudonymKey').click();
        await eventually(async () => asked.length, 1, 'confirmation');
        assert.equal(asked[0], await catalogText(page, 'consent-store:consent-store.confirm.replace-pseudonymKey'));
        assert.equal(await pseudonymKey.inputValue(), '__PWRD__', 'cancelled: the deployed key stays');
        await page.locator('#consent-store-generate-encryptionKey').click();
        await eventually(async () => asked.length, 2, 'confirmation');
        assert.equal(asked[1], await catalogText(page, 'consent-store:consent-store.confirm.replace-encryptionKey'));
      } finally {
        page.off('dialog', answer);
      }
      // The pseudonym key may be 32 to 64 bytes: the message says so.
      await typeInto(page, 'node-config-input-pseudonymKey', 'short');
      await expectMessage(
        page,
        'node-config-input-pseudonymKey',
        'consent-store:consent-store.validation.key-length-range',
        {
          min: 32,
          max: 64,
        },
      );
      await page.locator('#node-config-dialog-cancel').click();
      await page.locator('#node-config-dialog-cancel').waitFor({ state: 'detached' });
    });

    it('asks a cloud number for its access token and app secret, a sandbox for neither', async () => {
      await page.evaluate(() => window.RED.editor.editConfig('', 'whatsapp-config', 'savedConfig'));
      await page.locator('#node-config-input-mode').waitFor({ state: 'visible' });
      await fieldValid(page, 'node-config-input-accessToken');
      await page.locator('#node-config-input-mode').selectOption('cloud');
      // Without them a cloud number sends nothing and refuses every webhook, STOPs included.
      await expectMessage(
        page,
        'node-config-input-accessToken',
        'whatsapp-config:whatsapp-config.validation.access-token-missing',
      );
      await expectMessage(
        page,
        'node-config-input-appSecret',
        'whatsapp-config:whatsapp-config.validation.app-secret-missing',
      );
      await screenshot(page, 'whatsapp-config-cloud-credentials-missing');
      await typeInto(page, 'node-config-input-appSecret', 'app-secret');
      await fieldValid(page, 'node-config-input-appSecret');
      await page.locator('#node-config-input-mode').selectOption('sandbox');
      await fieldValid(page, 'node-config-input-accessToken');
      await page.locator('#node-config-dialog-cancel').click();
      await page.locator('#node-config-dialog-cancel').waitFor({ state: 'detached' });
    });

    it('keeps a cloud number saved without its access token or app secret invalid after Done, and holds the deploy back', async () => {
      // Node-RED itself checks credentials only while the dialog is open: Done would take the number as valid.
      const configValidity = () =>
        page.evaluate(() => {
          const n = window.RED.nodes.node('savedConfig');
          return { valid: n.valid !== false, errors: n.validationErrors as string[] };
        });
      await page.evaluate(() => window.RED.editor.editConfig('', 'whatsapp-config', 'savedConfig'));
      await page.locator('#node-config-input-mode').waitFor({ state: 'visible' });
      await page.locator('#node-config-input-mode').selectOption('cloud');
      await typeInto(page, 'node-config-input-phoneNumberId', '106540352242922');
      await typeInto(page, 'node-config-input-appSecret', 'app-secret');
      await page.locator('#node-config-dialog-ok').click();
      await page.locator('#node-config-dialog-ok').waitFor({ state: 'detached' });
      assert.deepEqual(await configValidity(), {
        valid: false,
        errors: [await catalogText(page, 'whatsapp-config:whatsapp-config.validation.access-token-missing')],
      });
      await deployIsHeldBack(page, 'whatsapp-config-cloud-without-token');

      await page.evaluate(() => window.RED.editor.editConfig('', 'whatsapp-config', 'savedConfig'));
      await page.locator('#node-config-input-mode').waitFor({ state: 'visible' });
      await typeInto(page, 'node-config-input-accessToken', 'access-token');
      await page.locator('#node-config-dialog-ok').click();
      await page.locator('#node-config-dialog-ok').waitFor({ state: 'detached' });
      assert.deepEqual(await configValidity(), { valid: true, errors: [] });

      // Back to the sandbox the later tests expect (its credentials do not matter there).
      await page.evaluate(() => window.RED.editor.editConfig('', 'whatsapp-config', 'savedConfig'));
      await page.locator('#node-config-input-mode').waitFor({ state: 'visible' });
      await page.locator('#node-config-input-mode').selectOption('sandbox');
      await typeInto(page, 'node-config-input-phoneNumberId', '');
      await page.locator('#node-config-dialog-ok').click();
      await page.locator('#node-config-dialog-ok').waitFor({ state: 'detached' });
      assert.deepEqual(await configValidity(), { valid: true, errors: [] });
    });

    it('keeps a PostgreSQL store saved without a usable URL, or with a broken key, invalid after Done, and holds the deploy back', async () => {
      // Node-RED itself checks credentials only while the dialog is open: Done would take the store as valid, and
      // the deployed store would fail to open.
      const storeValidity = () =>
        page.evaluate(() => {
          const n = window.RED.nodes.node('savedStore');
          return { valid: n.valid !== false, errors: n.validationErrors as string[] };
        });
      const edit = async (change: () => Promise<void>) => {
        await page.evaluate(() => window.RED.editor.editConfig('', 'consent-store', 'savedStore'));
        await eventually(
          () => page.locator('#node-config-input-pseudonymKey').inputValue(),
          '__PWRD__',
          'the deployed key',
        );
        await change();
        await page.locator('#node-config-dialog-ok').click();
        await page.locator('#node-config-dialog-ok').waitFor({ state: 'detached' });
      };
      const urlMessage = await catalogText(page, 'consent-store:consent-store.validation.postgres-url');

      await edit(async () => {
        await page.locator('#node-config-input-backend').selectOption('postgres');
      });
      assert.deepEqual(await storeValidity(), { valid: false, errors: [urlMessage] });
      await deployIsHeldBack(page, 'consent-store-postgres-without-url');

      await edit(() => typeInto(page, 'node-config-input-postgresUrl', 'mysql://db.example.com/consent'));
      assert.deepEqual(await storeValidity(), { valid: false, errors: [urlMessage] });

      await edit(async () => {
        await typeInto(page, 'node-config-input-postgresUrl', 'postgres://consent:secret@db.example.com:5432/consent');
        await typeInto(page, 'node-config-input-pseudonymKey', 'short');
      });
      const keyProblem = await catalogText(page, 'consent-store:consent-store.validation.key-length-range', {
        min: 32,
        max: 64,
      });
      assert.deepEqual(await storeValidity(), {
        valid: false,
        errors: [
          await catalogText(page, 'consent-store:consent-store.validation.saved-pseudonymKey', { problem: keyProblem }),
        ],
      });

      // Back to the store the later tests expect: SQLite, with its deployed key.
      await page.evaluate(() => window.RED.editor.editConfig('', 'consent-store', 'savedStore'));
      await page.locator('#node-config-input-backend').waitFor({ state: 'visible' });
      await typeInto(page, 'node-config-input-pseudonymKey', key());
      await page.locator('#node-config-dialog-ok').click();
      await page.locator('#node-config-dialog-ok').waitFor({ state: 'detached' });
      assert.deepEqual(await storeValidity(), { valid: true, errors: [] });
      await page.evaluate(() => window.RED.editor.editConfig('', 'consent-store', 'savedStore'));
      await page.locator('#node-config-input-backend').waitFor({ state: 'visible' });
      await page.locator('#node-config-input-backend').selectOption('sqlite');
      await page.locator('#node-config-dialog-ok').click();
      await page.locator('#node-config-dialog-ok').waitFor({ state: 'detached' });
      assert.deepEqual(await storeValidity(), { valid: true, errors: [] });
    });

    it('starts a new erase-subject in keyword mode, and warns while it is off that every message erases', async () => {
      const id = await dragOntoWorkspace(page, 'erase-subject', 700, 400);
      await openNodeDialog(page, id);
      const keywordMode = page.locator('#node-input-keywordMode');
      const warning = page.locator('.erase-subject-every-message');
      assert.equal(await keywordMode.isChecked(), true, 'keyword mode is on for a new node');
      assert.equal(await warning.isVisible(), false);
      await keywordMode.uncheck();
      await warning.waitFor({ state: 'visible' });
      const text = await catalogText(page, 'erase-subject:erase-subject.tip.everyMessage');
      assert.equal(String(await warning.textContent()).trim(), text.replace(/<[^>]+>/g, ''));
      await screenshot(page, 'erase-subject-every-message-warning');
      await keywordMode.check();
      await warning.waitFor({ state: 'hidden' });
      await page.locator('#node-dialog-cancel').click();
      await page.locator('#node-dialog-cancel').waitFor({ state: 'detached' });
    });

    it('offers one answer to a start keyword: asking for confirmation switches signing up in one step off', async () => {
      const id = await dragOntoWorkspace(page, 'opt-in-flow', 700, 460);
      await openNodeDialog(page, id);
      const asks = page.locator('#node-input-confirmStartKeyword');
      const singleStep = page.locator('#node-input-allowSingleStep');
      const startKeywords = page.locator('#node-input-startKeywords');
      assert.deepEqual([await asks.isChecked(), await singleStep.isChecked()], [false, false], 'both off when new');
      assert.equal(await startKeywords.isVisible(), false);
      await singleStep.check();
      await startKeywords.waitFor({ state: 'visible' });
      await asks.check();
      assert.equal(await singleStep.isChecked(), false, 'asking wins');
      assert.equal(await singleStep.isDisabled(), true);
      assert.equal(await startKeywords.isVisible(), true, 'the keywords that start the request');
      await screenshot(page, 'opt-in-flow-start-keyword-asks');
      await asks.uncheck();
      assert.equal(await singleStep.isDisabled(), false);
      await startKeywords.waitFor({ state: 'hidden' });
      await page.locator('#node-dialog-cancel').click();
      await page.locator('#node-dialog-cancel').waitFor({ state: 'detached' });
    });

    it("fits the store's purpose list below its other fields, so that none scrolls out of view", async () => {
      await page.setViewportSize({ width: 1400, height: 1600 });
      try {
        await page.evaluate(() => window.RED.editor.editConfig('', 'consent-store', 'savedStore'));
        await page.locator('#node-config-input-purposes-container li').nth(3).waitFor();
        const overflow = () =>
          page.evaluate(() => {
            const content = document.getElementById('node-config-dialog-edit-form')?.closest('.red-ui-tray-content');
            return content ? content.scrollHeight - content.clientHeight : -1;
          });
        await eventually(async () => (await overflow()) <= 20, true, 'the dialog fits without scrolling');
        await screenshot(page, 'consent-store-purposes-fit');
        await page.locator('#node-config-dialog-cancel').click();
        await page.locator('#node-config-dialog-cancel').waitFor({ state: 'detached' });
      } finally {
        await page.setViewportSize({ width: 1400, height: 900 });
      }
    });
  });
});
