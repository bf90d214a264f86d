/** The normalised inbound message of DESIGN.md section 2: what `msg.whatsapp` carries. */
export interface InboundMessage {
  /** E.164 with "+", derived from wa_id; absent only when Meta sends a business-scoped id alone. */
  from?: string;
  waId?: string;
  /** Business-scoped user id, when Meta sends one. */
  userId?: string;
  name?: string;
  messageId: string;
  /** Unix seconds as Meta sends them. */
  timestamp: number;
  type: string;
  text?: string;
  /** Quick-reply button of a template: payload and text. */
  button?: { payload?: string; text?: string };
  /**
   * Interactive reply: button_reply or list_reply; nfm_reply (a Flow's answers) carries the flow name as `id`;
   * call_permission_reply (the answer to a call permission request) carries "accept" or "reject" as `id`.
   */
  interactive?: {
    type: 'button_reply' | 'list_reply' | 'nfm_reply' | 'call_permission_reply' | string;
    id: string;
    title?: string;
    description?: string;
    /** nfm_reply only: the Flow's answers as the JSON string Meta sends. */
    responseJson?: string;
    /** call_permission_reply only: the permission has no end, or ends at `expiresAt` (Unix seconds). */
    permanent?: boolean;
    expiresAt?: number;
  };
  media?: { id: string; mimeType?: string; sha256?: string; caption?: string; filename?: string; voice?: boolean };
  location?: { latitude: number; longitude: number; name?: string; address?: string; url?: string };
  contacts?: unknown[];
  reaction?: { messageId: string; emoji?: string };
  order?: { catalogId?: string; text?: string; items: unknown[] };
  /** System notices (number or identity changed, marketing preference changed). */
  /** Meta's system message: a number change (`waId` is the new number) or a new business-scoped user id. */
  system?: {
    type?: string;
    body?: string;
    waId?: string;
    userId?: string;
    previousUserId?: string;
    marketing?: string;
  };
  /** The click-to-WhatsApp ad or post the message came from (Meta's `referral`), without the click id. */
  referral?: {
    sourceType?: string;
    sourceId?: string;
    sourceUrl?: string;
    headline?: string;
    body?: string;
    mediaType?: string;
  };
  /** A message of type "unsupported": what kind it was (e.g. "edit" for an edited message); its errors say why. */
  unsupported?: { type: string };
  context?: { from?: string; id?: string; forwarded?: boolean; frequentlyForwarded?: boolean };
  errors?: WebhookError[];
  /**
   * Set when the message was written in a WhatsApp group the business number belongs to (Meta's Groups API);
   * `from` is the member who wrote it. Such a message does not start that member's 24-hour window: replying to
   * `from` would write to the member privately, not to the group.
   */
  groupId?: string;
  phoneNumberId: string;
  displayPhoneNumber?: string;
  /** Meta's message object as received, only when data minimisation is off. */
  raw?: unknown;
}

export interface WebhookError {
  code: number;
  title?: string;
  message?: string;
  details?: string;
}

/** A delivery status of an outgoing message (output 2 of whatsapp-webhook). */
export interface MessageStatus {
  /** Id of the outgoing message. */
  messageId: string;
  status: 'sent' | 'delivered' | 'read' | 'played' | 'failed' | string;
  timestamp: number;
  recipient?: string;
  recipientId?: string;
  userId?: string;
  conversation?: { id?: string; category?: string; expiresAt?: number };
  /** `type` is Meta's per-message pricing type: "regular" (charged), "free_customer_service", "free_entry_point". */
  pricing?: { billable?: boolean; category?: string; model?: string; type?: string };
  /** The `biz_opaque_callback_data` the message was sent with: Meta returns it in each of its statuses. */
  bizOpaqueCallbackData?: string;
  errors?: WebhookError[];
  phoneNumberId: string;
  /** Meta's status object as received, only when data minimisation is off. */
  raw?: unknown;
}

/** Anything else Meta sends: user_preferences (marketing stop/resume), account and template events. */
export interface AccountEvent {
  field: string;
  /** For user_preferences: the subject. */
  from?: string;
  waId?: string;
  userId?: string;
  /** For user_preferences: "stop" or "resume"; for other fields Meta's event name where it has one. */
  value?: string;
  category?: string;
  timestamp?: number;
  phoneNumberId?: string;
  /**
   * For template webhooks: the template (`id`, `name`, `language`) and what changed: a status's `reason`, a
   * category change (`previousCategory`, `newCategory`; an impending one names the current category as `newCategory`
   * and the coming one as `correctCategory`).
   */
  template?: {
    id?: string;
    name?: string;
    language?: string;
    reason?: string;
    previousCategory?: string;
    newCategory?: string;
    correctCategory?: string;
  };
  /** For field "errors": problems Meta reports for the number or the app rather than for one message. */
  errors?: WebhookError[];
  /** The change's raw value, only when data minimisation is off. */
  raw?: unknown;
}
