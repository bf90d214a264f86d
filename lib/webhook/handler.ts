import { GdprWhatsAppError } from '../errors';
import { DEDUPE_TTL_MS, type DedupeStore, messageDedupeKey, statusDedupeKey } from './dedupe';
import { type NormalisedWebhook, normaliseWebhook, WHATSAPP_OBJECT } from './normalise';
import { verifySignature } from './signature';

export { answerVerification as handleWebhookVerify } from './verify';

/** Meta's webhook payloads stay far below this; anything bigger is refused before it is read. */
export const DEFAULT_MAX_WEBHOOK_BYTES = 3 * 1024 * 1024;

/**
 * Meta's payloads nest about 12 levels deep. A deeper body is refused before it is parsed: JSON.parse copes, but
 * Node-RED's message cloning (lodash cloneDeep) and JSON encoding recurse and overflow the stack at a few
 * thousand levels, after the 200 was given.
 */
export const MAX_WEBHOOK_DEPTH = 64;

export type WebhookHttpStatus = 400 | 401 | 413;

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
  dedupe: DedupeStore;
}

export interface WebhookPostResult extends NormalisedWebhook {
  /** Messages and statuses dropped because they were handled before (Meta retries for days). */
  duplicates: number;
}

/**
 * Checks and reads one webhook POST, in this order: size (413), signature over the raw bytes
 * before anything is parsed (401), nesting depth (400), JSON (400), object type (400), then normalises and drops
 * duplicates. Resolves only when every de-duplication mark is durable, so the caller may answer 200.
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
  const result: WebhookPostResult = { messages: [], statuses: [], events: normalised.events, duplicates: 0 };
  // One after the other: two copies of the same id inside one batch must not both count as new.
  for (const message of normalised.messages) {
    if (await input.dedupe.markSeen(messageDedupeKey(message), DEDUPE_TTL_MS)) result.messages.push(message);
    else result.duplicates++;
  }
  for (const status of normalised.statuses) {
    if (await input.dedupe.markSeen(statusDedupeKey(status), DEDUPE_TTL_MS)) result.statuses.push(status);
    else result.duplicates++;
  }
  return result;
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
