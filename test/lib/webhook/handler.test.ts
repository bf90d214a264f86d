import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GdprWhatsAppError } from '../../../lib/errors';
import { buildMessageWebhook } from '../../../lib/webhook/build';
import { type DedupeStore, type InboundTime, MemoryDedupeStore } from '../../../lib/webhook/dedupe';
import {
  claimedKeys,
  completeClaims,
  DEFAULT_MAX_WEBHOOK_BYTES,
  handleWebhookPost,
  handleWebhookVerify,
  WebhookError,
  type WebhookPostInput,
} from '../../../lib/webhook/handler';
import { escapeNonAscii, signPayload } from '../../../lib/webhook/signature';
import { fixtureBytes } from './fixtures';

const SECRET = 'handler-test-secret';

function signed(rawBody: Buffer, overrides: Partial<WebhookPostInput> = {}): WebhookPostInput {
  return {
    rawBody,
    signatureHeader: signPayload(rawBody, SECRET),
    appSecret: SECRET,
    minimise: true,
    dedupe: new MemoryDedupeStore(),
    ...overrides,
  };
}

async function refusal(input: WebhookPostInput): Promise<WebhookError> {
  try {
    await handleWebhookPost(input);
  } catch (error) {
    assert.ok(error instanceof WebhookError, `expected a WebhookError, got ${error}`);
    return error;
  }
  assert.fail('the webhook was accepted');
}

