import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A webhook endpoint on a real socket that records the exact bytes and headers it received. */
export interface Receiver {
  url: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests walk Meta's webhook JSON freely
  received: { headers: http.IncomingHttpHeaders; raw: Buffer; json: any }[];
  /** HTTP status the receiver answers with. */
  status: number;
  close(): Promise<void>;
}

export async function startReceiver(status = 200): Promise<Receiver> {
  const receiver: Receiver = {
    url: '',
    received: [],
    status,
    close: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      receiver.received.push({ headers: req.headers, raw, json: JSON.parse(raw.toString('utf8')) });
      res.writeHead(receiver.status, { 'Content-Type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return receiver;
}

/**
 * Checks X-Hub-Signature-256 the way Meta signs, with node:crypto directly, not with the code under test:
 * HMAC over the body with every non-ASCII UTF-16 code unit written as a lowercase \\uXXXX escape.
 */
export function signatureIsValid(raw: Buffer, header: unknown, secret: string): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const escaped = raw
    .toString('utf8')
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const expected = createHmac('sha256', secret).update(escaped).digest();
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export class FakeClock {
  constructor(public time = Date.UTC(2026, 0, 15, 9, 0, 0)) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

export interface ApiAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests walk the API's JSON answers freely
  body: any;
}

export async function callApi(
  url: string,
  options: { method?: string; token?: string; body?: unknown; rawBody?: string } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(url, { method: options.method ?? (body ? 'POST' : 'GET'), headers, body });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

export const TOKEN = 'sandbox-test-token';
export const APP_SECRET = 'sandbox-test-app-secret';
export const PHONE_NUMBER_ID = '106540352242922';
export const DISPLAY_NUMBER = '15550783881';
export const CUSTOMER = '4915112345678';

export function textBody(to: string, body = 'Hallo'): Record<string, unknown> {
  return { messaging_product: 'whatsapp', recipient_type: 'individual', to, type: 'text', text: { body } };
}

export function templateBody(to: string): Record<string, unknown> {
  return {
    messaging_product: 'whatsapp',
    to,
    type: 'template',
    template: {
      name: 'opt_in_request',
      language: { code: 'de' },
      components: [
        { type: 'body', parameters: [{ type: 'text', text: 'Erika' }] },
        {
          type: 'button',
          sub_type: 'quick_reply',
          index: '0',
          parameters: [{ type: 'payload', payload: 'OPTIN_YES' }],
        },
        { type: 'button', sub_type: 'quick_reply', index: '1', parameters: [{ type: 'payload', payload: 'OPTIN_NO' }] },
      ],
    },
  };
}
