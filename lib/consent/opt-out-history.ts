/**
 * Reading a person's opt-outs from the audit log: which purposes an opt-out covered and when she sent it, and what
 * that means for a request someone else types in for her number (requestPausedAfterOptOut).
 */
import type { AuditRecord } from './audit-verify';
import type { PurposeDefinition } from './purposes';

/** The audit actions an opt-out is recorded with (isOptOutOf). */
export const OPT_OUT_ACTIONS = ['consent.withdrawn', 'consent.refused'];

/** Whether the audit entry is an opt-out of the person that covered `def`. */
export function isOptOutOf(entry: AuditRecord, def: PurposeDefinition): boolean {
  if (entry.action === 'consent.withdrawn' && !isOwnWithdrawal(entry)) return false;
  return isObjectionTo(entry, def);
}

/** The audit actions objectedBefore reads. */
export const OBJECTION_ACTIONS = [...OPT_OUT_ACTIONS, 'consent.given', 'consent.confirmed'];

/**
 * Whether her last word on `def` was no: an opt-out covering it (hers, a refusal, staff's, one carried here from her
 * user id or her previous number), with no consent to it given since. An erasure deletes an objection's record, and
 * a person on the erasure list who opts out gets no record at all (markErasedOptOut): the objection is to keep
 * applying when she writes again.
 */
export function objectedBefore(entries: readonly AuditRecord[], def: PurposeDefinition): boolean {
  let objected = false;
  for (const entry of [...entries].sort((a, b) => a.at - b.at || a.seq - b.seq)) {
    if (isObjectionTo(entry, def)) objected = true;
    else if (entry.action !== 'consent.refused' && entry.action !== 'consent.withdrawn' && entry.purpose === def.id)
      objected = false;
  }
  return objected;
}

/**
 * An opt-out covering `def`, wherever it came from: unlike isOptOutOf, also one carried over (to her number from her
 * user id, or to her new number by a move), which is hers as well. A move's endings of consents name consent
 * purposes only, which objectedBefore is not asked about.
 */
function isObjectionTo(entry: AuditRecord, def: PurposeDefinition): boolean {
  if (entry.action === 'consent.refused') return entry.purpose === def.id;
  if (entry.action !== 'consent.withdrawn') return false;
  const scope = entry.detail?.scope;
  if (Array.isArray(scope)) return scope.includes(def.id);
  // Written before opt-outs named their scope: Meta's covered the marketing purposes, a STOP all of them.
  if (entry.purpose !== null) return entry.purpose === def.id;
  return entry.detail?.channel !== 'meta-marketing-optout' || def.marketing;
}

/** A withdrawal the person sent, not one carried over from elsewhere or ended by her number passing on. */
function isOwnWithdrawal(entry: AuditRecord): boolean {
  return (
    entry.action === 'consent.withdrawn' &&
    entry.detail?.carried !== true &&
    entry.detail?.channel !== 'whatsapp-number-change'
  );
}

/** When she sent it (Meta's time, where known), else when it was recorded. */
export function optOutTime(entry: AuditRecord): number {
  const sentAt = entry.detail?.sentAt;
  return typeof sentAt === 'number' ? sentAt : entry.at;
}

/**
 * After a person said STOP, refused a request or had her data erased, a number typed into a form (or by staff) is
 * asked once more (twice if she let the first expire) at most for this long: she may be signing up again herself,
 * but anyone can type her number, and she has just told us no.
 */
export const OPTED_OUT_REQUEST_PAUSE_MS = 30 * 24 * 3_600_000;

/** Requests for a number someone else typed in (a web form, staff), not one the person sent. */
export const TYPED_IN_METHODS: ReadonlySet<string> = new Set(['web-form', 'agent']);

/** The audit action of a move to another number (numberChanged); it also marks the number's records as ended. */
export const NUMBER_CHANGED = 'subject.number-changed';
/** The audit action of a confirmation request whatsapp-send could not send (requestNotDelivered). */
export const REQUEST_UNDELIVERED = 'consent.request_undelivered';
/** The audit action of a confirmation request Meta accepted for sending (requestSent). */
export const REQUEST_SENT = 'consent.request_sent';

/** The audit actions requestPausedAfterOptOut reads. */
export const REQUEST_PAUSE_ACTIONS = [
  ...OPT_OUT_ACTIONS,
  'consent.requested',
  REQUEST_UNDELIVERED,
  'consent.confirmed',
  'consent.given',
  'dsr.erasure_executed',
  NUMBER_CHANGED,
];

