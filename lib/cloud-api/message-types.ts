/**
 * The request bodies of POST /{phone-number-id}/messages, written down once as types.
 * The JSON Schemas in schemas.ts check the same shapes (with the API's length limits) at run time.
 */

export type MediaRef = { id: string; link?: never } | { link: string; id?: never };

export type ImageObject = MediaRef & { caption?: string };
export type VideoObject = MediaRef & { caption?: string };
export type DocumentObject = MediaRef & { caption?: string; filename?: string };
/** `voice: true` sends a voice message (an .ogg file with the OPUS codec): transcript, voice icon, a "played" status. */
export type AudioObject = MediaRef & { voice?: boolean };
export type StickerObject = MediaRef;

export interface TextObject {
  body: string;
  preview_url?: boolean;
}

export interface ReactionObject {
  message_id: string;
  /** An empty string removes an earlier reaction. */
  emoji: string;
}

export interface LocationObject {
  /** Decimal degrees: a number, or a decimal string as Meta's guide writes it ("37.44216251868683"). */
  latitude: number | string;
  longitude: number | string;
  name?: string;
  address?: string;
}

export interface ContactObject {
  name: { formatted_name: string; first_name?: string; last_name?: string; [key: string]: unknown };
  phones?: Array<{ phone?: string; type?: string; wa_id?: string }>;
  emails?: Array<{ email?: string; type?: string }>;
  [key: string]: unknown;
}

export type TemplateParameter =
  | { type: 'text'; text: string; parameter_name?: string }
  | { type: 'payload'; payload: string }
  | { type: 'currency'; currency: { fallback_value: string; code: string; amount_1000: number } }
  | { type: 'date_time'; date_time: { fallback_value: string } }
  | { type: 'image'; image: MediaRef }
  | { type: 'video'; video: MediaRef }
  | { type: 'document'; document: MediaRef & { filename?: string } }
  | { type: 'location'; location: LocationObject }
  | { type: 'coupon_code'; coupon_code: string }
  | { type: 'action'; action: Record<string, unknown> };

export type ButtonSubType =
  | 'quick_reply'
  | 'url'
  | 'copy_code'
  | 'flow'
  | 'catalog'
  | 'mpm'
  | 'voice_call'
  | 'order_details';

export type TemplateComponent =
  | { type: 'header' | 'body'; parameters?: TemplateParameter[] }
  | {
      type: 'button';
      /** In any case: Meta's guides write "quick_reply" and "CATALOG". */
      sub_type: ButtonSubType | Uppercase<ButtonSubType>;
      index: number | string;
      parameters?: TemplateParameter[];
    };

export interface TemplateObject {
  name: string;
  language: { code: string; policy?: 'deterministic' };
  components?: TemplateComponent[];
}

export type InteractiveHeader =
  | { type: 'text'; text: string }
  | { type: 'image'; image: MediaRef }
  | { type: 'video'; video: MediaRef }
  | { type: 'document'; document: MediaRef & { filename?: string } };

export interface ReplyButton {
  type: 'reply';
  reply: { id: string; title: string };
}

export interface ListRow {
  id: string;
  title: string;
  description?: string;
}

export interface ListSection {
  title?: string;
  rows: ListRow[];
}

interface InteractiveCommon {
  header?: InteractiveHeader;
  body?: { text: string };
  footer?: { text: string };
}

export type InteractiveObject =
  | (InteractiveCommon & { type: 'button'; body: { text: string }; action: { buttons: ReplyButton[] } })
  | (InteractiveCommon & {
      type: 'list';
      header?: { type: 'text'; text: string };
      body: { text: string };
      action: { button: string; sections: ListSection[] };
    })
  | (InteractiveCommon & {
      type:
        | 'cta_url'
        | 'flow'
        | 'product'
        | 'product_list'
        | 'catalog_message'
        | 'location_request_message'
        | 'carousel'
        | 'call_permission_request';
      action: Record<string, unknown>;
    });

/** A phone number in `to`, or a business-scoped user id (a person known by username only) in `recipient`. */
export type MessageAddress = { to: string; recipient?: undefined } | { recipient: string; to?: undefined };

type BodyEnvelope = MessageAddress & {
  messaging_product: 'whatsapp';
  recipient_type?: 'individual';
  /** The message this one replies to (shown quoted in the chat). */
  context?: { message_id: string };
  biz_opaque_callback_data?: string;
};

export type OutgoingMessageBody = BodyEnvelope &
  (
    | { type: 'text'; text: TextObject }
    | { type: 'template'; template: TemplateObject }
    | { type: 'interactive'; interactive: InteractiveObject }
    | { type: 'image'; image: ImageObject }
    | { type: 'video'; video: VideoObject }
    | { type: 'audio'; audio: AudioObject }
    | { type: 'document'; document: DocumentObject }
    | { type: 'sticker'; sticker: StickerObject }
    | { type: 'reaction'; reaction: ReactionObject }
    | { type: 'location'; location: LocationObject }
    | { type: 'contacts'; contacts: ContactObject[] }
  );

export type MessageType = OutgoingMessageBody['type'];

export const MESSAGE_TYPES: readonly MessageType[] = [
  'text',
  'template',
  'interactive',
  'image',
  'video',
  'audio',
  'document',
  'sticker',
  'reaction',
  'location',
  'contacts',
];

/**
 * The message type of a payload object: its `type`, or else the one message-type key it holds
 * (`{ template: {...} }` is a template). The sender, the consent gate and the opt-out footer all read it
 * here, so that they agree on what a payload is.
 */
export function messageTypeOf(payload: object): string | undefined {
  const { type } = payload as { type?: unknown };
  if (type !== undefined) return typeof type === 'string' ? type : undefined;
  const present = MESSAGE_TYPES.filter((key) => key in payload);
  return present.length === 1 ? present[0] : undefined;
}

/** Marks an inbound message as read (blue ticks), optionally with a typing indicator. */
export interface ReadReceiptBody {
  messaging_product: 'whatsapp';
  status: 'read';
  message_id: string;
  typing_indicator?: { type: 'text' };
}
