import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createChatHandler } from './chat';
import { parseUrl, sendJson } from './http-io';
import { Sandbox } from './sandbox';

export interface SandboxServerOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1: the sandbox has no login, so it stays on the loopback interface unless asked otherwise. */
  host?: string;
  sandbox?: Sandbox;
  /**
   * Serve the chat page at /chat/ (default true). Node-RED serves it on its admin app behind its permissions
   * instead: its loopback API port must not hand the conversations to any local process without a login.
   */
  chat?: boolean;
}

export interface RunningSandboxServer {
  /** Base URL of the API, e.g. http://127.0.0.1:8999 (use as apiBaseUrl); the chat page is at `${url}/chat/`. */
  url: string;
  port: number;
  sandbox: Sandbox;
  close(): Promise<void>;
}

const CHAT_BASE = '/chat/';
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * A page on another site can reach a server on 127.0.0.1 under its own name (DNS rebinding) and read what it answers:
 * on a loopback address the chat answers only to a loopback name in Host.
 */
function foreignHost(req: http.IncomingMessage, listening: string): boolean {
  if (!LOOPBACK_NAMES.has(listening) && !listening.startsWith('127.')) return false;
  const name = String(req.headers.host ?? '')
    .toLowerCase()
    .replace(/:\d+$/, '');
  return !LOOPBACK_NAMES.has(name) && !/^127\.\d+\.\d+\.\d+$/.test(name);
}

/** The sandbox on a port of its own: the Cloud API paths plus the chat page at /chat/. */
export async function startSandboxServer(options: SandboxServerOptions = {}): Promise<RunningSandboxServer> {
  const ownSandbox = options.sandbox === undefined;
  const sandbox = options.sandbox ?? new Sandbox();
  const chat = options.chat === false ? undefined : createChatHandler(sandbox, { basePath: CHAT_BASE });
  const host = options.host ?? '127.0.0.1';
  const server = http.createServer((req, res) => {
    sandbox
      .handleApiRequest(req, res)
      .then((handled) => {
        if (handled) return;
        const { pathname } = parseUrl(req);
        if (chat && foreignHost(req, host) && (pathname === '/' || pathname.startsWith('/chat'))) {
          sendJson(res, 403, { error: { message: 'The sandbox chat answers to localhost only', code: 403 } });
        } else if (chat && (pathname === '/' || pathname === '/chat')) {
          res.writeHead(302, { Location: CHAT_BASE, 'Content-Length': 0 });
          res.end();
        } else if (chat && pathname.startsWith(CHAT_BASE)) {
          chat(req, res, () => sendJson(res, 404, { error: { message: 'Not found', code: 404 } }));
        } else {
          sendJson(res, 404, { error: { message: 'Unknown path', type: 'GraphMethodException', code: 100 } });
        }
      })
      .catch(() => {
        if (!res.headersSent) sendJson(res, 500, { error: { message: 'Sandbox error', code: 1 } });
        else res.destroy();
      });
  });
  // Clients keep their connections (the Cloud API client uses keep-alive agents); outlive their idle timeouts.
  server.keepAliveTimeout = 65000;
  server.headersTimeout = 66000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    sandbox,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Long-polls and idle keep-alive sockets would hold close() open.
        server.closeAllConnections();
        if (ownSandbox) sandbox.close();
      }),
  };
}
