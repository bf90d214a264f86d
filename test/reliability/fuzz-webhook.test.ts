import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { MemoryDedupeStore, messageDedupeKey, statusDedupeKey } from '../../lib/webhook/dedupe';
import { MAX_WEBHOOK_DEPTH } from '../../lib/webhook/handler';
import { normaliseWebhook, WHATSAPP_OBJECT } from '../../lib/webhook/normalise';
import { escapeNonAscii, signPayload } from '../../lib/webhook/signature';
import { RealNodeRed } from '../helpers/real-node-red';
import { callsOf, storeCredentials, until } from '../nodes/consent-fixtures';
import { type RawAnswer, rawRequest } from './fuzz-support/http';
import { assertProperty, runs } from './fuzz-support/property';
import { type StoreState, storeState } from './fuzz-support/store-state';
import {
  APP_SECRET,
  emitted,
  PHONE_NUMBER_ID,
  startWebhookTarget,
  VERIFY_TOKEN,
  WEBHOOK_PATH,
  type WebhookTarget,
} from './fuzz-support/webhook-target';

/**
 * Issue 7, webhook fuzzing: arbitrary bodies, headers, signatures, encodings, nesting and sizes against a
 * whatsapp-webhook on a real socket. The answer follows the order of the checks (size 413, signature 401,
 * JSON 400, object type 400, else 200); a refused request changes no row of the consent store and emits
 * nothing; an accepted one emits exactly what Meta's payload holds. Set FC_SEED to replay a failure
 * (fast-check prints the seed and path in its report).
 */
const RUNS = runs(250);
const MAX_BYTES = 16384;

type SignatureKind =
  | 'valid'
  | 'valid-upper'
  | 'valid-padded'
  | 'meta-escaped'
  | 'none'
  | 'empty'
  | 'garbage'
  | 'wrong-secret'
  | 'other-body'
  | 'sha1'
  | 'truncated'
  | 'duplicated';

const VALID_SIGNATURES: ReadonlySet<SignatureKind> = new Set(['valid', 'valid-upper', 'valid-padded', 'meta-escaped']);

type Encoding = 'utf8' | 'utf8-bom' | 'utf16le' | 'latin1' | 'escaped' | 'gzip';

interface FuzzRequest {
  body: Buffer;
  signature: SignatureKind;
  garbage: string;
  contentType?: string;
  contentEncoding?: string;
  path: string;
  chunkSize?: number;
}

// --- arbitraries -------------------------------------------------------------------------------------

