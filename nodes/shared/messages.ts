import type { OutgoingMessageBody } from '../../lib/cloud-api/schemas';
import type { AccountEvent, InboundMessage, MessageStatus } from '../../lib/webhook/types';

/** msg.payload of an inbound message (DESIGN.md section 2): the text, or the id of the reply tapped. */
export function inboundPayload(message: InboundMessage): string {
  return (
    message.text ??
    message.interactive?.id ??
    message.button?.payload ??
    message.button?.text ??
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
  /** The config node's id: the opt-out footer is configured per business number. */
  configId: string;
  /** The flow message the body was made from. */
  msg: Record<string, unknown>;
}

/**
 * Seam for the opt-out footer (DESIGN.md checklist: "easy opt-out in every message"): every body
 * whatsapp-send sends passes through here after it was built and before it is validated, so a later
 * issue adds the footer in this one place. Today it returns the body unchanged.
 */
export function withOptOutFooter(body: OutgoingMessageBody, _context: OutgoingContext): OutgoingMessageBody {
  return body;
}
