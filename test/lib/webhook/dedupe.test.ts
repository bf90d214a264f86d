import assert from 'node:assert/strict';
import { DEDUPE_TTL_MS, MemoryDedupeStore, messageDedupeKey, statusDedupeKey } from '../../../lib/webhook/dedupe';

describe('webhook de-duplication', () => {
  it('names keys after message id, and after status id plus status', () => {
    assert.equal(messageDedupeKey({ messageId: 'wamid.A' }), 'msg:wamid.A');
    assert.equal(statusDedupeKey({ messageId: 'wamid.A', status: 'read' }), 'status:wamid.A:read');
    assert.equal(DEDUPE_TTL_MS, 8 * 24 * 3600 * 1000);
  });

  it('reports the first sighting only', async () => {
    const store = new MemoryDedupeStore();
    assert.equal(await store.markSeen('msg:1', 1000), true);
    assert.equal(await store.markSeen('msg:1', 1000), false);
    assert.equal(await store.markSeen('msg:2', 1000), true);
  });

  it('forgets a mark once its ttl has passed', async () => {
    let now = 1_000_000;
    const store = new MemoryDedupeStore({ now: () => now });
    assert.equal(await store.markSeen('msg:1', 500), true);
    now += 499;
    assert.equal(await store.markSeen('msg:1', 500), false);
    now += 1;
    assert.equal(await store.markSeen('msg:1', 500), true);
    assert.equal(await store.markSeen('msg:1', 500), false);
  });

  it('drops expired marks and stays within maxEntries, evicting the oldest', async () => {
    let now = 0;
    const store = new MemoryDedupeStore({ maxEntries: 3, now: () => now });
    for (const key of ['a', 'b', 'c', 'd']) assert.equal(await store.markSeen(key, 10_000), true);
    assert.equal(store.size, 3);
    assert.equal(await store.markSeen('a', 10_000), true, 'oldest mark was evicted');
    assert.equal(await store.markSeen('d', 10_000), false, 'newest mark kept');
    now = 20_000;
    assert.equal(await store.markSeen('e', 10_000), true);
    assert.equal(store.size, 1, 'expired marks are swept');
  });

  it('holds keyed hashes, never the message ids that encode the sender number', async () => {
    const wamid = 'wamid.HBgNNDkxNTEyMzQ1Njc4ORUCABIYFDNBMjRGQzM1QkNDQjM0RTk0QjA2AA==';
    const store = new MemoryDedupeStore();
    assert.equal(await store.markSeen(messageDedupeKey({ messageId: wamid }), 1000), true);
    assert.deepEqual(await store.claimAll([statusDedupeKey({ messageId: wamid, status: 'read' })], 1000), ['claimed']);
    assert.equal(store.heldKeys().length, 2);
    for (const key of store.heldKeys()) assert.ok(!key.includes('HBgN') && !key.includes('wamid'), key);
    assert.equal(await store.markSeen(messageDedupeKey({ messageId: wamid }), 1000), false, 'still recognised');
    const other = new MemoryDedupeStore();
    await other.markSeen(messageDedupeKey({ messageId: wamid }), 1000);
    assert.notDeepEqual(other.heldKeys(), store.heldKeys().slice(0, 1), 'the hash key differs per store');
  });
});
