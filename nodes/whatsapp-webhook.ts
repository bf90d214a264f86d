import type { Request, Response } from 'express';
import type { Node, NodeAPI, NodeMessage, NodeStatus } from 'node-red';
import { GdprWhatsAppError } from '../lib/errors';
import { type DedupeStore, MemoryDedupeStore, messageDedupeKey, statusDedupeKey } from '../lib/webhook/dedupe';
import { claimedKeys, completeClaims, handleWebhookPost, releaseClaims, WebhookError } from '../lib/webhook/handler';
import { changedTemplateNames } from '../lib/webhook/template-events';
import type { AccountEvent, MessageStatus } from '../lib/webhook/types';
import { answerVerification } from '../lib/webhook/verify';
import { findConsentStore, showStoreProblems } from './consent-store';
import { FirstHopCompletion } from './shared/completion';
import { removeRoutes } from './shared/http-routes';
import { translateError } from './shared/i18n';
import { eventPayload, inboundPayload, statusPayload } from './shared/messages';
import { migrate, savedConfigSettings } from './shared/migrations';
import { WHATSAPP_WEBHOOK_DEFAULTS, whatsappWebhookMigrations } from './shared/migrations/whatsapp-webhook';
import {
  bodyReadDeadline,
  captureRawBodyFor,
  RawBodyError,
  type RawBodyRequest,
  readRawBody,
  releaseRawBodyCapture,
} from './shared/raw-body';
import { statusOf } from './shared/status';
import { throttledWarning } from './shared/throttled-warning';
import { positiveInteger, type WhatsAppConfigNode, type WhatsAppWebhookDef } from './shared/types';

/**
 * What the ledger answers for a sender it cannot identify (a number no rules accept, a malformed user id): no
 * delivery can cure that. Any other error, such as a configured value the ledger refuses (invalid-input), is the
 * business's to fix: it answers 500, so that Meta delivers again and nothing the person asked for is dropped.
 */
const UNIDENTIFIABLE_SENDER_CODES = new Set(['invalid-phone', 'invalid-subject']);

