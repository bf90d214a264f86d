import type { Request, Response } from 'express';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import { assertValidMessageBody, toMessageBody } from '../lib/cloud-api/schemas';
import type { SubjectRef } from '../lib/consent/types';
import { mentionsOptOut, nothingLeftToStop } from '../lib/conversation/footer';
import { isFreeFormMessage } from '../lib/conversation/gate';
import { chooseLanguage } from '../lib/conversation/language';
import { outgoingRecipient } from '../lib/conversation/national-numbers';
import {
  NoticeTracker,
  noticeLinksPolicy,
  noticesWithoutLink,
  noticeVersion,
  OWN_POLICY_PATH,
  type OwnAddressSettings,
  renderNoticeTexts,
  resolvePolicyUrl,
} from '../lib/conversation/notice';
import {
  choosePolicyLanguage,
  missingPolicyFacts,
  type PolicySettings,
  renderPolicyPage,
} from '../lib/conversation/policy-page';
import { parsePurposeList } from '../lib/conversation/stop';
import { GdprWhatsAppError } from '../lib/errors';
import { findConsentStore, ledgerOf, showStoreProblems } from './consent-store';
import { removeRoutes } from './shared/http-routes';
import { catchableError, translateError } from './shared/i18n';
import { type Migration, migrate, savedConfigSettings, withDefaults } from './shared/migrations/index';
import { runningNodesOfStore } from './shared/siblings';
import { statusOf } from './shared/status';

interface PrivacyNoticeDef extends NodeDef, PolicySettings {
  configVersion?: number;
  store: string;
  language?: string;
  noticeEn?: string;
  noticeDe?: string;
  /** Public address of the full policy (what {policyUrl} in the notice becomes). */
  policyUrl?: string;
  servePage?: boolean;
  pagePath?: string;
}

export const DEFAULT_POLICY_PATH = '/privacy';
export const POLICY_PATH_PATTERN = /^\/[A-Za-z0-9\-._~/]*$/;

export const PRIVACY_NOTICE_MIGRATIONS: readonly Migration[] = [
  withDefaults({ language: 'auto', pagePath: DEFAULT_POLICY_PATH }),
];

type FlowMessage = NodeMessageInFlow & {
  to?: unknown;
  whatsapp?: unknown;
  language?: unknown;
  consent?: unknown;
  /** The notice this message goes after: whatsapp-send checks it is on record as shown (not undone) when it leaves. */
  afterPrivacyNotice?: { version: string; store: string; noticeSaysHowToStop?: true; stopEndsNothing?: true };
};

type Middleware = (req: Request, res: Response, next: (err?: unknown) => void) => void;

/**
 * Node-RED's optional httpNodeMiddleware (settings.js) runs before node routes, as for `http in`: one function or an
 * array of them (21-httpin.js takes both). A deployment may guard its node routes with it, so none is left out.
 */
function nodeMiddleware(RED: NodeAPI): Middleware[] {
  const middleware = (RED.settings as unknown as { httpNodeMiddleware?: unknown }).httpNodeMiddleware;
  if (typeof middleware === 'function') return [middleware as Middleware];
  return Array.isArray(middleware) ? (middleware.flat(Number.POSITIVE_INFINITY) as Middleware[]) : [];
}

/** Shown to visitors in their language when the page cannot be built (the cause goes to the Node-RED log). */
const POLICY_UNAVAILABLE = {
  en: 'The privacy policy cannot be shown right now. Please try again later.',
  de: 'Die Datenschutzerklärung kann gerade nicht angezeigt werden. Bitte versuchen Sie es später erneut.',
};

