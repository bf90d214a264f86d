import type { IncomingMessage, ServerResponse } from 'node:http';

/** A request as node:http or an express app hands it over (express may have parsed the body already). */
export type SandboxRequest = IncomingMessage & { body?: unknown; _body?: boolean };

export const MAX_BODY_BYTES = 1024 * 1024;

export class BodyError extends Error {
  constructor(readonly reason: 'too-large' | 'malformed-json') {
    super(reason === 'too-large' ? 'The request body is too large' : 'The request body is not valid JSON');
  }
}

function readRaw(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BodyError('too-large'));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * The JSON body of a request: the one an express body parser already produced (inside Node-RED the admin app
 * parses every JSON body first), or read and parsed here (standalone). An empty body is `undefined`.
 */
export async function readJsonBody(req: SandboxRequest): Promise<unknown> {
  let raw: Buffer | string;
  if (req._body === true || (req.body !== undefined && req.readableEnded)) {
    if (Buffer.isBuffer(req.body) || typeof req.body === 'string') raw = req.body;
    else return req.body;
  } else {
    raw = await readRaw(req);
  }
  const text = raw.toString();
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new BodyError('malformed-json');
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=UTF-8',
    'Content-Length': bytes.length,
    'Cache-Control': 'no-store',
  });
  res.end(bytes);
}

/** Path and query of a request URL, whatever host it names. */
export function parseUrl(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'http://sandbox.invalid');
}
