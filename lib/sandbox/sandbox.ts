import { randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { isBusinessScopedUserId } from '../business-scoped-user-id';
import { type ValidationResult, validateMessageBody, validateReadReceiptBody } from '../cloud-api/schemas';
import { GdprWhatsAppError } from '../errors';
import { normalisePhoneNumber } from '../phone';
import {
  type BusinessNumber,
  buildMessageWebhook,
  buildNumberChangeWebhook,
  buildStatusWebhook,
  buildUserIdChangeWebhook,
  buildUserPreferencesWebhook,
  newMessageId,
  SANDBOX_WABA_ID,
} from '../webhook/build';
import { type DeliveryResult, SerialQueue, WebhookPoster } from './delivery';
import { type GraphErrorResponse, unknownObjectError, whatsAppError } from './graph-errors';
import { BodyError, parseUrl, readJsonBody, type SandboxRequest, sendJson } from './http-io';
import {
  type CustomerMessage,
  customerMessageObject,
  parseCustomerMessage,
  renderOutgoing,
  type SandboxMessage,
  type TemplateDefinition,
} from './messages';
import { PairRateBucket, ThroughputWindow } from './rate-limits';

export type { CustomerMessage, SandboxMessage, TemplateDefinition } from './messages';

export interface SandboxNumberConfig {
  phoneNumberId: string;
  displayPhoneNumber: string;
  verifiedName?: string;
  wabaId?: string;
  accessToken: string;
  appSecret: string;
  /** Messages per second before 130429; default 80, Meta's standard throughput. */
  throughput?: number;
  /** Local storage region reported by GET /settings; default 'DE'. An empty string means Meta's default storage. */
  storageRegion?: string;
  /** Where to POST webhooks; asked at each delivery so a redeployed flow is picked up. */
  webhookUrls: () => string[];
  /** Send the sent/delivered/read status webhooks (default true); benchmarks of the send path may turn them off. */
  statusWebhooks?: boolean;
}

export interface SandboxClock {
  now(): number;
}

export interface SandboxOptions {
  clock?: SandboxClock;
  templates?: TemplateDefinition[];
  /**
   * The template list names any template asked for by name as a UTILITY one, unless registered otherwise: the
   * sandbox sends any template, and Node-RED users cannot register theirs. Off, it lists the registered ones only.
   */
  listUnknownTemplatesAsUtility?: boolean;
  /** How many accepted messages, and messages per conversation, are kept (oldest go first); default 10000. */
  historyLimit?: number;
}

export interface AcceptedMessage {
  phoneNumberId: string;
  /** `to` exactly as the business sent it. */
  to: string;
  waId: string;
  body: Record<string, unknown>;
  messageId: string;
  at: number;
}

export interface ConversationSummary {
  waId: string;
  name?: string;
  /** The customer's business-scoped user id, when she has a username. */
  userId?: string;
  /** True when Meta withholds her number from the business (webhooks carry only the user id). */
  numberHidden?: boolean;
  lastMessageAt?: number;
  lastInboundAt?: number;
  /** True while the customer service window (24 h after the customer's last message) is open. */
  windowOpen: boolean;
  marketingStopped: boolean;
  messageCount: number;
  revision: number;
}

export interface SandboxUpdate {
  phoneNumberId: string;
  waId: string;
}

/** Customer service window: free-form messages only within 24 h of the customer's last message (131047). */
export const SERVICE_WINDOW_MS = 24 * 60 * 60 * 1000;

const MARKETING_STOPPED = {
  code: 131050,
  title:
    'Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.',
};

/** A new business-scoped user id in the same country as `previous`, as Meta gives one with a number change. */
function regeneratedUserId(previous: string): string {
  const country = previous.slice(0, previous.indexOf('.'));
  return `${country}.${BigInt(`0x${randomBytes(8).toString('hex')}`).toString()}`;
}

interface ConversationState {
  waId: string;
  /** The customer's business-scoped user id, when the customer was given one: messages can be sent to it. */
  userId?: string;
  /** The customer uses a username and Meta withholds the number: webhooks name the user id alone. */
  numberHidden?: boolean;
  name?: string;
  lastInboundAt?: number;
  marketingStopped: boolean;
  messages: SandboxMessage[];
  pair: PairRateBucket;
  conversationId: string;
  revision: number;
}

interface NumberState {
  config: SandboxNumberConfig;
  throughput: ThroughputWindow;
  conversations: Map<string, ConversationState>;
  /** One queue per number keeps its webhooks (inbound messages and statuses) in order. */
  queue: SerialQueue;
}

const API_PATH = /^\/(v\d+(?:\.\d+)?)\/([A-Za-z0-9_-]+)(?:\/(messages|settings|message_templates))?\/?$/;
/** Entries per page of the template list when the request names no limit (Meta's default). */
const TEMPLATE_PAGE_SIZE = 25;

function waIdOf(phone: string): string {
  return normalisePhoneNumber(phone).slice(1);
}

function equalSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Meta's `error_data.details` names the parameter; the schema violations name field and limit. */
function violationDetails(result: ValidationResult): string {
  if (result.ok) return '';
  return result.violations
    .map((v) => (v.message.includes(v.field) ? v.message : `Param ${v.field}: ${v.message}`))
    .join('; ');
}

function bearerToken(req: SandboxRequest, query: URLSearchParams): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    return match ? match[1].trim() : undefined;
  }
  return query.get('access_token') ?? undefined;
}

