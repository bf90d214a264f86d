/**
 * The full privacy policy page (Art. 13 GDPR) that the short notice links to, rendered on the
 * server from the privacy-notice node's settings and the consent store's purposes and retention.
 * Self-contained HTML: no script, no external style, font or image, so the page itself leaks no
 * visitor data to a third party. Every value from settings is HTML-escaped.
 */
import { effectiveBasis } from '../consent/purposes';
import { removedPurposeEndDays } from '../consent/retention-sweep';
import { keywordLanguage } from './keywords';
import type { Language } from './language';

export interface PolicySettings {
  controllerName: string;
  controllerAddress?: string;
  controllerEmail?: string;
  controllerPhone?: string;
  dpoName?: string;
  dpoEmail?: string;
  /** The company that runs this WhatsApp integration for the controller (a processor, Art. 28). */
  providerName?: string;
  providerAddress?: string;
  /** Where the consent store and Node-RED run, e.g. "Germany (Frankfurt am Main), own servers". */
  storageLocation?: string;
  authorityName?: string;
  authorityUrl?: string;
  /** The keyword that opts out, as the person should type it. */
  stopKeyword?: string;
  /**
   * The keyword that requests erasure, when the erase-subject node listens for one; or a comma-separated list with one
   * per language ("DATEN LÖSCHEN, DELETE MY DATA"), of which the page names those in its own language.
   */
  eraseKeyword?: string;
  /** The keyword her flow answers with what is stored about her (as eraseKeyword: one, or one per language). */
  accessKeyword?: string;
}

export type LawfulBasis = 'consent' | 'contract' | 'legitimate-interest';

export interface PolicyPurpose {
  id: string;
  label: string;
  /** The name per language; `label` where the page's language has none. */
  labels?: Partial<Record<string, string>>;
  wording?: Partial<Record<string, string>>;
  lawfulBasis: LawfulBasis | string;
  /** The legitimate interest pursued (Art. 13(1)(d) GDPR), for lawfulBasis 'legitimate-interest'. */
  interest?: Partial<Record<string, string>>;
  marketing?: boolean;
}

/** The consent store's retention settings (consent-store node). */
export interface PolicyRetention {
  pendingExpiryHours?: number;
  withdrawnPersonalDataDays?: number;
  auditRetentionYears?: number;
}

export interface PolicyPageInput {
  settings: PolicySettings;
  purposes: readonly PolicyPurpose[];
  retention: PolicyRetention;
  language: Language;
  /** Version of the short notice, shown so a reader can match notice and policy. */
  noticeVersion?: string;
  /** The purposes needing no consent that a STOP keyword ends too (the stop-handler nodes' scope), by id. */
  stopEnds?: readonly string[];
  /** Whether an objection to advertising in her own words ends the advertising alone (stop-handler's setting). */
  objectInOwnWords?: boolean;
}

const SUPPORTED: readonly Language[] = ['en', 'de'];
const DAY_MS = 24 * 60 * 60 * 1000;

/** A fact the page cannot go without: the editor requires each (nodes/privacy-notice.html requiredForPage). */
export type MissingPolicyFact = 'controllerName' | 'controllerContact' | 'storageLocation';

/**
 * What the settings lack for the page: the controller's name, and at least one way to reach them (address, email or
 * phone: Art. 13(1)(a) GDPR asks for identity and contact details, and the page's rights section sends the person to
 * "the address above"), and where the data is kept (transfers, Chapter V GDPR). Empty when the page can be served.
 */
export function missingPolicyFacts(settings: Partial<PolicySettings>): MissingPolicyFact[] {
  const given = (value: unknown) => typeof value === 'string' && value.trim() !== '';
  const missing: MissingPolicyFact[] = [];
  if (!given(settings.controllerName)) missing.push('controllerName');
  if (![settings.controllerAddress, settings.controllerEmail, settings.controllerPhone].some(given)) {
    missing.push('controllerContact');
  }
  if (!given(settings.storageLocation)) missing.push('storageLocation');
  return missing;
}

/**
 * The page language: `?lang=` wins, then the browser's Accept-Language by weight, then `fallback`.
 */