function answerUnavailable(res: Response, language: 'en' | 'de', status: 500 | 503): void {
  res
    .status(status)
    .set({ 'Content-Language': language, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache' })
    .type('text/plain; charset=utf-8')
    .send(POLICY_UNAVAILABLE[language]);
}

/**
 * privacy-notice (Art. 13 GDPR): sits inline before whatsapp-send. The first free-form message to
 * a person (and the first after the notice text changed) is preceded, on the same output, by the
 * short notice; the notice is recorded as shown once emitted. Later messages pass untouched.
 * Also serves the full policy page on Node-RED's HTTP server.
 */
/** Whether a whatsapp-config on the flows talks to Meta's Cloud API (real customers), not the sandbox. */
function cloudNumberDeployed(RED: NodeAPI): boolean {
  let cloud = false;
  RED.nodes.eachNode((def) => {
    const config = def as NodeDef & { mode?: unknown; d?: unknown };
    if (config.type === 'whatsapp-config' && config.mode === 'cloud' && config.d !== true) cloud = true;
  });
  return cloud;
}

/**
 * The purposes a STOP keyword ends, as the store's running stop-handler nodes are set (an empty or unknown list: all),
 * so that the policy page can say what else STOP ends (Art. 12(1), 13 GDPR: order updates under a contract, say).
 */
function stopScope(RED: NodeAPI, storeId: string, purposes: readonly { id: string }[]): string[] {
  const ids = new Set<string>();
  for (const handler of runningNodesOfStore(RED, 'stop-handler', storeId)) {
    const listed = parsePurposeList(handler.purposes as string | undefined).filter((id) =>
      purposes.some((p) => p.id === id),
    );
    for (const id of listed.length > 0 ? listed : purposes.map((p) => p.id)) ids.add(id);
  }
  return [...ids];
}

/** Whether a running stop-handler of the store ends advertising alone on an objection in her own words. */
function objectsInOwnWords(RED: NodeAPI, storeId: string): boolean {
  return runningNodesOfStore(RED, 'stop-handler', storeId).some((handler) => handler.marketingObjections === true);
}

/** As the dialog checks it: a full web address, or a path of this Node-RED's own. */
const WEB_URL = /^https?:\/\/[^\s<>"']+$/i;

function isPolicyAddress(url: string): boolean {
  return WEB_URL.test(url) || OWN_POLICY_PATH.test(url);
}

export default function privacyNoticeNode(RED: NodeAPI): void {
  function PrivacyNotice(this: Node, saved: PrivacyNoticeDef) {
    // createNode needs the original object: the runtime hides the node's flow in a non-enumerable property.
    RED.nodes.createNode(this, saved);
    const config = migrate<PrivacyNoticeDef>(saved, PRIVACY_NOTICE_MIGRATIONS);
    const node = this;
    const store = findConsentStore(RED, config.store);
    // A path links this Node-RED's own page on its own port (an imported example); a full address is used as it is.
    const givenPolicyUrl = String(config.policyUrl ?? '').trim();
    const policyUrl = resolvePolicyUrl(givenPolicyUrl, RED.settings as unknown as OwnAddressSettings);
    const templates = { en: config.noticeEn, de: config.noticeDe };
    const texts = renderNoticeTexts(templates, policyUrl);
    // The version names the notice as configured: a path stays the same page wherever this Node-RED listens (another
    // port, host or https setting, instances behind a load balancer), and must not show everyone the notice again.
    const version = noticeVersion(policyUrl === givenPolicyUrl ? texts : renderNoticeTexts(templates, givenPolicyUrl));
    const needsUrl = !policyUrl && noticeLinksPolicy(templates);
    // Settings deployed past the editor's checks (the admin API, a flow saved with errors, or saved before a contact
    // was required): the page would lack the controller's identity or contact details (Art. 13(1)(a) GDPR) or the
    // storage location. It is not served then. Messages still go: the policy URL may well be the business's own page,
    // and a notice is no reason to stop answering customers.
    const servesPage = config.servePage !== false && Boolean(RED.httpNode);
    const missingFacts = servesPage ? missingPolicyFacts(config) : [];
    const actor = `privacy-notice:${node.id}`;
    let tracker: NoticeTracker | undefined;
    let shown = 0;

    if (!store) node.status(statusOf('broken', RED._('privacy-notice.status.no-store')));
    else if (needsUrl) node.status(statusOf('broken', RED._('privacy-notice.status.no-policy-url')));
    else if (missingFacts.length > 0) node.status(statusOf('broken', RED._('privacy-notice.status.page-incomplete')));
    else node.status(statusOf('idle', RED._('privacy-notice.status.ready', { version })));
    if (missingFacts.length > 0) {
      // Once, at deploy: each visit of the page answers 503 without another log line.
      const missing = missingFacts.map((fact) => RED._(`privacy-notice.missing.${fact}`)).join(', ');
      node.error(RED._('privacy-notice.errors.page-incomplete', { missing }));
    }
    if (policyUrl !== givenPolicyUrl && noticeLinksPolicy(templates)) {
      // Fine for the sandbox; a real customer's phone cannot open this Node-RED's own address: with a number in
      // cloud mode on the flows, that is a warning.
      const text = RED._('privacy-notice.log.own-address', { url: policyUrl });
      if (cloudNumberDeployed(RED)) node.warn(text);
      else node.log(text);
    }
    if (givenPolicyUrl && !isPolicyAddress(givenPolicyUrl) && noticeLinksPolicy(templates)) {
      // Deployed past the editor's check: „www.shop.de/datenschutz“ may not become a link on every phone.
      node.warn(RED._('privacy-notice.log.policy-url-not-web', { url: givenPolicyUrl.slice(0, 200) }));
    }
    for (const language of noticesWithoutLink(templates)) {
      node.warn(RED._('privacy-notice.log.no-link', { language }));
    }
    showStoreProblems(node, RED, store);

    /** The tracker of the store's current ledger: after its thread stopped, the store opens a new one. */
    async function trackerOf(): Promise<NoticeTracker> {
      const ledger = await ledgerOf(store);
      if (tracker?.ledger !== ledger) tracker = new NoticeTracker(ledger, version, actor);
      return tracker;
    }

    /** She opted out of everything the store has (nothingLeftToStop): the opt-out line would tell her to again. */
    async function stopEndsNothing(subject: SubjectRef): Promise<boolean> {
      const ledger = await ledgerOf(store);
      return nothingLeftToStop(
        await Promise.all(ledger.purposeIds().map((purpose) => ledger.checkConsent(subject, purpose))),
      );
    }

    async function handle(msg: FlowMessage, send: (msg: NodeMessage) => void): Promise<void> {
      if (needsUrl) {
        throw new GdprWhatsAppError(
          'missing-policy-url',
          'The privacy notice links to the policy, but no policy URL is set',
        );
      }
      // A number written nationally is read in the store's country, as at consent-gate, and passed on internationally.
      const subject = await outgoingRecipient(msg, store?.defaultCountry, () => ledgerOf(store));
      // A message sent again (after privacy-notice-not-delivered) is judged by this pass alone.
      delete msg.afterPrivacyNotice;
      // A message whatsapp-send would refuse fails here, before a notice is sent or recorded for it.
      assertValidMessageBody(toMessageBody(subject.phone ?? subject.userId ?? '', msg.payload));
      const notices = await trackerOf();
      await notices.withDecision(subject, !isFreeFormMessage(msg.payload), async (decision) => {
        if (decision.action === 'show') {
          const language = chooseLanguage(msg.language, config.language, subject.phone ?? subject.userId);
          const notice: NodeMessage & Record<string, unknown> = {
            _msgid: RED.util.generateId(),
            payload: texts[language],
            language,
            // The store whatsapp-send tells when the notice could not be delivered, so that it is shown again.
            privacyNotice: { version, language, store: config.store },
            // whatsapp-send checks the consent again before the notice leaves its queue, as for the message.
            ...(msg.consent !== undefined ? { consent: msg.consent } : {}),
          };
          notice.to = subject.phone ?? subject.userId;
          send(notice);
          // whatsapp-send sends the message only while the notice is on record as shown: when the notice could not
          // be delivered, it is forgotten before the message's turn; when recording it failed, it is not on record.
          msg.afterPrivacyNotice = {
            version,
            store: config.store,
            // The notice just before it says how to stop: whatsapp-send's opt-out line would say it twice.
            ...(mentionsOptOut(texts[language]) ? { noticeSaysHowToStop: true } : {}),
          };
          try {
            // Nothing recorded for a person erased meanwhile: her message is judged as one without a notice.
            if (!(await notices.recordShown(subject))) delete msg.afterPrivacyNotice;
          } finally {
            // The notice is out: the message follows even when recording failed (the error still reaches done).
            send(msg);
          }
          shown += 1;
          node.status(statusOf('ready', RED._('privacy-notice.status.shown', { count: shown, version })));
          return;
        }
        // Seen: checked again when it leaves. Outside the window by the store's times: no notice could go, so the
        // message may not either (whatsapp-send refuses it unless a notice is on record by then); the times may be
        // stale (she wrote under another key), and Meta would deliver a message in an open window without the notice.
        if (
          decision.action === 'seen' ||
          (decision.action === 'defer' && decision.reason === 'outside-service-window')
        ) {
          msg.afterPrivacyNotice = {
            version,
            store: config.store,
            // She opted out of everything: whatsapp-send's "Reply STOP to unsubscribe" would tell her to do it again.
            ...((await stopEndsNothing(subject)) ? { stopEndsNothing: true } : {}),
          };
        }
        send(msg);
      });
    }

    node.on('input', (msg, send, done) => {
      handle(msg as FlowMessage, send as (msg: NodeMessage) => void).then(
        () => done(),
        (err: unknown) => {
          node.status(statusOf('failed', translateError(RED, err)));
          done(catchableError(RED, err));
        },
      );
    });

    const pagePath = String(config.pagePath || DEFAULT_POLICY_PATH).trim();
    if (config.servePage !== false && RED.httpNode) {
      if (!POLICY_PATH_PATTERN.test(pagePath)) {
        node.error(RED._('privacy-notice.errors.invalid-path'));
        return;
      }
      const servePolicyPage = (req: Request, res: Response) => {
        let language: 'en' | 'de' = config.language === 'de' ? 'de' : 'en';
        try {
          language = choosePolicyLanguage(req.query.lang, req.get('accept-language'), language);
          // Reported once at deploy: an incomplete policy is not shown.
          if (missingFacts.length > 0) {
            answerUnavailable(res, language, 503);
            return;
          }
          const html = renderPolicyPage({
            settings: config,
            purposes: store?.purposes ?? [],
            stopEnds: stopScope(RED, config.store, store?.purposes ?? []),
            objectInOwnWords: objectsInOwnWords(RED, config.store),
            retention: store?.retention ?? {},
            language,
            noticeVersion: version,
          });
          res.set({
            'Content-Type': 'text/html; charset=utf-8',
            'Content-Language': language,
            // No script, no external asset: the page must not hand visitors' data to anyone.
            'Content-Security-Policy':
              "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
            'X-Content-Type-Options': 'nosniff',
            'Referrer-Policy': 'no-referrer',
            Vary: 'Accept-Language',
            'Cache-Control': 'no-cache',
          });
          res.status(200).send(html);
        } catch (err) {
          node.error(translateError(RED, err));
          answerUnavailable(res, language, 500);
        }
      };
      RED.httpNode.get(pagePath, ...nodeMiddleware(RED), servePolicyPage);
      node.on('close', () => {
        // Node-RED keeps one httpNode app across deploys: remove the route or redeploys stack it.
        removeRoutes(RED.httpNode, new Set([servePolicyPage]));
      });
    }
  }

  RED.nodes.registerType('privacy-notice', PrivacyNotice, {
    settings: savedConfigSettings('privacy-notice', PRIVACY_NOTICE_MIGRATIONS),
  });
}