/**
 * A Cloud API look-alike: the same endpoints, bodies, errors and signed webhooks as Meta, with the customer played
 * by tests or by a person on the chat page. Emits 'update' ({phoneNumberId, waId}) whenever a conversation changes.
 */
export class Sandbox extends EventEmitter {
  private readonly clock: SandboxClock;
  private readonly numbersById = new Map<string, NumberState>();
  private readonly templates: TemplateDefinition[];
  private readonly listUnknownTemplatesAsUtility: boolean;
  private acceptedMessages: AcceptedMessage[] = [];
  private readonly poster = new WebhookPoster();
  // Benchmarks push hundreds of thousands of messages through: memory stays bounded.
  private readonly historyLimit: number;

  constructor(options: SandboxOptions = {}) {
    super();
    this.clock = options.clock ?? { now: () => Date.now() };
    this.templates = [...(options.templates ?? [])];
    this.listUnknownTemplatesAsUtility = options.listUnknownTemplatesAsUtility === true;
    this.historyLimit = options.historyLimit && options.historyLimit > 0 ? options.historyLimit : 10000;
  }

  registerNumber(config: SandboxNumberConfig): void {
    if (!config.phoneNumberId || !/^[A-Za-z0-9_-]+$/.test(config.phoneNumberId)) {
      throw new GdprWhatsAppError('sandbox-invalid-number', 'The sandbox number needs a phone number id (digits)');
    }
    if (!config.accessToken || !config.appSecret) {
      throw new GdprWhatsAppError(
        'sandbox-invalid-number',
        'The sandbox number needs an access token and an app secret',
      );
    }
    const existing = this.numbersById.get(config.phoneNumberId);
    // Re-registering (a redeployed config node) keeps the conversations.
    this.numbersById.set(config.phoneNumberId, {
      config: { ...config },
      throughput: new ThroughputWindow(config.throughput && config.throughput > 0 ? config.throughput : 80),
      conversations: existing?.conversations ?? new Map(),
      queue: existing?.queue ?? new SerialQueue(),
    });
  }

  unregisterNumber(phoneNumberId: string): void {
    this.numbersById.delete(phoneNumberId);
  }

  /** The registered business numbers, without their token and secret. */
  numbers(): { phoneNumberId: string; displayPhoneNumber: string; verifiedName: string }[] {
    return [...this.numbersById.values()].map(({ config }) => ({
      phoneNumberId: config.phoneNumberId,
      displayPhoneNumber: config.displayPhoneNumber,
      verifiedName: config.verifiedName ?? 'Sandbox',
    }));
  }

