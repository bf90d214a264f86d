import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { LedgerHandle } from '../../lib/consent/threaded-ledger';
import consentGateNode from '../../nodes/consent-gate';
import consentStoreNode, { type ConsentStoreNode } from '../../nodes/consent-store';
import eraseSubjectNode from '../../nodes/erase-subject';
import exportSubjectNode from '../../nodes/export-subject';
import optInFlowNode from '../../nodes/opt-in-flow';
import stopHandlerNode from '../../nodes/stop-handler';
import configNode from '../../nodes/whatsapp-config';
import sendNode from '../../nodes/whatsapp-send';
import { helper } from '../helpers/node-red';
import { MockGraph } from '../lib/cloud-api/mock-graph';
import { callsOf, catchNode, statusesOf, storeCredentials, storeNode, tempDir, until } from '../nodes/consent-fixtures';
import { assertProperty, runs } from './fuzz-support/property';
import { storeState, USAGE_COLUMNS } from './fuzz-support/store-state';

/**
 * Issue 7, input fuzzing for the nodes: web-form requests (opt-in-flow), msg.to and payloads (consent-gate,
 * whatsapp-send), inbound messages (stop-handler), subjects (erase-subject, export-subject) and purpose ids.
 * Every input ends in exactly one place: a valid result on an output, or a clear error (Catch, or
 * whatsapp-send's failure output). A refusal writes nothing to the store and sends nothing to the API,
 * and no exception escapes a node.
 */
const PHONE_NUMBER_ID = '106540352242922';
const ACCESS_TOKEN = 'fuzz-inputs-access-token-9f3b';
const CONSENTED = ['+4915112345678', '+4917612345678', '+436641234567'];

/** Texts that betray a programming error rather than a refusal a person can act on. */
const CRASH_TEXT =
  /TypeError|ReferenceError|RangeError|SyntaxError|Cannot read|Cannot convert|is not a function|is not iterable|\bundefined\b|\[object Object\]/;

const OUTPUTS = { optin: 4, gate: 2, send: 2, stop: 2, erase: 3, export: 1 } as const;
type Target = keyof typeof OUTPUTS;

/** Outputs on which a node says no: nothing may have been written or sent for these. */
const REFUSALS: Record<Target, number[]> = { optin: [2], gate: [], send: [1], stop: [], erase: [], export: [] };

// --- arbitraries -------------------------------------------------------------------------------------

const anything = fc.anything({ maxDepth: 2, maxKeys: 4, withBoxedValues: false });
const phone = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...CONSENTED.slice(1), '+49 151 1234 5678', '+49 1520 1234567') },
  fc.constantFrom(
    '+49 151 1234 5678',
    '0049 (0)151-12345678',
    '004915112345678',
    '015112345678',
    '+1 555 0100',
    '+',
    '+0000000',
    '+４９１５１１２３４５６７８',
    '+٤٩١٥١١٢٣٤٥٦٧٨',
    '+49151123456789012345678',
    'tel:+4915112345678',
    '4915112345678',
    ' ',
  ),
  fc.stringMatching(/^\+[1-9][0-9]{5,15}$/),
  fc.string({ maxLength: 30 }),
  fc.string({ maxLength: 4000 }),
  fc.integer(),
  fc.double(),
  anything,
);
/** The first consented number is never erased (erase-subject gets the others): consent-gate passes stay possible. */
const recipient = fc.oneof({ weight: 2, arbitrary: fc.constant(CONSENTED[0]) }, phone);
const purpose = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('news', 'orders') },
  fc.constantFrom('news', 'orders', 'NEWS', 'news ', '', '__proto__', 'constructor', 'toString', 'gdpr-confirm:news'),
  fc.string({ maxLength: 20 }),
  anything,
);
const userId = fc.oneof(
  fc.constantFrom('DE.1234567890', 'US.ENT.abc123', 'DE.', 'de.123'),
  fc.string({ maxLength: 20 }),
  anything,
);
const maybe = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined, freq: 4 });

