import { GdprWhatsAppError } from '../errors';
import type { ConsentLedger } from './ledger';
import type { PurposeDefinition } from './purposes';
import type { RetentionSettings } from './types';

/** Ledger methods that answer with a promise; a ThreadedConsentLedger forwards each to its thread. */
export const FORWARDED_METHODS = [
  'requestConsent',
  'confirmConsent',
  'giveConsent',
  'refuseConsent',
  'withdrawConsent',
  'withdrawUnlessErased',
  'linkUserId',
  'numberChanged',
  'checkConsent',
  'hasConsent',
  'getConsent',
  'flushUsage',
  'recordNoticeShown',
  'hasSeenNotice',
  'sentBeforeNumberChange',
  'recordInbound',
  'lastInboundAt',
  'recordBlocked',
  'eraseSubject',
  'isSuppressed',
  'knowsSubject',
  'isErasedAndGone',
  'noticeNotDelivered',
  'noticeSent',
  'messagesFailed',
  'requestNotDelivered',
  'isRequestOpen',
  'requestSent',
  'requestsFailed',
  'exportSubject',
  'sweepRetention',
  'markSeen',
  'claim',
  'complete',
  'release',
  'claimAll',
  'completeAll',
  'releaseAll',
  'verifyAudit',
  'exportAuditPage',
  'integrityCheck',
  'readEvents',
  'acknowledgeEvents',
  'releaseEvents',
] as const satisfies readonly (keyof ConsentLedger)[];

export type ForwardedMethod = (typeof FORWARDED_METHODS)[number];

/** Methods without an answer (the caller does not wait): failures arrive as 'warning'. */
export const POSTED_METHODS = [
  'markUsed',
  'startRetentionTimer',
  'stopRetentionTimer',
] as const satisfies readonly (keyof ConsentLedger)[];

export type PostedMethod = (typeof POSTED_METHODS)[number];

export const CLOSE = 'close';

/** [id, method, args]; id 0 = no answer wanted. */
export type ThreadRequest = [id: number, method: string, args: unknown[]];

export const READY = -1;
export const EVENT = -2;
export const WARNING = -3;

export interface ReadyInfo {
  purposes: PurposeDefinition[];
  backendDescription: string;
  retention: RetentionSettings;
}

export type ThreadMessage =
  | [id: number, ok: true, result: unknown]
  | [id: number, ok: false, error: SerialisedError]
  | [typeof EVENT, unknown]
  | [typeof WARNING, SerialisedError];

export interface SerialisedError {
  name: string;
  message: string;
  code?: string;
  params?: Record<string, string | number>;
}

/** Errors cross threads as data: a structured clone would turn a GdprWhatsAppError into a plain Error. */
export function serialiseError(err: unknown): SerialisedError {
  if (err instanceof GdprWhatsAppError)
    return { name: err.name, message: err.message, code: err.code, params: err.params };
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(err) };
}

export function reviveError(error: SerialisedError): Error {
  if (error.name === 'GdprWhatsAppError' && error.code) {
    return new GdprWhatsAppError(error.code, error.message, error.params ?? {});
  }
  const revived = new Error(error.message);
  revived.name = error.name;
  return error.code === undefined ? revived : Object.assign(revived, { code: error.code });
}