/**
 * Whether a request typed in for this number must wait: she said no (her STOP, a refusal, Meta's marketing opt-out,
 * an erasure request) within the pause, and since an earlier no of hers a typed-in request is still open or got a no
 * again, or two went unanswered. One request after her no goes (she may be signing up again), and a second when she
 * let the first expire (her own second try). A stranger gets no more through in the pause, for no purpose, however
 * she answers.
 *
 * `entriesByKey`: the audit entries of REQUEST_PAUSE_ACTIONS of each key of the number. What a key held before its
 * number was last handed on is its previous holder's and does not count; nor do opt-outs carried over from her own
 * previous number, whose time is not known there.
 */
export function requestPausedAfterOptOut(
  entriesByKey: readonly (readonly AuditRecord[])[],
  now: number,
  pendingExpiryMs: number,
): boolean {
  const entries = entriesByKey.flatMap(sinceHandedOn);
  const since = now - OPTED_OUT_REQUEST_PAUSE_MS;
  const noes = [
    ...entries.filter(isErasure).map((e) => e.at),
    ...entries.filter((e) => e.action === 'consent.refused' || isOwnWithdrawal(e)).map(optOutTime),
  ];
  if (!noes.some((no) => no > since)) return false;
  const afterANo = sentTypedInRequests(entries, pendingExpiryMs).filter(
    ({ at }) => at > since && noes.some((no) => no < at && no >= at - OPTED_OUT_REQUEST_PAUSE_MS),
  );
  const openOrRefused = afterANo.some(({ at, expiresAt }) => expiresAt > now || noes.some((no) => no > at));
  return openOrRefused || afterANo.length >= 2;
}

/**
 * At most this many requests typed in for a number for one purpose go out within UNANSWERED_REQUESTS_MS without a
 * yes: anyone can type a number into a form, every few minutes (REQUEST_RESEND_MS) and every day
 * (MAX_REQUESTS_PER_DAY), and a request is a message she may never have asked for (OLG München, 29 U 1682/12, held a
 * double opt-in confirmation mail to someone who had not signed up to be unsolicited advertising). She can still
 * confirm the last one while it is open, or sign up herself.
 */
export const MAX_UNANSWERED_REQUESTS = 3;
export const UNANSWERED_REQUESTS_MS = 30 * 24 * 3_600_000;

/**
 * Whether MAX_UNANSWERED_REQUESTS requests typed in for `purpose` went out within UNANSWERED_REQUESTS_MS and none got
 * a yes (one she confirmed, or that a consent she gave made needless, does not count, nor one whatsapp-send could not
 * send). `entriesByKey` as for requestPausedAfterOptOut: a previous holder's requests do not count.
 */
export function tooManyUnansweredRequests(
  entriesByKey: readonly (readonly AuditRecord[])[],
  purpose: string,
  now: number,
  pendingExpiryMs: number,
): boolean {
  const since = now - UNANSWERED_REQUESTS_MS;
  const unanswered = sentTypedInRequests(entriesByKey.flatMap(sinceHandedOn), pendingExpiryMs).filter(
    (request) => request.purpose === purpose && request.at > since,
  );
  return unanswered.length >= MAX_UNANSWERED_REQUESTS;
}

/** A key's entries after its number was last handed on to someone else. */
function sinceHandedOn(entries: readonly AuditRecord[]): AuditRecord[] {
  const handedOn = entries.reduce((last, e) => (e.action === NUMBER_CHANGED && e.seq > last ? e.seq : last), 0);
  return entries.filter((e) => e.seq > handedOn);
}

/** Her erasure request, also one that found nothing to erase; not a previous holder's part erased at staff's word. */
function isErasure(entry: AuditRecord): boolean {
  return entry.action === 'dsr.erasure_executed' && entry.detail?.part === undefined;
}

/**
 * The typed-in requests that went out and got no yes, when they were made and when they expire: one whatsapp-send
 * could not send is taken back, and so is one she confirmed, or that a consent she gave made needless.
 */
function sentTypedInRequests(
  entries: readonly AuditRecord[],
  pendingExpiryMs: number,
): { purpose: string; at: number; expiresAt: number }[] {
  const made = new Map<string, { purpose: string; at: number; expiresAt: number; typedIn: boolean }[]>();
  for (const entry of [...entries].sort((a, b) => a.seq - b.seq)) {
    const purpose = entry.purpose ?? '';
    const requests = made.get(purpose) ?? [];
    if (entry.action === 'consent.requested') {
      const expiresAt = entry.detail?.expiresAt;
      requests.push({
        purpose,
        at: entry.at,
        expiresAt: typeof expiresAt === 'number' ? expiresAt : entry.at + pendingExpiryMs,
        typedIn: TYPED_IN_METHODS.has(String(entry.detail?.method)),
      });
    } else if (entry.action === REQUEST_UNDELIVERED || entry.action === 'consent.confirmed') {
      requests.pop();
    } else if (entry.action === 'consent.given') {
      requests.length = 0;
    }
    made.set(purpose, requests);
  }
  return [...made.values()].flat().filter((r) => r.typedIn);
}