export function choosePolicyLanguage(query: unknown, acceptLanguage: string | undefined, fallback: Language): Language {
  const requested = typeof query === 'string' ? query.trim().toLowerCase().slice(0, 2) : '';
  if ((SUPPORTED as readonly string[]).includes(requested)) return requested as Language;
  const ranked = String(acceptLanguage ?? '')
    .split(',')
    .slice(0, 20)
    .map((part, index) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      const weight = q ? Number(q.slice(2)) : 1;
      return { language: tag.trim().toLowerCase().slice(0, 2), weight: Number.isFinite(weight) ? weight : 0, index };
    })
    .filter((entry) => entry.weight > 0 && (SUPPORTED as readonly string[]).includes(entry.language))
    .sort((a, b) => b.weight - a.weight || a.index - b.index);
  return ranked.length > 0 ? (ranked[0].language as Language) : fallback;
}

export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

interface PageTexts {
  title: string;
  intro: string;
  otherLanguage: string;
  controller: string;
  dpo: string;
  noDpo: string;
  dataCollected: string;
  dataItems: string[];
  dataNotKept: string;
  /** Art. 13(2)(f): whether decisions are automated. */
  noAutomatedDecisions: string;
  purposes: string;
  /** The purpose every chat has, whatever the store's purposes: answering what she writes. */
  answeringMessages: string;
  purposeColumn: string;
  wordingColumn: string;
  basisColumn: string;
  noPurposes: string;
  marketingNote: string;
  interestPursued: string;
  basis: Record<LawfulBasis, string>;
  recipients: string;
  meta: string;
  /** WhatsApp's own role: her use of WhatsApp is not ours to govern. */
  whatsappOwn: string;
  provider: (name: string) => string;
  transfers: string;
  storage: string;
  storageUnknown: string;
  retention: string;
  retentionPending: (hours: number) => string;
  /** `days`: the personal-data period; `purposeEndDays`: when consents to a stopped purpose end (removedPurposeEndDays). */
  retentionWithdrawn: (days: number, purposeEndDays: number) => string;
  retentionAudit: (years: number) => string;
  retentionErasure: string;
  rights: string;
  rightsIntro: string;
  rightStop: (keyword: string) => string;
  stopEndsOthers: (keyword: string, names: string) => string;
  rightAccess: (keyword?: string) => string;
  rightErasure: (keyword?: string) => string;
  rightOthers: string;
  objection: string;
  objectionInterest: string;
  objectionMarketing: (keyword: string) => string;
  objectionInOwnWords: string;
  provision: string;
  complaint: string;
  complaintText: string;
  authority: string;
  email: string;
  phone: string;
  noticeVersion: string;
}

