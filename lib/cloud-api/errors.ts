import { GdprWhatsAppError } from '../errors';
import { isRetryable, WAIT_NAMING_LIMITS } from './retry';
import { neverSent, unsendable } from './transport';

/** What `whatsapp-send` puts into `msg.error` on its second output. */
export interface CloudApiErrorJson {
  code: number;
  title: string;
  details: string;
  retryable: boolean;
  /** Meta's error_subcode, which tells apart the failures that share a code (100: which parameter). */
  subcode?: number;
  /** The HTTP status of the answer; absent when none came. */
  httpStatus?: number;
  fbtraceId?: string;
  /**
   * Set when a message may have been taken by Meta: it left and no answer came, a gateway answered in the API's
   * place (500, 502, 504), or a 200 came without a message id. It must not be sent again.
   */
  deliveryUnknown?: true;
  /** How long Meta asked to wait before calling again (a rate limit's headers), in milliseconds. */
  retryAfterMs?: number;
  /** Refused without a request: an earlier message's rate limit is still being waited out. */
  held?: true;
}

/**
 * The titles of failures without an answer of Meta's to quote (no connection, no error body): ours, so each has an i18n
 * key under `errors.api-titles.` and the German text does not mix in English.
 */
export const OWN_TITLES = {
  'server-error': 'Server error without an API error body',
  'unexpected-response': 'Unexpected response from the API',
  'rejected-without-body': 'Request rejected without an API error body',
  'not-made': 'Request could not be made',
  'certificate-refused': 'TLS certificate not accepted',
  'connection-reset': 'Connection reset',
  'connection-refused': 'Connection refused',
  'timed-out': 'Request timed out',
  'host-not-found': 'Host not found',
  'host-lookup-failed': 'Host lookup failed',
  'connection-closed': 'Connection closed',
  'network-error': 'Network error',
} as const;

export type OwnTitle = keyof typeof OWN_TITLES;

interface CloudApiErrorFields {
  apiCode: number;
  title: string;
  /** Set when the title is ours (OWN_TITLES), not Meta's. */
  titleKey?: OwnTitle;
  details?: string;
  httpStatus?: number;
  subcode?: number;
  fbtraceId?: string;
  network?: boolean;
  timedOut?: boolean;
  nothingSent?: boolean;
  deliveryUnknown?: boolean;
  retryAfterMs?: number;
  /** Refused without a request while a rate limit's wait lasts. */
  held?: boolean;
  /** The server's TLS certificate was refused: a setting to fix, not a fault that passes. */
  untrusted?: boolean;
  /** node:http could not make the request (a header it refuses): a setting to fix; nothing left. */
  unsendable?: boolean;
}

/**
 * The i18n code and English text: a message that may have arrived, or one held back or limited with a named wait,
 * has its own, so that Catch nodes and logs say whether it was sent and when to try again.
 */
function describeFailure(fields: CloudApiErrorFields): {
  code: string;
  message: string;
  params: Record<string, string | number>;
} {
  const failure = `WhatsApp Cloud API error ${fields.apiCode}: ${fields.title}`;
  const params: Record<string, string | number> = { code: fields.apiCode, title: fields.title };
  if (fields.deliveryUnknown) {
    const message = `${failure}. The message had left: it may have been delivered, so it is not sent again`;
    return { code: 'cloud-api-delivery-unknown', message, params };
  }
  if (fields.retryAfterMs === undefined) return { code: 'cloud-api-error', message: failure, params };
  const seconds = Math.ceil(fields.retryAfterMs / 1000);
  if (fields.held) {
    const message = `Not sent: after ${failure}, Meta asked to wait ${seconds} s more before the next request`;
    return { code: 'cloud-api-held', message, params: { ...params, seconds } };
  }
  const message = `${failure}. Not sent: Meta asked to wait ${seconds} s before the next request`;
  return { code: 'cloud-api-rate-limited', message, params: { ...params, seconds } };
}

/**
 * A failed Cloud API request. `apiCode` is Meta's `error.code` (0 when the request got no Graph API
 * error body: network failure, timeout, a proxy's error page). Carries no request data: no token,
 * no headers, no recipient number.
 */
export class CloudApiError extends GdprWhatsAppError {
  readonly apiCode: number;
  readonly title: string;
  /** The i18n key of a title of ours; undefined for Meta's own title. */
  readonly titleKey?: OwnTitle;
  readonly details: string;
  readonly retryable: boolean;
  readonly httpStatus?: number;
  readonly subcode?: number;
  readonly fbtraceId?: string;
  /** True when no HTTP answer arrived. */
  readonly network: boolean;
  /** True when the request timed out: it may have reached the API and may still be carried out. */
  readonly timedOut: boolean;
  /** A network failure that proves the request never reached the API (no connection, no address). */
  readonly nothingSent: boolean;
  /** A message that may have been carried out: reported, never sent again (Meta's /messages has no idempotency key). */
  readonly deliveryUnknown: boolean;
  /** The wait Meta named for a rate limit (X-Business-Use-Case-Usage or Retry-After), in milliseconds. */
  readonly retryAfterMs?: number;
  /** Refused without a request while an earlier rate limit's wait lasts (heldBack). */
  readonly held: boolean;

