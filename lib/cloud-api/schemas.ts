import Ajv, { type ErrorObject } from 'ajv';
import { BSUID_PATTERN, isBusinessScopedUserId } from '../business-scoped-user-id';
import { GdprWhatsAppError } from '../errors';
import {
  MESSAGE_TYPES,
  type MessageAddress,
  type MessageType,
  messageTypeOf,
  type OutgoingMessageBody,
  type ReadReceiptBody,
} from './message-types';

export type { MessageType, OutgoingMessageBody, ReadReceiptBody } from './message-types';
export { MESSAGE_TYPES } from './message-types';

/** One broken rule: which field, which documented limit, and a sentence naming both. */
export interface SchemaViolation {
  /** Dotted path into the body, e.g. "interactive.action.buttons[1].reply.title". */
  field: string;
  /** The rule, e.g. "at most 20 characters". */
  limit: string;
  message: string;
}

export type ValidationResult = { ok: true } | { ok: false; violations: SchemaViolation[] };

/*
 * Limits as documented by Meta (WhatsApp Business Platform, Cloud API "Messages" guides):
 * - text: https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/text-messages
 *   body up to 4096 characters, preview_url boolean.
 * - reply buttons: https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-reply-buttons-messages
 *   1 to 3 buttons, button title up to 20 characters, button id up to 256 characters, body up to 1024,
 *   header text up to 60, footer up to 60.
 * - list: https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-list-messages
 *   button text up to 20, 1 to 10 sections, at most 10 rows in total, section title up to 24 (required when
 *   there is more than one section), row title up to 24, row description up to 72, row id up to 200.
 * - media: https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/image-messages
 *   (and the video/document/audio/sticker pages): either an uploaded media `id` or a hosted `link`,
 *   caption up to 1024 characters (image, video, document only), document `filename`.
 * - templates: https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/overview
 *   name of lowercase letters, digits and underscores up to 512 characters; components header/body/button,
 *   buttons addressed by `sub_type` and `index` (0-9), quick-reply buttons carry a `payload` parameter.
 * - media carousel: https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-media-carousel-messages
 *   body up to 1024 and no header or footer; 2 to 10 cards, each with a card_index from 0, an image or video header,
 *   an optional body up to 160, and either one URL button or quick-reply buttons (id up to 256, title up to 20),
 *   of the same kind and number on every card.
 * - call permission request (Calling API): body text, action name call_permission_request.
 * - read receipts: https://developers.facebook.com/documentation/business-messaging/whatsapp/typing-indicators
 */
export const LIMITS = {
  textBody: 4096,
  interactiveBody: 1024,
  headerText: 60,
  footerText: 60,
  replyButtons: 3,
  buttonTitle: 20,
  buttonId: 256,
  listButton: 20,
  listSections: 10,
  listRows: 10,
  sectionTitle: 24,
  rowTitle: 24,
  rowDescription: 72,
  rowId: 200,
  caption: 1024,
  templateName: 512,
  ctaDisplayText: 20,
  carouselCards: 10,
  carouselCardBody: 160,
} as const;

const str = (maxLength?: number, minLength = 1) => ({ type: 'string', minLength, ...(maxLength ? { maxLength } : {}) });
const textField = (maxLength: number) => ({
  type: 'object',
  required: ['text'],
  properties: { text: str(maxLength) },
  additionalProperties: false,
});
/**
 * A text or interactive body: at least one character that is not a space. Blank, it is no message (and the opt-out
 * line added to it would make one that says nothing else).
 */
const bodyText = (maxLength: number) => ({
  type: 'string',
  maxLength,
  pattern: '\\S',
  'x-limit': 'a text, not empty or only spaces',
});
const caseOf = (prop: string, value: string, then: object) => ({
  if: { required: [prop], properties: { [prop]: { const: value } } },
  then,
});

/**
 * One of `values` (lower case) in any case: Meta's guides write a template button's sub_type both ways
 * ("quick_reply", and "CATALOG" in the catalog template guide), and the API takes either. Sent as written.
 */
const anyCase = (values: string[]) => ({
  'x-any-case': values,
  'x-limit': `one of ${values.join(', ')} (in any case)`,
});