  /** Template wording for the chat page; without it a template shows its name and parameters. */
  registerTemplate(definition: TemplateDefinition): void {
    const index = this.templates.findIndex((t) => t.name === definition.name && t.language === definition.language);
    if (index >= 0) this.templates[index] = definition;
    else this.templates.push(definition);
  }

  // ---- Business side: the Cloud API ----

  /** Serves the Cloud API paths; resolves false (and leaves the response alone) for any other path. */
  async handleApiRequest(req: SandboxRequest, res: ServerResponse): Promise<boolean> {
    const url = parseUrl(req);
    const match = API_PATH.exec(url.pathname);
    if (!match) return false;
    const [, , phoneNumberId, edge] = match;
    const method = (req.method ?? 'GET').toUpperCase();
    if (edge === 'message_templates') {
      this.listTemplates(phoneNumberId, method, req, url.searchParams, res);
      return true;
    }
    const state = this.numbersById.get(phoneNumberId);
    if (!state) {
      this.respondError(res, unknownObjectError(method, phoneNumberId));
      return true;
    }
    const token = bearerToken(req, url.searchParams);
    if (token === undefined || !equalSecret(token, state.config.accessToken)) {
      this.respondError(res, whatsAppError('accessToken', 'The access token is missing or not valid.'));
      return true;
    }
    if (edge === 'messages' && method === 'POST') await this.sendMessage(state, req, res);
    else if (edge === undefined && method === 'GET') sendJson(res, 200, this.phoneNumberInfo(state, url.searchParams));
    else if (edge === 'settings' && method === 'GET') sendJson(res, 200, this.settings(state));
    else this.respondError(res, unknownObjectError(method, phoneNumberId));
    return true;
  }

  /**
   * GET /{waba-id}/message_templates: the registered templates, every one APPROVED, filtered by `name` (Meta
   * matches part of the name) and paged with `limit` and `after` as Graph pages. A number registered without a
   * WhatsApp Business Account id belongs to the sandbox's default account.
   */
  private listTemplates(
    wabaId: string,
    method: string,
    req: SandboxRequest,
    query: URLSearchParams,
    res: ServerResponse,
  ): void {
    const numbers = [...this.numbersById.values()].filter(
      ({ config }) => (config.wabaId ?? SANDBOX_WABA_ID) === wabaId,
    );
    if (numbers.length === 0 || method !== 'GET') {
      this.respondError(res, unknownObjectError(method, wabaId));
      return;
    }
    const token = bearerToken(req, query);
    if (token === undefined || !numbers.some(({ config }) => equalSecret(token, config.accessToken))) {
      this.respondError(res, whatsAppError('accessToken', 'The access token is missing or not valid.'));
      return;
    }
    const part = query.get('name') ?? '';
    const matching = this.templates.filter((t) => t.name.includes(part));
    if (this.listUnknownTemplatesAsUtility && part && !matching.some((t) => t.name === part)) {
      matching.push({ name: part, category: 'UTILITY', body: '' });
    }
    const limit = Math.max(1, Number(query.get('limit')) || TEMPLATE_PAGE_SIZE);
    const start = Number(Buffer.from(query.get('after') ?? '', 'base64url').toString()) || 0;
    const page = matching.slice(start, start + limit).map((t, i) => ({
      name: t.name,
      language: t.language ?? 'en',
      category: t.category ?? 'UTILITY',
      status: 'APPROVED',
      id: String(1_000_000 + start + i),
    }));
    const cursor = (at: number) => Buffer.from(String(at)).toString('base64url');
    const more = start + limit < matching.length;
    sendJson(res, 200, {
      data: page,
      paging: {
        cursors: { before: cursor(start), after: cursor(start + page.length) },
        ...(more ? { next: `message_templates?after=${cursor(start + page.length)}` } : {}),
      },
    });
  }

  private respondError(res: ServerResponse, error: GraphErrorResponse): void {
    sendJson(res, error.httpStatus, error.body);
  }

