import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { LedgerHandle } from '../../lib/consent/threaded-ledger';
import { openSqliteDatabase } from '../../lib/store/sqlite-driver';
import consentEventsNode from '../../nodes/consent-events';
import consentStoreNode, { type ConsentStoreNode } from '../../nodes/consent-store';
import { coreNode, helper } from '../helpers/node-red';
import { callsOf, collect, type Msg, sleep, storeCredentials, tempDir } from '../nodes/consent-fixtures';

/**
 * The CRM part of examples 09 and 10 (10 is what `npm start` deploys) as it is in the file, in Node-RED's own
 * function, http request, switch, change and catch nodes, against a CRM that is down for a while: a withdrawal it
 * answered with 503, then did not answer at all, is sent again until the CRM takes it, and only then let go in the
 * store; one it refuses for good goes to the dead letters for a person before it is let go. Only the debug nodes are
 * test helpers (to see what reached them), the store a fresh file and the redelivery time 1 s instead of 60.
 */
const EXAMPLES = ['09-crm-sync.json', '10-complete-bot.json'];
const ERIKA = '+4915123456789';
const STAFF_TOKEN = 'crm-test-staff-token-0123456789';

type FlowNode = Record<string, unknown> & { id: string; type: string; wires?: string[][]; scope?: string[] | null };

/** The consent-events node that feeds the CRM, everything downstream of it, and the catch nodes that watch them. */
function crmPart(flow: FlowNode[]): { events: FlowNode; nodes: FlowNode[] } {
  const byId = new Map(flow.map((n) => [n.id, n]));
  const reachable = (start: string[]): Set<string> => {
    const seen = new Set<string>();
    const queue = [...start];
    while (queue.length > 0) {
      const id = queue.shift() as string;
      if (seen.has(id) || !byId.has(id)) continue;
      seen.add(id);
      queue.push(...((byId.get(id) as FlowNode).wires ?? []).flat());
    }
    return seen;
  };
  const events = flow.find(
    (n) => n.type === 'consent-events' && [...reachable([n.id])].some((id) => byId.get(id)?.type === 'http request'),
  );
  assert.ok(events, 'the example has a consent-events node that feeds an http request');
  const part = reachable([events.id]);
  for (const node of flow.filter((n) => n.type === 'catch')) {
    if ((node.scope ?? []).some((id) => part.has(id))) for (const id of reachable([node.id])) part.add(id);
  }
  return { events, nodes: flow.filter((n) => part.has(n.id)) };
}

/**
 * Where the example keeps what a person must look at: the node the catch for consent-events (given-up events) leads
 * to, and the debug node after it that shows what it kept.
 */
function deadLetters(nodes: FlowNode[], events: FlowNode): { start: string; shown: string } {
  const catches = nodes.filter((n) => n.type === 'catch' && (n.scope ?? []).includes(events.id));
  assert.equal(catches.length, 1, 'a catch node for the consent-events node');
  const start = catches[0].wires?.[0]?.[0];
  assert.ok(start, 'wired to a dead-letter branch');
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const queue = [start];
  for (const seen = new Set<string>(); queue.length > 0; ) {
    const id = queue.shift() as string;
    if (seen.has(id) || id === events.id) continue;
    seen.add(id);
    const node = byId.get(id) as FlowNode;
    if (node.type === 'debug') return { start, shown: id };
    queue.push(...(node.wires ?? []).flat());
  }
  assert.fail('the dead letters are shown in a debug node');
}

interface CrmCall {
  event: string;
  eventId: number;
  idempotencyKey: string | undefined;
  authorization: string | undefined;
  answer: number | 'no answer';
}

