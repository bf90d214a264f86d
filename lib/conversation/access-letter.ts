import type { AccessInformation } from '../consent/access-information';
import type { ConsentRecord, EarlierNumberPart, LawfulBasis, SubjectExport } from '../consent/types';
import { LETTER_WORDS, type RecordState, type Words } from './access-letter-words';
import { type Language, textFor } from './language';

/**
 * An access export (Art. 15 GDPR) as a letter in plain words, in German or English: the essentials of the JSON
 * document for a person who cannot read JSON (Art. 12(1): "concise, transparent, intelligible ... clear and plain
 * language"). Message ids and other technical details stay in the JSON copy that goes with it. Codes the package does
 * not know (a newer version's) appear as they are rather than being left out.
 */

/** What the controller's privacy-notice node knows, for the letter's sender, contacts and rights. */
export interface LetterContext {
  controller?: { name?: string; address?: string; email?: string; phone?: string };
  dpo?: { name?: string; email?: string };
  authority?: { name?: string; url?: string };
  /** The keyword that withdraws in the chat, as the policy page names it. */
  stopKeyword?: string;
}

/** A code in words, or the code itself when this version does not know it. */
const wordFor = (table: Record<string, string>, code: string) => table[code] ?? code;

/** A record as an export holds it (an earlier number's without the pseudonym). */
type StoredRecord = Omit<ConsentRecord, 'pseudonym'>;

/** Who reads what: the letter's words, the Art. 15 information, the language. */
interface Reading {
  w: Words;
  info: AccessInformation;
  language: Language;
}

function purposeName({ info, language }: Reading, id: string): string {
  const purpose = info.purposes.find((p) => p.id === id);
  if (!purpose) return id;
  return textFor(purpose.labels ?? {}, language) ?? purpose.label;
}

/**
 * Whether a purpose rests on consent: a record says so itself; an audit event goes by the store's settings, and a
 * purpose the store no longer has is taken as resting on consent (its events then read as consents, as most are).
 */
function restsOnConsent({ info }: Reading, purpose: string, recordBasis?: LawfulBasis): boolean {
  const basis = recordBasis ?? info.purposes.find((p) => p.id === purpose)?.lawfulBasis;
  return basis === undefined || basis === 'consent';
}

function stateOf(record: StoredRecord): RecordState {
  if (record.status === 'expired' && record.replacedByRequestId) return 'replaced';
  if (record.status !== 'withdrawn') return record.status;
  if (record.withdrawalChannel === 'whatsapp-number-change' && record.method !== 'objection') {
    return 'ended-by-number-change';
  }
  if (record.method === 'objection' || record.lawfulBasis !== 'consent') return 'objected';
  // A request she answered with STOP before confirming: nothing was given, so nothing is withdrawn.
  return record.decidedAt === undefined ? 'request-ended' : 'withdrawn';
}

/** One record: its state, the wording, and how and when it came about and ended. */
function recordLines(record: StoredRecord, reading: Reading): string[] {
  const { w } = reading;
  const state = stateOf(record);
  const consent = restsOnConsent(reading, record.purpose, record.lawfulBasis);
  const states = consent ? w.consentState : w.otherState;
  const lines = [`- ${purposeName(reading, record.purpose)}: ${states[state]} (${w.date(record.updatedAt)})`];
  const detail = (label: string, text: string) => lines.push(`  ${label}: ${text}`);
  const carried = record.method === 'objection' && record.withdrawalChannel === 'whatsapp-number-change';
  if (record.method !== 'objection') {
    if (record.wording) detail(w.wording, w.quote(record.wording));
    detail(w.how, wordFor(w.method, record.method));
    if (record.source) detail(w.origin, record.source === 'whatsapp' ? 'WhatsApp' : record.source);
    if (record.requestedAt !== undefined) {
      if (record.requestSentAt !== undefined) detail(w.requestSent, w.date(record.requestSentAt));
      else detail(w.requestCreated, w.date(record.requestedAt));
    }
    if (record.status === 'pending' && record.expiresAt !== undefined) detail(w.validUntil, w.date(record.expiresAt));
    if (record.noticeVersion) detail(w.noticeWithIt, record.noticeVersion);
  }
  // A withdrawn consent was given once: when and how stays part of its proof.
  const wasGiven = record.method !== 'objection' && ['given', 'withdrawn', 'objected'].includes(state);
  if (wasGiven && record.decidedAt !== undefined) {
    const how = record.confirmationVia ? ` ${wordFor(w.via, record.confirmationVia)}` : '';
    detail(w.confirmed, `${w.date(record.decidedAt)}${how}`);
  }
  if (record.confirmationText) detail(w.yourMessage, w.quote(record.confirmationText));
  if (record.withdrawnAt !== undefined) {
    if (carried) {
      detail(w.objectedAt, `${w.carried} (${w.date(record.withdrawnAt)})`);
    } else {
      const label = state === 'objected' ? w.objectedAt : state === 'withdrawn' ? w.withdrawnAt : w.endedAt;
      const how = record.withdrawalChannel ? ` ${wordFor(w.channel, record.withdrawalChannel)}` : '';
      detail(label, `${w.date(record.withdrawnAt)}${how}`);
      const said = record.withdrawalText ?? record.withdrawalKeyword;
      if (said) detail(w.yourMessage, w.quote(said));
    }
  }
  return lines;
}

