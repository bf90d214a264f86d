import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { EVENT_FEED_LEASE_MS, EVENT_FEED_RETENTION_MS, type FeedEvent } from '../../../lib/consent/event-feed';
import { ConsentLedger } from '../../../lib/consent/ledger';
import type { LedgerEvent } from '../../../lib/consent/types';
import { GdprWhatsAppError } from '../../../lib/errors';
import { scanRawPages } from '../../reliability/support/postgres';
import { type BackendHarness, type HarnessFactory, POSTGRES_URL, TEST_PURPOSES } from './harness';

const ANNA = '+4915123456789';
const BEN = '+4917612345678';
const WORDING = TEST_PURPOSES[0].wording.en;
const CRM = 'consent-events:crm';

/**
 * The event feed behind consent-events (lib/consent/event-feed.ts): every event of a change is kept in the change's
 * transaction for each registered consumer until it is acknowledged, so none is lost to a crash, a redeploy or
 * another instance. Checked against each storage backend.
 */
export function registerEventFeedContract(name: string, factory: HarnessFactory): void {
  describe(`consent ledger: event feed, ${name}`, function () {
    this.timeout(60_000);
    let db: BackendHarness;
    let ledger: ConsentLedger;
    let now: number;
    const open = () => ConsentLedger.open(db.options({ clock: () => now, usageFlushMs: 3_600_000 }));

    beforeEach(async () => {
      now = Date.UTC(2026, 0, 15, 9, 0, 0);
      db = await factory();
      ledger = await open();
    });

    afterEach(async () => {
      await ledger?.close();
      await db?.dispose();
    });

    const give = (subject: string, purpose = 'marketing') =>
      ledger.giveConsent({ subject, purpose, wording: WORDING, method: 'keyword', actor: 't' });
    const stop = (subject: string) =>
      ledger.withdrawConsent({
        subject,
        purposes: ['marketing'],
        channel: 'whatsapp-keyword',
        keyword: 'STOP',
        actor: 't',
      });
    const read = (holder = 'copy-1', consumer = CRM, includeContact = false) =>
      ledger.readEvents(consumer, { holder, includeContact });
    const types = (events: FeedEvent[]) => events.map((e) => `${e.type}:${e.purpose ?? ''}`);
    const outbox = async () => Number((await db.all('SELECT COUNT(*) AS n FROM event_outbox'))[0].n);
    const storedContact = async () =>
      String((await db.all('SELECT contact_enc FROM event_outbox WHERE contact_enc IS NOT NULL'))[0].contact_enc);

    /** Not left in free pages or in the write-ahead log either (SQLite's files), nor in a dead tuple (PostgreSQL's pages). */
    async function assertScrubbed(ciphertext: string): Promise<void> {
      if (db.backend === 'postgres') {
        const hits = await scanRawPages(String(POSTGRES_URL), String(db.options().postgresSchema), [ciphertext]);
        if (hits) assert.deepEqual(hits, [], 'a page still holds the number');
        else console.log('      pageinspect is not available: raw pages not scanned');
        return;
      }
      const file = String(db.options().sqlitePath);
      for (const part of [file, `${file}-wal`]) {
        const bytes = existsSync(part) ? readFileSync(part) : Buffer.alloc(0);
        assert.equal(bytes.includes(Buffer.from(ciphertext)), false, `${part} still holds the number`);
      }
    }

    it('keeps nothing while no consumer is registered; a new consumer starts after the newest event', async () => {
      await give(ANNA);
      assert.equal(await outbox(), 0, 'no consumer, no copy of the event');
      const empty = await read();
      assert.deepEqual({ ...empty, after: undefined }, { held: false, after: undefined, events: [], more: false });
      assert.equal(typeof empty.after, 'number');
      await give(BEN);
      const page = await read();
      assert.deepEqual(types(page.events), ['consent.given:marketing']);
      assert.equal(page.events[0].phone, undefined, 'no number unless asked for');
    });

    it('gives each consumer every event in order, until it acknowledges them; what all took is deleted', async () => {
      await read('copy-1', CRM);
      await read('copy-1', 'consent-events:mail');
      await give(ANNA);
      await stop(ANNA);
      const first = await read();
      assert.deepEqual(types(first.events), ['consent.given:marketing', 'consent.withdrawn:marketing']);
      assert.ok(first.events[0].id < first.events[1].id, 'ids rise');
      assert.equal(first.events[1].channel, 'whatsapp-keyword', 'the event as emitted, with its details');
      assert.deepEqual(types((await read()).events), types(first.events), 'unacknowledged events come again');
      assert.ok((first.after ?? Number.NaN) < first.events[0].id, 'read from a cursor before its events');
      assert.equal(await ledger.acknowledgeEvents(CRM, { holder: 'copy-1', lastId: first.events[0].id }), true);
      const rest = await read();
      assert.deepEqual(types(rest.events), ['consent.withdrawn:marketing']);
      assert.equal(rest.after, first.events[0].id, 'the cursor it was read from: what was acknowledged');
      assert.equal(await outbox(), 2, 'the other consumer has taken nothing yet');
      await ledger.acknowledgeEvents(CRM, { holder: 'copy-1', lastId: first.events[1].id });
      const mail = await read('copy-1', 'consent-events:mail');
      assert.deepEqual(types(mail.events), types(first.events));
      await ledger.acknowledgeEvents('consent-events:mail', { holder: 'copy-1', lastId: mail.events[1].id });
      assert.equal(await outbox(), 0, 'taken by every consumer: gone');
      assert.deepEqual((await read()).events, []);
    });

    it('pages through a long backlog', async () => {
      await read();
      for (let i = 0; i < 5; i++) {
        await give(ANNA);
        await stop(ANNA);
      }
      const seen: FeedEvent[] = [];
      for (;;) {
        const page = await ledger.readEvents(CRM, { holder: 'copy-1', limit: 3 });
        seen.push(...page.events);
        if (page.events.length > 0) {
          await ledger.acknowledgeEvents(CRM, { holder: 'copy-1', lastId: page.events[page.events.length - 1].id });
        }
        if (!page.more) break;
      }
      assert.equal(seen.length, 10);
      assert.deepEqual(
        seen.map((e) => e.id),
        [...seen.map((e) => e.id)].sort((a, b) => a - b),
      );
    });

    it('an event survives the process: unacknowledged before a restart, it is read after it', async () => {
      await read();
      await give(ANNA);
      await ledger.close();
      ledger = await open();
      assert.deepEqual(types((await read()).events), ['consent.given:marketing']);
    });

    it('keeps the number encrypted, only for a consumer that includes it', async () => {
      await read('copy-1', CRM, true);
      await give(ANNA);
      const raw = JSON.stringify(await db.all('SELECT * FROM event_outbox'));
      assert.doesNotMatch(raw, /4915123456789/, 'never in plain text');
      assert.match(raw, /"contact_enc":"v1\./);
      const [withNumber] = (await read('copy-1', CRM, true)).events;
      assert.equal(withNumber.phone, ANNA);
      const [without] = (await read('copy-1', CRM, false)).events;
      assert.equal(without.phone, undefined, 'asked without it, the event comes without it');
    });

    it('one copy of a consumer delivers at a time: the others wait until its lease ends or it lets go', async () => {
      await read('copy-1');
      await give(ANNA);
      assert.deepEqual(await read('copy-2'), { held: true, events: [], more: false });
      now += EVENT_FEED_LEASE_MS - 1;
      assert.equal((await read('copy-2')).held, true, 'until the very end of the lease');
      assert.equal((await read('copy-1')).held, false, 'the holder reads, and so renews its lease');
      now += EVENT_FEED_LEASE_MS - 1;
      assert.equal((await read('copy-2')).held, true, 'renewed by that read');
      now += 1;
      const taken = await read('copy-2');
      assert.deepEqual(types(taken.events), ['consent.given:marketing'], 'what copy 1 did not acknowledge comes again');
      const [event] = taken.events;
      assert.equal(
        await ledger.acknowledgeEvents(CRM, { holder: 'copy-1', lastId: event.id }),
        false,
        'a copy that lost its lease moves nothing',
      );
      await ledger.releaseEvents(CRM, { holder: 'copy-2' });
      assert.deepEqual(types((await read('copy-1')).events), ['consent.given:marketing'], 'let go: taken over at once');
    });

    it('a consumer that stopped reading keeps its place: what happened meanwhile waits for it', async () => {
      await read();
      await ledger.releaseEvents(CRM, { holder: 'copy-1' });
      await give(ANNA);
      now += EVENT_FEED_RETENTION_MS - 1;
      const warnings: Error[] = [];
      ledger.on('warning', (err: Error) => warnings.push(err));
      const swept = await ledger.sweepRetention();
      assert.equal(swept.undeliveredEventsRemoved, 0, 'not a week yet');
      assert.deepEqual(warnings, []);
      assert.deepEqual(types((await read('copy-9')).events), ['consent.given:marketing']);
    });

    it('an acknowledgement never moves past the events the holder was given, and a late one changes nothing', async () => {
      await read();
      await give(ANNA);
      const [given] = (await read()).events;
      // Committed after that read: an id from nowhere must not acknowledge it unseen.
      await stop(ANNA);
      assert.equal(await ledger.acknowledgeEvents(CRM, { holder: 'copy-1', lastId: given.id + 1000 }), true);
      assert.deepEqual(types((await read()).events), ['consent.withdrawn:marketing']);
      // The same acknowledgement again, after its events were deleted: no error, no move.
      assert.equal(await ledger.acknowledgeEvents(CRM, { holder: 'copy-1', lastId: given.id }), true);
      assert.deepEqual(types((await read()).events), ['consent.withdrawn:marketing']);
    });

    it('erasure takes the number from the waiting events; only the erasure event still names it', async () => {
      await read('copy-1', CRM, true);
      await give(ANNA);
      await stop(ANNA);
      const report = await ledger.eraseSubject(ANNA, 'staff');
      assert.equal(report.removed.eventContacts, 2);
      const events = (await read('copy-1', CRM, true)).events;
      assert.deepEqual(types(events), ['consent.given:marketing', 'consent.withdrawn:marketing', 'subject.erased:']);
      assert.deepEqual(
        events.map((e) => e.phone),
        [undefined, undefined, ANNA],
      );
      const ciphertext = await storedContact();
      await ledger.acknowledgeEvents(CRM, { holder: 'copy-1', lastId: events[2].id });
      assert.equal(await outbox(), 0, 'delivered: the number is gone from the store');
      await assertScrubbed(ciphertext);
    });

    describe('a number change', () => {
      const CARL = '+4915798765432';
      const summary = (events: FeedEvent[]) =>
        events.map((e) => `${e.type}:${e.purpose ?? ''}@${e.pseudonym === events[0].pseudonym ? 'old' : 'new'}`);

      it('tells where the person went, after the old number’s endings and before what followed her', async () => {
        await read('copy-1', CRM, true);
        await give(ANNA);
        await ledger.withdrawConsent({ subject: ANNA, purposes: ['orders'], channel: 'whatsapp-keyword', actor: 't' });
        await ledger.acknowledgeEvents(CRM, {
          holder: 'copy-1',
          lastId: (await read('copy-1', CRM, true)).events[1].id,
        });
        now += 60_000;
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        const events = (await read('copy-1', CRM, true)).events;
        assert.deepEqual(summary(events), [
          'consent.withdrawn:marketing@old',
          'subject.number-changed:@old',
          'consent.withdrawn:orders@new',
        ]);
        const moved = events[1];
        assert.equal(moved.to, events[2].pseudonym, 'the pseudonym a CRM re-keys her record to');
        assert.deepEqual([moved.phone, moved.newPhone, moved.at], [ANNA, BEN, now]);
        const raw = JSON.stringify(await db.all('SELECT * FROM event_outbox'));
        assert.doesNotMatch(raw, /4915123456789|4917612345678/, 'never in plain text');
        const [without] = (await read('copy-1', CRM, false)).events.filter((e) => e.type === 'subject.number-changed');
        assert.deepEqual([without.phone, without.newPhone], [undefined, undefined]);
      });

      it('scrubs the numbers from the store once the move was delivered', async () => {
        await read('copy-1', CRM, true);
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        const events = (await read('copy-1', CRM, true)).events;
        assert.deepEqual(types(events), ['subject.number-changed:']);
        const ciphertext = await storedContact();
        await ledger.acknowledgeEvents(CRM, { holder: 'copy-1', lastId: events[0].id });
        assert.equal(await outbox(), 0);
        await assertScrubbed(ciphertext);
      });

      it('her erasure at the new number takes both numbers from the move still waiting', async () => {
        await read('copy-1', CRM, true);
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        now += 60_000;
        await ledger.eraseSubject(BEN, 'staff');
        const events = (await read('copy-1', CRM, true)).events;
        assert.deepEqual(
          events.map((e) => [e.type, e.phone, e.newPhone]),
          [
            ['subject.number-changed', undefined, undefined],
            ['subject.previous-holder-erased', undefined, undefined],
            ['subject.erased', BEN, undefined],
          ],
        );
      });

      it('her erasure by the user id of a move known only by user id takes the numbers from the move still waiting', async () => {
        await read('copy-1', CRM, true);
        await ledger.giveConsent({
          subject: { phone: CARL, userId: 'DE.7101' },
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        await ledger.numberChanged({ phone: CARL, previousUserId: 'DE.7101', newUserId: 'DE.7102', actor: 't' });
        const waiting = (await read('copy-1', CRM, true)).events.find((e) => e.type === 'subject.number-changed');
        assert.deepEqual([waiting?.phone, waiting?.userId, waiting?.newUserId], [CARL, 'DE.7101', 'DE.7102']);
        const contactsOfMove = async () =>
          (await db.all('SELECT pseudonym FROM event_outbox WHERE contact_enc IS NOT NULL')).filter(
            (row) => row.pseudonym === waiting?.pseudonym,
          ).length;
        assert.ok((await contactsOfMove()) > 0);
        now += 60_000;
        // Known to the business only by the user id Meta gave her with the move: no number of hers is on record.
        await ledger.eraseSubject({ userId: 'DE.7102' }, 'staff');
        const moved = (await read('copy-1', CRM, true)).events.filter((e) => e.type === 'subject.number-changed');
        assert.equal(moved.length, 1);
        assert.deepEqual([moved[0].phone, moved[0].userId, moved[0].newUserId], [undefined, undefined, undefined]);
        assert.equal(await contactsOfMove(), 0, 'no ciphertext of her numbers left in the outbox');
      });

      it('tells a move only once when Meta delivers it again, also one known only by user id', async () => {
        await read('copy-1', CRM, true);
        await give(ANNA);
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        now += 60_000;
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        // Known only by her user ids: the retry finds the new id taken by the first, and no number.
        const byId = { phone: CARL, previousUserId: 'DE.7001', newUserId: 'DE.7002', actor: 't' };
        await ledger.giveConsent({
          subject: { phone: CARL, userId: 'DE.7001' },
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        await ledger.numberChanged(byId);
        now += 60_000;
        await ledger.numberChanged(byId);
        const moves = (await read('copy-1', CRM, true)).events.filter((e) => e.type === 'subject.number-changed');
        assert.equal(moves.length, 2, 'one per move');
        assert.deepEqual(
          moves.map((e) => [e.phone, e.newPhone, e.userId, e.newUserId, typeof e.to]),
          [
            [ANNA, BEN, undefined, undefined, 'string'],
            [CARL, undefined, 'DE.7001', 'DE.7002', 'string'],
          ],
        );
      });

      it('tells a second move from the number after someone else held it', async () => {
        await read('copy-1', CRM, true);
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        now += 60_000;
        await give(ANNA); // the number's next holder
        now += 60_000;
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        const moves = (await read('copy-1', CRM, true)).events.filter((e) => e.type === 'subject.number-changed');
        assert.equal(moves.length, 2);
      });

      it('an erasure of a previous holder’s part names the number by pseudonym only; a person’s, that it is free', async () => {
        await read('copy-1', CRM, true);
        await give(ANNA);
        await ledger.numberChanged({ phone: ANNA, newPhone: BEN, actor: 't' });
        const movedAt = now;
        now += 60_000;
        await ledger.eraseSubject(ANNA, 'staff', { beforeNumberChange: true });
        now += 60_000;
        await ledger.eraseSubject(BEN, 'staff');
        const events = (await read('copy-1', CRM, true)).events.filter((e) => e.type.startsWith('subject.'));
        assert.deepEqual(
          events.map((e) => [e.type, e.phone, e.heldAfter, e.movedAt]),
          [
            ['subject.number-changed', undefined, undefined, undefined],
            ['subject.previous-holder-erased', undefined, false, movedAt],
            // Erased at her new number, her part of the one she left goes too.
            ['subject.previous-holder-erased', undefined, false, movedAt],
            ['subject.erased', BEN, false, undefined],
          ],
        );
        assert.equal(events[1].pseudonym, events[0].pseudonym);
      });
    });

    it('an event whose number was encrypted under a key since removed still comes, without the number', async () => {
      await read('copy-1', CRM, true);
      await give(ANNA);
      await ledger.close();
      const warnings: Error[] = [];
      ledger = await ConsentLedger.open(
        db.options({
          clock: () => now,
          usageFlushMs: 3_600_000,
          encryptionKeys: [{ id: 'k9', key: Buffer.alloc(32, 9) }],
        }),
      );
      ledger.on('warning', (err: Error) => warnings.push(err));
      const [event] = (await read('copy-1', CRM, true)).events;
      assert.equal(event.type, 'consent.given');
      assert.equal(event.phone, undefined);
      assert.deepEqual(
        warnings.map((w) => (w as GdprWhatsAppError).code),
        ['unknown-key'],
      );
    });

    it('the retention sweep removes events nobody took for a week, and consumers gone as long', async () => {
      await read('copy-1', CRM, true);
      await read('copy-1', 'consent-events:gone');
      await give(ANNA);
      now += EVENT_FEED_RETENTION_MS / 2;
      await read('copy-1', CRM, true);
      now += EVENT_FEED_RETENTION_MS / 2 + 1;
      const ciphertext = await storedContact();
      const warnings: Error[] = [];
      ledger.on('warning', (err: Error) => warnings.push(err));
      const report = await ledger.sweepRetention();
      assert.equal(report.undeliveredEventsRemoved, 1);
      // A CRM may have missed a withdrawal: said where it is seen, not only in the report.
      assert.deepEqual(
        warnings.map((w) => [(w as GdprWhatsAppError).code, (w as GdprWhatsAppError).params.count]),
        [['undelivered-events-removed', 1]],
      );
      assert.deepEqual([report.personalDataRemoved, report.proofRemoved], [0, 0], 'nothing else to scrub for');
      assert.equal(await outbox(), 0);
      await assertScrubbed(ciphertext);
      const consumers = await db.all('SELECT consumer FROM event_cursors ORDER BY consumer');
      assert.deepEqual(
        consumers.map((c) => c.consumer),
        [CRM],
        'the consumer that read within the week stays',
      );
    });

    it('what only a consumer gone for a week still waited for goes with it, however young', async () => {
      await read();
      await read('copy-1', 'consent-events:gone');
      now += EVENT_FEED_RETENTION_MS - 1000;
      await give(ANNA);
      const [given] = (await read()).events;
      await ledger.acknowledgeEvents(CRM, { holder: 'copy-1', lastId: given.id });
      assert.equal(await outbox(), 1, 'the gone consumer still holds it');
      now += 1001;
      const warnings: Error[] = [];
      ledger.on('warning', (err: Error) => warnings.push(err));
      const report = await ledger.sweepRetention();
      assert.equal(report.undeliveredEventsRemoved, 1);
      assert.equal(await outbox(), 0);
      assert.deepEqual(warnings, [], 'the consumer still there had it: nothing was missed');
    });

    it('refuses a bad consumer, holder, limit or id, changing nothing', async () => {
      await read();
      const before = await db.dump();
      const refused = async (attempt: () => Promise<unknown>, field: string) => {
        await assert.rejects(attempt(), (err: unknown) => {
          assert.ok(err instanceof GdprWhatsAppError);
          assert.equal(err.code, 'invalid-input');
          assert.equal(err.params.field, field);
          return true;
        });
      };
      await refused(() => ledger.readEvents('', { holder: 'copy-1' }), 'consumer');
      await refused(() => ledger.readEvents('a\nb', { holder: 'copy-1' }), 'consumer');
      await refused(() => ledger.readEvents(CRM, { holder: 'x'.repeat(201) }), 'holder');
      await refused(() => ledger.readEvents(CRM, { holder: 'copy-1', limit: 0 }), 'limit');
      await refused(() => ledger.readEvents(CRM, { holder: 'copy-1', limit: 1.5 }), 'limit');
      await refused(() => ledger.acknowledgeEvents(CRM, { holder: 'copy-1', lastId: -1 }), 'lastId');
      await refused(() => ledger.releaseEvents(CRM, { holder: undefined as unknown as string }), 'holder');
      assert.equal(await db.dump(), before);
    });

    it('an event is kept in the transaction of its change: if keeping it fails, the change is undone too', async () => {
      await read();
      await db.exec(
        db.backend === 'sqlite'
          ? `CREATE TRIGGER refuse_events BEFORE INSERT ON event_outbox BEGIN SELECT RAISE(ABORT, 'refused'); END`
          : `CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
             CREATE TRIGGER refuse_events BEFORE INSERT ON event_outbox FOR EACH ROW EXECUTE FUNCTION refuse_events()`,
      );
      const emitted: LedgerEvent[] = [];
      ledger.on('event', (e: LedgerEvent) => emitted.push(e));
      await assert.rejects(give(ANNA));
      assert.equal((await ledger.checkConsent(ANNA, 'marketing')).status, 'none', 'no consent without its event');
      assert.deepEqual(emitted, []);
      await db.exec(
        db.backend === 'sqlite'
          ? 'DROP TRIGGER refuse_events'
          : 'DROP TRIGGER refuse_events ON event_outbox; DROP FUNCTION refuse_events()',
      );
      await give(ANNA);
      assert.deepEqual(types((await read()).events), ['consent.given:marketing']);
    });
  });
}
