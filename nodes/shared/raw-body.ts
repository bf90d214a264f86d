import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';
import { joinUrlPath, moveToFront, rootAppOf } from './http-routes';

/**
 * Keeps the exact bytes of webhook POST bodies. Meta signs the raw bytes, but with Node-RED's
 * default settings the admin app and the httpNode app are both mounted at "/" on one root app, and
 * the admin app runs `bodyParser.json` on every request first, so by the time a route on
 * RED.httpNode runs the bytes are gone. Like `rawBodyCapture` in Node-RED's 21-httpin.js, a
 * middleware on the root app, moved to the top of its stack, reads the body for the registered
 * paths only and marks the request as parsed (`_body`), which every body-parser honours.
 */
export interface RawBodyRequest extends IncomingMessage {
  whatsappRawBody?: Buffer;
  whatsappRawBodyError?: RawBodyError;
  _body?: boolean;
  skipRawBodyParser?: boolean;
}

export class RawBodyError extends Error {
  constructor(
    readonly httpStatus: 400 | 408 | 413 | 503,
    readonly reason: 'too-large' | 'aborted' | 'busy' | 'too-slow',
  ) {
    super(
      reason === 'too-large'
        ? 'The request body is too large'
        : reason === 'busy'
          ? 'Too many request bodies are being received at once'
          : reason === 'too-slow'
            ? 'The request body did not arrive in time'
            : 'The request body was not received completely',
    );
  }
}

/**
 * Bodies are read whole before their signature can be checked, so anyone can make the process buffer them. Bodies
 * being read share two budgets: small ones (up to SMALL_BODY_BYTES; Meta's are a few KiB) have 32 MiB of their own,
 * so that a flood of large uploads cannot crowd out Meta's deliveries; larger ones share 32 MiB (or two bodies at the
 * size limit, when a node allows larger ones). Past its budget a request gets 503, which Meta delivers again later.
 */
export const UNVERIFIED_BODY_BUDGET = 32 * 1024 * 1024;
export const SMALL_BODY_BYTES = 64 * 1024;
/**
 * A body must arrive whole within this time. Meta's take milliseconds; without a deadline a client sending a byte now
 * and then holds its share of the budget for as long as Node's own request timeout (5 minutes), and a few hundred of
 * them keep Meta's deliveries out with 503s.
 */
export const BODY_READ_DEADLINE_MS = 15_000;
/** The deadline in force (tests shorten it). */
export const bodyReadDeadline = { ms: BODY_READ_DEADLINE_MS };
const beingRead = { small: 0, large: 0 };
type Pool = keyof typeof beingRead;

function poolOf(bytes: number): Pool {
  return bytes <= SMALL_BODY_BYTES ? 'small' : 'large';
}

/** Whether a body of which `held` bytes are counted may grow to `total` within its pool's budget. */
function fits(held: number, total: number, largeBudget: number): boolean {
  const pool = poolOf(total);
  const budget = pool === 'small' ? UNVERIFIED_BODY_BUDGET : largeBudget;
  const countedThere = poolOf(held) === pool ? held : 0;
  return beingRead[pool] - countedThere + total <= budget;
}

function recount(held: number, total: number): void {
  beingRead[poolOf(held)] -= held;
  beingRead[poolOf(total)] += total;
}

/** Bytes of webhook bodies read so far and not yet complete (for tests and diagnostics). */
export function unverifiedBytesInFlight(): number {
  return beingRead.small + beingRead.large;
}

/** Registered full paths (lower case, as Express routes match case-insensitively) and their byte limits. */
const capturedPaths = new Map<string, { maxBytes: number; owner: string }>();
const installedRoots = new WeakSet<object>();

function pathKey(path: string): string {
  return joinUrlPath(path).toLowerCase();
}

