import assert from 'node:assert/strict';
import { metaTimeMs } from '../../../lib/webhook/meta-time';

describe('webhook/meta-time', () => {
  it("reads Meta's whole seconds, and milliseconds set by hand", () => {
    assert.equal(metaTimeMs(1_717_000_000), 1_717_000_000_000);
    assert.equal(metaTimeMs(1_717_000_000_123), 1_717_000_000_123);
  });

  it('gives no time for what no clock can hold: the ledger would refuse it on every delivery', () => {
    for (const timestamp of [
      1e300,
      2 ** 53,
      Number.MAX_VALUE,
      -1,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      '1717000000',
    ]) {
      assert.equal(metaTimeMs(timestamp), undefined, String(timestamp));
    }
  });
});
