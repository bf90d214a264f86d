import type { AccountEvent, InboundMessage, MessageStatus, WebhookError } from './types';

export const WHATSAPP_OBJECT = 'whatsapp_business_account';

export interface NormalisedWebhook {
  messages: InboundMessage[];
  statuses: MessageStatus[];
  events: AccountEvent[];
}

export interface NormaliseOptions {
  /** Data minimisation (GDPR Art. 5(1)(c)): when true, Meta's raw objects are not attached. */
  minimise: boolean;
}

type Json = Record<string, unknown>;

const MEDIA_TYPES = new Set(['image', 'audio', 'video', 'document', 'sticker']);

/**
 * Turns a `whatsapp_business_account` webhook body into normalised messages, statuses and events.
 * One body may batch many entries and changes. Unknown shapes never throw: what cannot be read is skipped.
 */
export function normaliseWebhook(payload: unknown, options: NormaliseOptions): NormalisedWebhook {
  const result: NormalisedWebhook = { messages: [], statuses: [], events: [] };
  const body = record(payload);
  if (!body || body.object !== WHATSAPP_OBJECT) return result;
  for (const entry of list(body.entry)) {
    const entryRecord = record(entry);
    if (!entryRecord) continue;
    for (const change of list(entryRecord.changes)) {
      const changeRecord = record(change);
      if (changeRecord) readChange(changeRecord, entryRecord, options, result);
    }
  }
  return result;
}

function readChange(change: Json, entry: Json, options: NormaliseOptions, into: NormalisedWebhook): void {
  const value = record(change.value);
  if (!value) return;
  const field =
    text(change.field) ?? (Array.isArray(value.messages) || Array.isArray(value.statuses) ? 'messages' : '');
  if (!field) return;
  const metadata = record(value.metadata);
  const phoneNumberId = text(metadata?.phone_number_id);
  if (field === 'messages') {
    if (!phoneNumberId) return;
    const business = { phoneNumberId, displayPhoneNumber: text(metadata?.display_phone_number) };
    const senders = readSenders(value.contacts);
    for (const item of list(value.messages)) {
      const message = readMessage(record(item), senders, business, options);
      if (message) into.messages.push(message);
    }
    for (const item of list(value.statuses)) {
      const status = readStatus(record(item), senders, phoneNumberId, options);
      if (status) into.statuses.push(status);
    }
    // Errors of the change itself (not of one message or status): they reach the flow as an event.
    const errors = readErrors(value.errors);
    if (errors.length > 0) {
      const event: AccountEvent = { field: 'errors', errors, phoneNumberId };
      setIfDefined(event, 'timestamp', seconds(entry.time));
      if (!options.minimise) event.raw = value;
      into.events.push(event);
    }
    return;
  }
  if (field === 'user_preferences') {
    const contacts = readSenders(value.contacts);
    for (const item of list(value.user_preferences)) {
      const event = readUserPreference(record(item), contacts, phoneNumberId, options);
      if (event) into.events.push(event);
    }
    return;
  }
  const event: AccountEvent = { field };
  setIfDefined(event, 'value', text(value.event) ?? text(value.decision));
  setIfDefined(event, 'timestamp', seconds(entry.time) ?? seconds(value.timestamp));
  setIfDefined(event, 'phoneNumberId', phoneNumberId);
  setIfDefined(event, 'template', readTemplate(value));
  if (!options.minimise) event.raw = value;
  into.events.push(event);
}

/**
 * Which template a template webhook (message_template_status_update, template_category_update,
 * message_template_quality_update) is about, and its new status reason or category: no personal data, so kept when
 * minimising (a flow must know which template Meta paused, rejected or made a marketing one).
 */