  private phoneNumberInfo(state: NumberState, query: URLSearchParams): Record<string, unknown> {
    const { config } = state;
    const all: Record<string, unknown> = {
      verified_name: config.verifiedName ?? 'Sandbox',
      code_verification_status: 'VERIFIED',
      display_phone_number: config.displayPhoneNumber,
      quality_rating: 'GREEN',
      platform_type: 'CLOUD_API',
      throughput: { level: 'STANDARD' },
      id: config.phoneNumberId,
    };
    const fields = query.get('fields');
    if (!fields) return all;
    const wanted = new Set(fields.split(',').map((f) => f.trim()));
    return Object.fromEntries(Object.entries(all).filter(([key]) => key === 'id' || wanted.has(key)));
  }

  /** GET /{phone-number-id}/settings as Meta's local storage guide shows it. */
  private settings(state: NumberState): Record<string, unknown> {
    const region = state.config.storageRegion ?? 'DE';
    return {
      storage_configuration: region
        ? { status: 'IN_COUNTRY_STORAGE_ENABLED', data_localization_region: region }
        : { status: 'DEFAULT' },
    };
  }

  private async sendMessage(state: NumberState, req: SandboxRequest, res: ServerResponse): Promise<void> {
    let body: unknown;
    try {
      body = await readJsonBody(req);
    } catch (error) {
      const details = error instanceof BodyError ? error.message : 'The request body could not be read';
      this.respondError(res, whatsAppError('invalidParameter', details));
      return;
    }
    const object =
      body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    if (object.status === 'read') {
      this.markRead(state, object, res);
      return;
    }
    const validation = validateMessageBody(body);
    if (!validation.ok) {
      this.respondError(res, whatsAppError('invalidParameter', violationDetails(validation)));
      return;
    }
    const byUserId = typeof object.recipient === 'string';
    const to = String(byUserId ? object.recipient : object.to);
    let waId: string;
    if (byUserId) {
      const known = [...state.conversations.values()].find((c) => c.userId === to);
      if (!known) {
        this.respondError(
          res,
          whatsAppError('invalidParameter', 'Param recipient is not the business-scoped user id of a customer'),
        );
        return;
      }
      waId = known.waId;
    } else {
      try {
        waId = waIdOf(to);
      } catch {
        this.respondError(res, whatsAppError('invalidParameter', 'Param to is not a valid WhatsApp phone number'));
        return;
      }
    }
    const now = this.clock.now();
    const conversation = this.conversationState(state, waId);
    const isTemplate = object.type === 'template';
    if (
      !isTemplate &&
      (conversation.lastInboundAt === undefined || now - conversation.lastInboundAt >= SERVICE_WINDOW_MS)
    ) {
      this.respondError(
        res,
        whatsAppError(
          'reEngagement',
          'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
        ),
      );
      return;
    }
    if (!state.throughput.take(now)) {
      this.respondError(res, whatsAppError('throughput', 'Cloud API message throughput has been reached.'));
      return;
    }
    if (!conversation.pair.take(now)) {
      this.respondError(
        res,
        whatsAppError(
          'pairRate',
          'Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.',
        ),
      );
      return;
    }
    // Meta's ids hold the number: not for a customer whose number it withholds.
    const messageId = newMessageId(conversation.numberHidden ? '' : waId);
    const rendered = renderOutgoing(object, this.templates);
    const message: SandboxMessage = {
      text: '',
      ...rendered,
      id: messageId,
      direction: 'outbound',
      type: String(object.type ?? 'text'),
      contextMessageId:
        rendered.contextMessageId ?? (object.context as { message_id?: string } | undefined)?.message_id,
      at: now,
      status: 'accepted',
    };
    this.record(conversation, message);
    this.acceptedMessages.push({
      phoneNumberId: state.config.phoneNumberId,
      to,
      waId,
      body: object,
      messageId,
      at: now,
    });
    if (this.acceptedMessages.length > this.historyLimit) this.acceptedMessages.shift();
    this.changed(state, conversation);
    const response: {
      messaging_product: 'whatsapp';
      contacts: unknown[];
      messages: { id: string; message_status?: string }[];
    } = {
      messaging_product: 'whatsapp',
      // Meta leaves wa_id out of the answer to a message sent by business-scoped user id.
      contacts: [byUserId ? { input: to, user_id: to } : { input: to, wa_id: waId }],
      messages: [isTemplate ? { id: messageId, message_status: 'accepted' } : { id: messageId }],
    };
    sendJson(res, 200, response);
    // Like Meta, statuses arrive after the API answered.
    const callbackData =
      typeof object.biz_opaque_callback_data === 'string' ? object.biz_opaque_callback_data : undefined;
    const afterResponse = () => this.scheduleStatuses(state, conversation, message, callbackData);
    if (res.writableFinished) afterResponse();
    else res.once('finish', afterResponse);
  }

