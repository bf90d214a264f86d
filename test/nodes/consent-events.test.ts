import assert from 'node:assert/strict';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { verifyAuditLines } from '../../lib/consent/audit-verify';
import type { LedgerHandle } from '../../lib/consent/threaded-ledger';
import { openSqliteDatabase } from '../../lib/store/sqlite-driver';
import consentEventsNode, { installationHolder } from '../../nodes/consent-events';
import consentStoreNode, { type ConsentStoreNode } from '../../nodes/consent-store';
import eraseSubjectNode from '../../nodes/erase-subject';
import { helper, nodeRedPath } from '../helpers/node-red';
import {
  callsOf,
  catchNode,
  collect,
  type Msg,
  next,
  PURPOSES,
  sleep,
  statusesOf,
  storeCredentials,
  storeNode,
  tempDir,
} from './consent-fixtures';

const ERIKA = '+4915123456789';
const WORDING = 'Send me the newsletter on WhatsApp.';

type EventPayload = Record<string, unknown> & { type: string; pseudonym: string; at: number };

/** Node-RED's own join node, from the Node-RED under test. */
function joinNode(): unknown {
  return require(require.resolve('@node-red/nodes/core/sequence/17-split.js', { paths: [dirname(nodeRedPath)] }));
}

/** Erika's consent to the news, given by keyword: one ledger event. */
function giveNews(ledger: LedgerHandle): Promise<unknown> {
  return ledger.giveConsent({ subject: ERIKA, purpose: 'news', wording: WORDING, method: 'keyword', actor: 't' });
}

/** The place of the node with id "events" in its store's event feed. */
const CONSUMER = 'consent-events:events';