/** Like caseOf, for a property compared in any case. */
const anyCaseOf = (prop: string, value: string, then: object) => ({
  if: { required: [prop], properties: { [prop]: anyCase([value]) } },
  then,
});

const mediaRef = (extra: Record<string, object> = {}) => ({
  type: 'object',
  properties: { id: str(), link: { type: 'string', pattern: '^https?://', 'x-limit': 'an http(s) URL' }, ...extra },
  additionalProperties: false,
  oneOf: [{ required: ['id'] }, { required: ['link'] }],
  'x-limit': 'exactly one of id or link',
});

const mediaWithCaption = mediaRef({ caption: str(LIMITS.caption, 0) });
const documentMedia = mediaRef({ caption: str(LIMITS.caption, 0), filename: str(240) });
const plainMedia = mediaRef();
const audioMedia = mediaRef({ voice: { type: 'boolean' } });

/**
 * Decimal degrees up to `limit` either way: a number, or a decimal string as Meta's location-message guide writes them
 * ("37.44216251868683"). A string is sent as it is; `x-degrees` checks its range as minimum/maximum check a number's.
 */
const coordinate = (limit: number) => ({
  type: ['number', 'string'],
  minimum: -limit,
  maximum: limit,
  pattern: '^[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)$',
  'x-degrees': limit,
  'x-limit': `a decimal number from -${limit} to ${limit}`,
});

const location = {
  type: 'object',
  required: ['latitude', 'longitude'],
  properties: {
    latitude: coordinate(90),
    longitude: coordinate(180),
    name: { type: 'string' },
    address: { type: 'string' },
  },
  additionalProperties: false,
};

const templateParameter = {
  type: 'object',
  required: ['type'],
  properties: {
    type: {
      enum: [
        'text',
        'payload',
        'currency',
        'date_time',
        'image',
        'video',
        'document',
        'location',
        'coupon_code',
        'action',
        'limited_time_offer',
      ],
    },
    parameter_name: str(),
  },
  allOf: [
    caseOf('type', 'text', { required: ['text'], properties: { text: str() } }),
    caseOf('type', 'payload', { required: ['payload'], properties: { payload: str() } }),
    caseOf('type', 'currency', {
      required: ['currency'],
      properties: {
        currency: {
          type: 'object',
          required: ['fallback_value', 'code', 'amount_1000'],
          properties: { fallback_value: str(), code: str(3, 3), amount_1000: { type: 'integer' } },
        },
      },
    }),
    caseOf('type', 'date_time', {
      required: ['date_time'],
      properties: { date_time: { type: 'object', required: ['fallback_value'] } },
    }),
    caseOf('type', 'image', { required: ['image'], properties: { image: plainMedia } }),
    caseOf('type', 'video', { required: ['video'], properties: { video: plainMedia } }),
    caseOf('type', 'document', { required: ['document'], properties: { document: documentMedia } }),
    caseOf('type', 'location', { required: ['location'], properties: { location } }),
    caseOf('type', 'coupon_code', { required: ['coupon_code'], properties: { coupon_code: str() } }),
    caseOf('type', 'action', { required: ['action'], properties: { action: { type: 'object' } } }),
    caseOf('type', 'limited_time_offer', {
      required: ['limited_time_offer'],
      properties: {
        limited_time_offer: {
          type: 'object',
          properties: { expiration_time_ms: { type: 'integer', minimum: 0 } },
        },
      },
    }),
  ],
};

const BUTTON_SUB_TYPES = ['quick_reply', 'url', 'copy_code', 'flow', 'catalog', 'mpm', 'voice_call', 'order_details'];

/** A card of a media card carousel template: its own header, body and buttons. */
const carouselCardComponent: object = templateComponentOf(['header', 'body', 'button']);

/** Header, body and buttons; a limited-time offer's expiry; a media card carousel's 2 to 10 cards. */
const templateComponent = templateComponentOf(
  ['header', 'body', 'button', 'limited_time_offer', 'carousel'],
  carouselCardComponent,
);

