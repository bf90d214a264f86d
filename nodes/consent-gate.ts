import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { LedgerHandle } from '../lib/consent/threaded-ledger';
import type { SubjectInput } from '../lib/consent/types';
import { decideGate, gatePurpose, isFreeFormMessage } from '../lib/conversation/gate';
import { outgoingRecipient } from '../lib/conversation/national-numbers';
import { type ConsentStoreNode, findConsentStore, ledgerOf } from './consent-store';
import { catchableError, translateError } from './shared/i18n';
import { type Migration, migrate, savedConfigSettings, withDefaults } from './shared/migrations';
import { statusOf, throttledStatus } from './shared/status';

export const CONSENT_GATE_DEFAULTS = {
  purpose: '',
  allowMsgPurpose: false,
  checkServiceWindow: false,
  consentLanguage: false,
};
export const consentGateMigrations: readonly Migration[] = [withDefaults(CONSENT_GATE_DEFAULTS)];

interface ConsentGateDef extends NodeDef {
  configVersion?: number;
  store: string;
  purpose: string;
  allowMsgPurpose: boolean;
  checkServiceWindow: boolean;
  /** Adds msg.consent.language, the language she consented in (one more read per passed message: off by default). */
  consentLanguage: boolean;
}

type GateMessage = NodeMessageInFlow & { to?: unknown; whatsapp?: unknown; purpose?: unknown; consent?: unknown };

/** What is wrong with the purpose set in the node, known at deploy: none, or one the store does not have. */
function deployedPurposeProblem(
  config: ConsentGateDef,
  store: ConsentStoreNode | undefined,
): { key: 'purpose-missing' | 'purpose-unknown'; params: Record<string, string> } | undefined {
  if (!config.purpose) return config.allowMsgPurpose ? undefined : { key: 'purpose-missing', params: {} };
  if (!store || store.purposes.some((p) => p.id === config.purpose)) return undefined;
  const known = store.purposes.map((p) => p.id).join(', ');
  return { key: 'purpose-unknown', params: { purpose: config.purpose, purposes: known } };
}

/**
 * The language of the consent she gave ("SUBSCRIBE" from a German number: English), for a flow that words the message
 * after the gate: the number's country may not be her language.
 */
async function consentLanguageOf(
  ledger: LedgerHandle,
  subject: SubjectInput,
  purpose: string,
): Promise<{ language?: string }> {
  const language = (await ledger.getConsent(subject, purpose))?.language;
  return typeof language === 'string' && language.length > 0 ? { language } : {};
}

/**
 * consent-gate: output 1 passes messages whose recipient holds a valid consent for the purpose; output 2
 * gets the others with msg.consent = {status, reason, purpose, detail} (and the store for outside-service-window,
 * whose consent holds) and a send.blocked audit event (Art. 7(1): the business must be able to show why it did not
 * write). Every check reads the ledger, so a withdrawal
 * is honoured by the very next message, on every instance that shares the store.
 */
export default function registerConsentGate(RED: NodeAPI): void {
  function ConsentGate(this: Node, saved: ConsentGateDef): void {
    RED.nodes.createNode(this, saved);
    const config = migrate<ConsentGateDef>(saved, consentGateMigrations);
    const store = findConsentStore(RED, config.store);
    const actor = `consent-gate:${this.id}`;
    let passed = 0;
    let blocked = 0;
    const counts = throttledStatus(this);
    // Deployed past the dialog's checks (an import, a store whose purpose was renamed): every message would be
    // blocked or fail, while the node showed a green 'ready'.
    const purposeProblem = deployedPurposeProblem(config, store);
    if (purposeProblem) this.warn(RED._(`consent-gate.warn.${purposeProblem.key}`, purposeProblem.params));

    const showCounts = () =>
      counts.show(() => {
        const text = RED._('consent-gate.status.counts', { passed, blocked });
        // The purpose's problem stays on show: every message is blocked or fails until it is mended.
        if (purposeProblem) {
          const problem = RED._(`consent-gate.status.${purposeProblem.key}`, purposeProblem.params);
          return statusOf('broken', `${problem} · ${text}`);
        }
        return statusOf(blocked > 0 ? 'waiting' : 'ready', text);
      });

    ledgerOf(store).then(
      () =>
        this.status(
          purposeProblem
            ? statusOf('broken', RED._(`consent-gate.status.${purposeProblem.key}`, purposeProblem.params))
            : statusOf('ready', RED._('consent-gate.status.ready')),
        ),
      (err: unknown) => this.status(statusOf('broken', translateError(RED, err))),
    );

    this.on('input', async (input, send, done) => {
      const msg = input as GateMessage;
      try {
        const purpose = gatePurpose(msg.purpose, config.purpose, config.allowMsgPurpose === true);
        // Passed on, or blocked, in international form. A number that is none fails before the store is asked: a
        // store that cannot answer would turn the caller's own mistake into "try again".
        const subject = await outgoingRecipient(msg, store?.defaultCountry, () => ledgerOf(store));
        const ledger = await ledgerOf(store);
        const check = await ledger.checkConsent(subject, purpose);
        const window =
          config.checkServiceWindow && check.allowed && isFreeFormMessage(msg.payload)
            ? { payload: msg.payload, lastInboundAt: await ledger.lastInboundAt(subject), now: Date.now() }
            : undefined;
        const decision = decideGate(check, window);
        if (decision.pass) {
          // Batched inside the ledger: no write per message on the hot path.
          ledger.markUsed(subject, purpose);
          // whatsapp-send checks again when the message leaves its queue: a STOP may arrive while it waits there.
          msg.consent = {
            status: decision.status,
            purpose,
            store: config.store,
            ...(config.consentLanguage === true ? await consentLanguageOf(ledger, subject, purpose) : {}),
          };
          passed += 1;
          send([msg, null]);
        } else {
          await ledger.recordBlocked(subject, purpose, decision.reason, actor);
          // Outside the service window the consent holds and the flow sends a template instead: like output 1's
          // message, that template carries the store, so whatsapp-send takes it as consented to (a marketing template
          // too) and checks the consent again when it leaves the queue.
          const consentHolds = decision.reason === 'outside-service-window';
          msg.consent = {
            status: decision.status,
            reason: decision.reason,
            purpose,
            detail: decision.detail,
            ...(consentHolds ? { store: config.store } : {}),
          };
          blocked += 1;
          send([null, msg]);
        }
        showCounts();
        done();
      } catch (err) {
        this.status(statusOf('failed', translateError(RED, err)));
        done(catchableError(RED, err));
      }
    });

    this.on('close', () => {
      counts.cancel();
    });
  }

  RED.nodes.registerType('consent-gate', ConsentGate as never, {
    settings: savedConfigSettings('consent-gate', consentGateMigrations),
  });
}
