import { randomUUID } from 'node:crypto';
import { GdprWhatsAppError } from '../errors';
import {
  DEDUPE_LEASE_MS,
  DEDUPE_TTL_MS,
  type DedupeStore,
  type InboundTime,
  messageDedupeKey,
  statusDedupeKey,
} from './dedupe';
import { type NormalisedWebhook, normaliseWebhook, WHATSAPP_OBJECT } from './normalise';
import { verifySignature } from './signature';
import type { InboundMessage, MessageStatus } from './types';

export { answerVerification as handleWebhookVerify } from './verify';

/** Meta's webhook payloads stay far below this; anything bigger is refused before it is read. */
export const DEFAULT_MAX_WEBHOOK_BYTES = 3 * 1024 * 1024;

/**
 * Meta's payloads nest about 12 levels deep. A deeper body is refused before it is parsed: JSON.parse copes, but
 * Node-RED's message cloning (lodash cloneDeep) and JSON encoding recurse and overflow the stack at a few
 * thousand levels, after the 200 was given.
 */
export const MAX_WEBHOOK_DEPTH = 64;

export type WebhookHttpStatus = 400 | 401 | 408 | 413 | 503;

/** A refused webhook POST: `httpStatus` is the answer the endpoint gives, `code` the i18n key. */
export class WebhookError extends GdprWhatsAppError {
  constructor(
    readonly httpStatus: WebhookHttpStatus,
    code: string,
    message: string,
    params: Record<string, string | number> = {},
  ) {
    super(code, message, params);
    this.name = 'WebhookError';
  }
}

export interface WebhookPostInput {
  rawBody: Buffer | undefined;
  signatureHeader: string | undefined;
  appSecret: string | undefined;
  maxBytes?: number;
  minimise: boolean;
  /**
   * Where the marks are kept, or how to get it: a function is called only once the POST proved to be Meta's (size
   * and signature checked), so that unsigned requests never wait for, or reach, the consent store.
   */
  dedupe: DedupeStore | (() => Promise<DedupeStore>);
  /** How long the claims of this delivery hold if it never completes them; default DEDUPE_LEASE_MS. */
  leaseMs?: number;
}

export interface WebhookPostResult extends NormalisedWebhook {
  /** Messages and statuses dropped because they were handled before (Meta retries for days). */
  duplicates: number;
  /**
   * Messages and statuses left out because another delivery still holds their claim: the caller answers 503,
   * so Meta delivers them again once that delivery completed (then they are duplicates) or failed.
   */
  inProgress: number;
  /** Names this delivery's claims: pass it to `completeClaims` and `releaseClaims`. */
  claimId?: string;
}

/**
 * Checks and reads one webhook POST, in this order: size (413), signature over the raw bytes
 * before anything is parsed (401), nesting depth (400), JSON (400), object type (400), then normalises and
 * claims every message and status in one step (which also records each claimed message's inbound time). The
 * caller emits what this returns and then completes the claims (`completeClaims`, before answering 200) or
 * releases them (`releaseClaims`, answering 500) so Meta's retry is handled again: a failure in between never
 * turns a retry into a dropped duplicate.
 */
export async function handleWebhookPost(input: WebhookPostInput): Promise<WebhookPostResult> {
  const rawBody = Buffer.isBuffer(input.rawBody) ? input.rawBody : Buffer.alloc(0);
  const maxBytes = input.maxBytes ?? DEFAULT_MAX_WEBHOOK_BYTES;
  if (rawBody.length > maxBytes) {
    throw new WebhookError(413, 'webhook-too-large', `The webhook body is larger than ${maxBytes} bytes`, { maxBytes });
  }
  checkSignature(rawBody, input.signatureHeader, input.appSecret);
  if (nestingDepth(rawBody) > MAX_WEBHOOK_DEPTH) {
    throw new WebhookError(400, 'webhook-too-deep', `The webhook body nests deeper than ${MAX_WEBHOOK_DEPTH} levels`, {
      max: MAX_WEBHOOK_DEPTH,
    });
  }
  const payload = parseJson(rawBody);
  if (typeof payload !== 'object' || payload === null || (payload as { object?: unknown }).object !== WHATSAPP_OBJECT) {
    throw new WebhookError(400, 'webhook-not-whatsapp', `The webhook body is not a ${WHATSAPP_OBJECT} object`);
  }
  const normalised = normaliseWebhook(payload, { minimise: input.minimise });
  const result: WebhookPostResult = {
    messages: [],
    statuses: [],
    events: normalised.events,
    duplicates: 0,
    inProgress: 0,
  };
  const items: { key: string; message?: InboundMessage; status?: MessageStatus }[] = [
    ...normalised.messages.map((message) => ({ key: messageDedupeKey(message), message })),
    ...normalised.statuses.map((status) => ({ key: statusDedupeKey(status), status })),
  ];
  // A second copy of an id inside one body is a duplicate of the first, not work in progress.
  const seen = new Set<string>();
  const firstCopies = items.filter((item) => {
    if (seen.has(item.key)) {
      result.duplicates++;
      return false;
    }
    seen.add(item.key);
    return true;
  });
  if (firstCopies.length === 0) return result;
  const dedupe = typeof input.dedupe === 'function' ? await input.dedupe() : input.dedupe;
  result.claimId = randomUUID();
  const outcomes = await dedupe.claimAll(
    firstCopies.map((item) => item.key),
    input.leaseMs ?? DEDUPE_LEASE_MS,
    inboundTimes(normalised.messages),
    result.claimId,
  );
  firstCopies.forEach((item, i) => {
    if (outcomes[i] === 'done') result.duplicates++;
    else if (outcomes[i] !== 'claimed') result.inProgress++;
    else if (item.message) result.messages.push(item.message);
    else if (item.status) result.statuses.push(item.status);
  });
  return result;
}

