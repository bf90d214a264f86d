import type { Request, Response } from 'express';
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { GdprWhatsAppError } from '../lib/errors';
import { type DedupeStore, MemoryDedupeStore } from '../lib/webhook/dedupe';
import { handleWebhookPost, WebhookError } from '../lib/webhook/handler';
import { answerVerification } from '../lib/webhook/verify';
import { removeRoutes } from './shared/http-routes';
import { translateError } from './shared/i18n';
import { eventPayload, inboundPayload, statusPayload } from './shared/messages';
import { migrate } from './shared/migrations';
import { WHATSAPP_WEBHOOK_DEFAULTS, whatsappWebhookMigrations } from './shared/migrations/whatsapp-webhook';
import {
  captureRawBodyFor,
  RawBodyError,
  type RawBodyRequest,
  readRawBody,
  releaseRawBodyCapture,
} from './shared/raw-body';
import { statusOf } from './shared/status';
import {
  type ConsentStoreLike,
  positiveInteger,
  type WhatsAppConfigNode,
  type WhatsAppWebhookDef,
} from './shared/types';

/** A webhook path as the editor validates it: starts with "/", no query, no whitespace. */
const WEBHOOK_PATH = /^\/[^\s?#]*$/;

export default function registerWhatsAppWebhook(RED: NodeAPI): void {
  function WhatsAppWebhook(this: Node, saved: WhatsAppWebhookDef): void {
    RED.nodes.createNode(this, saved);
    const config = migrate<WhatsAppWebhookDef>(saved, whatsappWebhookMigrations);
    const path = String(config.path ?? '').trim();
    const whatsapp = RED.nodes.getNode(config.whatsapp) as WhatsAppConfigNode | null;
    const store = config.store ? (RED.nodes.getNode(config.store) as ConsentStoreLike | null) : null;
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

    /** The consent ledger keeps de-duplication marks durable across restarts and instances, when there is one. */
    function dedupeStore(): DedupeStore {
      const ledger = store?.ledger;
      return ledger && typeof ledger.markSeen === 'function' ? (ledger as DedupeStore) : memoryDedupe;
    }

    const verify = (req: Request, res: Response) => {
      const answer = answerVerification(req.query as Record<string, unknown>, whatsapp.verifyToken());
      res.status(answer.status).type('text/plain').send(answer.body);
    };

    const receive = (req: Request, res: Response) => {
      rawBodyOf(req as unknown as RawBodyRequest, maxBytes)
        .then((rawBody) =>
          handleWebhookPost({
            rawBody,
            signatureHeader: req.get('x-hub-signature-256'),
            appSecret: whatsapp.appSecret(),
            maxBytes,
            minimise,
            dedupe: dedupeStore(),
          }),
        )
        .then((result) => {
          // 200 only now: every de-duplication mark is durable (handleWebhookPost resolved).
          res.status(200).type('text/plain').send('OK');
          const messages: NodeMessage[] = result.messages.map((m) => ({ payload: inboundPayload(m), whatsapp: m }));
          const statuses: NodeMessage[] = result.statuses.map((s) => ({ payload: statusPayload(s), whatsapp: s }));
          const events: NodeMessage[] = result.events.map((e) => ({ payload: eventPayload(e), whatsapp: e }));
          if (messages.length + statuses.length + events.length > 0) {
            this.send([messages, statuses, events] as unknown as NodeMessage[]);
          }
          this.status(statusOf('ready', path));
        })
        .catch((err: unknown) => {
          if (err instanceof WebhookError) {
            res.status(err.httpStatus).type('text/plain').send(String(err.httpStatus));
            // A refused POST is someone else's mistake or an attack: a warning, not a flow error.
            this.warn(translateError(RED, err));
            this.status(statusOf('failed', `${err.httpStatus} ${err.code}`));
            return;
          }
          res.status(500).type('text/plain').send('500');
          this.error(translateError(RED, err));
          this.status(statusOf('broken', RED._('whatsapp-webhook.status.error')));
        });
    };

    RED.httpNode.get(path, verify);
    RED.httpNode.post(path, receive);
    whatsapp.registerWebhook({ id: this.id, path });
    this.status(statusOf('ready', path));

    this.on('close', (done: () => void) => {
      removeRoutes(RED.httpNode, new Set([verify, receive]));
      releaseRawBodyCapture(RED.httpNode, path, this.id);
      whatsapp.unregisterWebhook({ id: this.id, path });
      this.status({});
      done();
    });
  }

  RED.nodes.registerType('whatsapp-webhook', WhatsAppWebhook as never);
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

function refusal(err: RawBodyError, maxBytes: number): WebhookError {
  return err.httpStatus === 413
    ? new WebhookError(413, 'webhook-too-large', `The webhook body is larger than ${maxBytes} bytes`, { maxBytes })
    : new WebhookError(400, 'webhook-body-incomplete', 'The webhook body was not received completely');
}
