import assert from 'node:assert/strict';
import { ConsentLedger } from '../../../lib/consent/ledger';
import { sha256Hex } from '../../../lib/consent/purposes';
import { type BackendHarness, sqliteHarness } from '../store/harness';

describe('access export: the wording of an objection', () => {
  let db: BackendHarness;
  let ledger: ConsentLedger;

  beforeEach(async () => {
    db = await sqliteHarness()();
    ledger = await ConsentLedger.open(db.options());
  });

  afterEach(async () => {
    await ledger.close();
    await db.dispose();
  });

  it("is the purpose's wording in the person's language, not the stored JSON of every language", async () => {
    // STOP with no order updates on record: an objection (Art. 21) to the contract purpose, kept with no text she saw.
    await ledger.withdrawConsent({ subject: '+4915123456789', channel: 'whatsapp-keyword', actor: 'test' });
    const objection = async (language?: string) => {
      const doc = await ledger.exportSubject('+4915123456789', 'test', language === undefined ? {} : { language });
      const record = doc.consents.find((c) => c.purpose === 'orders');
      assert.equal(record?.method, 'objection');
      return record;
    };
    const german = await objection('de');
    assert.deepEqual([german?.wording, german?.language], ['Bestell-Updates zu Ihren Einkäufen.', 'de']);
    // The hash still names what is stored, so that it can be checked against the purpose's version.
    assert.equal(
      german?.wordingSha256,
      sha256Hex('{"de":"Bestell-Updates zu Ihren Einkäufen.","en":"Order updates for your purchases."}'),
    );
    for (const language of [undefined, 'en', 'fr']) {
      const record = await objection(language);
      assert.deepEqual([record?.wording, record?.language], ['Order updates for your purchases.', 'en'], language);
    }
  });

  it('leaves the wording of a consent as the person saw it', async () => {
    await ledger.giveConsent({
      subject: '+4915123456789',
      purpose: 'orders',
      wording: 'Bestell-Updates zu Ihren Einkäufen.',
      language: 'de',
      method: 'keyword',
      actor: 'test',
    });
    await ledger.withdrawConsent({ subject: '+4915123456789', purposes: ['orders'], channel: 'api', actor: 'test' });
    const doc = await ledger.exportSubject('+4915123456789', 'test', { language: 'en' });
    const record = doc.consents.find((c) => c.purpose === 'orders');
    assert.equal(record?.method, 'keyword');
    assert.deepEqual([record?.wording, record?.language], ['Bestell-Updates zu Ihren Einkäufen.', 'de']);
  });
});
