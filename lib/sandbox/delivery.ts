import http from 'node:http';
import https from 'node:https';
import { escapeNonAscii, signPayload } from '../webhook/signature';

export interface DeliveryResult {
  url: string;
  /** HTTP status the endpoint answered, 0 when it could not be reached. */
  status: number;
}

const DELIVERY_TIMEOUT_MS = 15000;

/**
 * POSTs webhook payloads the way Meta does: the body is plain UTF-8 JSON, but X-Hub-Signature-256 is computed
 * over the same JSON with non-ASCII characters escaped as \uXXXX. Receivers that only hash the raw bytes fail on
 * the first umlaut or emoji, so the sandbox reproduces it. One endpoint after the other.
 */
export class WebhookPoster {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8 });

  async deliver(urls: string[], payload: unknown, appSecret: string): Promise<DeliveryResult[]> {
    const json = JSON.stringify(payload);
    const body = Buffer.from(json, 'utf8');
    const signature = signPayload(escapeNonAscii(json), appSecret);
    const results: DeliveryResult[] = [];
    for (const url of urls) results.push({ url, status: await this.post(url, body, signature) });
    return results;
  }

  private post(url: string, body: Buffer, signature: string): Promise<number> {
    return new Promise((resolve) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        resolve(0);
        return;
      }
      const secure = target.protocol === 'https:';
      const request = (secure ? https : http).request(
        target,
        {
          method: 'POST',
          agent: secure ? this.httpsAgent : this.httpAgent,
          timeout: DELIVERY_TIMEOUT_MS,
          headers: {
            'Content-Type': 'application/json',
            'Content-Length': body.length,
            'X-Hub-Signature-256': signature,
            'User-Agent': 'facebookexternalua',
          },
        },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
          response.on('error', () => resolve(response.statusCode ?? 0));
        },
      );
      request.on('timeout', () => request.destroy(new Error('timeout')));
      request.on('error', () => resolve(0));
      request.end(body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** Runs tasks strictly one after another, so webhooks arrive in the order the sandbox produced them. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private readonly idleWaiters: (() => void)[] = [];

  run<T>(task: () => Promise<T>): Promise<T> {
    this.pending += 1;
    const result = this.tail.then(task);
    this.tail = result
      .catch(() => undefined)
      .then(() => {
        this.pending -= 1;
        if (this.pending === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
    return result;
  }

  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
