import assert from 'node:assert/strict';
import {
  DEFAULT_STOP_KEYWORDS,
  matchKeyword,
  normaliseKeywordText,
  parseKeywordList,
} from '../../../lib/conversation/keywords';

describe('conversation/keywords', () => {
  it('matches opt-out words after trimming, case folding and punctuation removal', () => {
    assert.equal(matchKeyword('  stop! ', DEFAULT_STOP_KEYWORDS), 'STOP');
    assert.equal(matchKeyword('Stopp.', DEFAULT_STOP_KEYWORDS), 'STOPP');
    assert.equal(matchKeyword('kündigen', DEFAULT_STOP_KEYWORDS), 'KÜNDIGEN');
    assert.equal(matchKeyword('Abmelden 👋', DEFAULT_STOP_KEYWORDS), 'ABMELDEN');
  });

  it('does not treat a sentence that contains a keyword as the keyword', () => {
    assert.equal(matchKeyword('please do not stop', DEFAULT_STOP_KEYWORDS), undefined);
    assert.equal(matchKeyword('', DEFAULT_STOP_KEYWORDS), undefined);
    assert.equal(matchKeyword(undefined, DEFAULT_STOP_KEYWORDS), undefined);
  });

  it('folds case for German letters independently of the locale', () => {
    assert.equal(normaliseKeywordText('daten löschen'), 'DATEN LÖSCHEN');
    assert.equal(normaliseKeywordText('Straße'), 'STRASSE');
  });

  it('parses keyword lists from the edit dialog and falls back to the defaults when empty', () => {
    assert.deepEqual(parseKeywordList('halt, Ende\nstop', DEFAULT_STOP_KEYWORDS), ['HALT', 'ENDE', 'STOP']);
    assert.deepEqual(parseKeywordList(' , ', ['STOP']), ['STOP']);
  });
});