/** A webhook path as the editor validates it: starts with "/", no query, no whitespace. */
const WEBHOOK_PATH = /^\/[^\s?#]*$/;
/** At most one warning about refused POSTs (forged signatures, oversized bodies) in this time. */
const REFUSAL_WARNING_INTERVAL_MS = 60_000;

/**
 * Meta sends the webhooks of every number of an app to one callback URL unless a number has its own: answers to
 * another number's customers would go out from this config's number, which the integrator must hear of.
 */
const OTHER_NUMBER_WARNING_MS = 60 * 60_000;

export default function registerWhatsAppWebhook(RED: NodeAPI): void {
  function WhatsAppWebhook(this: Node, saved: WhatsAppWebhookDef): void {
    RED.nodes.createNode(this, saved);
    const config = migrate<WhatsAppWebhookDef>(saved, whatsappWebhookMigrations);
    const path = String(config.path ?? '').trim();
    const whatsapp = RED.nodes.getNode(config.whatsapp) as WhatsAppConfigNode | null;
    const store = findConsentStore(RED, config.store);
    const maxBytes = positiveInteger(config.maxBytes, WHATSAPP_WEBHOOK_DEFAULTS.maxBytes);
    const minimise = config.minimise !== false;
    const memoryDedupe = new MemoryDedupeStore();

    if (!whatsapp) {
      this.error(RED._('whatsapp-webhook.errors.no-config'));
      this.status(statusOf('broken', RED._('whatsapp-webhook.status.no-config')));
      return;
    }
    if (!WEBHOOK_PATH.test(path)) {
      this.error(RED._('whatsapp-webhook.errors.invalid-path'));
      this.status(statusOf('broken', RED._('whatsapp-webhook.status.invalid-path')));
      return;
    }
    if (!captureRawBodyFor(RED.httpNode, path, maxBytes, this.id)) {
      this.error(RED._('whatsapp-webhook.errors.path-in-use', { path }));
      this.status(statusOf('broken', RED._('whatsapp-webhook.status.path-in-use')));
      return;
    }

    /**
     * The consent ledger keeps de-duplication marks durable across restarts and instances, when there is one.
     * It is awaited, so a webhook that arrives while the store is still opening is not checked against memory only.
     */
    async function dedupeStore(): Promise<DedupeStore> {
      return store ? store.getLedger() : memoryDedupe;
    }

    const completion = new FirstHopCompletion(RED);

    const verify = (req: Request, res: Response) => {
      const answer = answerVerification(req.query as Record<string, unknown>, whatsapp.verifyToken());
      res.status(answer.status).type('text/plain').send(answer.body);
    };

    /** Status shown last: at thousands of webhooks a second, repeating the same status costs real time. */
    let shown = '';
    const show = (status: NodeStatus) => {
      const key = `${status.fill}|${status.shape}|${status.text}`;
      if (key === shown) return;
      shown = key;
      this.status(status);
    };

    /** Refused POSTs are someone else's doing and may come by the thousand: one warning a minute, with a count. */
    const warnRefused = throttledWarning<string>(
      (text) => this.warn(text),
      REFUSAL_WARNING_INTERVAL_MS,
      (text, more) => (more > 0 ? RED._('whatsapp-webhook.warn.refused-more', { text, count: more }) : text),
      Date.now,
    );

    /**
     * A privacy notice Meta accepted and then reported failed did not reach the person: forgotten before the 200, so
     * that her next message is preceded by it again (Art. 13 GDPR). A confirmation request that failed so ends, so
     * that she may ask again at once.
     */
    const forgetFailedMessages = async (statuses: readonly MessageStatus[]) => {
      const failed = statuses.filter((s) => s.status === 'failed');
      if (!store || failed.length === 0) return;
      const ledger = await store.getLedger();
      const actor = `whatsapp-webhook:${this.id}`;
      await ledger.messagesFailed(
        failed.map((s) => s.messageId),
        { actor },
      );
      await ledger.requestsFailed(
        failed.map(({ messageId, recipient, userId }) => ({ messageId, recipient, userId })),
        { actor },
      );
    };

    /**
     * Meta changed a template's category or status: whatsapp-send looks its category up again before the next send
     * instead of trusting what it remembered for ten minutes (a template made MARKETING needs consent at once).
     * Templates belong to the business account, whose webhooks reach one callback URL: every configuration forgets
     * them, also one of another number of the account that has no webhook of its own (forgetting costs one lookup).
     */
    const forgetChangedTemplates = (events: readonly AccountEvent[]) => {
      const names = changedTemplateNames(events);
      if (names.length === 0) return;
      RED.nodes.eachNode((def) => {
        if (def.type !== 'whatsapp-config') return;
        (RED.nodes.getNode(def.id) as WhatsAppConfigNode | null)?.forgetTemplateCategories?.(names);
      });
    };

    /** Other numbers of the business whose webhooks came here, and when that was last said (once an hour each). */
    const otherNumbersWarned = new Map<string, number>();
    const warnOtherNumbers = (items: readonly { phoneNumberId?: string }[]) => {
      for (const { phoneNumberId } of items) {
        if (!phoneNumberId || phoneNumberId === whatsapp.phoneNumberId) continue;
        const last = otherNumbersWarned.get(phoneNumberId);
        if (last !== undefined && Date.now() - last < OTHER_NUMBER_WARNING_MS) continue;
        if (otherNumbersWarned.size >= 100) otherNumbersWarned.clear();
        otherNumbersWarned.set(phoneNumberId, Date.now());
        this.warn(RED._('whatsapp-webhook.warn.other-number', { number: phoneNumberId, own: whatsapp.phoneNumberId }));
      }
    };

    const receive = (req: Request, res: Response) => {
      let dedupe: DedupeStore | undefined;
      /** Claims taken for this POST and not completed yet: released when anything fails. */
      let open: string[] = [];
      let claimId: string | undefined;
      rawBodyOf(req as unknown as RawBodyRequest, maxBytes)
        .then(async (rawBody) => {
          const result = await handleWebhookPost({
            rawBody,
            signatureHeader: req.get('x-hub-signature-256'),
            appSecret: whatsapp.appSecret(),
            maxBytes,
            minimise,
            dedupe: async () => {
              dedupe = await dedupeStore();
              return dedupe;
            },
          });
          // Claiming also started each sender's 24-hour customer service window (consent-gate reads it).
          open = claimedKeys(result);
          claimId = result.claimId;
          return result;
        })
        .then(async (result) => {
          warnOtherNumbers(result.messages);
          await forgetFailedMessages(result.statuses);
          forgetChangedTemplates(result.events);
          const keyOf = new Map<NodeMessage, string>();
          const messages: NodeMessage[] = result.messages.map((m) => {
            const msg = { payload: inboundPayload(m), whatsapp: m };
            keyOf.set(msg, messageDedupeKey(m));
            return msg;
          });
          const statuses: NodeMessage[] = result.statuses.map((s) => {
            const msg = { payload: statusPayload(s), whatsapp: s };
            keyOf.set(msg, statusDedupeKey(s));
            return msg;
          });
          const events: NodeMessage[] = result.events.map((e) => ({ payload: eventPayload(e), whatsapp: e }));
          const unfinished =
            messages.length + statuses.length + events.length > 0
              ? await completion.sendAndWait(this, [messages, statuses, events])
              : [];
          // A sender nobody can identify fails the same way on every delivery: it counts as handled.
          const retry = unfinished.filter((u) => !UNIDENTIFIABLE_SENDER_CODES.has(String(codeOf(u.error))));
          const failed = new Set(retry.map((u) => keyOf.get(u.msg)));
          if (dedupe)
            await completeClaims(
              dedupe,
              open.filter((key) => !failed.has(key)),
              claimId,
            );
          open = open.filter((key) => failed.has(key));
          if (retry.length > 0) {
            // A wired node failed (e.g. stop-handler could not commit a withdrawal) or did not finish in time:
            // the 500 makes Meta deliver the POST again, and the released claims let those items through.
            throw new GdprWhatsAppError(
              'webhook-not-handled',
              `${retry.length} webhook items were not handled by the wired nodes; Meta will deliver them again`,
              { count: retry.length },
            );
          }
          if (result.inProgress > 0) {
            // Another delivery still holds these items: Meta retries a 503, by then they are done or released.
            answer(res, 503, '503 webhook-in-progress: another delivery of these items is being handled');
            show(statusOf('waiting', RED._('whatsapp-webhook.status.in-progress')));
            return;
          }
          // 200 only now: the wired nodes are done with the messages (a stop-handler's withdrawal is committed)
          // and every de-duplication mark and inbound time is durable, so a crash loses nothing acknowledged.
          answer(res, 200, 'OK');
          show(statusOf('ready', path));
        })
        .catch(async (err: unknown) => {
          if (dedupe && open.length > 0) await releaseClaims(dedupe, open, claimId);
          if (err instanceof WebhookError) {
            // Meta reads only the status; whoever tests the endpoint by hand is told why (the code and its English
            // text, which carry nothing of the body).
            answer(res, err.httpStatus, `${err.httpStatus} ${err.code}: ${err.message}`);
            // A refused POST is someone else's mistake or an attack: a warning, not a flow error.
            const text = translateError(RED, err);
            warnRefused(text);
            show(statusOf('failed', `${err.httpStatus}: ${text}`));
            return;
          }
          // A failure after the 200 (e.g. Node-RED cloning a message) must not answer twice: that throw would
          // become an unhandled rejection, which ends the Node-RED process.
          if (!res.headersSent) answer(res, 500, isNotHandled(err) ? `500 ${err.code}: ${err.message}` : '500');
          if (isNotHandled(err)) {
            // The wired node reported its own error already; this only says what happens next.
            const text = translateError(RED, err);
            this.warn(text);
            show(statusOf('failed', `500: ${text}`));
            return;
          }
          this.error(translateError(RED, err));
          show(statusOf('broken', RED._('whatsapp-webhook.status.error')));
        });
    };

    RED.httpNode.get(path, verify);
    RED.httpNode.post(path, receive);
    whatsapp.registerWebhook({ id: this.id, path });
    show(statusOf('ready', path));
    showStoreProblems({ status: show }, RED, store);
    // Said at deploy, not at Meta's first POST: without the app secret every webhook is refused, every STOP with it.
    if (!whatsapp.appSecret()) {
      this.error(RED._('whatsapp-webhook.errors.no-app-secret'));
      show(statusOf('broken', RED._('whatsapp-webhook.status.no-app-secret')));
    } else if (!whatsapp.verifyToken()) {
      this.warn(RED._('whatsapp-webhook.warn.no-verify-token'));
    }

    this.on('close', (done: () => void) => {
      completion.close();
      removeRoutes(RED.httpNode, new Set([verify, receive]));
      releaseRawBodyCapture(RED.httpNode, path, this.id);
      whatsapp.unregisterWebhook({ id: this.id, path });
      this.status({});
      done();
    });
  }

  RED.nodes.registerType('whatsapp-webhook', WhatsAppWebhook as never, {
    settings: savedConfigSettings('whatsapp-webhook', whatsappWebhookMigrations),
  });
}

/** A wired node failed or timed out: its count is all the message carries, no error of the node (which might). */
function isNotHandled(err: unknown): err is GdprWhatsAppError {
  return err instanceof GdprWhatsAppError && err.code === 'webhook-not-handled';
}

/**
 * A short plain-text answer written directly: Meta reads only the status, and express's send() (ETag, freshness,
 * charset handling) cost more than the rest of the answer at a thousand webhooks a second.
 */
function answer(res: Response, status: number, text: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    // A body that came too slowly is not read on: the connection ends with the answer.
    ...(status === 408 ? { Connection: 'close' } : {}),
  });
  res.end(text);
}