  private markRead(state: NumberState, body: Record<string, unknown>, res: ServerResponse): void {
    const validation = validateReadReceiptBody(body);
    if (!validation.ok) {
      this.respondError(res, whatsAppError('invalidParameter', violationDetails(validation)));
      return;
    }
    const messageId = body.message_id;
    for (const conversation of state.conversations.values()) {
      const message = conversation.messages.find((m) => m.id === messageId && m.direction === 'inbound');
      if (message) {
        message.status = 'read';
        if (body.typing_indicator !== undefined) message.typing = true;
        this.changed(state, conversation);
        sendJson(res, 200, { success: true });
        return;
      }
    }
    this.respondError(
      res,
      whatsAppError('invalidParameter', 'Param message_id does not name a message this number received'),
    );
  }

  /** `callbackData`: the message's biz_opaque_callback_data, which Meta returns in each of its statuses. */
  private scheduleStatuses(
    state: NumberState,
    conversation: ConversationState,
    message: SandboxMessage,
    callbackData?: string,
  ): void {
    const category = message.template ? (message.template.category ?? 'utility').toLowerCase() : 'service';
    const since = conversation.lastInboundAt === undefined ? undefined : message.at - conversation.lastInboundAt;
    const inWindow = since !== undefined && since >= 0 && since < SERVICE_WINDOW_MS;
    const pricing = { category, inWindow };
    if (category === 'marketing' && conversation.marketingStopped) {
      this.enqueueStatus(state, conversation, message, 'failed', pricing, callbackData, [
        { code: MARKETING_STOPPED.code, title: MARKETING_STOPPED.title, message: MARKETING_STOPPED.title },
      ]);
      return;
    }
    if (state.config.statusWebhooks === false) {
      message.status = 'read';
      this.changed(state, conversation);
      return;
    }
    for (const status of ['sent', 'delivered', 'read'] as const) {
      this.enqueueStatus(state, conversation, message, status, pricing, callbackData);
    }
  }

  private enqueueStatus(
    state: NumberState,
    conversation: ConversationState,
    message: SandboxMessage,
    status: 'sent' | 'delivered' | 'read' | 'failed',
    pricing: { category: string; inWindow: boolean },
    callbackData: string | undefined,
    errors?: { code: number; title: string; message: string }[],
  ): void {
    state.queue
      .run(async () => {
        message.status = status;
        if (errors) message.errors = errors.map(({ code, title }) => ({ code, title }));
        this.changed(state, conversation);
        const { config } = state;
        const payload = buildStatusWebhook({
          wabaId: config.wabaId,
          phoneNumberId: config.phoneNumberId,
          displayPhoneNumber: config.displayPhoneNumber,
          recipientWaId: conversation.numberHidden ? '' : conversation.waId,
          recipientUserId: conversation.userId,
          messageId: message.id,
          status,
          timestamp: Math.floor(this.clock.now() / 1000),
          errors,
          conversationId: conversation.conversationId,
          category: pricing.category,
          inServiceWindow: pricing.inWindow,
          bizOpaqueCallbackData: callbackData,
        });
        return this.deliver(state, payload);
      })
      .catch((error: unknown) => this.emit('delivery-error', error));
  }