const TEXTS: Record<Language, PageTexts> = {
  en: {
    title: 'Privacy policy for our WhatsApp service',
    intro:
      'This policy explains how we process personal data when we communicate with you over WhatsApp (Art. 13 GDPR).',
    otherLanguage: 'Deutsch',
    controller: 'Controller',
    dpo: 'Data protection officer',
    noDpo: 'For questions about data protection, please contact the controller at the address above.',
    dataCollected: 'Data we process',
    dataItems: [
      'your phone number, and the user ID WhatsApp gives us with it (both stored encrypted; your profile name is not stored)',
      'your consents: the exact wording you agreed to, when, where you signed up (the form or campaign), and how you confirmed or withdrew them',
      'message metadata: the IDs and times of the messages by which you gave, confirmed or withdrew a consent, and of the privacy notice sent to you',
      'which version of our privacy notice in the chat was shown to you, and the times of your last two messages to us (so that a "yes" you type confirms a sign-up request only when it answers that request; they also tell whether we may still answer you with a free-form message, WhatsApp\'s 24-hour window, and when your number is due for deletion)',
    ],
    dataNotKept:
      'The content of your messages is used to answer you and is not stored here, except the replies by which you signed up, confirmed or withdrew a consent: we keep them encrypted as proof.',
    noAutomatedDecisions:
      'In this WhatsApp service we make no decisions based solely on automated processing, including profiling, that have legal effects on you or similarly significantly affect you (Art. 22 GDPR). Our chat answers keywords such as STOP automatically; that is no such decision.',
    purposes: 'Purposes and lawful basis',
    answeringMessages:
      'Answering your messages: when you write to us, we use your number and your message to answer you. The lawful basis is the performance or preparation of a contract where your message concerns one (Art. 6(1)(b) GDPR), otherwise our legitimate interest in answering the questions people send us (Art. 6(1)(f) GDPR).',
    purposeColumn: 'Purpose',
    wordingColumn: 'Wording',
    basisColumn: 'Lawful basis',
    noPurposes: 'No purposes are configured yet.',
    marketingNote: 'marketing',
    interestPursued: 'Legitimate interest pursued',
    basis: {
      consent: 'your consent, Art. 6(1)(a) GDPR',
      contract: 'performance of a contract, Art. 6(1)(b) GDPR',
      'legitimate-interest': 'our legitimate interest, Art. 6(1)(f) GDPR',
    },
    recipients: 'Recipients and processors',
    meta: 'Meta Platforms Ireland Ltd., Merrion Road, Dublin 4, Ireland, operates the WhatsApp Business Platform (Cloud API) and transmits our messages as our processor (Art. 28 GDPR).',
    whatsappOwn:
      'When you use WhatsApp, WhatsApp Ireland Ltd. processes your data as a controller in its own right, under its own terms and privacy policy; we have no influence on that processing.',
    provider: (name) => `${name} operates this WhatsApp integration for us as our processor (Art. 28 GDPR).`,
    transfers:
      'Meta may process data outside the EU/EEA, in particular in the USA (Meta Platforms, Inc.). Transfers to the USA rest on the European Commission’s adequacy decision for the EU-U.S. Data Privacy Framework, under which Meta Platforms, Inc. is certified (Art. 45 GDPR); other transfers rest on the EU standard contractual clauses in Meta’s data processing terms for the WhatsApp Business Platform (Art. 46(2)(c) GDPR). You can ask us for a copy of these safeguards.',
    storage: 'Storage location',
    storageUnknown: 'The storage location has not been stated yet.',
    retention: 'Retention periods',
    retentionPending: (h) => `An unconfirmed consent request expires after ${h} hours.`,
    retentionWithdrawn: (d, e) =>
      `While a consent or another record of yours is running (order updates under a contract, say), we keep your number. When none is running any more and you have not written to us for ${d} days, your number and the user ID WhatsApp gave us are deleted; this also applies to a number someone entered in our form without confirming it. The replies and message IDs kept as proof of a consent are deleted ${d} days after it ended. When we stop a purpose (send no more messages of that kind), a consent to it ends ${e} days later.`,
    retentionAudit: (y) =>
      `Pseudonymous proof of consent and of the privacy notices shown (without your number or messages) is kept for ${y} years to demonstrate consent (Art. 7(1) GDPR); the proof of a consent or an objection that still stands is kept for as long as it stands. Lawful basis: our legitimate interest in being able to demonstrate consent and our compliance and in defending legal claims (Art. 6(1)(f) GDPR in conjunction with Art. 5(2) and 7(1) GDPR).`,
    retentionErasure:
      'When you request erasure, we delete your data without undue delay (Art. 17 GDPR). We keep a pseudonymous block entry without your number, with no time limit, so that we do not contact you again unless you sign up again or write to us yourself, and the pseudonymous proof of consent for the period above. An objection to a purpose that needs no consent is likewise kept pseudonymously with no time limit, so that it keeps applying. We keep the block entry despite the erasure in our legitimate interest in not contacting you against your wishes (Art. 6(1)(f) GDPR), an objection so that we go on honouring it (Art. 21(1) GDPR for a purpose resting on our legitimate interest, otherwise our legitimate interest in respecting your wish, Art. 6(1)(f) GDPR), and the proof of consent to be able to defend legal claims (Art. 17(3)(e) GDPR).',
    rights: 'Your rights and how to use them',
    rightsIntro: 'You can use these rights at any time, free of charge:',
    rightStop: (k) =>
      `Withdraw consent (Art. 7(3) GDPR) and object to processing for direct marketing (Art. 21(2) GDPR): reply ${k} in the chat. The withdrawal takes effect at once for the future; it does not affect the lawfulness of processing before it. You receive a confirmation.`,
    stopEndsOthers: (k, names) => `${k} also ends the messages we send you without needing your consent (${names}).`,
    rightAccess: (k) =>
      k
        ? `Access and a copy of your data (Art. 15 and 20 GDPR): reply ${k} in the chat or contact us at the address above.`
        : 'Access and a copy of your data (Art. 15 and 20 GDPR): contact us at the address above.',
    rightErasure: (k) =>
      k
        ? `Erasure (Art. 17 GDPR): reply ${k} in the chat or contact us at the address above.`
        : 'Erasure (Art. 17 GDPR): contact us at the address above.',
    rightOthers:
      'Rectification (Art. 16 GDPR) and restriction of processing (Art. 18 GDPR): contact us at the address above.',
    objection: 'Your right to object (Art. 21 GDPR)',
    objectionInterest:
      'Where we process your data on the basis of our legitimate interest (Art. 6(1)(f) GDPR), you have the right to object at any time, on grounds relating to your particular situation. We then no longer process it unless we can demonstrate compelling legitimate grounds that override your interests, rights and freedoms, or the processing serves the establishment, exercise or defence of legal claims (Art. 21(1) GDPR).',
    objectionMarketing: (k) =>
      `Where we process your data for direct marketing, you have the right to object at any time; we then no longer process it for this purpose (Art. 21(2) and (3) GDPR). To object, reply ${k} in the chat or contact us at the address above.`,
    objectionInOwnWords:
      'To object to advertising alone, you may also write so in the chat in your own words, such as "No more advertising, please": the advertising ends at once, the other messages go on.',
    provision:
      'You are not obliged by law or contract to give us your phone number. Without it we cannot communicate with you on WhatsApp; that is the only consequence (Art. 13(2)(e) GDPR).',
    complaint: 'Complaint to a supervisory authority',
    complaintText:
      'You have the right to lodge a complaint with a data protection supervisory authority (Art. 77 GDPR).',
    authority: 'Competent authority',
    email: 'Email',
    phone: 'Phone',
    noticeVersion: 'Notice version',
  },
  de: {
    title: 'Datenschutzerklärung für unseren WhatsApp-Dienst',
    intro:
      'Diese Erklärung beschreibt, wie wir personenbezogene Daten verarbeiten, wenn wir mit Ihnen über WhatsApp kommunizieren (Art. 13 DSGVO).',
    otherLanguage: 'English',
    controller: 'Verantwortlicher',
    dpo: 'Datenschutzbeauftragte/r',
    noDpo: 'Bei Fragen zum Datenschutz wenden Sie sich bitte an den Verantwortlichen unter der oben genannten Adresse.',
    dataCollected: 'Welche Daten wir verarbeiten',
    dataItems: [
      'Ihre Telefonnummer und die Nutzer-ID, die WhatsApp uns dazu nennt (beide verschlüsselt gespeichert; Ihren Profilnamen speichern wir nicht)',
      'Ihre Einwilligungen: der genaue Wortlaut, dem Sie zugestimmt haben, wann, wo Sie sich angemeldet haben (Formular oder Kampagne) und wie Sie sie bestätigt oder widerrufen haben',
      'Metadaten der Nachrichten: IDs und Zeitpunkte der Nachrichten, mit denen Sie eine Einwilligung erteilt, bestätigt oder widerrufen haben, und des Ihnen gesendeten Datenschutzhinweises',
      'welche Version unseres Datenschutzhinweises im Chat Ihnen angezeigt wurde und die Zeitpunkte Ihrer letzten beiden Nachrichten an uns (damit ein getipptes „Ja“ eine Anmeldeanfrage nur bestätigt, wenn es diese Anfrage beantwortet; sie zeigen auch, ob wir Ihnen noch frei antworten dürfen, das 24-Stunden-Fenster von WhatsApp, und wann Ihre Nummer zu löschen ist)',
    ],
    dataNotKept:
      'Den Inhalt Ihrer Nachrichten nutzen wir, um Ihnen zu antworten; hier wird er nicht gespeichert, außer den Antworten, mit denen Sie sich angemeldet oder eine Einwilligung bestätigt oder widerrufen haben: Diese bewahren wir verschlüsselt als Nachweis auf.',
    noAutomatedDecisions:
      'In diesem WhatsApp-Dienst treffen wir keine ausschließlich auf einer automatisierten Verarbeitung beruhenden Entscheidungen einschließlich Profiling, die Ihnen gegenüber rechtliche Wirkung entfalten oder Sie in ähnlicher Weise erheblich beeinträchtigen (Art. 22 DSGVO). Unser Chat beantwortet Stichwörter wie STOP automatisch; das ist keine solche Entscheidung.',
    purposes: 'Zwecke und Rechtsgrundlagen',
    answeringMessages:
      'Beantwortung Ihrer Nachrichten: Wenn Sie uns schreiben, nutzen wir Ihre Nummer und Ihre Nachricht, um Ihnen zu antworten. Rechtsgrundlage ist die Erfüllung oder Anbahnung eines Vertrags, wenn Ihre Nachricht einen Vertrag betrifft (Art. 6 Abs. 1 lit. b DSGVO), sonst unser berechtigtes Interesse, Anfragen zu beantworten, die man uns schickt (Art. 6 Abs. 1 lit. f DSGVO).',
    purposeColumn: 'Zweck',
    wordingColumn: 'Wortlaut',
    basisColumn: 'Rechtsgrundlage',
    noPurposes: 'Es sind noch keine Zwecke eingerichtet.',
    marketingNote: 'Werbung',
    interestPursued: 'Verfolgtes berechtigtes Interesse',
    basis: {
      consent: 'Ihre Einwilligung, Art. 6 Abs. 1 lit. a DSGVO',
      contract: 'Vertragserfüllung, Art. 6 Abs. 1 lit. b DSGVO',
      'legitimate-interest': 'unser berechtigtes Interesse, Art. 6 Abs. 1 lit. f DSGVO',
    },
    recipients: 'Empfänger und Auftragsverarbeiter',
    meta: 'Meta Platforms Ireland Ltd., Merrion Road, Dublin 4, Irland, betreibt die WhatsApp Business Platform (Cloud API) und übermittelt unsere Nachrichten als unser Auftragsverarbeiter (Art. 28 DSGVO).',
    whatsappOwn:
      'Wenn Sie WhatsApp nutzen, verarbeitet WhatsApp Ireland Ltd. Ihre Daten als eigenständig Verantwortlicher nach eigenen Nutzungsbedingungen und eigener Datenschutzrichtlinie; auf diese Verarbeitung haben wir keinen Einfluss.',
    provider: (name) => `${name} betreibt diese WhatsApp-Anbindung für uns als Auftragsverarbeiter (Art. 28 DSGVO).`,
    transfers:
      'Meta kann Daten auch außerhalb der EU/des EWR verarbeiten, insbesondere in den USA (Meta Platforms, Inc.). Übermittlungen in die USA stützen sich auf den Angemessenheitsbeschluss der Europäischen Kommission zum EU-U.S. Data Privacy Framework, unter dem Meta Platforms, Inc. zertifiziert ist (Art. 45 DSGVO); andere Übermittlungen stützen sich auf die EU-Standardvertragsklauseln in den Auftragsverarbeitungsbedingungen von Meta für die WhatsApp Business Platform (Art. 46 Abs. 2 lit. c DSGVO). Eine Kopie dieser Garantien können Sie bei uns anfordern.',
    storage: 'Speicherort',
    storageUnknown: 'Der Speicherort wurde noch nicht angegeben.',
    retention: 'Speicherdauer',
    retentionPending: (h) => `Eine unbestätigte Einwilligungsanfrage verfällt nach ${h} Stunden.`,
    retentionWithdrawn: (d, e) =>
      `Solange eine Einwilligung oder ein anderer Vorgang von Ihnen läuft (etwa Bestellnachrichten im Rahmen eines Vertrags), speichern wir Ihre Nummer. Läuft nichts davon mehr und haben Sie uns ${d} Tage nicht geschrieben, werden Ihre Nummer und die Nutzer-ID, die WhatsApp uns nannte, gelöscht; das gilt auch für eine Nummer, die jemand in unser Formular eingetragen, aber nicht bestätigt hat. Die als Nachweis einer Einwilligung aufbewahrten Antworten und Nachrichten-IDs werden ${d} Tage nach dem Ende der Einwilligung gelöscht. Stellen wir einen Zweck ein (senden also keine solchen Nachrichten mehr), endet eine Einwilligung dafür ${e} Tage danach.`,
    retentionAudit: (y) =>
      `Pseudonyme Nachweise der Einwilligungen und der angezeigten Datenschutzhinweise (ohne Ihre Nummer und Nachrichten) bewahren wir ${y} Jahre auf, um Einwilligungen nachweisen zu können (Art. 7 Abs. 1 DSGVO); den Nachweis einer Einwilligung oder eines Widerspruchs, die noch gelten, bewahren wir auf, solange sie gelten. Rechtsgrundlage: unser berechtigtes Interesse, Einwilligungen und die Einhaltung des Datenschutzes nachweisen und Rechtsansprüche abwehren zu können (Art. 6 Abs. 1 lit. f DSGVO i. V. m. Art. 5 Abs. 2 und Art. 7 Abs. 1 DSGVO).`,
    retentionErasure:
      'Wenn Sie die Löschung verlangen, löschen wir Ihre Daten unverzüglich (Art. 17 DSGVO). Wir behalten einen pseudonymen Sperreintrag ohne Ihre Nummer, ohne zeitliche Begrenzung, damit wir Sie nicht erneut kontaktieren, es sei denn, Sie melden sich selbst wieder an oder schreiben uns, sowie die pseudonymen Einwilligungsnachweise für die oben genannte Dauer. Ein Widerspruch gegen einen Zweck, der keine Einwilligung braucht, bleibt ebenso pseudonym und ohne zeitliche Begrenzung gespeichert, damit er weiter gilt. Trotz der Löschung behalten wir den Sperreintrag aus unserem berechtigten Interesse, Sie nicht gegen Ihren Willen zu kontaktieren (Art. 6 Abs. 1 lit. f DSGVO), einen Widerspruch, damit wir ihn weiter beachten (Art. 21 Abs. 1 DSGVO bei einem Zweck, der auf unserem berechtigten Interesse beruht, sonst unser berechtigtes Interesse, Ihren Wunsch zu achten, Art. 6 Abs. 1 lit. f DSGVO), und die Einwilligungsnachweise, um Rechtsansprüche abwehren zu können (Art. 17 Abs. 3 lit. e DSGVO).',
    rights: 'Ihre Rechte und wie Sie sie ausüben',
    rightsIntro: 'Diese Rechte können Sie jederzeit kostenlos ausüben:',
    rightStop: (k) =>
      `Einwilligung widerrufen (Art. 7 Abs. 3 DSGVO) und der Verarbeitung zur Direktwerbung widersprechen (Art. 21 Abs. 2 DSGVO): Antworten Sie im Chat mit ${k}. Der Widerruf wirkt sofort für die Zukunft; die Rechtmäßigkeit der bis dahin erfolgten Verarbeitung bleibt unberührt. Sie erhalten eine Bestätigung.`,
    stopEndsOthers: (k, names) =>
      `${k} beendet auch die Nachrichten, die wir Ihnen ohne Einwilligung senden (${names}).`,
    rightAccess: (k) =>
      k
        ? `Auskunft und Kopie Ihrer Daten (Art. 15 und 20 DSGVO): Antworten Sie im Chat mit ${k} oder kontaktieren Sie uns unter der oben genannten Adresse.`
        : 'Auskunft und Kopie Ihrer Daten (Art. 15 und 20 DSGVO): Kontaktieren Sie uns unter der oben genannten Adresse.',
    rightErasure: (k) =>
      k
        ? `Löschung (Art. 17 DSGVO): Antworten Sie im Chat mit ${k} oder kontaktieren Sie uns unter der oben genannten Adresse.`
        : 'Löschung (Art. 17 DSGVO): Kontaktieren Sie uns unter der oben genannten Adresse.',
    rightOthers:
      'Berichtigung (Art. 16 DSGVO) und Einschränkung der Verarbeitung (Art. 18 DSGVO): Kontaktieren Sie uns unter der oben genannten Adresse.',
    objection: 'Ihr Widerspruchsrecht (Art. 21 DSGVO)',
    objectionInterest:
      'Soweit wir Ihre Daten auf Grundlage unseres berechtigten Interesses verarbeiten (Art. 6 Abs. 1 lit. f DSGVO), haben Sie das Recht, aus Gründen, die sich aus Ihrer besonderen Situation ergeben, jederzeit Widerspruch einzulegen. Wir verarbeiten Ihre Daten dann nicht mehr, es sei denn, wir können zwingende schutzwürdige Gründe nachweisen, die Ihre Interessen, Rechte und Freiheiten überwiegen, oder die Verarbeitung dient der Geltendmachung, Ausübung oder Verteidigung von Rechtsansprüchen (Art. 21 Abs. 1 DSGVO).',
    objectionMarketing: (k) =>
      `Soweit wir Ihre Daten zur Direktwerbung verarbeiten, haben Sie das Recht, jederzeit Widerspruch einzulegen; wir verarbeiten sie dann nicht mehr für diesen Zweck (Art. 21 Abs. 2 und 3 DSGVO). Für den Widerspruch antworten Sie im Chat mit ${k} oder kontaktieren uns unter der oben genannten Adresse.`,
    objectionInOwnWords:
      'Um nur der Werbung zu widersprechen, können Sie es uns im Chat auch mit eigenen Worten schreiben, etwa „Bitte keine Werbung mehr“: Die Werbung endet sofort, die übrigen Nachrichten laufen weiter.',
    provision:
      'Sie sind weder gesetzlich noch vertraglich verpflichtet, uns Ihre Telefonnummer bereitzustellen. Ohne sie können wir nicht über WhatsApp mit Ihnen kommunizieren; weitere Folgen hat das nicht (Art. 13 Abs. 2 lit. e DSGVO).',
    complaint: 'Beschwerde bei einer Aufsichtsbehörde',
    complaintText: 'Sie haben das Recht, sich bei einer Datenschutz-Aufsichtsbehörde zu beschweren (Art. 77 DSGVO).',
    authority: 'Zuständige Behörde',
    email: 'E-Mail',
    phone: 'Telefon',
    noticeVersion: 'Version des Hinweises',
  },
};

