import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from 'node-red';
import type { CloudApiClient } from '../lib/cloud-api/client';
import { toMessageBody } from '../lib/cloud-api/schemas';
import type { SubjectInput } from '../lib/consent/types';
import { gateSubject } from '../lib/conversation/gate';
import { assertTemplateMayGo } from '../lib/conversation/marketing-templates';
import { OptInTemplateWatch } from '../lib/conversation/opt-in-template';
import { GdprWhatsAppError } from '../lib/errors';
import { findConsentStore, withStoreLedger } from './consent-store';
import { catchableError, errorReport, translateError } from './shared/i18n';
import { withOptOutFooter } from './shared/messages';
import { migrate, savedConfigSettings } from './shared/migrations';
import { whatsappSendMigrations } from './shared/migrations/whatsapp-send';
import { statusOf } from './shared/status';
import type { WhatsAppConfigNode, WhatsAppSendDef } from './shared/types';

type WhatsAppFields = Record<string, unknown>;

function whatsappFieldsOf(msg: NodeMessage): WhatsAppFields {
  const fields = msg.whatsapp;
  return fields !== null && typeof fields === 'object' && !Array.isArray(fields)
    ? { ...(fields as WhatsAppFields) }
    : {};
}

/**
 * The inbound message a read receipt is for: msg.whatsapp.markRead as an id, or true for msg.whatsapp.messageId.
 * A typing indicator (msg.whatsapp.typing) goes with a read receipt: Meta shows it for the message read.
 */
function readReceiptTarget(fields: WhatsAppFields): string | undefined {
  const { messageId } = fields;
  const markRead = fields.markRead ?? (fields.typing === true ? true : undefined);
  if (typeof markRead === 'string' && markRead.length > 0) return markRead;
  if (markRead === true && typeof messageId === 'string' && messageId.length > 0) return messageId;
  if (markRead === true) {
    throw new GdprWhatsAppError('send-read-receipt-no-id', 'A read receipt needs msg.whatsapp.messageId');
  }
  return undefined;
}

function templateNameOf(body: { type?: unknown; template?: unknown }): string | undefined {
  const template = body.template as { name?: unknown } | undefined;
  return body.type === 'template' && typeof template?.name === 'string' ? template.name : undefined;
}