  private async deliver(state: NumberState, payload: unknown): Promise<DeliveryResult[]> {
    let urls: string[];
    try {
      urls = state.config.webhookUrls().filter((u) => typeof u === 'string' && u.length > 0);
    } catch {
      urls = [];
    }
    return this.poster.deliver(urls, payload, state.config.appSecret);
  }

  // ---- Customer side ----

  /**
   * The customer writes: records the message (opening the 24-hour window), POSTs Meta's signed webhook to every
   * webhook URL and resolves once they answered.
   */
  async customerSends(
    phoneNumberId: string,
    customer: { waId: string; name?: string; userId?: string; hideNumber?: boolean },
    message: CustomerMessage,
    options: { contextMessageId?: string } = {},
  ): Promise<{ messageId: string; deliveries: DeliveryResult[] }> {
    const state = this.numberState(phoneNumberId);
    const checked = parseCustomerMessage(message);
    if (!checked) {
      throw new GdprWhatsAppError(
        'sandbox-invalid-message',
        'The customer message needs a text or a reply id and title',
      );
    }
    if (customer.userId !== undefined && !isBusinessScopedUserId(customer.userId)) {
      throw new GdprWhatsAppError('sandbox-invalid-message', 'userId must be a business-scoped user id like DE.1234');
    }
    const waId = waIdOf(customer.waId);
    if (customer.hideNumber && !customer.userId && !state.conversations.get(waId)?.userId) {
      throw new GdprWhatsAppError('sandbox-invalid-message', 'A customer whose number Meta withholds needs a userId');
    }
    // Meta gives each person their own id: one id for two numbers would send one customer's messages to the other.
    const holder = [...state.conversations.values()].find((c) => c.userId === customer.userId && c.waId !== waId);
    if (customer.userId && holder) {
      throw new GdprWhatsAppError('sandbox-invalid-message', 'This userId belongs to another customer of the number');
    }
    const conversation = this.conversationState(state, waId);
    if (customer.name) conversation.name = customer.name;
    if (customer.userId) conversation.userId = customer.userId;
    if (customer.hideNumber !== undefined) conversation.numberHidden = customer.hideNumber === true;
    const now = this.clock.now();
    const messageId = newMessageId(conversation.numberHidden ? '' : waId);
    const { webhookMessage, type, text } = customerMessageObject(checked);
    if (options.contextMessageId) {
      webhookMessage.context = {
        from: state.config.displayPhoneNumber.replace(/\D/g, ''),
        id: options.contextMessageId,
      };
    }
    conversation.lastInboundAt = now;
    this.record(conversation, {
      id: messageId,
      direction: 'inbound',
      type,
      text,
      contextMessageId: options.contextMessageId,
      at: now,
      status: 'received',
    });
    this.changed(state, conversation);
    const { config } = state;
    const payload = buildMessageWebhook({
      wabaId: config.wabaId,
      phoneNumberId: config.phoneNumberId,
      displayPhoneNumber: config.displayPhoneNumber,
      waId: conversation.numberHidden ? '' : waId,
      userId: conversation.userId,
      profileName: conversation.name,
      message: webhookMessage,
      messageId,
      timestamp: Math.floor(now / 1000),
    });
    const deliveries = await state.queue.run(() => this.deliver(state, payload));
    return { messageId, deliveries };
  }

  /** The customer stops or resumes marketing messages in WhatsApp; Meta reports it as a user_preferences change. */
  async customerOptsOutOfMarketing(
    phoneNumberId: string,
    waId: string,
    value: 'stop' | 'resume',
  ): Promise<{ deliveries: DeliveryResult[] }> {
    if (value !== 'stop' && value !== 'resume') {
      throw new GdprWhatsAppError('sandbox-invalid-preference', 'The marketing preference must be "stop" or "resume"');
    }
    const state = this.numberState(phoneNumberId);
    const conversation = this.conversationState(state, waIdOf(waId));
    conversation.marketingStopped = value === 'stop';
    this.changed(state, conversation);
    const { config } = state;
    const payload = buildUserPreferencesWebhook({
      wabaId: config.wabaId,
      phoneNumberId: config.phoneNumberId,
      displayPhoneNumber: config.displayPhoneNumber,
      waId: conversation.numberHidden ? '' : conversation.waId,
      userId: conversation.userId,
      value,
      timestamp: Math.floor(this.clock.now() / 1000),
    });
    const deliveries = await state.queue.run(() => this.deliver(state, payload));
    return { deliveries };
  }

