import assert from 'node:assert/strict';
import { RequestLimit } from '../../../lib/conversation/request-limit';

describe('RequestLimit', () => {
  it('gives as many places a minute as set, and one again when the oldest is a minute old', () => {
    const limit = new RequestLimit(2);
    assert.ok(limit.take(0));
    assert.ok(limit.take(10));
    assert.equal(limit.take(20), undefined, 'the minute is full');
    assert.equal(limit.take(59_999), undefined);
    assert.ok(limit.take(60_000), 'the first place is free again');
    assert.equal(limit.take(60_001), undefined);
  });

  it('frees a place that was given back, once however often it is given back', () => {
    const limit = new RequestLimit(2);
    const first = limit.take(0);
    assert.ok(limit.take(1));
    first?.();
    first?.();
    assert.ok(limit.take(2), 'the place given back');
    assert.equal(limit.take(3), undefined, 'a second give-back freed nothing more');
  });

  it('with 0 (or anything but a positive whole number) sets no limit', () => {
    for (const setting of [0, -1, 1.5, Number.NaN]) {
      const limit = new RequestLimit(setting);
      for (let i = 0; i < 100; i += 1) assert.ok(limit.take(i), `setting ${setting}`);
    }
  });

  it('says in whole seconds when a full minute has a place again (HTTP Retry-After), 0 while one is free', () => {
    const limit = new RequestLimit(2);
    assert.equal(limit.secondsUntilFree(0), 0);
    limit.take(1_000);
    assert.equal(limit.secondsUntilFree(1_000), 0, 'one place left');
    const second = limit.take(20_000);
    assert.equal(limit.secondsUntilFree(20_000), 41, 'the first place is free at 61 s');
    assert.equal(limit.secondsUntilFree(60_500), 1, 'rounded up: never too soon');
    assert.equal(limit.secondsUntilFree(61_000), 0, 'the first place is a minute old');
    second?.();
    limit.take(61_000);
    assert.equal(limit.secondsUntilFree(61_000), 0, 'a place given back is free');
    assert.equal(new RequestLimit(0).secondsUntilFree(0), 0, 'no limit');
  });
});
