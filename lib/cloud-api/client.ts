import { setMaxListeners } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { GdprWhatsAppError } from '../errors';
import { ACCOUNT_LIMIT, APP_LIMIT, accountHold, type Hold, holdAccount, holdKeys } from './account-hold';
import { CloudApiError, classifyApiError, NO_API_CODE } from './errors';
import type { OutgoingMessageBody, ReadReceiptBody } from './message-types';
import { type Clock, closedError, Pacer, queueFullError, realClock } from './pacer';
import { callsForSlowDown, DEFAULT_RETRY_POLICY, type RetryPolicy, retryDelayMs } from './retry';
import { assertValidMessageBody, assertValidReadReceiptBody, toReadReceiptBody } from './schemas';
import { TemplateCategories, type TemplateListing } from './template-categories';
import { keepAliveAdapter, neverSent } from './transport';
import { type HeaderValue, waitHintMs } from './wait-hint';

export interface CloudApiClientOptions {
  /** e.g. "https://graph.facebook.com", or the sandbox's base URL. */
  apiBaseUrl: string;
  /** e.g. "v25.0". */
  apiVersion: string;
  phoneNumberId: string;
  accessToken: string;
  /** The WhatsApp Business Account of the number: its rate limit (80007) holds its numbers only. */
  wabaId?: string;
  /** Messages per second for this phone number (Meta's default is 80); 0 switches pacing off. */
  throughput?: number;
  maxQueue?: number;
  /** Per attempt. */
  timeoutMs?: number;
  retry?: RetryPolicy;
  clock?: Clock;
  /** Waits between attempts; defaults to a timer on `clock`. */
  sleep?: (ms: number) => Promise<void>;
  /** Jitter source for the backoff. */
  random?: () => number;
  /** How long an unused keep-alive connection stays open; default IDLE_SOCKET_MS. */
  idleSocketMs?: number;
}

/** Below the idle timeouts of common servers and load balancers (5 s and more). */
export const IDLE_SOCKET_MS = 4000;

export interface SendResult {
  /** `messages[0].id`, the wamid that status webhooks refer to. */
  messageId: string;
  /** `contacts[0].wa_id`. */
  waId?: string;
  /** `contacts[0].input`, the recipient as sent. */
  input?: string;
  /** `contacts[0].user_id`: the business-scoped user id a message to one was sent to. */
  userId?: string;
  /** `messages[0].message_status`, e.g. "accepted" or "held_for_quality_assessment". */
  messageStatus?: string;
  attempts: number;
}

export interface PhoneNumberInfo {
  displayPhoneNumber: string;
  verifiedName: string;
  qualityRating?: string;
  throughputLevel?: string;
  platformType?: string;
  /**
   * Country where Meta keeps message content at rest when local storage is on (e.g. "DE");
   * undefined means Meta's default storage (US).
   */
  storageRegion?: string;
  /** `storage_configuration.status`, e.g. "DEFAULT" or "IN_COUNTRY_STORAGE_ENABLED". */
  storageStatus?: string;
}

export interface SendOptions {
  /**
   * Runs once, on the validated body, in the recipient's order (after the message to the same person before it was
   * answered), before the message queues; a throw refuses it unsent. For checks that ask the network first: the message behind must not
   * overtake.
   */
  check?: () => Promise<void>;
  /**
   * Runs when the message failed, before the next message to the same person may start (within the request timeout;
   * it must not throw): the undo of what was recorded for it (a privacy notice shown) must be seen by that message.
   * It gets the failure: one with `deliveryUnknown` may have reached the person.
   */
  onFailure?: (err: unknown) => Promise<void>;
  /**
   * Runs when the message leaves the queue, before each attempt; a throw cancels the send. A message can wait
   * in the queue for minutes during a broadcast: whatsapp-send re-checks consent here (Art. 7(3) GDPR).
   */
  beforeSend?: () => Promise<void> | void;
}

export interface CloudApiStats {
  queueLength: number;
  /** The last failed send or phone-number lookup; a failed template-list lookup is not one (templateCategory). */
  lastError?: { code: number; title: string; at: number };
}

/** The delay axios's http adapter gives socket.setKeepAlive (axios/lib/adapters/http.js). */
const AXIOS_KEEP_ALIVE_MS = 60_000;

