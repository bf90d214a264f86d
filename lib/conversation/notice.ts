/**
 * The short privacy notice (Art. 13 GDPR: inform at the time data is first collected) that each
 * person sees before the first message we send them, and again whenever its wording changes.
 */
import { createHash } from 'node:crypto';
import { isWithinServiceWindow } from './gate';
import type { Language } from './language';
import type { SubjectRef } from './stop';

export const DEFAULT_NOTICE_TEXTS: Readonly<Record<Language, string>> = {
  en: 'Welcome! We use your phone number to send you the WhatsApp messages you asked for. Privacy policy: {policyUrl}. Reply STOP to unsubscribe.',
  de: 'Willkommen! Wir nutzen Ihre Telefonnummer, um Ihnen die gewünschten WhatsApp-Nachrichten zu senden. Datenschutzerklärung: {policyUrl}. Antworten Sie mit STOP, um sich abzumelden.',
};

export const NOTICE_LANGUAGES: readonly Language[] = ['en', 'de'];

/** The node's text for `language`, or the default when the node leaves it empty. */
function noticeTemplate(templates: Partial<Record<Language, string>>, language: Language): string {
  return templates[language]?.trim() || DEFAULT_NOTICE_TEXTS[language];
}

/** Where the policy's address goes, in any case: {policyURL} typed in a notice means it as plainly. */
const POLICY_URL_PLACEHOLDER = /\{policyurl\}/gi;

function linksPolicy(text: string): boolean {
  // search, not test: it ignores the global pattern's lastIndex.
  return text.search(POLICY_URL_PLACEHOLDER) !== -1;
}

/**
 * The languages whose own notice text links no policy: neither {policyUrl} nor an address written out. People reading
 * it would not learn where the full information is (Art. 13 GDPR).
 */
export function noticesWithoutLink(templates: Partial<Record<Language, string>>): Language[] {
  return NOTICE_LANGUAGES.filter((language) => {
    const own = templates[language]?.trim();
    return own !== undefined && own !== '' && !linksPolicy(own) && !/https?:\/\/|www\./i.test(own);
  });
}

/** The notice texts per language with the policy address filled in; empty node texts fall back to the defaults. */
export function renderNoticeTexts(
  templates: Partial<Record<Language, string>>,
  policyUrl: string,
): Record<Language, string> {
  const texts = {} as Record<Language, string>;
  for (const language of NOTICE_LANGUAGES) {
    texts[language] = noticeTemplate(templates, language).replace(POLICY_URL_PLACEHOLDER, () => policyUrl);
  }
  return texts;
}

/** What Node-RED's settings say about its own address (settings.js, or red.js's defaults and --port). */
export interface OwnAddressSettings {
  https?: unknown;
  uiHost?: unknown;
  uiPort?: unknown;
  serverPort?: unknown;
  httpNodeRoot?: unknown;
}

/** A policy URL given as a path on this Node-RED (`/privacy`, `/privacy?lang=de`): no scheme, no host. */
export const OWN_POLICY_PATH = /^\/(?!\/)[A-Za-z0-9\-._~/]*(?:\?[A-Za-z0-9\-._~=&%+]*)?$/;

/**
 * The policy address the notice links. A path is completed with this Node-RED's own address, as Node-RED prints it
 * when it starts ("Server now running at ..."), and httpNodeRoot: an imported example then links the page it serves
 * on whatever port Node-RED runs, where a fixed http://localhost:1880 led nowhere on 1881. Only this machine (and
 * the sandbox chat) reaches that address; customers on real phones need the public https address, given in full.
 */
export function resolvePolicyUrl(policyUrl: string, settings: OwnAddressSettings): string {
  if (!OWN_POLICY_PATH.test(policyUrl)) return policyUrl;
  const uiHost = typeof settings.uiHost === 'string' && settings.uiHost ? settings.uiHost : '0.0.0.0';
  const host = uiHost === '::' ? 'localhost' : uiHost === '0.0.0.0' ? '127.0.0.1' : uiHost;
  const port = settings.serverPort ?? settings.uiPort ?? 1880;
  const root = typeof settings.httpNodeRoot === 'string' ? settings.httpNodeRoot.replace(/\/+$/, '') : '';
  return `http${settings.https ? 's' : ''}://${host.includes(':') ? `[${host}]` : host}:${port}${root}${policyUrl}`;
}

/** True when a notice text links the policy through {policyUrl}, so the node cannot work without the URL. */
export function noticeLinksPolicy(templates: Partial<Record<Language, string>>): boolean {
  return NOTICE_LANGUAGES.some((language) => linksPolicy(noticeTemplate(templates, language)));
}