async function until(predicate: () => boolean, what: string, ms = 5000): Promise<void> {
  for (let i = 0; i < ms / 10; i++) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('consent-events: the lease holder of this installation', () => {
  it('is a random id kept in the user directory, the same after a restart, and unique to the directory', () => {
    const first = tempDir();
    const second = tempDir();
    try {
      const holder = installationHolder(first.path, 'host-a');
      assert.match(holder, /^node-red-[0-9a-f-]{36}@host-a$/);
      assert.equal(`${readFileSync(join(first.path, '.whatsapp-gdpr-instance-id'), 'utf8')}@host-a`, holder);
      // Another installation keeps its own, written before (a restart of that Node-RED).
      const kept = 'node-red-00000000-0000-4000-8000-000000000001';
      writeFileSync(join(second.path, '.whatsapp-gdpr-instance-id'), kept);
      assert.equal(installationHolder(second.path, 'host-a'), `${kept}@host-a`);
      assert.notEqual(`${kept}@host-a`, holder);
    } finally {
      first.remove();
      second.remove();
    }
  });

  it('differs between hosts that share one user directory (a shared volume, or an image built with the file in it)', () => {
    const shared = tempDir();
    try {
      const [a, b] = [installationHolder(shared.path, 'replica-a'), installationHolder(shared.path, 'replica-b')];
      assert.notEqual(a, b, 'each replica holds its own lease');
      assert.equal(a.split('@')[0], b.split('@')[0], 'the same kept id');
      assert.equal(installationHolder(shared.path, 'replica-a'), a, 'the same after a restart on the same host');
    } finally {
      shared.remove();
    }
  });

  it('is this process own id without a user directory it can write to', () => {
    const unwritable = join(tempDir().path, 'missing', 'dir');
    const holder = installationHolder(unwritable);
    assert.match(holder, /^node-red-[0-9a-f-]{36}@/);
    assert.equal(installationHolder(undefined), holder);
  });
});

describe('consent-events node', () => {
  let dir: ReturnType<typeof tempDir>;
  let credentials: Record<string, unknown>;

  beforeEach(() => {
    dir = tempDir();
    credentials = { store: storeCredentials() };
  });

  afterEach(async () => {
    await helper.unload();
    dir.remove();
  });

  function flow(events: Record<string, unknown> = {}): Record<string, unknown>[] {
    return [
      { id: 'f1', type: 'tab', label: 'consent events' },
      storeNode('store', dir.path),
      { id: 'events', z: 'f1', type: 'consent-events', store: 'store', wires: [['out']], ...events },
      { id: 'erase', z: 'f1', type: 'erase-subject', store: 'store', wires: [['erased'], [], []] },
      { id: 'out', z: 'f1', type: 'helper' },
      { id: 'erased', z: 'f1', type: 'helper' },
    ];
  }

  async function load(events: Record<string, unknown> = {}): Promise<LedgerHandle> {
    await helper.load(
      [consentStoreNode, consentEventsNode, eraseSubjectNode] as never,
      flow(events) as never,
      credentials as never,
    );
    const ledger = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
    // The node subscribes once the store is open; the promise above resolves in the same turn as its own.
    await until(() => ledger.listenerCount('event') > 0, 'consent-events to subscribe');
    return ledger;
  }

  async function lifecycle(ledger: LedgerHandle): Promise<void> {
    await ledger.requestConsent({
      subject: ERIKA,
      purpose: 'news',
      wording: WORDING,
      method: 'web-form',
      actor: 'test',
    });
    await ledger.confirmConsent({ subject: ERIKA, purpose: 'news', confirmationText: 'YES', actor: 'test' });
    await ledger.recordNoticeShown(ERIKA, 'v1', { actor: 'test' });
    await ledger.withdrawConsent({
      subject: ERIKA,
      purposes: ['news'],
      channel: 'whatsapp-keyword',
      keyword: 'STOP',
      actor: 'test',
    });
  }

  it('emits each ledger change with type, pseudonym, purpose and time, without the phone number', async () => {
    const ledger = await load();
    const seen = collect('out');
    await lifecycle(ledger);
    await until(() => seen.length >= 4, 'four events');
    assert.deepEqual(
      seen.map((m) => m.topic),
      ['consent.requested', 'consent.confirmed', 'notice.shown', 'consent.withdrawn'],
    );
    const payloads = seen.map((m) => m.payload as EventPayload);
    const pseudonym = payloads[0].pseudonym;
    assert.match(pseudonym, /^[A-Za-z0-9_-]{16,}$/);
    for (const payload of payloads) {
      assert.equal(payload.pseudonym, pseudonym);
      assert.equal(typeof payload.at, 'number');
      assert.equal(payload.phone, undefined);
      assert.equal(payload.userId, undefined);
    }
    assert.equal(payloads[0].purpose, 'news');
    assert.equal(payloads[3].purpose, 'news');
    assert.equal(payloads[3].status, 'withdrawn');
    assert.doesNotMatch(JSON.stringify(seen), /4915123456789/);
  });

  it('shows a status again only when it changed, not after every look at the feed', async () => {
    const ledger = await load();
    await until(() => statusesOf('events').length > 0, 'a status');
    await sleep(200);
    const before = statusesOf('events').length;
    // The look at the feed a poll or another instance's change makes, with nothing new in it.
    for (let i = 0; i < 3; i++) {
      (ledger as unknown as import('node:events').EventEmitter).emit('event');
      await sleep(100);
    }
    assert.equal(statusesOf('events').length, before, 'the same status not sent again');
    await ledger.giveConsent({
      subject: '+4915123456003',
      purpose: 'news',
      wording: WORDING,
      method: 'keyword',
      actor: 't',
    });
    await until(() => statusesOf('events').length > before, 'a new status once something changed');
  });

  it('adds the phone number only when includePhone is ticked', async () => {
    const ledger = await load({ includePhone: true });
    const out = next('out');
    await ledger.giveConsent({
      subject: '0049 151 23456789',
      purpose: 'news',
      wording: WORDING,
      method: 'keyword',
      actor: 't',
    });
    const payload = (await out).payload as EventPayload;
    assert.equal(payload.type, 'consent.given');
    assert.equal(payload.phone, ERIKA);
  });

  it('emits only the selected event types', async () => {
    const ledger = await load({ eventTypes: ['consent.withdrawn', 'subject.erased'] });
    const seen = collect('out');
    await lifecycle(ledger);
    await ledger.eraseSubject(ERIKA, 'test');
    await until(() => seen.length >= 2, 'two events');
    assert.deepEqual(
      seen.map((m) => m.topic),
      ['consent.withdrawn', 'subject.erased'],
    );
  });

  it('refuses an event type or an acknowledgement it does not know (a hand-written flow) and lets no event go', async () => {
    await load();
    await helper.unload();
    const people = ['+4915123456001', '+4915123456002'];
    for (const [index, settings] of [
      { eventTypes: 'consent.withdrawn, subject.erase' },
      { acknowledge: 'Returned', configVersion: 3 },
    ].entries()) {
      await helper.load(
        [consentStoreNode, consentEventsNode, eraseSubjectNode] as never,
        flow(settings) as never,
        credentials as never,
      );
      const ledger = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
      const seen = collect('out');
      await until(() => callsOf('error', 'events').length > 0, 'the error');
      assert.match(String(callsOf('error', 'events')[0][0]), index === 0 ? /subject\.erase\b/ : /Returned/);
      const shown = statusesOf('events').at(-1);
      assert.deepEqual([shown?.fill, shown?.shape], ['red', 'dot'], 'a broken status');
      const subject = people[index];
      await ledger.giveConsent({ subject, purpose: 'news', wording: WORDING, method: 'keyword', actor: 't' });
      await ledger.withdrawConsent({ subject, purposes: ['news'], channel: 'admin', actor: 't' });
      await ledger.eraseSubject(subject, 't');
      await sleep(300);
      assert.deepEqual(seen, [], 'nothing sent on');
      await helper.unload();
    }
    // The node as meant: every event made meanwhile comes, none was let go unsent.
    await load({ eventTypes: ['consent.withdrawn', 'subject.erased'] });
    const seen = collect('out');
    await until(() => seen.length >= 4, 'the events made while its settings were wrong');
    assert.deepEqual(
      seen.map((m) => m.topic),
      ['consent.withdrawn', 'subject.erased', 'consent.withdrawn', 'subject.erased'],
    );
  });

  it('refuses a redelivery time or a give-up count the dialog refuses (a hand-written flow), naming the setting', async () => {
    await load();
    await helper.unload();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ redeliverAfter: '60s' }, /Send again after.*1 to 3600.*"60s"/],
      [{ redeliverAfter: 0 }, /Send again after.*"0"/],
      [{ redeliverAfter: 7200 }, /Send again after.*"7200"/],
      [{ maxAttempts: -1 }, /Give up after.*0 to 1000.*"-1"/],
      [{ maxAttempts: 2.5 }, /Give up after.*"2\.5"/],
    ];
    const subject = '+4915123456003';
    for (const [settings, expected] of cases) {
      await helper.load(
        [consentStoreNode, consentEventsNode, eraseSubjectNode] as never,
        flow({ acknowledge: 'returned', configVersion: 3, ...settings }) as never,
        credentials as never,
      );
      const ledger = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
      const seen = collect('out');
      await until(() => callsOf('error', 'events').length > 0, `the error for ${JSON.stringify(settings)}`);
      assert.match(String(callsOf('error', 'events')[0][0]), expected);
      const shown = statusesOf('events').at(-1);
      assert.deepEqual([shown?.fill, shown?.shape], ['red', 'dot'], 'a broken status');
      await ledger.giveConsent({ subject, purpose: 'news', wording: WORDING, method: 'keyword', actor: 't' });
      await sleep(200);
      assert.deepEqual(seen, [], 'nothing sent on');
      await helper.unload();
    }
    // Acknowledged when sent on, the two settings are hidden and unused: nothing to refuse. Empty: the defaults. A
    // whole number as the first dialog with "Send again after" let it be saved (Number(v) whole, 1 to 3600) runs on.
    for (const settings of [
      { acknowledge: 'sent', redeliverAfter: 'soon', maxAttempts: 'never' },
      { acknowledge: 'returned', redeliverAfter: '', maxAttempts: ' ' },
      { acknowledge: 'returned', redeliverAfter: '60.0', maxAttempts: 5 },
      { acknowledge: 'returned', redeliverAfter: '+90', maxAttempts: '5' },
    ]) {
      await load({ configVersion: 3, ...settings });
      assert.deepEqual(callsOf('error', 'events'), [], JSON.stringify(settings));
      await helper.unload();
    }
  });

  it('passes on the erasure done by an erase-subject node of the same store, phone included when asked for', async () => {
    const ledger = await load({ includePhone: true });
    await giveNews(ledger);
    const seen: Msg[] = collect('out');
    const erased = next('erased');
    helper.getNode('erase').receive({ payload: ERIKA });
    const report = (await erased).payload as { pseudonym: string };
    await until(() => seen.some((m) => m.topic === 'subject.erased'), 'subject.erased');
    const event = seen.find((m) => m.topic === 'subject.erased')!.payload as EventPayload;
    assert.equal(event.pseudonym, report.pseudonym);
    // The CRM gets the number once more, so it can delete the person as well.
    assert.equal(event.phone, ERIKA);
  });

  it('unsubscribes when it is removed, while the store stays open; added again, it sends what happened meanwhile', async () => {
    const ledger = await load();
    assert.equal(ledger.listenerCount('event'), 1);
    const withoutEvents = flow().filter((n) => n.id !== 'events' && n.id !== 'out');
    await helper.setFlows(withoutEvents as never, 'nodes', credentials as never);
    assert.equal(ledger.listenerCount('event'), 0);
    // The store was not redeployed: the same ledger still works.
    await giveNews(ledger);
    assert.equal((await ledger.checkConsent(ERIKA, 'news')).allowed, true);
    // Disabled for a while (Node-RED removes a disabled node as it removes a deleted one) and enabled again.
    await helper.setFlows(flow() as never, 'nodes', credentials as never);
    const seen = collect('out');
    await until(() => seen.length > 0, 'the event made while it was away');
    assert.equal(seen[0].topic, 'consent.given');
  });

  it('is registered before any other node gets the store: the first change after the first deploy has its event', async () => {
    await helper.load(
      [consentStoreNode, consentEventsNode, eraseSubjectNode] as never,
      flow() as never,
      credentials as never,
    );
    const seen = collect('out');
    await giveNews(await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger());
    await until(() => seen.length > 0, 'the event of the first change');
    assert.equal(seen[0].topic, 'consent.given');
  });

  it('sends what happened while it was not running once it runs again (a restart), each event once', async () => {
    await load();
    await helper.unload();
    // Node-RED runs without the node for a while (another instance, or the flow before this deploy): changes go on.
    await helper.load(
      [consentStoreNode, eraseSubjectNode] as never,
      flow().filter((n) => n.id !== 'events' && n.id !== 'out') as never,
      credentials as never,
    );
    const meanwhile = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
    await lifecycle(meanwhile);
    await helper.unload();
    await helper.load(
      [consentStoreNode, consentEventsNode, eraseSubjectNode] as never,
      flow() as never,
      credentials as never,
    );
    // Listening before the store opens: the first read sends the backlog.
    const seen = collect('out');
    const ledger = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
    await until(() => seen.length >= 4, 'the four events made meanwhile');
    await giveNews(ledger);
    await until(() => seen.length >= 5, 'the event made now');
    assert.deepEqual(
      seen.map((m) => m.topic),
      ['consent.requested', 'consent.confirmed', 'notice.shown', 'consent.withdrawn', 'consent.given'],
    );
    const ids = seen.map((m) => m.eventId as number);
    assert.ok(
      ids.every((id, i) => Number.isInteger(id) && (i === 0 || id > ids[i - 1])),
      `eventId rises: ${ids.join(', ')}`,
    );
    // Acknowledged: the next delivery (for the next change) sends only that change, nothing twice.
    await ledger.recordNoticeShown(ERIKA, 'v2', { actor: 'test' });
    await until(() => seen.length >= 6, 'the sixth event');
    await sleep(100);
    assert.deepEqual(
      seen.slice(5).map((m) => m.topic),
      ['notice.shown'],
    );
  });

  it('stands by while another copy of it (another instance) delivers, and takes over when that one lets go', async () => {
    await helper.load(
      [consentStoreNode, eraseSubjectNode] as never,
      flow().filter((n) => n.id !== 'events' && n.id !== 'out') as never,
      credentials as never,
    );
    const other = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
    // The copy on the other instance registered first and holds the lease.
    await other.readEvents(CONSUMER, { holder: 'other-instance' });
    await helper.unload();
    const ledger = await load();
    const seen = collect('out');
    const statuses: string[] = [];
    (helper.getNode('events') as unknown as NodeJS.EventEmitter).on(
      'call:status',
      (call: { args: [{ text?: string }] }) => statuses.push(String(call.args[0].text)),
    );
    await giveNews(ledger);
    await until(() => statuses.includes('consent-events.status.standby'), 'standby');
    assert.equal(seen.length, 0, 'the other copy delivers this event');
    await ledger.releaseEvents(CONSUMER, { holder: 'other-instance' });
    // Taken over at the next look (every 5 s): the event the other copy never acknowledged comes from here.
    await until(() => seen.length > 0, 'the event after the takeover', 8000);
    assert.equal(seen[0].topic, 'consent.given');
  });

  it('exports the audit log page by page; a join node puts together an export that verifies', async () => {
    await helper.load(
      [consentStoreNode, consentEventsNode, eraseSubjectNode, joinNode()] as never,
      [
        ...flow(),
        { id: 'joiner', z: 'f1', type: 'join', mode: 'auto', wires: [['joined']] },
        { id: 'joined', z: 'f1', type: 'helper' },
      ].map((n) => (n.id === 'events' ? { ...n, wires: [['out', 'joiner']] } : n)) as never,
      credentials as never,
    );
    const ledger = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
    const events = collect('out');
    await lifecycle(ledger);
    // Delivered before the export starts, so that only the export's pages are counted below.
    await until(() => events.length >= 4, 'the events of the lifecycle');
    // More events than one page holds (1,000), so the export takes two messages.
    await Promise.all(
      Array.from({ length: 1100 }, (_, i) => ledger.recordBlocked(ERIKA, 'news', `test-${i % 3}`, 'test')),
    );
    const expected: string[] = [];
    for await (const line of ledger.exportAudit()) expected.push(line);
    assert.equal(expected.length, 1104);

    const pages = collect('out');
    const joined = next('joined');
    const statuses: string[] = [];
    // node-red-node-test-helper reports each status() call as a "call:status" event of the node.
    (helper.getNode('events') as unknown as NodeJS.EventEmitter).on(
      'call:status',
      (call: { args: [{ text?: string }] }) => statuses.push(String(call.args[0].text)),
    );
    helper.getNode('events').receive({ topic: 'export-audit' } as never);
    const whole = String((await joined).payload);
    assert.equal(pages.length, 2);
    assert.deepEqual(
      pages.map((m) => [m.topic, (m.parts as { index: number }).index, (m.parts as { count?: number }).count]),
      [
        ['audit.exported', 0, undefined],
        ['audit.exported', 1, 2],
      ],
    );
    assert.equal(String(pages[0].payload).split('\n').length - 1, 1000);
    assert.equal(whole, `${expected.join('\n')}\n`);
    const verified = verifyAuditLines(whole.split('\n'));
    assert.deepEqual([verified.ok, verified.count], [true, 1104]);
    assert.doesNotMatch(whole, /4915123456789/);
    // The events of the lifecycle may still be on their way (their own status); the export says what it did.
    const exportStatuses = () => statuses.filter((text) => text !== 'consent-events.status.emitted');
    await until(() => exportStatuses().length > 0, 'the status after the export');
    assert.deepEqual(exportStatuses(), ['consent-events.status.audit-exported']);
  });

  it('keeps a broken audit chain on show while it goes on delivering events', async () => {
    const ledger = await load();
    const seen = collect('out');
    await giveNews(ledger);
    await until(() => seen.length >= 1, 'the first event');
    const { db } = openSqliteDatabase(join(dir.path, 'store.db'));
    try {
      db.exec('PRAGMA busy_timeout = 10000; DROP TRIGGER audit_append_only;');
      db.prepare("UPDATE audit SET outcome = 'rewritten' WHERE seq = 1").run();
    } finally {
      db.close();
    }
    const statuses: string[] = [];
    (helper.getNode('events') as unknown as NodeJS.EventEmitter).on(
      'call:status',
      (call: { args: [{ text?: string }] }) => statuses.push(String(call.args[0].text)),
    );
    helper.getNode('events').receive({ topic: 'verify-audit' } as never);
    await until(() => seen.some((m) => m.topic === 'audit.broken'), 'the verification');
    await ledger.withdrawConsent({ subject: ERIKA, purposes: ['news'], channel: 'api', actor: 't' });
    await until(() => seen.some((m) => m.topic === 'consent.withdrawn'), 'the next event');
    await sleep(100);
    assert.equal(statuses.at(-1), 'consent-events.status.audit-broken');
  });

  it("keeps emitting after the store's thread died and consent-store opened a new ledger", async () => {
    const ledger = await load();
    const seen = collect('out');
    // What a crash of the thread looks like from outside: the worker ends without being closed.
    await (ledger as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    const store = helper.getNode('store') as unknown as ConsentStoreNode;
    let reopened: LedgerHandle | undefined;
    await until(() => {
      const current = (store as unknown as { ledger?: LedgerHandle }).ledger;
      if (current && current !== ledger && current.listenerCount('event') > 0) reopened = current;
      return reopened !== undefined;
    }, 'consent-events to listen to the new ledger');
    await giveNews(reopened as LedgerHandle);
    await until(() => seen.length > 0, 'the event of the new ledger');
    assert.equal(seen[0].topic, 'consent.given');
  });

  it('starts listening on its own once a store that could not open at deploy opens', async () => {
    // The store's directory cannot be made while a file stands in its place (a volume not mounted yet, or
    // PostgreSQL starting after Node-RED): the first open fails.
    const blocker = join(dir.path, 'not-yet');
    writeFileSync(blocker, '');
    const nodes = flow().map((n) => (n.id === 'store' ? { ...n, sqlitePath: join(blocker, 'store.db') } : n));
    await helper.load(
      [consentStoreNode, consentEventsNode, eraseSubjectNode] as never,
      nodes as never,
      credentials as never,
    );
    const store = helper.getNode('store') as unknown as ConsentStoreNode;
    await assert.rejects(store.getLedger());
    const seen = collect('out');
    unlinkSync(blocker);
    // Nobody asks the store for its ledger: it opens again by itself, and consent-events listens before anyone
    // else can change a consent in it.
    await until(() => store.ledger !== undefined, 'the store to open by itself');
    await giveNews(store.ledger as LedgerHandle);
    await until(() => seen.length > 0, 'the event of the ledger opened late');
    assert.equal(seen[0].topic, 'consent.given');
  });

  it('logs a clear error and emits nothing when the store cannot open', async () => {
    credentials = { store: {} };
    await helper.load(
      [consentStoreNode, consentEventsNode, eraseSubjectNode] as never,
      flow() as never,
      credentials as never,
    );
    const emitted = collect('out');
    await until(
      () =>
        helper
          .log()
          .args.some(
            (args: unknown[]) =>
              (args[0] as { id?: string; level?: number }).id === 'events' &&
              (args[0] as { level?: number }).level === 20,
          ),
      'an error logged by consent-events',
    );
    const logged = helper
      .log()
      .args.map((args: unknown[]) => args[0] as { id?: string; msg?: unknown })
      .filter((entry: { id?: string }) => entry.id === 'events')
      .map((entry: { msg?: unknown }) => String(entry.msg));
    assert.ok(
      logged.some((text: string) => text.includes('consent-events.errors.store-failed')),
      logged.join('\n'),
    );
    helper.getNode('erase').receive({ payload: '+4915123456789' }); // a change it would report, had the store opened
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(emitted, []);
  });

  describe('acknowledging when returned', () => {
    const RETURNED = { acknowledge: 'returned', redeliverAfter: 60, configVersion: 2 };

    /** The ids the node acknowledged in the store, in order. */
    function acknowledgements(ledger: LedgerHandle): number[] {
      const acks: number[] = [];
      const original = ledger.acknowledgeEvents.bind(ledger);
      ledger.acknowledgeEvents = async (consumer, options) => {
        const moved = await original(consumer, options);
        acks.push(options.lastId);
        return moved;
      };
      return acks;
    }

    function giveBack(msg: Msg): void {
      helper.getNode('events').receive({ topic: String(msg.topic), eventId: msg.eventId, statusCode: 200 });
    }

    /** The news given by `count` different people: one event each. */
    async function manyGive(ledger: LedgerHandle, count: number): Promise<void> {
      for (let i = 0; i < count; i++) {
        const subject = `+4915123456${String(100 + i).padStart(3, '0')}`;
        await ledger.giveConsent({ subject, purpose: 'news', wording: WORDING, method: 'keyword', actor: 't' });
      }
    }

    it('lets an event go only when it and every event before it came back; after a restart the rest come again', async () => {
      const ledger = await load(RETURNED);
      const acks = acknowledgements(ledger);
      const seen = collect('out');
      await manyGive(ledger, 4);
      await until(() => seen.length >= 4, 'four events');
      await sleep(100);
      assert.equal(seen.length, 4, 'nothing went twice before its time');
      assert.deepEqual(acks, [], 'sending on is not delivering');
      // The third comes back first: nothing may be let go yet.
      giveBack(seen[2]);
      await sleep(100);
      assert.deepEqual(acks, []);
      giveBack(seen[0]);
      // Well before the next look every 5 s: the return itself leads to the acknowledgement.
      await until(() => acks.length > 0, 'the acknowledgement of the first event', 2000);
      assert.deepEqual(acks, [seen[0].eventId as number]);
      await helper.unload();
      await helper.load(
        [consentStoreNode, consentEventsNode, eraseSubjectNode] as never,
        flow(RETURNED) as never,
        credentials as never,
      );
      const again = collect('out');
      await until(() => again.length >= 3, 'the events not let go');
      assert.deepEqual(
        again.map((m) => m.eventId),
        seen.slice(1).map((m) => m.eventId),
      );
    });

    it('sends again what did not come back in time, only that, with a warning, until it comes back', async () => {
      const ledger = await load({ ...RETURNED, redeliverAfter: 1 });
      const acks = acknowledgements(ledger);
      const seen = collect('out');
      await manyGive(ledger, 4);
      await until(() => seen.length >= 4, 'four events');
      for (const msg of seen.slice(1)) giveBack(msg);
      await until(() => seen.length >= 5, 'the first event once more', 5000);
      assert.equal(seen[4].eventId, seen[0].eventId);
      assert.ok(
        callsOf('warn', 'events').some((args) => String(args[0]).includes('consent-events.errors.redelivered')),
        'a warning says the event went again',
      );
      await sleep(300);
      assert.equal(seen.length, 5, 'the events that came back do not go again');
      assert.deepEqual(acks, []);
      giveBack(seen[4]);
      await until(() => acks.length > 0, 'the acknowledgement', 2000);
      assert.deepEqual(acks, [seen[3].eventId as number]);
    });

    it('starts afresh from the cursor when its acknowledgement does not stand (the lease had moved)', async () => {
      const ledger = await load(RETURNED);
      const seen = collect('out');
      await manyGive(ledger, 3);
      await until(() => seen.length >= 3, 'three events');
      const acknowledge = ledger.acknowledgeEvents.bind(ledger);
      let refused = false;
      ledger.acknowledgeEvents = async (consumer, options) => {
        if (refused) return acknowledge(consumer, options);
        refused = true;
        return false;
      };
      giveBack(seen[0]);
      // All three go again from the cursor at once (not at the next look in 5 s), the later two too, although they had
      // not been out for long.
      await until(() => seen.length >= 6, 'the three events again', 2000);
      assert.deepEqual(
        seen.slice(3).map((m) => m.eventId),
        seen.slice(0, 3).map((m) => m.eventId),
      );
    });

    it("sends one person's events one at a time, in order, each once the one before came back", async () => {
      const ledger = await load(RETURNED);
      const seen = collect('out');
      await lifecycle(ledger);
      const order = ['consent.requested', 'consent.confirmed', 'notice.shown', 'consent.withdrawn'];
      for (const [i, type] of order.entries()) {
        await until(() => seen.length > i, type, 2000);
        await sleep(50);
        assert.deepEqual(
          seen.map((m) => m.topic),
          order.slice(0, i + 1),
          'the next waits for this one',
        );
        giveBack(seen[i]);
      }
    });

    it('has at most one page out at a time; the next follows as they come back', async () => {
      const ledger = await load(RETURNED);
      const seen = collect('out');
      await manyGive(ledger, 105);
      await until(() => seen.length >= 100, 'the first page');
      let reads = 0;
      const read = ledger.readEvents.bind(ledger);
      ledger.readEvents = (consumer, options) => {
        reads += 1;
        return read(consumer, options);
      };
      await sleep(200);
      assert.equal(seen.length, 100, 'the rest waits for the first page to come back');
      assert.ok(reads <= 2, `it waits without reading the feed over and over (${reads} reads)`);
      for (const msg of seen.slice(0, 100)) giveBack(msg);
      await until(() => seen.length >= 105, 'the next page', 2000);
      const ids = seen.map((m) => m.eventId as number);
      assert.ok(
        ids.every((id, i) => i === 0 || id > ids[i - 1]),
        'each of the 105 events once, in order',
      );
    });

    it('settles the events it does not send at once: a filtered event holds nothing up', async () => {
      const ledger = await load({ ...RETURNED, eventTypes: ['consent.withdrawn'] });
      const acks = acknowledgements(ledger);
      const seen = collect('out');
      await lifecycle(ledger);
      await until(() => seen.length >= 1, 'the withdrawal');
      assert.equal(seen[0].topic, 'consent.withdrawn');
      const withdrawal = seen[0].eventId as number;
      // The three before it were let go without being sent; the withdrawal itself waits for its return.
      await until(() => acks.includes(withdrawal - 1), 'the acknowledgement of the three not sent');
      await sleep(100);
      assert.ok(
        acks.every((id) => id < withdrawal),
        `nothing past the withdrawal before it came back: ${acks}`,
      );
      giveBack(seen[0]);
      await until(() => acks.includes(withdrawal), 'the acknowledgement of the withdrawal', 2000);
    });

    describe('giving up an event that never comes back', () => {
      /** The flow with a Catch node for every node of the tab, wired to the helper "caught" (a dead-letter store). */
      async function loadCaught(events: Record<string, unknown>): Promise<LedgerHandle> {
        await helper.load(
          [consentStoreNode, consentEventsNode, eraseSubjectNode, catchNode()] as never,
          [
            ...flow(events),
            { id: 'catcher', z: 'f1', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
            { id: 'caught', z: 'f1', type: 'helper' },
          ] as never,
          credentials as never,
        );
        const ledger = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
        await until(() => ledger.listenerCount('event') > 0, 'consent-events to subscribe');
        return ledger;
      }

      const givenUpErrors = () =>
        callsOf('error', 'events').filter((args) => (args[0] as { code?: string }).code === 'event-given-up');

      /**
       * A CRM that never takes the first event the flow sees (Erika's), unless at its send number `takeAt`, and takes
       * every other one. Each send of that event brings another person's event, which comes back meanwhile: the CRM is
       * seen to work, so the sends count as missed (an outage, with nothing coming back, gives nothing up).
       */
      function crmRefusingFirst(ledger: LedgerHandle, takeAt?: number) {
        const seen: Msg[] = [];
        const state = { poison: undefined as unknown, sends: 0 };
        let others = 0;
        helper.getNode('out').on('input', (msg: Msg) => {
          seen.push(msg);
          state.poison ??= msg.eventId;
          if (msg.eventId !== state.poison) return setImmediate(() => giveBack(msg));
          state.sends += 1;
          if (state.sends === takeAt) return setImmediate(() => giveBack(msg));
          const subject = `+4915123457${String(others++).padStart(3, '0')}`;
          void ledger.giveConsent({ subject, purpose: 'news', wording: WORDING, method: 'keyword', actor: 't' });
        });
        return { seen, state };
      }

      it('gives it up after maxAttempts missed sends with an error a Catch node gets, and lets the events after it go', async () => {
        const ledger = await loadCaught({ ...RETURNED, redeliverAfter: 1, maxAttempts: 2 });
        const acks = acknowledgements(ledger);
        const { seen, state } = crmRefusingFirst(ledger);
        const caught = collect('caught');
        await giveNews(ledger);
        // Erika's withdrawal waits behind her consent, another person's event behind it in the feed.
        await ledger.withdrawConsent({ subject: ERIKA, purposes: ['news'], channel: 'api', actor: 't' });
        await manyGive(ledger, 1);
        await until(() => caught.length > 0, 'the given-up event at the Catch node', 10000);
        const dead = caught[0];
        const poison = state.poison;
        assert.equal(dead.eventId, poison);
        assert.equal(dead.topic, 'consent.given');
        assert.equal((dead.payload as EventPayload).type, 'consent.given');
        assert.equal(dead.attempts, 2);
        const error = dead.error as { message: string; code?: string; source: { id: string } };
        assert.deepEqual([error.code, error.source.id], ['event-given-up', 'events']);
        // The helper translates no catalog text: the English fallback, which names the event and the sends.
        assert.match(error.message, new RegExp(`Event ${poison} did not come back .* after 2 sends`));
        assert.doesNotMatch(JSON.stringify(dead), /4915123456789/);
        assert.equal(seen.filter((m) => m.eventId === poison).length, 2, 'sent twice, then given up');

        // The withdrawal held behind it goes now; once it and the other event came back, the store lets all go.
        await until(() => seen.some((m) => m.topic === 'consent.withdrawn'), 'the withdrawal after the given-up event');
        const last = Math.max(...seen.map((m) => m.eventId as number));
        await until(() => (acks.at(-1) ?? 0) >= last, 'the acknowledgement of every event', 5000);
        assert.equal(givenUpErrors().length, 1, 'reported once');
        assert.ok(
          statusesOf('events').some((status) => status.text === 'consent-events.status.emitted-given-up'),
          'the status shows it',
        );
        // A later event goes on its own: nothing before it is sent again.
        await ledger.recordNoticeShown(ERIKA, 'v2', { actor: 't' });
        await until(() => seen.some((m) => m.topic === 'notice.shown'), 'the next event');
        await until(() => acks.at(-1) === seen.at(-1)?.eventId, 'its acknowledgement', 5000);
        const sends = new Map<unknown, number>();
        for (const msg of seen) sends.set(msg.eventId, (sends.get(msg.eventId) ?? 0) + 1);
        assert.equal(sends.get(poison), 2);
        assert.deepEqual(
          [...sends].filter(([id, count]) => id !== poison && count !== 1),
          [],
          'every other event once',
        );
        assert.equal(caught.length, 1);
        // Let go in the store: after a restart the node has nothing of them to send.
        await helper.unload();
        await load(RETURNED);
        const again = collect('out');
        await giveNews(await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger());
        await until(() => again.length > 0, 'the event after the restart');
        assert.ok((again[0].eventId as number) > last, `only the new event: ${again.map((m) => m.eventId)}`);
      });

      it('does not report an event that comes back at its last allowed send', async () => {
        const ledger = await loadCaught({ ...RETURNED, redeliverAfter: 2, maxAttempts: 2 });
        const acks = acknowledgements(ledger);
        const { seen, state } = crmRefusingFirst(ledger, 2);
        const caught = collect('caught');
        await giveNews(ledger);
        await until(() => state.sends >= 2, 'the second send', 8000);
        await until(
          () => (acks.at(-1) ?? 0) >= (state.poison as number),
          'the acknowledgement of the returned event',
          2000,
        );
        // A later event goes and comes back: a given-up event would have been reported before it was let go.
        await ledger.recordNoticeShown(ERIKA, 'v1', { actor: 't' });
        await until(() => seen.some((m) => m.topic === 'notice.shown'), 'the next event');
        await until(() => (acks.at(-1) ?? 0) >= (seen.at(-1)?.eventId as number), 'its acknowledgement', 2000);
        assert.deepEqual(caught, []);
        assert.deepEqual(givenUpErrors(), []);
        assert.equal(state.sends, 2);
      });

      it('gives up nothing while the CRM takes nothing (an outage), and sends it again once it works', async () => {
        const ledger = await loadCaught({ ...RETURNED, redeliverAfter: 1, maxAttempts: 1 });
        const seen = collect('out');
        const caught = collect('caught');
        await giveNews(ledger);
        await manyGive(ledger, 1);
        // Neither comes back: three rounds of sends, and nothing is given up.
        await until(() => seen.length >= 6, 'three rounds', 8000);
        assert.deepEqual(caught, []);
        assert.deepEqual(givenUpErrors(), []);
        // The CRM is back: both go again and come back.
        const acks = acknowledgements(ledger);
        const last = Math.max(...seen.map((m) => m.eventId as number));
        helper.getNode('out').on('input', (msg: Msg) => setImmediate(() => giveBack(msg)));
        await until(() => (acks.at(-1) ?? 0) >= last, 'both acknowledged', 5000);
        assert.deepEqual(caught, []);
      });

      it('gives up after 5 missed sends in a node saved before the limit existed (no maxAttempts)', async () => {
        const saved = { acknowledge: 'returned', redeliverAfter: 1, configVersion: 2 };
        const ledger = await loadCaught(saved);
        const { state } = crmRefusingFirst(ledger);
        const caught = collect('caught');
        await giveNews(ledger);
        await until(() => caught.length > 0, 'the given-up event at the Catch node', 15000);
        assert.equal(caught[0].eventId, state.poison);
        assert.equal(caught[0].attempts, 5);
        assert.equal(state.sends, 5);
      });
    });

    it('warns of an id it cannot account for (not its event, or none at all), and stays quiet for a late copy', async () => {
      const ledger = await load(RETURNED);
      const acks = acknowledgements(ledger);
      const seen = collect('out');
      const warnings = () => callsOf('warn', 'events').map((args) => String(args[0]));
      await manyGive(ledger, 2);
      await until(() => seen.length >= 2, 'two events');
      const [first, second] = seen.map((m) => m.eventId as number);
      // An id above every event (a typo, another node's numbering): a warning naming it, and nothing let go.
      helper.getNode('events').receive({ topic: 'consent.given', eventId: second + 1000 });
      await until(() => warnings().length > 0, 'the warning');
      // The catalog's text names the id (the test runtime answers with the key).
      assert.equal(warnings()[0], 'consent-events.errors.unknown-event-id');
      assert.equal(warnings().length, 1);
      assert.deepEqual(acks, [], 'nothing let go');
      // Its own events come back, one of them twice (a late copy): no warning for either.
      giveBack(seen[1]);
      giveBack(seen[0]);
      giveBack(seen[0]);
      await giveNews(ledger);
      await until(() => seen.length >= 3, 'the next event');
      await until(() => acks.length > 0, 'the first two let go');
      giveBack(seen[0]);
      await sleep(100);
      assert.equal(warnings().length, 1, warnings().join('\n'));
      assert.ok(first < second);
      // A flow wired back wrong sends such an id with every event: no more than one warning a minute.
      for (let i = 1; i <= 20; i += 1) helper.getNode('events').receive({ eventId: second + 1000 + i });
      await sleep(100);
      assert.equal(warnings().length, 1, 'one warning a minute, however many ids');
    });

    it('runs a store command that carries an event id, and answers it on the output', async () => {
      await load(RETURNED);
      const answer = next('out');
      helper.getNode('events').receive({ topic: 'verify-audit', eventId: 7 });
      const answered = await answer;
      assert.equal(answered.topic, 'audit.verified');
      assert.equal(answered.eventId, undefined, 'an answer is no event: wired back, it must not acknowledge one');
    });

    it('refuses an event sent back to a node that acknowledges when sending, and an id that is no event', async () => {
      const ledger = await load();
      const seen = collect('out');
      await giveNews(ledger);
      await until(() => seen.length >= 1, 'the event');
      const codes = () => callsOf('error', 'events').map((args) => (args[0] as { code?: string }).code);
      giveBack(seen[0]);
      await until(() => codes().length >= 1, 'the error');
      assert.deepEqual(codes(), ['events-acknowledged-when-sent']);
      await helper.unload();
      await load(RETURNED);
      const before = codes().length;
      helper.getNode('events').receive({ topic: 'consent.given', eventId: 'seven' });
      await until(() => codes().length > before, 'the second error');
      assert.deepEqual(codes().slice(before), ['invalid-event-id']);
    });
  });
});