function templateComponentOf(types: string[], cardComponent?: object): object {
  return {
    type: 'object',
    required: ['type'],
    properties: {
      type: { enum: types },
      parameters: { type: 'array', items: templateParameter },
    },
    allOf: [
      ...(cardComponent ? [carouselCase(cardComponent)] : []),
      caseOf('type', 'button', {
        required: ['sub_type', 'index'],
        properties: {
          sub_type: anyCase(BUTTON_SUB_TYPES),
          index: {
            anyOf: [
              { type: 'integer', minimum: 0, maximum: 9 },
              { type: 'string', pattern: '^[0-9]$' },
            ],
            'x-limit': 'a button position from 0 to 9',
          },
        },
      }),
      anyCaseOf('sub_type', 'quick_reply', {
        properties: {
          parameters: {
            items: { properties: { type: { const: 'payload' } } },
          },
        },
      }),
    ],
  };
}

/** Meta's media card carousel: 2 to 10 cards, each with its index and components. */
function carouselCase(cardComponent: object) {
  return caseOf('type', 'carousel', {
    required: ['cards'],
    properties: {
      cards: {
        type: 'array',
        minItems: 2,
        maxItems: 10,
        items: {
          type: 'object',
          required: ['card_index', 'components'],
          properties: {
            card_index: { type: 'integer', minimum: 0, maximum: 9 },
            components: { type: 'array', items: cardComponent },
          },
        },
      },
    },
  });
}

const template = {
  type: 'object',
  required: ['name', 'language'],
  properties: {
    name: {
      type: 'string',
      pattern: `^[a-z0-9_]{1,${LIMITS.templateName}}$`,
      'x-limit': `lowercase letters, digits and underscores, 1 to ${LIMITS.templateName} characters`,
    },
    language: {
      type: 'object',
      required: ['code'],
      properties: {
        code: {
          type: 'string',
          pattern: '^[a-z]{2,3}(_[A-Za-z0-9]{2,4})?$',
          'x-limit': 'a language code like de or en_US',
        },
        policy: { const: 'deterministic' },
      },
      additionalProperties: false,
    },
    components: { type: 'array', items: templateComponent },
  },
};

const interactiveHeader = {
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['text', 'image', 'video', 'document'] } },
  allOf: [
    caseOf('type', 'text', { required: ['text'], properties: { text: str(LIMITS.headerText) } }),
    caseOf('type', 'image', { required: ['image'], properties: { image: plainMedia } }),
    caseOf('type', 'video', { required: ['video'], properties: { video: plainMedia } }),
    caseOf('type', 'document', { required: ['document'], properties: { document: documentMedia } }),
  ],
};

