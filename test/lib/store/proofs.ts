import assert from 'node:assert/strict';
import { ConsentLedger } from '../../../lib/consent/ledger';
import { burstAndKill } from './fixtures/child';
import type { HarnessFactory } from './harness';

/**
 * Issue 3 "proofs in tests": SIGKILL in the middle of a burst of writes loses no acknowledged change
 * and leaves a database that passes its integrity check and an intact audit chain.
 */
export function registerCrashProof(name: string, factory: HarnessFactory, killAfter = 400): void {
  describe(`crash proof: ${name}`, function () {
    this.timeout(120_000);

    it('SIGKILL during a burst of writes loses no acknowledged change', async () => {
      const db = await factory();
      try {
        const { acked } = await burstAndKill(db.options(), killAfter);
        assert.ok(acked.length >= killAfter);
        const ledger = await ConsentLedger.open(db.options());
        try {
          assert.equal(await ledger.integrityCheck(), 'ok');
          const audit = await ledger.verifyAudit();
          assert.equal(audit.ok, true, JSON.stringify(audit));
          const lastAck = new Map<string, 'give' | 'withdraw'>();
          for (const ack of acked) if (lastAck.get(ack.phone) !== 'withdraw') lastAck.set(ack.phone, ack.op);
          for (const [phone, op] of lastAck) {
            const { status } = await ledger.checkConsent(phone, 'marketing');
            // A withdrawal may have committed without its acknowledgement reaching us; never the reverse.
            if (op === 'withdraw') assert.equal(status, 'withdrawn', phone);
            else assert.ok(status === 'given' || status === 'withdrawn', `${phone}: ${status}`);
          }
          // Every acknowledged change also has its audit event.
          assert.ok(audit.count >= acked.length, `${audit.count} audit events for ${acked.length} acknowledgements`);
        } finally {
          await ledger.close();
        }
      } finally {
        await db.dispose();
      }
    });
  });
}
