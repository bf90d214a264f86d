import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudApiError } from '../../../lib/cloud-api/errors';

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  socketId: number;
}

export type Responder = (req: SeenRequest, res: http.ServerResponse) => void;

/** A Graph API stand-in on 127.0.0.1:0 that answers with scripted responses and records what arrived. */
export class MockGraph {
  readonly requests: SeenRequest[] = [];
  connections = 0;
  /** The ids of connections the other side has closed. */
  readonly closed = new Set<number>();
  private readonly script: Responder[] = [];
  private fallback: Responder = (req, res) =>
    json(res, 200, (req.body as { status?: string })?.status === 'read' ? { success: true } : okBody('wamid.default'));
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  private readonly socketIds = new WeakMap<object, number>();

  constructor() {
    // Far beyond any test's idle limit: a connection closed early was closed by the client.
    this.server.keepAliveTimeout = 60_000;
    this.server.on('connection', (socket) => {
      this.connections++;
      const id = this.connections;
      this.socketIds.set(socket, id);
      socket.on('close', () => this.closed.add(id));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Answers the next requests in order; later ones get the fallback. */
  respond(...responders: Responder[]): this {
    this.script.push(...responders);
    return this;
  }

  always(responder: Responder): this {
    this.fallback = responder;
    return this;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const seen: SeenRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: text ? JSON.parse(text) : undefined,
        socketId: this.socketIds.get(req.socket) ?? 0,
      };
      this.requests.push(seen);
      (this.script.shift() ?? this.fallback)(seen, res);
    });
  }
}

export function json(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: http.OutgoingHttpHeaders = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function okBody(id: string, waId = '4915112345678', input = '+4915112345678') {
  return {
    messaging_product: 'whatsapp',
    contacts: [{ input, wa_id: waId }],
    messages: [{ id, message_status: 'accepted' }],
  };
}

export function metaError(
  status: number,
  code: number,
  title: string,
  details = '',
  headers: http.OutgoingHttpHeaders = {},
): Responder {
  return (_req, res) =>
    json(
      res,
      status,
      {
        error: {
          message: `(#${code}) ${title}`,
          type: 'OAuthException',
          code,
          error_data: { messaging_product: 'whatsapp', details },
          fbtrace_id: 'Trace123',
        },
      },
      headers,
    );
}

export const ok =
  (id: string): Responder =>
  (_req, res) =>
    json(res, 200, okBody(id));

export const raw =
  (status: number, text: string, type = 'text/html'): Responder =>
  (_req, res) => {
    res.writeHead(status, { 'Content-Type': type });
    res.end(text);
  };

/** Drops the TCP connection without an answer. */
export const drop: Responder = (_req, res) => res.socket?.destroy();

/** Never answers (until the server stops). */
export const hang: Responder = () => {};

/** The CloudApiError a call fails with; fails the test when it succeeds or fails otherwise. */
export async function failure(promise: Promise<unknown>): Promise<CloudApiError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CloudApiError, `expected CloudApiError, got ${err}`);
    return err;
  }
  assert.fail('expected a failure');
}