  readonly #fields: CloudApiErrorFields;

  constructor(fields: CloudApiErrorFields) {
    const { code, message, params } = describeFailure(fields);
    super(code, message, params);
    this.name = 'CloudApiError';
    this.#fields = fields;
    this.apiCode = fields.apiCode;
    this.title = fields.title;
    this.titleKey = fields.titleKey;
    this.details = fields.details ?? '';
    this.httpStatus = fields.httpStatus;
    this.subcode = fields.subcode;
    this.fbtraceId = fields.fbtraceId;
    this.network = fields.network ?? false;
    this.timedOut = fields.timedOut ?? false;
    this.nothingSent = fields.nothingSent ?? false;
    this.deliveryUnknown = fields.deliveryUnknown ?? false;
    this.retryAfterMs = fields.retryAfterMs;
    this.held = fields.held ?? false;
    this.retryable =
      !this.deliveryUnknown &&
      fields.untrusted !== true &&
      fields.unsendable !== true &&
      isRetryable({ apiCode: this.apiCode, httpStatus: this.httpStatus, network: this.network });
  }

  /** The same failure of a message send whose request left: a flow must not resend it either. */
  asDeliveryUnknown(): CloudApiError {
    return new CloudApiError({ ...this.#fields, deliveryUnknown: true });
  }

  /** The same failure with the wait Meta named, for a rate limit only (WAIT_NAMING_LIMITS). */
  withWait(retryAfterMs: number | undefined): CloudApiError {
    // A gateway's bare 429 (no Meta error body) asked for a wait as well.
    const gatewayLimit = this.apiCode === NO_API_CODE && this.httpStatus === 429;
    if (retryAfterMs === undefined || !(WAIT_NAMING_LIMITS.has(this.apiCode) || gatewayLimit)) return this;
    return new CloudApiError({ ...this.#fields, retryAfterMs });
  }

  /**
   * A message refused without a request while the sender waits out a rate limit: nothing was sent, so the flow may
   * send it again once `retryAfterMs` has passed.
   */
  heldBack(retryAfterMs: number): CloudApiError {
    return new CloudApiError({
      apiCode: this.apiCode,
      title: this.title,
      titleKey: this.titleKey,
      details: `Not sent: Meta asked to wait before calling again (${Math.ceil(retryAfterMs / 1000)} s left)`,
      httpStatus: this.httpStatus,
      subcode: this.subcode,
      nothingSent: true,
      retryAfterMs,
      held: true,
    });
  }

  toJSON(): CloudApiErrorJson {
    return {
      code: this.apiCode,
      title: this.title,
      details: this.details,
      retryable: this.retryable,
      ...(this.subcode !== undefined ? { subcode: this.subcode } : {}),
      ...(this.httpStatus !== undefined ? { httpStatus: this.httpStatus } : {}),
      fbtraceId: this.fbtraceId,
      ...(this.deliveryUnknown ? { deliveryUnknown: true as const } : {}),
      ...(this.retryAfterMs !== undefined ? { retryAfterMs: this.retryAfterMs } : {}),
      ...(this.held ? { held: true as const } : {}),
    };
  }
}

/** Synthetic code for failures that carry no Graph API error code. */
export const NO_API_CODE = 0;

/**
 * Builds the error from what came back. The error code is read from the body (`error.code`); the HTTP
 * status alone never decides, it only matters when no Graph API error body arrived.
 * Graph API error body: {"error": {"message": "(#131047) Re-engagement message", "type": "OAuthException",
 * "code": 131047, "error_subcode": 2494010, "error_data": {"messaging_product": "whatsapp", "details": "..."},
 * "fbtrace_id": "..."}}.
 */
export function classifyApiError(httpStatus: number | undefined, body: unknown, networkError?: Error): CloudApiError {
  if (networkError) return fromNetworkError(networkError);
  const error = isObject(body) && isObject(body.error) ? body.error : undefined;
  if (error && typeof error.code === 'number') {
    const errorData = isObject(error.error_data) ? error.error_data : {};
    return new CloudApiError({
      apiCode: error.code,
      title: titleOf(error),
      details: firstString(errorData.details, error.error_user_msg, error.message) ?? '',
      httpStatus,
      subcode: typeof error.error_subcode === 'number' ? error.error_subcode : undefined,
      fbtraceId: firstString(error.fbtrace_id),
    });
  }
  if (httpStatus !== undefined && httpStatus >= 500) {
    return new CloudApiError({
      apiCode: NO_API_CODE,
      ...ownTitle('server-error'),
      details: `HTTP ${httpStatus}`,
      httpStatus,
    });
  }
  if (httpStatus !== undefined && httpStatus >= 200 && httpStatus < 300) {
    return new CloudApiError({
      apiCode: NO_API_CODE,
      ...ownTitle('unexpected-response'),
      details: `HTTP ${httpStatus} without the expected fields`,
      httpStatus,
    });
  }
  return new CloudApiError({
    apiCode: NO_API_CODE,
    ...ownTitle('rejected-without-body'),
    details: httpStatus === undefined ? 'no HTTP status' : `HTTP ${httpStatus}`,
    httpStatus,
  });
}

function ownTitle(titleKey: OwnTitle): { title: string; titleKey: OwnTitle } {
  return { title: OWN_TITLES[titleKey], titleKey };
}

const NETWORK_TITLES: Record<string, OwnTitle> = {
  ECONNRESET: 'connection-reset',
  ECONNREFUSED: 'connection-refused',
  ETIMEDOUT: 'timed-out',
  ECONNABORTED: 'timed-out',
  ENOTFOUND: 'host-not-found',
  EAI_AGAIN: 'host-lookup-failed',
  EPIPE: 'connection-closed',
  ERR_SOCKET_CONNECTION_TIMEOUT: 'timed-out',
};

/**
 * Failures before any connection existed: the request cannot have reached the API. A reset is not one of them,
 * not even on a reused keep-alive connection: the server may have read the message before the connection went.
 * The lean adapter also marks any failure before its connection was open (transport.ts neverSent).
 */
const NOTHING_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * The server's certificate was refused (Node's ERR_TLS_* and OpenSSL's certificate codes): a wrong API address or an
 * intercepting proxy. Nothing was sent, and trying again would only repeat the handshake.
 */
function isCertificateFault(code: string): boolean {
  return (
    code.startsWith('ERR_TLS_') ||
    code.startsWith('CERT_') ||
    code.startsWith('UNABLE_TO_') ||
    code.includes('SELF_SIGNED') ||
    code === 'HOSTNAME_MISMATCH'
  );
}

/**
 * What node:http throws before a request exists: a header value or name it cannot send (a token pasted with "…" or a
 * zero-width space), a path with spaces. Thrown at once, so nothing left; the same request fails the same way again.
 * The lean adapter marks these itself (transport.ts unsendable); axios's own adapter (with a proxy) passes them on.
 */
const REQUEST_REFUSED_CODES = new Set([
  'ERR_INVALID_CHAR',
  'ERR_HTTP_INVALID_HEADER_VALUE',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_UNESCAPED_CHARACTERS',
]);

function fromNetworkError(err: Error): CloudApiError {
  const code = (err as { code?: unknown }).code;
  const key = typeof code === 'string' ? code : '';
  if (unsendable(err) || REQUEST_REFUSED_CODES.has(key)) {
    return new CloudApiError({
      apiCode: NO_API_CODE,
      ...ownTitle('not-made'),
      // Only the code: the message may name the header, and a future one its value.
      details: key || 'refused before sending',
      network: true,
      nothingSent: true,
      unsendable: true,
    });
  }
  const timedOut = key === 'ECONNABORTED' || key === 'ETIMEDOUT' || /timeout/i.test(err.message);
  if (isCertificateFault(key)) {
    return new CloudApiError({
      apiCode: NO_API_CODE,
      ...ownTitle('certificate-refused'),
      details: key,
      network: true,
      nothingSent: true,
      untrusted: true,
    });
  }
  return new CloudApiError({
    apiCode: NO_API_CODE,
    ...ownTitle(timedOut ? 'timed-out' : (NETWORK_TITLES[key] ?? 'network-error')),
    // Only the error code: messages of HTTP libraries can quote the request.
    details: key || 'no response',
    network: true,
    timedOut,
    nothingSent: NOTHING_SENT_CODES.has(key) || neverSent(err),
  });
}

function titleOf(error: Record<string, unknown>): string {
  const explicit = firstString(error.title, error.error_user_title);
  if (explicit) return explicit;
  // Titles arrive inside `message` as "(#131047) Re-engagement message".
  const message = firstString(error.message);
  return message ? message.replace(/^\(#\d+\)\s*/, '') : 'Unknown error';
}

function firstString(...values: unknown[]): string | undefined {
  return values.find((v): v is string => typeof v === 'string' && v.length > 0);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
