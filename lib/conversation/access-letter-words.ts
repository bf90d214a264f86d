import {
  type AccessInformation,
  INTEGRATOR_SERVICE,
  META_SERVICE,
  OTHER_TRANSFERS,
  US_TRANSFER,
} from '../consent/access-information';
import type { ConfirmationVia, ConsentStatus, LawfulBasis, RecordMethod, WithdrawalChannel } from '../consent/types';
import type { Language } from './language';

/** The words of the access letter (access-letter.ts), in English and German. */

/** Every time in the letter is in this zone, and the letter says so once. */
const TIME_ZONE = 'Europe/Berlin';

export type RecordState = ConsentStatus | 'objected' | 'request-ended' | 'replaced' | 'ended-by-number-change';
type Retention = AccessInformation['retention'];

export interface Words {
  title: string;
  from: string;
  asOf: string;
  times: string;
  quote: (text: string) => string;
  date: (at: number) => string;
  notFound: string;
  erased: (at: string) => string;
  backSince: string;
  data: string;
  noContactData: string;
  phone: string;
  waId: string;
  userId: string;
  name: string;
  firstSeen: string;
  lastInbound: string;
  previousInbound: string;
  records: string;
  none: string;
  /** A record of a purpose that rests on consent. */
  consentState: Record<RecordState, string>;
  /** A record of a purpose that needs no consent (a contract, a legitimate interest). */
  otherState: Record<RecordState, string>;
  wording: string;
  how: string;
  method: Record<RecordMethod, string>;
  origin: string;
  requestCreated: string;
  requestSent: string;
  validUntil: string;
  confirmed: string;
  via: Record<ConfirmationVia, string>;
  noticeWithIt: string;
  yourMessage: string;
  withdrawnAt: string;
  objectedAt: string;
  endedAt: string;
  channel: Record<WithdrawalChannel, string>;
  carried: string;
  keptObjections: string;
  keptObjection: string;
  history: string;
  notices: string;
  notice: (version: string, at: string) => string;
  earlierNumber: (until: string) => string;
  erasedThere: (at: string) => string;
  audit: string;
  /** Audit actions; `signed-up` and `objected` stand for a given record and a withdrawal of a purpose without consent. */
  action: Record<string, string>;
  purposes: string;
  basis: Record<LawfulBasis, string>;
  advertising: string;
  interest: string;
  alsoProcessed: string[];
  categories: string;
  category: Record<string, string>;
  recipients: string;
  processor: string;
  service: Record<string, string>;
  transfers: string;
  transfer: Record<string, string>;
  retention: string;
  retentionLines: (r: Retention) => string[];
  sources: string;
  source: Record<string, string>;
  rights: string;
  right: Record<string, string>;
  withdrawBy: (keyword: string) => string;
  article: (article: string) => string;
  authority: (name: string) => string;
  dpo: string;
  automated: string;
  noAutomated: string;
  copy: string;
}

/** "Art. 7(3) GDPR" as German law cites it: "Art. 7 Abs. 3 DSGVO". */
function germanArticle(article: string): string {
  return article.replace(/\((\d+)\)/, ' Abs. $1').replace(/GDPR$/, 'DSGVO');
}

/** A time in TIME_ZONE, or a dash for a value that is no time (a record from a version that did not keep it). */
function timeIn(locale: string): (at: number) => string {
  return (at) =>
    Number.isFinite(at)
      ? new Date(at).toLocaleString(locale, { timeZone: TIME_ZONE, dateStyle: 'medium', timeStyle: 'short' })
      : '–';
}

