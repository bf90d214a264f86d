import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import { GdprWhatsAppError } from '../errors';
import { BodyError, parseUrl, readJsonBody, type SandboxRequest, sendJson } from './http-io';
import { MAX_CUSTOMER_TEXT, parseCustomerMessage } from './messages';
import type { Sandbox, SandboxUpdate } from './sandbox';

export interface ChatHandlerOptions {
  /** Where the page lives, e.g. '/chat/' standalone or '/whatsapp-gdpr/sandbox/' under Node-RED's admin root. */
  basePath: string;
  /** How long GET messages?since= waits for a change before it answers unchanged; default 25 s. */
  longPollMs?: number;
}

export type ChatHandler = (req: SandboxRequest, res: ServerResponse, next?: (error?: unknown) => void) => void;

const ASSETS: Record<string, { file: string; type: string }> = {
  '': { file: 'chat.html', type: 'text/html; charset=UTF-8' },
  'index.html': { file: 'chat.html', type: 'text/html; charset=UTF-8' },
  'chat.js': { file: 'chat.js', type: 'text/javascript; charset=UTF-8' },
  'chat.css': { file: 'chat.css', type: 'text/css; charset=UTF-8' },
};

/** The page and its scripts hold no data; everything else the chat handler serves does (and needs a login). */
export function isChatAsset(relativePath: string): boolean {
  return relativePath in ASSETS;
}

/**
 * The page is served on Node-RED's admin origin, where the editor's token lives in localStorage: a script injected
 * into it, or a click made in it while another site frames it, acts with the editor's rights. Its own files are all
 * it loads and all it talks to; no other site may frame it, and links it shows (URL buttons) carry no address.
 */
const ASSET_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'self'",
  'X-Frame-Options': 'SAMEORIGIN',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

const assetCache = new Map<string, Buffer>();

async function asset(file: string): Promise<Buffer> {
  let content = assetCache.get(file);
  if (!content) {
    content = await readFile(path.join(__dirname, 'public', file));
    assetCache.set(file, content);
  }
  return content;
}

function chatError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}

function stringParam(value: unknown, maxLength = 64): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= maxLength ? value : undefined;
}