const PHONE_NUMBER_FIELDS = 'display_phone_number,verified_name,quality_rating,throughput,platform_type';

/**
 * Client for one WhatsApp business number. One axios instance and one pair of keep-alive agents per
 * client; every call is validated first, paced to the number's throughput, and retried per retry.ts.
 * The access token lives only in the instance's default headers: errors are built from the response
 * body (CloudApiError), never passed through from axios, whose errors carry the request headers.
 */
export class CloudApiClient {
  private readonly http: AxiosInstance;
  private readonly agents: { http: http.Agent; https: https.Agent };
  private readonly pacer: Pacer;
  private readonly retry: RetryPolicy;
  private readonly clock: Clock;
  private readonly timeoutMs: number;
  /** Tests pass their own; otherwise the clock's timer, cleared when close() ends the wait. */
  private readonly sleep?: (ms: number) => Promise<void>;
  private readonly pausing = new Set<() => void>();
  private readonly random: () => number;
  private readonly abort = new AbortController();
  private lastError?: CloudApiStats['lastError'];
  /**
   * A rate limit with the wait Meta named (WAIT_NAMING_LIMITS: 4, 80007, 130429): until then nothing is sent, so the
   * block is not prolonged by calls that would fail anyway. Each message is refused as never sent, with the wait left.
   * The app's and the account's limits are shared with the other clients of the same token (account-hold.ts).
   */
  private hold?: Hold;
  private readonly shared: { app: string; account: string };
  /** Per recipient, the end of the last send: the next one to that recipient starts after it. */
  private readonly lastSendTo = new Map<string, Promise<void>>();
  /** Messages waiting for an earlier one to the same recipient. */
  private waitingBehind = 0;
  private readonly maxQueue: number;
  private closed = false;
  private closing?: Promise<void>;
  /** Requests on their way to the API: close() lets them finish before it aborts what is left. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly templatesUrl?: string;
  private readonly templates: TemplateCategories;

  constructor(options: CloudApiClientOptions) {
    const throughput = options.throughput ?? 80;
    this.clock = options.clock ?? realClock;
    this.timeoutMs = options.timeoutMs ?? 15000;
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.sleep = options.sleep;
    this.random = options.random ?? Math.random;
    this.maxQueue = options.maxQueue ?? 10000;
    // Enough sockets for a second's worth of messages in flight at ~1 s API latency.
    const maxSockets = Math.max(4, Math.ceil(throughput || 16));
    this.pacer = new Pacer({
      ratePerSecond: throughput,
      // A slow API must not push messages into the agent's own queue, which maxQueue and close() cannot see.
      maxConcurrent: maxSockets,
      maxQueue: this.maxQueue,
      waitingElsewhere: () => this.waitingBehind,
      clock: this.clock,
    });
    // axios sets a 60 s keep-alive delay on every request's socket and the agent its own when the socket comes
    // back: with different values each request paid two system calls switching between them; with one, none.
    const agentOptions = {
      keepAlive: true,
      keepAliveMsecs: AXIOS_KEEP_ALIVE_MS,
      maxSockets,
      maxFreeSockets: maxSockets,
      // An idle connection is closed by us before the server closes it: a message sent on a connection the server
      // is just closing fails with a reset, and a reset of a sent message is never retried (delivery unknown).
      timeout: options.idleSocketMs ?? IDLE_SOCKET_MS,
    };
    this.agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
    const base = options.apiBaseUrl.replace(/\/+$/, '');
    this.shared = holdKeys(base, options.accessToken, options.wabaId);
    if (options.wabaId) {
      this.templatesUrl = `${base}/${encodeURIComponent(options.apiVersion)}/${encodeURIComponent(options.wabaId)}/message_templates`;
    }
    this.templates = new TemplateCategories((name) => this.listTemplates(name), this.clock);
    this.http = axios.create({
      baseURL: `${base}/${encodeURIComponent(options.apiVersion)}/${encodeURIComponent(options.phoneNumberId)}`,
      timeout: this.timeoutMs,
      httpAgent: this.agents.http,
      httpsAgent: this.agents.https,
      headers: { Authorization: `Bearer ${options.accessToken}`, 'Content-Type': 'application/json' },
      // Every status is an answer to classify from its body; redirects could carry the token elsewhere.
      validateStatus: () => true,
      maxRedirects: 0,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
      // Bodies arrive serialised (request()); axios's own JSON step inspects each one first.
      transformRequest: [(data: unknown) => data],
      ...(proxyConfigured() ? {} : { proxy: false, adapter: keepAliveAdapter(this.agents) }),
      signal: this.abort.signal,
    });
    // Every request in flight listens on this one signal (up to `throughput` at once): not a leak, so no warning.
    setMaxListeners(0, this.abort.signal);
  }

  /**
   * Sends one message; throws `invalid-message` (nothing sent), `queue-full`, `closed` or CloudApiError.
   * Messages to one recipient leave one after the other, each once the one before was answered: two requests
   * in flight may be accepted in either order, and a privacy notice must arrive before the message it precedes.
   */
  async sendMessage(body: OutgoingMessageBody, options: SendOptions = {}): Promise<SendResult> {
    assertValidMessageBody(body);
    // While Meta's named wait is longer than a retry may wait, the message is refused before it queues.
    const held = this.heldError();
    if (held && (held.retryAfterMs ?? 0) > this.retry.maxDelayMs) throw held;
    const recipient = body.to ?? body.recipient;
    const previous = this.lastSendTo.get(recipient);
    const { check, onFailure } = options;
    const attempt = check ? () => check().then(() => this.send(body, options)) : () => this.send(body, options);
    const start = onFailure
      ? () =>
          attempt().catch(async (err: unknown) => {
            await this.withinTimeout(onFailure(err)).catch(ignore);
            throw err;
          })
      : attempt;
    let sending: Promise<SendResult>;
    if (previous) {
      // Waiting behind an earlier message counts against the queue bound like waiting in the queue.
      if (!this.pacer.hasRoom()) throw queueFullError(this.maxQueue);
      this.waitingBehind += 1;
      sending = previous.then(() => {
        this.waitingBehind -= 1;
        return start();
      });
    } else {
      sending = start();
    }
    const settled = sending.then(ignore, ignore);
    this.lastSendTo.set(recipient, settled);
    settled.then(() => {
      if (this.lastSendTo.get(recipient) === settled) this.lastSendTo.delete(recipient);
    });
    return sending;
  }

