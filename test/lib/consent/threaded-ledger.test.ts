import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { verifyAuditLines } from '../../../lib/consent/audit-verify';
import { ConsentLedger } from '../../../lib/consent/ledger';
import { ThreadedConsentLedger } from '../../../lib/consent/threaded-ledger';
import type { LedgerEvent, LedgerOptions } from '../../../lib/consent/types';
import { GdprWhatsAppError } from '../../../lib/errors';
import { normalisePhoneNumber, remembersPhoneNumber } from '../../../lib/phone';
import { TEST_KEYS, TEST_PURPOSES } from '../store/harness';

const WORDING = TEST_PURPOSES[0].wording.en;
const PHONE = '+4915123456789';

/** The ledger of the consent-store node: the same answers as in-process, from a worker thread. */
describe('ThreadedConsentLedger', () => {
  let dir: string;
  let ledger: ThreadedConsentLedger;
  const options = (): LedgerOptions => ({
    backend: 'sqlite',
    sqlitePath: path.join(dir, 'ledger.db'),
    ...TEST_KEYS,
    purposes: TEST_PURPOSES,
  });
  const give = (subject: unknown = PHONE) =>
    ledger.giveConsent({
      subject: subject as string,
      purpose: 'marketing',
      wording: WORDING,
      method: 'keyword',
      actor: 't',
    });

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-gdpr-threaded-'));
    ledger = await ThreadedConsentLedger.open(options());
  });

  afterEach(async () => {
    await ledger.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers like the ledger: consent given, checked, withdrawn; purposes known without a round trip', async () => {
    assert.deepEqual(
      ledger.purposeIds(),
      TEST_PURPOSES.map((p) => p.id),
    );
    assert.equal(ledger.purpose('marketing')?.id, 'marketing');
    assert.match(ledger.backendDescription, /^sqlite \(/);
    assert.equal((await give()).status, 'given');
    assert.equal((await ledger.checkConsent(PHONE, 'marketing')).allowed, true);
    const withdrawn = await ledger.withdrawConsent({
      subject: PHONE,
      purposes: ['marketing'],
      channel: 'whatsapp-keyword',
      actor: 't',
    });
    assert.deepEqual(
      withdrawn.map((r) => r.purpose),
      ['marketing'],
    );
    assert.equal((await ledger.checkConsent(PHONE, 'marketing')).allowed, false);
  });

  it('emits a change event before the call that made it answers', async () => {
    const order: string[] = [];
    ledger.on('event', (event: LedgerEvent) => order.push(`event ${event.type}`));
    await give().then(() => order.push('answered'));
    assert.deepEqual(order, ['event consent.given', 'answered']);
  });

  it('rejects with the ledger error, code and parameters kept', async () => {
    await assert.rejects(give('not a number'), (err: unknown) => {
      assert.ok(err instanceof GdprWhatsAppError, String(err));
      assert.equal(err.code, 'invalid-phone');
      return true;
    });
    assert.equal((await ledger.checkConsent(PHONE, 'nope')).reason, 'unknown-purpose');
  });

  it('refuses an input it cannot pass to the thread alone; calls of the same turn still answer', async () => {
    const [bad, good] = await Promise.allSettled([give({ phone: PHONE, toString: () => PHONE }), give()]);
    assert.equal(bad.status, 'rejected');
    assert.equal((bad as PromiseRejectedResult).reason.code, 'invalid-input');
    assert.equal(good.status, 'fulfilled');
    assert.equal((await ledger.getConsent(PHONE, 'marketing'))?.status, 'given');
  });

  it('an erasure also clears the number from the memo of the thread the nodes run on', async () => {
    await give({ phone: PHONE, userId: 'DE.5' });
    // The nodes on this thread (consent-gate, whatsapp-send) normalise the number as they see it written.
    assert.equal(normalisePhoneNumber('0049 151 23456789'), PHONE);
    assert.equal(remembersPhoneNumber(PHONE), true);
    // Erased by user id alone: the thread finds the number in the record and names it in the event.
    await ledger.eraseSubject({ userId: 'DE.5' }, 'admin');
    assert.equal(remembersPhoneNumber(PHONE), false);
  });

  describe('a number change clears the number she left from the memo of numbers', () => {
    const NEW_PHONE = '+4915198765432';
    const moved = () => ledger.numberChanged({ phone: PHONE, newPhone: NEW_PHONE, actor: 'webhook' });

    it('of the thread the nodes run on, keeping her new number', async () => {
      await give();
      // The nodes (whatsapp-webhook, consent-gate) normalise both numbers as Meta writes them.
      assert.equal(normalisePhoneNumber('4915123456789'), PHONE);
      assert.equal(normalisePhoneNumber('4915198765432'), NEW_PHONE);
      await moved();
      assert.equal(remembersPhoneNumber(PHONE), false);
      assert.equal(remembersPhoneNumber(NEW_PHONE), true, 'the number she moved to is hers, and in use');
    });

    it('when the move is told again, or comes for a person erased already: no event names the number then', async () => {
      const events: LedgerEvent[] = [];
      ledger.on('event', (event: LedgerEvent) => events.push(event));
      await give();
      await moved();
      normalisePhoneNumber('4915123456789');
      await moved();
      assert.equal(events.filter((e) => e.type === 'subject.number-changed').length, 1, 'the repeat tells nothing');
      assert.equal(remembersPhoneNumber(PHONE), false);
      await ledger.eraseSubject(NEW_PHONE, 'admin');
      normalisePhoneNumber('4915198765432');
      assert.equal(
        await ledger.numberChanged({ phone: NEW_PHONE, newPhone: '+4915111122233', actor: 'webhook' }),
        'erased',
      );
      assert.equal(remembersPhoneNumber(NEW_PHONE), false);
    });

    it("of the ledger in-process, whose thread is the nodes' own", async () => {
      const inProcess = await ConsentLedger.open({ ...options(), sqlitePath: path.join(dir, 'in-process.db') });
      try {
        await inProcess.giveConsent({
          subject: PHONE,
          purpose: 'marketing',
          wording: WORDING,
          method: 'keyword',
          actor: 't',
        });
        assert.equal(remembersPhoneNumber(PHONE), true);
        await inProcess.numberChanged({ phone: PHONE, newPhone: NEW_PHONE, actor: 'webhook' });
        assert.equal(remembersPhoneNumber(PHONE), false);
      } finally {
        await inProcess.close();
      }
    });
  });

  it('exports an audit trail that verifies on its own', async () => {
    await give();
    const lines: string[] = [];
    for await (const line of ledger.exportAudit()) lines.push(line);
    assert.ok(
      lines.some((line) => line.includes('"consent.given"')),
      'the consent is in the trail',
    );
    assert.equal(verifyAuditLines(lines).ok, true);
  });

  it('answers calls made before close, refuses later ones with store-closed', async () => {
    const before = give();
    await ledger.close();
    assert.equal((await before).status, 'given');
    await assert.rejects(ledger.checkConsent(PHONE, 'marketing'), { code: 'store-closed' });
    const reopened = await ThreadedConsentLedger.open(options());
    try {
      assert.equal((await reopened.getConsent(PHONE, 'marketing'))?.status, 'given');
    } finally {
      await reopened.close();
    }
  });

  it('fails to open as the ledger does: wrong keys are refused with their code', async () => {
    await assert.rejects(
      ThreadedConsentLedger.open({ ...options(), pseudonymKey: Buffer.alloc(4) }),
      (err: unknown) => {
        assert.ok(err instanceof GdprWhatsAppError, String(err));
        return true;
      },
    );
  });

  it('keeps a process alive while a call waits, and not after', () => {
    const script = `
      const { ThreadedConsentLedger } = require(${JSON.stringify(require.resolve('../../../lib/consent/threaded-ledger'))});
      const options = JSON.parse(process.argv[1]);
      options.pseudonymKey = Buffer.from(options.pseudonymKey, 'base64');
      options.encryptionKeys = options.encryptionKeys.map((k) => ({ id: k.id, key: Buffer.from(k.key, 'base64') }));
      ThreadedConsentLedger.open(options)
        .then((ledger) => ledger.checkConsent(${JSON.stringify(PHONE)}, 'marketing'))
        .then((result) => console.log('answered', result.reason));`;
    const plain = {
      ...options(),
      sqlitePath: path.join(dir, 'child.db'),
      pseudonymKey: TEST_KEYS.pseudonymKey.toString('base64'),
      encryptionKeys: TEST_KEYS.encryptionKeys.map((k) => ({ id: k.id, key: k.key.toString('base64') })),
    };
    const child = spawnSync(process.execPath, ['-e', script, JSON.stringify(plain)], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(child.error, undefined, 'the process ended by itself, the ledger left open');
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stdout, /^answered /);
  });
});
