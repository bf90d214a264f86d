import { createHash } from 'node:crypto';
import type { CloudApiError } from './errors';
import type { Clock } from './pacer';

/**
 * Rate limits that hold more than one business number: 4 is the app's call limit, shared by the clients of one access
 * token; 80007 the WhatsApp Business Account's, shared by the clients of one account (of one token when the
 * configuration names no account). 130429 (one number's throughput) stays with its client.
 */
export const APP_LIMIT = 4;
export const ACCOUNT_LIMIT = 80007;

export interface Hold {
  until: number;
  cause: CloudApiError;
}

/**
 * Per clock: clients on the real clock (all of production) share their holds, while a test's own clock keeps its
 * clients apart from every other test's.
 */
const holdsByClock = new WeakMap<Clock, Map<string, Hold>>();

/** The keys of a client's shared holds at an API: hashes, so the token itself is kept nowhere else. */
export function holdKeys(apiBaseUrl: string, accessToken: string, wabaId?: string): { app: string; account: string } {
  const key = (...parts: string[]) => createHash('sha256').update(parts.join('\0')).digest('base64url');
  const app = key(apiBaseUrl, 'token', accessToken);
  return { app, account: wabaId ? key(apiBaseUrl, 'waba', wabaId) : app };
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
  const now = clock.now();
  // Expired holds go here too: keys of tokens no client uses any more are not looked up again.
  for (const [other, held] of holds) if (held.until <= now) holds.delete(other);
  const current = holds.get(key);
  if (!current || hold.until > current.until) holds.set(key, hold);
}
