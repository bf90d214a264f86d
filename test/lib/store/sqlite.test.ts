import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConsentLedger } from '../../../lib/consent/ledger';
import { NUMBER_CHANGED } from '../../../lib/consent/ledger-writes';
import type { GdprWhatsAppError } from '../../../lib/errors';
import { NUMBER_CHANGE_EVENT } from '../../../lib/store/schema';
import { openSqliteDatabase, preferredSqliteDriver } from '../../../lib/store/sqlite-driver';
import { type BackendHarness, sqliteHarness } from './harness';
import { registerCrashProof } from './proofs';

const factory = sqliteHarness();

describe('SQLite store', () => {
  it('uses node:sqlite from Node 22.13 and better-sqlite3 before', () => {
    assert.equal(preferredSqliteDriver('20.20.2'), 'better-sqlite3');
    assert.equal(preferredSqliteDriver('22.12.0'), 'better-sqlite3');
    assert.equal(preferredSqliteDriver('22.13.0'), 'node:sqlite');
    assert.equal(preferredSqliteDriver('24.1.0'), 'node:sqlite');
  });

  it('a write that waited out the busy timeout behind another program fails as store-unavailable, changing nothing', async function () {
    this.timeout(60_000);
    const db = await factory();
    const ledger = await ConsentLedger.open(db.options());
    const other = openSqliteDatabase(db.options().sqlitePath as string).db;
    try {
      other.exec('BEGIN IMMEDIATE');
      const give = ledger.giveConsent({
        subject: '+4915123456789',
        purpose: 'marketing',
        wording: 'Offers',
        method: 'keyword',
        actor: 't',
      });
      await assert.rejects(give, (err: GdprWhatsAppError) => {
        assert.equal(err.code, 'store-unavailable');
        assert.match(String(err.params.detail), /locked/);
        return true;
      });
      other.exec('COMMIT');
      assert.equal((await ledger.checkConsent('+4915123456789', 'marketing')).allowed, false);
    } finally {
      other.close();
      await ledger.close();
      await db.dispose();
    }
  });

  describe('erasure leaves no readable copy in the database, WAL or shared-memory file', () => {
    let db: BackendHarness;
    let ledger: ConsentLedger;
    let file: string;
    const subject = { phone: '+4915123456789', waId: '4915123456789', name: 'Zacharias Quellenhof' };

    const files = () => [file, `${file}-wal`, `${file}-shm`].filter((f) => fs.existsSync(f));
    const scan = (needle: string) => files().filter((f) => fs.readFileSync(f).includes(Buffer.from(needle, 'utf8')));

    beforeEach(async () => {
      db = await factory();
      file = db.options().sqlitePath as string;
      ledger = await ConsentLedger.open(db.options());
    });

    afterEach(async () => {
      await ledger.close();
      await db.dispose();
    });

    it('scans the files for the number, WhatsApp id, name and their ciphertexts', async () => {
      assert.equal(ledger.backendDescription, `sqlite (${preferredSqliteDriver()})`);
      for (let i = 0; i < 50; i += 1) {
        await ledger.giveConsent({
          subject: `+49151${String(20_000_000 + i)}`,
          purpose: 'marketing',
          wording: 'Offers',
          method: 'keyword',
          actor: 't',
        });
      }
      await ledger.requestConsent({ subject, purpose: 'marketing', wording: 'Offers', method: 'web-form', actor: 't' });
      await ledger.confirmConsent({ subject: subject.phone, confirmationText: 'JA GERNE', actor: 't' });
      await ledger.recordNoticeShown(subject.phone, 'n1', { messageId: 'wamid.NOTICE', actor: 't' });
      await ledger.recordInbound(subject.phone);
      const [row] = await db.all('SELECT phone_enc, wa_id_enc, name_enc FROM subjects WHERE name_enc IS NOT NULL');
      const ciphertexts = [row.phone_enc, row.wa_id_enc, row.name_enc].map(String);
      const [consent] = await db.all(
        'SELECT confirmation_text_enc FROM consents WHERE confirmation_text_enc IS NOT NULL',
      );
      ciphertexts.push(String(consent.confirmation_text_enc));
      // The scan can see what is there: each ciphertext is in the files before the erasure...
      for (const ciphertext of ciphertexts) assert.ok(scan(ciphertext).length > 0, 'ciphertext present before erasure');
      // ...and the plain values never were (encryption at rest).
      for (const plain of [subject.phone, subject.waId, subject.name, 'JA GERNE']) assert.deepEqual(scan(plain), []);

      const report = await ledger.eraseSubject(subject.phone, 'admin');
      assert.equal(report.found, true);
      for (const needle of [...ciphertexts, subject.phone, subject.waId, subject.name, 'JA GERNE', report.pseudonym]) {
        const pseudonymInAudit = needle === report.pseudonym;
        const found = scan(needle);
        // The pseudonym stays by design, in the audit log and the suppression list only.
        if (!pseudonymInAudit) assert.deepEqual(found, [], `${needle.slice(0, 12)}... still in ${found.join(', ')}`);
      }
      assert.equal(fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0, 0);
      assert.equal(await ledger.integrityCheck(), 'ok');
    });

    it('says so when another connection keeps the erased rows in the write-ahead log', async function () {
      this.timeout(10_000);
      await ledger.giveConsent({ subject, purpose: 'marketing', wording: 'Offers', method: 'keyword', actor: 't' });
      const warnings: { code?: string }[] = [];
      ledger.on('warning', (err) => warnings.push(err));
      // Another program holds a read transaction open on the file: the checkpoint cannot empty the WAL.
      const other = openSqliteDatabase(file).db;
      try {
        other.exec('BEGIN');
        other.prepare('SELECT COUNT(*) AS n FROM consents').all();
        await ledger.eraseSubject(subject.phone, 'admin');
        assert.deepEqual(
          warnings.map((w) => w.code),
          ['erasure-checkpoint-incomplete'],
        );
      } finally {
        other.exec('COMMIT');
        other.close();
      }
    });

    it('empties the write-ahead log after a number change removed the personal data of the old number', async () => {
      await ledger.giveConsent({ subject, purpose: 'marketing', wording: 'Offers', method: 'keyword', actor: 't' });
      const [row] = await db.all('SELECT phone_enc FROM subjects WHERE phone_enc IS NOT NULL');
      await ledger.numberChanged({ phone: subject.phone, actor: 't' });
      assert.deepEqual(scan(String(row.phone_enc)), []);
      assert.equal(fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0, 0);
    });

    it('finds where a person came from through the number-change index, not a scan of every audit event', async () => {
      assert.equal(NUMBER_CHANGE_EVENT, `action = '${NUMBER_CHANGED}'`);
      const plan = await db.all(
        `EXPLAIN QUERY PLAN SELECT * FROM audit WHERE ${NUMBER_CHANGE_EVENT} AND detail LIKE '%x%' ORDER BY seq`,
      );
      assert.ok(
        plan.some((step) => String(step.detail).includes('audit_number_changes')),
        JSON.stringify(plan),
      );
    });

    it('creates the database file readable by its owner only', function () {
      if (process.platform === 'win32') this.skip();
      assert.equal(fs.statSync(file).mode & 0o077, 0);
      assert.ok(path.isAbsolute(file));
    });
  });
});

registerCrashProof('SQLite', factory);
