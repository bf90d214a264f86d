import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { BENCH_PURPOSE, benchPhone, type SeededStore, seedConsentStore } from '../../bench/seed';
import { ConsentLedger } from '../../lib/consent/ledger';
import { type ConsentStoreDef, ledgerOptions } from '../../nodes/consent-store';

/** A ledger on a seeded store's file, keyed as the benchmark's consent-store node keys it. */
function openOn(store: SeededStore): Promise<ConsentLedger> {
  const node = store.storeNode('x') as { purposes: unknown };
  const def = {
    backend: 'sqlite',
    sqlitePath: store.sqlitePath,
    purposes: node.purposes,
  } as unknown as ConsentStoreDef;
  return ConsentLedger.open(ledgerOptions(def, store.credentials, store.dir));
}

/**
 * Each inbound benchmark run withdraws the same senders; on a store an earlier round had withdrawn already, its
 * STOPs cost less than the first round's. fresh() must give every run the file as seeded.
 */
describe('benchmark seed: fresh copies of the seeded store', function () {
  this.timeout(30_000);
  let store: SeededStore;

  before(async () => {
    store = await seedConsentStore(20);
  });

  after(() => store.remove());

  it('gives every run the consents as seeded, whatever an earlier copy was used for', async () => {
    const first = store.fresh();
    const used = await openOn(first);
    await used.withdrawConsent({ subject: benchPhone(0), purposes: [BENCH_PURPOSE], channel: 'api', actor: 'test' });
    assert.equal((await used.checkConsent(benchPhone(0), BENCH_PURPOSE)).status, 'withdrawn');
    await used.close();

    const second = store.fresh();
    assert.notEqual(second.sqlitePath, first.sqlitePath);
    const unused = await openOn(second);
    for (const n of [0, 19]) {
      assert.equal((await unused.checkConsent(benchPhone(n), BENCH_PURPOSE)).status, 'given', `subject ${n}`);
    }
    await unused.close();

    first.remove();
    second.remove();
    assert.equal(fs.existsSync(first.sqlitePath), false);
    assert.equal(fs.existsSync(store.sqlitePath), true, 'removing a copy leaves the seeded store');
  });
});