/** A CRM that answers each call as `answer` says; 'no answer' drops the connection (a CRM that is unreachable). */
async function mockCrm(answer: (body: { event: string }, calls: CrmCall[]) => number | 'no answer') {
  const calls: CrmCall[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => {
      raw += chunk;
    });
    req.on('end', () => {
      const body = JSON.parse(raw) as { event: string; eventId: number };
      const status = answer(body, calls);
      const key = req.headers['idempotency-key'];
      calls.push({
        event: body.event,
        eventId: body.eventId,
        idempotencyKey: key as string,
        authorization: req.headers.authorization,
        answer: status,
      });
      if (status === 'no answer') {
        req.socket.destroy();
        return;
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  return { url, calls, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function until(predicate: () => boolean, what: string, ms: number): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (predicate()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

for (const file of EXAMPLES) {
  describe(`example ${file.slice(0, 2)}: the CRM part loses no consent event to a CRM that is down`, function () {
    this.timeout(30000);
    const EXAMPLE = path.resolve(__dirname, '..', '..', '..', 'examples', file);
    let dir: ReturnType<typeof tempDir>;
    let crm: Awaited<ReturnType<typeof mockCrm>>;

    // The helper registers its own catch module once per catch node in the flow, and the example has two: a second
    // registration of the type in one load is refused, so it is done once.
    const modules = (helper as unknown as { _nodeModules: Record<string, (red: unknown) => unknown> })._nodeModules;
    const registerCatch = modules.catch;

    beforeEach(() => {
      dir = tempDir();
      // Set as npm start sets it: the flow must keep it from a CRM of its own (CRM_URL).
      process.env.WA_GDPR_STAFF_TOKEN = STAFF_TOKEN;
      let registered = false;
      modules.catch = (red) => {
        if (registered) return undefined;
        registered = true;
        return registerCatch(red);
      };
    });

    afterEach(async () => {
      delete process.env.WA_GDPR_STAFF_TOKEN;
      modules.catch = registerCatch;
      await helper.unload();
      await crm?.close();
      dir.remove();
    });

    /** Where the consent-events node stands in the store's event feed: the newest event the store let go. */
    function acknowledgedUpTo(eventsId: string): number {
      const { db } = openSqliteDatabase(path.join(dir.path, 'store.db'));
      try {
        const row = db
          .prepare('SELECT last_id FROM event_cursors WHERE consumer = ?')
          .get(`consent-events:${eventsId}`);
        return row === undefined ? 0 : Number((row as { last_id: number }).last_id);
      } finally {
        db.close();
      }
    }

    /**
     * The example as in the file, reaching the CRM through CRM_URL (`crm-url`); as an integrator adapts it by the
     * comment's "replace the function's URL": CRM_URL left empty and the CRM's address written into the function
     * (`url-in-function`); or as imported, CRM_URL empty, with its own stand-in not answering (`stand-in-down`).
     */
    async function load(reaching: 'crm-url' | 'url-in-function' | 'stand-in-down' = 'crm-url'): Promise<{
      ledger: LedgerHandle;
      acked: (id: number) => boolean;
      events: FlowNode;
      nodes: FlowNode[];
    }> {
      const flow = JSON.parse(fs.readFileSync(EXAMPLE, 'utf8')) as FlowNode[];
      const tab = flow.find((n) => n.type === 'tab') as FlowNode;
      const store = flow.find((n) => n.type === 'consent-store') as FlowNode;
      const { events, nodes } = crmPart(flow);
      const env = [...((tab.env as { name: string }[]) ?? []).filter((e) => e.name !== 'CRM_URL')];
      await helper.load(
        [
          consentStoreNode,
          consentEventsNode,
          coreNode('function/10-function.js'),
          coreNode('function/10-switch.js'),
          coreNode('function/15-change.js'),
          coreNode('network/21-httprequest.js'),
        ] as never,
        [
          {
            ...tab,
            env:
              reaching === 'crm-url'
                ? [...env, { name: 'CRM_URL', value: crm.url, type: 'str' }]
                : reaching === 'stand-in-down'
                  ? [...env, { name: 'PORT', value: '1', type: 'str' }]
                  : env,
          },
          { ...store, sqlitePath: path.join(dir.path, 'store.db') },
          ...nodes.map((node) => {
            if (node.id === events.id) return { ...node, redeliverAfter: 1 };
            if (reaching === 'url-in-function' && node.type === 'function' && /^msg\.url = /m.test(String(node.func))) {
              return { ...node, func: String(node.func).replace(/^msg\.url = .*$/m, `msg.url = '${crm.url}';`) };
            }
            // A debug node is a helper here, so the test sees what reached it.
            if (node.type === 'debug') return { id: node.id, z: node.z, type: 'helper', name: node.name };
            return node;
          }),
        ] as never,
        { [store.id]: storeCredentials() } as never,
      );
      const ledger = await (helper.getNode(store.id) as unknown as ConsentStoreNode).getLedger();
      await until(() => ledger.listenerCount('event') > 0, 'consent-events to subscribe', 5000);
      return { ledger, acked: (id) => acknowledgedUpTo(events.id) >= id, events, nodes };
    }

    it('sends a withdrawal again after a 503 and after no answer, until the CRM takes it, and only then lets it go', async () => {
      // The consent is taken at once; the withdrawal is answered 503 first, then not at all, then taken (200).
      crm = await mockCrm((body, calls) => {
        if (body.event !== 'consent.withdrawn') return 200;
        const before = calls.filter((c) => c.event === 'consent.withdrawn').length;
        return before === 0 ? 503 : before === 1 ? 'no answer' : 200;
      });
      const { ledger, acked } = await load();
      await ledger.giveConsent({ subject: ERIKA, purpose: 'newsletter', wording: 'x', method: 'keyword', actor: 't' });
      await until(() => crm.calls.length >= 1, 'the consent at the CRM', 5000);
      const given = crm.calls[0];
      assert.equal(given.event, 'consent.given');

      await ledger.withdrawConsent({ subject: ERIKA, purposes: ['newsletter'], channel: 'api', actor: 't' });
      const withdrawals = () => crm.calls.filter((c) => c.event === 'consent.withdrawn');
      await until(() => withdrawals().length >= 1, 'the withdrawal at the CRM', 5000);
      await sleep(300);
      assert.equal(acked(withdrawals()[0].eventId), false, 'a withdrawal the CRM answered with 503 is kept');
      await until(() => withdrawals().length >= 3, 'the withdrawal sent again until the CRM takes it', 15000);
      const [first, second, third] = withdrawals();
      assert.deepEqual([first.answer, second.answer, third.answer], [503, 'no answer', 200], JSON.stringify(crm.calls));
      assert.ok(acked(given.eventId), 'the consent was let go once the CRM took it');
      assert.ok(first.eventId > given.eventId);
      assert.deepEqual(
        [second.eventId, third.eventId],
        [first.eventId, first.eventId],
        'the same event each time, named by its id',
      );
      assert.ok(first.idempotencyKey?.endsWith(`-${first.eventId}`), `Idempotency-Key ${first.idempotencyKey}`);
      assert.equal(new Set(withdrawals().map((c) => c.idempotencyKey)).size, 1, 'the same key each time');
      await until(() => acked(first.eventId), 'the withdrawal let go once the CRM took it', 5000);
      await sleep(1500);
      assert.equal(withdrawals().length, 3, 'not sent again once taken');
    });

    it('keeps an event the CRM refuses for good (422) for a person before it lets it go; the events after it go on', async () => {
      crm = await mockCrm((body) => (body.event === 'consent.given' ? 422 : 200));
      const { ledger, acked, events, nodes } = await load();
      const dead = deadLetters(nodes, events);
      const kept = collect(dead.shown);
      const warnings = () => callsOf('warn', dead.start).map((args) => String(args[0]));
      // Whether the person was told by the time the store let the refused event go.
      const toldWhenLetGo: boolean[] = [];
      const acknowledge = ledger.acknowledgeEvents.bind(ledger);
      ledger.acknowledgeEvents = (consumer, options) => {
        toldWhenLetGo.push(warnings().length > 0);
        return acknowledge(consumer, options);
      };
      await ledger.giveConsent({ subject: ERIKA, purpose: 'newsletter', wording: 'x', method: 'keyword', actor: 't' });
      await ledger.withdrawConsent({ subject: ERIKA, purposes: ['newsletter'], channel: 'api', actor: 't' });
      await until(() => crm.calls.some((c) => c.event === 'consent.withdrawn'), 'the withdrawal behind it', 5000);
      const [given, withdrawn] = crm.calls;
      assert.deepEqual(
        crm.calls.map((c) => [c.event, c.answer]),
        [
          ['consent.given', 422],
          ['consent.withdrawn', 200],
        ],
      );
      await until(() => kept.length > 0, 'the refused event in the dead letters', 5000);
      const record = kept[0].payload as Record<string, unknown>;
      const pseudonym = (await ledger.getConsent(ERIKA, 'newsletter'))?.pseudonym;
      assert.deepEqual(
        [record.eventId, record.event, record.pseudonym, record.crmStatus, record.reason],
        [given.eventId, 'consent.given', pseudonym, 422, 'refused'],
        JSON.stringify(record),
      );
      assert.doesNotMatch(JSON.stringify(kept), /4915123456789/, 'no number in the dead letters');
      // In the Node-RED log too, which outlives the editor's debug sidebar: the event, the answer, in both languages.
      assert.equal(warnings().length, 1, warnings().join('\n'));
      assert.match(warnings()[0], new RegExp(`\\b${given.eventId}\\b.*consent\\.given.*\\b422\\b`));
      assert.match(warnings()[0], / \/ .*Ereignis/);
      await until(() => acked(withdrawn.eventId), 'both let go', 5000);
      assert.ok(toldWhenLetGo.length > 0 && toldWhenLetGo.every(Boolean), 'let go only once it was kept for a person');
      assert.ok(given.eventId < withdrawn.eventId);
      await sleep(1500);
      assert.equal(crm.calls.length, 2, 'neither is sent again');
      assert.equal(kept.length, 1, 'kept once');
    });

    it('keeps an event it gives up in the same dead letters, and does not let it go from there', async () => {
      crm = await mockCrm(() => 200);
      const { acked, events, nodes } = await load();
      const dead = deadLetters(nodes, events);
      const kept = collect(dead.shown);
      const wiredBack = collect(events.id);
      // What consent-events does with a given-up event (see its own tests): an error with code event-given-up and the
      // event's message; it settles the event itself.
      helper.getNode(events.id).error(Object.assign(new Error('given up'), { code: 'event-given-up' }), {
        topic: 'consent.withdrawn',
        payload: { type: 'consent.withdrawn', pseudonym: 'p-given-up', at: 0 },
        eventId: 7,
        attempts: 5,
      } as Msg);
      await until(() => kept.length > 0, 'the given-up event in the dead letters', 2000);
      const record = kept[0].payload as Record<string, unknown>;
      assert.deepEqual(
        [record.eventId, record.event, record.pseudonym, record.attempts, record.reason],
        [7, 'consent.withdrawn', 'p-given-up', 5, 'given-up'],
        JSON.stringify(record),
      );
      assert.match(String(callsOf('warn', dead.start)[0]?.[0]), /\b7\b.*consent\.withdrawn/);
      await sleep(200);
      assert.deepEqual(wiredBack, [], 'consent-events settled it already: nothing to wire back');
      assert.equal(acked(7), false);
    });

    it('keeps no dead letter for another error of consent-events (an id wired back wrong)', async () => {
      crm = await mockCrm(() => 200);
      const { events, nodes } = await load();
      const dead = deadLetters(nodes, events);
      const kept = collect(dead.shown);
      helper.getNode(events.id).error(Object.assign(new Error('bad id'), { code: 'invalid-event-id' }), {
        eventId: 'not a number',
      } as Msg);
      await sleep(300);
      assert.deepEqual(kept, [], 'no dead letter for it');
      assert.deepEqual(callsOf('warn', dead.start), [], 'no "event undefined" warning');
    });

    it('sends the staff token to its own stand-in only, never to a CRM of its own (CRM_URL)', async () => {
      crm = await mockCrm(() => 200);
      const { ledger } = await load();
      await ledger.giveConsent({ subject: ERIKA, purpose: 'newsletter', wording: 'x', method: 'keyword', actor: 't' });
      await until(() => crm.calls.length > 0, 'the consent at the CRM', 5000);
      assert.equal(crm.calls[0].authorization, undefined);
    });

    it('shows no staff token when its own stand-in does not answer, on the catch nor on the output path', async () => {
      crm = await mockCrm(() => 200);
      const { ledger, nodes } = await load('stand-in-down');
      const down = nodes.find((n) => n.type === 'debug' && /busy or down/.test(String(n.name)));
      assert.ok(down, 'a debug node for a CRM that is down');
      const shown = collect(down.id);
      await ledger.giveConsent({ subject: ERIKA, purpose: 'newsletter', wording: 'x', method: 'keyword', actor: 't' });
      // The http request node reports it to the catch node and sends it on its output (statusCode ECONNREFUSED) too.
      await until(() => shown.length >= 2, 'the unanswered call shown from both paths', 5000);
      assert.ok(shown.some((m) => /ECONNREFUSED/.test(String((m.error as { message?: string })?.message))));
      assert.ok(
        shown.some((m) => m.statusCode === 'ECONNREFUSED'),
        JSON.stringify(shown),
      );
      assert.doesNotMatch(JSON.stringify(shown), new RegExp(STAFF_TOKEN));
    });

    it('sends the staff token to no CRM whose address is written into the function, CRM_URL left empty', async () => {
      crm = await mockCrm(() => 200);
      const { ledger } = await load('url-in-function');
      await ledger.giveConsent({ subject: ERIKA, purpose: 'newsletter', wording: 'x', method: 'keyword', actor: 't' });
      await until(() => crm.calls.length > 0, 'the consent at the CRM', 5000);
      assert.equal(crm.calls[0].authorization, undefined);
    });
  });
}
