import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { LedgerHandle } from '../lib/consent/threaded-ledger';
import { typedText } from '../lib/conversation/dsr';
import { KEYWORD_MAX_LENGTH, overlongKeywords } from '../lib/conversation/keywords';
import { chooseLanguage, type Language } from '../lib/conversation/language';
import type { AlsoAsks } from '../lib/conversation/marketing-objection';
import { settleNamedNumber } from '../lib/conversation/national-numbers';
import {
  marketingPurposeIds,
  objectionReplyText,
  objectionTargets,
  parsePurposeList,
  recogniseStopSignal,
  type StopSignal,
  signUpKeywordFor,
  staffWithdrawalOf,
  stillEndedByStop,
  stopReplyText,
  stopRulesFrom,
  type WithdrawalOutcome,
  type WithdrawalScope,
  whatStopEnded,
  withdrawForSignal,
  withdrawForStaff,
} from '../lib/conversation/stop';
import { findConsentStore, ledgerOf, showStoreProblems } from './consent-store';
import { catchableError, translateError } from './shared/i18n';
import { type Migration, migrate, savedConfigSettings, withDefaults } from './shared/migrations/index';
import { runningNodesOfStore } from './shared/siblings';
import { statusOf, throttledStatus } from './shared/status';

interface StopHandlerDef extends NodeDef {
  configVersion?: number;
  store: string;
  /** Opt-out keywords, comma or newline separated; empty = DEFAULT_STOP_KEYWORDS (STOP counts either way). */
  keywords?: string;
  helpKeywords?: string;
  /** Button payloads / reply ids that opt out. */
  optOutPayload?: string;
  /** Purposes a STOP withdraws; empty = all. */
  purposes?: string;
  language?: string;
  confirmationEn?: string;
  confirmationDe?: string;
  helpEn?: string;
  helpDe?: string;
  /** Keywords that sign a person up again, named in the confirmation; empty: an opt-in-flow's, if one signs up by keyword. */
  signUpKeyword?: string;
  /** Whether "Bitte keine Werbung mehr" and the like withdraw the marketing purposes; on for new nodes. */
  marketingObjections?: boolean;
  objectionEn?: string;
  objectionDe?: string;
}

/** A node saved before marketingObjections keeps flagging such messages for a person, as it did. */
export const STOP_HANDLER_MIGRATIONS: readonly Migration[] = [
  withDefaults({ language: 'auto', marketingObjections: false }),
];

type FlowMessage = NodeMessageInFlow & {
  whatsapp?: unknown;
  withdraw?: unknown;
  requestedBy?: unknown;
  language?: unknown;
  to?: string;
  stop?: Record<string, unknown>;
  optOutFooter?: boolean;
};

/** What a STOP or an objection asks for besides ("STOP and delete my data"), for msg.stop. */
function alsoAsksOf(signal: StopSignal): { alsoAsks?: AlsoAsks } {
  return 'alsoAsks' in signal && signal.alsoAsks ? { alsoAsks: signal.alsoAsks } : {};
}

/**
 * stop-handler: opt-out keywords and buttons withdraw consent (Art. 7(3) GDPR) durably before the
 * confirmation leaves on output 1; HELP is answered on output 1; Meta's marketing opt-out signals
 * withdraw the marketing purposes silently (the person can no longer receive marketing, and a
 * confirmation would itself be one) and leave on output 2 with msg.stop; everything else passes
 * through output 2 unchanged, and a message whose opt-out was acted on leaves there too when it also
 * asks for her data.
 */
