import http from 'node:http';
import { buildMessageWebhook, newMessageId } from '../../../lib/webhook/build';
import { escapeNonAscii, signPayload } from '../../../lib/webhook/signature';

/** The business number every reliability flow uses. */
export const BUSINESS = { phoneNumberId: '106540352242922', displayPhoneNumber: '4930123456' };

/** A distinct, valid German mobile number per index: +49151 and eight digits. */
export function subjectPhone(index: number): string {
  return `+49151${String(index).padStart(8, '0')}`;
}

export interface SignedWebhook {
  body: string;
  signature: string;
  messageId: string;
}

/** A text message from `phone` as Meta posts it, signed the way Meta signs (over the \u-escaped JSON). */
export function signedTextWebhook(
  phone: string,
  text: string,
  appSecret: string,
  options: { name?: string; messageId?: string } = {},
): SignedWebhook {
  const waId = phone.replace(/^\+/, '');
  const messageId = options.messageId ?? newMessageId(waId);
  const payload = buildMessageWebhook({
    ...BUSINESS,
    waId,
    profileName: options.name,
    messageId,
    message: { type: 'text', text: { body: text } },
  });
  const body = JSON.stringify(payload);
  return { body, signature: signPayload(escapeNonAscii(body), appSecret), messageId };
}

export interface PostAnswer {
  /** HTTP status, or 0 when the connection failed (e.g. the process was killed). */
  status: number;
  /** Date.now() in this process when the whole answer had arrived. */
  at: number;
  /** Which backend answered, when a round-robin proxy (support/proxy.ts) was in between. */
  backend?: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** POSTs one webhook over a keep-alive socket; never rejects. */
export function postWebhook(url: string, webhook: SignedWebhook): Promise<PostAnswer> {
  return new Promise((resolve) => {
    const body = Buffer.from(webhook.body, 'utf8');
    const request = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': body.length,
          'x-hub-signature-256': webhook.signature,
        },
      },
      (response) => {
        response.resume();
        const backend = response.headers['x-backend'];
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            at: Date.now(),
            backend: typeof backend === 'string' ? Number(backend) : undefined,
          }),
        );
        response.on('error', () => resolve({ status: 0, at: Date.now() }));
      },
    );
    request.on('error', () => resolve({ status: 0, at: Date.now() }));
    request.end(body);
  });
}

/**
 * Runs `count` jobs with at most `concurrency` in flight; `onEach` sees every result as it arrives
 * and may return false to stop starting new jobs.
 */
export async function runBounded<T>(
  count: number,
  concurrency: number,
  job: (index: number) => Promise<T>,
  onEach: (index: number, result: T) => boolean | undefined = () => true,
): Promise<void> {
  let nextIndex = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped && nextIndex < count) {
      const index = nextIndex++;
      const result = await job(index);
      if (onEach(index, result) === false) stopped = true;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}