export default function registerWhatsAppSend(RED: NodeAPI): void {
  function WhatsAppSend(this: Node, saved: WhatsAppSendDef & { wires?: string[][] }): void {
    RED.nodes.createNode(this, saved);
    const node = this;
    const config = migrate<WhatsAppSendDef>(saved, whatsappSendMigrations);
    const whatsapp = RED.nodes.getNode(config.whatsapp) as WhatsAppConfigNode | null;
    // Unwired failure output: errors go to Catch nodes through done(err) instead.
    const failureOutputWired = (saved.wires?.[1]?.length ?? 0) > 0;
    let client: CloudApiClient | undefined;
    let lastErrorCode: string | number | undefined;
    /** Messages taken and not yet finished: a stop (a deploy, a shutdown) says how many it left behind. */
    let unfinished = 0;
    let shownStatus = '';
    const optInTemplates = new OptInTemplateWatch();

    function showStatus(): void {
      const queue = client?.stats().queueLength ?? 0;
      const marketingOptIn = optInTemplates.flagged().join(', ');
      // Called twice per message: translating first cost ~9% of a broadcast's CPU (bench/outbound.ts profile).
      const key = `${queue}|${lastErrorCode}|${marketingOptIn}`;
      if (key === shownStatus) return;
      shownStatus = key;
      let text =
        lastErrorCode === undefined
          ? RED._('whatsapp-send.status.queue', { queue })
          : RED._('whatsapp-send.status.queue-error', { queue, code: String(lastErrorCode) });
      if (marketingOptIn) text += RED._('whatsapp-send.status.opt-in-template-marketing', { template: marketingOptIn });
      const kind = lastErrorCode !== undefined ? 'failed' : marketingOptIn ? 'warning' : queue > 0 ? 'busy' : 'ready';
      node.status(statusOf(kind, text));
    }

    /**
     * The confirmation request of opt-in-flow goes whatever its template's category (it asks for the consent), but a
     * MARKETING one is priced and limited as advertising by Meta: the user is told, once, while the request goes. Not
     * awaited: the lookup must neither delay the request nor, when the template list fails, stop it.
     */
    function watchOptInTemplate(template: string, sender: CloudApiClient): void {
      void optInTemplates
        // The request goes whatever the answer: a list that does not answer is spared for a back-off.
        .check(template, (name) => sender.templateCategory(name, { backOff: true }))
        .then((finding) => {
          if ('marketing' in finding && finding.marketing && finding.warn) {
            node.warn(RED._('whatsapp-send.log.opt-in-template-marketing', { template }));
          }
          // Not a failed send (the request went): told here once, not in the status's last error.
          if ('unknown' in finding && finding.warn) {
            const reason = errorReport(RED, finding.error);
            node.warn(RED._('whatsapp-send.log.opt-in-template-unknown', { template, code: String(reason.code) }));
          }
          showStatus();
        });
    }

    if (!whatsapp) {
      node.status(statusOf('broken', RED._('whatsapp-send.status.no-config')));
    } else {
      // A configuration that cannot send shows at deploy, not at the first message (its log names every problem).
      whatsapp.client().catch((err: unknown) => node.status(statusOf('broken', translateError(RED, err))));
    }

    /**
     * A message that passed a consent-gate (msg.consent names the store and purpose) is checked again when it
     * leaves the send queue, where a broadcast message can wait for minutes: a STOP that arrived meanwhile
     * must stop it (Art. 7(3) GDPR), and the refusal is audited like the gate's.
     */
    function consentRecheck(msg: NodeMessage, to: SubjectInput): (() => Promise<void>) | undefined {
      const gate = (msg as { consent?: { store?: unknown; purpose?: unknown } }).consent;
      const storeId = gate?.store;
      const purpose = gate?.purpose;
      // By the store's id, not its node: one redeployed meanwhile is asked in its new copy, one gone fails the message.
      if (typeof storeId !== 'string' || typeof purpose !== 'string') return undefined;
      return async () => {
        const check = await withStoreLedger(RED, storeId, async (ledger) => {
          const found = await ledger.checkConsent(to, purpose);
          if (!found.allowed) await ledger.recordBlocked(to, purpose, found.status, `whatsapp-send:${node.id}`);
          return found;
        });
        if (check.allowed) return;
        throw new GdprWhatsAppError(
          'send-consent-ended',
          'The consent ended while the message waited to be sent, so it was not sent',
          { purpose, status: check.status },
        );
      };
    }

    /**
     * A message privacy-notice let pass (msg.afterPrivacyNotice names the notice version) goes only while the ledger
     * holds that notice as shown (Art. 13 GDPR): a notice that could not be delivered is forgotten before the next
     * message to the person leaves (the failure's undo runs in her turn, SendOptions.onFailure), so neither the
     * message behind it, nor one sent right after, nor the same message sent again later goes without it.
     */
    function noticeRecheck(msg: NodeMessage, to: SubjectInput): (() => Promise<void>) | undefined {
      const { afterPrivacyNotice: after, privacyNotice } = msg as {
        afterPrivacyNotice?: { version?: unknown; store?: unknown };
        privacyNotice?: unknown;
      };
      const storeId = after?.store;
      const version = after?.version;
      if (privacyNotice !== undefined || typeof storeId !== 'string' || typeof version !== 'string') return undefined;
      return async () => {
        if (await withStoreLedger(RED, storeId, (ledger) => ledger.hasSeenNotice(to, version))) return;
        throw new GdprWhatsAppError(
          'privacy-notice-not-delivered',
          'The privacy notice before this message could not be delivered, so the message was not sent either',
        );
      };
    }

    /**
     * A confirmation request opt-in-flow emitted goes only while it still waits for her answer: one she ended with a
     * STOP, or that an erasure took with her data, while it waited in the queue is not sent (Art. 17, Art. 21 GDPR).
     */
    function requestRecheck(msg: NodeMessage, to: SubjectInput): (() => Promise<void>) | undefined {
      if (!isConfirmationRequest(msg)) return undefined;
      const {
        purpose,
        store: storeId,
        requestedAt,
      } = (msg as { optIn: { purpose?: unknown; store?: unknown; requestedAt?: unknown } }).optIn;
      if (typeof purpose !== 'string' || typeof storeId !== 'string' || typeof requestedAt !== 'number')
        return undefined;
      return async () => {
        if (await withStoreLedger(RED, storeId, (ledger) => ledger.isRequestOpen(to, purpose, requestedAt))) return;
        throw new GdprWhatsAppError(
          'send-request-ended',
          'The consent request ended while it waited to be sent (a STOP, an erasure, a newer request, her answer, its expiry, or an earlier failed send of it), so it was not sent',
          { purpose },
        );
      };
    }

    /** The message passed a consent-gate for a marketing purpose; consentRecheck confirms the consent at the send. */
    function marketingConsent(msg: NodeMessage): boolean {
      const gate = (msg as { consent?: { store?: unknown; purpose?: unknown } }).consent;
      const store = typeof gate?.store === 'string' ? findConsentStore(RED, gate.store) : undefined;
      return store?.purposes.find((p) => p.id === gate?.purpose)?.marketing === true;
    }

    /** A confirmation request opt-in-flow emitted. */
    function isConfirmationRequest(msg: NodeMessage): boolean {
      return (msg as { optIn?: { outcome?: unknown } }).optIn?.outcome === 'requested';
    }

    /** The template opt-in-flow asks for a consent with, on the message it emitted for that. */
    function optInRequestTemplate(msg: NodeMessage): string | undefined {
      const optIn = (msg as { optIn?: { outcome?: unknown; template?: unknown } }).optIn;
      return optIn?.outcome === 'requested' && typeof optIn.template === 'string' ? optIn.template : undefined;
    }

    /** `forget` undoes what the ledger recorded for the message; the client runs it in the recipient's turn. */
    async function deliver(msg: NodeMessage, forget: (err: unknown) => Promise<void>): Promise<WhatsAppFields> {
      if (!whatsapp) throw new GdprWhatsAppError('config-missing', 'The node has no WhatsApp configuration');
      const fields = whatsappFieldsOf(msg);
      const readTarget = readReceiptTarget(fields);
      if (readTarget) {
        const typing = fields.typing === true;
        client = await whatsapp.client();
        await client.markRead(readTarget, typing);
        delete fields.markRead;
        delete fields.typing;
        // A read receipt has no message_status: one of an earlier send of this msg would be taken for its own.
        delete fields.messageStatus;
        return { ...fields, readReceipt: readTarget, ...(typing ? { typingIndicator: true } : {}) };
      }
      // The recipient is checked before the client is touched; the client validates the body before it leaves. A
      // person known by username only is sent to by business-scoped user id (msg.to, or the inbound message's).
      const subject = gateSubject(msg as { to?: unknown; whatsapp?: unknown });
      const to = subject.phone ?? (subject.userId as string);
      const body = withOptOutFooter(toMessageBody(to, msg.payload), {
        enabled: config.optOutFooter !== false,
        language: config.language,
        msg: msg as Record<string, unknown>,
        to,
      });
      client = await whatsapp.client();
      const sender = client;
      const context = { marketingConsent: marketingConsent(msg), optInRequestTemplate: optInRequestTemplate(msg) };
      const recheckSubject: SubjectInput = subject.phone ?? { userId: to };
      const consentCheck = consentRecheck(msg, recheckSubject);
      const noticeCheck = noticeRecheck(msg, recheckSubject);
      const requestCheck = requestRecheck(msg, recheckSubject);
      const requestTemplate = templateNameOf(body);
      if (requestTemplate !== undefined && requestTemplate === context.optInRequestTemplate) {
        watchOptInTemplate(requestTemplate, sender);
      }
      const templateCheck =
        body.type === 'template'
          ? () => assertTemplateMayGo(body, context, (name) => sender.templateCategory(name))
          : undefined;
      const pending = client.sendMessage(body, {
        // In the recipient's order: a message behind this one must not overtake it while the lookup waits.
        ...(templateCheck ? { check: templateCheck } : {}),
        ...(consentCheck || noticeCheck || requestCheck || templateCheck
          ? {
              beforeSend: async () => {
                // Again right before each attempt: Meta may have made the template a marketing one while this one
                // waited in the queue or for a retry (whatsapp-webhook then made the client forget its category).
                // Answered from memory unless forgotten, so it costs nothing otherwise.
                await templateCheck?.();
                await consentCheck?.();
                await noticeCheck?.();
                await requestCheck?.();
              },
            }
          : {}),
        onFailure: forget,
      });
      showStatus();
      const result = await pending;
      await rememberNoticeMessage(msg, result.messageId);
      await rememberRequestMessage(msg, result.messageId);
      // Who the message went to, not the inbound sender the flow may have carried along.
      return {
        ...fields,
        messageId: result.messageId,
        waId: result.waId,
        userId: result.userId,
        to,
        // Meta's message_status of a template: "accepted", or "held_for_quality_assessment" (may still be dropped).
        // Set even when absent, so that a message sent again does not carry the status of its previous send.
        messageStatus: result.messageStatus,
      };
    }

    /**
     * A notice Meta accepted may still fail (131026, 131047, ... in a status webhook): its message id lets
     * whatsapp-webhook forget it then. The notice went out, so a failure to record the id only warns.
     */
    async function rememberNoticeMessage(msg: NodeMessage, messageId: string | undefined): Promise<void> {
      const notice = (msg as { privacyNotice?: { version?: unknown; store?: unknown } }).privacyNotice;
      const storeId = notice?.store;
      const version = notice?.version;
      if (typeof storeId !== 'string' || typeof version !== 'string' || !messageId) return;
      const subject = gateSubject(msg as { to?: unknown; whatsapp?: unknown });
      try {
        await withStoreLedger(RED, storeId, (ledger) =>
          ledger.noticeSent(subject, version, messageId, { actor: `whatsapp-send:${node.id}` }),
        );
      } catch (err) {
        node.warn(translateError(RED, err));
      }
    }

    /**
     * A confirmation request opt-in-flow emitted went out as `messageId`: a "JA" quoting it confirms that request, and
     * one quoting another message confirms nothing (Art. 4(11) GDPR, an unambiguous indication). The request went out,
     * so a failure to record the id only warns: a reply then confirms as before, the request sent last.
     */
    async function rememberRequestMessage(msg: NodeMessage, messageId: string | undefined): Promise<void> {
      const optIn = (
        msg as { optIn?: { outcome?: unknown; purpose?: unknown; store?: unknown; requestedAt?: unknown } }
      ).optIn;
      if (optIn?.outcome !== 'requested' || !messageId) return;
      const { purpose, store: storeId, requestedAt } = optIn;
      if (typeof purpose !== 'string' || typeof storeId !== 'string' || typeof requestedAt !== 'number') return;
      const subject = gateSubject(msg as { to?: unknown; whatsapp?: unknown });
      try {
        await withStoreLedger(RED, storeId, (ledger) =>
          ledger.requestSent(subject, purpose, messageId, {
            requestedAt,
            actor: `whatsapp-send:${node.id}`,
            // The business number it went from: an answer that comes to another one answers nothing (Art. 7(1) GDPR).
            ...(whatsapp?.phoneNumberId ? { phoneNumberId: whatsapp.phoneNumberId } : {}),
          }),
        );
      } catch (err) {
        node.warn(translateError(RED, err));
      }
    }

    /**
     * What the ledger recorded for a message that then failed goes again: a privacy notice recorded as shown (outside
     * the 24-hour window, say) is shown before the person's next message (Art. 13 GDPR), and a confirmation request
     * that was not sent lets her ask again at once. A failure that may have reached her (a timeout, a bare 502: the
     * error's `deliveryUnknown`) keeps the request: her YES to a request that did arrive must not be answered
     * "expired", and one that did not arrive only makes her wait minutes to ask again. The notice is forgotten even
     * then: shown twice is harmless, never shown is not.
     */
    async function forgetUndelivered(msg: NodeMessage, failure: unknown): Promise<void> {
      const { privacyNotice: notice, optIn } = msg as {
        privacyNotice?: { version?: unknown; store?: unknown };
        optIn?: { outcome?: unknown; purpose?: unknown; store?: unknown; requestedAt?: unknown };
      };
      const actor = `whatsapp-send:${node.id}`;
      if (typeof notice?.version === 'string' && typeof notice.store === 'string') {
        const version = notice.version;
        const subject = gateSubject(msg as { to?: unknown; whatsapp?: unknown });
        await withStoreLedger(RED, notice.store, (ledger) => ledger.noticeNotDelivered(subject, version, { actor }));
      }
      const mayHaveArrived = (failure as { deliveryUnknown?: unknown } | undefined)?.deliveryUnknown === true;
      if (mayHaveArrived) return;
      if (optIn?.outcome === 'requested' && typeof optIn.purpose === 'string' && typeof optIn.store === 'string') {
        const purpose = optIn.purpose;
        const requestedAt = typeof optIn.requestedAt === 'number' ? optIn.requestedAt : undefined;
        const subject = gateSubject(msg as { to?: unknown; whatsapp?: unknown });
        await withStoreLedger(RED, optIn.store, (ledger) =>
          ledger.requestNotDelivered(subject, purpose, {
            actor,
            ...(requestedAt === undefined ? {} : { requestedAt }),
          }),
        );
      }
    }

    node.on(
      'input',
      (msg: NodeMessageInFlow, send: (msgs: (NodeMessage | null)[]) => void, done: (err?: Error) => void) => {
        // Once, whoever asks first: the client in the recipient's turn, or the failure below (one before the client).
        let forgetting: Promise<void> | undefined;
        const forget = (failure: unknown) => {
          forgetting ??= forgetUndelivered(msg, failure).catch((err: unknown) => node.warn(translateError(RED, err)));
          return forgetting;
        };
        const failed = (err: unknown) => forget(err).then(() => err);
        unfinished += 1;
        deliver(msg, forget)
          .finally(() => {
            unfinished -= 1;
          })
          .then(
            (fields) => {
              msg.whatsapp = fields;
              showStatus();
              send([msg, null]);
              done();
            },
            (sendError: unknown) =>
              failed(sendError).then((err: unknown) => {
                const report = errorReport(RED, err);
                // A confirmation request that failed has ended (forgetUndelivered), so that she may ask again at once:
                // the same message sent again would only fail with send-request-ended. A new one comes from opt-in-flow.
                if (isConfirmationRequest(msg) && report.deliveryUnknown !== true) report.retryable = false;
                lastErrorCode = report.code;
                showStatus();
                if (failureOutputWired) {
                  msg.error = report;
                  send([null, msg]);
                  done();
                  return;
                }
                // Node-RED hands a Catch node the error's message, code and cause: the cause carries msg.error's report
                // (retryAfterMs, deliveryUnknown), which output 2 would have carried.
                // Node-RED's debug sidebar shows a cause as text: a readable one, not "[object Object]".
                const cause = Object.defineProperty({ ...report }, 'toString', {
                  value: () => `${report.code}: ${report.title}`,
                  enumerable: false,
                });
                done(Object.assign(catchableError(RED, err), { code: report.code, cause }));
              }),
          );
      },
    );

    // Whatever it left behind, the flow no longer hears of: a deploy that restarts the WhatsApp configuration too
    // drops its queue, and the outcome of a message still on its way goes nowhere. Said, so that nobody wonders.
    node.on('close', () => {
      if (unfinished > 0) node.warn(RED._('whatsapp-send.log.stopped-with-unsent', { count: unfinished }));
    });
  }

  RED.nodes.registerType('whatsapp-send', WhatsAppSend as never, {
    settings: savedConfigSettings('whatsapp-send', whatsappSendMigrations),
  });
}