/**
 * Each message's sender and time, so that the claim also starts the 24-hour customer service window. A message
 * in a group is not one to the business: it opens no private window with its writer. Nor does a `system` message:
 * Meta writes it, not the person (a number change comes from the number the person just left).
 */
function inboundTimes(messages: readonly InboundMessage[]): InboundTime[] {
  return messages
    .filter((m) => (m.from || m.userId) && !m.groupId && m.type !== 'system')
    .map((m) => ({
      key: messageDedupeKey(m),
      subject: { phone: m.from, userId: m.userId },
      at: m.timestamp * 1000,
      ...(m.type === 'reaction' ? { reaction: true } : {}),
    }));
}

/** The de-duplication keys of what `handleWebhookPost` claimed, in the order of its messages and statuses. */
export function claimedKeys(result: Pick<WebhookPostResult, 'messages' | 'statuses'>): string[] {
  return [...result.messages.map(messageDedupeKey), ...result.statuses.map(statusDedupeKey)];
}

/** Marks claimed items handled for Meta's retry period; resolves when the marks are committed (then answer 200). */
export async function completeClaims(dedupe: DedupeStore, keys: string[], claimId?: string): Promise<void> {
  if (keys.length > 0) await dedupe.completeAll(keys, DEDUPE_TTL_MS, claimId);
}

/**
 * Lets Meta's next delivery of these items through. Never rejects: a claim that could not be released runs
 * out with its lease, so the retry after that is handled; the caller answers 500 either way. With the delivery's
 * `claimId`, a claim another delivery took over after this one's lease ran out is not let go.
 */
export async function releaseClaims(dedupe: DedupeStore, keys: string[], claimId?: string): Promise<void> {
  if (keys.length === 0) return;
  await dedupe.releaseAll(keys, claimId).catch(() => undefined);
}

function checkSignature(rawBody: Buffer, header: string | undefined, appSecret: string | undefined): void {
  if (typeof appSecret !== 'string' || appSecret.length === 0) {
    throw new WebhookError(401, 'webhook-app-secret-missing', 'No app secret is configured, so no webhook is accepted');
  }
  if (typeof header !== 'string' || header.trim().length === 0) {
    throw new WebhookError(401, 'webhook-signature-missing', 'The X-Hub-Signature-256 header is missing');
  }
  if (!verifySignature(rawBody, header, appSecret)) {
    throw new WebhookError(401, 'webhook-signature-invalid', 'The X-Hub-Signature-256 header does not match the body');
  }
}

/** Deepest nesting of JSON arrays and objects in the bytes, brackets inside strings not counted. */
function nestingDepth(rawBody: Buffer): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < rawBody.length; i++) {
    const byte = rawBody[i];
    if (inString) {
      // A backslash escapes the next byte.
      if (byte === 0x5c) i++;
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) {
      inString = true;
    } else if (byte === 0x5b || byte === 0x7b) {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (byte === 0x5d || byte === 0x7d) {
      depth--;
    }
  }
  return deepest;
}

function parseJson(rawBody: Buffer): unknown {
  try {
    return JSON.parse(rawBody.toString('utf8'));
  } catch {
    throw new WebhookError(400, 'webhook-malformed-json', 'The webhook body is not valid JSON');
  }
}
