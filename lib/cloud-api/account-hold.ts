import { createHash } from 'node:crypto';
import type { CloudApiError } from './errors';
import type { Clock } from './pacer';

/**
 * Rate limits that hold more than one business number: 4 is the app's call limit, 80007 the WhatsApp Business
 * Account's. Every client that calls with the same access token at the same API shares their wait; 130429 (one
 * number's throughput) stays with its client.
 */
export const ACCOUNT_WIDE_LIMITS: ReadonlySet<number> = new Set([4, 80007]);

export interface Hold {
  until: number;
  cause: CloudApiError;
}

/**
 * Per clock: clients on the real clock (all of production) share their holds, while a test's own clock keeps its
 * clients apart from every other test's.
 */
const holdsByClock = new WeakMap<Clock, Map<string, Hold>>();

/** The key of an access token at an API: a hash, so the token itself is kept nowhere else. */
export function accountKey(apiBaseUrl: string, accessToken: string): string {
  return createHash('sha256').update(apiBaseUrl).update('\0').update(accessToken).digest('base64url');
}

export function accountHold(clock: Clock, key: string): Hold | undefined {
  const holds = holdsByClock.get(clock);
  const hold = holds?.get(key);
  if (hold && hold.until <= clock.now()) holds?.delete(key);
  return hold && hold.until > clock.now() ? hold : undefined;
}

export function holdAccount(clock: Clock, key: string, hold: Hold): void {
  let holds = holdsByClock.get(clock);
  if (!holds) {
    holds = new Map();
    holdsByClock.set(clock, holds);
  }
  const current = holds.get(key);
  if (!current || hold.until > current.until) holds.set(key, hold);
}