describe('handleWebhookPost', () => {
  it('accepts a signed batched body and sorts it into messages, statuses and events', async () => {
    const result = await handleWebhookPost(signed(fixtureBytes('batched')));
    assert.equal(result.messages.length, 5);
    assert.equal(result.statuses.length, 2);
    assert.equal(result.events.length, 1);
    assert.equal(result.duplicates, 0);
  });

  it('accepts a body signed the way Meta signs non-ASCII text', async () => {
    const raw = fixtureBytes('batched');
    const header = signPayload(escapeNonAscii(raw.toString('utf8')), SECRET);
    const result = await handleWebhookPost(signed(raw, { signatureHeader: header }));
    assert.equal(result.messages[1].name, 'Jörg Müller');
  });

  it('401 for a missing, wrong or forged signature, and emits nothing', async () => {
    const raw = fixtureBytes('text');
    const store = new MemoryDedupeStore();
    const cases: Array<[string | undefined, string]> = [
      [undefined, 'webhook-signature-missing'],
      ['', 'webhook-signature-missing'],
      [signPayload(raw, 'another-secret'), 'webhook-signature-invalid'],
      [`sha1=${signPayload(raw, SECRET).slice(7)}`, 'webhook-signature-invalid'],
      ['sha256=abc', 'webhook-signature-invalid'],
    ];
    for (const [header, code] of cases) {
      const error = await refusal(signed(raw, { signatureHeader: header, dedupe: store }));
      assert.equal(error.httpStatus, 401);
      assert.equal(error.code, code);
      assert.ok(error instanceof GdprWhatsAppError);
    }
    assert.equal(store.size, 0, 'nothing was marked as seen');
  });

  it('401 when no app secret is configured, even for a body signed with an empty key', async () => {
    const raw = fixtureBytes('text');
    for (const appSecret of [undefined, '']) {
      const error = await refusal(signed(raw, { appSecret, signatureHeader: signPayload(raw, '') }));
      assert.equal(error.httpStatus, 401);
      assert.equal(error.code, 'webhook-app-secret-missing');
    }
  });

  it('checks the signature before parsing: a malformed body with a bad signature is 401, not 400', async () => {
    const raw = Buffer.from('{"object": "whatsapp_business_account", ');
    assert.equal((await refusal(signed(raw, { signatureHeader: signPayload(raw, 'nope') }))).httpStatus, 401);
    assert.equal((await refusal(signed(raw, { signatureHeader: undefined }))).httpStatus, 401);
    const error = await refusal(signed(raw));
    assert.equal(error.httpStatus, 400);
    assert.equal(error.code, 'webhook-malformed-json');
  });

  it('400 for JSON that is not a WhatsApp Business Account object', async () => {
    for (const text of ['null', '[]', '"x"', '{"object":"page","entry":[]}', '{"entry":[]}']) {
      const error = await refusal(signed(Buffer.from(text)));
      assert.equal(error.httpStatus, 400, text);
      assert.equal(error.code, 'webhook-not-whatsapp');
    }
  });

  it('413 for a body over the limit, before the signature is even looked at', async () => {
    const raw = Buffer.alloc(DEFAULT_MAX_WEBHOOK_BYTES + 1, 0x20);
    const error = await refusal(signed(raw, { signatureHeader: undefined, appSecret: undefined }));
    assert.equal(error.httpStatus, 413);
    assert.equal(error.code, 'webhook-too-large');
    assert.equal(error.params.maxBytes, DEFAULT_MAX_WEBHOOK_BYTES);
    const small = fixtureBytes('text');
    assert.equal((await refusal(signed(small, { maxBytes: small.length - 1 }))).httpStatus, 413);
    assert.equal((await handleWebhookPost(signed(small, { maxBytes: small.length }))).messages.length, 1);
  });

  it('treats a missing raw body as empty: 401 unsigned, 400 when signed', async () => {
    assert.equal(
      (await refusal(signed(Buffer.alloc(0), { rawBody: undefined, signatureHeader: 'sha256=00' }))).httpStatus,
      401,
    );
    assert.equal((await refusal(signed(Buffer.alloc(0), { rawBody: undefined }))).httpStatus, 400);
  });

  it('drops messages and statuses seen before, counting them', async () => {
    const dedupe = new MemoryDedupeStore();
    const first = await handleWebhookPost(signed(fixtureBytes('batched'), { dedupe }));
    assert.equal(first.messages.length, 5);
    await completeClaims(dedupe, claimedKeys(first));
    const again = await handleWebhookPost(signed(fixtureBytes('batched'), { dedupe }));
    assert.equal(again.messages.length, 0);
    assert.equal(again.statuses.length, 0);
    assert.equal(again.duplicates, 7);
    assert.equal(again.events.length, 1, 'account events are not de-duplicated');
  });

  it('a repeated id inside one body counts once; another status of the same message is new', async () => {
    const body = JSON.parse(fixtureBytes('status-read').toString('utf8'));
    const statuses = body.entry[0].changes[0].value.statuses;
    statuses.push({ ...statuses[0] }, { ...statuses[0], status: 'failed' });
    const result = await handleWebhookPost(signed(Buffer.from(JSON.stringify(body))));
    assert.deepEqual(
      result.statuses.map((s) => s.status),
      ['read', 'failed'],
    );
    assert.equal(result.duplicates, 1);
  });

  it('claims every item of a delivery in one call, in body order, and resolves after it', async () => {
    const calls: string[][] = [];
    const slowStore: DedupeStore = {
      claimAll: (keys) =>
        new Promise((resolve) =>
          setImmediate(() => {
            calls.push([...keys]);
            resolve(keys.map(() => 'claimed'));
          }),
        ),
      completeAll: async () => undefined,
      releaseAll: async () => undefined,
    };
    const result = await handleWebhookPost(signed(fixtureBytes('batched'), { dedupe: slowStore }));
    assert.equal(calls.length, 1, 'one claim step per delivery');
    assert.equal(calls[0].length, 7);
    assert.deepEqual(calls[0].slice(0, 2), ['msg:wamid.B1', 'msg:wamid.B2']);
    assert.deepEqual(calls[0].slice(5), ['status:wamid.S1:delivered', 'status:wamid.S1:read']);
    assert.equal(result.messages.length, 5);
  });

  /** A store that claims everything and keeps the inbound times it was handed. */
  function recordingStore(): { store: DedupeStore; inbound: () => readonly InboundTime[] | undefined } {
    let inbound: readonly InboundTime[] | undefined;
    const store: DedupeStore = {
      claimAll: async (keys, _lease, times) => {
        inbound = times;
        return keys.map(() => 'claimed');
      },
      completeAll: async () => undefined,
      releaseAll: async () => undefined,
    };
    return { store, inbound: () => inbound };
  }

  it("hands each message's sender and time to the claim step, so the 24-hour window starts with it", async () => {
    const { store, inbound } = recordingStore();
    const result = await handleWebhookPost(signed(fixtureBytes('batched'), { dedupe: store }));
    assert.equal(inbound()?.length, result.messages.length);
    for (const [i, message] of result.messages.entries()) {
      assert.deepEqual(inbound()?.[i], {
        key: `msg:${message.messageId}`,
        subject: { phone: message.from, userId: message.userId },
        at: message.timestamp * 1000,
      });
    }
  });

  it('a message written in a group names the group and opens no private 24-hour window', async () => {
    // Meta's group messages webhook: the member's number in `from`, the group in `group_id`.
    const body = Buffer.from(
      JSON.stringify(
        buildMessageWebhook({
          phoneNumberId: '106540352242922',
          displayPhoneNumber: '15550783881',
          waId: '4915112345678',
          profileName: 'Erika',
          message: { group_id: 'Y2FwaV9ncm91cDoxNTU1MDc4Mzg4MToxMjM0', type: 'text', text: { body: 'Hello everyone' } },
        }),
      ),
    );
    const { store, inbound } = recordingStore();
    const result = await handleWebhookPost(signed(body, { dedupe: store }));
    assert.equal(result.messages.length, 1);
    assert.equal(result.messages[0].groupId, 'Y2FwaV9ncm91cDoxNTU1MDc4Mzg4MToxMjM0');
    assert.equal(result.messages[0].from, '+4915112345678');
    assert.deepEqual(inbound(), []);
  });

  it("passes a failing store's error on, so the endpoint does not answer 200", async () => {
    const broken: DedupeStore = {
      claimAll: async () => Promise.reject(new Error('database down')),
      completeAll: async () => undefined,
      releaseAll: async () => undefined,
    };
    await assert.rejects(handleWebhookPost(signed(fixtureBytes('text'), { dedupe: broken })), /database down/);
  });

  it('asks for the store only once the POST proved to be signed: a forged one never waits for it', async () => {
    let asked = 0;
    const store = new MemoryDedupeStore();
    const dedupe = async () => {
      asked += 1;
      return store;
    };
    const raw = fixtureBytes('text');
    assert.equal((await refusal(signed(raw, { signatureHeader: 'sha256=00', dedupe }))).httpStatus, 401);
    assert.equal((await refusal(signed(Buffer.from('{'), { dedupe }))).httpStatus, 400);
    assert.equal(asked, 0);
    assert.equal((await handleWebhookPost(signed(raw, { dedupe }))).messages.length, 1);
    assert.equal(asked, 1);
    assert.equal((await handleWebhookPost(signed(raw, { dedupe }))).inProgress, 1, 'the store it got holds the claim');
  });

  it('never puts the app secret into an error', async () => {
    const raw = fixtureBytes('text');
    const errors = [
      await refusal(signed(raw, { signatureHeader: 'sha256=00' })),
      await refusal(signed(Buffer.from('{'))),
    ];
    for (const error of errors) assert.ok(!JSON.stringify({ ...error, message: error.message }).includes(SECRET));
  });

  it('re-exports the GET verification', () => {
    const query = { 'hub.mode': 'subscribe', 'hub.verify_token': 't', 'hub.challenge': '42' };
    assert.deepEqual(handleWebhookVerify(query, 't'), { status: 200, body: '42' });
  });
});