/** The labels the page uses for each lawful basis, for callers that show them elsewhere. */
export function lawfulBasisText(basis: string, language: Language): string {
  return TEXTS[language].basis[basis as LawfulBasis] ?? basis;
}

const STYLE = [
  'body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fff}',
  'main{max-width:46rem;margin:0 auto;padding:1.5rem 1rem 3rem}',
  'h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}',
  'table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.4rem;text-align:left;vertical-align:top}',
  'nav{text-align:right}address{font-style:normal}small{color:#555}',
].join('');

/** The sentence naming what else a STOP ends (order updates under a contract, say), or nothing. */
function stopEndsOthers(t: PageTexts, keyword: string, input: PolicyPageInput): string {
  const ends = new Set(input.stopEnds ?? []);
  const names = input.purposes
    .filter((purpose) => ends.has(purpose.id) && effectiveBasis(purpose) !== 'consent')
    .map((purpose) => purpose.labels?.[input.language]?.trim() || purpose.label || purpose.id);
  return names.length > 0 ? ` ${t.stopEndsOthers(keyword, names.join(', '))}` : '';
}

export function renderPolicyPage(input: PolicyPageInput): string {
  const t = TEXTS[input.language];
  const s = input.settings;
  const other: Language = input.language === 'de' ? 'en' : 'de';
  const stopKeyword = s.stopKeyword?.trim() || 'STOP';
  const sections = [
    section(t.controller, contactBlock(t, s.controllerName, s.controllerAddress, s.controllerEmail, s.controllerPhone)),
    section(t.dpo, s.dpoName || s.dpoEmail ? contactBlock(t, s.dpoName, undefined, s.dpoEmail) : p(t.noDpo)),
    section(
      t.dataCollected,
      `${list(t.dataItems.map(escapeHtml))}${p(t.dataNotKept)}${p(t.provision)}${p(t.noAutomatedDecisions)}`,
    ),
    section(t.purposes, `${purposeTable(t, input.purposes, input.language)}${p(t.answeringMessages)}`),
    section(t.recipients, recipients(t, s)),
    section(t.storage, p(s.storageLocation?.trim() ? s.storageLocation : t.storageUnknown)),
    section(t.retention, retention(t, input.retention)),
    section(
      t.rights,
      `${p(t.rightsIntro)}${list([
        escapeHtml(`${t.rightStop(stopKeyword)}${stopEndsOthers(t, stopKeyword, input)}`),
        escapeHtml(t.rightAccess(keywordForPage(s.accessKeyword, input.language))),
        escapeHtml(t.rightErasure(keywordForPage(s.eraseKeyword, input.language))),
        escapeHtml(t.rightOthers),
      ])}`,
    ),
    // Art. 21(4): brought to the person's attention clearly and separately from any other information.
    section(
      t.objection,
      `${input.purposes.some((d) => effectiveBasis(d) === 'legitimate-interest') ? p(t.objectionInterest) : ''}${p(
        t.objectionMarketing(stopKeyword),
      )}${input.objectInOwnWords && input.purposes.some((d) => d.marketing === true) ? p(t.objectionInOwnWords) : ''}`,
    ),
    section(t.complaint, `${p(t.complaintText)}${authority(t, s)}`),
  ];
  return [
    '<!DOCTYPE html>',
    `<html lang="${input.language}">`,
    '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">',
    `<title>${escapeHtml(t.title)}</title><style>${STYLE}</style></head>`,
    '<body><main>',
    `<nav><a href="?lang=${other}" hreflang="${other}" lang="${other}">${escapeHtml(t.otherLanguage)}</a></nav>`,
    `<h1>${escapeHtml(t.title)}</h1>`,
    p(t.intro),
    ...sections,
    input.noticeVersion
      ? `<p><small>${escapeHtml(t.noticeVersion)}: ${escapeHtml(input.noticeVersion)}</small></p>`
      : '',
    '</main></body></html>',
  ].join('\n');
}

