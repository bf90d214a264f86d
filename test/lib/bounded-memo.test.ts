import assert from 'node:assert/strict';
import { BoundedMemo } from '../../lib/bounded-memo';

describe('BoundedMemo', () => {
  it('keeps the last two generations by size and forgets what an erasure selects', () => {
    const memo = new BoundedMemo<string>(2);
    for (const n of ['1', '2', '3', '4', '5']) memo.set(n, `+49${n}`);
    assert.deepEqual(
      ['1', '2', '3', '4', '5'].map((n) => memo.get(n)),
      [undefined, undefined, '+493', '+494', '+495'],
    );
    memo.deleteWhere((value) => value === '+494');
    assert.equal(memo.get('4'), undefined);
    assert.equal(
      memo.some((value) => value === '+494'),
      false,
    );
  });

  it('with a maximum age keeps nothing longer than that, however quiet it is', () => {
    let now = 1_000_000;
    const memo = new BoundedMemo<string>(100, 10 * 60_000, () => now);
    memo.set('early', '+491');
    now += 4 * 60_000;
    memo.expire();
    assert.equal(memo.get('early'), '+491', 'younger than half the age: still there');
    now += 2 * 60_000;
    memo.expire();
    memo.set('later', '+492');
    assert.equal(memo.get('early'), '+491', 'in the older generation now');
    now += 5 * 60_000;
    memo.expire();
    assert.equal(memo.get('early'), undefined, 'gone within the maximum age');
    assert.equal(memo.get('later'), '+492');
    // No tick for a long time (a suspended process): both generations are too old.
    now += 60 * 60_000;
    memo.expire();
    assert.equal(memo.get('later'), undefined);
    assert.equal(
      memo.some(() => true),
      false,
    );
  });

  it('without a maximum age keeps entries until the size turns them over', () => {
    let now = 0;
    const memo = new BoundedMemo<string>(100, undefined, () => now);
    memo.set('a', '+491');
    now += 24 * 3_600_000;
    memo.expire();
    assert.equal(memo.get('a'), '+491');
  });
});
