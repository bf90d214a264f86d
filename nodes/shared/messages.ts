import type { OutgoingMessageBody } from '../../lib/cloud-api/schemas';
import { appendOptOutFooter } from '../../lib/conversation/footer';
import { chooseLanguage } from '../../lib/conversation/language';
import type { AccountEvent, InboundMessage, MessageStatus } from '../../lib/webhook/types';

/**
 * msg.payload of an inbound message (DESIGN.md section 2): the text, or the id of the reply tapped. A tapped reply
 * also has a text (its title, in msg.whatsapp.text), but flows switch on the id, which does not change with the
 * wording or the language of the button.
 */
export function inboundPayload(message: InboundMessage): string {
  return (
    message.interactive?.id ??
    message.button?.payload ??
    message.text ??
    message.media?.caption ??
    message.reaction?.emoji ??
    ''
  );
}

export function statusPayload(status: MessageStatus): string {
  return status.status;
}

export function eventPayload(event: AccountEvent): string {
  return event.value ?? event.field;
}

export interface OutgoingContext {
  /** The whatsapp-send node's "opt-out footer" option (on by default). */
  enabled: boolean;
  /** The flow message the body was made from: msg.optOutFooter = false skips it, msg.language picks the text. */
  msg: Record<string, unknown>;
  /** The recipient in E.164, for the language guess when neither msg nor node names one. */
  to: string;
  /** The node's language setting: 'auto', 'en' or 'de'. */
  language?: string;
}

/**
 * Every message says how to stop (Art. 7(3) GDPR: withdrawing must be as easy as consenting): free-form text
 * gets the opt-out line, interactive messages get it as their footer; templates carry their own approved text.
 * Messages that are themselves about opting out (stop-handler's confirmation) set msg.optOutFooter = false; a message
 * right behind a privacy notice that says how to stop (msg.afterPrivacyNotice.noticeSaysHowToStop) needs it no more,
 * nor one to a person who opted out of everything (msg.afterPrivacyNotice.stopEndsNothing, privacy-notice reads it).
 */
export function withOptOutFooter(body: OutgoingMessageBody, context: OutgoingContext): OutgoingMessageBody {
  if (!context.enabled || context.msg.optOutFooter === false) return body;
  const after = context.msg.afterPrivacyNotice as
    | { noticeSaysHowToStop?: unknown; stopEndsNothing?: unknown }
    | undefined;
  if (after?.noticeSaysHowToStop === true || after?.stopEndsNothing === true) return body;
  const language = chooseLanguage(context.msg.language, context.language, context.to);
  return appendOptOutFooter(body as unknown as Record<string, unknown>, language) as unknown as OutgoingMessageBody;
}
