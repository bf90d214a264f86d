import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance } from 'axios';
import { classifyApiError } from '../../../lib/cloud-api/errors';
import { keepAliveAdapter, neverSent } from '../../../lib/cloud-api/transport';
import { hang, MockGraph, ok, type Responder } from './mock-graph';

describe('cloud-api transport (the keep-alive adapter)', () => {
  let graph: MockGraph;
  let baseUrl: string;
  const agents: http.Agent[] = [];

  function instance(maxSockets: number): AxiosInstance {
    const pair = { http: new http.Agent({ keepAlive: true, maxSockets }), https: new https.Agent({ keepAlive: true }) };
    agents.push(pair.http, pair.https);
    return axios.create({ baseURL: baseUrl, adapter: keepAliveAdapter(pair), validateStatus: () => true });
  }

  beforeEach(async () => {
    graph = new MockGraph();
    baseUrl = await graph.start();
  });

  afterEach(async () => {
    for (const agent of agents.splice(0)) agent.destroy();
    await graph.stop();
  });

  it('a request waiting for a free socket is not timed out while it waits: the clock starts with its socket', async () => {
    let answerFirst!: () => void;
    const byPath: Record<string, Responder> = {
      '/first': (req, res) => (answerFirst = () => ok('wamid.first')(req, res)),
      '/queued': ok('wamid.queued'),
      '/marker': hang,
    };
    graph.always((req, res) => byPath[req.url](req, res));
    const oneSocket = instance(1);
    const first = oneSocket.post('/first', '{}', { timeout: 60_000 });
    while (!answerFirst) await new Promise((resolve) => setImmediate(resolve));
    let queuedSettled = false;
    const queued = oneSocket.post('/queued', '{}', { timeout: 300 });
    queued.then(
      () => (queuedSettled = true),
      () => (queuedSettled = true),
    );
    // Started after the queued request with the same timeout, on a socket of its own: when its timer has run out,
    // a timer the queued request had started at once would have run out before.
    await assert.rejects(instance(1).post('/marker', '{}', { timeout: 300 }), /timeout/);
    assert.equal(queuedSettled, false, 'still waiting for the socket, not timed out');
    answerFirst();
    await first;
    assert.equal((await queued).status, 200);
  });

  it('a request whose socket never opened fails as never sent, and is classified so', async () => {
    // Holds the host lookup: the request gets its socket, which stays connecting.
    class StalledLookup extends http.Agent {
      override createConnection(...[options, callback]: Parameters<http.Agent['createConnection']>) {
        return super.createConnection({ ...options, lookup: () => undefined }, callback);
      }
    }
    const stalled = new StalledLookup();
    agents.push(stalled);
    const adapter = keepAliveAdapter({ http: stalled, https: new https.Agent() });
    const err = await axios
      .create({ adapter, validateStatus: () => true })
      .post('http://graph.invalid/v25.0/1/messages', '{}', { timeout: 100 })
      .then(
        () => assert.fail('expected a timeout'),
        (e: unknown) => e,
      );
    assert.match(String(err), /timeout/);
    assert.equal(neverSent(err), true);
    const classified = classifyApiError(undefined, undefined, err as Error);
    assert.equal(classified.nothingSent, true);
    assert.equal(classified.retryable, true);
  });

  it('a request node:http refuses to make (a header character it cannot send) fails as never sent, not retryable', async () => {
    graph.always(ok('wamid.never'));
    for (const token of ['EAAGabc…', 'EAAG\u200babc']) {
      const err = await instance(1)
        .post('/messages', '{}', { headers: { Authorization: `Bearer ${token}` } })
        .then(
          () => assert.fail('expected a refusal'),
          (e: unknown) => e,
        );
      assert.equal((err as { code?: string }).code, 'ERR_INVALID_CHAR');
      assert.equal(neverSent(err), true);
      const classified = classifyApiError(undefined, undefined, err as Error);
      assert.equal(classified.nothingSent, true);
      assert.equal(classified.retryable, false);
      assert.doesNotMatch(JSON.stringify(classified), /EAAG/);
    }
    assert.equal(graph.requests.length, 0, 'nothing reached the server');
  });

  it('a request that timed out on an open connection is not marked never sent: it may have arrived', async () => {
    graph.always(hang);
    const err = await instance(1)
      .post('/hang', '{}', { timeout: 300 })
      .then(
        () => assert.fail('expected a timeout'),
        (e: unknown) => e,
      );
    assert.equal(neverSent(err), false);
    assert.equal(classifyApiError(undefined, undefined, err as Error).nothingSent, false);
  });
});