const EN: Words = {
  title: 'Your data with us: access under Art. 15 GDPR',
  from: 'From',
  asOf: 'As of',
  times: 'All times are German time (Europe/Berlin).',
  quote: (text) => `“${text}”`,
  date: timeIn('en-GB'),
  notFound:
    'Apart from a pseudonymised note of this request, we store no data about you under this number or WhatsApp account.',
  erased: (at) =>
    `Your data was deleted on ${at}. We kept only a pseudonymised block entry without your number, so that we do not contact you again (unless you write to us or sign up again yourself), your objections, and pseudonymised proof of your consents for the period given below.`,
  backSince: 'You have written to us again since; what we have stored since is below.',
  data: 'What we store about you',
  noContactData: 'no contact data (number, name)',
  phone: 'Phone number',
  waId: 'WhatsApp ID',
  userId: 'WhatsApp user ID',
  name: 'Name in your WhatsApp profile',
  firstSeen: 'First contact',
  lastInbound: 'Time of your last message (for WhatsApp’s 24-hour window)',
  previousInbound:
    'Time of your message before that (so that a “yes” counts as a confirmation only when it answers our request)',
  records: 'Your consents, sign-ups and objections',
  none: 'none',
  consentState: {
    given: 'consent given',
    pending: 'requested, not confirmed',
    refused: 'refused',
    expired: 'request expired unanswered',
    withdrawn: 'consent withdrawn',
    objected: 'objected to',
    'request-ended': 'request ended',
    replaced: 'replaced by a new request',
    'ended-by-number-change': 'ended (change of number)',
  },
  otherState: {
    given: 'signed up',
    pending: 'requested, not confirmed',
    refused: 'refused',
    expired: 'request expired unanswered',
    withdrawn: 'objected to',
    objected: 'objected to',
    'request-ended': 'request ended',
    replaced: 'replaced by a new request',
    'ended-by-number-change': 'ended (change of number)',
  },
  wording: 'Wording',
  how: 'How',
  method: {
    'web-form': 'via our web form',
    keyword: 'via a keyword in WhatsApp',
    button: 'via a button in WhatsApp',
    agent: 'recorded by our staff',
    objection: 'your objection',
    'number-change': 'your change of number',
  },
  origin: 'Where',
  requestCreated: 'Request created',
  requestSent: 'Request sent',
  validUntil: 'Valid until',
  confirmed: 'Confirmed',
  via: {
    button: 'by tapping the button',
    keyword: 'by replying',
    link: 'by the confirmation link',
  },
  noticeWithIt: 'Privacy notice version',
  yourMessage: 'Your message',
  withdrawnAt: 'Withdrawn',
  objectedAt: 'Objected',
  endedAt: 'Ended',
  channel: {
    'whatsapp-keyword': 'by a keyword in WhatsApp',
    'whatsapp-button': 'by a button in WhatsApp',
    'whatsapp-text': 'in your own words in WhatsApp',
    'meta-marketing-optout': 'by stopping marketing messages in WhatsApp',
    'whatsapp-number-change': 'because you moved to another number',
    admin: 'recorded for you by our staff',
    api: 'through our systems',
  },
  carried: 'taken over from your previous number',
  keptObjections: 'Objections kept after the deletion',
  keptObjection: 'objected to (kept so that it still applies)',
  history: 'Earlier entries (replaced or ended)',
  notices: 'Privacy notices we showed you',
  notice: (version, at) => `version ${version}, shown on ${at}`,
  earlierNumber: (until) => `your previous number, until ${until}`,
  erasedThere: (at) => `Your data under it was deleted on ${at}.`,
  audit: 'Log of what happened (pseudonymised)',
  action: {
    'consent.requested': 'request for consent created',
    'consent.request_sent': 'request for consent sent',
    'consent.request_undelivered': 'request for consent not delivered',
    'consent.confirmed': 'consent confirmed',
    'consent.given': 'consent given',
    'signed-up': 'signed up',
    'consent.refused': 'refused',
    'consent.withdrawn': 'consent withdrawn',
    objected: 'objection recorded',
    'consent.expired': 'request expired',
    'consent.proof-restated': 'proof kept on, as the consent or objection still stands',
    'consent.purpose_removed': 'ended: we no longer pursue this purpose',
    'notice.shown': 'privacy notice shown',
    'notice.undelivered': 'privacy notice not delivered',
    'send.blocked': 'message not sent (not permitted)',
    'dsr.access_fulfilled': 'access request answered',
    'dsr.erasure_executed': 'deletion carried out',
    'subject.number-changed': 'moved to another number',
    'subject.user-id-changed': 'WhatsApp user ID changed',
    'subject.user-id-replaced': 'WhatsApp user ID replaced',
    'subject.opt-outs-carried': 'objections taken over to the new number',
    'retention.purge_run': 'old data deleted on schedule',
  },
  purposes: 'Purposes and legal bases',
  basis: {
    consent: 'your consent (Art. 6(1)(a) GDPR)',
    contract: 'performance of a contract with you (Art. 6(1)(b) GDPR)',
    'legitimate-interest': 'our legitimate interest (Art. 6(1)(f) GDPR)',
  },
  advertising: 'advertising',
  interest: 'Our legitimate interest',
  alsoProcessed: [
    'Answering your messages: performance or preparation of a contract where your message concerns one (Art. 6(1)(b) GDPR), otherwise our legitimate interest in answering what we are sent (Art. 6(1)(f) GDPR)',
    'Proof of consents and of the notices shown: our legitimate interest in proving them and defending legal claims (Art. 6(1)(f) in conjunction with Art. 5(2) and 7(1) GDPR; after a deletion Art. 17(3)(e) GDPR)',
    'The block entry after a deletion: our legitimate interest in not contacting you against your will (Art. 6(1)(f) GDPR)',
    'Your objections: we keep them to go on honouring them (Art. 21(3) GDPR for advertising, Art. 21(1) GDPR for a purpose resting on our legitimate interest, otherwise our legitimate interest in respecting your wish, Art. 6(1)(f) GDPR)',
  ],
  categories: 'Categories of personal data',
  category: {
    'phone-number': 'phone number',
    'whatsapp-ids': 'WhatsApp IDs',
    'profile-name': 'profile name',
    'consent-records': 'consents with their wording and times',
    'notices-shown': 'privacy notices shown',
    'audit-events': 'log entries',
  },
  recipients: 'Recipients',
  processor: 'processor',
  service: {
    [META_SERVICE]: 'operates the WhatsApp Business Platform (Cloud API) that carries our messages',
    [INTEGRATOR_SERVICE]: 'operates this WhatsApp integration for us',
  },
  transfers: 'Transfers to third countries (outside the EU/EEA)',
  transfer: {
    [US_TRANSFER]: 'USA: adequacy decision on the EU-U.S. Data Privacy Framework (Art. 45 GDPR)',
    [OTHER_TRANSFERS]: 'other countries: standard contractual clauses (Art. 46(2)(c) GDPR)',
  },
  retention: 'How long we keep it',
  retentionLines: (r) => [
    `An unconfirmed request for consent expires after ${r.pendingRequestHours} hours.`,
    `Your number and WhatsApp ID: as long as a consent, sign-up or request of yours runs; after that they are deleted once you have not written to us for ${r.personalDataAfterEndDays} days.`,
    `Your replies and message IDs kept as proof of a consent: ${r.personalDataAfterEndDays} days after the consent has ended.`,
    `A consent or request for a purpose we no longer pursue ends ${r.consentAfterPurposeRemovedDays} days after we stopped it.`,
    `Pseudonymised proof of consents and notices (without your number or messages): ${r.proofYears} years; the proof of a consent or objection that still stands is kept as long as it stands, and the years count from its end.`,
    'Without a time limit: the pseudonymised block entry after a deletion, and an objection to a purpose that needs no consent.',
  ],
  sources: 'Where the data comes from',
  source: {
    'data-subject-whatsapp-messages': 'your WhatsApp messages to us',
    'data-subject-web-form': 'our web form, if you used it',
    'meta-webhook-notifications': 'notifications from WhatsApp (Meta) about our messages to you',
  },
  rights: 'Your rights',
  right: {
    access: 'access',
    rectification: 'rectification',
    erasure: 'erasure',
    restriction: 'restriction of processing',
    portability: 'data portability',
    objection: 'objection',
    'withdraw-consent': 'withdrawal of a consent at any time, with effect for the future',
    'complaint-to-supervisory-authority': 'complaint to a data protection supervisory authority',
  },
  withdrawBy: (keyword) => `, e.g. by replying ${keyword} in the chat`,
  article: (article) => article,
  authority: (name) => `The authority responsible for us: ${name}`,
  dpo: 'Our data protection officer',
  automated: 'Automated decisions',
  noAutomated:
    'We do not use automated decision-making, including profiling, within the meaning of Art. 22 GDPR. Our chat answers keywords such as STOP automatically; that is no such decision.',
  copy: 'A copy of your data in a machine-readable form (JSON), which also holds technical details such as message IDs, comes with this letter (Art. 15(3), 20 GDPR).',
};