function readTemplate(value: Json): AccountEvent['template'] {
  const template: NonNullable<AccountEvent['template']> = {};
  setIfDefined(template, 'id', text(value.message_template_id));
  setIfDefined(template, 'name', text(value.message_template_name));
  setIfDefined(template, 'language', text(value.message_template_language));
  if (Object.keys(template).length === 0) return undefined;
  setIfDefined(template, 'reason', text(value.reason));
  setIfDefined(template, 'previousCategory', text(value.previous_category));
  setIfDefined(template, 'newCategory', text(value.new_category));
  setIfDefined(template, 'correctCategory', text(value.correct_category));
  return template;
}

interface Sender {
  waId?: string;
  userId?: string;
  name?: string;
}

interface Senders {
  byWaId: Map<string, Sender>;
  byUserId: Map<string, Sender>;
  only?: Sender;
}

function readSenders(contacts: unknown): Senders {
  const senders: Senders = { byWaId: new Map(), byUserId: new Map() };
  const all: Sender[] = [];
  for (const item of list(contacts)) {
    const contact = record(item);
    if (!contact) continue;
    const sender: Sender = {};
    setIfDefined(sender, 'waId', text(contact.wa_id));
    setIfDefined(sender, 'userId', text(contact.user_id));
    setIfDefined(sender, 'name', text(record(contact.profile)?.name));
    if (sender.waId) senders.byWaId.set(sender.waId, sender);
    if (sender.userId) senders.byUserId.set(sender.userId, sender);
    all.push(sender);
  }
  if (all.length === 1) senders.only = all[0];
  return senders;
}

/**
 * The contact that is this sender: the one with the same business-scoped id or the same number, and no other id of
 * its own that contradicts the item's. Only an exact match: a contact that names someone else must never make the
 * item theirs (a STOP, a number change, a window or a de-duplication mark would go to the wrong person).
 */
function findSender(senders: Senders, waId: string | undefined, userId: string | undefined): Sender | undefined {
  const sender = (userId ? senders.byUserId.get(userId) : undefined) ?? (waId ? senders.byWaId.get(waId) : undefined);
  if (!sender) return undefined;
  const sameNumber = !waId || !sender.waId || sender.waId === waId;
  const sameUserId = !userId || !sender.userId || sender.userId === userId;
  return sameNumber && sameUserId ? sender : undefined;
}

function readMessage(
  message: Json | undefined,
  senders: Senders,
  business: { phoneNumberId: string; displayPhoneNumber?: string },
  options: NormaliseOptions,
): InboundMessage | undefined {
  const messageId = identifier(message?.id);
  if (!message || !messageId) return undefined;
  const sentFrom = text(message.from);
  const sentFromUserId = text(message.from_user_id);
  const sender = findSender(senders, sentFrom, sentFromUserId);
  // The message's own ids name its writer (for a number change, `from` is the old number); a contact only fills in
  // an id the message leaves out, and the profile name.
  const waId = sentFrom ?? sender?.waId;
  const type = text(message.type) ?? 'unknown';
  const result: InboundMessage = {
    messageId,
    timestamp: seconds(message.timestamp) ?? Math.floor(Date.now() / 1000),
    type,
    phoneNumberId: business.phoneNumberId,
  };
  setIfDefined(result, 'from', e164(waId));
  setIfDefined(result, 'waId', waId);
  setIfDefined(result, 'userId', sentFromUserId ?? sender?.userId);
  setIfDefined(result, 'name', sender?.name);
  setIfDefined(result, 'displayPhoneNumber', business.displayPhoneNumber);
  readContent(message, type, result);
  setIfDefined(result, 'context', readContext(record(message.context)));
  setIfDefined(result, 'referral', readReferral(record(message.referral)));
  setIfDefined(result, 'groupId', text(message.group_id));
  const errors = readErrors(message.errors);
  if (errors.length > 0) result.errors = errors;
  if (!options.minimise) result.raw = message;
  return result;
}