/**
 * The exact bytes Meta signed. Normally captured by the root-app middleware (shared/raw-body.ts);
 * when the request reached the route unread (no app in front parsed it) it is read here.
 */
async function rawBodyOf(req: RawBodyRequest, maxBytes: number): Promise<Buffer> {
  if (req.whatsappRawBodyError) throw refusal(req.whatsappRawBodyError, maxBytes);
  if (req.whatsappRawBody) return req.whatsappRawBody;
  const body = (req as unknown as { body?: unknown }).body;
  if (Buffer.isBuffer(body)) return body;
  if (!req._body && !req.readableEnded) {
    try {
      return await readRawBody(req, maxBytes);
    } catch (err) {
      throw err instanceof RawBodyError ? refusal(err, maxBytes) : err;
    }
  }
  // Something parsed the body before the capture middleware saw it: the signature cannot be checked.
  throw new GdprWhatsAppError(
    'webhook-raw-body-unavailable',
    'The webhook body was parsed by other middleware before its signature could be checked',
  );
}

/** The i18n code a wired node's error carries (catchableError keeps it on the Error). */
function codeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

function refusal(err: RawBodyError, maxBytes: number): WebhookError {
  if (err.httpStatus === 413) {
    return new WebhookError(413, 'webhook-too-large', `The webhook body is larger than ${maxBytes} bytes`, {
      maxBytes,
    });
  }
  if (err.httpStatus === 408) {
    return new WebhookError(408, 'webhook-too-slow', 'The webhook body did not arrive in time', {
      seconds: bodyReadDeadline.ms / 1000,
    });
  }
  if (err.httpStatus === 503) {
    return new WebhookError(
      503,
      'webhook-busy',
      'Too many webhook bodies are being received at once; Meta delivers again',
    );
  }
  return new WebhookError(400, 'webhook-body-incomplete', 'The webhook body was not received completely');
}
