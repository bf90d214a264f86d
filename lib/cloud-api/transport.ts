import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { type AxiosAdapter, AxiosError, AxiosHeaders, type AxiosResponse, CanceledError } from 'axios';

/** Cloud API answers are a few hundred bytes; a misbehaving server cannot fill the memory. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

type Config = Parameters<AxiosAdapter>[0];

/**
 * Whether a failed request never had a connection to write to: it waited for one of the agent's sockets, or its
 * connection was still being opened (DNS, TCP, TLS). Such a request cannot have reached the API, so a message is
 * safe to send again; a failure after that may have left (delivery unknown).
 */
export function neverSent(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { neverSent?: unknown }).neverSent === true;
}

/** Whether node:http refused to make the request at all (a header it cannot send): never sent, and never will be. */
export function unsendable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { unsendable?: unknown }).unsendable === true;
}

/**
 * An axios adapter for the Cloud API's small JSON calls: one node:http(s) request on the client's keep-alive
 * agents, the answer as text. axios's own http adapter does far more per request (streams, redirects,
 * decompression, proxies, progress events), which cost a fifth of a message's CPU time (bench/outbound.ts).
 * axios still does everything around it: configuration, headers, validateStatus, transforms, errors.
 * Used when no proxy is configured; with one, axios's http adapter handles it.
 */
export function keepAliveAdapter(agents: { http: http.Agent; https: https.Agent }): AxiosAdapter {
  return (config) =>
    new Promise<AxiosResponse>((resolve, reject) => {
      const url = requestUrl(config);
      const secure = url.protocol === 'https:';
      const body = typeof config.data === 'string' ? Buffer.from(config.data, 'utf8') : undefined;
      const headers = AxiosHeaders.from(config.headers).toJSON(true) as Record<string, string>;
      if (body) headers['Content-Length'] = String(body.length);
      let req: http.ClientRequest;
      try {
        req = (secure ? https : http).request(url, {
          method: (config.method ?? 'get').toUpperCase(),
          headers,
          agent: secure ? agents.https : agents.http,
        });
      } catch (err) {
        // node:http refused to make the request (ERR_INVALID_CHAR: a header holds a character HTTP cannot carry,
        // such as a token pasted with "…"): nothing left, and the same request would be refused again.
        const { code, message } = err as Error & { code?: string };
        reject(Object.assign(new AxiosError(message, code, config), { neverSent: true, unsendable: true }));
        return;
      }
      const signal = config.signal as AbortSignal | undefined;
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      let connected = false;
      const finish = () => {
        settled = true;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (err: Error) => {
        if (settled) return;
        finish();
        req.destroy();
        if (!connected) Object.assign(err, { neverSent: true });
        reject(err);
      };
      const onAbort = () => fail(new CanceledError(undefined, config, req));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      req.once('socket', (socket: Socket) => {
        if (settled) return;
        // Like axios's req.setTimeout: the clock starts with the socket, not while the request waits in the agent.
        if (config.timeout) {
          timer = setTimeout(() => {
            fail(new AxiosError(`timeout of ${config.timeout}ms exceeded`, AxiosError.ECONNABORTED, config, req));
          }, config.timeout);
        }
        if (!socket.connecting) connected = true;
        else socket.once(socket instanceof TLSSocket ? 'secureConnect' : 'connect', () => (connected = true));
      });
      req.on('error', (err: Error & { code?: string }) => fail(AxiosError.from(err, err.code, config, req)));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            fail(new AxiosError('The answer is too large', AxiosError.ERR_BAD_RESPONSE, config, req));
          } else {
            chunks.push(chunk);
          }
        });
        res.on('error', (err: Error & { code?: string }) => fail(AxiosError.from(err, err.code, config, req)));
        res.on('end', () => {
          if (settled) return;
          finish();
          const response: AxiosResponse = {
            data: Buffer.concat(chunks).toString('utf8'),
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            headers: new AxiosHeaders(res.headers as Record<string, string>),
            config,
            request: req,
          };
          const valid = config.validateStatus ? config.validateStatus(response.status) : true;
          if (valid) resolve(response);
          else reject(new AxiosError(`Status ${response.status}`, AxiosError.ERR_BAD_RESPONSE, config, req, response));
        });
      });
      req.end(body);
    });
}

/** baseURL and url joined as axios joins them, then the query parameters. */
function requestUrl(config: Config): URL {
  const path = config.url ?? '';
  const joined =
    config.baseURL && !/^[a-z][a-z\d+\-.]*:\/\//i.test(path)
      ? path
        ? `${config.baseURL.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`
        : config.baseURL
      : path;
  const url = new URL(joined);
  for (const [name, value] of Object.entries((config.params ?? {}) as Record<string, unknown>)) {
    if (value !== undefined && value !== null) url.searchParams.append(name, String(value));
  }
  return url;
}
