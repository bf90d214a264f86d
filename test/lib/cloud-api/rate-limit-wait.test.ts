import assert from 'node:assert/strict';
import { CloudApiClient } from '../../../lib/cloud-api/client';
import { toMessageBody } from '../../../lib/cloud-api/schemas';
import { waitHintMs } from '../../../lib/cloud-api/wait-hint';
import { FakeClock } from './fake-clock';
import { failure, MockGraph, metaError, ok } from './mock-graph';

const TO = '+4915112345678';
const OTHER = '+4917612345678';
const NOW = Date.parse('2026-11-29T12:00:00Z');

/** Meta's business use case usage header, as the WABA rate limit (80007) answers with it. */
function usage(minutes: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    '102290129340398': [
      {
        type: 'whatsapp_business_management',
        call_count: 100,
        total_cputime: 12,
        total_time: 14,
        estimated_time_to_regain_access: minutes,
        ...extra,
      },
    ],
  });
}

describe('waitHintMs: the wait a rate-limited answer names', () => {
  it('reads estimated_time_to_regain_access (minutes) from X-Business-Use-Case-Usage, the longest entry winning', () => {
    const header = JSON.stringify({
      a: [{ type: 'whatsapp_business_management', estimated_time_to_regain_access: 2 }],
      b: [
        { type: 'whatsapp_business_messaging', estimated_time_to_regain_access: 7 },
        { type: 'x', estimated_time_to_regain_access: 0 },
      ],
    });
    assert.equal(waitHintMs({ 'x-business-use-case-usage': header }, NOW), 7 * 60_000);
    assert.equal(waitHintMs({ 'X-Business-Use-Case-Usage': usage(3) }, NOW), 3 * 60_000, 'any header case');
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    assert.equal(waitHintMs({ 'retry-after': '30' }, NOW), 30_000);
    assert.equal(waitHintMs({ 'retry-after': new Date(NOW + 90_000).toUTCString() }, NOW), 90_000);
  });

  it('takes the longest of both headers and never more than a day', () => {
    assert.equal(waitHintMs({ 'retry-after': '30', 'x-business-use-case-usage': usage(1) }, NOW), 60_000);
    assert.equal(waitHintMs({ 'retry-after': String(10 ** 9) }, NOW), 24 * 60 * 60 * 1000);
  });

  it('names no wait for what it cannot read, for zero and for a date in the past', () => {
    for (const headers of [
      {},
      { 'x-business-use-case-usage': '{not json' },
      { 'x-business-use-case-usage': '"text"' },
      { 'x-business-use-case-usage': JSON.stringify({ a: 'not a list' }) },
      { 'x-business-use-case-usage': JSON.stringify({ a: [null, { estimated_time_to_regain_access: 'soon' }] }) },
      { 'x-business-use-case-usage': usage(0) },
      { 'retry-after': '-5' },
      { 'retry-after': 'later' },
      { 'retry-after': new Date(NOW - 60_000).toUTCString() },
    ]) {
      assert.equal(waitHintMs(headers, NOW), undefined, JSON.stringify(headers));
    }
  });
});

