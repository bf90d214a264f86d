import assert from 'node:assert/strict';
import { type ClaimOutcome, type DedupeStore, MemoryDedupeStore } from '../../../lib/webhook/dedupe';
import {
  claimedKeys,
  completeClaims,
  handleWebhookPost,
  releaseClaims,
  type WebhookPostInput,
} from '../../../lib/webhook/handler';
import { signPayload } from '../../../lib/webhook/signature';
import { fixtureBytes } from './fixtures';

const SECRET = 'claims-test-secret';
const BATCH_KEYS = [
  'msg:wamid.B1',
  'msg:wamid.B2',
  'msg:wamid.B3',
  'msg:wamid.B4',
  'msg:wamid.B5',
  'status:wamid.S1:delivered',
  'status:wamid.S1:read',
];

function post(dedupe: DedupeStore, name = 'batched'): Promise<Awaited<ReturnType<typeof handleWebhookPost>>> {
  const rawBody = fixtureBytes(name);
  const input: WebhookPostInput = {
    rawBody,
    signatureHeader: signPayload(rawBody, SECRET),
    appSecret: SECRET,
    minimise: true,
    dedupe,
  };
  return handleWebhookPost(input);
}

/** A memory store whose claims fail when a delivery holds one key, as a database going away would. */
class FailingOn implements DedupeStore {
  readonly inner = new MemoryDedupeStore();
  released: string[] = [];
  constructor(private readonly failKey: string) {}
  claimAll(keys: readonly string[], leaseMs: number): Promise<ClaimOutcome[]> {
    if (keys.includes(this.failKey)) return Promise.reject(new Error('database down'));
    return this.inner.claimAll(keys, leaseMs);
  }
  completeAll(keys: readonly string[], ttlMs: number): Promise<void> {
    return this.inner.completeAll(keys, ttlMs);
  }
  releaseAll(keys: readonly string[]): Promise<void> {
    this.released.push(...keys);
    return this.inner.releaseAll(keys);
  }
}

describe('webhook handler with two-phase de-duplication', () => {
  it('claims every message and status, in body order, and leaves them claimed (not done) for the caller', async () => {
    const dedupe = new MemoryDedupeStore();
    const result = await post(dedupe);
    assert.deepEqual(claimedKeys(result), BATCH_KEYS);
    assert.equal(result.inProgress, 0);
    // Nothing is done yet: a delivery racing this one must wait (503), not drop the items.
    const racing = await post(dedupe);
    assert.equal(racing.messages.length + racing.statuses.length, 0);
    assert.equal(racing.inProgress, 7);
    assert.equal(racing.duplicates, 0);
    assert.equal(racing.events.length, 1, 'account events are not de-duplicated');
  });

  it('a released delivery is emitted again in full; a completed one is only duplicates', async () => {
    const dedupe = new MemoryDedupeStore();
    const failed = await post(dedupe);
    await releaseClaims(dedupe, claimedKeys(failed));
    const retried = await post(dedupe);
    assert.deepEqual(claimedKeys(retried), BATCH_KEYS, 'the retry after a failure is handled again');
    await completeClaims(dedupe, claimedKeys(retried));
    const again = await post(dedupe);
    assert.equal(again.messages.length + again.statuses.length, 0);
    assert.equal(again.duplicates, 7);
    assert.equal(again.inProgress, 0);
  });

  it('emits only what nobody else holds: the rest counts as in progress', async () => {
    const dedupe = new MemoryDedupeStore();
    assert.equal(await dedupe.claim('msg:wamid.B2', 60_000), 'claimed');
    await dedupe.complete('msg:wamid.B4', 60_000);
    const result = await post(dedupe);
    assert.deepEqual(
      result.messages.map((m) => m.messageId),
      ['wamid.B1', 'wamid.B3', 'wamid.B5'],
    );
    assert.equal(result.inProgress, 1);
    assert.equal(result.duplicates, 1);
  });

  it('a repeated id inside one body is a duplicate, never "in progress" of itself', async () => {
    const body = JSON.parse(fixtureBytes('status-read').toString('utf8'));
    const statuses = body.entry[0].changes[0].value.statuses;
    statuses.push({ ...statuses[0] });
    const rawBody = Buffer.from(JSON.stringify(body));
    const result = await handleWebhookPost({
      rawBody,
      signatureHeader: signPayload(rawBody, SECRET),
      appSecret: SECRET,
      minimise: true,
      dedupe: new MemoryDedupeStore(),
    });
    assert.equal(result.statuses.length, 1);
    assert.equal(result.duplicates, 1);
    assert.equal(result.inProgress, 0);
  });

  it('a store failing while claiming leaves nothing claimed, so the retry is whole', async () => {
    const dedupe = new FailingOn('msg:wamid.B4');
    await assert.rejects(post(dedupe), /database down/);
    assert.deepEqual(dedupe.released, [], 'nothing was claimed, so nothing needs releasing');
    for (const key of BATCH_KEYS) {
      assert.equal(await dedupe.inner.claim(key, 60_000), 'claimed', `${key} was left claimed`);
    }
  });

  it('releaseClaims never rejects (an unreleased claim runs out with its lease)', async () => {
    const broken: DedupeStore = {
      claimAll: async (keys) => keys.map(() => 'claimed' as const),
      completeAll: async () => undefined,
      releaseAll: async () => Promise.reject(new Error('database down')),
    };
    await releaseClaims(broken, ['msg:a', 'msg:b']);
  });

  it('completeClaims passes a store failure on, so the caller does not answer 200', async () => {
    const broken: DedupeStore = {
      claimAll: async (keys) => keys.map(() => 'claimed' as const),
      completeAll: async () => Promise.reject(new Error('disk full')),
      releaseAll: async () => undefined,
    };
    await assert.rejects(completeClaims(broken, ['msg:a']), /disk full/);
  });
});

describe('MemoryDedupeStore claims', () => {
  it('an expired lease is taken over; release drops only claims, never completed marks', async () => {
    let now = 1_000_000;
    const store = new MemoryDedupeStore({ now: () => now });
    assert.equal(await store.claim('k', 100), 'claimed');
    now += 99;
    assert.equal(await store.claim('k', 100), 'in-progress');
    now += 1;
    assert.equal(await store.claim('k', 100), 'claimed');
    await store.complete('k', 1000);
    await store.release('k');
    assert.equal(await store.claim('k', 100), 'done');
    assert.equal(await store.markSeen('k', 1000), false, 'markSeen sees the completed mark');
  });
});