  private send(body: OutgoingMessageBody, options: SendOptions): Promise<SendResult> {
    return this.withRetries(async (attempts) => {
      // A hold that began while this message queued refuses it before the consent recheck reads the ledger.
      const held = this.heldError();
      if (held) throw held;
      // After the wait in the queue, right before the request: whatever it throws ends the send (no retry).
      if (options.beforeSend) await this.withinTimeout(options.beforeSend());
      const { status, data, retryAfterMs } = await this.request('post', '/messages', body);
      const message = first(data?.messages);
      if (status < 200 || status >= 300 || typeof message?.id !== 'string') {
        throw classifyApiError(status, data).withWait(retryAfterMs);
      }
      const contact = first(data?.contacts);
      return {
        messageId: message.id,
        waId: stringOrUndefined(contact?.wa_id),
        input: stringOrUndefined(contact?.input),
        messageStatus: stringOrUndefined(message.message_status),
        attempts,
        // Present only for a message sent to a business-scoped user id.
        ...(typeof contact?.user_id === 'string' ? { userId: contact.user_id } : {}),
      };
    }, false);
  }

  /**
   * The check before a send runs while the message holds one of the number's connections: a store that does not
   * answer (a PostgreSQL server gone quiet) must not stop every other message, read receipt and STOP confirmation.
   */
  private async withinTimeout(check: Promise<void> | void): Promise<void> {
    let timer: unknown;
    let onClose: (() => void) | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = this.clock.setTimeout(
        () =>
          reject(
            new GdprWhatsAppError(
              'send-check-timeout',
              'The consent check before sending did not answer in time, so the message was not sent',
            ),
          ),
        this.timeoutMs,
      );
      // Closed meanwhile (a redeploy): the message was not sent, and says so at once.
      onClose = () => reject(closedError());
      this.abort.signal.addEventListener('abort', onClose, { once: true });
    });
    try {
      await Promise.race([check, late]);
    } finally {
      this.clock.clearTimeout(timer);
      if (onClose) this.abort.signal.removeEventListener('abort', onClose);
    }
  }

  /** Marks an inbound message as read (blue ticks), optionally showing a typing indicator. */
  async markRead(messageId: string, typingIndicator = false): Promise<void> {
    const body: ReadReceiptBody = toReadReceiptBody(messageId, typingIndicator);
    assertValidReadReceiptBody(body);
    await this.withRetries(async () => {
      const { status, data, retryAfterMs } = await this.request('post', '/messages', body);
      if (status < 200 || status >= 300 || data?.success !== true) {
        throw classifyApiError(status, data).withWait(retryAfterMs);
      }
    });
  }

  /**
   * The number's public facts and where Meta stores its message content at rest (local storage,
   * https://developers.facebook.com/documentation/business-messaging/whatsapp/local-storage): the privacy
   * notice must name that location (GDPR Art. 13(1)(f), transfers to third countries).
   */
  async getPhoneNumber(): Promise<PhoneNumberInfo> {
    const [number, settings] = await Promise.all([
      this.getJson('', { fields: PHONE_NUMBER_FIELDS }),
      this.getJson('/settings', {}),
    ]);
    const storage = isObject(settings.storage_configuration) ? settings.storage_configuration : {};
    const storageStatus = stringOrUndefined(storage.status);
    const localStorageOn = storageStatus?.toUpperCase() === 'IN_COUNTRY_STORAGE_ENABLED';
    const throughput = isObject(number.throughput) ? number.throughput : {};
    return {
      displayPhoneNumber: stringOrUndefined(number.display_phone_number) ?? '',
      verifiedName: stringOrUndefined(number.verified_name) ?? '',
      qualityRating: stringOrUndefined(number.quality_rating),
      throughputLevel: stringOrUndefined(throughput.level),
      platformType: stringOrUndefined(number.platform_type),
      storageRegion: localStorageOn ? stringOrUndefined(storage.data_localization_region)?.toUpperCase() : undefined,
      storageStatus,
    };
  }

  /**
   * The category Meta gives a template (MARKETING, UTILITY, AUTHENTICATION), from the business account's template
   * list, remembered for ten minutes; null when the account lists no template of that name. Throws
   * `template-check-no-account` without a WhatsApp Business Account id, and the API's error when the list fails.
   * `backOff` is for a lookup no message waits on: after a failure the list is not asked again for a while, and the
   * lookup fails at once with that failure (TEMPLATE_LIST_BACKOFF_MS).
   */
  templateCategory(name: string, options: { backOff?: boolean } = {}): Promise<string | null> {
    return this.templates.categoryOf(name, options);
  }

  /**
   * Drops the remembered category of a template Meta reported changed (template_category_update,
   * message_template_status_update): a UTILITY template made MARKETING must not go without consent for ten minutes.
   */
  forgetTemplateCategory(name: string): void {
    this.templates.forget(name);
  }

  private async listTemplates(name: string): Promise<TemplateListing[]> {
    if (!this.templatesUrl) {
      throw new GdprWhatsAppError(
        'template-check-no-account',
        'The WhatsApp configuration names no WhatsApp Business Account id, so the template category cannot be checked',
      );
    }
    const listings: TemplateListing[] = [];
    let after: string | undefined;
    // Meta's name filter narrows the list to a few entries; the page limit only guards against a server that loops.
    for (let page = 0; page < MAX_TEMPLATE_PAGES; page++) {
      const params: Record<string, string> = { name, fields: 'name,language,category,status', limit: '100' };
      if (after) params.after = after;
      const answer = await this.getJson(this.templatesUrl, params, true);
      for (const item of Array.isArray(answer.data) ? answer.data : []) {
        if (isObject(item) && typeof item.name === 'string') {
          listings.push({
            name: item.name,
            language: stringOrUndefined(item.language),
            category: stringOrUndefined(item.category),
            status: stringOrUndefined(item.status),
          });
        }
      }
      const paging = isObject(answer.paging) ? answer.paging : {};
      const cursors = isObject(paging.cursors) ? paging.cursors : {};
      after = stringOrUndefined(cursors.after);
      if (!paging.next || !after) return listings;
    }
    // A part of the list could miss the marketing entry of the name.
    throw new GdprWhatsAppError('template-check-failed', 'The template list did not end', {
      template: name,
      reason: `more than ${MAX_TEMPLATE_PAGES} pages`,
    });
  }

  stats(): CloudApiStats {
    return {
      queueLength: this.pacer.queueLength + this.waitingBehind,
      ...(this.lastError ? { lastError: { ...this.lastError } } : {}),
    };
  }

  /**
   * Rejects waiting messages (`closed`: never sent), gives requests in flight up to `graceMs` to be answered (a
   * message Meta may already have taken must not be reported as unsent), then aborts what is left
   * (`closed-in-flight` for a message: it may have been delivered) and frees the sockets.
   */
  close(graceMs = CLOSE_GRACE_MS): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.pacer.close();
    // A message waiting to be tried again (up to maxDelayMs after 131056) is refused now, not after its wait.
    for (const wake of [...this.pausing]) wake();
    const answered = Promise.allSettled([...this.inFlight]).then(ignore);
    this.closing = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, graceMs);
      answered.then(() => {
        clearTimeout(timer);
        resolve();
      });
    }).then(() => {
      this.abort.abort();
      this.agents.http.destroy();
      this.agents.https.destroy();
    });
    return this.closing;
  }

  /**
   * `idempotent: false` (sending a message): a request that left without an answer (timed out, connection lost)
   * may have reached the API and may still be delivered, so it is not sent again and is reported as
   * `deliveryUnknown`; Meta's /messages has no idempotency key, and a second attempt could deliver it twice.
   * The same goes for an answer that is not the API's own: a gateway's 502 or 504 (the API may have taken the
   * message and not answered in time) or a 200 without a message id. Only failures that prove nothing was done are
   * tried again: no connection, Meta's own error codes, a 503 or 429 from the gateway.
   */
  private async withRetries<T>(attempt: (attempts: number) => Promise<T>, idempotent = true): Promise<T> {
    for (let attempts = 1; ; attempts++) {
      try {
        // Each attempt queues again: a retry counts against the number's throughput like any message.
        return await this.pacer.schedule(() => attempt(attempts));
      } catch (err) {
        if (!(err instanceof CloudApiError)) throw err;
        const deliveryUnknown = !idempotent && mayHaveBeenCarriedOut(err);
        const namedWait = err.retryable ? err.retryAfterMs : undefined;
        if (namedWait !== undefined) this.holdFor(err, namedWait);
        // A message refused by an earlier hold (held) was not sent: it says nothing new about the rate.
        if (!err.held && callsForSlowDown(err.apiCode, namedWait)) this.pacer.slowDown();
        // A wait longer than the policy allows is the flow's to wait out, not a message's to sit in memory for.
        const waitTooLong = namedWait !== undefined && namedWait > this.retry.maxDelayMs;
        if (!err.retryable || deliveryUnknown || waitTooLong || attempts >= this.retry.maxAttempts || this.closed) {
          this.lastError = { code: err.apiCode, title: err.title, at: this.clock.now() };
          throw deliveryUnknown ? err.asDeliveryUnknown() : err;
        }
        await this.pause(Math.max(namedWait ?? 0, retryDelayMs(err.apiCode, attempts, this.retry, this.random)));
        if (this.closed) throw closedError();
      }
    }
  }

  /** The refusal of a message while Meta's named wait lasts; undefined when no wait is on. */
  private heldError(): CloudApiError | undefined {
    const now = this.clock.now();
    const own = this.hold && now < this.hold.until ? this.hold : undefined;
    const app = accountHold(this.clock, this.shared.app);
    const longest = later(later(own, app), accountHold(this.clock, this.shared.account));
    return longest ? longest.cause.heldBack(longest.until - now) : undefined;
  }

  /** Only waits of WAIT_NAMING_LIMITS get here (withWait): the pair limit, one recipient's, never holds the rest. */
  private holdFor(err: CloudApiError, waitMs: number): void {
    const until = this.clock.now() + waitMs;
    if (err.apiCode === APP_LIMIT) holdAccount(this.clock, this.shared.app, { until, cause: err });
    else if (err.apiCode === ACCOUNT_LIMIT) holdAccount(this.clock, this.shared.account, { until, cause: err });
    else if (!this.hold || until > this.hold.until) this.hold = { until, cause: err };
  }

  /** The wait before another attempt; close() ends it early. */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: unknown;
      const wake = () => {
        this.pausing.delete(wake);
        if (timer !== undefined) this.clock.clearTimeout(timer);
        resolve();
      };
      this.pausing.add(wake);
      if (this.sleep) this.sleep(ms).then(wake, wake);
      else timer = this.clock.setTimeout(wake, ms);
    });
  }

  /**
   * `sideLookup`: the template list. Its failure is no failed send: the message it was looked up for is refused with
   * its own error (marketing-templates.ts) or goes all the same (opt-in-flow's confirmation request), so it stays out
   * of lastError, which tells of sends and of the number's own facts (check connection).
   */
  private async getJson(
    path: string,
    params: Record<string, string>,
    sideLookup = false,
  ): Promise<Record<string, unknown>> {
    if (this.closed) throw closedError();
    const { status, data, retryAfterMs } = await this.request('get', path, undefined, params);
    if (status < 200 || status >= 300 || !data) {
      const err = classifyApiError(status, data).withWait(retryAfterMs);
      if (!sideLookup) this.lastError = { code: err.apiCode, title: err.title, at: this.clock.now() };
      throw err;
    }
    return data;
  }

  private async request(
    method: 'get' | 'post',
    path: string,
    body?: unknown,
    params?: Record<string, string>,
  ): Promise<{ status: number; data: Record<string, unknown> | undefined; retryAfterMs?: number }> {
    // Once closing, nothing new leaves; only what is already on its way gets its answer.
    if (this.closed) throw closedError();
    const held = this.heldError();
    if (held) throw held;
    let response: AxiosResponse<string>;
    const data = body === undefined ? undefined : JSON.stringify(body);
    const sending = this.http.request<string>({ method, url: path, data, params });
    this.inFlight.add(sending);
    try {
      response = await sending;
    } catch (err) {
      // Aborted by close() after its grace: a POST that had a connection may have reached Meta.
      if (axios.isCancel(err)) throw method === 'post' && !neverSent(err) ? closedInFlightError() : closedError();
      // A new error from the error's code alone: the axios error holds the config with the token.
      throw classifyApiError(undefined, undefined, err instanceof Error ? err : new Error('request failed'));
    } finally {
      this.inFlight.delete(sending);
    }
    const failed = response.status < 200 || response.status >= 300;
    const retryAfterMs = failed ? waitHintMs(headersOf(response), this.clock.now()) : undefined;
    return { status: response.status, data: parseJson(response.data), retryAfterMs };
  }
}

