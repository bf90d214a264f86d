import assert from 'node:assert/strict';
import { ConsentLedger } from '../../../lib/consent/ledger';
import { type HarnessFactory, POSTGRES_URL, postgresHarness, sqliteHarness, TEST_PURPOSES } from './harness';

const P = '+4915123456789';
const N = '+4917612345678';
const U = 'DE.1502576394655843';
const U2 = 'DE.1502576394655999';
const W = TEST_PURPOSES[0].wording.en;
const MIN = 60_000;
const DAY = 86_400_000;

/** She signs up by username (user id only), and later writes with her number too: the two are linked. */
async function signUpByUserIdThenLink(ledger: ConsentLedger, between: () => void = () => undefined): Promise<void> {
  const subject = { userId: U, name: 'Erika' };
  await ledger.giveConsent({ subject, purpose: 'marketing', wording: W, method: 'keyword', text: 'START', actor: 't' });
  between();
  await ledger.recordNoticeShown({ phone: P, userId: U }, 'n1', { actor: 't' });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A person's records under her user id and under her number are one person's: the sweep does not unlink them while
 * she is active under either, and her late erasure takes both. The audit chain and the sweep's timer hold across what
 * a restart or a rewrite of the database could do to them.
 */
function register(name: string, factory: HarnessFactory) {
  describe(`linked keys, audit anchor and sweep timer: ${name}`, function () {
    this.timeout(60_000);

    it('keeps the number linked while she is active under her user id, so erasure by number reaches her', async () => {
      const db = await factory();
      let now = Date.UTC(2026, 0, 1);
      const ledger = await ConsentLedger.open(db.options({ clock: () => now, usageFlushMs: 3_600_000 }));
      try {
        await signUpByUserIdThenLink(ledger);
        // Offers go to her by user id every week; she does not write for five weeks; the sweep runs.
        for (let week = 0; week < 5; week++) {
          now += 7 * DAY;
          ledger.markUsed({ userId: U }, 'marketing');
          await ledger.flushUsage();
        }
        await ledger.sweepRetention();
        assert.equal((await ledger.exportSubject(P, 'staff')).consents.length, 1, 'the export by number finds her');
        await ledger.eraseSubject(P, 'staff');
        assert.equal((await ledger.checkConsent({ userId: U }, 'marketing')).allowed, false);
        assert.deepEqual(await db.all("SELECT purpose FROM consents WHERE status = 'given'"), []);
      } finally {
        await ledger.close();
        await db.dispose();
      }
    });

    it('still sweeps the number of a person inactive under every key', async () => {
      const db = await factory();
      let now = Date.UTC(2026, 0, 1);
      const ledger = await ConsentLedger.open(db.options({ clock: () => now }));
      try {
        await signUpByUserIdThenLink(ledger);
        now += MIN;
        await ledger.withdrawConsent({ subject: P, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
        now += 400 * DAY;
        await ledger.sweepRetention();
        assert.deepEqual(await db.all('SELECT pseudonym FROM subjects'), []);
      } finally {
        await ledger.close();
        await db.dispose();
      }
    });

    it('a late erase request (sent before her number moved) takes what she kept under her user id', async () => {
      const db = await factory();
      let now = Date.UTC(2026, 0, 1);
      const ledger = await ConsentLedger.open(db.options({ clock: () => now, usageFlushMs: 3_600_000 }));
      try {
        await signUpByUserIdThenLink(ledger, () => {
          now += MIN;
        });
        now += MIN;
        // "Delete my data" from P with user id U; Meta delivers it only after her move.
        const sentAt = now;
        now += 60 * MIN;
        await ledger.numberChanged({ phone: P, newPhone: N, previousUserId: U, newUserId: U2, actor: 't' });
        now += 60 * MIN;
        // What erase-subject passes for an inbound message (subjectFromMessage: from, userId, sentAt).
        await ledger.eraseSubject({ phone: P, userId: U }, 'erase-subject:x:inbound', { sentAt });
        assert.deepEqual(await db.all("SELECT purpose FROM consents WHERE status = 'given'"), []);
        assert.deepEqual(await db.all('SELECT pseudonym FROM subjects WHERE name_enc IS NOT NULL'), []);
        const check = await ledger.checkConsent({ userId: U }, 'marketing');
        assert.deepEqual([check.allowed, check.status], [false, 'erased']);
        // A sign-up she sends later is a new one: the list holds her id as of her request.
        now += MIN;
        await ledger.giveConsent({
          subject: { userId: U },
          purpose: 'marketing',
          wording: W,
          method: 'keyword',
          actor: 't',
        });
        assert.equal((await ledger.checkConsent({ userId: U }, 'marketing')).allowed, true);
      } finally {
        await ledger.close();
        await db.dispose();
      }
    });

    it('verifyAudit fails when an event is kept before the anchor (a rewritten event under a moved anchor)', async () => {
      const db = await factory();
      const now = Date.UTC(2026, 0, 1);
      let ledger = await ConsentLedger.open(db.options({ clock: () => now }));
      try {
        await ledger.giveConsent({ subject: P, purpose: 'marketing', wording: W, method: 'keyword', actor: 't' });
        await ledger.withdrawConsent({ subject: P, channel: 'whatsapp-keyword', keyword: 'STOP', actor: 't' });
        await ledger.giveConsent({ subject: N, purpose: 'marketing', wording: W, method: 'keyword', actor: 't' });
        const head = (await ledger.verifyAudit()).headHash;
        await ledger.close();
        const [w] = await db.all(`SELECT seq, hash FROM audit WHERE action = 'consent.withdrawn' ORDER BY seq LIMIT 1`);
        // History rewritten without UPDATE (which the trigger stops): deleted, inserted again, the anchor moved onto it.
        const [row] = await db.all(`SELECT * FROM audit WHERE seq = ${Number(w.seq)}`);
        await db.exec(`DELETE FROM audit WHERE seq = ${Number(w.seq)}`);
        const q = (v: unknown) => `'${String(v)}'`;
        await db.exec(
          `INSERT INTO audit (seq, at, actor, action, pseudonym, purpose, outcome, detail, prev_hash, hash) VALUES
           (${Number(row.seq)}, ${Number(row.at)}, ${q(row.actor)}, 'consent.given', ${q(row.pseudonym)},
            ${q(row.purpose)}, 'given', NULL, ${q(row.prev_hash)}, ${q(row.hash)})`,
        );
        await db.exec(`INSERT INTO audit_anchor (id, seq, hash) VALUES (1, ${Number(w.seq)}, '${String(w.hash)}')`);
        ledger = await ConsentLedger.open(db.options({ clock: () => now }));
        const result = await ledger.verifyAudit();
        assert.equal(result.headHash, undefined);
        assert.notEqual(head, undefined);
        assert.deepEqual([result.ok, result.firstBrokenSeq], [false, 1]);
      } finally {
        await ledger.close();
        await db.dispose();
      }
    });

    it('sweeps although the store restarts more often than the interval, and not at every start', async () => {
      const db = await factory();
      let offset = 0;
      const open = () => ConsentLedger.open(db.options({ clock: () => Date.now() + offset }));
      let ledger = await open();
      try {
        await ledger.requestConsent({ subject: P, purpose: 'marketing', wording: W, method: 'web-form', actor: 't' });
        // The request expired a day ago.
        offset = 3 * DAY;
        // A 10 s interval (the first sweep after a start waits a tenth of it), and a restart every 3 s, as a store
        // swept daily and restarted every night.
        for (let restart = 0; restart < 3; restart++) {
          ledger.startRetentionTimer(10_000);
          await sleep(3000);
          await ledger.close();
          ledger = await open();
        }
        const [row] = await db.all('SELECT status FROM consents');
        assert.equal(row.status, 'expired', 'the expired request was swept');
        const runs = await db.all("SELECT seq FROM audit WHERE action = 'retention.purge_run'");
        assert.equal(runs.length, 1, 'the starts after the sweep waited for the interval from it');
      } finally {
        await ledger.close();
        await db.dispose();
      }
    });
  });
}

register('SQLite', sqliteHarness());
if (POSTGRES_URL) register('PostgreSQL', postgresHarness(POSTGRES_URL));
