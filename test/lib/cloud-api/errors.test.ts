import assert from 'node:assert/strict';
import { CloudApiError, classifyApiError } from '../../../lib/cloud-api/errors';
import {
  backoffDelayMs,
  callsForSlowDown,
  DEFAULT_RETRY_POLICY,
  isRetryable,
  isRetryableRefusal,
  RETRYABLE_API_CODES,
  retryDelayMs,
} from '../../../lib/cloud-api/retry';
import { GdprWhatsAppError } from '../../../lib/errors';

/** Graph API error bodies as Meta documents them (support/error-codes). */
function metaError(code: number, message: string, details?: string, subcode?: number) {
  return {
    error: {
      message,
      type: 'OAuthException',
      code,
      ...(subcode ? { error_subcode: subcode } : {}),
      error_data: { messaging_product: 'whatsapp', ...(details ? { details } : {}) },
      fbtrace_id: 'AbCdEfGh123',
    },
  };
}

describe('cloud-api errors', () => {
  describe('classifyApiError', () => {
    it('reads code, title, details, subcode and trace id from the body', () => {
      const err = classifyApiError(
        400,
        metaError(
          131047,
          '(#131047) Re-engagement message',
          'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
          2494010,
        ),
      );
      assert.ok(err instanceof CloudApiError);
      assert.ok(err instanceof GdprWhatsAppError);
      assert.equal(err.code, 'cloud-api-error');
      assert.equal(err.apiCode, 131047);
      assert.equal(err.title, 'Re-engagement message');
      assert.match(err.details, /more than 24 hours/);
      assert.equal(err.subcode, 2494010);
      assert.equal(err.fbtraceId, 'AbCdEfGh123');
      assert.equal(err.httpStatus, 400);
      assert.equal(err.retryable, false);
      assert.deepEqual(err.params, { code: 131047, title: 'Re-engagement message' });
    });

    it('toJSON is the msg.error shape, with the subcode that tells failures of one code apart', () => {
      const err = classifyApiError(
        400,
        metaError(130429, '(#130429) Rate limit hit', 'Cloud API message throughput has been reached.'),
      );
      assert.deepEqual(JSON.parse(JSON.stringify(err)), {
        code: 130429,
        title: 'Rate limit hit',
        details: 'Cloud API message throughput has been reached.',
        retryable: true,
        httpStatus: 400,
        fbtraceId: 'AbCdEfGh123',
      });
      const invalid = classifyApiError(400, metaError(100, '(#100) Invalid parameter', 'Unknown field', 2494102));
      assert.equal(invalid.toJSON().subcode, 2494102);
    });

    it('decides by error.code, not by the HTTP status', () => {
      // A throughput error with an unusual status is still retryable, a token error with a 500 is not.
      assert.equal(classifyApiError(400, metaError(130429, '(#130429) Rate limit hit')).retryable, true);
      assert.equal(classifyApiError(200, metaError(131056, '(#131056) Pair rate limit hit')).retryable, true);
      assert.equal(classifyApiError(500, metaError(190, 'Error validating access token')).retryable, false);
      assert.equal(classifyApiError(503, metaError(100, '(#100) Invalid parameter')).retryable, false);
    });

    it('retryable codes from Meta bodies', () => {
      for (const [code, title] of [
        [130429, 'Rate limit hit'],
        [131056, '(Business Account, Consumer Account) pair rate limit hit'],
        [131000, 'Something went wrong'],
        [131016, 'Service unavailable'],
        [131057, 'Account in maintenance mode'],
        [133004, 'Server temporarily unavailable'],
        [1, 'API Unknown'],
        [2, 'API Service'],
        [4, 'API Too Many Calls'],
        [80007, 'Rate limit issues'],
      ] as const) {
        const err = classifyApiError(400, metaError(code, `(#${code}) ${title}`));
        assert.equal(err.retryable, true, `${code} should be retryable`);
        assert.equal(err.title, title);
      }
    });

    it('non-retryable codes from Meta bodies', () => {
      for (const code of [
        131047, 131050, 131026, 131049, 132000, 132001, 132012, 190, 100, 131051, 131052, 131053, 131062, 368, 10, 200,
      ]) {
        assert.equal(
          classifyApiError(400, metaError(code, `(#${code}) x`)).retryable,
          false,
          `${code} must not be retried`,
        );
      }
    });

    it('131062 (no business-scoped user id for this message) is not retried even when it comes with a 5xx', () => {
      assert.equal(classifyApiError(500, metaError(131062, '(#131062) x')).retryable, false);
    });

    it('an unknown code is retried only when the server failed (5xx)', () => {
      assert.equal(classifyApiError(400, metaError(999999, 'new')).retryable, false);
      assert.equal(classifyApiError(502, metaError(999999, 'new')).retryable, true);
    });

    it('5xx without a parseable body is retryable with code 0', () => {
      for (const body of [undefined, '<html>Bad Gateway</html>', { unexpected: true }]) {
        const err = classifyApiError(502, body);
        assert.equal(err.apiCode, 0);
        assert.equal(err.retryable, true);
        assert.equal(err.title, 'Server error without an API error body');
        assert.equal(err.details, 'HTTP 502');
      }
    });

    it('4xx or 2xx without an error body is not retried', () => {
      assert.equal(classifyApiError(404, undefined).retryable, false);
      const ok = classifyApiError(200, { messages: [] });
      assert.equal(ok.retryable, false);
      assert.equal(ok.title, 'Unexpected response from the API');
    });

    it('network errors are retryable with a clear title', () => {
      const cases: Array<[string, string]> = [
        ['ECONNRESET', 'Connection reset'],
        ['ECONNREFUSED', 'Connection refused'],
        ['ECONNABORTED', 'Request timed out'],
        ['ETIMEDOUT', 'Request timed out'],
        ['ESOMETHINGELSE', 'Network error'],
      ];
      for (const [code, title] of cases) {
        const err = classifyApiError(undefined, undefined, Object.assign(new Error(`boom ${code}`), { code }));
        assert.equal(err.apiCode, 0);
        assert.equal(err.network, true);
        assert.equal(err.retryable, true);
        assert.equal(err.title, title);
        assert.equal(err.details, code);
      }
      assert.equal(
        classifyApiError(undefined, undefined, new Error('timeout of 100ms exceeded')).title,
        'Request timed out',
      );
    });

    it('a refused TLS certificate is a setting to fix: nothing was sent, and it is not tried again', () => {
      for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID']) {
        const err = classifyApiError(undefined, undefined, Object.assign(new Error(`tls ${code}`), { code }));
        assert.equal(err.title, 'TLS certificate not accepted', code);
        assert.equal(err.nothingSent, true);
        assert.equal(err.retryable, false, code);
      }
    });

    it('a request Node could not even make (a header it refuses) was never sent and is not tried again', () => {
      // What node:http throws at once for a token holding "…" or a zero-width space (axios's own adapter, with a proxy).
      for (const code of ['ERR_INVALID_CHAR', 'ERR_HTTP_INVALID_HEADER_VALUE', 'ERR_INVALID_HTTP_TOKEN']) {
        const thrown = Object.assign(new TypeError('Invalid character in header content ["Authorization"]'), { code });
        const err = classifyApiError(undefined, undefined, thrown);
        assert.equal(err.title, 'Request could not be made', code);
        assert.equal(err.details, code);
        assert.equal(err.nothingSent, true, code);
        assert.equal(err.retryable, false, code);
        assert.equal(err.deliveryUnknown, false, code);
      }
    });

    it('uses error_user_title or the plain message when the title has no "(#code)" prefix', () => {
      assert.equal(
        classifyApiError(400, { error: { code: 100, message: 'Invalid parameter' } }).title,
        'Invalid parameter',
      );
      assert.equal(
        classifyApiError(400, { error: { code: 100, message: '(#100) x', error_user_title: 'Bad number' } }).title,
        'Bad number',
      );
      assert.equal(classifyApiError(400, { error: { code: 100 } }).title, 'Unknown error');
    });
  });

  describe('retry policy', () => {
    it('isRetryable follows the lists and ignores non-API errors', () => {
      for (const code of RETRYABLE_API_CODES) assert.equal(isRetryable({ apiCode: code, httpStatus: 400 }), true);
      assert.equal(isRetryable({ apiCode: 0, network: true }), true);
      assert.equal(isRetryable({ apiCode: 0, httpStatus: 503 }), true);
      assert.equal(isRetryable({ apiCode: 0, httpStatus: 400 }), false);
      assert.equal(isRetryable({ apiCode: 132015, httpStatus: 500 }), false);
      assert.equal(isRetryable(new GdprWhatsAppError('queue-full', 'x')), false);
      assert.equal(isRetryable(undefined), false);
      assert.equal(isRetryable(classifyApiError(400, metaError(131056, 'pair'))), true);
    });

    it("the package's refusals of a message that never left are retryable when a later try can succeed", () => {
      for (const code of ['queue-full', 'closed', 'config-closed', 'send-check-timeout', 'store-unavailable'])
        assert.equal(isRetryableRefusal(code), true, code);
      for (const code of [
        'invalid-message',
        'invalid-phone',
        'send-consent-ended',
        'send-request-ended',
        'closed-in-flight',
        'config-missing',
      ]) {
        assert.equal(isRetryableRefusal(code), false, code);
      }
    });

    it('slows the sender down after 130429, an outage, and 4 or 80007 when Meta named no wait', () => {
      assert.equal(callsForSlowDown(130429, undefined), true);
      assert.equal(callsForSlowDown(130429, 5000), true);
      assert.equal(callsForSlowDown(4, undefined), true);
      assert.equal(callsForSlowDown(80007, undefined), true);
      assert.equal(callsForSlowDown(4, 60_000), false, 'a named wait holds everything instead');
      assert.equal(callsForSlowDown(80007, 60_000), false);
      // A number in maintenance or Meta's service down: every other message would fail too.
      for (const code of [131057, 131016, 133004]) assert.equal(callsForSlowDown(code, undefined), true, `${code}`);
      for (const code of [131056, 131000, 131026, 0]) assert.equal(callsForSlowDown(code, undefined), false);
    });

    it('backoff grows exponentially and is capped', () => {
      const top = () => 0.999999;
      const policy = DEFAULT_RETRY_POLICY;
      assert.equal(backoffDelayMs(1, policy, top), 499);
      assert.equal(backoffDelayMs(2, policy, top), 999);
      assert.equal(backoffDelayMs(3, policy, top), 1999);
      assert.equal(backoffDelayMs(7, policy, top), 29999);
      assert.equal(backoffDelayMs(40, policy, top), 29999);
      assert.equal(backoffDelayMs(1000, policy, top), 29999);
    });

    it("after 131056 waits Meta's 4^X seconds (capped), other faults the jittered backoff", () => {
      const policy = DEFAULT_RETRY_POLICY;
      const top = () => 0.999999;
      assert.deepEqual(
        [1, 2, 3, 4, 5].map((attempt) => retryDelayMs(131056, attempt, policy, top)),
        [1000, 4000, 16000, 30000, 30000],
      );
      assert.equal(retryDelayMs(130429, 2, policy, top), backoffDelayMs(2, policy, top));
    });

    it('after an outage code (131057, 131016, 133004) waits 5, 10, 20, 30 s plus up to a fifth, capped', () => {
      const policy = DEFAULT_RETRY_POLICY;
      for (const code of [131057, 131016, 133004]) {
        const waits = [1, 2, 3, 4].map((attempt) => retryDelayMs(code, attempt, policy, () => 0));
        assert.deepEqual(waits, [5000, 10000, 20000, 30000], String(code));
        assert.ok(waits.reduce((a, b) => a + b) > 60_000, "the default attempts outlast Meta's minute of maintenance");
        assert.equal(
          retryDelayMs(code, 1, policy, () => 0.999999),
          5999,
        );
        assert.equal(
          retryDelayMs(code, 9, policy, () => 0.999999),
          30000,
        );
      }
      assert.equal(
        retryDelayMs(131057, 1, { ...policy, maxDelayMs: 2000 }, () => 0),
        2000,
      );
    });

    it('full jitter: anywhere from 0 to the ceiling', () => {
      const policy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
      assert.equal(
        backoffDelayMs(3, policy, () => 0),
        0,
      );
      assert.equal(
        backoffDelayMs(3, policy, () => 0.5),
        200,
      );
      for (let attempt = 1; attempt <= 12; attempt++) {
        for (let i = 0; i < 50; i++) {
          const delay = backoffDelayMs(attempt, policy);
          assert.ok(delay >= 0 && delay < Math.min(1000, 100 * 2 ** (attempt - 1)), `attempt ${attempt}: ${delay}`);
          assert.ok(Number.isInteger(delay));
        }
      }
    });

    it('the default policy', () => {
      assert.deepEqual({ ...DEFAULT_RETRY_POLICY }, { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 30000 });
    });
  });
});
