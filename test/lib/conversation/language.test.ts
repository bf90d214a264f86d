import assert from 'node:assert/strict';
import { chooseLanguage, textFor } from '../../../lib/conversation/language';

describe('conversation/language', () => {
  it('prefers an explicit choice, then the node setting, then the country of the number', () => {
    assert.equal(chooseLanguage('de-DE', 'en', '+14155550100'), 'de');
    assert.equal(chooseLanguage(undefined, 'en', '+4915123456789'), 'en');
    assert.equal(chooseLanguage(undefined, 'auto', '+4915123456789'), 'de');
    assert.equal(chooseLanguage(undefined, 'auto', '+436641234567'), 'de');
    assert.equal(chooseLanguage('fr', 'auto', '+33612345678'), 'en');
  });

  it('answers a keyword message in the language it is written in, before the country of the number', () => {
    assert.equal(chooseLanguage(undefined, 'auto', '+4915123456789', 'Unsubscribe'), 'en');
    assert.equal(chooseLanguage(undefined, 'auto', '+4915123456789', 'please delete my data'), 'en');
    assert.equal(chooseLanguage(undefined, 'auto', '+447911123456', 'Abmelden bitte'), 'de');
    assert.equal(chooseLanguage(undefined, 'auto', '+447911123456', 'kuendigen'), 'de');
    // STOP and START are both languages' words, and a sentence is no keyword message: the number decides.
    assert.equal(chooseLanguage(undefined, 'auto', '+4915123456789', 'STOP'), 'de');
    assert.equal(chooseLanguage(undefined, 'auto', '+4915123456789', 'Start'), 'de');
    assert.equal(chooseLanguage(undefined, 'auto', '+4915123456789', 'Please send my order to my new address'), 'de');
    assert.equal(chooseLanguage(undefined, 'auto', '+447911123456', 'Yes ja'), 'en', 'words of both languages');
    // An explicit choice and the node's setting still win.
    assert.equal(chooseLanguage('de', 'auto', '+447911123456', 'Unsubscribe'), 'de');
    assert.equal(chooseLanguage(undefined, 'de', '+447911123456', 'Unsubscribe'), 'de');
  });

  it('takes a recipient that is not text (a message a flow put together) as no country', () => {
    for (const recipient of [['+4915123456789'], { id: 'DE.1' }, 4915123456789, null]) {
      assert.equal(chooseLanguage(undefined, 'auto', recipient), 'en', JSON.stringify(recipient));
    }
  });

  it('reads the country of a business-scoped user id the same way', () => {
    for (const id of ['DE.1502576394655843', 'AT.77', 'CH.ENT.118157', 'LI.5']) {
      assert.equal(chooseLanguage(undefined, 'auto', id), 'de', id);
    }
    assert.equal(chooseLanguage(undefined, 'auto', 'US.13491208655302741918'), 'en');
    assert.equal(chooseLanguage(undefined, 'en', 'DE.1502576394655843'), 'en', 'the node setting wins');
  });

  it('falls back to English text when a translation is missing', () => {
    assert.equal(textFor({ en: 'Hello', de: '' }, 'de'), 'Hello');
    assert.equal(textFor({ de: 'Hallo' }, 'en'), 'Hallo');
  });
});