for (const backend of ['sqlite', 'postgres'] as const) {
  const url = process.env.WA_GDPR_PG_URL;
  const runs = backend === 'sqlite' || url !== undefined;
  (runs ? describe : describe.skip)(`consent-events: a person's number change (${backend})`, () => {
    const NEW = '+4917612345678';
    let dir: ReturnType<typeof tempDir>;
    // A schema per test: each test's store has keys of its own.
    let tests = 0;
    let schema = '';

    const store = () =>
      backend === 'sqlite'
        ? storeNode('store', dir.path)
        : { id: 'store', type: 'consent-store', backend: 'postgres', postgresSchema: schema, purposes: PURPOSES };
    const credentials = () => ({
      store: backend === 'sqlite' ? storeCredentials() : { ...storeCredentials(), postgresUrl: url },
    });

    async function load(nodes: Record<string, unknown>[]): Promise<LedgerHandle> {
      await helper.load(
        [consentStoreNode, consentEventsNode] as never,
        [{ id: 'f1', type: 'tab', label: 'moves' }, store(), ...nodes.map((node) => ({ z: 'f1', ...node }))] as never,
        credentials() as never,
      );
      const ledger = await (helper.getNode('store') as unknown as ConsentStoreNode).getLedger();
      await until(() => ledger.listenerCount('event') > 0, 'consent-events to subscribe');
      return ledger;
    }

    const give = (ledger: LedgerHandle, subject: string) =>
      ledger.giveConsent({ subject, purpose: 'news', wording: WORDING, method: 'keyword', actor: 't' });
    const moveErika = (ledger: LedgerHandle) => ledger.numberChanged({ phone: ERIKA, newPhone: NEW, actor: 't' });

    beforeEach(() => {
      dir = tempDir();
      tests += 1;
      schema = `events_moves_${process.pid}_${tests}`;
    });

    afterEach(async () => {
      await helper.unload();
      dir.remove();
      if (backend !== 'postgres') return;
      const { Client } = await import('pg');
      const client = new Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    });

    it('sends the move with where she went; both numbers only to a node that includes the phone number', async () => {
      const ledger = await load([
        { id: 'events', type: 'consent-events', store: 'store', includePhone: true, wires: [['out']] },
        { id: 'plain', type: 'consent-events', store: 'store', wires: [['plainOut']] },
        { id: 'out', type: 'helper' },
        { id: 'plainOut', type: 'helper' },
      ]);
      const seen = collect('out');
      const plain = collect('plainOut');
      await give(ledger, ERIKA);
      await moveErika(ledger);
      await until(() => seen.length >= 3 && plain.length >= 3, 'the given consent, its end and the move');
      assert.deepEqual(
        seen.map((m) => m.topic),
        ['consent.given', 'consent.withdrawn', 'subject.number-changed'],
      );
      const moved = seen[2].payload as EventPayload;
      assert.equal(moved.pseudonym, (seen[0].payload as EventPayload).pseudonym);
      assert.match(String(moved.to), /^[A-Za-z0-9_-]{16,}$/);
      assert.notEqual(moved.to, moved.pseudonym);
      assert.deepEqual([moved.phone, moved.newPhone], [ERIKA, NEW]);
      const withoutNumbers = plain[2].payload as EventPayload;
      assert.deepEqual(Object.keys(withoutNumbers).sort(), ['at', 'pseudonym', 'to', 'type']);
      // The new number's next event is by the pseudonym the CRM re-keyed her record to.
      await give(ledger, NEW);
      await until(() => seen.length >= 4, 'the consent at her new number');
      assert.equal((seen[3].payload as EventPayload).pseudonym, moved.to);
    });

    it('sends a move Meta delivers again only once', async () => {
      const ledger = await load([
        {
          id: 'events',
          type: 'consent-events',
          store: 'store',
          eventTypes: ['subject.number-changed', 'consent.given'],
          wires: [['out']],
        },
        { id: 'out', type: 'helper' },
      ]);
      const seen = collect('out');
      await moveErika(ledger);
      await moveErika(ledger);
      // Something after both, to know the retry's turn has passed.
      await give(ledger, '+4915123456000');
      await until(() => seen.some((m) => m.topic === 'consent.given'), 'the consent after the retry');
      assert.deepEqual(
        seen.map((m) => m.topic),
        ['subject.number-changed', 'consent.given'],
      );
    });

    it('acknowledging when returned, the move waits for her new number’s event before it, and its next waits for the move', async () => {
      const ledger = await load([
        {
          id: 'events',
          type: 'consent-events',
          store: 'store',
          acknowledge: 'returned',
          redeliverAfter: 60,
          configVersion: 3,
          wires: [['out']],
        },
        { id: 'out', type: 'helper' },
      ]);
      const seen = collect('out');
      const giveBack = (msg: Msg) =>
        helper.getNode('events').receive({ topic: String(msg.topic), eventId: msg.eventId, statusCode: 200 });
      // She wrote from her new number before Meta's webhook of the move came; she stops there after it.
      await give(ledger, NEW);
      await moveErika(ledger);
      await ledger.withdrawConsent({ subject: NEW, purposes: ['news'], channel: 'whatsapp-keyword', actor: 't' });
      const order = ['consent.given', 'subject.number-changed', 'consent.withdrawn'];
      for (const [i, type] of order.entries()) {
        await until(() => seen.length > i, type, 2000);
        await sleep(100);
        assert.deepEqual(
          seen.map((m) => m.topic),
          order.slice(0, i + 1),
          'the next waits for this one',
        );
        giveBack(seen[i]);
      }
    });
  });
}