const DE: Words = {
  title: 'Ihre Daten bei uns: Auskunft nach Art. 15 DSGVO',
  from: 'Von',
  asOf: 'Stand',
  times: 'Alle Zeiten in deutscher Zeit (Europe/Berlin).',
  quote: (text) => `„${text}“`,
  date: timeIn('de-DE'),
  notFound:
    'Außer einem pseudonymisierten Vermerk über diese Anfrage speichern wir zu dieser Nummer oder diesem WhatsApp-Konto keine Daten über Sie.',
  erased: (at) =>
    `Ihre Daten wurden am ${at} gelöscht. Behalten haben wir nur einen pseudonymisierten Sperreintrag ohne Ihre Nummer, damit wir Sie nicht wieder anschreiben (es sei denn, Sie schreiben uns selbst oder melden sich wieder an), Ihre Widersprüche und pseudonymisierte Nachweise Ihrer Einwilligungen für die unten genannte Dauer.`,
  backSince: 'Seitdem haben Sie uns wieder geschrieben; was wir seitdem speichern, steht unten.',
  data: 'Was wir über Sie speichern',
  noContactData: 'keine Kontaktdaten (Nummer, Name)',
  phone: 'Telefonnummer',
  waId: 'WhatsApp-ID',
  userId: 'WhatsApp-Nutzer-ID',
  name: 'Name in Ihrem WhatsApp-Profil',
  firstSeen: 'Erster Kontakt',
  lastInbound: 'Zeitpunkt Ihrer letzten Nachricht (für das 24-Stunden-Fenster von WhatsApp)',
  previousInbound:
    'Zeitpunkt Ihrer vorletzten Nachricht (damit ein „Ja“ nur als Bestätigung zählt, wenn es auf unsere Anfrage antwortet)',
  records: 'Ihre Einwilligungen, Anmeldungen und Widersprüche',
  none: 'keine',
  consentState: {
    given: 'Einwilligung erteilt',
    pending: 'angefragt, nicht bestätigt',
    refused: 'abgelehnt',
    expired: 'Anfrage unbeantwortet abgelaufen',
    withdrawn: 'Einwilligung widerrufen',
    objected: 'Widerspruch eingelegt',
    'request-ended': 'Anfrage beendet',
    replaced: 'durch neue Anfrage ersetzt',
    'ended-by-number-change': 'beendet (Nummernwechsel)',
  },
  otherState: {
    given: 'angemeldet',
    pending: 'angefragt, nicht bestätigt',
    refused: 'abgelehnt',
    expired: 'Anfrage unbeantwortet abgelaufen',
    withdrawn: 'Widerspruch eingelegt',
    objected: 'Widerspruch eingelegt',
    'request-ended': 'Anfrage beendet',
    replaced: 'durch neue Anfrage ersetzt',
    'ended-by-number-change': 'beendet (Nummernwechsel)',
  },
  wording: 'Wortlaut',
  how: 'Wie',
  method: {
    'web-form': 'über unser Webformular',
    keyword: 'mit einem Stichwort in WhatsApp',
    button: 'über eine Schaltfläche in WhatsApp',
    agent: 'von unseren Mitarbeitenden erfasst',
    objection: 'Ihr Widerspruch',
    'number-change': 'Ihr Nummernwechsel',
  },
  origin: 'Wo',
  requestCreated: 'Anfrage erstellt',
  requestSent: 'Anfrage gesendet',
  validUntil: 'Gültig bis',
  confirmed: 'Bestätigt',
  via: {
    button: 'durch Tippen auf die Schaltfläche',
    keyword: 'durch Ihre Antwort',
    link: 'über den Bestätigungslink',
  },
  noticeWithIt: 'Version des Datenschutzhinweises',
  yourMessage: 'Ihre Nachricht',
  withdrawnAt: 'Widerrufen',
  objectedAt: 'Widersprochen',
  endedAt: 'Beendet',
  channel: {
    'whatsapp-keyword': 'mit einem Stichwort in WhatsApp',
    'whatsapp-button': 'über eine Schaltfläche in WhatsApp',
    'whatsapp-text': 'mit eigenen Worten in WhatsApp',
    'meta-marketing-optout': 'durch Abbestellen von Marketingnachrichten in WhatsApp',
    'whatsapp-number-change': 'weil Sie zu einer anderen Nummer gewechselt sind',
    admin: 'von unseren Mitarbeitenden für Sie erfasst',
    api: 'über unsere Systeme',
  },
  carried: 'von Ihrer früheren Nummer übernommen',
  keptObjections: 'Nach der Löschung behaltene Widersprüche',
  keptObjection: 'Widerspruch eingelegt (behalten, damit er weiter gilt)',
  history: 'Frühere Einträge (ersetzt oder beendet)',
  notices: 'Datenschutzhinweise, die wir Ihnen gezeigt haben',
  notice: (version, at) => `Version ${version}, gezeigt am ${at}`,
  earlierNumber: (until) => `Ihre frühere Nummer, bis ${until}`,
  erasedThere: (at) => `Ihre Daten dazu wurden am ${at} gelöscht.`,
  audit: 'Protokoll der Vorgänge (pseudonymisiert)',
  action: {
    'consent.requested': 'Einwilligungsanfrage erstellt',
    'consent.request_sent': 'Einwilligungsanfrage gesendet',
    'consent.request_undelivered': 'Einwilligungsanfrage nicht zugestellt',
    'consent.confirmed': 'Einwilligung bestätigt',
    'consent.given': 'Einwilligung erteilt',
    'signed-up': 'angemeldet',
    'consent.refused': 'abgelehnt',
    'consent.withdrawn': 'Einwilligung widerrufen',
    objected: 'Widerspruch erfasst',
    'consent.expired': 'Anfrage abgelaufen',
    'consent.proof-restated': 'Nachweis weiter aufbewahrt, da die Einwilligung oder der Widerspruch noch gilt',
    'consent.purpose_removed': 'beendet: Wir verfolgen diesen Zweck nicht mehr',
    'notice.shown': 'Datenschutzhinweis gezeigt',
    'notice.undelivered': 'Datenschutzhinweis nicht zugestellt',
    'send.blocked': 'Nachricht nicht gesendet (nicht erlaubt)',
    'dsr.access_fulfilled': 'Auskunft erteilt',
    'dsr.erasure_executed': 'Löschung ausgeführt',
    'subject.number-changed': 'zu einer anderen Nummer gewechselt',
    'subject.user-id-changed': 'WhatsApp-Nutzer-ID geändert',
    'subject.user-id-replaced': 'WhatsApp-Nutzer-ID ersetzt',
    'subject.opt-outs-carried': 'Widersprüche zur neuen Nummer übernommen',
    'retention.purge_run': 'alte Daten planmäßig gelöscht',
  },
  purposes: 'Zwecke und Rechtsgrundlagen',
  basis: {
    consent: 'Ihre Einwilligung (Art. 6 Abs. 1 lit. a DSGVO)',
    contract: 'Erfüllung eines Vertrags mit Ihnen (Art. 6 Abs. 1 lit. b DSGVO)',
    'legitimate-interest': 'unser berechtigtes Interesse (Art. 6 Abs. 1 lit. f DSGVO)',
  },
  advertising: 'Werbung',
  interest: 'Unser berechtigtes Interesse',
  alsoProcessed: [
    'Beantwortung Ihrer Nachrichten: Erfüllung oder Anbahnung eines Vertrags, wenn Ihre Nachricht einen Vertrag betrifft (Art. 6 Abs. 1 lit. b DSGVO), sonst unser berechtigtes Interesse, Anfragen zu beantworten (Art. 6 Abs. 1 lit. f DSGVO)',
    'Nachweis der Einwilligungen und gezeigten Hinweise: unser berechtigtes Interesse, sie nachweisen und Rechtsansprüche abwehren zu können (Art. 6 Abs. 1 lit. f i. V. m. Art. 5 Abs. 2 und Art. 7 Abs. 1 DSGVO; nach einer Löschung Art. 17 Abs. 3 lit. e DSGVO)',
    'Sperreintrag nach einer Löschung: unser berechtigtes Interesse, Sie nicht gegen Ihren Willen zu kontaktieren (Art. 6 Abs. 1 lit. f DSGVO)',
    'Ihre Widersprüche: Wir bewahren sie auf, um sie weiter zu beachten (Art. 21 Abs. 3 DSGVO bei Werbung, Art. 21 Abs. 1 DSGVO bei einem Zweck, der auf unserem berechtigten Interesse beruht, sonst unser berechtigtes Interesse, Ihren Wunsch zu achten, Art. 6 Abs. 1 lit. f DSGVO)',
  ],
  categories: 'Kategorien personenbezogener Daten',
  category: {
    'phone-number': 'Telefonnummer',
    'whatsapp-ids': 'WhatsApp-IDs',
    'profile-name': 'Profilname',
    'consent-records': 'Einwilligungen mit Wortlaut und Zeiten',
    'notices-shown': 'gezeigte Datenschutzhinweise',
    'audit-events': 'Protokolleinträge',
  },
  recipients: 'Empfänger',
  processor: 'Auftragsverarbeiter',
  service: {
    [META_SERVICE]: 'betreibt die WhatsApp Business Platform (Cloud API), die unsere Nachrichten übermittelt',
    [INTEGRATOR_SERVICE]: 'betreibt diese WhatsApp-Anbindung für uns',
  },
  transfers: 'Übermittlungen in Drittländer (außerhalb von EU/EWR)',
  transfer: {
    [US_TRANSFER]: 'USA: Angemessenheitsbeschluss zum EU-U.S. Data Privacy Framework (Art. 45 DSGVO)',
    [OTHER_TRANSFERS]: 'andere Länder: Standardvertragsklauseln (Art. 46 Abs. 2 lit. c DSGVO)',
  },
  retention: 'Wie lange wir speichern',
  retentionLines: (r) => [
    `Eine unbestätigte Einwilligungsanfrage verfällt nach ${r.pendingRequestHours} Stunden.`,
    `Ihre Nummer und WhatsApp-ID: solange eine Einwilligung, Anmeldung oder Anfrage von Ihnen läuft; danach werden sie gelöscht, wenn Sie uns ${r.personalDataAfterEndDays} Tage nicht geschrieben haben.`,
    `Ihre Antworten und Nachrichten-IDs als Nachweis einer Einwilligung: ${r.personalDataAfterEndDays} Tage nach dem Ende der Einwilligung.`,
    `Eine Einwilligung oder Anfrage für einen Zweck, den wir nicht mehr verfolgen, endet ${r.consentAfterPurposeRemovedDays} Tage, nachdem wir ihn eingestellt haben.`,
    `Pseudonymisierte Nachweise der Einwilligungen und Hinweise (ohne Ihre Nummer und Nachrichten): ${r.proofYears} Jahre; den Nachweis einer Einwilligung oder eines Widerspruchs, die noch gelten, bewahren wir auf, solange sie gelten, und die Jahre zählen ab deren Ende.`,
    'Ohne zeitliche Begrenzung: der pseudonymisierte Sperreintrag nach einer Löschung und ein Widerspruch gegen einen Zweck, der keine Einwilligung braucht.',
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
    'withdraw-consent': 'Widerruf einer Einwilligung jederzeit mit Wirkung für die Zukunft',
    'complaint-to-supervisory-authority': 'Beschwerde bei einer Datenschutz-Aufsichtsbehörde',
  },
  withdrawBy: (keyword) => `, z. B. mit der Antwort ${keyword} im Chat`,
  article: germanArticle,
  authority: (name) => `Die für uns zuständige Behörde: ${name}`,
  dpo: 'Datenschutzbeauftragte/r',
  automated: 'Automatisierte Entscheidungen',
  noAutomated:
    'Eine automatisierte Entscheidungsfindung einschließlich Profiling im Sinne von Art. 22 DSGVO findet nicht statt. Unser Chat beantwortet Stichwörter wie STOP automatisch; das ist keine solche Entscheidung.',
  copy: 'Eine Kopie Ihrer Daten in maschinenlesbarer Form (JSON), die auch technische Angaben wie Nachrichten-IDs enthält, erhalten Sie mit diesem Schreiben (Art. 15 Abs. 3, Art. 20 DSGVO).',
};

export const LETTER_WORDS: Record<Language, Words> = { en: EN, de: DE };
