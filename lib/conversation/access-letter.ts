import type { AccessInformation } from '../consent/access-information';
import type { ConsentRecord, SubjectExport } from '../consent/types';
import { type Language, textFor } from './language';

/**
 * An access export (Art. 15 GDPR) as a letter in plain words, in German or English: what the JSON document holds,
 * for a person who cannot read JSON (Art. 12(1): "concise, transparent, intelligible ... clear and plain language").
 * Codes the package does not know (a newer version's) appear as they are rather than being left out.
 */

type Words = typeof EN;

const EN = {
  title: 'Your data with us: access under Art. 15 GDPR',
  asOf: 'As of',
  notFound: 'We store no data about you under this number or WhatsApp account.',
  erased: (at: string) =>
    `Your data was deleted on ${at} at your request. What remains is a pseudonymous block entry without your number, so that we do not contact you again unless you write to us or sign up yourself, and the pseudonymous proof of consents for the time given below.`,
  data: 'What we store about you',
  phone: 'Phone number',
  waId: 'WhatsApp ID',
  userId: 'WhatsApp user ID',
  name: 'Name in your WhatsApp profile',
  firstSeen: 'First contact',
  lastInbound: 'Your last message (for WhatsApp’s 24-hour window)',
  previousInbound: 'Your message before that (to tell whether a reply answers our request)',
  numberChanged: (at: string) => `The number passed to another person on ${at}; the records up to then are not yours.`,
  consents: 'Your consents and objections',
  none: 'none',
  status: {
    given: 'given',
    pending: 'requested, not confirmed',
    refused: 'refused',
    expired: 'request expired unanswered',
    withdrawn: 'withdrawn',
    objected: 'objected to',
  } as Record<string, string>,
  wording: 'Wording',
  requested: 'Request sent',
  confirmed: 'Confirmed',
  via: {
    button: 'by tapping the button',
    keyword: 'by replying',
    link: 'by the confirmation link',
  } as Record<string, string>,
  method: {
    'web-form': 'signed up on our web form',
    keyword: 'signed up by a keyword in WhatsApp',
    button: 'signed up by a button in WhatsApp',
    agent: 'recorded by our staff',
    objection: 'your objection',
  } as Record<string, string>,
  yourMessage: 'Your message',
  withdrawn: 'Withdrawn',
  objected: 'Objected',
  channel: {
    'whatsapp-keyword': 'by a keyword in WhatsApp',
    'whatsapp-button': 'by a button in WhatsApp',
    'whatsapp-text': 'in your own words in WhatsApp',
    'meta-marketing-optout': 'by stopping marketing messages in WhatsApp',
    'whatsapp-number-change': 'because you moved to another number',
    admin: 'by our staff',
    api: 'through our systems',
  } as Record<string, string>,
  keptObjection: 'objected to (kept after your erasure, so that it still applies)',
  history: 'Earlier entries (replaced or ended)',
  notices: 'Privacy notices we showed you',
  notice: (version: string, at: string) => `version ${version}, shown on ${at}`,
  earlier: 'Numbers you held before',
  movedAway: (at: string) => `until ${at}`,
  audit: 'Log of what happened (audit log, pseudonymous)',
  purposes: 'Purposes and legal bases',
  basis: {
    consent: 'your consent (Art. 6(1)(a) GDPR)',
    contract: 'performance of a contract with you (Art. 6(1)(b) GDPR)',
    'legitimate-interest': 'our legitimate interest (Art. 6(1)(f) GDPR)',
  } as Record<string, string>,
  advertising: 'advertising',
  interest: 'Our interest',
  categories: 'Categories of data',
  category: {
    'phone-number': 'phone number',
    'whatsapp-ids': 'WhatsApp IDs',
    'profile-name': 'profile name',
    'consent-records': 'consents with wording and times',
    'notices-shown': 'privacy notices shown',
    'audit-events': 'log entries',
  } as Record<string, string>,
  recipients: 'Recipients',
  processor: 'processor',
  /** The services and transfers accessInformation names, by their English text. */
  service: {} as Record<string, string>,
  transfers: 'Transfers outside the EU',
  transfer: {} as Record<string, string>,
  retention: 'How long we keep it',
  retentionLines: (r: AccessInformation['retention']) => [
    `an unanswered request for consent: ${r.pendingRequestHours} hours`,
    `your number and other personal data: ${r.personalDataAfterEndDays} days after the last consent or request has ended`,
    `a consent or request for a purpose we no longer pursue ends ${r.consentAfterPurposeRemovedDays} days after we stopped it`,
    `proof of consents (pseudonymous): ${r.proofYears} years; while a consent or objection stands, its proof is kept and the years count from its end`,
    'without a time limit: the pseudonymous block entry after an erasure, and an objection to a purpose that needs no consent',
  ],
  sources: 'Where the data comes from',
  source: {
    'data-subject-whatsapp-messages': 'your WhatsApp messages to us',
    'data-subject-web-form': 'our web form, if you used it',
    'meta-webhook-notifications': 'notifications from WhatsApp (Meta) about our messages to you',
  } as Record<string, string>,
  rights: 'Your rights',
  right: {
    access: 'access',
    rectification: 'rectification',
    erasure: 'erasure',
    restriction: 'restriction of processing',
    portability: 'data portability',
    objection: 'objection',
    'withdraw-consent': 'withdrawal of consent at any time, e.g. by replying STOP',
    'complaint-to-supervisory-authority': 'complaint to a data protection supervisory authority',
  } as Record<string, string>,
  automated: 'Automated decisions',
  noAutomated: 'We make no automated decisions about you (Art. 22 GDPR).',
  copy: 'A copy of this data in a machine-readable form (JSON) is enclosed or available on request (Art. 15(3), 20 GDPR).',
  action: {
    'consent.requested': 'request for consent recorded',
    'consent.request_sent': 'request for consent sent',
    'consent.request_undelivered': 'request for consent not delivered',
    'consent.confirmed': 'consent confirmed',
    'consent.given': 'consent given',
    'consent.refused': 'consent refused',
    'consent.withdrawn': 'consent withdrawn',
    'consent.objected': 'objection recorded',
    'consent.expired': 'request expired',
    'consent.proof-restated': 'proof carried forward',
    'consent.purpose_removed': 'ended: purpose no longer pursued',
    'notice.shown': 'privacy notice shown',
    'notice.undelivered': 'privacy notice not delivered',
    'send.blocked': 'message not sent (no consent)',
    'dsr.access_fulfilled': 'access request answered',
    'dsr.erasure_executed': 'erasure carried out',
    'subject.erased': 'data erased',
    'subject.number-changed': 'moved to another number',
    'subject.previous-holder-erased': 'previous holder of the number erased',
    'subject.user-id-changed': 'WhatsApp user ID changed',
    'subject.user-id-replaced': 'WhatsApp user ID replaced',
    'subject.opt-outs-carried': 'objections carried to the new number',
  } as Record<string, string>,
  date: (at: number) => `${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  article: (article: string) => article,
};

const DE: Words = {
  title: 'Ihre Daten bei uns: Auskunft nach Art. 15 DSGVO',
  asOf: 'Stand',
  notFound: 'Zu dieser Nummer oder diesem WhatsApp-Konto speichern wir keine Daten über Sie.',
  erased: (at) =>
    `Ihre Daten wurden am ${at} auf Ihren Wunsch gelöscht. Geblieben ist ein pseudonymer Sperreintrag ohne Ihre Nummer, damit wir Sie nicht erneut kontaktieren, es sei denn, Sie schreiben uns oder melden sich selbst an, sowie die pseudonymen Einwilligungsnachweise für die unten genannte Dauer.`,
  data: 'Was wir über Sie speichern',
  phone: 'Telefonnummer',
  waId: 'WhatsApp-ID',
  userId: 'WhatsApp-Nutzer-ID',
  name: 'Name in Ihrem WhatsApp-Profil',
  firstSeen: 'Erster Kontakt',
  lastInbound: 'Ihre letzte Nachricht (für das 24-Stunden-Fenster von WhatsApp)',
  previousInbound: 'Ihre Nachricht davor (um zu erkennen, ob eine Antwort unsere Anfrage meint)',
  numberChanged: (at) =>
    `Die Nummer ist am ${at} an eine andere Person gegangen; die Einträge bis dahin betreffen nicht Sie.`,
  consents: 'Ihre Einwilligungen und Widersprüche',
  none: 'keine',
  status: {
    given: 'erteilt',
    pending: 'angefragt, nicht bestätigt',
    refused: 'abgelehnt',
    expired: 'Anfrage unbeantwortet abgelaufen',
    withdrawn: 'widerrufen',
    objected: 'Widerspruch eingelegt',
  },
  wording: 'Text',
  requested: 'Anfrage gesendet',
  confirmed: 'Bestätigt',
  via: {
    button: 'durch Tippen auf die Schaltfläche',
    keyword: 'durch Ihre Antwort',
    link: 'über den Bestätigungslink',
  },
  method: {
    'web-form': 'angemeldet über unser Webformular',
    keyword: 'angemeldet mit einem Stichwort in WhatsApp',
    button: 'angemeldet über eine Schaltfläche in WhatsApp',
    agent: 'von unseren Mitarbeitenden erfasst',
    objection: 'Ihr Widerspruch',
  },
  yourMessage: 'Ihre Nachricht',
  withdrawn: 'Widerrufen',
  objected: 'Widersprochen',
  channel: {
    'whatsapp-keyword': 'mit einem Stichwort in WhatsApp',
    'whatsapp-button': 'über eine Schaltfläche in WhatsApp',
    'whatsapp-text': 'mit eigenen Worten in WhatsApp',
    'meta-marketing-optout': 'durch Abbestellen von Marketingnachrichten in WhatsApp',
    'whatsapp-number-change': 'weil Sie zu einer anderen Nummer gewechselt sind',
    admin: 'durch unsere Mitarbeitenden',
    api: 'über unsere Systeme',
  },
  keptObjection: 'Widerspruch eingelegt (nach Ihrer Löschung behalten, damit er weiter gilt)',
  history: 'Frühere Einträge (ersetzt oder beendet)',
  notices: 'Datenschutzhinweise, die wir Ihnen gezeigt haben',
  notice: (version, at) => `Version ${version}, gezeigt am ${at}`,
  earlier: 'Nummern, die Sie vorher hatten',
  movedAway: (at) => `bis ${at}`,
  audit: 'Protokoll der Vorgänge (Audit-Log, pseudonym)',
  purposes: 'Zwecke und Rechtsgrundlagen',
  basis: {
    consent: 'Ihre Einwilligung (Art. 6 Abs. 1 lit. a DSGVO)',
    contract: 'Erfüllung eines Vertrags mit Ihnen (Art. 6 Abs. 1 lit. b DSGVO)',
    'legitimate-interest': 'unser berechtigtes Interesse (Art. 6 Abs. 1 lit. f DSGVO)',
  },
  advertising: 'Werbung',
  interest: 'Unser Interesse',
  categories: 'Kategorien von Daten',
  category: {
    'phone-number': 'Telefonnummer',
    'whatsapp-ids': 'WhatsApp-IDs',
    'profile-name': 'Profilname',
    'consent-records': 'Einwilligungen mit Text und Zeiten',
    'notices-shown': 'gezeigte Datenschutzhinweise',
    'audit-events': 'Protokolleinträge',
  },
  recipients: 'Empfänger',
  processor: 'Auftragsverarbeiter',
  service: {
    'WhatsApp Business Platform (Cloud API)': 'WhatsApp Business Platform (Cloud API)',
    'operates this WhatsApp integration for the controller': 'betreibt diese WhatsApp-Anbindung für uns',
  },
  transfers: 'Übermittlungen außerhalb der EU',
  transfer: {
    'US: EU-U.S. Data Privacy Framework (Art. 45 GDPR)': 'USA: EU-US Data Privacy Framework (Art. 45 DSGVO)',
    'other countries: standard contractual clauses (Art. 46(2)(c) GDPR)':
      'andere Länder: Standardvertragsklauseln (Art. 46 Abs. 2 lit. c DSGVO)',
  },
  retention: 'Wie lange wir speichern',
  retentionLines: (r) => [
    `eine unbeantwortete Anfrage nach Ihrer Einwilligung: ${r.pendingRequestHours} Stunden`,
    `Ihre Nummer und andere personenbezogene Daten: ${r.personalDataAfterEndDays} Tage nach dem Ende der letzten Einwilligung oder Anfrage`,
    `eine Einwilligung oder Anfrage für einen Zweck, den wir nicht mehr verfolgen, endet ${r.consentAfterPurposeRemovedDays} Tage danach`,
    `Einwilligungsnachweise (pseudonym): ${r.proofYears} Jahre; solange eine Einwilligung oder ein Widerspruch gilt, bleibt der Nachweis, und die Jahre zählen ab ihrem Ende`,
    'ohne zeitliche Begrenzung: der pseudonyme Sperreintrag nach einer Löschung und ein Widerspruch gegen einen Zweck, der keine Einwilligung braucht',
  ],
  sources: 'Woher die Daten stammen',
  source: {
    'data-subject-whatsapp-messages': 'Ihre WhatsApp-Nachrichten an uns',
    'data-subject-web-form': 'unser Webformular, wenn Sie es genutzt haben',
    'meta-webhook-notifications': 'Benachrichtigungen von WhatsApp (Meta) zu unseren Nachrichten an Sie',
  },
  rights: 'Ihre Rechte',
  right: {
    access: 'Auskunft',
    rectification: 'Berichtigung',
    erasure: 'Löschung',
    restriction: 'Einschränkung der Verarbeitung',
    portability: 'Datenübertragbarkeit',
    objection: 'Widerspruch',
    'withdraw-consent': 'Widerruf einer Einwilligung jederzeit, z. B. mit der Antwort STOP',
    'complaint-to-supervisory-authority': 'Beschwerde bei einer Datenschutz-Aufsichtsbehörde',
  },
  automated: 'Automatisierte Entscheidungen',
  noAutomated: 'Wir treffen keine automatisierten Entscheidungen über Sie (Art. 22 DSGVO).',
  copy: 'Eine Kopie dieser Daten in maschinenlesbarer Form (JSON) liegt bei oder ist auf Wunsch erhältlich (Art. 15 Abs. 3, Art. 20 DSGVO).',
  action: {
    'consent.requested': 'Anfrage nach Einwilligung erfasst',
    'consent.request_sent': 'Anfrage nach Einwilligung gesendet',
    'consent.request_undelivered': 'Anfrage nach Einwilligung nicht zugestellt',
    'consent.confirmed': 'Einwilligung bestätigt',
    'consent.given': 'Einwilligung erteilt',
    'consent.refused': 'Einwilligung abgelehnt',
    'consent.withdrawn': 'Einwilligung widerrufen',
    'consent.objected': 'Widerspruch erfasst',
    'consent.expired': 'Anfrage abgelaufen',
    'consent.proof-restated': 'Nachweis fortgeschrieben',
    'consent.purpose_removed': 'beendet: Zweck wird nicht mehr verfolgt',
    'notice.shown': 'Datenschutzhinweis gezeigt',
    'notice.undelivered': 'Datenschutzhinweis nicht zugestellt',
    'send.blocked': 'Nachricht nicht gesendet (keine Einwilligung)',
    'dsr.access_fulfilled': 'Auskunft erteilt',
    'dsr.erasure_executed': 'Löschung ausgeführt',
    'subject.erased': 'Daten gelöscht',
    'subject.number-changed': 'zu einer anderen Nummer gewechselt',
    'subject.previous-holder-erased': 'frühere Inhaberin der Nummer gelöscht',
    'subject.user-id-changed': 'WhatsApp-Nutzer-ID geändert',
    'subject.user-id-replaced': 'WhatsApp-Nutzer-ID ersetzt',
    'subject.opt-outs-carried': 'Widersprüche zur neuen Nummer übernommen',
  },
  date: (at) =>
    `${new Date(at).toLocaleString('de-DE', { timeZone: 'Europe/Berlin', dateStyle: 'medium', timeStyle: 'short' })} Uhr`,
  article: germanArticle,
};

const WORDS: Record<Language, Words> = { en: EN, de: DE };

/** "Art. 7(3) GDPR" as German law cites it: "Art. 7 Abs. 3 DSGVO". */
function germanArticle(article: string): string {
  return article.replace(/\((\d+)\)/, ' Abs. $1').replace(/GDPR$/, 'DSGVO');
}

/** A code in words, or the code itself when this version does not know it. */
const wordFor = (table: Record<string, string>, code: string) => table[code] ?? code;

function purposeName(information: AccessInformation, id: string, language: Language): string {
  const purpose = information.purposes.find((p) => p.id === id);
  if (!purpose) return id;
  return textFor(purpose.labels ?? {}, language) ?? purpose.label;
}

/** One consent record: its state, the wording she agreed to, and how and when it came about and ended. */
function consentLines(
  record: Omit<ConsentRecord, 'pseudonym'>,
  w: Words,
  information: AccessInformation,
  language: Language,
): string[] {
  // A STOP to a purpose that needs no consent is an objection (Art. 21 GDPR), not a withdrawal.
  const objection = record.lawfulBasis !== 'consent';
  const state = record.status === 'withdrawn' && objection ? w.status.objected : wordFor(w.status, record.status);
  const lines = [`- ${purposeName(information, record.purpose, language)}: ${state} (${w.date(record.updatedAt)})`];
  if (record.method !== 'objection') {
    if (record.wording) lines.push(`  ${w.wording}: „${record.wording}“`);
    if (record.requestedAt !== undefined) {
      lines.push(`  ${w.requested}: ${w.date(record.requestSentAt ?? record.requestedAt)}`);
    } else {
      lines.push(`  ${wordFor(w.method, record.method)}`);
    }
  }
  // A withdrawn consent was given once: when and how stays part of its proof.
  const wasGiven = record.status === 'given' || (record.status === 'withdrawn' && record.method !== 'objection');
  if (wasGiven && record.decidedAt !== undefined) {
    const how = record.confirmationVia ? ` ${wordFor(w.via, record.confirmationVia)}` : '';
    lines.push(`  ${w.confirmed}: ${w.date(record.decidedAt)}${how}`);
  }
  if (record.confirmationText) lines.push(`  ${w.yourMessage}: „${record.confirmationText}“`);
  if (record.withdrawnAt !== undefined) {
    const how = record.withdrawalChannel ? ` ${wordFor(w.channel, record.withdrawalChannel)}` : '';
    lines.push(`  ${objection ? w.objected : w.withdrawn}: ${w.date(record.withdrawnAt)}${how}`);
    const said = record.withdrawalText ?? record.withdrawalKeyword;
    if (said) lines.push(`  ${w.yourMessage}: „${said}“`);
  }
  return lines;
}

function section(heading: string, lines: string[]): string {
  return [heading, '-'.repeat(heading.length), ...lines].join('\n');
}

function subjectLines(document: SubjectExport, w: Words): string[] {
  const s = document.subject;
  if (!s) return [`- ${w.none}`];
  const lines: string[] = [];
  if (s.phone) lines.push(`- ${w.phone}: ${s.phone}`);
  if (s.waId) lines.push(`- ${w.waId}: ${s.waId}`);
  if (s.userId) lines.push(`- ${w.userId}: ${s.userId}`);
  if (s.name) lines.push(`- ${w.name}: ${s.name}`);
  lines.push(`- ${w.firstSeen}: ${w.date(s.firstSeenAt)}`);
  if (s.lastInboundAt !== undefined) lines.push(`- ${w.lastInbound}: ${w.date(s.lastInboundAt)}`);
  if (s.previousInboundAt !== undefined) lines.push(`- ${w.previousInbound}: ${w.date(s.previousInboundAt)}`);
  if (document.numberChangedAt !== undefined) lines.push(`- ${w.numberChanged(w.date(document.numberChangedAt))}`);
  return lines;
}

function informationSections(information: AccessInformation, w: Words, language: Language): string[] {
  const purposes = information.purposes.flatMap((p) => {
    const name = textFor(p.labels ?? {}, language) ?? p.label;
    const lines = [`- ${name}${p.marketing ? ` (${w.advertising})` : ''}: ${wordFor(w.basis, p.lawfulBasis)}`];
    const interest = p.interest ? textFor(p.interest, language) : undefined;
    if (interest) lines.push(`  ${w.interest}: ${interest}`);
    return lines;
  });
  const recipients = information.recipients.flatMap((r) => {
    const lines = [`- ${r.name} (${w.processor}): ${wordFor(w.service, r.service)}`];
    if (r.thirdCountryTransfers.length > 0) {
      lines.push(`  ${w.transfers}: ${r.thirdCountryTransfers.map((t) => wordFor(w.transfer, t)).join('; ')}`);
    }
    return lines;
  });
  return [
    section(w.purposes, purposes.length > 0 ? purposes : [`- ${w.none}`]),
    section(w.categories, [information.categories.map((c) => wordFor(w.category, c)).join(', ')]),
    section(w.recipients, recipients),
    section(
      w.retention,
      w.retentionLines(information.retention).map((line) => `- ${line}`),
    ),
    section(
      w.sources,
      information.sources.map((s) => `- ${wordFor(w.source, s)}`),
    ),
    section(
      w.rights,
      information.rights.map((r) => `- ${wordFor(w.right, r.right)} (${w.article(r.article)})`),
    ),
    section(w.automated, [information.automatedDecisions === 'none' ? w.noAutomated : information.automatedDecisions]),
  ];
}

/** The letter: the person's data first, then what Art. 15(1) and (2) ask besides. Plain text, one blank line between parts. */
export function accessLetter(document: SubjectExport, language: Language): string {
  const w = WORDS[language];
  const info = document.information;
  const parts = [`${w.title}\n${w.asOf}: ${w.date(document.exportedAt)}`];
  if (document.erased) parts.push(w.erased(w.date(document.erased.at)));
  if (!document.found && !document.erased) parts.push(w.notFound);
  if (document.found) {
    parts.push(section(w.data, subjectLines(document, w)));
    const consents = document.consents.flatMap((c) => consentLines(c, w, info, language));
    const kept = (document.keptObjections ?? []).map(
      (o) => `- ${purposeName(info, o.purpose, language)}: ${w.keptObjection}`,
    );
    const all = [...consents, ...kept];
    parts.push(section(w.consents, all.length > 0 ? all : [`- ${w.none}`]));
    if (document.history.length > 0) {
      parts.push(
        section(
          w.history,
          document.history.flatMap((c) => consentLines(c, w, info, language)),
        ),
      );
    }
    if (document.notices.length > 0) {
      parts.push(
        section(
          w.notices,
          document.notices.map((n) => `- ${w.notice(n.noticeVersion, w.date(n.shownAt))}`),
        ),
      );
    }
    for (const earlier of document.earlierNumbers ?? []) {
      const lines = [
        ...earlier.consents.flatMap((c) => consentLines(c, w, info, language)),
        ...earlier.notices.map((n) => `- ${w.notice(n.noticeVersion, w.date(n.shownAt))}`),
      ];
      parts.push(
        section(
          `${w.earlier} (${w.movedAway(w.date(earlier.movedAwayAt))})`,
          lines.length > 0 ? lines : [`- ${w.none}`],
        ),
      );
    }
  }
  // After an erasure too: what was done, with pseudonyms only.
  if (document.auditEvents.length > 0) {
    const events = document.auditEvents.map((e) => {
      const purpose = e.purpose ? ` (${purposeName(info, e.purpose, language)})` : '';
      const basis = info.purposes.find((p) => p.id === e.purpose)?.lawfulBasis;
      const action = e.action === 'consent.withdrawn' && basis && basis !== 'consent' ? 'consent.objected' : e.action;
      return `- ${w.date(e.at)}: ${wordFor(w.action, action)}${purpose}`;
    });
    parts.push(section(w.audit, events));
  }
  parts.push(...informationSections(info, w, language), w.copy);
  return `${parts.join('\n\n')}\n`;
}

/** The file name of a letter, beside the JSON export's (exportFileName) with .txt. */
export function letterFileName(jsonFileName: string): string {
  return jsonFileName.replace(/\.json$/, '.txt');
}