export default function stopHandlerNode(RED: NodeAPI): void {
  function StopHandler(this: Node, saved: StopHandlerDef) {
    // createNode needs the original object: the runtime hides the node's flow in a non-enumerable property.
    RED.nodes.createNode(this, saved);
    const config = migrate<StopHandlerDef>(saved, STOP_HANDLER_MIGRATIONS);
    const node = this;
    const store = findConsentStore(RED, config.store);
    const rules = stopRulesFrom(config);
    // The dialog refuses them; a flow imported or saved before that still runs, without them.
    const overlong = [...overlongKeywords(config.keywords), ...overlongKeywords(config.helpKeywords)];
    if (overlong.length > 0) {
      const keywords = overlong.map((k) => (k.length > 40 ? `${k.slice(0, 39)}…` : k)).join(', ');
      node.warn(RED._('stop-handler.warn.keywords-too-long', { max: KEYWORD_MAX_LENGTH, keywords }));
    }
    const configured = parsePurposeList(config.purposes);
    // A purpose renamed or removed in the store since this node was set up must not make every STOP fail (the
    // webhook would answer 500 for days and nobody would be unsubscribed): such ids are left out, with a warning,
    // and when none is left the STOP withdraws every purpose, the safe side.
    const unknownPurposes = configured?.filter((id) => !store?.purposes.some((p) => p.id === id)) ?? [];
    const known = configured?.filter((id) => !unknownPurposes.includes(id));
    const purposes = known && known.length > 0 ? known : undefined;
    if (store && unknownPurposes.length > 0) {
      node.warn(RED._('stop-handler.warn.unknown-purposes', { purposes: unknownPurposes.join(', ') }));
    }
    const texts = {
      stop: { en: config.confirmationEn, de: config.confirmationDe },
      help: { en: config.helpEn, de: config.helpDe },
      objection: { en: config.objectionEn, de: config.objectionDe },
    };
    const marketingPurposes = marketingPurposeIds(store?.purposes ?? []);
    const consentPurposes = (store?.purposes ?? []).filter((p) => p.lawfulBasis === 'consent').map((p) => p.id);
    const actor = `stop-handler:${node.id}`;
    const scope: WithdrawalScope = { purposes, marketingPurposes, consentPurposes, actor };
    let withdrawals = 0;
    const counter = throttledStatus(node);

    node.status(
      store
        ? statusOf('idle', RED._('stop-handler.status.ready'))
        : statusOf('broken', RED._('stop-handler.status.no-store')),
    );
    showStoreProblems(node, RED, store);

    /** The number, or the business-scoped user id of a person Meta names by username only. */
    const replyTo = (msg: FlowMessage, subject: { phone?: string; userId?: string }): void => {
      const address = subject.phone ?? subject.userId;
      if (address) msg.to = address;
    };

    /**
     * The keyword that signs her up again after this STOP: the node's own, else the start keywords of an opt-in-flow of
     * the same store that signs up by keyword (in one step, or by a request it answers) for a purpose this STOP
     * withdraws. Looked up at each STOP, as the flows
     * are now.
     */
    const signUpKeyword = (language: Language): string | undefined => {
      const optIns = config.signUpKeyword?.trim()
        ? []
        : runningNodesOfStore(RED, 'opt-in-flow', config.store).filter(
            (optIn) =>
              (optIn.allowSingleStep === true || optIn.confirmStartKeyword === true) &&
              (purposes === undefined || purposes.includes(String(optIn.purpose ?? '').trim())),
          );
      return signUpKeywordFor(
        language,
        config.signUpKeyword,
        optIns.map((optIn) => (typeof optIn.startKeywords === 'string' ? optIn.startKeywords : undefined)),
      );
    };

    // In the language of what she typed or tapped, when it says one: "Unsubscribe" from a German number, in English.
    const languageFor = (msg: FlowMessage, signal: Extract<StopSignal, { subject: unknown }>): Language =>
      chooseLanguage(msg.language, config.language, signal.subject.phone ?? signal.subject.userId, typedText(msg));

    /** She withdrew by e-mail, letter or phone, and staff record it: nothing is sent to her. */
    async function recordStaffWithdrawal(
      msg: FlowMessage,
      send: (msgs: (NodeMessageInFlow | null)[]) => void,
    ): Promise<void> {
      const withdrawal = staffWithdrawalOf(msg, store?.defaultCountry);
      const ledger = await ledgerOf(store);
      withdrawal.subject = await settleNamedNumber(ledger, withdrawal.subject, withdrawal);
      const outcome = await withdrawForStaff(ledger, withdrawal, actor);
      withdrawals += 1;
      counter.show(() => statusOf('ready', RED._('stop-handler.status.withdrawn', { count: withdrawals })));
      msg.stop = { kind: 'stop', channel: 'admin', ...outcome };
      send([null, msg]);
    }

    /** "Understood: you will receive no more advertising from us (Newsletter)." */
    async function answerObjection(
      msg: FlowMessage,
      signal: Extract<StopSignal, { kind: 'marketing-objection' }>,
      outcome: WithdrawalOutcome,
      ledger: LedgerHandle,
    ): Promise<void> {
      const language = languageFor(msg, signal);
      replyTo(msg, signal.subject);
      // A withdrawal of her consent names every purpose it ended; an objection to advertising the marketing ones.
      const ended = signal.reach === 'every-consent' ? objectionTargets(signal, scope) : undefined;
      const othersToEnd = await stillEndedByStop(ledger, signal.subject, store?.purposes ?? [], purposes, ended);
      msg.payload = objectionReplyText(language, texts.objection, store?.purposes ?? [], othersToEnd, ended);
      msg.language = language;
      // Like a STOP's confirmation: the answer says what ended, and the STOP sentence when a STOP would end more.
      msg.optOutFooter = false;
      msg.stop = {
        kind: 'marketing-objection',
        phrase: signal.phrase,
        reach: signal.reach,
        language,
        ...outcome,
        ...alsoAsksOf(signal),
      };
    }

    /**
     * The message as it came, for output 2, when it also asks to erase or to see her data ("Keine Werbung mehr und
     * löschen Sie meine Daten"): erase-subject and a person answer that part. It carries the opt-out's msg.stop.
     */
    const passedOnWith = (original: FlowMessage | undefined, answer: FlowMessage): FlowMessage | null => {
      if (!original) return null;
      original.stop = answer.stop;
      return original;
    };

    async function handle(msg: FlowMessage, send: (msgs: (NodeMessageInFlow | null)[]) => void): Promise<void> {
      if (msg.withdraw !== undefined) {
        await recordStaffWithdrawal(msg, send);
        return;
      }
      const signal = recogniseStopSignal(msg.whatsapp, rules);
      const original = alsoAsksOf(signal).alsoAsks ? (RED.util.cloneMessage(msg) as FlowMessage) : undefined;
      switch (signal.kind) {
        case 'none':
          send([null, msg]);
          return;
        case 'possible-opt-out':
          // Not withdrawn: "Stop the delivery" is no opt-out. A switch on msg.stop.kind sends it to a person.
          msg.stop = { kind: 'possible-opt-out', hint: signal.hint };
          send([null, msg]);
          return;
        case 'help': {
          const language = languageFor(msg, signal);
          replyTo(msg, signal.subject);
          msg.payload = stopReplyText('help', language, texts.help);
          msg.language = language;
          msg.stop = { kind: 'help', keyword: signal.keyword, language };
          send([msg, null]);
          return;
        }
        case 'user-id-changed': {
          // Handled in full, like a number change: there is nothing to answer.
          const ledger = await ledgerOf(store);
          const linked = await ledger.linkUserId({
            previousUserId: signal.previousUserId,
            userId: signal.userId,
            actor,
          });
          // Unlinked, a STOP under the new id would not reach a consent given under the previous one.
          if (linked === 'separate') node.warn(RED._('stop-handler.log.user-id-separate'));
          else node.log(RED._(`stop-handler.log.user-id-${linked}`));
          return;
        }
        case 'marketing-objection':
          // Without a purpose it would end there is nothing to end: a person reads it.
          if (objectionTargets(signal, scope).length === 0) {
            msg.stop = { kind: 'possible-opt-out', hint: signal.hint };
            send([null, msg]);
            return;
          }
          break;
        case 'marketing-resume':
          // Meta's "resume" is not consent we can prove (Art. 7(1)): nothing is restored.
          msg.stop = { kind: 'marketing-resume', restored: [] };
          node.log(RED._('stop-handler.log.resume-ignored'));
          send([null, msg]);
          return;
        default:
          break;
      }
      const ledger = await ledgerOf(store);
      const outcome = await withdrawForSignal(ledger, signal, scope);
      withdrawals += 1;
      counter.show(() => statusOf('ready', RED._('stop-handler.status.withdrawn', { count: withdrawals })));
      if (signal.kind === 'number-changed') {
        // Handled in full: nobody is to be answered at the old number, so a bot behind output 2 must not see it.
        // Flows learn of the ended consents from consent-events (channel "whatsapp-number-change").
        node.log(RED._('stop-handler.log.number-changed', { count: outcome.withdrawn.length }));
        return;
      }
      if (outcome.sentBeforeNumberChange) {
        // Her opt-out is recorded where she is now (the ledger follows her); the number is someone else's.
        node.log(RED._('stop-handler.log.late-stop', { count: outcome.withdrawn.length }));
        return;
      }
      if (signal.kind === 'marketing-opt-out') {
        if (outcome.skipped === 'no-marketing-purpose') node.warn(RED._('stop-handler.warn.no-marketing-purpose'));
        msg.stop = { kind: 'marketing-opt-out', source: signal.source, ...outcome };
        send([null, msg]);
        return;
      }
      if (signal.kind === 'marketing-objection') {
        await answerObjection(msg, signal, outcome, ledger);
        send([msg, passedOnWith(original, msg)]);
        return;
      }
      const language = languageFor(msg, signal);
      replyTo(msg, signal.subject);
      msg.payload = stopReplyText(
        'stop',
        language,
        texts.stop,
        signUpKeyword(language),
        await whatStopEnded(ledger, signal, outcome, scope, store?.purposes ?? [], language),
      );
      msg.language = language;
      // The confirmation must not end with "Reply STOP to unsubscribe" (whatsapp-send's opt-out footer).
      msg.optOutFooter = false;
      msg.stop = {
        kind: 'stop',
        channel: signal.channel,
        keyword: signal.keyword,
        language,
        ...outcome,
        ...alsoAsksOf(signal),
      };
      send([msg, passedOnWith(original, msg)]);
    }

    node.on('close', () => counter.cancel());

    node.on('input', (msg, send, done) => {
      handle(msg as FlowMessage, send as (msgs: (NodeMessageInFlow | null)[]) => void).then(
        () => done(),
        (err: unknown) => {
          node.status(statusOf('failed', translateError(RED, err)));
          done(catchableError(RED, err));
        },
      );
    });
  }

  RED.nodes.registerType('stop-handler', StopHandler, {
    settings: savedConfigSettings('stop-handler', STOP_HANDLER_MIGRATIONS),
  });
}
