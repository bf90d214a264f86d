import type { NodeAPI } from 'node-red';
import { joinUrlPath } from './http-routes';

interface HttpSettings {
  uiHost?: string;
  uiPort?: number | string;
  httpNodeRoot?: string | false;
  httpAdminRoot?: string | false;
  https?: unknown;
}

function settingsOf(RED: NodeAPI): HttpSettings {
  return RED.settings as unknown as HttpSettings;
}

/** The port Node-RED's HTTP server really listens on (uiPort may be 0 or differ from the bound port). */
function listeningPort(RED: NodeAPI): number | undefined {
  try {
    const address = RED.server?.address();
    if (address && typeof address === 'object') return address.port;
  } catch {
    // Not listening (yet): fall back to the configured port.
  }
  const configured = Number(settingsOf(RED).uiPort);
  return Number.isInteger(configured) && configured > 0 ? configured : undefined;
}

/** A host this process reaches itself on: the bound interface when one was named, else loopback. */
function selfHost(RED: NodeAPI): string {
  const host = settingsOf(RED).uiHost;
  if (!host || host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * URL of a route on RED.httpNode as seen from this process, for the in-process sandbox's webhooks.
 * Undefined when Node-RED serves no node routes (httpNodeRoot: false) or does not listen.
 */
export function selfNodeUrl(RED: NodeAPI, path: string): string | undefined {
  const settings = settingsOf(RED);
  if (settings.httpNodeRoot === false) return undefined;
  const port = listeningPort(RED);
  if (port === undefined) return undefined;
  const scheme = settings.https ? 'https' : 'http';
  return `${scheme}://${selfHost(RED)}:${port}${joinUrlPath(settings.httpNodeRoot ?? '/', path)}`;
}

/** URL of a route on RED.httpAdmin, for log lines that point a person at a page. */
export function selfAdminUrl(RED: NodeAPI, path: string): string | undefined {
  const settings = settingsOf(RED);
  if (settings.httpAdminRoot === false) return undefined;
  const port = listeningPort(RED);
  if (port === undefined) return undefined;
  const scheme = settings.https ? 'https' : 'http';
  return `${scheme}://${selfHost(RED)}:${port}${joinUrlPath(settings.httpAdminRoot ?? '/', path)}/`;
}

/** The admin root path ("/" by default), for pages that link to themselves. */
export function adminPath(RED: NodeAPI, path: string): string {
  const root = settingsOf(RED).httpAdminRoot;
  return joinUrlPath(root === false || root === undefined ? '/' : root, path);
}