const formRequest = fc.oneof(
  fc.record(
    {
      phone: maybe(phone),
      consent: maybe(
        fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom(true, 'on') },
          fc.constantFrom('true', 'yes', '1', 1, false, 'off', ''),
          anything,
        ),
      ),
      prechecked: maybe(fc.oneof(fc.constantFrom(true, false, 'true', 'on'), anything)),
      wording: maybe(
        fc.oneof(
          { weight: 3, arbitrary: fc.constant('Schickt mir den Newsletter per WhatsApp.') },
          fc.string({ maxLength: 3000 }),
        ),
      ),
      purpose: maybe(purpose),
      source: maybe(fc.oneof(fc.webUrl(), fc.string({ maxLength: 3000 }), anything)),
      language: maybe(fc.oneof(fc.constantFrom('de', 'en', 'fr', 'DE', ''), anything)),
      submittedAt: maybe(
        fc.oneof(
          fc.integer(),
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          anything,
        ),
      ),
    },
    { requiredKeys: [] },
  ),
  anything,
);
const outgoingPayload = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ maxLength: 5000 }),
  fc.constant(''),
  fc.record(
    {
      type: maybe(fc.constantFrom('text', 'template', 'interactive', 'image', 'reaction', 'bogus')),
      text: maybe(fc.oneof(fc.record({ body: maybe(fc.string({ maxLength: 100 })) }), anything)),
      template: maybe(anything),
      interactive: maybe(anything),
      image: maybe(fc.oneof(fc.record({ link: fc.webUrl() }), anything)),
    },
    { requiredKeys: [] },
  ),
  anything,
);
const inbound = fc.record(
  {
    messageId: maybe(
      fc.oneof(
        fc.string({ minLength: 1, maxLength: 20 }).map((s) => `wamid.${s}`),
        anything,
      ),
    ),
    from: maybe(phone),
    waId: maybe(fc.oneof(fc.stringMatching(/^[1-9][0-9]{6,14}$/), anything)),
    userId: maybe(userId),
    type: maybe(fc.oneof(fc.constantFrom('text', 'button', 'interactive', 'system', 'image'), anything)),
    text: maybe(
      fc.oneof(fc.constantFrom('STOP', 'stop', 'Abmelden', 'HILFE', 'HELP', 'JA', 'Daten löschen'), anything),
    ),
    button: maybe(
      fc.oneof(fc.record({ payload: maybe(fc.string()), text: maybe(fc.constantFrom('STOP', 'JA')) }), anything),
    ),
    interactive: maybe(anything),
    field: maybe(fc.oneof(fc.constantFrom('user_preferences', 'account_update'), anything)),
    value: maybe(fc.oneof(fc.constantFrom('stop', 'resume'), anything)),
    category: maybe(fc.oneof(fc.constant('marketing_messages'), anything)),
    status: maybe(fc.oneof(fc.constantFrom('failed', 'sent'), anything)),
    errors: maybe(fc.oneof(fc.constant([{ code: 131050 }]), anything)),
  },
  { requiredKeys: [] },
);
/**
 * A flow message as Node-RED makes them: a plain object (fc.record may build null-prototype objects, on which
 * Node-RED's own error routing fails with "msg.hasOwnProperty is not a function"); the values inside stay wild.
 */
const flowMessage = (fields: Record<string, fc.Arbitrary<unknown>>) =>
  fc.record(fields, { requiredKeys: [] }).map((msg) => ({ ...msg })) as fc.Arbitrary<Record<string, unknown>>;

const input: fc.Arbitrary<[Target, Record<string, unknown>]> = fc.oneof(
  flowMessage({ payload: formRequest }).map((msg) => ['optin', msg] as [Target, Record<string, unknown>]),
  flowMessage({ whatsapp: inbound, payload: anything }).map(
    (msg) => ['optin', msg] as [Target, Record<string, unknown>],
  ),
  flowMessage({ to: recipient, payload: outgoingPayload, purpose, whatsapp: maybe(inbound) }).map(
    (msg) => ['gate', msg] as [Target, Record<string, unknown>],
  ),
  flowMessage({
    to: recipient,
    payload: outgoingPayload,
    whatsapp: maybe(
      fc.record({ markRead: maybe(fc.oneof(fc.boolean(), fc.string(), anything)) }, { requiredKeys: [] }),
    ),
    optOutFooter: maybe(anything),
    language: maybe(anything),
  }).map((msg) => ['send', msg] as [Target, Record<string, unknown>]),
  flowMessage({ whatsapp: fc.oneof(inbound, anything), payload: anything, language: maybe(anything) }).map(
    (msg) => ['stop', msg] as [Target, Record<string, unknown>],
  ),
  flowMessage({
    payload: fc.oneof(phone, fc.record({ phone: maybe(phone), userId: maybe(userId) }, { requiredKeys: [] })),
    whatsapp: maybe(inbound),
  }).map((msg) => ['erase', msg] as [Target, Record<string, unknown>]),
  flowMessage({
    payload: fc.oneof(phone, fc.record({ phone: maybe(phone), userId: maybe(userId) }, { requiredKeys: [] })),
    whatsapp: maybe(inbound),
  }).map((msg) => ['export', msg] as [Target, Record<string, unknown>]),
);

