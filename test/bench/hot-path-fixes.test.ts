import assert from 'node:assert/strict';
// The module object itself: the store reads fdatasync from it at each call, so a test can hold the flush.
import nodeFs, * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConsentLedger } from '../../lib/consent/ledger';
import { GdprWhatsAppError } from '../../lib/errors';
import { SqliteStore } from '../../lib/store/sqlite';
import { openSqliteDatabase } from '../../lib/store/sqlite-driver';
import { TEST_KEYS, TEST_PURPOSES } from '../lib/store/harness';

/**
 * Regression tests for the hot-spot fixes found by the benchmarks (bench/inbound.ts): SQLite group commit.
 * Writes that are queued together share one transaction (one fsync), yet each one is acknowledged only when
 * it is committed, and a failing one leaves nothing behind while the others stand.
 */
describe('SQLite group commit (bench hot-path fix)', () => {
  let dir: string;
  let store: SqliteStore;
  const file = () => path.join(dir, 'ledger.db');
  const marks = (): string[] => {
    const { db } = openSqliteDatabase(file());
    try {
      return (db.prepare('SELECT key FROM dedupe_marks ORDER BY key').all() as { key: string }[]).map((r) => r.key);
    } finally {
      db.close();
    }
  };

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-gdpr-h13-'));
    store = await SqliteStore.open({ path: file(), clock: Date.now });
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('acknowledges each of many concurrent writes only once another connection can read it', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    const seenAtAck = await Promise.all(
      keys.map((key) =>
        store
          .write((tx) => tx.markSeen(key, Date.now() + 60_000, Date.now()))
          .then((fresh) => {
            assert.equal(fresh, true);
            return marks().includes(key);
          }),
      ),
    );
    assert.deepEqual(
      seenAtAck,
      keys.map(() => true),
    );
    assert.deepEqual(marks(), keys);
  });

  it('commits writes queued together in one transaction (one fsync for the batch)', async () => {
    const now = Date.now();
    let visibleToOthers: string[] = [];
    await Promise.all([
      store.write((tx) => tx.markSeen('first', now + 60_000, now)),
      store.write(async (tx) => {
        // Another connection sees only committed data: "first" is written but shares this open transaction.
        visibleToOthers = marks();
        return tx.markSeen('second', now + 60_000, now);
      }),
    ]);
    assert.deepEqual(visibleToOthers, []);
    assert.deepEqual(marks(), ['first', 'second']);
  });

  it('rolls back only the failing write of a batch; the others commit', async () => {
    const now = Date.now();
    const results = await Promise.allSettled([
      store.write((tx) => tx.markSeen('a', now + 60_000, now)),
      store.write(async (tx) => {
        await tx.markSeen('b', now + 60_000, now);
        throw new Error('refused after writing');
      }),
      store.write((tx) => tx.markSeen('c', now + 60_000, now)),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.equal((results[1] as PromiseRejectedResult).reason.message, 'refused after writing');
    assert.deepEqual(marks(), ['a', 'c']);
  });

  it('sees the earlier writes of the same batch, in order (a second mark of one key is not fresh)', async () => {
    const now = Date.now();
    const [first, second] = await Promise.all([
      store.write((tx) => tx.markSeen('same', now + 60_000, now)),
      store.write((tx) => tx.markSeen('same', now + 60_000, now)),
    ]);
    assert.deepEqual([first, second], [true, false]);
  });

  it('refuses writes once closed, and close waits for the queued batch', async () => {
    const now = Date.now();
    const queued = store.write((tx) => tx.markSeen('before-close', now + 60_000, now));
    await store.close();
    assert.equal(await queued, true);
    assert.deepEqual(marks(), ['before-close']);
    await assert.rejects(store.write((tx) => tx.markSeen('after-close', now + 60_000, now)));
  });

  describe('checks of one event-loop turn share a read snapshot', () => {
    it("sees this store's own write at once, though the snapshot was opened before it in the same turn", async () => {
      let during: unknown = 'not run';
      await store.write(
        async (tx) => {
          await tx.putSuppression('p1', 1_000, 'test');
          // A check while the write is not committed yet opens a snapshot without it...
          during = store.checkStateSync('p1', 'news');
        },
        { waitForDisk: false },
      );
      assert.equal(during, undefined);
      // ...and the next check, still in the turn of the COMMIT, must not read that snapshot.
      assert.equal(store.checkStateSync('p1', 'news'), 'erased');
    });

    it("sees another process's change from the next turn on", async () => {
      assert.equal(store.checkStateSync('p2', 'news'), undefined, 'opens the snapshot');
      const { db } = openSqliteDatabase(file());
      try {
        db.prepare("INSERT INTO suppressions (pseudonym, erased_at, actor) VALUES ('p2', 1000, 'other')").run();
      } finally {
        db.close();
      }
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(store.checkStateSync('p2', 'news'), 'erased');
    });

    it('holds no snapshot across turns: an erasure can still empty the WAL', async () => {
      store.checkStateSync('p3', 'news');
      await store.write((tx) => tx.putSuppression('p3', 1_000, 'test'));
      store.checkStateSync('p3', 'news');
      await store.scrub();
      assert.equal(fs.statSync(`${file()}-wal`).size, 0, 'the checkpoint was not held back by the reader');
    });
  });

  describe('the WAL is flushed off the event loop before a write resolves', () => {
    type Callback = (err: NodeJS.ErrnoException | null) => void;
    const realFdatasync = nodeFs.fdatasync;
    let held: Callback[] = [];

    beforeEach(() => {
      held = [];
      (nodeFs as { fdatasync: unknown }).fdatasync = (_fd: number, callback: Callback) => held.push(callback);
    });

    afterEach(() => {
      (nodeFs as { fdatasync: unknown }).fdatasync = realFdatasync;
      for (const callback of held.splice(0)) callback(null);
    });

    const untilFlushStarts = async () => {
      while (held.length === 0) await new Promise((resolve) => setImmediate(resolve));
    };

    /** Lets every flush through until `work` settles (opening a ledger writes, and so flushes, several times). */
    const letFlushesThrough = async <T>(work: Promise<T>): Promise<T> => {
      let settled = false;
      const done = work.finally(() => {
        settled = true;
      });
      while (!settled) {
        held.shift()?.(null);
        await new Promise((resolve) => setImmediate(resolve));
      }
      return done;
    };

    /** close() flushes once more: that flush is let through. */
    const closeFlushing = async (closing: SqliteStore) => {
      const closed = closing.close();
      await untilFlushStarts();
      held.shift()?.(null);
      await closed;
    };

    it('a write resolves only after the flush of its commit, though others can read it at once', async () => {
      const now = Date.now();
      let resolved = false;
      const write = store
        .write((tx) => tx.markSeen('durable', now + 60_000, now))
        .then(() => {
          resolved = true;
        });
      await untilFlushStarts();
      assert.deepEqual(marks(), ['durable'], 'committed before the flush');
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(resolved, false, 'resolved before the disk confirmed it');
      held.shift()?.(null);
      await write;
      assert.equal(resolved, true);
    });

    it('waitForDisk: false resolves once committed; a failed flush rejects the writes that waited for it', async () => {
      const now = Date.now();
      const durable = store.write((tx) => tx.markSeen('proof', now + 60_000, now));
      await untilFlushStarts();
      const quick = await store.write((tx) => tx.markSeen('mark', now + 60_000, now), { waitForDisk: false });
      assert.equal(quick, true);
      assert.deepEqual(marks(), ['mark', 'proof']);
      held.shift()?.(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
      await assert.rejects(durable, /EIO/);
    });

    it('after a failed flush takes no more writes, not even one the next flush seemed to confirm, until reopened', async () => {
      const now = Date.now();
      const warnings: Error[] = [];
      const failing = await SqliteStore.open({ path: file(), clock: () => now, onError: (e) => warnings.push(e) });
      try {
        const first = failing.write((tx) => tx.markSeen('lost', now + 60_000, now));
        await untilFlushStarts();
        const waiting = failing.write((tx) => tx.markSeen('behind', now + 60_000, now));
        while (!marks().includes('behind')) await new Promise((resolve) => setImmediate(resolve));
        held.shift()?.(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
        await assert.rejects(first, /EIO/);
        await untilFlushStarts();
        held.shift()?.(null); // the kernel's "success" after a failure
        const refused = (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'store-disk-failed';
        await assert.rejects(waiting, refused);
        await assert.rejects(
          failing.write((tx) => tx.markSeen('later', now + 60_000, now)),
          refused,
        );
        assert.deepEqual(
          warnings.map((w) => (w as GdprWhatsAppError).code),
          ['store-disk-failed'],
        );
        assert.equal(failing.checkStateSync('p-none', 'news'), undefined, 'checks go on');
      } finally {
        await closeFlushing(failing);
      }
      const reopened = await SqliteStore.open({ path: file(), clock: () => now });
      try {
        const write = reopened.write((tx) => tx.markSeen('after', now + 60_000, now));
        await untilFlushStarts();
        held.shift()?.(null);
        assert.equal(await write, true);
      } finally {
        await closeFlushing(reopened);
      }
    });

    it('a ledger on the stopped store warns of it once, not at each usage flush', async () => {
      const warnings: unknown[] = [];
      const ledger = await letFlushesThrough(
        ConsentLedger.open({
          backend: 'sqlite',
          sqlitePath: path.join(dir, 'ledger-warnings.db'),
          ...TEST_KEYS,
          purposes: TEST_PURPOSES,
          usageFlushMs: 10,
        }),
      );
      ledger.on('warning', (err) => warnings.push(err));
      try {
        const giving = ledger.giveConsent({
          subject: '+4915123456789',
          purpose: 'marketing',
          wording: 'Offers',
          method: 'keyword',
          actor: 't',
        });
        await untilFlushStarts();
        held.shift()?.(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
        await assert.rejects(giving, /EIO/);
        // Consent was relied on meanwhile (a check of another, given consent would do the same): flushes fail.
        for (let round = 0; round < 5; round++) {
          ledger.markUsed('+4915123456789', 'marketing');
          await new Promise((resolve) => setTimeout(resolve, 30));
        }
        assert.deepEqual(
          warnings.map((w) => (w as GdprWhatsAppError).code),
          ['store-disk-failed'],
        );
      } finally {
        await letFlushesThrough(ledger.close().catch(() => undefined));
      }
    });

    it('commits that arrive during a flush share the next one', async () => {
      const now = Date.now();
      const first = store.write((tx) => tx.markSeen('one', now + 60_000, now));
      await untilFlushStarts();
      const later = ['two', 'three', 'four'].map((key) => store.write((tx) => tx.markSeen(key, now + 60_000, now)));
      while (marks().length < 4) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(held.length, 1, 'no second flush while the first runs');
      held.shift()?.(null);
      await first;
      await untilFlushStarts();
      assert.equal(held.length, 1, 'one flush for the three later commits');
      held.shift()?.(null);
      assert.deepEqual(await Promise.all(later), [true, true, true]);
    });
  });
});