function requestPath(req: IncomingMessage): string {
  const url = req.url ?? '/';
  // A request line in absolute form ("POST http://host/whatsapp") names the path Express routes, as parseurl reads it.
  if (!url.startsWith('/')) {
    try {
      return new URL(url).pathname;
    } catch {
      return url;
    }
  }
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

function captureRawBody(req: RawBodyRequest, _res: ServerResponse, next: (err?: unknown) => void): void {
  const route = req.method === 'POST' && !req._body ? capturedPaths.get(pathKey(requestPath(req))) : undefined;
  if (!route) {
    next();
    return;
  }
  req._body = true;
  req.skipRawBodyParser = true;
  readRawBody(req, route.maxBytes).then(
    (body) => {
      req.whatsappRawBody = body;
      next();
    },
    (err: RawBodyError) => {
      req.whatsappRawBodyError = err;
      next();
    },
  );
}

/**
 * Reads a request body into one Buffer, refusing anything over `maxBytes` (413) or past the shared budget of bodies
 * being read (503) before buffering it.
 */
export function readRawBody(
  req: IncomingMessage,
  maxBytes: number,
  deadlineMs: number = bodyReadDeadline.ms,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const largeBudget = Math.max(UNVERIFIED_BODY_BUDGET, 2 * maxBytes);
    const declared = Number(req.headers['content-length']);
    const refuseUnread = (err: RawBodyError) => {
      // Drain so the client can read the answer instead of seeing a reset connection.
      req.resume();
      reject(err);
    };
    if (Number.isFinite(declared) && declared > maxBytes) {
      refuseUnread(new RawBodyError(413, 'too-large'));
      return;
    }
    if (Number.isFinite(declared) && !fits(0, declared, largeBudget)) {
      refuseUnread(new RawBodyError(503, 'busy'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(deadline);
      recount(size, 0);
      req.off('data', onData);
      return true;
    };
    const deadline = setTimeout(() => {
      if (!settle()) return;
      chunks.length = 0;
      reject(new RawBodyError(408, 'too-slow'));
    }, deadlineMs);
    deadline.unref?.();
    const onData = (chunk: Buffer) => {
      const total = size + chunk.length;
      const refused =
        total > maxBytes
          ? new RawBodyError(413, 'too-large')
          : !fits(size, total, largeBudget)
            ? new RawBodyError(503, 'busy')
            : undefined;
      if (refused) {
        chunks.length = 0;
        settle();
        req.resume();
        reject(refused);
        return;
      }
      recount(size, total);
      size = total;
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (settle()) resolve(Buffer.concat(chunks, size));
    });
    req.once('aborted', () => {
      if (settle()) reject(new RawBodyError(400, 'aborted'));
    });
    req.once('error', () => {
      if (settle()) reject(new RawBodyError(400, 'aborted'));
    });
    // A connection closed before the end without 'aborted' (newer Node versions) must give its bytes back too.
    req.once('close', () => {
      if (settle()) reject(new RawBodyError(400, 'aborted'));
    });
  });
}

/**
 * Starts capturing raw POST bodies for `path` under `httpNode`'s mount path. Returns false when
 * another owner already holds that path. Install the route on httpNode separately.
 */
export function captureRawBodyFor(httpNode: Express, path: string, maxBytes: number, owner: string): boolean {
  const key = pathKey(`${httpNode.path()}/${path}`);
  const held = capturedPaths.get(key);
  if (held && held.owner !== owner) return false;
  capturedPaths.set(key, { maxBytes, owner });
  const root = rootAppOf(httpNode);
  if (!installedRoots.has(root)) {
    root.use(captureRawBody);
    installedRoots.add(root);
  }
  // Other code (Node-RED's http-in node among it) moves its own middleware to the top as well: check each time.
  moveToFront(root, captureRawBody as never);
  return true;
}

export function releaseRawBodyCapture(httpNode: Express, path: string, owner: string): void {
  const key = pathKey(`${httpNode.path()}/${path}`);
  if (capturedPaths.get(key)?.owner === owner) capturedPaths.delete(key);
}
