import { randomBytes } from 'node:crypto';
import type { WebhookError as MetaError } from './types';

/**
 * Webhook bodies exactly as Meta's Cloud API sends them, for the sandbox and for tests.
 * Shapes follow Meta's "messages" and "user_preferences" webhook references: timestamps are
 * strings in messages and statuses and numbers in user_preferences; contacts carry the
 * business-scoped user id (`user_id`) and messages the sender's (`from_user_id`) when known.
 */

export interface BusinessNumber {
  wabaId?: string;
  phoneNumberId: string;
  displayPhoneNumber: string;
}

export interface MessageWebhookInput extends BusinessNumber {
  /** The customer's WhatsApp id (digits, no "+"); empty for a username-only user known by `userId` alone. */
  waId: string;
  userId?: string;
  profileName?: string;
  /** Meta's message object without from/id/timestamp, e.g. `{type: 'text', text: {body: 'Hi'}}`. */
  message: Record<string, unknown>;
  messageId?: string;
  timestamp?: number;
}

export interface StatusWebhookInput extends BusinessNumber {
  /** Empty when Meta withholds the recipient's number (a username user reached by user id). */
  recipientWaId: string;
  /** The recipient's business-scoped user id (`recipient_user_id`), when known. */
  recipientUserId?: string;
  messageId: string;
  status: 'sent' | 'delivered' | 'read' | 'failed';
  timestamp?: number;
  errors?: MetaError[];
  conversationId?: string;
  category?: string;
  /** The message's `biz_opaque_callback_data`, returned in every status of it. */
  bizOpaqueCallbackData?: string;
  /** The message was sent while the customer service window was open: a utility template is then free too. */
  inServiceWindow?: boolean;
}

export interface UserPreferencesWebhookInput extends BusinessNumber {
  /** Empty when Meta withholds the number: the user id alone names the person. */
  waId: string;
  userId?: string;
  value: 'stop' | 'resume';
  timestamp?: number;
}

export interface NumberChangeWebhookInput extends BusinessNumber {
  /** The number the person left (the message's `from`). */
  oldWaId: string;
  /** The person's new WhatsApp id (`system.wa_id`). */
  newWaId: string;
  /** A number change regenerates the business-scoped user id (Meta's changelog, Aug 11, 2026): old and new. */
  previousUserId?: string;
  userId?: string;
  profileName?: string;
  timestamp?: number;
}

export interface UserIdChangeWebhookInput extends BusinessNumber {
  previousUserId: string;
  userId: string;
  profileName?: string;
  timestamp?: number;
}

/** The WhatsApp Business Account of a sandbox number registered without one. */
export const SANDBOX_WABA_ID = '102290129340398';

export function buildMessageWebhook(p: MessageWebhookInput): object {
  const contact: Record<string, unknown> = p.profileName === undefined ? {} : { profile: { name: p.profileName } };
  const sender: Record<string, unknown> = {};
  if (p.waId) {
    contact.wa_id = p.waId;
    sender.from = p.waId;
  }
  if (p.userId) {
    contact.user_id = p.userId;
    sender.from_user_id = p.userId;
  }
  const message = {
    ...sender,
    id: p.messageId ?? newMessageId(p.waId),
    timestamp: String(p.timestamp ?? nowSeconds()),
    ...p.message,
  };
  return envelope(p, 'messages', { contacts: [contact], messages: [message] });
}

