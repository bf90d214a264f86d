import assert from 'node:assert/strict';
import { Pacer } from '../../../lib/cloud-api/pacer';
import { GdprWhatsAppError } from '../../../lib/errors';
import { FakeClock, flush } from './fake-clock';

describe('cloud-api pacer', () => {
  it('starts at most ratePerSecond tasks in any second, in FIFO order', async () => {
    const clock = new FakeClock();
    const pacer = new Pacer({ ratePerSecond: 10, maxQueue: 100, clock });
    const started: Array<{ n: number; at: number }> = [];
    const results = Array.from({ length: 25 }, (_, n) =>
      pacer.schedule(async () => {
        started.push({ n, at: clock.now() });
        return n;
      }),
    );
    assert.equal(started.length, 10, 'a burst up to the rate goes out at once');
    assert.equal(pacer.queueLength, 15);
    clock.advance(999);
    assert.equal(started.length, 10, 'nothing more within the same second');
    clock.advance(1);
    assert.equal(started.length, 20);
    clock.advance(1000);
    assert.equal(started.length, 25);
    assert.equal(pacer.queueLength, 0);
    assert.deepEqual(
      await Promise.all(results),
      Array.from({ length: 25 }, (_, n) => n),
    );
    assert.deepEqual(
      started.map((s) => s.n),
      Array.from({ length: 25 }, (_, n) => n),
      'FIFO',
    );
    for (const s of started) {
      const inWindow = started.filter((o) => o.at > s.at - 1000 && o.at <= s.at).length;
      assert.ok(inWindow <= 10, `at most 10 starts in the second before ${s.at}`);
    }
  });

  it('spreads starts over time when tasks trickle in', async () => {
    const clock = new FakeClock();
    const pacer = new Pacer({ ratePerSecond: 2, maxQueue: 10, clock });
    const starts: number[] = [];
    const task = async () => {
      starts.push(clock.now());
    };
    void pacer.schedule(task);
    clock.advance(300);
    void pacer.schedule(task);
    clock.advance(300);
    void pacer.schedule(task); // third in 600 ms: waits until the first start is 1000 ms old
    assert.equal(starts.length, 2);
    clock.advance(399);
    assert.equal(starts.length, 2);
    clock.advance(1);
    assert.deepEqual(
      starts.map((t) => t - starts[0]),
      [0, 300, 1000],
    );
  });

  it('a rate below one per second spaces single starts', () => {
    const clock = new FakeClock();
    const pacer = new Pacer({ ratePerSecond: 0.5, maxQueue: 10, clock });
    let count = 0;
    for (let i = 0; i < 3; i++) void pacer.schedule(async () => void count++);
    assert.equal(count, 1);
    clock.advance(1999);
    assert.equal(count, 1);
    clock.advance(1);
    assert.equal(count, 2);
  });

  it('ratePerSecond 0 starts everything at once and never queues', () => {
    const clock = new FakeClock();
    const pacer = new Pacer({ ratePerSecond: 0, maxQueue: 0, clock });
    let count = 0;
    for (let i = 0; i < 500; i++) void pacer.schedule(async () => void count++);
    assert.equal(count, 500);
    assert.equal(pacer.queueLength, 0);
    assert.equal(clock.pendingTimers, 0);
  });

  it('rejects at once with queue-full when maxQueue tasks are waiting', async () => {
    const clock = new FakeClock();
    const pacer = new Pacer({ ratePerSecond: 1, maxQueue: 2, clock });
    const first = pacer.schedule(async () => 'first');
    const waiting = [pacer.schedule(async () => 'a'), pacer.schedule(async () => 'b')];
    assert.equal(pacer.queueLength, 2);
    await assert.rejects(
      pacer.schedule(async () => 'c'),
      (err: unknown) => {
        assert.ok(err instanceof GdprWhatsAppError);
        assert.equal(err.code, 'queue-full');
        assert.deepEqual(err.params, { max: 2 });
        return true;
      },
    );
    assert.equal(pacer.queueLength, 2, 'the refused task did not enter the queue');
    clock.advance(2000);
    assert.deepEqual(await Promise.all([first, ...waiting]), ['first', 'a', 'b']);
  });

  it('close rejects waiting tasks with closed, lets started ones finish and refuses new ones', async () => {
    const clock = new FakeClock();
    const pacer = new Pacer({ ratePerSecond: 1, maxQueue: 10, clock });
    let release!: (v: string) => void;
    const running = pacer.schedule(() => new Promise<string>((resolve) => (release = resolve)));
    const waiting = pacer.schedule(async () => 'never');
    let ran = false;
    const waiting2 = pacer.schedule(async () => {
      ran = true;
    });
    pacer.close();
    assert.equal(pacer.queueLength, 0);
    assert.equal(clock.pendingTimers, 0, 'no timer left behind');
    const isClosed = (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'closed';
    await assert.rejects(waiting, isClosed);
    await assert.rejects(waiting2, isClosed);
    await assert.rejects(
      pacer.schedule(async () => 'late'),
      isClosed,
    );
    release('done');
    assert.equal(await running, 'done');
    clock.advance(5000);
    await flush();
    assert.equal(ran, false);
  });

  it('starts no more than maxConcurrent at once: the next waits in the queue until one ends', async () => {
    const clock = new FakeClock();
    const pacer = new Pacer({ ratePerSecond: 0, maxConcurrent: 2, maxQueue: 1, clock });
    const releases: Array<() => void> = [];
    const task = () => new Promise<void>((resolve) => releases.push(resolve));
    const first = pacer.schedule(task);
    void pacer.schedule(task);
    const third = pacer.schedule(task);
    assert.equal(releases.length, 2);
    assert.equal(pacer.queueLength, 1, 'the third waits where maxQueue and close() see it');
    await assert.rejects(
      pacer.schedule(task),
      (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'queue-full',
    );
    clock.advance(10_000);
    assert.equal(releases.length, 2, 'time alone does not start it');
    releases[0]();
    await first;
    await flush();
    assert.equal(releases.length, 3);
    assert.equal(pacer.queueLength, 0);
    releases[2]();
    await third;
  });

  it('a task held back by maxConcurrent still keeps to the rate', async () => {
    const clock = new FakeClock();
    const pacer = new Pacer({ ratePerSecond: 2, maxConcurrent: 1, maxQueue: 10, clock });
    const starts: number[] = [];
    const task = async () => {
      starts.push(clock.now());
    };
    const all = [1, 2, 3].map(() => pacer.schedule(task));
    await flush();
    assert.equal(starts.length, 2, 'the third waits for the window, not only for the second to end');
    clock.advance(1000);
    await Promise.all(all);
    assert.deepEqual(
      starts.map((t) => t - starts[0]),
      [0, 0, 1000],
    );
  });

  it('close rejects the tasks waiting for a running one to end', async () => {
    const pacer = new Pacer({ ratePerSecond: 0, maxConcurrent: 1, maxQueue: 10, clock: new FakeClock() });
    let release!: () => void;
    const running = pacer.schedule(() => new Promise<void>((resolve) => (release = resolve)));
    let ran = false;
    const waiting = pacer.schedule(async () => {
      ran = true;
    });
    pacer.close();
    await assert.rejects(waiting, (err: unknown) => err instanceof GdprWhatsAppError && err.code === 'closed');
    release();
    await running;
    await flush();
    assert.equal(ran, false);
  });

  it('slowDown: no start for a second, then half the rate, growing back slowly', () => {
    const clock = new FakeClock();
    const pacer = new Pacer({ ratePerSecond: 10, maxQueue: 1000, clock });
    const starts: number[] = [];
    const task = async () => {
      starts.push(clock.now());
    };
    const t0 = clock.now();
    void pacer.schedule(task);
    pacer.slowDown();
    assert.equal(pacer.currentRate(), 5);
    for (let i = 0; i < 500; i++) void pacer.schedule(task);
    clock.advance(999);
    assert.equal(starts.length, 1, 'nothing during the pause');
    clock.advance(1);
    assert.equal(starts.length, 6, 'then five in the first second');
    clock.advance(999);
    assert.equal(starts.length, 6);
    clock.advance(14_001);
    const meanwhile = pacer.currentRate();
    assert.ok(meanwhile > 5 && meanwhile < 10, `growing back: ${meanwhile}`);
    clock.advance(15_000);
    assert.equal(pacer.currentRate(), 10, 'back to the full rate after 30 s');
    const before = starts.length;
    clock.advance(1000);
    assert.equal(starts.length - before, 10, 'the full rate again');
    assert.ok(starts.every((at) => at === t0 || at >= t0 + 1000));
  });

  it('slowDown cuts once for the answers of one burst, again after its cool-down, never below one per second', () => {
    const clock = new FakeClock();
    const pacer = new Pacer({ ratePerSecond: 8, maxQueue: 10, clock });
    pacer.slowDown();
    pacer.slowDown();
    clock.advance(1999);
    pacer.slowDown();
    assert.ok(Math.abs(pacer.currentRate() - (4 + (8 / 60) * 0.999)) < 1e-9, 'one cut, then growing back');
    for (let i = 0; i < 10; i++) {
      clock.advance(2000);
      pacer.slowDown();
    }
    assert.equal(pacer.currentRate(), 1);
  });

  it('slowDown does nothing while pacing is off', () => {
    const pacer = new Pacer({ ratePerSecond: 0, maxQueue: 0, clock: new FakeClock() });
    pacer.slowDown();
    let count = 0;
    for (let i = 0; i < 5; i++) void pacer.schedule(async () => void count++);
    assert.equal(count, 5);
  });

  it('a failing task rejects only its own promise', async () => {
    const clock = new FakeClock();
    const pacer = new Pacer({ ratePerSecond: 1, maxQueue: 10, clock });
    const bad = pacer.schedule(async () => {
      throw new Error('bad');
    });
    const syncBad = pacer.schedule((() => {
      throw new Error('sync bad');
    }) as () => Promise<never>);
    const good = pacer.schedule(async () => 'good');
    clock.advance(2000);
    await assert.rejects(bad, /bad/);
    await assert.rejects(syncBad, /sync bad/);
    assert.equal(await good, 'good');
  });

  it('keeps FIFO when new tasks arrive while older ones wait', () => {
    const clock = new FakeClock();
    const pacer = new Pacer({ ratePerSecond: 1, maxQueue: 10, clock });
    const order: string[] = [];
    void pacer.schedule(async () => void order.push('a'));
    void pacer.schedule(async () => void order.push('b'));
    clock.advance(1000); // b starts
    void pacer.schedule(async () => void order.push('c'));
    void pacer.schedule(async () => void order.push('d'));
    clock.advance(1000);
    clock.advance(1000);
    assert.deepEqual(order, ['a', 'b', 'c', 'd']);
  });
});