function readContent(message: Json, type: string, into: InboundMessage): void {
  const content = record(message[type]);
  if (type === 'text') {
    setIfDefined(into, 'text', text(content?.body));
  } else if (type === 'button') {
    into.button = {};
    setIfDefined(into.button, 'payload', text(content?.payload));
    setIfDefined(into.button, 'text', text(content?.text));
    setIfDefined(into, 'text', into.button.text);
  } else if (type === 'interactive') {
    setIfDefined(into, 'interactive', readInteractive(content));
    setIfDefined(into, 'text', into.interactive?.title);
  } else if (MEDIA_TYPES.has(type)) {
    setIfDefined(into, 'media', readMedia(content));
  } else if (type === 'location') {
    setIfDefined(into, 'location', readLocation(content));
  } else if (type === 'contacts') {
    if (Array.isArray(message.contacts)) into.contacts = message.contacts;
  } else if (type === 'reaction') {
    const reactedTo = text(content?.message_id);
    if (reactedTo) {
      into.reaction = { messageId: reactedTo };
      setIfDefined(into.reaction, 'emoji', text(content?.emoji));
    }
  } else if (type === 'order') {
    setIfDefined(into, 'order', readOrder(content));
  } else if (type === 'system') {
    setIfDefined(into, 'system', readSystem(content));
    setIfDefined(into, 'text', into.system?.body);
  } else if (type === 'unsupported') {
    // What the person did that the Cloud API cannot pass on: "edit" (an edited message), "poll", "unknown", ...
    const kind = text(content?.type);
    if (kind !== undefined) into.unsupported = { type: kind };
  }
}

function readInteractive(content: Json | undefined): InboundMessage['interactive'] {
  const kind = text(content?.type);
  const reply = kind ? record(content?.[kind]) : undefined;
  if (!kind || !reply) return undefined;
  if (kind === 'nfm_reply') {
    const flow: NonNullable<InboundMessage['interactive']> = { type: kind, id: text(reply.name) ?? '' };
    setIfDefined(flow, 'title', text(reply.body));
    setIfDefined(flow, 'responseJson', text(reply.response_json));
    return flow;
  }
  if (kind === 'call_permission_reply') {
    // The answer to a call_permission_request: "accept" or "reject", for good or until expiration_timestamp.
    const response = text(reply.response);
    if (response === undefined) return undefined;
    const permission: NonNullable<InboundMessage['interactive']> = { type: kind, id: response };
    if (typeof reply.is_permanent === 'boolean') permission.permanent = reply.is_permanent;
    setIfDefined(permission, 'expiresAt', seconds(reply.expiration_timestamp));
    return permission;
  }
  const id = text(reply.id);
  if (id === undefined) return undefined;
  const interactive: NonNullable<InboundMessage['interactive']> = { type: kind, id };
  setIfDefined(interactive, 'title', text(reply.title));
  setIfDefined(interactive, 'description', text(reply.description));
  return interactive;
}

function readMedia(content: Json | undefined): InboundMessage['media'] {
  const id = text(content?.id);
  if (!content || !id) return undefined;
  const media: NonNullable<InboundMessage['media']> = { id };
  setIfDefined(media, 'mimeType', text(content.mime_type));
  setIfDefined(media, 'sha256', text(content.sha256));
  setIfDefined(media, 'caption', text(content.caption));
  setIfDefined(media, 'filename', text(content.filename));
  if (typeof content.voice === 'boolean') media.voice = content.voice;
  return media;
}

function readLocation(content: Json | undefined): InboundMessage['location'] {
  const latitude = finite(content?.latitude);
  const longitude = finite(content?.longitude);
  if (!content || latitude === undefined || longitude === undefined) return undefined;
  const location: NonNullable<InboundMessage['location']> = { latitude, longitude };
  setIfDefined(location, 'name', text(content.name));
  setIfDefined(location, 'address', text(content.address));
  setIfDefined(location, 'url', text(content.url));
  return location;
}

