import { createHash, timingSafeEqual } from 'node:crypto';

export type VerificationAnswer = { status: 200; body: string } | { status: 403; body: string };

// Meta sends a numeric challenge; anything else is not echoed, so the endpoint cannot reflect markup.
const CHALLENGE = /^[A-Za-z0-9._~-]{1,512}$/;
const FORBIDDEN: VerificationAnswer = { status: 403, body: 'Forbidden' };

/**
 * Answers Meta's subscription check (GET with hub.mode, hub.verify_token, hub.challenge):
 * the challenge only for mode "subscribe" and a matching verify token. An empty or unset
 * verify token never matches.
 */
export function answerVerification(
  query: Record<string, unknown>,
  verifyToken: string | undefined,
): VerificationAnswer {
  if (typeof query !== 'object' || query === null) return FORBIDDEN;
  const mode = query['hub.mode'];
  const token = query['hub.verify_token'];
  const challenge = query['hub.challenge'];
  if (mode !== 'subscribe' || typeof token !== 'string' || typeof challenge !== 'string') return FORBIDDEN;
  if (typeof verifyToken !== 'string' || verifyToken.length === 0) return FORBIDDEN;
  if (!sameSecret(token, verifyToken) || !CHALLENGE.test(challenge)) return FORBIDDEN;
  return { status: 200, body: challenge };
}

/** Compares digests, so the comparison takes the same time whatever the lengths. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}
