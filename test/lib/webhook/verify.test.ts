import assert from 'node:assert/strict';
import { answerVerification } from '../../../lib/webhook/verify';

describe('webhook GET verification', () => {
  const token = 'verify-me-7f3a';
  const query = (overrides: Record<string, unknown> = {}) => ({
    'hub.mode': 'subscribe',
    'hub.verify_token': token,
    'hub.challenge': '1158201444',
    ...overrides,
  });

  it('answers the challenge for mode subscribe and the right token', () => {
    assert.deepEqual(answerVerification(query(), token), { status: 200, body: '1158201444' });
  });

  it('refuses a wrong, missing or differently sized token', () => {
    for (const given of ['wrong', '', `${token}x`, token.slice(0, -1), undefined, 123, [token]]) {
      assert.equal(answerVerification(query({ 'hub.verify_token': given }), token).status, 403, String(given));
    }
  });

  it('refuses any mode other than subscribe', () => {
    for (const mode of ['unsubscribe', 'SUBSCRIBE', '', undefined, ['subscribe']]) {
      assert.equal(answerVerification(query({ 'hub.mode': mode }), token).status, 403, String(mode));
    }
  });

  it('never matches when no verify token is configured', () => {
    assert.equal(answerVerification(query({ 'hub.verify_token': '' }), '').status, 403);
    assert.equal(answerVerification(query({ 'hub.verify_token': '' }), undefined).status, 403);
    assert.equal(answerVerification(query({ 'hub.verify_token': 'undefined' }), undefined).status, 403);
  });

  it('does not echo a missing or markup-carrying challenge', () => {
    assert.equal(answerVerification(query({ 'hub.challenge': undefined }), token).status, 403);
    assert.equal(answerVerification(query({ 'hub.challenge': '<script>alert(1)</script>' }), token).status, 403);
  });

  it('never echoes the verify token', () => {
    assert.ok(!answerVerification(query({ 'hub.verify_token': 'nope' }), token).body.includes(token));
  });
});