  /**
   * The customer moves to another WhatsApp number: Meta tells the business with a system message from the old
   * number. Later messages come from the new number; the old conversation stays as it was.
   */
  async customerChangesNumber(
    phoneNumberId: string,
    oldWaId: string,
    newWaId: string,
  ): Promise<{ messageId: string; deliveries: DeliveryResult[] }> {
    const state = this.numberState(phoneNumberId);
    const from = waIdOf(oldWaId);
    const to = waIdOf(newWaId);
    if (from === to) {
      throw new GdprWhatsAppError('sandbox-invalid-number-change', 'A number change needs two different numbers');
    }
    const conversation = this.conversationState(state, from);
    // A number change regenerates the customer's business-scoped user id (Meta's changelog, Aug 11, 2026): the
    // message names the old and the new one, and she goes on at the new number with the new id.
    const previousUserId = conversation.userId;
    const userId = previousUserId ? regeneratedUserId(previousUserId) : undefined;
    if (userId) {
      const moved = this.conversationState(state, to);
      moved.userId = userId;
      moved.numberHidden = conversation.numberHidden;
      moved.name ??= conversation.name;
      // The old number is no longer hers: whoever writes from it next has neither her id nor her username.
      conversation.userId = undefined;
      conversation.numberHidden = undefined;
      this.changed(state, moved);
      this.changed(state, conversation);
    }
    const payload = buildNumberChangeWebhook({
      ...this.businessOf(state),
      oldWaId: from,
      newWaId: to,
      previousUserId,
      userId,
      profileName: conversation.name,
    });
    return this.deliverSystemMessage(state, payload);
  }

  /** Meta gives the customer a new business-scoped user id and tells the business with a system message. */
  async customerChangesUserId(
    phoneNumberId: string,
    waId: string,
    userId: string,
  ): Promise<{ messageId: string; deliveries: DeliveryResult[] }> {
    const state = this.numberState(phoneNumberId);
    const conversation = this.findConversation(phoneNumberId, waIdOf(waId));
    const previousUserId = conversation?.userId;
    if (!conversation || !previousUserId || !isBusinessScopedUserId(userId) || userId === previousUserId) {
      throw new GdprWhatsAppError(
        'sandbox-invalid-user-id-change',
        'A user id change needs a customer with a user id and a different new one like DE.1234',
      );
    }
    if ([...state.conversations.values()].some((c) => c.userId === userId)) {
      throw new GdprWhatsAppError('sandbox-invalid-message', 'This userId belongs to another customer of the number');
    }
    conversation.userId = userId;
    this.changed(state, conversation);
    const payload = buildUserIdChangeWebhook({
      ...this.businessOf(state),
      previousUserId,
      userId,
      profileName: conversation.name,
    });
    return this.deliverSystemMessage(state, payload);
  }

  /** The business number's part of a webhook, stamped now. */
  private businessOf(state: NumberState): BusinessNumber & { timestamp: number } {
    const { wabaId, phoneNumberId, displayPhoneNumber } = state.config;
    return { wabaId, phoneNumberId, displayPhoneNumber, timestamp: Math.floor(this.clock.now() / 1000) };
  }

  /** Posts a webhook of one system message and names its message id. */
  private async deliverSystemMessage(
    state: NumberState,
    payload: object,
  ): Promise<{ messageId: string; deliveries: DeliveryResult[] }> {
    const { entry } = payload as { entry: { changes: { value: { messages: { id: string }[] } }[] }[] };
    const messageId = entry[0].changes[0].value.messages[0].id;
    const deliveries = await state.queue.run(() => this.deliver(state, payload));
    return { messageId, deliveries };
  }