function readOrder(content: Json | undefined): InboundMessage['order'] {
  if (!content) return undefined;
  const items = list(content.product_items).flatMap((item) => {
    const product = record(item);
    if (!product) return [];
    const line: Record<string, string | number> = {};
    setIfDefined(line, 'productRetailerId', text(product.product_retailer_id));
    setIfDefined(line, 'quantity', finite(product.quantity));
    setIfDefined(line, 'itemPrice', finite(product.item_price));
    setIfDefined(line, 'currency', text(product.currency));
    return [line];
  });
  const order: NonNullable<InboundMessage['order']> = { items };
  setIfDefined(order, 'catalogId', text(content.catalog_id));
  setIfDefined(order, 'text', text(content.text));
  return order;
}

function readSystem(content: Json | undefined): InboundMessage['system'] {
  if (!content) return undefined;
  const system: NonNullable<InboundMessage['system']> = {};
  setIfDefined(system, 'type', text(content.type));
  setIfDefined(system, 'body', text(content.body));
  setIfDefined(system, 'waId', text(content.wa_id) ?? text(content.new_wa_id));
  setIfDefined(system, 'userId', text(content.user_id));
  setIfDefined(system, 'previousUserId', text(content.previous_user_id));
  setIfDefined(system, 'marketing', text(content.marketing));
  return system;
}

/**
 * The ad or post a click-to-WhatsApp message came from. Not its ctwa_clid: that click id exists to tie the person's
 * ad click to what they do next (Meta's conversion tracking), which is for the business to decide with consent, so
 * it stays in the raw message only (minimisation off); nor the ad's media URLs.
 */
function readReferral(referral: Json | undefined): InboundMessage['referral'] {
  if (!referral) return undefined;
  const result: NonNullable<InboundMessage['referral']> = {};
  setIfDefined(result, 'sourceType', text(referral.source_type));
  setIfDefined(result, 'sourceId', text(referral.source_id));
  setIfDefined(result, 'sourceUrl', text(referral.source_url));
  setIfDefined(result, 'headline', text(referral.headline));
  setIfDefined(result, 'body', text(referral.body));
  setIfDefined(result, 'mediaType', text(referral.media_type));
  return Object.keys(result).length > 0 ? result : undefined;
}

function readContext(context: Json | undefined): InboundMessage['context'] {
  if (!context) return undefined;
  const result: NonNullable<InboundMessage['context']> = {};
  const from = text(context.from);
  setIfDefined(result, 'from', e164(from) ?? from);
  setIfDefined(result, 'id', text(context.id));
  if (typeof context.forwarded === 'boolean') result.forwarded = context.forwarded;
  if (typeof context.frequently_forwarded === 'boolean') result.frequentlyForwarded = context.frequently_forwarded;
  return Object.keys(result).length > 0 ? result : undefined;
}

function readStatus(
  status: Json | undefined,
  senders: Senders,
  phoneNumberId: string,
  options: NormaliseOptions,
): MessageStatus | undefined {
  const messageId = identifier(status?.id);
  const state = identifier(status?.status);
  if (!status || !messageId || !state) return undefined;
  const recipientId = text(status.recipient_id);
  const recipientUserId = text(status.recipient_user_id);
  const result: MessageStatus = {
    messageId,
    status: state,
    timestamp: seconds(status.timestamp) ?? Math.floor(Date.now() / 1000),
    phoneNumberId,
  };
  // recipient_id is a group id for group messages: only an individual's number becomes E.164.
  if (text(status.recipient_type) !== 'group') setIfDefined(result, 'recipient', e164(recipientId));
  setIfDefined(result, 'recipientId', recipientId);
  setIfDefined(result, 'userId', recipientUserId ?? findSender(senders, recipientId, undefined)?.userId);
  const conversation = record(status.conversation);
  if (conversation) {
    result.conversation = {};
    setIfDefined(result.conversation, 'id', text(conversation.id));
    setIfDefined(result.conversation, 'category', text(record(conversation.origin)?.type));
    setIfDefined(result.conversation, 'expiresAt', seconds(conversation.expiration_timestamp));
  }
  const pricing = record(status.pricing);
  if (pricing) {
    result.pricing = {};
    if (typeof pricing.billable === 'boolean') result.pricing.billable = pricing.billable;
    setIfDefined(result.pricing, 'category', text(pricing.category));
    setIfDefined(result.pricing, 'model', text(pricing.pricing_model));
    // Per-message pricing: whether this message is charged ("regular") or free ("free_customer_service", ...).
    setIfDefined(result.pricing, 'type', text(pricing.type));
  }
  // The business's own tracking string from the send request: Meta returns it only in statuses.
  setIfDefined(result, 'bizOpaqueCallbackData', text(status.biz_opaque_callback_data));
  const errors = readErrors(status.errors);
  if (errors.length > 0) result.errors = errors;
  if (!options.minimise) result.raw = status;
  return result;
}