describe('handleWebhookPost: property', () => {
  const headers = (raw: Buffer) =>
    fc.oneof(
      fc.constant(signPayload(raw, SECRET)),
      fc.constant(undefined),
      fc.string(),
      fc.string().map((s) => `sha256=${s}`),
      fc.stringMatching(/^sha256=[0-9a-f]{0,70}$/),
    );

  const whatsappShaped = fc
    .record({
      entry: fc.array(
        fc.oneof(
          fc.jsonValue(),
          fc.record({
            id: fc.jsonValue(),
            time: fc.jsonValue(),
            changes: fc.array(
              fc.oneof(
                fc.jsonValue(),
                fc.record({
                  field: fc.oneof(fc.constantFrom('messages', 'user_preferences', 'account_update'), fc.jsonValue()),
                  value: fc.oneof(
                    fc.jsonValue(),
                    fc.record({
                      metadata: fc.oneof(fc.jsonValue(), fc.record({ phone_number_id: fc.jsonValue() })),
                      contacts: fc.jsonValue(),
                      messages: fc.array(
                        fc.dictionary(
                          fc.constantFrom(
                            'id',
                            'from',
                            'type',
                            'text',
                            'timestamp',
                            'context',
                            'from_user_id',
                            'interactive',
                            'location',
                            'errors',
                          ),
                          fc.jsonValue(),
                        ),
                      ),
                      statuses: fc.array(
                        fc.dictionary(
                          fc.constantFrom(
                            'id',
                            'status',
                            'timestamp',
                            'recipient_id',
                            'errors',
                            'conversation',
                            'pricing',
                          ),
                          fc.jsonValue(),
                        ),
                      ),
                      user_preferences: fc.jsonValue(),
                    }),
                  ),
                }),
              ),
            ),
          }),
        ),
      ),
    })
    .map((body) => JSON.stringify({ object: 'whatsapp_business_account', ...body }));

  const bodies = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
    fc.json().map((text) => Buffer.from(text)),
    fc.string({ unit: 'grapheme' }).map((text) => Buffer.from(text)),
    whatsappShaped.map((text) => Buffer.from(text)),
  );

  it('arbitrary bodies and headers end in a result or a WebhookError, nothing else', async () => {
    await fc.assert(
      fc.asyncProperty(
        bodies.chain((raw) => fc.tuple(fc.constant(raw), headers(raw), fc.boolean())),
        async ([raw, header, minimise]) => {
          try {
            const result = await handleWebhookPost({
              rawBody: raw,
              signatureHeader: header,
              appSecret: SECRET,
              minimise,
              dedupe: new MemoryDedupeStore(),
            });
            assert.ok(Array.isArray(result.messages) && Array.isArray(result.statuses) && Array.isArray(result.events));
            for (const message of result.messages) assert.equal(typeof message.messageId, 'string');
          } catch (error) {
            if (!(error instanceof WebhookError)) throw error;
            assert.ok([400, 401, 413].includes(error.httpStatus));
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