function section(heading: string, lines: string[]): string {
  return [heading, '-'.repeat(heading.length), ...lines].join('\n');
}

/** Her contact data; never `numberChangedAt`: it is the date a previous holder left, no fact about her. */
function subjectLines(document: SubjectExport, w: Words): string[] {
  const s = document.subject;
  if (!s) return [`- ${w.noContactData}`];
  const lines: string[] = [];
  if (s.phone) lines.push(`- ${w.phone}: ${s.phone}`);
  if (s.waId) lines.push(`- ${w.waId}: ${s.waId}`);
  if (s.userId) lines.push(`- ${w.userId}: ${s.userId}`);
  if (s.name) lines.push(`- ${w.name}: ${s.name}`);
  lines.push(`- ${w.firstSeen}: ${w.date(s.firstSeenAt)}`);
  if (s.lastInboundAt !== undefined) lines.push(`- ${w.lastInbound}: ${w.date(s.lastInboundAt)}`);
  if (s.previousInboundAt !== undefined) lines.push(`- ${w.previousInbound}: ${w.date(s.previousInboundAt)}`);
  return lines;
}

function auditLines(events: SubjectExport['auditEvents'], reading: Reading): string[] {
  const { w } = reading;
  return events.map((e) => {
    let action = e.action;
    if (e.purpose && !restsOnConsent(reading, e.purpose)) {
      if (action === 'consent.given' || action === 'consent.confirmed') action = 'signed-up';
      if (action === 'consent.withdrawn') action = 'objected';
    }
    const purpose = e.purpose ? ` (${purposeName(reading, e.purpose)})` : '';
    return `- ${w.date(e.at)}: ${wordFor(w.action, action)}${purpose}`;
  });
}

/** One number's part of an export: an earlier number's lacks the pseudonyms, which the letter never shows. */
type NumberPart = Pick<EarlierNumberPart, 'consents' | 'history' | 'notices' | 'auditEvents'>;

/**
 * The records, notices and log of one number: her present one, or one she held before (`which` names it in each
 * heading: "– your previous number, until …").
 */
function numberParts(part: NumberPart, reading: Reading, which = ''): string[] {
  const { w } = reading;
  const heading = (title: string) => (which ? `${title} – ${which}` : title);
  const parts: string[] = [];
  const records = (list: StoredRecord[]) => list.flatMap((c) => recordLines(c, reading));
  if (part.consents.length > 0) parts.push(section(heading(w.records), records(part.consents)));
  if (part.history.length > 0) parts.push(section(heading(w.history), records(part.history)));
  if (part.notices.length > 0) {
    const shown = part.notices.map((n) => `- ${w.notice(n.noticeVersion, w.date(n.shownAt))}`);
    parts.push(section(heading(w.notices), shown));
  }
  if (part.auditEvents.length > 0) parts.push(section(heading(w.audit), auditLines(part.auditEvents, reading)));
  return parts;
}

/** Whether a number's part holds anything at all. */
const holdsAnything = (part: NumberPart) =>
  part.consents.length + part.history.length + part.notices.length + part.auditEvents.length > 0;