/**
 * A person's marketing opt-out or resume. Where the item names them by one id only (or by none, for a number that is
 * withheld), the change's contacts fill in the other: only an exact match, or the change's one contact for an item
 * that names nobody, so that an opt-out is never lost and never attached to someone else.
 */
function readUserPreference(
  preference: Json | undefined,
  contacts: Senders,
  phoneNumberId: string | undefined,
  options: NormaliseOptions,
): AccountEvent | undefined {
  const value = text(preference?.value);
  const ownWaId = text(preference?.wa_id);
  const ownUserId = text(preference?.user_id);
  const contact = ownUserId ? contacts.byUserId.get(ownUserId) : ownWaId ? contacts.byWaId.get(ownWaId) : contacts.only;
  const waId = ownWaId ?? contact?.waId;
  const userId = ownUserId ?? contact?.userId;
  if (!preference || !value || (!waId && !userId)) return undefined;
  const event: AccountEvent = { field: 'user_preferences', value };
  setIfDefined(event, 'from', e164(waId));
  setIfDefined(event, 'waId', waId);
  setIfDefined(event, 'userId', userId);
  setIfDefined(event, 'category', text(preference.category));
  setIfDefined(event, 'timestamp', seconds(preference.timestamp));
  setIfDefined(event, 'phoneNumberId', phoneNumberId);
  if (!options.minimise) event.raw = preference;
  return event;
}

function readErrors(errors: unknown): WebhookError[] {
  return list(errors).flatMap((item) => {
    const error = record(item);
    const code = finite(error?.code);
    if (!error || code === undefined) return [];
    const result: WebhookError = { code };
    setIfDefined(result, 'title', text(error.title));
    setIfDefined(result, 'message', text(error.message));
    setIfDefined(result, 'details', text(record(error.error_data)?.details) ?? text(error.details));
    return [result];
  });
}

/** WhatsApp ids are international numbers without "+"; anything else (a BSUID, a group id) is not a number. */
function e164(waId: string | undefined): string | undefined {
  return waId && /^[1-9]\d{5,14}$/.test(waId) ? `+${waId}` : undefined;
}

function record(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/**
 * Meta's message ids have about 60 characters; the ledger keeps ids of at most 256. A longer one is no id of Meta's:
 * the item is skipped, or keeping its de-duplication mark would fail, and with it every other item of the delivery
 * (a STOP too), on every retry.
 */
export const MAX_ID_LENGTH = 256;

function identifier(value: unknown): string | undefined {
  const id = text(value);
  return id !== undefined && id.length <= MAX_ID_LENGTH ? id : undefined;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function finite(value: unknown): number | undefined {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof number === 'number' && Number.isFinite(number) ? number : undefined;
}

/** Meta sends Unix seconds, as a string in messages and statuses and as a number elsewhere. */
function seconds(value: unknown): number | undefined {
  const number = finite(value);
  return number !== undefined && number >= 0 ? Math.floor(number) : undefined;
}

function setIfDefined<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}