/** A button the person taps to answer: `{type, [type]: {id, title}}` (reply buttons; a carousel's quick replies). */
const tapButton = (type: 'reply' | 'quick_reply') => ({
  type: 'object',
  required: ['type', type],
  properties: {
    type: { const: type },
    [type]: {
      type: 'object',
      required: ['id', 'title'],
      properties: { id: str(LIMITS.buttonId), title: str(LIMITS.buttonTitle) },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
});

const replyButton = tapButton('reply');

const listSection = {
  type: 'object',
  required: ['rows'],
  properties: {
    title: str(LIMITS.sectionTitle),
    rows: {
      type: 'array',
      minItems: 1,
      maxItems: LIMITS.listRows,
      items: {
        type: 'object',
        required: ['id', 'title'],
        properties: {
          id: str(LIMITS.rowId),
          title: str(LIMITS.rowTitle),
          description: str(LIMITS.rowDescription, 0),
        },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
};

const ctaUrlAction = {
  type: 'object',
  required: ['name', 'parameters'],
  properties: {
    name: { const: 'cta_url' },
    parameters: {
      type: 'object',
      required: ['display_text', 'url'],
      properties: {
        display_text: str(LIMITS.ctaDisplayText),
        // A web address the phone opens; anything else (javascript:, data:) is no link to send anyone.
        url: { type: 'string', maxLength: 2000, pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$' },
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
};

const carouselQuickReply = tapButton('quick_reply');

/** A card of an interactive media carousel; that every card has the same buttons is checked in crossFieldViolations. */
const carouselCard = {
  type: 'object',
  required: ['card_index', 'header', 'action'],
  properties: {
    card_index: { type: 'integer', minimum: 0, maximum: LIMITS.carouselCards - 1 },
    // Meta's examples name a URL card's type; a card with quick replies may name its own or none.
    type: { enum: ['cta_url', 'quick_reply'] },
    header: {
      type: 'object',
      required: ['type'],
      properties: { type: { enum: ['image', 'video'] } },
      allOf: [
        caseOf('type', 'image', { required: ['image'], properties: { image: plainMedia } }),
        caseOf('type', 'video', { required: ['video'], properties: { video: plainMedia } }),
      ],
    },
    body: textField(LIMITS.carouselCardBody),
    action: {
      type: 'object',
      oneOf: [
        ctaUrlAction,
        {
          type: 'object',
          required: ['buttons'],
          properties: {
            buttons: { type: 'array', minItems: 1, maxItems: LIMITS.replyButtons, items: carouselQuickReply },
          },
          additionalProperties: false,
        },
      ],
      'x-limit': 'either one URL button (name cta_url with parameters) or quick-reply buttons',
    },
  },
  additionalProperties: false,
};

const interactive = {
  type: 'object',
  required: ['type', 'action'],
  properties: {
    type: {
      enum: [
        'button',
        'list',
        'cta_url',
        'flow',
        'product',
        'product_list',
        'catalog_message',
        'location_request_message',
        'carousel',
        'call_permission_request',
      ],
    },
    header: interactiveHeader,
    body: {
      type: 'object',
      required: ['text'],
      properties: { text: bodyText(LIMITS.interactiveBody) },
      additionalProperties: false,
    },
    footer: textField(LIMITS.footerText),
    action: { type: 'object' },
  },
  additionalProperties: false,
  allOf: [
    caseOf('type', 'button', {
      required: ['body'],
      properties: {
        action: {
          required: ['buttons'],
          properties: {
            buttons: { type: 'array', minItems: 1, maxItems: LIMITS.replyButtons, items: replyButton },
          },
          additionalProperties: false,
        },
      },
    }),
    caseOf('type', 'list', {
      required: ['body'],
      properties: {
        header: { properties: { type: { const: 'text' } } },
        action: {
          required: ['button', 'sections'],
          properties: {
            button: str(LIMITS.listButton),
            sections: { type: 'array', minItems: 1, maxItems: LIMITS.listSections, items: listSection },
          },
          additionalProperties: false,
        },
      },
    }),
    caseOf('type', 'cta_url', { required: ['body', 'action'], properties: { action: ctaUrlAction } }),
    caseOf('type', 'carousel', {
      required: ['body'],
      properties: {
        action: {
          required: ['cards'],
          properties: {
            cards: { type: 'array', minItems: 2, maxItems: LIMITS.carouselCards, items: carouselCard },
          },
          additionalProperties: false,
        },
      },
    }),
    caseOf('type', 'call_permission_request', {
      required: ['body'],
      properties: {
        action: {
          required: ['name'],
          properties: { name: { const: 'call_permission_request' } },
          additionalProperties: false,
        },
      },
    }),
  ],
};

const contact = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'object', required: ['formatted_name'], properties: { formatted_name: str() } },
    phones: { type: 'array', items: { type: 'object' } },
    emails: { type: 'array', items: { type: 'object' } },
    addresses: { type: 'array', items: { type: 'object' } },
    urls: { type: 'array', items: { type: 'object' } },
  },
};

const typeSchemas: Record<MessageType, object> = {
  text: {
    type: 'object',
    required: ['body'],
    properties: { body: bodyText(LIMITS.textBody), preview_url: { type: 'boolean' } },
    additionalProperties: false,
  },
  template,
  interactive,
  image: mediaWithCaption,
  video: mediaWithCaption,
  document: documentMedia,
  audio: audioMedia,
  sticker: plainMedia,
  reaction: {
    type: 'object',
    required: ['message_id', 'emoji'],
    properties: { message_id: str(), emoji: { type: 'string' } },
    additionalProperties: false,
  },
  location,
  contacts: { type: 'array', minItems: 1, items: contact },
};

export const messageBodySchema = {
  type: 'object',
  required: ['messaging_product', 'type'],
  // A number in `to`, or a business-scoped user id in `recipient`: with both, Meta would send to the number.
  oneOf: [{ required: ['to'] }, { required: ['recipient'] }],
  'x-limit': 'exactly one of to or recipient',
  properties: {
    messaging_product: { const: 'whatsapp' },
    recipient_type: { const: 'individual' },
    to: {
      ...str(64),
      not: { pattern: BSUID_PATTERN.source },
      'x-limit': 'a phone number (a business-scoped user id goes in recipient)',
    },
    recipient: {
      type: 'string',
      pattern: BSUID_PATTERN.source,
      'x-limit': 'a business-scoped user id such as US.13491208655302741918',
    },
    type: { enum: MESSAGE_TYPES },
    context: {
      type: 'object',
      required: ['message_id'],
      properties: { message_id: str() },
      additionalProperties: false,
    },
    biz_opaque_callback_data: str(512),
    ...typeSchemas,
  },
  additionalProperties: false,
  allOf: MESSAGE_TYPES.map((type) => caseOf('type', type, { required: [type] })),
};

export const readReceiptSchema = {
  type: 'object',
  required: ['messaging_product', 'status', 'message_id'],
  properties: {
    messaging_product: { const: 'whatsapp' },
    status: { const: 'read' },
    message_id: str(),
    typing_indicator: {
      type: 'object',
      required: ['type'],
      properties: { type: { const: 'text' } },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
};

// Compiled once at module load: the send path must not pay for schema compilation per message.
// verbose: errors carry their schema, so the "x-limit" annotation can name a rule in plain words.
const ajv = new Ajv({
  allErrors: true,
  verbose: true,
  strict: true,
  strictRequired: false,
  strictTypes: false,
  allowUnionTypes: true,
});
ajv.addKeyword({ keyword: 'x-limit', schemaType: 'string' });
ajv.addKeyword({
  keyword: 'x-any-case',
  schemaType: 'array',
  validate: (values: string[], data: unknown) => typeof data === 'string' && values.includes(data.toLowerCase()),
});
// A coordinate written as a decimal string is in range (a malformed one is the pattern's to refuse).
ajv.addKeyword({
  keyword: 'x-degrees',
  type: 'string',
  schemaType: 'number',
  validate: (limit: number, data: string) => !(Math.abs(Number(data)) > limit),
});
const checkMessageBody = ajv.compile(messageBodySchema);
const checkReadReceipt = ajv.compile(readReceiptSchema);

/** Validates a POST /messages body against the schemas and the rules a schema cannot express. */
export function validateMessageBody(body: unknown): ValidationResult {
  const violations = checkMessageBody(body) ? [] : fromAjvErrors(checkMessageBody.errors ?? []);
  if (isObject(body)) violations.push(...crossFieldViolations(body));
  return violations.length ? { ok: false, violations: dedupe(violations) } : { ok: true };
}

export function validateReadReceiptBody(body: unknown): ValidationResult {
  if (checkReadReceipt(body)) return { ok: true };
  return { ok: false, violations: dedupe(fromAjvErrors(checkReadReceipt.errors ?? [])) };
}

/** Throws `invalid-message` naming the first broken field and its limit; nothing may be sent then. */
export function assertValidMessageBody(body: unknown): asserts body is OutgoingMessageBody {
  throwOnViolations(validateMessageBody(body));
}

export function assertValidReadReceiptBody(body: unknown): asserts body is ReadReceiptBody {
  throwOnViolations(validateReadReceiptBody(body));
}

function throwOnViolations(result: ValidationResult): void {
  if (result.ok) return;
  const [first, ...rest] = result.violations;
  const more = rest.length ? ` (and ${rest.length} more: ${rest.map((v) => v.field).join(', ')})` : '';
  throw new GdprWhatsAppError('invalid-message', `Invalid WhatsApp message: ${first.message}${more}`, {
    field: first.field,
    limit: first.limit,
  });
}

/**
 * Turns a flow's `msg.payload` into a message body for `to`: a string becomes a text message
 * (without link preview, which must be asked for explicitly); an object is taken as a Cloud API body
 * whose envelope fields may be left out and whose `type` may be inferred from its one content key.
 */
export function toMessageBody(to: string, payload: unknown): OutgoingMessageBody {
  // Meta takes a business-scoped user id only in its own field: in `to` it would be read as a number.
  const address: MessageAddress = isBusinessScopedUserId(to) ? { recipient: to } : { to };
  if (typeof payload === 'string') {
    return {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      ...address,
      type: 'text',
      text: { body: payload, preview_url: false },
    };
  }
  if (!isObject(payload)) {
    throw new GdprWhatsAppError(
      'invalid-message',
      'Invalid WhatsApp message: payload must be a string or a message object',
      {
        field: 'payload',
        limit: 'a string or a message object',
      },
    );
  }
  const { to: _to, recipient: _recipient, ...content } = payload;
  const body: Record<string, unknown> = {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    ...content,
    ...address,
  };
  if (body.type === undefined) {
    const inferred = messageTypeOf(payload);
    if (inferred !== undefined) body.type = inferred;
  }
  return body as unknown as OutgoingMessageBody;
}

export function toReadReceiptBody(messageId: string, typingIndicator = false): ReadReceiptBody {
  return {
    messaging_product: 'whatsapp',
    status: 'read',
    message_id: messageId,
    ...(typingIndicator ? { typing_indicator: { type: 'text' as const } } : {}),
  };
}

/* ---- rules that JSON Schema cannot express ---- */

function crossFieldViolations(body: Record<string, unknown>): SchemaViolation[] {
  const found: SchemaViolation[] = [];
  const type = body.type;
  // A body with a second content object is ambiguous; Meta rejects it with error 100.
  for (const other of MESSAGE_TYPES) {
    if (other !== type && other in body && typeof type === 'string') {
      found.push(violation(other, `not allowed in a message of type ${type}`));
    }
  }
  const interactive = body.interactive;
  if (type !== 'interactive' || !isObject(interactive) || !isObject(interactive.action)) return found;
  const action = interactive.action;
  if (interactive.type === 'button' && Array.isArray(action.buttons)) {
    const replies = action.buttons.map((b) => (isObject(b) && isObject(b.reply) ? b.reply : {}));
    found.push(...duplicates(replies, 'title', (i) => `interactive.action.buttons[${i}].reply.title`));
    found.push(...duplicates(replies, 'id', (i) => `interactive.action.buttons[${i}].reply.id`));
  }
  if (interactive.type === 'carousel') found.push(...carouselViolations(interactive, action));
  if (interactive.type === 'list' && Array.isArray(action.sections)) {
    const sections = action.sections.filter(isObject);
    const rows: Array<{ row: Record<string, unknown>; path: string }> = [];
    sections.forEach((section, s) => {
      if (sections.length > 1 && section.title === undefined) {
        found.push(
          violation(`interactive.action.sections[${s}].title`, 'required when there is more than one section'),
        );
      }
      if (Array.isArray(section.rows)) {
        section.rows.forEach((row, r) => {
          if (isObject(row)) rows.push({ row, path: `interactive.action.sections[${s}].rows[${r}]` });
        });
      }
    });
    if (rows.length > LIMITS.listRows) {
      found.push(violation('interactive.action.sections', `at most ${LIMITS.listRows} rows in total`));
    }
    found.push(
      ...duplicates(
        rows.map((r) => r.row),
        'id',
        (i) => `${rows[i].path}.id`,
      ),
    );
  }
  return found;
}

/**
 * A carousel has no header or footer of its own; its cards stand in a row by their card_index (0 to the last, each
 * once); every card has the same buttons: one URL button each, or the same number of quick replies (Meta's rules).
 */
function carouselViolations(interactive: Record<string, unknown>, action: Record<string, unknown>): SchemaViolation[] {
  const found: SchemaViolation[] = [];
  for (const part of ['header', 'footer']) {
    if (part in interactive) found.push(violation(`interactive.${part}`, 'not allowed in a carousel'));
  }
  if (!Array.isArray(action.cards)) return found;
  const cards = action.cards.map((card) => (isObject(card) ? card : {}));
  const indexes = new Set<unknown>();
  cards.forEach((card, i) => {
    const index = card.card_index;
    if (typeof index === 'number' && (indexes.has(index) || index >= cards.length)) {
      found.push(violation(`interactive.action.cards[${i}].card_index`, `unique and below ${cards.length}`));
    }
    indexes.add(index);
  });
  const buttonsOf = (card: Record<string, unknown>) => {
    const cardAction = isObject(card.action) ? card.action : {};
    return Array.isArray(cardAction.buttons) ? cardAction.buttons : undefined;
  };
  const shape = (card: Record<string, unknown>) => buttonsOf(card)?.length ?? 'url';
  cards.forEach((card, i) => {
    if (i > 0 && shape(card) !== shape(cards[0])) {
      found.push(violation(`interactive.action.cards[${i}].action`, 'the same kind and number of buttons as card 0'));
    }
    const replies = (buttonsOf(card) ?? []).map((b) => (isObject(b) && isObject(b.quick_reply) ? b.quick_reply : {}));
    const path = (field: string) => (r: number) =>
      `interactive.action.cards[${i}].action.buttons[${r}].quick_reply.${field}`;
    found.push(...duplicates(replies, 'title', path('title')), ...duplicates(replies, 'id', path('id')));
  });
  return found;
}

function duplicates(items: Record<string, unknown>[], key: string, path: (i: number) => string): SchemaViolation[] {
  const seen = new Set<unknown>();
  const found: SchemaViolation[] = [];
  items.forEach((item, i) => {
    const value = typeof item[key] === 'string' ? (item[key] as string).trim() : undefined;
    if (value === undefined) return;
    if (seen.has(value)) found.push(violation(path(i), 'unique within the message'));
    seen.add(value);
  });
  return found;
}

/* ---- ajv errors in plain words ---- */

function fromAjvErrors(errors: ErrorObject[]): SchemaViolation[] {
  // Errors inside a failed oneOf/anyOf branch are noise: the combinator's own error says what is wrong.
  const combinators = errors
    .filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf')
    .map((e) => `${e.schemaPath}/`);
  return errors
    .filter((e) => e.keyword !== 'if' && !combinators.some((prefix) => e.schemaPath.startsWith(prefix)))
    .map(toViolation);
}

function toViolation(error: ErrorObject): SchemaViolation {
  const base = pointerToField(error.instancePath);
  const p = error.params as Record<string, unknown>;
  const annotated = (error.parentSchema as Record<string, unknown> | undefined)?.['x-limit'];
  switch (error.keyword) {
    case 'required':
      return violation(join(base, String(p.missingProperty)), 'required');
    case 'additionalProperties':
      return violation(join(base, String(p.additionalProperty)), 'not allowed here');
    case 'maxLength':
      return violation(base, `at most ${p.limit} characters`);
    case 'minLength':
      return violation(base, `at least ${p.limit} character${p.limit === 1 ? '' : 's'}`);
    case 'maxItems':
      return violation(base, `at most ${p.limit} items`);
    case 'minItems':
      return violation(base, `at least ${p.limit} item${p.limit === 1 ? '' : 's'}`);
    case 'minimum':
    case 'maximum':
      return violation(base, `${error.keyword === 'minimum' ? 'at least' : 'at most'} ${p.limit}`);
    case 'type': {
      const expected = String(p.type)
        .split(',')
        .map((type) => `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`)
        .join(' or ');
      // The commonest slip: `text: "Hello"` where Meta wants `text: {body: "Hello"}`.
      const shape =
        base === 'text' && expected === 'an object'
          ? ' such as {"body": "Hello"} (a text alone can be msg.payload itself)'
          : '';
      return violation(base, `${expected}${shape}`);
    }
    case 'const':
      return violation(base, `exactly ${JSON.stringify(p.allowedValue)}`);
    case 'enum':
      return violation(base, `one of ${(p.allowedValues as unknown[]).join(', ')}`);
    default:
      return violation(base, typeof annotated === 'string' ? annotated : (error.message ?? error.keyword));
  }
}

function violation(field: string, limit: string): SchemaViolation {
  const name = field || 'message';
  const verb = /^(required|not allowed)/.test(limit)
    ? 'is'
    : /^(at (most|least) \d+ (items?|rows?)|exactly one of)/.test(limit)
      ? 'must have'
      : 'must be';
  return { field: name, limit, message: `${name} ${verb} ${limit}` };
}

function pointerToField(pointer: string): string {
  let field = '';
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    field = /^\d+$/.test(segment) ? `${field}[${segment}]` : join(field, segment);
  }
  return field;
}

function join(base: string, key: string): string {
  return base ? `${base}.${key}` : key;
}

function dedupe(violations: SchemaViolation[]): SchemaViolation[] {
  const seen = new Set<string>();
  return violations.filter((v) => {
    const key = `${v.field}\u0000${v.limit}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