const anyJson = fc.jsonValue({ maxDepth: 3 });
/** Mostly the documented type, sometimes any JSON value in its place. */
const maybe = <T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 4, arbitrary }, { weight: 1, arbitrary: anyJson });
const text = fc.oneof(
  fc.constantFrom('STOP', 'stop ', 'Abmelden', 'HILFE', 'HELP', 'Daten löschen', 'JA', 'Grüße 👋', ''),
  fc.string({ unit: 'grapheme', maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
);
const waId = fc.oneof(
  fc.constantFrom('4915123456789', '16505551234', '0', '+4915123456789', 'US.13491208655302741918'),
  fc.stringMatching(/^[1-9][0-9]{5,14}$/),
  fc.string({ maxLength: 20 }),
);
const messageId = fc.string({ minLength: 1, maxLength: 24 }).map((s) => `wamid.${s}`);
const timestamp = fc.oneof(fc.constantFrom('1717000000', '-5', 'abc', '1e309'), fc.integer(), fc.double());

const inboundMessage = fc.record(
  {
    from: maybe(waId),
    id: maybe(messageId),
    timestamp: maybe(timestamp),
    type: maybe(
      fc.constantFrom('text', 'button', 'interactive', 'image', 'location', 'contacts', 'reaction', 'order', 'system'),
    ),
    text: maybe(fc.record({ body: maybe(text) }, { requiredKeys: [] })),
    button: maybe(fc.record({ payload: maybe(text), text: maybe(text) }, { requiredKeys: [] })),
    interactive: maybe(
      fc.record(
        {
          type: maybe(fc.constantFrom('button_reply', 'list_reply', 'nfm_reply')),
          button_reply: maybe(fc.record({ id: maybe(text), title: maybe(text) }, { requiredKeys: [] })),
          list_reply: maybe(fc.record({ id: maybe(text), title: maybe(text) }, { requiredKeys: [] })),
          nfm_reply: maybe(fc.record({ name: maybe(text), response_json: maybe(text) }, { requiredKeys: [] })),
        },
        { requiredKeys: [] },
      ),
    ),
    location: maybe(fc.record({ latitude: maybe(fc.double()), longitude: maybe(fc.double()) }, { requiredKeys: [] })),
    contacts: maybe(fc.array(anyJson, { maxLength: 3 })),
    context: maybe(fc.record({ from: maybe(waId), id: maybe(messageId) }, { requiredKeys: [] })),
    errors: maybe(fc.array(fc.record({ code: maybe(fc.integer()), title: maybe(text) }), { maxLength: 2 })),
  },
  { requiredKeys: [] },
);
const messageStatus = fc.record(
  {
    id: maybe(messageId),
    status: maybe(fc.constantFrom('sent', 'delivered', 'read', 'failed', 'played')),
    recipient_id: maybe(waId),
    recipient_type: maybe(fc.constantFrom('individual', 'group')),
    timestamp: maybe(timestamp),
    conversation: maybe(fc.record({ id: maybe(text), origin: maybe(fc.record({ type: maybe(text) })) })),
    pricing: maybe(fc.record({ billable: maybe(fc.boolean()), category: maybe(text) }, { requiredKeys: [] })),
    errors: maybe(fc.array(fc.record({ code: maybe(fc.integer()), title: maybe(text) }), { maxLength: 2 })),
  },
  { requiredKeys: [] },
);
const change = fc.record(
  {
    field: maybe(fc.constantFrom('messages', 'user_preferences', 'account_update', 'message_template_status_update')),
    value: maybe(
      fc.record(
        {
          messaging_product: fc.constant('whatsapp'),
          metadata: maybe(
            fc.record(
              { phone_number_id: maybe(fc.constantFrom(PHONE_NUMBER_ID, '1')), display_phone_number: maybe(text) },
              { requiredKeys: [] },
            ),
          ),
          contacts: maybe(
            fc.array(
              fc.record(
                { wa_id: maybe(waId), user_id: maybe(text), profile: maybe(fc.record({ name: maybe(text) })) },
                { requiredKeys: [] },
              ),
              { maxLength: 3 },
            ),
          ),
          messages: maybe(fc.array(inboundMessage, { maxLength: 4 })),
          statuses: maybe(fc.array(messageStatus, { maxLength: 3 })),
          user_preferences: maybe(
            fc.array(
              fc.record(
                { wa_id: maybe(waId), value: maybe(fc.constantFrom('stop', 'resume')), category: maybe(text) },
                { requiredKeys: [] },
              ),
              { maxLength: 2 },
            ),
          ),
          event: maybe(text),
        },
        { requiredKeys: [] },
      ),
    ),
  },
  { requiredKeys: [] },
);
const whatsappBody = fc.record(
  {
    object: fc.oneof({ weight: 6, arbitrary: fc.constant(WHATSAPP_OBJECT) }, { weight: 1, arbitrary: anyJson }),
    entry: maybe(
      fc.array(
        fc.record(
          { id: maybe(text), time: maybe(timestamp), changes: maybe(fc.array(change, { maxLength: 3 })) },
          {
            requiredKeys: [],
          },
        ),
        { maxLength: 3 },
      ),
    ),
  },
  { requiredKeys: ['object'] },
);

function encode(json: string, encoding: Encoding): Buffer {
  switch (encoding) {
    case 'utf8':
      return Buffer.from(json, 'utf8');
    case 'utf8-bom':
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json, 'utf8')]);
    case 'utf16le':
      return Buffer.from(json, 'utf16le');
    case 'latin1':
      return Buffer.from(json, 'latin1');
    case 'escaped':
      return Buffer.from(escapeNonAscii(json), 'utf8');
    case 'gzip':
      return gzipSync(Buffer.from(json, 'utf8'));
  }
}

const encoding = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Encoding>('utf8') },
  { weight: 1, arbitrary: fc.constantFrom<Encoding>('utf8-bom', 'utf16le', 'latin1', 'escaped', 'gzip') },
);
const padding = fc.oneof(
  { weight: 5, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: MAX_BYTES + 2048 }) },
);