describe('cloud-api client: the wait Meta names after a rate limit', () => {
  let graph: MockGraph;
  let baseUrl: string;
  let clock: FakeClock;
  let sleeps: number[];
  const clients: CloudApiClient[] = [];

  function client(
    number: { phoneNumberId: string; accessToken: string; wabaId?: string } = {
      phoneNumberId: '106540352242922',
      accessToken: 'rate-limit-test-token-7f3a',
    },
  ) {
    const c = new CloudApiClient({
      apiBaseUrl: baseUrl,
      apiVersion: 'v25.0',
      ...number,
      throughput: 0,
      clock,
      // The wait passes on the fake clock at once.
      sleep: async (ms) => {
        sleeps.push(ms);
        clock.advance(ms);
      },
      random: () => 0.5,
    });
    clients.push(c);
    return c;
  }

  beforeEach(async () => {
    graph = new MockGraph();
    baseUrl = await graph.start();
    clock = new FakeClock();
    sleeps = [];
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close(0)));
    await graph.stop();
  });

  it('80007 with minutes to wait: not tried again, and the next messages are refused without a request', async () => {
    graph.respond(
      metaError(400, 80007, 'Rate limit issues', 'The WhatsApp Business Account has reached its rate limit', {
        'X-Business-Use-Case-Usage': usage(2),
      }),
    );
    const c = client();
    const first = await failure(c.sendMessage(toMessageBody(TO, 'a')));
    assert.equal(first.apiCode, 80007);
    assert.equal(first.retryable, true, 'worth sending again, later');
    assert.equal(first.retryAfterMs, 120_000);
    assert.deepEqual(sleeps, [], 'a two-minute wait is not spent holding the message');
    assert.equal(graph.requests.length, 1);
    assert.equal(first.toJSON().retryAfterMs, 120_000, 'msg.error carries the wait');
    assert.equal('held' in first.toJSON(), false, 'this one reached the API');

    clock.advance(30_000);
    let rechecked = false;
    const beforeSend = async () => {
      rechecked = true;
    };
    const held = await failure(c.sendMessage(toMessageBody(OTHER, 'b'), { beforeSend }));
    assert.equal(rechecked, false, 'refused before it queued: no consent recheck, no ledger read');
    assert.equal(held.apiCode, 80007);
    assert.equal(held.retryAfterMs, 90_000, 'the wait left');
    assert.equal(held.deliveryUnknown, false);
    assert.match(held.details, /Not sent/);
    assert.equal(held.toJSON().held, true, 'a flow tells it from the failure that started the wait');
    assert.equal(graph.requests.length, 1, 'nothing reached the API while Meta asked to wait');

    clock.advance(90_000);
    graph.respond(ok('wamid.after'));
    assert.equal((await c.sendMessage(toMessageBody(OTHER, 'c'))).messageId, 'wamid.after');
    assert.equal(graph.requests.length, 2);
  });

  it('code 4 with a wait within the policy: waits exactly that long, then sends', async () => {
    graph.respond(
      metaError(400, 4, 'Application request limit reached', '', { 'Retry-After': '20' }),
      ok('wamid.later'),
    );
    const result = await client().sendMessage(toMessageBody(TO, 'a'));
    assert.equal(result.messageId, 'wamid.later');
    assert.equal(result.attempts, 2);
    assert.deepEqual(sleeps, [20_000], "Meta's wait instead of the 250 ms backoff");
  });

  it("the account's limit holds the account's numbers; the app's those of its token; a number's only that number", async () => {
    const token = 'rate-limit-test-token-7f3a';
    const first = client({ phoneNumberId: '106540352242922', accessToken: token, wabaId: '102290129340398' });
    const sameAccount = client({ phoneNumberId: '106540352242923', accessToken: token, wabaId: '102290129340398' });
    const otherAccount = client({ phoneNumberId: '106540352242924', accessToken: token, wabaId: '102290129340399' });
    const otherApp = client({ phoneNumberId: '106540352242925', accessToken: 'another-app-token-0c1d' });
    const limit = (code: number, title: string) =>
      metaError(400, code, title, title, { 'X-Business-Use-Case-Usage': usage(2) });
    graph.respond(limit(80007, 'Rate limit issues'));
    await failure(first.sendMessage(toMessageBody(TO, 'a')));
    const held = await failure(sameAccount.sendMessage(toMessageBody(OTHER, 'b')));
    assert.equal(held.held, true, 'the same account: refused without a request');
    assert.equal(held.retryAfterMs, 120_000);
    assert.equal(graph.requests.length, 1);
    graph.respond(ok('wamid.other-account'));
    assert.equal((await otherAccount.sendMessage(toMessageBody(OTHER, 'c'))).messageId, 'wamid.other-account');

    clock.advance(120_000);
    graph.respond(limit(4, 'Application request limit reached'));
    await failure(otherAccount.sendMessage(toMessageBody(OTHER, 'd')));
    assert.equal((await failure(first.sendMessage(toMessageBody(TO, 'e')))).held, true, "the app's limit: any account");
    graph.respond(ok('wamid.other-app'));
    assert.equal((await otherApp.sendMessage(toMessageBody(OTHER, 'f'))).messageId, 'wamid.other-app');

    clock.advance(120_000);
    graph.respond(metaError(400, 130429, 'Rate limit hit', 'Throughput reached', { 'Retry-After': '120' }));
    await failure(first.sendMessage(toMessageBody(TO, 'g')));
    graph.respond(ok('wamid.same-account'));
    assert.equal((await sameAccount.sendMessage(toMessageBody(OTHER, 'h'))).messageId, 'wamid.same-account');
    assert.equal((await failure(first.sendMessage(toMessageBody(TO, 'i')))).held, true, "but still the first's");
  });

  it("the pair rate limit (131056) keeps Meta's 4^X schedule and holds back nobody else", async () => {
    graph.respond(
      metaError(400, 131056, '(Business Account, Consumer Account) pair rate limit hit', '', { 'Retry-After': '600' }),
      ok('wamid.retried'),
      ok('wamid.other'),
    );
    const c = client();
    assert.equal((await c.sendMessage(toMessageBody(TO, 'a'))).messageId, 'wamid.retried');
    assert.deepEqual(sleeps, [1000]);
    assert.equal((await c.sendMessage(toMessageBody(OTHER, 'b'))).messageId, 'wamid.other');
  });

  it("a gateway's bare 429 with Retry-After: that wait, then the message goes", async () => {
    graph.respond((_req, res) => {
      res.writeHead(429, { 'Content-Type': 'text/plain', 'Retry-After': '2' });
      res.end('Too Many Requests');
    }, ok('wamid.after-wait'));
    const c = client();
    assert.equal((await c.sendMessage(toMessageBody(TO, 'a'))).messageId, 'wamid.after-wait');
    assert.deepEqual(sleeps, [2000]);
  });

  it('a wait named on a server error is not a rate limit: the usual backoff, nothing held back', async () => {
    graph.respond(
      metaError(500, 131000, 'Something went wrong', '', { 'Retry-After': '3600' }),
      ok('wamid.after-backoff'),
      ok('wamid.other'),
    );
    const c = client();
    assert.equal((await c.sendMessage(toMessageBody(TO, 'a'))).messageId, 'wamid.after-backoff');
    assert.deepEqual(sleeps, [250], 'half (random 0.5) of the 500 ms base, not an hour');
    assert.equal((await c.sendMessage(toMessageBody(OTHER, 'b'))).messageId, 'wamid.other');
  });

  it('a wait named on a successful answer or on a permanent error holds nothing back', async () => {
    graph.respond(
      (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json', 'X-Business-Use-Case-Usage': usage(30) });
        res.end(JSON.stringify({ messaging_product: 'whatsapp', messages: [{ id: 'wamid.1' }] }));
      },
      metaError(400, 131047, 'Re-engagement message', '', { 'Retry-After': '600' }),
      ok('wamid.3'),
    );
    const c = client();
    assert.equal((await c.sendMessage(toMessageBody(TO, 'a'))).messageId, 'wamid.1');
    const permanent = await failure(c.sendMessage(toMessageBody(TO, 'b')));
    assert.equal(permanent.retryable, false);
    assert.equal(permanent.retryAfterMs, undefined, 'no invitation to send a permanent failure again');
    assert.equal('retryAfterMs' in permanent.toJSON(), false);
    assert.equal((await c.sendMessage(toMessageBody(TO, 'c'))).messageId, 'wamid.3');
    assert.equal(graph.requests.length, 3);
  });
});
