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

  it('seeds people who consented by keyword a day ago: that message opened their 24-hour window', async () => {
    // Without it each subject's first benchmark message grows its row, which real keyword consents never cause.
    const ledger = await openOn(store.fresh());
    try {
      for (const n of [0, 19]) {
        const consent = await ledger.getConsent(benchPhone(n), BENCH_PURPOSE);
        assert.equal(consent?.method, 'keyword');
        const lastInbound = await ledger.lastInboundAt(benchPhone(n));
        assert.ok(lastInbound !== undefined, `subject ${n} has no inbound time`);
        assert.equal(lastInbound, consent?.decidedAt, 'the keyword message is the last inbound one');
        assert.ok(Date.now() - lastInbound >= 86_400_000 - 60_000, 'the window is closed: a new message moves it');
      }
    } finally {
      await ledger.close();
    }
  });

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