/** Bytes of the body: Meta-shaped JSON, any JSON, or any bytes; sometimes padded towards and past the size limit. */
const body: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.oneof(
      { weight: 6, arbitrary: whatsappBody.map((value) => JSON.stringify(value)) },
      { weight: 2, arbitrary: fc.json({ maxDepth: 4 }) },
      {
        weight: 2,
        arbitrary: fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
      },
    ),
    encoding,
    padding,
  )
  .map(([json, how, pad]) => {
    // Whitespace after JSON keeps it valid: the size check, not the parser, must refuse it.
    const padded = pad > 0 ? `${json}${' '.repeat(pad)}` : json;
    return encode(padded, how);
  });

const request: fc.Arbitrary<FuzzRequest> = fc.record({
  body,
  signature: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom<SignatureKind>('valid', 'meta-escaped') },
    {
      weight: 4,
      arbitrary: fc.constantFrom<SignatureKind>(
        'valid-upper',
        'valid-padded',
        'none',
        'empty',
        'garbage',
        'wrong-secret',
        'other-body',
        'sha1',
        'truncated',
        'duplicated',
      ),
    },
  ),
  // Header values may hold printable ASCII and tabs only (Node's client refuses the rest before sending).
  garbage: fc.string({ unit: 'binary-ascii', maxLength: 80 }).map((s) => s.replace(/[^\t\x20-\x7e]/g, '')),
  contentType: fc.option(
    fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=utf-16',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
    ),
    { nil: undefined },
  ),
  contentEncoding: fc.option(fc.constantFrom('identity', 'gzip', 'deflate', 'br'), { nil: undefined }),
  path: fc.constantFrom('/whatsapp', '/whatsapp/', '/WhatsApp', '/whatsapp?hub.mode=subscribe', '/whatsapp?x=%ZZ'),
  chunkSize: fc.option(fc.integer({ min: 1, max: 4096 }), { nil: undefined }),
});

// --- the oracle --------------------------------------------------------------------------------------

function signatureHeader(req: FuzzRequest): string | string[] | undefined {
  const valid = signPayload(req.body, APP_SECRET);
  switch (req.signature) {
    case 'valid':
      return valid;
    case 'valid-upper':
      return `sha256=${valid.slice(7).toUpperCase()}`;
    case 'valid-padded':
      return `  ${valid} `;
    case 'meta-escaped':
      return signPayload(escapeNonAscii(req.body.toString('utf8')), APP_SECRET);
    case 'none':
      return undefined;
    case 'empty':
      return '';
    case 'garbage':
      return req.garbage;
    case 'wrong-secret':
      return signPayload(req.body, `${APP_SECRET}x`);
    case 'other-body':
      return signPayload(Buffer.concat([req.body, Buffer.from(' ')]), APP_SECRET);
    case 'sha1':
      return `sha1=${valid.slice(7, 47)}`;
    case 'truncated':
      return valid.slice(0, -2);
    case 'duplicated':
      return [valid, valid];
  }
}

/** The answer the endpoint owes, from the bytes alone: size, then signature, then JSON, then object type. */
function expectedStatus(req: FuzzRequest, maxBytes: number): number {
  if (req.body.length > maxBytes) return 413;
  if (!VALID_SIGNATURES.has(req.signature)) return 401;
  let payload: unknown;
  try {
    payload = JSON.parse(req.body.toString('utf8'));
  } catch {
    return 400;
  }
  if (depthOf(payload) > MAX_WEBHOOK_DEPTH) return 400;
  if (typeof payload !== 'object' || payload === null || (payload as { object?: unknown }).object !== WHATSAPP_OBJECT) {
    return 400;
  }
  return 200;
}

/** Nesting depth of a parsed JSON value, without recursion (the values can be thousands of levels deep). */
function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop() as [unknown, number];
    if (typeof item !== 'object' || item === null) continue;
    deepest = Math.max(deepest, depth + 1);
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/**
 * What an accepted body must emit: output 1 once per new message and stop-handler once for each of them
 * (a confirmation, a pass-through or an error to Catch), output 2 per new status, output 3 per event.
 * Duplicates are tracked by a mirror of the de-duplication marks.
 */
async function expectedEmissions(bytes: Buffer, mirror: MemoryDedupeStore): Promise<number> {
  const normalised = normaliseWebhook(JSON.parse(bytes.toString('utf8')), { minimise: true });
  let count = normalised.events.length;
  for (const message of normalised.messages) if (await mirror.markSeen(messageDedupeKey(message), 1e9)) count += 2;
  for (const status of normalised.statuses) if (await mirror.markSeen(statusDedupeKey(status), 1e9)) count += 1;
  return count;
}

