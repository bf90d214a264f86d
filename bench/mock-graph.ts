import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback stand-in for Meta's Graph API messages endpoint: the same answer bodies as the Cloud API
 * (`contacts[0].wa_id`, `messages[0].id`) so both flows parse a real response, and nothing else that could
 * cost time. `stall` accepts every request and never answers, like an API that has stopped responding.
 */
export interface MockGraph {
  url: string;
  /** POSTs to .../messages answered so far (or held, when stalled). */
  readonly messages: number;
  readonly held: number;
  close(): Promise<void>;
}

export const MOCK_PHONE_NUMBER_ID = '106540352242922';
export const MOCK_ACCESS_TOKEN = 'bench-access-token';

export async function startMockGraph(options: { stall?: boolean } = {}): Promise<MockGraph> {
  let messages = 0;
  let held = 0;
  let sequence = 0;
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = req.url ?? '';
      if (req.method === 'POST' && url.endsWith('/messages')) {
        messages += 1;
        if (options.stall) {
          held += 1;
          return;
        }
        // Meta's servers cost the sender nothing: this stand-in shares the machine, so it reads only "to".
        const to = recipientOf(Buffer.concat(chunks).toString('utf8'));
        if (to === undefined) {
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"code":100}}');
          return;
        }
        sequence += 1;
        const digits = to.replace(/\D/g, '');
        const text = `{"messaging_product":"whatsapp","contacts":[{"input":"${to}","wa_id":"${digits}"}],"messages":[{"id":"wamid.bench${sequence}","message_status":"accepted"}]}`;
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
        return;
      }
      if (req.method === 'GET' && url.includes('/settings')) {
        answer(res, {
          storage_configuration: { status: 'IN_COUNTRY_STORAGE_ENABLED', data_localization_region: 'DE' },
        });
        return;
      }
      if (req.method === 'GET') {
        answer(res, { display_phone_number: '+49 30 1234567', verified_name: 'Bench', quality_rating: 'GREEN' });
        return;
      }
      res.writeHead(404).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get messages() {
      return messages;
    },
    get held() {
      return held;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function answer(res: http.ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

/** The "to" of a messages body, the way both flows write it ({"messaging_product":...,"to":"+49..."}). */
function recipientOf(body: string): string | undefined {
  const match = /"to":"(\+?\d{1,20})"/.exec(body);
  return match?.[1];
}
