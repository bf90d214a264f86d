import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import util from 'node:util';
import { CloudApiClient, type CloudApiClientOptions } from '../../../lib/cloud-api/client';
import { toMessageBody } from '../../../lib/cloud-api/schemas';
import { MAX_RESPONSE_BYTES } from '../../../lib/cloud-api/transport';
import { GdprWhatsAppError } from '../../../lib/errors';
import { FakeClock, flush } from './fake-clock';
import { drop, failure, hang, json, MockGraph, metaError, ok, okBody, raw } from './mock-graph';

const TOKEN = 'EAAJBtestTOKENsecret1234567890';
const TO = '+4915112345678';

describe('cloud-api client (against a local HTTP server)', () => {
  let graph: MockGraph;
  let baseUrl: string;
  let sleeps: number[];
  const clients: CloudApiClient[] = [];

  function client(options: Partial<CloudApiClientOptions> = {}): CloudApiClient {
    const c = new CloudApiClient({
      apiBaseUrl: baseUrl,
      apiVersion: 'v25.0',
      phoneNumberId: '106540352242922',
      accessToken: TOKEN,
      throughput: 0,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
      ...options,
    });
    clients.push(c);
    return c;
  }

  beforeEach(async () => {
    graph = new MockGraph();
    baseUrl = await graph.start();
    sleeps = [];
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close(0)));
    await graph.stop();
  });

  function assertNoToken(err: unknown): void {
    const views = [
      JSON.stringify(err),
      util.inspect(err, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
      String(err),
      (err as Error).stack ?? '',
    ];
    for (const view of views) {
      assert.ok(!view.includes(TOKEN), 'token must not appear in the error');
      assert.ok(!view.includes('Bearer'), 'no authorization header in the error');
    }
  }

  it('POSTs the body to /{version}/{phoneNumberId}/messages with the bearer token and parses the result', async () => {
    graph.respond(ok('wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA'));
    const body = toMessageBody(TO, 'Hallo Erika');
    const result = await client().sendMessage(body);
    assert.deepEqual(result, {
      messageId: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA',
      waId: '4915112345678',
      input: TO,
      messageStatus: 'accepted',
      attempts: 1,
    });
    const [req] = graph.requests;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/v25.0/106540352242922/messages');
    assert.equal(req.headers.authorization, `Bearer ${TOKEN}`);
    assert.match(String(req.headers['content-type']), /^application\/json/);
    assert.deepEqual(req.body, body);
  });

  it('sends to a business-scoped user id in recipient and reports the user id Meta answers with', async () => {
    const bsuid = 'US.13491208655302741918';
    graph.respond((_req, res) =>
      json(res, 200, {
        messaging_product: 'whatsapp',
        contacts: [{ input: bsuid, user_id: bsuid }],
        messages: [{ id: 'wamid.bsuid' }],
      }),
    );
    const result = await client().sendMessage(toMessageBody(bsuid, 'Hi'));
    assert.deepEqual(result, {
      messageId: 'wamid.bsuid',
      input: bsuid,
      userId: bsuid,
      waId: undefined,
      messageStatus: undefined,
      attempts: 1,
    });
    const sent = graph.requests[0].body as Record<string, unknown>;
    assert.equal(sent.recipient, bsuid);
    assert.equal('to' in sent, false);
  });

  it('validates first: nothing is sent for an invalid body', async () => {
    const body = toMessageBody(TO, 'x'.repeat(4097));
    await assert.rejects(client().sendMessage(body), (err: unknown) => {
      assert.ok(err instanceof GdprWhatsAppError);
      assert.equal(err.code, 'invalid-message');
      assert.equal(err.params.field, 'text.body');
      return true;
    });
    assert.equal(graph.requests.length, 0);
  });

  it('retries after 130429 and then succeeds', async () => {
    graph.respond(
      metaError(400, 130429, 'Rate limit hit', 'Cloud API message throughput has been reached.'),
      ok('wamid.2'),
    );
    const result = await client().sendMessage(toMessageBody(TO, 'hi'));
    assert.equal(result.messageId, 'wamid.2');
    assert.equal(result.attempts, 2);
    assert.equal(graph.requests.length, 2);
    assert.deepEqual(sleeps, [250], 'one backoff: half (random 0.5) of the 500 ms base');
  });

  it('after 130429 the sender pauses, then sends at half the rate instead of hitting the limit again', async () => {
    const clock = new FakeClock();
    graph.respond(metaError(400, 130429, 'Rate limit hit', 'Cloud API message throughput has been reached.'));
    const c = client({ throughput: 10, clock });
    const retried = c.sendMessage(toMessageBody(TO, 'a'));
    while (sleeps.length < 1) await flush();
    await flush();
    const others = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => c.sendMessage(toMessageBody(`+491511234567${n}`, 'b')));
    for (const other of others) other.catch(() => undefined);
    assert.equal(c.stats().queueLength, 10, 'nothing leaves during the pause, not even the retry');
    clock.advance(1000);
    assert.equal(c.stats().queueLength, 5, 'five of ten in the next second');
    assert.equal((await retried).attempts, 2);
  });

  it('a consent check that does not answer fails its message unsent and frees the connection for the others', async () => {
    const clock = new FakeClock();
    const c = client({ throughput: 4, clock, timeoutMs: 15_000 });
    // Four checks that never answer (a store gone quiet) hold all four of the number's connections.
    const hung = [1, 2, 3, 4].map((n) =>
      c.sendMessage(toMessageBody(`+491511234567${n}`, 'a'), { beforeSend: () => new Promise<void>(() => undefined) }),
    );
    const outcomes = hung.map((p) =>
      p.then(
        () => 'sent',
        (err: GdprWhatsAppError) => err.code,
      ),
    );
    await flush();
    graph.respond(ok('wamid.free'));
    const other = c.sendMessage(toMessageBody(TO, 'b'));
    await flush();
    assert.equal(c.stats().queueLength, 1, 'the other message waits for a connection');
    clock.advance(15_000);
    assert.deepEqual(await Promise.all(outcomes), Array(4).fill('send-check-timeout'));
    assert.equal((await other).messageId, 'wamid.free');
    assert.equal(graph.requests.length, 1, 'nothing of the four reached the API');
  });

  it('a consent check still waiting when the sender closes fails its message as closed, not after the timeout', async () => {
    const c = client({ clock: new FakeClock(), timeoutMs: 15_000 });
    const waiting = c.sendMessage(toMessageBody(TO, 'a'), { beforeSend: () => new Promise<void>(() => undefined) });
    const outcome = waiting.then(
      () => 'sent',
      (err: GdprWhatsAppError) => err.code,
    );
    await flush();
    await c.close(0);
    assert.equal(await outcome, 'closed');
    assert.equal(graph.requests.length, 0);
  });

  it("waits Meta's 4^X seconds after the pair rate limit (131056): 1 s, then 4 s", async () => {
    const pairLimit = metaError(400, 131056, '(Business Account, Consumer Account) pair rate limit hit');
    graph.respond(pairLimit, pairLimit, ok('wamid.3'));
    const result = await client().sendMessage(toMessageBody(TO, 'hi'));
    assert.equal(result.attempts, 3);
    assert.deepEqual(sleeps, [1000, 4000]);
  });

  it('rides out a number in maintenance (131057) for more than the minute Meta names', async () => {
    const maintenance = metaError(400, 131057, 'Account in maintenance mode');
    graph.respond(maintenance, maintenance, maintenance, maintenance, ok('wamid.after-upgrade'));
    const result = await client().sendMessage(toMessageBody(TO, 'hi'));
    assert.equal(result.attempts, 5);
    assert.deepEqual(sleeps, [5500, 11000, 22000, 30000], '5, 10, 20, 30 s plus a tenth (random 0.5), capped at 30 s');
  });

  it('close() ends the wait of a message to be tried again: it is refused at once as never sent', async () => {
    // The wait never ends by itself: only close() can end it. close() is called once the client is waiting (not
    // when the server has the request: the answer may still be on its way, and a closed client does not retry).
    let waiting = false;
    const pairLimit = metaError(400, 131056, 'pair rate limit hit');
    graph.always(pairLimit);
    const c = client({
      sleep: () => {
        waiting = true;
        return new Promise<void>(() => {});
      },
    });
    const sending = c.sendMessage(toMessageBody(TO, 'hi')).then(
      () => assert.fail('sent'),
      (err: unknown) => err,
    );
    while (!waiting) await new Promise((r) => setTimeout(r, 5));
    await c.close(0);
    const err = (await sending) as GdprWhatsAppError;
    assert.equal(err.code, 'closed');
    assert.equal(graph.requests.length, 1);
  });

  it('does not retry 131047 and reports it as not retryable', async () => {
    graph.always(metaError(400, 131047, 'Re-engagement message', 'More than 24 hours have passed.'));
    const c = client();
    const err = await failure(c.sendMessage(toMessageBody(TO, 'hi')));
    assert.equal(err.apiCode, 131047);
    assert.equal(err.retryable, false);
    assert.equal(err.httpStatus, 400);
    assert.deepEqual(err.toJSON(), {
      code: 131047,
      title: 'Re-engagement message',
      details: 'More than 24 hours have passed.',
      retryable: false,
      httpStatus: 400,
      fbtraceId: 'Trace123',
    });
    assert.equal(graph.requests.length, 1);
    assert.deepEqual(sleeps, []);
    const stats = c.stats();
    assert.equal(stats.lastError?.code, 131047);
    assert.equal(stats.lastError?.title, 'Re-engagement message');
    assert.equal(typeof stats.lastError?.at, 'number');
    assertNoToken(err);
  });

  it("retries a gateway's 503 and gives up after maxAttempts", async () => {
    graph.respond(raw(503, '<html>Service Unavailable</html>'), ok('wamid.after-503'));
    assert.equal((await client().sendMessage(toMessageBody(TO, 'a'))).attempts, 2);

    graph.always(raw(503, '<html>Service Unavailable</html>'));
    const err = await failure(
      client({ retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 } }).sendMessage(toMessageBody(TO, 'b')),
    );
    assert.equal(err.apiCode, 0);
    assert.equal(err.httpStatus, 503);
    assert.equal(err.retryable, true);
    assert.equal(err.deliveryUnknown, false);
    assert.equal(graph.requests.length, 2 + 3);
    assert.deepEqual(sleeps.slice(1), [50, 100], 'backoff doubles between attempts');
  });

  for (const status of [500, 502, 504]) {
    it(`a message answered by a gateway's ${status} is not sent again: the API may have taken it`, async () => {
      graph.respond(raw(status, '<html>Gateway</html>'), ok('wamid.would-be-second'));
      const err = await failure(client().sendMessage(toMessageBody(TO, 'a')));
      assert.equal(graph.requests.length, 1, 'a message that may have arrived is not sent twice');
      assert.equal(err.httpStatus, status);
      assert.equal(err.deliveryUnknown, true);
      assert.equal(err.retryable, false, 'a flow must not resend it either');
    });
  }

  it("a gateway's bare 429 turned the message away: it is tried again", async () => {
    graph.respond(raw(429, 'Too Many Requests', 'text/plain'), ok('wamid.after-429'));
    const sent = await client().sendMessage(toMessageBody(TO, 'a'));
    assert.equal(sent.messageId, 'wamid.after-429');
    assert.equal(sent.attempts, 2);
  });

  it("a read receipt answered by a gateway's 502 is tried again: a second one changes nothing", async () => {
    graph.respond(raw(502, '<html>Bad Gateway</html>'), (_req, res) => json(res, 200, { success: true }));
    await client().markRead('wamid.in');
    assert.equal(graph.requests.length, 2);
  });

  it("Meta's own server error is tried again: its code says the message was not taken", async () => {
    graph.respond(metaError(500, 2, 'Service temporarily unavailable'), ok('wamid.after-2'));
    assert.equal((await client().sendMessage(toMessageBody(TO, 'a'))).attempts, 2);
  });

  it('a malformed JSON body: 200 is not retried, 503 is', async () => {
    graph.respond(raw(200, '{"messages": [', 'application/json'));
    const err = await failure(client().sendMessage(toMessageBody(TO, 'a')));
    assert.equal(err.apiCode, 0);
    assert.equal(err.retryable, false, 'a 200 may have sent the message: no blind retry');
    assert.equal(graph.requests.length, 1);

    assert.equal(err.deliveryUnknown, true, 'nor may the flow resend it');

    graph.respond(raw(503, '{not json', 'application/json'), ok('wamid.ok'));
    assert.equal((await client().sendMessage(toMessageBody(TO, 'b'))).messageId, 'wamid.ok');
  });

  it('a message whose connection dropped after it left is not sent again: its delivery is unknown', async () => {
    graph.respond(drop, ok('wamid.would-be-second'));
    const err = await failure(client().sendMessage(toMessageBody(TO, 'a')));
    // The server read the whole request before the connection went: Meta may have taken it.
    assert.equal(graph.requests.length, 1, 'a message that may have arrived is not sent twice');
    assert.equal(err.network, true);
    assert.equal(err.title, 'Connection reset');
    assert.equal(err.deliveryUnknown, true);
    assert.equal(err.retryable, false, 'a flow must not resend it either');
    assert.deepEqual(
      { deliveryUnknown: err.toJSON().deliveryUnknown, retryable: err.toJSON().retryable },
      { deliveryUnknown: true, retryable: false },
    );
    assertNoToken(err);
  });

  it('a reset on a reused keep-alive connection is not retried either: the server may have read the message', async () => {
    graph.respond(ok('wamid.first'), drop, ok('wamid.would-be-second'));
    const c = client();
    assert.equal((await c.sendMessage(toMessageBody(TO, 'a'))).messageId, 'wamid.first');
    const err = await failure(c.sendMessage(toMessageBody(TO, 'b')));
    assert.equal(
      graph.requests[1].socketId,
      graph.requests[0].socketId,
      'the second message went on the reused connection',
    );
    assert.equal(err.deliveryUnknown, true);
    assert.equal(graph.requests.length, 2, 'the server read "b" once and gets it only once');
  });

  it('closes an idle connection itself, so a message does not go out on one the server is closing', async () => {
    graph.respond(ok('wamid.1'), ok('wamid.2'), ok('wamid.3'));
    // Long enough that no pause between two sends in a row on a loaded machine reaches it.
    const c = client({ idleSocketMs: 1_000 });
    await c.sendMessage(toMessageBody(TO, 'a'));
    await c.sendMessage(toMessageBody(TO, 'b'));
    const used = graph.requests[1].socketId;
    while (!graph.closed.has(used)) await new Promise((resolve) => setTimeout(resolve, 20));
    await c.sendMessage(toMessageBody(TO, 'c'));
    const [first, second, third] = graph.requests.map((r) => r.socketId);
    assert.equal(second, first, 'kept alive while in use');
    assert.notEqual(third, first, 'a new connection after the idle time');
  });

  it('the idle limit does not cut a connection that waits for its answer', async () => {
    graph.respond((_req, res) => setTimeout(() => json(res, 200, okBody('wamid.slow')), 150));
    const result = await client({ idleSocketMs: 30, timeoutMs: 2000 }).sendMessage(toMessageBody(TO, 'a'));
    assert.equal(result.messageId, 'wamid.slow');
  });

  it('a read receipt whose connection dropped is sent again (twice is harmless)', async () => {
    graph.respond(drop, (_req, res) => json(res, 200, { success: true }));
    await client().markRead('wamid.inbound-1');
    assert.equal(graph.requests.length, 2);
  });

  it('a refused connection is a retryable network error', async () => {
    await graph.stop();
    const err = await failure(
      client({ retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } }).sendMessage(toMessageBody(TO, 'a')),
    );
    assert.equal(err.title, 'Connection refused');
    assert.equal(err.retryable, true);
    assertNoToken(err);
    graph = new MockGraph();
    await graph.start();
  });

  it('a request without an answer times out', async () => {
    graph.always(hang);
    const err = await failure(
      // Long enough for the request to reach the server on a slow machine before the timer ends it.
      client({ timeoutMs: 1000, retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 } }).sendMessage(
        toMessageBody(TO, 'a'),
      ),
    );
    assert.equal(err.title, 'Request timed out');
    // Issue 7: a timed-out send may still be delivered; sending it again could deliver it twice.
    assert.equal(err.deliveryUnknown, true);
    assert.equal(err.retryable, false);
    assert.equal(graph.requests.length, 1, 'a timed-out message is not sent again');
    assertNoToken(err);
  });

  describe('a connection that never opens (TLS hello unanswered): nothing of the message left', () => {
    let silent: net.Server;
    let connections: net.Socket[];
    let silentUrl: string;

    beforeEach(async () => {
      connections = [];
      silent = net.createServer((socket) => connections.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      silentUrl = `https://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    });

    afterEach(async () => {
      for (const socket of connections) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });

    it('its timeout is retryable and the message is tried again', async () => {
      const c = client({
        apiBaseUrl: silentUrl,
        timeoutMs: 300,
        retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
      });
      const err = await failure(c.sendMessage(toMessageBody(TO, 'a')));
      assert.equal(err.title, 'Request timed out');
      assert.equal(err.deliveryUnknown, false);
      assert.equal(err.retryable, true);
      assert.equal(connections.length, 2, 'tried again on a new connection');
    });

    it('close() aborting it reports the message as not sent', async () => {
      const c = client({ apiBaseUrl: silentUrl, timeoutMs: 60_000 });
      const pending = c.sendMessage(toMessageBody(TO, 'a'));
      while (connections.length === 0) await flush();
      await c.close(10);
      await assert.rejects(pending, (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'closed');
    });
  });

  it('a message beyond the connections in use waits in the queue: counted there, and refused as unsent on close', async () => {
    graph.always(hang);
    const clock = new FakeClock();
    // throughput 4: four connections.
    const c = client({ throughput: 4, clock });
    const sends = [0, 1, 2, 3, 4].map((n) => c.sendMessage(toMessageBody(`+491511234567${n}`, 'offer')));
    for (const send of sends) send.catch(() => undefined);
    while (graph.requests.length < 4) await flush();
    clock.advance(1000);
    await flush();
    assert.equal(c.stats().queueLength, 1, 'the rate would let the fifth go; the connections do not');
    await c.close(10);
    await assert.rejects(sends[4], (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'closed');
    await assert.rejects(
      sends[0],
      (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'closed-in-flight',
    );
    assert.equal(graph.requests.length, 4);
  });

  it('a message waiting for a connection goes out as soon as one is answered', async () => {
    const answers: Array<() => void> = [];
    graph.always((req, res) => answers.push(() => ok(`wamid.${answers.length}`)(req, res)));
    const clock = new FakeClock();
    const c = client({ throughput: 4, clock });
    const sends = [0, 1, 2, 3, 4].map((n) => c.sendMessage(toMessageBody(`+491511234567${n}`, 'offer')));
    while (answers.length < 4) await flush();
    clock.advance(1000);
    answers[0]();
    await sends[0];
    while (answers.length < 5) await flush();
    for (const answer of answers.slice(1)) answer();
    assert.equal((await Promise.all(sends)).length, 5);
  });

  it('the token appears in no error, whatever failed', async () => {
    graph.respond(
      metaError(401, 190, 'Error validating access token', `Session has expired for ${TOKEN.slice(0, 4)}`),
      raw(502, 'x'),
    );
    const c = client({ retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    assertNoToken(await failure(c.sendMessage(toMessageBody(TO, 'a'))));
    assertNoToken(await failure(c.sendMessage(toMessageBody(TO, 'b'))));
    await assert.rejects(c.sendMessage(toMessageBody(TO, '')), (err: unknown) => {
      assertNoToken(err);
      return err instanceof GdprWhatsAppError && err.code === 'invalid-message';
    });
  });

  it('reuses one keep-alive connection across sequential requests', async () => {
    const c = client();
    for (let i = 0; i < 5; i++) await c.sendMessage(toMessageBody(TO, `m${i}`));
    await c.markRead('wamid.in');
    assert.equal(graph.requests.length, 6);
    assert.equal(graph.connections, 1);
    assert.deepEqual(new Set(graph.requests.map((r) => r.socketId)), new Set([1]));
    assert.match(String(graph.requests[0].headers.connection), /keep-alive/i);
  });

  it('markRead posts the read receipt body', async () => {
    graph.always((_req, res) => json(res, 200, { success: true }));
    const c = client();
    await c.markRead('wamid.in1');
    await c.markRead('wamid.in2', true);
    assert.deepEqual(graph.requests[0].body, {
      messaging_product: 'whatsapp',
      status: 'read',
      message_id: 'wamid.in1',
    });
    assert.deepEqual(graph.requests[1].body, {
      messaging_product: 'whatsapp',
      status: 'read',
      message_id: 'wamid.in2',
      typing_indicator: { type: 'text' },
    });
    assert.equal(graph.requests[0].url, '/v25.0/106540352242922/messages');
    assert.equal(graph.requests[0].headers.authorization, `Bearer ${TOKEN}`);
  });

  it('markRead fails with the API error', async () => {
    graph.always(metaError(400, 100, 'Invalid parameter'));
    const err = await failure(client().markRead('wamid.unknown'));
    assert.equal(err.apiCode, 100);
    assert.equal(err.retryable, false);
  });

  it('a token node:http cannot put in a header fails as never sent: not deliveryUnknown, not retried', async () => {
    graph.always(ok('wamid.never'));
    for (const accessToken of ['EAAGabc…', 'EAAG\u200babc']) {
      const c = client({ accessToken });
      const sent = await failure(c.sendMessage(toMessageBody(TO, 'Hallo')));
      assert.equal(sent.deliveryUnknown, false, 'nothing left: it cannot have been delivered');
      assert.equal(sent.nothingSent, true);
      assert.equal(sent.retryable, false);
      assert.equal(sent.code, 'cloud-api-error');
      assert.equal(JSON.stringify(sent).includes('EAAG'), false);
      const read = await failure(c.markRead('wamid.in'));
      assert.equal(read.retryable, false);
    }
    assert.deepEqual(sleeps, [], 'no attempt was repeated');
    assert.equal(graph.requests.length, 0, 'nothing reached the server');
  });

  it('getPhoneNumber reads the number and its local storage region', async () => {
    graph.always((req, res) => {
      if (req.url.startsWith('/v25.0/106540352242922/settings')) {
        json(res, 200, {
          storage_configuration: { status: 'IN_COUNTRY_STORAGE_ENABLED', data_localization_region: 'DE' },
        });
      } else {
        json(res, 200, {
          display_phone_number: '+49 30 1234567',
          verified_name: 'Beispiel GmbH',
          quality_rating: 'GREEN',
          throughput: { level: 'STANDARD' },
          platform_type: 'CLOUD_API',
          id: '106540352242922',
        });
      }
    });
    const info = await client().getPhoneNumber();
    assert.deepEqual(info, {
      displayPhoneNumber: '+49 30 1234567',
      verifiedName: 'Beispiel GmbH',
      qualityRating: 'GREEN',
      throughputLevel: 'STANDARD',
      platformType: 'CLOUD_API',
      storageRegion: 'DE',
      storageStatus: 'IN_COUNTRY_STORAGE_ENABLED',
    });
    const urls = graph.requests.map((r) => new URL(r.url, baseUrl));
    const numberUrl = urls.find((u) => u.pathname === '/v25.0/106540352242922');
    assert.equal(
      numberUrl?.searchParams.get('fields'),
      'display_phone_number,verified_name,quality_rating,throughput,platform_type',
    );
    assert.ok(urls.some((u) => u.pathname === '/v25.0/106540352242922/settings'));
    assert.ok(graph.requests.every((r) => r.method === 'GET' && r.headers.authorization === `Bearer ${TOKEN}`));
  });

  it('getPhoneNumber: default storage means no region (Meta stores in the US)', async () => {
    graph.always((req, res) =>
      req.url.includes('/settings')
        ? json(res, 200, { storage_configuration: { status: 'DEFAULT' } })
        : json(res, 200, { display_phone_number: '+1 555', verified_name: 'X' }),
    );
    const info = await client().getPhoneNumber();
    assert.equal(info.storageRegion, undefined);
    assert.equal(info.storageStatus, 'DEFAULT');
  });

  it('getPhoneNumber fails with the API error when the settings cannot be read', async () => {
    graph.always((req, res) =>
      req.url.includes('/settings')
        ? metaError(403, 200, 'Permissions error')(req, res)
        : json(res, 200, { display_phone_number: '+1 555', verified_name: 'X' }),
    );
    const err = await failure(client().getPhoneNumber());
    assert.equal(err.apiCode, 200);
  });

  it('paces sends to the throughput and reports the queue length', async () => {
    const clock = new FakeClock();
    const c = client({ throughput: 2, clock });
    const sends = [1, 2, 3].map((n) => c.sendMessage(toMessageBody(TO, `m${n}`)));
    await Promise.all(sends.slice(0, 2));
    assert.equal(graph.requests.length, 2);
    assert.equal(c.stats().queueLength, 1);
    clock.advance(1000);
    await sends[2];
    assert.equal(graph.requests.length, 3);
    assert.equal(c.stats().queueLength, 0);
  });

  it('refuses sends beyond maxQueue with queue-full; close rejects the waiting ones', async () => {
    const clock = new FakeClock();
    const c = client({ throughput: 1, maxQueue: 1, clock });
    const first = c.sendMessage(toMessageBody(TO, 'a'));
    const waiting = c.sendMessage(toMessageBody(TO, 'b'));
    await assert.rejects(
      c.sendMessage(toMessageBody(TO, 'c')),
      (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'queue-full',
    );
    await first;
    c.close();
    await assert.rejects(waiting, (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'closed');
    await assert.rejects(
      c.sendMessage(toMessageBody(TO, 'd')),
      (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'closed',
    );
    assert.equal(graph.requests.length, 1);
  });

  it('sends to one recipient one message after the other, and to different recipients side by side', async () => {
    const held = new Map<string, () => void>();
    graph.always((req, res) => {
      const text = (req.body as { text: { body: string } }).text.body;
      held.set(text, () => json(res, 200, okBody(`wamid.${text}`)));
    });
    const c = client({ throughput: 0 });
    const other = '+4917612345678';
    const sends = [
      c.sendMessage(toMessageBody(TO, 'notice')),
      c.sendMessage(toMessageBody(TO, 'message')),
      c.sendMessage(toMessageBody(other, 'hello')),
    ];
    while (graph.requests.length < 2) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const texts = () => graph.requests.map((r) => (r.body as { text: { body: string } }).text.body);
    assert.deepEqual(texts().sort(), ['hello', 'notice'], 'the second message to TO waits for the first');
    held.get('notice')?.();
    while (graph.requests.length < 3) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(texts()[2], 'message');
    for (const [text, release] of held) if (text !== 'notice') release();
    await Promise.all(sends);
  });

  it("runs a failed message's undo before the next message to the recipient starts, and not longer than the timeout", async () => {
    graph.respond(metaError(400, 131026, 'Message undeliverable'), metaError(400, 131026, 'Message undeliverable'));
    graph.always((_req, res) => json(res, 200, okBody('wamid.ok')));
    const c = client({ throughput: 0, timeoutMs: 200 });
    const order: string[] = [];
    const undo = async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      order.push('undo');
    };
    const sent = async (text: string) => {
      const beforeSend = () => {
        order.push(`check ${text}`);
      };
      await c.sendMessage(toMessageBody(TO, text), { onFailure: undo, beforeSend }).catch(() => undefined);
    };
    await Promise.all([sent('notice'), sent('message')]);
    assert.deepEqual(order, ['check notice', 'undo', 'check message', 'undo']);
    // An undo that never ends holds the recipient's turn for the request timeout only.
    const hangs = () => new Promise<void>(() => undefined);
    graph.respond(metaError(400, 131026, 'Message undeliverable'));
    const first = c.sendMessage(toMessageBody(TO, 'a'), { onFailure: hangs });
    const second = c.sendMessage(toMessageBody(TO, 'b'));
    await assert.rejects(first, (err: unknown) => (err as { apiCode?: number }).apiCode === 131026);
    assert.equal((await second).messageId, 'wamid.ok');
  });

  it('a message waiting behind another to the same recipient counts against maxQueue', async () => {
    graph.always(hang);
    const c = client({ throughput: 0, maxQueue: 2 });
    c.sendMessage(toMessageBody(TO, 'a')).catch(() => undefined);
    c.sendMessage(toMessageBody(TO, 'b')).catch(() => undefined);
    c.sendMessage(toMessageBody(TO, 'c')).catch(() => undefined);
    await assert.rejects(
      c.sendMessage(toMessageBody(TO, 'd')),
      (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'queue-full',
    );
  });

  it('refuses an answer larger than any Cloud API answer without reading it into memory', async () => {
    graph.always((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(Buffer.alloc(MAX_RESPONSE_BYTES + 1, 0x20));
    });
    const err = await failure(client().sendMessage(toMessageBody(TO, 'a')));
    assert.equal(err.network, true);
    assert.equal(err.timedOut, false);
  });

  it('with a proxy variable set, sends through the proxy (axios handles it)', async () => {
    const proxied: string[] = [];
    const proxy = http.createServer((req, res) => {
      proxied.push(String(req.url));
      json(res, 200, okBody('wamid.proxied'));
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const saved = process.env.HTTP_PROXY;
    process.env.HTTP_PROXY = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const result = await client().sendMessage(toMessageBody(TO, 'a'));
      assert.equal(result.messageId, 'wamid.proxied');
      assert.deepEqual(proxied, [`${baseUrl}/v25.0/106540352242922/messages`], 'the proxy got the absolute URL');
      assert.equal(graph.requests.length, 0, 'nothing went to the API directly');
    } finally {
      if (saved === undefined) delete process.env.HTTP_PROXY;
      else process.env.HTTP_PROXY = saved;
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('messages waiting behind another to one recipient and those in the queue share one bound', async () => {
    graph.always(hang);
    const c = client({ throughput: 1, maxQueue: 2, clock: new FakeClock() });
    const ignore = () => undefined;
    c.sendMessage(toMessageBody(TO, 'a')).catch(ignore);
    c.sendMessage(toMessageBody(TO, 'b')).catch(ignore);
    c.sendMessage(toMessageBody('+4917612345678', 'c')).catch(ignore);
    await assert.rejects(
      c.sendMessage(toMessageBody('+4915223456789', 'd')),
      (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'queue-full',
    );
    assert.equal(c.stats().queueLength, 2);
  });

  it('close aborts a request still unanswered after its grace, saying the message may have been delivered', async () => {
    graph.always(hang);
    const c = client();
    const pending = c.sendMessage(toMessageBody(TO, 'a'));
    while (graph.requests.length === 0) await new Promise((resolve) => setImmediate(resolve));
    await c.close(50);
    await assert.rejects(
      pending,
      (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'closed-in-flight',
    );
  });

  it('close lets a request in flight finish, refuses waiting messages as unsent and starts no new request', async () => {
    const answers: (() => void)[] = [];
    graph.always((req, res) => answers.push(() => ok(`wamid.${graph.requests.length}`)(req, res)));
    // A fake clock: the second message waits for its turn however long the first takes to reach the server.
    const c = client({ throughput: 1, clock: new FakeClock() });
    const onItsWay = c.sendMessage(toMessageBody(TO, 'a'));
    const waiting = c.sendMessage(toMessageBody('+4917612345678', 'b'));
    while (answers.length === 0) await new Promise((resolve) => setImmediate(resolve));
    const closing = c.close(10_000);
    await assert.rejects(waiting, (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'closed');
    answers[0]();
    assert.match((await onItsWay).messageId, /^wamid\./, 'Meta took it: the flow hears that it was sent');
    await closing;
    assert.equal(graph.requests.length, 1, 'nothing left after close began');
    await assert.rejects(
      c.sendMessage(toMessageBody(TO, 'c')),
      (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'closed',
    );
  });
});