/**
 * The notice version: a short hash of every language's text as the person reads it (URL included),
 * so editing a text or moving the policy makes a new version and everyone sees it again.
 */
export function noticeVersion(texts: Readonly<Record<string, string>>): string {
  const canonical = JSON.stringify(
    Object.keys(texts)
      .sort()
      .map((language) => [language, texts[language]]),
  );
  return `v-${createHash('sha256').update(canonical, 'utf8').digest('hex').slice(0, 12)}`;
}

/** The part of the consent ledger the notice needs (lib/consent/ledger.ts ConsentLedger satisfies it). */
export interface NoticeLedger {
  hasSeenNotice(subject: SubjectRef, noticeVersion: string): Promise<boolean>;
  recordNoticeShown(
    subject: SubjectRef,
    noticeVersion: string,
    options: { messageId?: string; actor: string },
  ): Promise<unknown>;
  /** On the erasure list and not back since: neither signed up again nor written (ConsentLedger.isErasedAndGone). */
  isErasedAndGone(subject: SubjectRef): Promise<boolean>;
  /** When the person last wrote, as whatsapp-webhook with a consent store records it; undefined when not known. */
  lastInboundAt(subject: SubjectRef): Promise<number | undefined>;
}

export type NoticeDecision =
  /** The notice goes out first; record it with `recordShown` once emitted. */
  | { action: 'show'; version: string }
  /** This version was shown before: pass the message untouched. */
  | { action: 'seen'; version: string }
  /**
   * Not now: a template message (outside the 24-hour window a free-form notice would fail with
   * 131047), a person known to have last written more than 24 hours ago (the same: Meta accepts the notice and
   * reports the failure only later, in a status webhook; whatsapp-webhook then takes it off the record, but the
   * message behind it would be out already), or an
   * erased subject who has not written since the erasure (recording the notice would store data about them again;
   * one who wrote since came back, and is shown the notice).
   */
  | { action: 'defer'; version: string; reason: 'template' | 'outside-service-window' | 'suppressed' };

/**
 * Decides, per outgoing message, whether the notice must precede it. Calls for the same subject are
 * serialised, so two messages sent back to back produce one notice, not two.
 */
export class NoticeTracker {
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    readonly ledger: NoticeLedger,
    readonly version: string,
    private readonly actor: string,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * Runs `deliver` with the decision while holding the subject's turn; `deliver` emits the notice
   * (and the message) and the notice is recorded as shown before the next message of that subject
   * is decided.
   */
  async withDecision<T>(
    subject: SubjectRef,
    isTemplate: boolean,
    deliver: (decision: NoticeDecision) => T | Promise<T>,
  ): Promise<T> {
    const key = `${subject.phone ?? ''}\u0000${subject.userId ?? ''}`;
    const previous = this.queues.get(key) ?? Promise.resolve();
    const turn = previous
      .catch(() => undefined)
      .then(async () => {
        const decision = await this.decide(subject, isTemplate);
        return deliver(decision);
      });
    this.queues.set(key, turn);
    try {
      return await turn;
    } finally {
      // Only the last waiter clears the slot, so the map holds no subject longer than needed.
      if (this.queues.get(key) === turn) this.queues.delete(key);
    }
  }

  /** False when nothing was recorded (the person was erased meanwhile). */
  async recordShown(subject: SubjectRef, messageId?: string): Promise<boolean> {
    const recorded = await this.ledger.recordNoticeShown(subject, this.version, {
      ...(messageId ? { messageId } : {}),
      actor: this.actor,
    });
    return recorded !== false;
  }

  private async decide(subject: SubjectRef, isTemplate: boolean): Promise<NoticeDecision> {
    if (await this.ledger.hasSeenNotice(subject, this.version)) return { action: 'seen', version: this.version };
    if (await this.ledger.isErasedAndGone(subject))
      return { action: 'defer', version: this.version, reason: 'suppressed' };
    if (isTemplate) return { action: 'defer', version: this.version, reason: 'template' };
    // Unknown (a webhook without a store records no times): shown, as before; the window is Meta's to enforce.
    const lastInbound = await this.ledger.lastInboundAt(subject);
    if (lastInbound !== undefined && !isWithinServiceWindow(lastInbound, this.clock())) {
      return { action: 'defer', version: this.version, reason: 'outside-service-window' };
    }
    return { action: 'show', version: this.version };
  }
}