/**
 * The erase or access keyword to name on a page in `language`: of a list, the first written in that language, so that
 * an English reader is not told to type DATEN LÖSCHEN; else what is configured, as it is (what the flow listens for).
 */
function keywordForPage(configured: string | undefined, language: Language): string | undefined {
  const text = configured?.trim();
  if (!text) return undefined;
  const own = text
    .split(/[,\n]/)
    .map((k) => k.trim())
    .find((k) => k.length > 0 && keywordLanguage(k) === language);
  return own ?? text;
}

function section(title: string, body: string): string {
  return `<section><h2>${escapeHtml(title)}</h2>${body}</section>`;
}

function p(text: unknown): string {
  return `<p>${escapeHtml(text)}</p>`;
}

/** Items must already be escaped. */
function list(items: readonly string[]): string {
  return `<ul>${items.map((i) => `<li>${i}</li>`).join('')}</ul>`;
}

function multiline(text: string): string {
  return text
    .split(/\r?\n/)
    .map((line) => escapeHtml(line.trim()))
    .filter((line) => line.length > 0)
    .join('<br>');
}

function contactBlock(t: PageTexts, name?: string, address?: string, email?: string, phone?: string): string {
  const lines: string[] = [];
  if (name?.trim()) lines.push(`<strong>${escapeHtml(name.trim())}</strong>`);
  if (address?.trim()) lines.push(multiline(address));
  if (email?.trim()) {
    const mail = email.trim();
    const link = /^[^\s@<>"']+@[^\s@<>"']+$/.test(mail)
      ? `<a href="mailto:${escapeHtml(mail)}">${escapeHtml(mail)}</a>`
      : escapeHtml(mail);
    lines.push(`${escapeHtml(t.email)}: ${link}`);
  }
  if (phone?.trim()) lines.push(`${escapeHtml(t.phone)}: ${escapeHtml(phone.trim())}`);
  return `<address>${lines.join('<br>')}</address>`;
}

/** The text in the page's language, else English, else any. */
function inLanguage(texts: Partial<Record<string, string>> | undefined, language: Language): string {
  return texts?.[language] || texts?.en || Object.values(texts ?? {}).find(Boolean) || '';
}

function purposeTable(t: PageTexts, purposes: readonly PolicyPurpose[], language: Language): string {
  if (purposes.length === 0) return p(t.noPurposes);
  const rows = purposes.map((purpose) => {
    const wording = inLanguage(purpose.wording, language);
    const name = purpose.labels?.[language]?.trim() || purpose.label || purpose.id;
    const label = `${escapeHtml(name)}${purpose.marketing ? ` <small>(${escapeHtml(t.marketingNote)})</small>` : ''}`;
    const interest = effectiveBasis(purpose) === 'legitimate-interest' ? inLanguage(purpose.interest, language) : '';
    const basis = escapeHtml(lawfulBasisText(effectiveBasis(purpose), language));
    const pursued = interest ? `<br>${escapeHtml(t.interestPursued)}: ${escapeHtml(interest)}` : '';
    // Quoted: a wording is what she agrees to, often in her words ("I would like …"), not the business describing it.
    const quoted = wording ? (language === 'de' ? `„${wording}“` : `“${wording}”`) : '';
    return `<tr><td>${label}</td><td>${escapeHtml(quoted)}</td><td>${basis}${pursued}</td></tr>`;
  });
  return `<table><thead><tr><th>${escapeHtml(t.purposeColumn)}</th><th>${escapeHtml(t.wordingColumn)}</th><th>${escapeHtml(
    t.basisColumn,
  )}</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function recipients(t: PageTexts, s: PolicySettings): string {
  const items = [escapeHtml(t.meta), escapeHtml(t.whatsappOwn)];
  if (s.providerName?.trim()) {
    const address = s.providerAddress?.trim() ? `<br>${multiline(s.providerAddress)}` : '';
    items.push(`${escapeHtml(t.provider(s.providerName.trim()))}${address}`);
  }
  return `${list(items)}${p(t.transfers)}`;
}

function retention(t: PageTexts, r: PolicyRetention): string {
  const items: string[] = [];
  if (isPositive(r.pendingExpiryHours)) items.push(t.retentionPending(r.pendingExpiryHours));
  if (isPositive(r.withdrawnPersonalDataDays)) {
    const days = r.withdrawnPersonalDataDays;
    // The sweep's figure (at least 30 days), as the access export states it.
    items.push(t.retentionWithdrawn(days, removedPurposeEndDays(days * DAY_MS)));
  }
  if (isPositive(r.auditRetentionYears)) items.push(t.retentionAudit(r.auditRetentionYears));
  items.push(t.retentionErasure);
  return list(items.map(escapeHtml));
}

function isPositive(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0;
}

function authority(t: PageTexts, s: PolicySettings): string {
  const name = s.authorityName?.trim();
  const url = s.authorityUrl?.trim();
  if (!name && !url) return '';
  const safeUrl = url && /^https?:\/\/[^\s<>"']+$/i.test(url) ? url : undefined;
  const label = escapeHtml(name || url);
  const shown = safeUrl ? `<a href="${escapeHtml(safeUrl)}">${label}</a>` : label;
  return `<p>${escapeHtml(t.authority)}: ${shown}</p>`;
}
