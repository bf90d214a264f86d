import assert from 'node:assert/strict';
import { MinimumDelay } from '../../lib/minimum-delay';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('MinimumDelay', () => {
  it('runs a task no sooner than the minimum after its start, however soon it is handed over', async () => {
    const delay = new MinimumDelay(120);
    const startedAt = delay.start();
    const ran = new Promise<number>((resolve) => delay.after(startedAt, () => resolve(performance.now())));
    assert.ok((await ran) - startedAt >= 120);
  });

  it('counts from the start, not from the hand-over: a task handed over late waits only for the rest', async () => {
    let now = 1000;
    const delay = new MinimumDelay(100, () => now);
    const startedAt = delay.start();
    now = 1100;
    let ran = false;
    delay.after(startedAt, () => {
      ran = true;
    });
    assert.equal(ran, true, 'the minimum had passed: at once');
  });

  it('checks its clock again when a timer fires early by it, so the minimum holds', async () => {
    // A clock running at half speed: every timer fires early by it.
    const clock = () => performance.now() / 2;
    const delay = new MinimumDelay(30, clock);
    const startedAt = delay.start();
    const ranAt = await new Promise<number>((resolve) => delay.after(startedAt, () => resolve(clock())));
    assert.ok(ranAt - startedAt >= 30, `ran ${ranAt - startedAt} after the start by its clock`);
  });

  it('keeps nothing else waiting: a shorter timer set after it fires first', async () => {
    const delay = new MinimumDelay(200);
    const order: string[] = [];
    const padded = new Promise<void>((resolve) =>
      delay.after(delay.start(), () => {
        order.push('padded');
        resolve();
      }),
    );
    await sleep(10);
    order.push('other');
    await padded;
    assert.deepEqual(order, ['other', 'padded']);
  });

  it('drops the waiting tasks when closed, and those handed over later: each one is told', async () => {
    const delay = new MinimumDelay(50);
    const ran: string[] = [];
    const dropped: string[] = [];
    for (const name of ['a', 'b']) {
      delay.after(
        delay.start(),
        () => ran.push(name),
        () => dropped.push(name),
      );
    }
    assert.equal(delay.size, 2);
    delay.close();
    assert.equal(delay.size, 0);
    assert.deepEqual(dropped, ['a', 'b']);
    delay.after(
      delay.start() - 1000,
      () => ran.push('late'),
      () => dropped.push('late'),
    );
    await sleep(100);
    assert.deepEqual(ran, [], 'no task ran');
    assert.deepEqual(dropped, ['a', 'b', 'late']);
  });
});