function isJsonContentType(header: string | undefined): boolean {
  const type = String(header ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase();
  return type === 'application/json';
}

/**
 * Serves the chat page where a person plays the customer, and its JSON endpoints, relative to `basePath`:
 * GET numbers, GET conversations?phoneNumberId=, GET messages?phoneNumberId=&waId=&since= (long-poll),
 * POST send, POST marketing-preference. Works on a bare node:http server and mounted in an express app
 * (Node-RED's httpAdmin), where a body parser may already have read the JSON body.
 */
export function createChatHandler(sandbox: Sandbox, options: ChatHandlerOptions): ChatHandler {
  const basePath = options.basePath.endsWith('/') ? options.basePath : `${options.basePath}/`;
  const longPollMs = options.longPollMs ?? 25000;

  async function serve(req: SandboxRequest, res: ServerResponse, next?: (error?: unknown) => void): Promise<void> {
    const url = parseUrl(req);
    const mountedPath = parseUrl({ url: (req as { originalUrl?: string }).originalUrl ?? req.url } as SandboxRequest);
    // app.get() keeps the full path in req.url; app.use() strips the mount point.
    const relative =
      url.pathname === basePath.slice(0, -1)
        ? ''
        : url.pathname.startsWith(basePath)
          ? url.pathname.slice(basePath.length)
          : url.pathname.slice(1);
    const method = (req.method ?? 'GET').toUpperCase();

    if (relative === '' && method === 'GET' && !mountedPath.pathname.endsWith('/')) {
      // The page uses relative URLs: they only resolve below the base with its trailing slash.
      res.writeHead(302, { Location: `${mountedPath.pathname}/${url.search}`, 'Content-Length': 0 });
      res.end();
      return;
    }
    const assetEntry = ASSETS[relative];
    if (assetEntry && method === 'GET') {
      const content = await asset(assetEntry.file);
      res.writeHead(200, {
        'Content-Type': assetEntry.type,
        'Content-Length': content.length,
        'Cache-Control': 'no-cache',
        ...ASSET_HEADERS,
      });
      res.end(content);
      return;
    }
    const query = url.searchParams;
    if (relative === 'numbers' && method === 'GET') {
      sendJson(res, 200, { numbers: sandbox.numbers() });
    } else if (relative === 'conversations' && method === 'GET') {
      sendJson(res, 200, { conversations: sandbox.conversations(query.get('phoneNumberId') ?? '') });
    } else if (relative === 'messages' && method === 'GET') {
      await messages(req, res, query);
    } else if (relative === 'send' && method === 'POST') {
      await send(req, res);
    } else if (relative === 'marketing-preference' && method === 'POST') {
      await marketingPreference(req, res);
    } else if (relative === 'number-change' && method === 'POST') {
      await numberChange(req, res);
    } else if (relative === 'user-id-change' && method === 'POST') {
      await userIdChange(req, res);
    } else if (next) {
      next();
    } else {
      chatError(res, 404, 'sandbox-not-found', 'Not found');
    }
  }

  async function messages(req: SandboxRequest, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const phoneNumberId = query.get('phoneNumberId') ?? '';
    const waId = query.get('waId') ?? '';
    const since = Number(query.get('since'));
    if (query.has('since') && Number.isFinite(since) && since >= sandbox.conversationRevision(phoneNumberId, waId)) {
      await waitForChange(req, phoneNumberId, waId);
    }
    if (res.destroyed) return;
    const summary = sandbox.conversations(phoneNumberId).find((c) => c.waId === waId.replace(/\D/g, ''));
    sendJson(res, 200, {
      revision: sandbox.conversationRevision(phoneNumberId, waId),
      conversation: summary ?? null,
      messages: sandbox.conversation(phoneNumberId, waId),
    });
  }

  function waitForChange(req: SandboxRequest, phoneNumberId: string, waId: string): Promise<void> {
    const digits = waId.replace(/\D/g, '');
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sandbox.off('update', onUpdate);
        req.off('close', done);
        resolve();
      };
      const onUpdate = (update: SandboxUpdate) => {
        if (update.phoneNumberId === phoneNumberId && update.waId === digits) done();
      };
      const timer = setTimeout(done, longPollMs);
      sandbox.on('update', onUpdate);
      req.on('close', done);
    });
  }

  async function readBody(req: SandboxRequest, res: ServerResponse): Promise<Record<string, unknown> | undefined> {
    // A web page can post text/plain anywhere without asking the browser first (no CORS preflight); only a JSON
    // content type proves the request came from a script allowed to talk to this origin, as the chat page is.
    if (!isJsonContentType(req.headers['content-type'])) {
      chatError(res, 415, 'sandbox-invalid-request', 'The request must be sent as application/json');
      return undefined;
    }
    try {
      const body = await readJsonBody(req);
      if (body !== null && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
      chatError(res, 400, 'sandbox-invalid-request', 'The request needs a JSON object');
    } catch (error) {
      chatError(res, 400, 'sandbox-invalid-request', error instanceof BodyError ? error.message : 'Unreadable body');
    }
    return undefined;
  }

  async function send(req: SandboxRequest, res: ServerResponse): Promise<void> {
    const body = await readBody(req, res);
    if (!body) return;
    const phoneNumberId = stringParam(body.phoneNumberId);
    const waId = stringParam(body.waId);
    const message = parseCustomerMessage(body);
    if (typeof body.text === 'string' && body.text.length > MAX_CUSTOMER_TEXT) {
      chatError(
        res,
        400,
        'sandbox-text-too-long',
        `A WhatsApp text has at most ${MAX_CUSTOMER_TEXT} characters; this one has ${body.text.length}`,
      );
      return;
    }
    if (!phoneNumberId || !waId || !message) {
      chatError(
        res,
        400,
        'sandbox-invalid-message',
        'send needs phoneNumberId, waId and a text, buttonReply, listReply or quickReply',
      );
      return;
    }
    const name = typeof body.name === 'string' && body.name.trim() ? body.name.trim().slice(0, 100) : undefined;
    const contextMessageId = stringParam(body.contextMessageId, 256);
    const userId = stringParam(body.userId, 140);
    // Left out (the chat page never sends it), the customer's setting stays as it was.
    const hideNumber = typeof body.hideNumber === 'boolean' ? body.hideNumber : undefined;
    await answer(res, () =>
      sandbox.customerSends(phoneNumberId, { waId, name, userId, hideNumber }, message, { contextMessageId }),
    );
  }

  async function marketingPreference(req: SandboxRequest, res: ServerResponse): Promise<void> {
    const body = await readBody(req, res);
    if (!body) return;
    const phoneNumberId = stringParam(body.phoneNumberId);
    const waId = stringParam(body.waId);
    const value = body.value;
    if (!phoneNumberId || !waId || (value !== 'stop' && value !== 'resume')) {
      chatError(
        res,
        400,
        'sandbox-invalid-preference',
        'marketing-preference needs phoneNumberId, waId and value stop|resume',
      );
      return;
    }
    await answer(res, () => sandbox.customerOptsOutOfMarketing(phoneNumberId, waId, value));
  }

  async function numberChange(req: SandboxRequest, res: ServerResponse): Promise<void> {
    const body = await readBody(req, res);
    if (!body) return;
    const phoneNumberId = stringParam(body.phoneNumberId);
    const waId = stringParam(body.waId);
    const newWaId = stringParam(body.newWaId);
    if (!phoneNumberId || !waId || !newWaId) {
      chatError(res, 400, 'sandbox-invalid-number-change', 'number-change needs phoneNumberId, waId and newWaId');
      return;
    }
    await answer(res, () => sandbox.customerChangesNumber(phoneNumberId, waId, newWaId));
  }

  async function userIdChange(req: SandboxRequest, res: ServerResponse): Promise<void> {
    const body = await readBody(req, res);
    if (!body) return;
    const phoneNumberId = stringParam(body.phoneNumberId);
    const waId = stringParam(body.waId);
    const userId = stringParam(body.userId, 140);
    if (!phoneNumberId || !waId || !userId) {
      chatError(res, 400, 'sandbox-invalid-user-id-change', 'user-id-change needs phoneNumberId, waId and userId');
      return;
    }
    await answer(res, () => sandbox.customerChangesUserId(phoneNumberId, waId, userId));
  }

  async function answer(res: ServerResponse, action: () => Promise<unknown>): Promise<void> {
    try {
      sendJson(res, 200, await action());
    } catch (error) {
      if (!(error instanceof GdprWhatsAppError)) throw error;
      chatError(res, error.code === 'sandbox-unknown-number' ? 404 : 400, error.code, error.message);
    }
  }

  return (req, res, next) => {
    serve(req, res, next).catch((error: unknown) => {
      if (next) next(error);
      else if (!res.headersSent) chatError(res, 500, 'sandbox-error', 'The sandbox could not answer');
      else res.destroy();
    });
  };
}