export function buildStatusWebhook(p: StatusWebhookInput): object {
  const status: Record<string, unknown> = {
    id: p.messageId,
    status: p.status,
    timestamp: String(p.timestamp ?? nowSeconds()),
  };
  if (p.recipientWaId) status.recipient_id = p.recipientWaId;
  if (p.recipientUserId) status.recipient_user_id = p.recipientUserId;
  if (p.bizOpaqueCallbackData !== undefined) status.biz_opaque_callback_data = p.bizOpaqueCallbackData;
  if (p.status === 'failed') {
    status.errors = (p.errors ?? []).map(toMetaError);
  } else {
    const category = p.category ?? 'service';
    if (p.conversationId) {
      const conversation: Record<string, unknown> = { id: p.conversationId, origin: { type: category } };
      // Meta names the conversation's expiry only on the "sent" status.
      if (p.status === 'sent') conversation.expiration_timestamp = String((p.timestamp ?? nowSeconds()) + 86_400);
      status.conversation = conversation;
    }
    // Per-message pricing: service messages are free, and so is a utility template inside the service window.
    const free = category === 'service' || (category === 'utility' && p.inServiceWindow === true);
    status.pricing = {
      billable: !free,
      pricing_model: 'PMP',
      category,
      type: free ? 'free_customer_service' : 'regular',
    };
  }
  return envelope(p, 'messages', { statuses: [status] });
}

/** Meta's system message for a number change: sent from the old number, without a contacts array. */
export function buildNumberChangeWebhook(p: NumberChangeWebhookInput): object {
  const name = p.profileName ?? 'WhatsApp user';
  const message = {
    from: p.oldWaId,
    id: newMessageId(p.oldWaId),
    timestamp: String(p.timestamp ?? nowSeconds()),
    type: 'system',
    system: {
      body: `User ${name} changed from ${p.oldWaId} to ${p.newWaId}`,
      wa_id: p.newWaId,
      type: 'user_changed_number',
      ...(p.previousUserId ? { previous_user_id: p.previousUserId } : {}),
      ...(p.userId ? { user_id: p.userId } : {}),
    },
  };
  return envelope(p, 'messages', { messages: [message] });
}

/** Meta's system message for a new business-scoped user id: no phone number, the ids before and after. */
export function buildUserIdChangeWebhook(p: UserIdChangeWebhookInput): object {
  const name = p.profileName ?? 'WhatsApp user';
  const message = {
    from_user_id: p.userId,
    id: newMessageId(),
    timestamp: String(p.timestamp ?? nowSeconds()),
    type: 'system',
    system: {
      body: `User ${name} changed from ${p.previousUserId} to ${p.userId}`,
      type: 'user_changed_user_id',
      previous_user_id: p.previousUserId,
      user_id: p.userId,
    },
  };
  return envelope(p, 'messages', { messages: [message] });
}

export function buildUserPreferencesWebhook(p: UserPreferencesWebhookInput): object {
  const detail =
    p.value === 'stop' ? 'User requested to stop marketing messages' : 'User requested to resume marketing messages';
  const person: Record<string, string> = {};
  if (p.waId) person.wa_id = p.waId;
  if (p.userId) person.user_id = p.userId;
  return envelope(p, 'user_preferences', {
    contacts: [{ ...person }],
    user_preferences: [
      { ...person, detail, category: 'marketing_messages', value: p.value, timestamp: p.timestamp ?? nowSeconds() },
    ],
  });
}

/**
 * A message id in Meta's style: "wamid." + base64 of a small record holding the customer's
 * number and a random 20-character hex id.
 */
export function newMessageId(waId = ''): string {
  const digits = Buffer.from(waId.replace(/\D/g, '').slice(0, 20), 'ascii');
  const unique = Buffer.from(randomBytes(10).toString('hex').toUpperCase(), 'ascii');
  const record = Buffer.concat([
    Buffer.from([0x1c, 0x18, digits.length]),
    digits,
    Buffer.from([0x15, 0x02, 0x00, 0x12, 0x18, unique.length]),
    unique,
    Buffer.from([0x00]),
  ]);
  return `wamid.${record.toString('base64')}`;
}

function envelope(p: BusinessNumber, field: string, value: Record<string, unknown>): object {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: p.wabaId ?? SANDBOX_WABA_ID,
        changes: [
          {
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: p.displayPhoneNumber, phone_number_id: p.phoneNumberId },
              ...value,
            },
            field,
          },
        ],
      },
    ],
  };
}

function toMetaError(error: MetaError): Record<string, unknown> {
  const title = error.title ?? 'Message failed to send';
  return {
    code: error.code,
    title,
    message: error.message ?? title,
    error_data: { details: error.details ?? title },
  };
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