function send(target: WebhookTarget, req: FuzzRequest): Promise<RawAnswer> {
  const headers: Record<string, string | string[]> = {};
  const signature = signatureHeader(req);
  if (signature !== undefined) headers['x-hub-signature-256'] = signature;
  if (req.contentType) headers['content-type'] = req.contentType;
  if (req.contentEncoding) headers['content-encoding'] = req.contentEncoding;
  return rawRequest(target.url.replace(/\/whatsapp$/, req.path), { headers, body: req.body, chunkSize: req.chunkSize });
}

/** What a node reported with node.error, to explain an unexpected answer. */
function nodeErrors(id: string): string {
  return callsOf('error', id)
    .map((args) => String(args[0]))
    .join('; ');
}

function describeRequest(req: FuzzRequest): string {
  return `${req.body.length} bytes, signature ${req.signature}, ${req.contentType ?? 'no type'}, ${req.path}`;
}

describe('reliability: webhook fuzzing against a running whatsapp-webhook', function () {
  this.timeout(180000);
  let target: WebhookTarget;

  afterEach(async () => {
    await target?.unload();
    target = undefined as unknown as WebhookTarget;
  });

  it(`answers 413/401/400/200 as the bytes deserve, and refusals change nothing (${RUNS} runs)`, async () => {
    target = await startWebhookTarget({ maxBytes: MAX_BYTES });
    const mirror = new MemoryDedupeStore();
    const tally: Record<number, number> = {};
    let expectedTotal = 0;
    await assertProperty(
      fc.asyncProperty(request, async (req) => {
        const before: StoreState = storeState(target.sqliteFile);
        const emittedBefore = emitted(target);
        const answer = await send(target, req);
        const expected = expectedStatus(req, MAX_BYTES);
        tally[answer.status] = (tally[answer.status] ?? 0) + 1;
        assert.equal(answer.status, expected, `${describeRequest(req)}: ${answer.body} ${nodeErrors('hook')}`);
        if (expected !== 200) {
          // Nothing was emitted before the answer either: a refusal never reaches the flow.
          assert.equal(emitted(target), emittedBefore, 'a refused request emitted a message');
          assert.deepEqual(storeState(target.sqliteFile), before, 'a refused request changed the store');
          return;
        }
        expectedTotal += await expectedEmissions(req.body, mirror);
        await until(() => emitted(target) >= expectedTotal, `${expectedTotal} emissions`);
        assert.equal(emitted(target), expectedTotal);
      }),
      RUNS,
      describeRequest,
    );
    // Late emissions would show now.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(emitted(target), expectedTotal);
    // Whatever Catch saw came from stop-handler with a clear, translated reason, never a crash inside a node.
    for (const msg of target.seen.caught) {
      const error = msg.error as { message?: string };
      assert.doesNotMatch(String(error?.message), /TypeError|RangeError|undefined|is not a function/);
    }
    console.log(`      webhook fuzz: ${RUNS} requests, answers ${JSON.stringify(tally)}, ${expectedTotal} emissions`);
    await assertStillServing(target);
  });

  it('takes Meta-deep bodies and refuses deeper ones (up to 200,000 levels) with 400, changing nothing', async () => {
    // Before the depth limit a signed body nested a few thousand levels deep was answered 200, then Node-RED's
    // message cloning overflowed the stack and the second answer attempt ended the process (unhandled rejection).
    target = await startWebhookTarget({ maxBytes: 3 * 1024 * 1024 });
    const mirror = new MemoryDedupeStore();
    let expectedTotal = 0;
    const tally: Record<number, number> = {};
    /** Levels the envelope adds around the deep value at each place. */
    const base = { contacts: 9, text: 9, value: 6, entry: 2, top: 1 } as const;
    await assertProperty(
      fc.asyncProperty(
        fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 200000 })),
        fc.constantFrom<keyof typeof base>('contacts', 'text', 'entry', 'value', 'top'),
        fc.constantFrom('[', '{"a":'),
        fc.nat(),
        async (depth, at, opener, n) => {
          const closer = opener === '[' ? ']' : '}';
          const deep = `${opener.repeat(depth)}1${closer.repeat(depth)}`;
          const id = `wamid.deep-${n}-${depth}`;
          const message = (extra: string) =>
            `{"from":"4915123456789","id":"${id}","timestamp":"1717000000","type":"contacts"${extra}}`;
          const value = (extra: string, messageExtra = '') =>
            `{"messaging_product":"whatsapp","metadata":{"phone_number_id":"${PHONE_NUMBER_ID}"},"messages":[${message(messageExtra)}]${extra}}`;
          const json =
            at === 'contacts'
              ? envelope(value('', `,"contacts":[${deep}]`))
              : at === 'text'
                ? envelope(value('', `,"text":{"body":${deep}}`))
                : at === 'value'
                  ? envelope(value(`,"extra":${deep}`))
                  : at === 'entry'
                    ? `{"object":"${WHATSAPP_OBJECT}","entry":[${deep}]}`
                    : `{"object":"${WHATSAPP_OBJECT}","deep":${deep}}`;
          const bytes = Buffer.from(json, 'utf8');
          const before = storeState(target.sqliteFile);
          const emittedBefore = emitted(target);
          const answer = await rawRequest(target.url, {
            headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(bytes, APP_SECRET) },
            body: bytes,
          });
          const expected = base[at] + depth <= MAX_WEBHOOK_DEPTH ? 200 : 400;
          tally[answer.status] = (tally[answer.status] ?? 0) + 1;
          assert.equal(answer.status, expected, `depth ${depth} at ${at}: ${answer.body}`);
          if (expected === 400) {
            assert.equal(emitted(target), emittedBefore);
            assert.deepEqual(storeState(target.sqliteFile), before);
            return;
          }
          expectedTotal += await expectedEmissions(bytes, mirror);
          await until(() => emitted(target) >= expectedTotal, `${expectedTotal} emissions`);
          assert.equal(emitted(target), expectedTotal);
        },
      ),
      runs(40),
      (depth, at, opener, _n) => `depth ${depth} at ${at} with ${opener}`,
    );
    assert.deepEqual(
      target.seen.caught.map((m) => String((m.error as { message?: string }).message)),
      [],
      'deep nesting reached Catch',
    );
    console.log(`      nesting fuzz: ${runs(40)} bodies, answers ${JSON.stringify(tally)}`);
    await assertStillServing(target);
  });

  it('refuses bodies past the limit whether the length is declared or chunked, and reads nothing past it', async () => {
    target = await startWebhookTarget({ maxBytes: MAX_BYTES });
    const before = storeState(target.sqliteFile);
    const big = Buffer.alloc(MAX_BYTES * 64, 0x20);
    for (const chunkSize of [undefined, 1000, 65536]) {
      const answer = await rawRequest(target.url, {
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(big, APP_SECRET) },
        body: big,
        chunkSize,
      });
      assert.equal(answer.status, 413, `chunk size ${chunkSize}`);
    }
    assert.equal(emitted(target), 0);
    assert.deepEqual(storeState(target.sqliteFile), before);
    await assertStillServing(target);
  });

  it('answers the subscription check only for the right token and a plain challenge', async () => {
    target = await startWebhookTarget();
    const query = fc.record({
      mode: fc.option(fc.constantFrom('subscribe', 'unsubscribe', 'SUBSCRIBE', ''), { nil: undefined }),
      token: fc.option(fc.oneof(fc.constant(VERIFY_TOKEN), fc.string({ maxLength: 40 })), { nil: undefined }),
      challenge: fc.option(fc.oneof(fc.stringMatching(/^[0-9]{1,12}$/), fc.string({ maxLength: 40 })), {
        nil: undefined,
      }),
      repeat: fc.boolean(),
    });
    let granted = 0;
    await assertProperty(
      fc.asyncProperty(query, async (q) => {
        const params = new URLSearchParams();
        if (q.mode !== undefined) params.append('hub.mode', q.mode);
        if (q.token !== undefined) params.append('hub.verify_token', q.token);
        // A repeated parameter arrives as an array: never a match.
        if (q.token !== undefined && q.repeat) params.append('hub.verify_token', q.token);
        if (q.challenge !== undefined) params.append('hub.challenge', q.challenge);
        const answer = await rawRequest(`${target.url}?${params}`, { method: 'GET' });
        const ok =
          q.mode === 'subscribe' &&
          q.token === VERIFY_TOKEN &&
          !q.repeat &&
          q.challenge !== undefined &&
          /^[A-Za-z0-9._~-]{1,512}$/.test(q.challenge);
        assert.equal(answer.status, ok ? 200 : 403, JSON.stringify(q));
        if (ok) {
          granted++;
          assert.equal(answer.body, q.challenge);
        } else {
          assert.doesNotMatch(answer.body, new RegExp(VERIFY_TOKEN));
        }
      }),
      runs(150),
      (q) => JSON.stringify(q),
    );
    assert.equal(emitted(target), 0);
    assert.ok(granted >= 0);
  });
  it('never ends a real Node-RED process, whatever is posted (default settings, admin app in front)', async () => {
    const red = await RealNodeRed.start({
      types: ['whatsapp-config', 'consent-store', 'whatsapp-webhook', 'stop-handler'],
    });
    try {
      await red.deploy([
        { id: 'tab1', type: 'tab', label: 'fuzz' },
        {
          id: 'cfg',
          type: 'whatsapp-config',
          mode: 'cloud',
          phoneNumberId: PHONE_NUMBER_ID,
          configVersion: 1,
          credentials: { appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN },
        },
        {
          id: 'store',
          type: 'consent-store',
          backend: 'sqlite',
          sqlitePath: 'consent.db',
          purposes: [{ id: 'news', label: 'News', wording: { en: 'News' }, lawfulBasis: 'consent' }],
          configVersion: 1,
          credentials: storeCredentials(),
        },
        {
          id: 'hook',
          z: 'tab1',
          type: 'whatsapp-webhook',
          path: '/whatsapp',
          whatsapp: 'cfg',
          store: 'store',
          maxBytes: MAX_BYTES,
          configVersion: 1,
          wires: [['stop', 'seen'], ['seen'], ['seen']],
        },
        { id: 'stop', z: 'tab1', type: 'stop-handler', store: 'store', wires: [['seen'], ['seen']] },
        {
          id: 'seen',
          z: 'tab1',
          type: 'debug',
          active: true,
          console: false,
          tosidebar: false,
          complete: 'false',
          wires: [],
        },
      ]);
      const url = `${red.url}${WEBHOOK_PATH}`;
      const deep = (depth: number) => Buffer.from(envelope(`{"deep":${'['.repeat(depth)}${']'.repeat(depth)}}`));
      const answers: Record<number, number> = {};
      await assertProperty(
        fc.asyncProperty(
          fc.oneof({ weight: 9, arbitrary: request }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 10000 }) }),
          async (req) => {
            const fuzzed: FuzzRequest =
              typeof req === 'number' ? { body: deep(req), signature: 'valid', garbage: '', path: WEBHOOK_PATH } : req;
            const target = { url } as WebhookTarget;
            const answer = await send(target, fuzzed);
            answers[answer.status] = (answers[answer.status] ?? 0) + 1;
            assert.equal(answer.status, expectedStatus(fuzzed, MAX_BYTES), describeRequest(fuzzed));
          },
        ),
        runs(120),
        (req) => (typeof req === 'number' ? `depth ${req}` : describeRequest(req)),
      );
      // Still up, and it said nothing about an uncaught exception or a crash.
      assert.equal((await red.request('GET', '/flows')).status, 200);
      assert.doesNotMatch(red.log(), /Uncaught Exception|UnhandledPromiseRejection|RangeError|\[red\] Stopping/);
      console.log(`      real Node-RED: ${runs(120)} requests, answers ${JSON.stringify(answers)}, still running`);
    } finally {
      await red.stop();
    }
  });
});

function envelope(value: string): string {
  return `{"object":"${WHATSAPP_OBJECT}","entry":[{"id":"1","changes":[{"field":"messages","value":${value}}]}]}`;
}

/** After the fuzzing, a documented payload still gets 200 and reaches the flow. */
async function assertStillServing(target: WebhookTarget): Promise<void> {
  const id = `wamid.alive-${Date.now()}`;
  const bytes = Buffer.from(
    envelope(
      `{"messaging_product":"whatsapp","metadata":{"phone_number_id":"${PHONE_NUMBER_ID}"},"contacts":[{"wa_id":"4915123456789"}],"messages":[{"from":"4915123456789","id":"${id}","timestamp":"1717000000","type":"text","text":{"body":"noch da?"}}]}`,
    ),
  );
  const before = target.seen['out-messages'].length;
  const answer = await rawRequest(target.url, {
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(bytes, APP_SECRET) },
    body: bytes,
  });
  assert.equal(answer.status, 200);
  await until(() => target.seen['out-messages'].length === before + 1, 'the message after the fuzzing');
}