// --- the flow ----------------------------------------------------------------------------------------

function outputId(target: Target, index: number): string {
  return `${target}-out${index}`;
}

function wires(target: Target): string[][] {
  return Array.from({ length: OUTPUTS[target] }, (_, i) => [outputId(target, i)]);
}

describe('reliability: input fuzzing for the GDPR nodes', function () {
  this.timeout(180000);
  let dir: ReturnType<typeof tempDir>;
  let graph: MockGraph;
  let graphUrl: string;

  before(async () => {
    graph = new MockGraph();
    graphUrl = await graph.start();
  });

  after(async () => {
    await graph.stop();
  });

  afterEach(async () => {
    await helper.unload();
    dir?.remove();
  });

  it('ends every input in one clear result or one clear error, with no write for a refusal', async () => {
    dir = tempDir();
    const store = storeNode('store', dir.path);
    const flow = [
      { id: 'f1', type: 'tab', label: 'fuzz inputs' },
      store,
      {
        id: 'cfg',
        type: 'whatsapp-config',
        mode: 'cloud',
        apiBaseUrl: graphUrl,
        apiVersion: 'v25.0',
        phoneNumberId: PHONE_NUMBER_ID,
      },
      {
        id: 'optin',
        z: 'f1',
        type: 'opt-in-flow',
        store: 'store',
        purpose: 'news',
        allowMsgPurpose: true,
        wires: wires('optin'),
      },
      {
        id: 'gate',
        z: 'f1',
        type: 'consent-gate',
        store: 'store',
        purpose: 'news',
        allowMsgPurpose: true,
        wires: wires('gate'),
      },
      { id: 'send', z: 'f1', type: 'whatsapp-send', whatsapp: 'cfg', wires: wires('send') },
      { id: 'stop', z: 'f1', type: 'stop-handler', store: 'store', wires: wires('stop') },
      { id: 'erase', z: 'f1', type: 'erase-subject', store: 'store', wires: wires('erase') },
      { id: 'export', z: 'f1', type: 'export-subject', store: 'store', wires: wires('export') },
      { id: 'catcher', z: 'f1', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'f1', type: 'helper' },
      ...(Object.keys(OUTPUTS) as Target[]).flatMap((target) =>
        Array.from({ length: OUTPUTS[target] }, (_, i) => ({ id: outputId(target, i), z: 'f1', type: 'helper' })),
      ),
    ];
    await helper.load(
      [
        consentStoreNode,
        configNode,
        optInFlowNode,
        consentGateNode,
        sendNode,
        stopHandlerNode,
        eraseSubjectNode,
        exportSubjectNode,
        catchNode(),
      ] as never,
      flow as never,
      { store: storeCredentials(), cfg: { accessToken: ACCESS_TOKEN, appSecret: 'fuzz-inputs-secret' } } as never,
    );
    const ledger: LedgerHandle = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
    // The store's own sweep (the first one a minute after the start) records its run in the audit log on its timer,
    // whatever the inputs: form requests take half a second each (opt-in-flow), so the run outlasts that minute.
    ledger.stopRetentionTimer();
    for (const subject of CONSENTED) {
      for (const purposeId of ['news', 'orders']) {
        await ledger.giveConsent({
          subject,
          purpose: purposeId,
          wording: 'Schickt mir den Newsletter per WhatsApp.',
          method: 'web-form',
          actor: 'fuzz-seed',
        });
      }
    }

    const outcomes: Record<string, number> = {};
    const seen = new Map<string, number>();
    const caught: Record<string, unknown>[] = [];
    const record = (id: string) => () => seen.set(id, (seen.get(id) ?? 0) + 1);
    for (const target of Object.keys(OUTPUTS) as Target[]) {
      for (let i = 0; i < OUTPUTS[target]; i++)
        helper.getNode(outputId(target, i)).on('input', record(outputId(target, i)));
    }
    helper.getNode('caught').on('input', (msg: Record<string, unknown>) => caught.push(msg));
    const escaped: unknown[] = [];
    const onEscape = (err: unknown) => escaped.push(err);
    process.on('unhandledRejection', onEscape);
    const total = () => [...seen.values()].reduce((a, b) => a + b, 0) + caught.length;
    const posts = () => graph.requests.filter((r) => r.method === 'POST').length;

    try {
      await assertProperty(
        fc.asyncProperty(input, async ([target, msg]) => {
          await ledger.flushUsage();
          const before = storeState(store.sqlitePath as string, { ignoreColumns: USAGE_COLUMNS });
          const outputsBefore = Array.from({ length: OUTPUTS[target] }, (_, i) => seen.get(outputId(target, i)) ?? 0);
          const caughtBefore = caught.length;
          const totalBefore = total();
          const postsBefore = posts();
          helper.getNode(target).receive(msg);
          await until(() => total() > totalBefore, `an outcome from ${target}`).catch((err: Error) => {
            const errors = callsOf('error', target).slice(-2);
            throw new Error(
              `${err.message}; node.error: ${safeJson(errors)}; status: ${safeJson(statusesOf(target).at(-1))}`,
            );
          });
          await new Promise((resolve) => setImmediate(resolve));
          assert.equal(total(), totalBefore + 1, `${target} answered one input more than once`);
          const output = outputsBefore.findIndex((n, i) => (seen.get(outputId(target, i)) ?? 0) > n);
          const outcome = output === -1 ? 'error' : `out${output + 1}`;
          outcomes[`${target}:${outcome}`] = (outcomes[`${target}:${outcome}`] ?? 0) + 1;
          if (outcome === 'error') {
            const error = caught[caughtBefore].error as { message?: unknown; source?: { id?: string } };
            assert.equal(error.source?.id, target);
            assert.equal(typeof error.message, 'string');
            assert.doesNotMatch(String(error.message), CRASH_TEXT);
          }
          if (target === 'send') {
            // One input, at most one message to the API; a refused one never leaves.
            assert.equal(posts() - postsBefore, outcome === 'out1' ? 1 : 0, `POSTs for ${outcome}`);
          } else {
            assert.equal(posts(), postsBefore, `${target} talked to the Cloud API`);
          }
          if (outcome === 'error' || REFUSALS[target].includes(output)) {
            assert.deepEqual(
              storeState(store.sqlitePath as string, { ignoreColumns: USAGE_COLUMNS }),
              before,
              `${target} refused the input (${outcome}) but wrote to the store`,
            );
          }
        }),
        runs(400),
        (entry) => `${entry[0]} <- ${safeJson(entry[1])}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(escaped, [], 'an exception escaped a node');
      assert.equal(caught.length + [...seen.values()].reduce((a, b) => a + b, 0), total());
      const verification = await ledger.verifyAudit();
      assert.equal(verification.ok, true, JSON.stringify(verification));
      console.log(`      input fuzz: ${runs(400)} inputs, outcomes ${JSON.stringify(sorted(outcomes))}`);
      const reasons: Record<string, number> = {};
      for (const msg of caught) {
        const error = msg.error as { source?: { id?: string }; message?: string };
        const key = `${error.source?.id}: ${String(error.message).slice(0, 70)}`;
        reasons[key] = (reasons[key] ?? 0) + 1;
      }
      console.log(`      errors: ${JSON.stringify(sorted(reasons), null, 1)}`);
    } finally {
      process.off('unhandledRejection', onEscape);
    }
  });
});

function sorted(record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value).slice(0, 400);
  } catch {
    return String(value);
  }
}
