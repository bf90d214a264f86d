import { isBusinessScopedUserId } from '../business-scoped-user-id';
import { messageTypeOf } from '../cloud-api/message-types';
import { GdprWhatsAppError } from '../errors';
import { normaliseNamedNumber } from '../phone';

/**
 * The consent-gate decision: may this outgoing message go to this person for this purpose?
 * The ledger says whether a consent holds; this module adds the 24-hour customer service window
 * and turns both into one decision with a reason a flow can route on.
 */

/** Meta's customer service window: free-form messages only within 24 h of the person's last message. */
export const SERVICE_WINDOW_MS = 24 * 60 * 60 * 1000;

/** What ConsentLedger.checkConsent answers. */
export interface ConsentCheckResult {
  allowed: boolean;
  status: string;
  reason: string;
}

export type BlockReason =
  | 'none'
  | 'pending'
  | 'withdrawn'
  | 'expired'
  | 'refused'
  | 'erased'
  | 'unknown-purpose'
  | 'outside-service-window';

export type GateDecision =
  | { pass: true; status: string }
  | { pass: false; status: string; reason: BlockReason | string; detail: string };

/** The subject of an outgoing message as the ledger takes it: a number, or a business-scoped user id. */
export interface GateSubject {
  phone?: string;
  userId?: string;
}

/**
 * A template is the only kind of message Meta delivers outside the service window; anything else
 * (text, interactive, media, ...) is free-form and fails there with error 131047.
 */
export function isFreeFormMessage(payload: unknown): boolean {
  if (typeof payload !== 'object' || payload === null) return true;
  return messageTypeOf(payload) !== 'template';
}

export function isWithinServiceWindow(lastInboundAt: number | undefined, now: number): boolean {
  return lastInboundAt !== undefined && now - lastInboundAt < SERVICE_WINDOW_MS;
}

export interface ServiceWindowInput {
  /** The payload about to be sent (a string is a text message). */
  payload: unknown;
  lastInboundAt: number | undefined;
  now: number;
}

/** Consent first (a withdrawal always wins), then the window for free-form messages when the node checks it. */
export function decideGate(check: ConsentCheckResult, window?: ServiceWindowInput): GateDecision {
  if (!check.allowed) {
    return { pass: false, status: check.status, reason: check.status, detail: check.reason };
  }
  if (window && isFreeFormMessage(window.payload) && !isWithinServiceWindow(window.lastInboundAt, window.now)) {
    return {
      pass: false,
      status: check.status,
      reason: 'outside-service-window',
      detail: 'A free-form message needs a message from the person within the last 24 hours; send a template',
    };
  }
  return { pass: true, status: check.status };
}

/**
 * The recipient of an outgoing message: `msg.to` (a number or a business-scoped user id), else the sender of the
 * inbound message being answered, by number or, for a person known by username only, by business-scoped user id.
 * Throws `missing-recipient` or `invalid-phone`; nothing is checked for a guessed subject.
 */
export function gateSubject(msg: { to?: unknown; whatsapp?: unknown }, country?: string): GateSubject {
  const inbound = (typeof msg.whatsapp === 'object' && msg.whatsapp !== null ? msg.whatsapp : {}) as {
    from?: unknown;
    userId?: unknown;
  };
  // A msg.to that is set decides, even when empty or null: a lookup that found nobody must not answer the inbound
  // sender.
  if (msg.to === null) throw new GdprWhatsAppError('missing-recipient', 'The message has no recipient: set msg.to');
  if (msg.to !== undefined) return addressOf(msg.to, country);
  if (inbound.from !== undefined && inbound.from !== null && inbound.from !== '') return addressOf(inbound.from);
  // A person known by username only: Meta withheld the number and names the business-scoped user id.
  if (isBusinessScopedUserId(inbound.userId)) return { userId: inbound.userId };
  throw new GdprWhatsAppError('missing-recipient', 'The message has no recipient: set msg.to');
}

/**
 * A business-scoped user id exactly as Meta wrote it (only surrounding spaces dropped), else a phone number (written
 * nationally, read in the store's `country`).
 */
function addressOf(value: unknown, country?: string): GateSubject {
  const text = typeof value === 'string' ? value.trim() : value;
  if (isBusinessScopedUserId(text)) return { userId: text };
  if (text === '') throw new GdprWhatsAppError('missing-recipient', 'The message has no recipient: set msg.to');
  return { phone: normaliseNamedNumber(value, country) };
}

/**
 * The purpose to check: the node's, or `msg.purpose` when the node allows it and the message names one. A msg.purpose
 * that is set but names none (a list, a number, an empty text, null) throws `invalid-msg-purpose`: checking the node's
 * purpose in its place could pass, say, a marketing message under a contract purpose.
 */
export function gatePurpose(msgPurpose: unknown, nodePurpose: string | undefined, allowMsgPurpose: boolean): string {
  if (allowMsgPurpose && msgPurpose !== undefined) {
    if (typeof msgPurpose === 'string' && msgPurpose.length > 0) return msgPurpose;
    throw new GdprWhatsAppError(
      'invalid-msg-purpose',
      'msg.purpose must name one purpose by its id (a non-empty text); nothing was passed',
    );
  }
  if (nodePurpose) return nodePurpose;
  if (allowMsgPurpose) {
    throw new GdprWhatsAppError(
      'missing-msg-purpose',
      'No purpose: the message has no msg.purpose and the node names none of its own; nothing was passed',
    );
  }
  throw new GdprWhatsAppError('missing-purpose', 'No purpose: set one in the node or allow msg.purpose');
}