function informationSections(reading: Reading, context: LetterContext): string[] {
  const { w, info, language } = reading;
  const purposes = info.purposes.flatMap((p) => {
    const name = textFor(p.labels ?? {}, language) ?? p.label;
    const lines = [`- ${name}${p.marketing ? ` (${w.advertising})` : ''}: ${wordFor(w.basis, p.lawfulBasis)}`];
    const interest = p.interest ? textFor(p.interest, language) : undefined;
    if (interest) lines.push(`  ${w.interest}: ${interest}`);
    return lines;
  });
  const recipients = info.recipients.flatMap((r) => {
    const lines = [`- ${r.name} (${w.processor}): ${wordFor(w.service, r.service)}`];
    if (r.thirdCountryTransfers.length > 0) {
      lines.push(`  ${w.transfers}: ${r.thirdCountryTransfers.map((t) => wordFor(w.transfer, t)).join('; ')}`);
    }
    return lines;
  });
  const stop = context.stopKeyword?.trim();
  const rights = info.rights.map((r) => {
    const how = r.right === 'withdraw-consent' && stop ? w.withdrawBy(stop) : '';
    return `- ${wordFor(w.right, r.right)}${how} (${w.article(r.article)})`;
  });
  const authority = context.authority?.name?.trim();
  if (authority) {
    const url = context.authority?.url?.trim();
    rights.push(`  ${w.authority(authority)}${url ? `, ${url}` : ''}`);
  }
  const dpo = [context.dpo?.name, context.dpo?.email].map((t) => t?.trim()).filter(Boolean);
  if (dpo.length > 0) rights.push(`- ${w.dpo}: ${dpo.join(', ')}`);
  return [
    section(w.purposes, [...purposes, ...w.alsoProcessed.map((line) => `- ${line}`)]),
    section(
      w.categories,
      info.categories.map((c) => `- ${wordFor(w.category, c)}`),
    ),
    section(w.recipients, recipients),
    section(
      w.retention,
      w.retentionLines(info.retention).map((line) => `- ${line}`),
    ),
    section(
      w.sources,
      info.sources.map((s) => `- ${wordFor(w.source, s)}`),
    ),
    section(w.rights, rights),
    section(w.automated, [info.automatedDecisions === 'none' ? w.noAutomated : info.automatedDecisions]),
  ];
}

function header(document: SubjectExport, w: Words, context: LetterContext): string {
  const c = context.controller;
  const sender = [c?.name, c?.address, c?.email, c?.phone].map((t) => t?.trim()).filter(Boolean);
  return [
    w.title,
    ...(sender.length > 0 ? [`${w.from}: ${sender.join(', ')}`] : []),
    `${w.asOf}: ${w.date(document.exportedAt)}. ${w.times}`,
  ].join('\n');
}

/**
 * The letter: what is stored about her first (her present number, then each she held before), then what Art. 15(1)
 * and (2) ask besides. Plain text, a blank line between parts.
 */
export function accessLetter(document: SubjectExport, language: Language, context: LetterContext = {}): string {
  const reading: Reading = { w: LETTER_WORDS[language], info: document.information, language };
  const { w } = reading;
  const parts = [header(document, w, context)];
  const kept = (document.keptObjections ?? []).map((o) => `- ${purposeName(reading, o.purpose)}: ${w.keptObjection}`);
  const earlier = document.earlierNumbers ?? [];
  const records = document.consents.length + document.history.length + document.notices.length;
  if (document.erased) parts.push(w.erased(w.date(document.erased.at)) + (document.found ? ` ${w.backSince}` : ''));
  else if (!document.found && records + kept.length + earlier.length === 0) parts.push(w.notFound);
  if (document.found || document.subject) parts.push(section(w.data, subjectLines(document, w)));
  if (kept.length > 0) parts.push(section(w.keptObjections, kept));
  parts.push(...numberParts(document, reading));
  for (const part of earlier) {
    const which = w.earlierNumber(w.date(part.movedAwayAt));
    if (part.erased) parts.push(`${which}: ${w.erasedThere(w.date(part.erased.at))}`);
    else if (!holdsAnything(part)) parts.push(`${which}: ${w.none}`);
    parts.push(...numberParts(part, reading, which));
  }
  parts.push(...informationSections(reading, context), w.copy);
  return `${parts.join('\n\n')}\n`;
}

/** The file name of a letter, beside the JSON export's (exportFileName) with .txt. */
export function letterFileName(jsonFileName: string): string {
  return jsonFileName.replace(/\.json$/, '.txt');
}