  // ---- Inspection ----

  /** Both directions, oldest first. Copies: changing them changes nothing in the sandbox. */
  conversation(phoneNumberId: string, waId: string): SandboxMessage[] {
    const conversation = this.findConversation(phoneNumberId, waId);
    return conversation ? structuredClone(conversation.messages) : [];
  }

  /** Grows with every change of the conversation; the chat page long-polls on it. */
  conversationRevision(phoneNumberId: string, waId: string): number {
    return this.findConversation(phoneNumberId, waId)?.revision ?? 0;
  }

  conversations(phoneNumberId: string): ConversationSummary[] {
    const state = this.numbersById.get(phoneNumberId);
    if (!state) return [];
    const now = this.clock.now();
    return [...state.conversations.values()]
      .filter((c) => c.messages.length > 0 || c.name !== undefined || c.userId !== undefined || c.marketingStopped)
      .map((c) => ({
        waId: c.waId,
        name: c.name,
        userId: c.userId,
        numberHidden: c.numberHidden === true ? true : undefined,
        lastMessageAt: c.messages.at(-1)?.at,
        lastInboundAt: c.lastInboundAt,
        windowOpen: c.lastInboundAt !== undefined && now - c.lastInboundAt < SERVICE_WINDOW_MS,
        marketingStopped: c.marketingStopped,
        messageCount: c.messages.length,
        revision: c.revision,
      }))
      .sort((a, b) => (b.lastMessageAt ?? 0) - (a.lastMessageAt ?? 0));
  }

  /** Every message the API accepted (not read receipts), oldest first, for tests. */
  accepted(phoneNumberId?: string): AcceptedMessage[] {
    const list = phoneNumberId
      ? this.acceptedMessages.filter((m) => m.phoneNumberId === phoneNumberId)
      : this.acceptedMessages;
    return structuredClone(list);
  }

  /** Forgets conversations, accepted messages and rate limits; registered numbers and templates stay. */
  reset(): void {
    this.acceptedMessages = [];
    for (const state of this.numbersById.values()) {
      state.conversations.clear();
      state.throughput = new ThroughputWindow(
        state.config.throughput && state.config.throughput > 0 ? state.config.throughput : 80,
      );
    }
  }

  /** Resolves when every queued webhook has been delivered (or has failed). */
  async idle(): Promise<void> {
    for (const state of [...this.numbersById.values()]) await state.queue.idle();
  }

  /** Releases the keep-alive sockets of the webhook deliveries. */
  close(): void {
    this.poster.close();
  }

  // ---- Internals ----

  private numberState(phoneNumberId: string): NumberState {
    const state = this.numbersById.get(phoneNumberId);
    if (!state) {
      throw new GdprWhatsAppError('sandbox-unknown-number', 'The sandbox has no business number with this id', {
        phoneNumberId,
      });
    }
    return state;
  }

  private findConversation(phoneNumberId: string, waId: string): ConversationState | undefined {
    const state = this.numbersById.get(phoneNumberId);
    if (!state) return undefined;
    let key: string;
    try {
      key = waIdOf(waId);
    } catch {
      return undefined;
    }
    return state.conversations.get(key);
  }

  private conversationState(state: NumberState, waId: string): ConversationState {
    let conversation = state.conversations.get(waId);
    if (!conversation) {
      conversation = {
        waId,
        marketingStopped: false,
        messages: [],
        pair: new PairRateBucket(),
        conversationId: randomBytes(16).toString('hex'),
        revision: 0,
      };
      state.conversations.set(waId, conversation);
    }
    return conversation;
  }

  private record(conversation: ConversationState, message: SandboxMessage): void {
    conversation.messages.push(message);
    if (conversation.messages.length > this.historyLimit) conversation.messages.shift();
  }

  private changed(state: NumberState, conversation: ConversationState): void {
    conversation.revision += 1;
    const update: SandboxUpdate = { phoneNumberId: state.config.phoneNumberId, waId: conversation.waId };
    this.emit('update', update);
  }
}