const MAX_TEMPLATE_PAGES = 20;

/** How long close() waits for requests in flight; Node-RED gives a closing node 15 s in all. */
const CLOSE_GRACE_MS = 5000;

function closedInFlightError(): GdprWhatsAppError {
  const err = new GdprWhatsAppError(
    'closed-in-flight',
    'The sender was stopped while the message was on its way: it may have been delivered, so it is not sent again',
  );
  return Object.assign(err, { deliveryUnknown: true as const });
}

/**
 * With a proxy variable set, axios's own http adapter handles the proxy; without one, the lean adapter sends
 * (transport.ts) and axios skips looking the variables up for every request.
 */
function proxyConfigured(): boolean {
  const names = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy'];
  return names.some((name) => process.env[name]);
}

function ignore(): void {}

function headersOf(response: AxiosResponse): Record<string, HeaderValue> {
  const headers = response.headers as { toJSON?: () => Record<string, HeaderValue> } | undefined;
  if (typeof headers?.toJSON === 'function') return headers.toJSON();
  return (headers ?? {}) as Record<string, HeaderValue>;
}

function parseJson(text: unknown): Record<string, unknown> | undefined {
  if (typeof text !== 'string' || text.length === 0) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function first(value: unknown): Record<string, unknown> | undefined {
  return Array.isArray(value) && isObject(value[0]) ? value[0] : undefined;
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function later(a: Hold | undefined, b: Hold | undefined): Hold | undefined {
  return a && b ? (a.until >= b.until ? a : b) : (a ?? b);
}

/**
 * Whether the API may have carried out a request that failed: it left and no answer came (a timeout, a dropped
 * connection), or the answer came from a gateway in front of the API rather than from the API itself (no Graph
 * error body) with a status that does not say the request was turned away before it got through.
 */
function mayHaveBeenCarriedOut(err: CloudApiError): boolean {
  if (err.network) return !err.nothingSent;
  if (err.apiCode !== NO_API_CODE || err.httpStatus === undefined) return false;
  const turnedAway = err.httpStatus === 503 || (err.httpStatus >= 400 && err.httpStatus < 500);
  return !turnedAway;
}
