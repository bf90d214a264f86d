import assert from 'node:assert/strict';
import net from 'node:net';
import { RealNodeRed } from '../helpers/real-node-red';

const APP_SECRET = 'absolute-form-app-secret';

/**
 * A POST whose request line names the webhook in absolute form ("POST http://host/whatsapp HTTP/1.1") is
 * routed by Express to the webhook, but the raw-body capture compares req.url as written and misses it. The admin
 * app's bodyParser.json then consumes the body, and the webhook answers 500 and logs a node error for every such
 * unsigned request: no signature check, no once-a-minute limit on the log line.
 */
function rawRequest(port: number, head: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.end(`${head}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    });
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('whatsapp-webhook: a request line in absolute form', function () {
  this.timeout(90000);
  let red: RealNodeRed;

  before(async () => {
    red = await RealNodeRed.start({ types: ['whatsapp-config', 'whatsapp-webhook'] });
    await red.deploy([
      { id: 'tab1', type: 'tab', label: 'WhatsApp' },
      {
        id: 'cfg1',
        type: 'whatsapp-config',
        mode: 'cloud',
        phoneNumberId: '106540352242922',
        wabaId: '1',
        configVersion: 1,
        credentials: { appSecret: APP_SECRET, verifyToken: 'absolute-form-verify' },
      },
      {
        id: 'hook1',
        z: 'tab1',
        type: 'whatsapp-webhook',
        path: '/whatsapp',
        whatsapp: 'cfg1',
        configVersion: 1,
        wires: [[], [], []],
      },
    ]);
  });

  after(async () => {
    await red?.stop();
  });

  it('refuses an unsigned absolute-form POST as unsigned (401), with at most one log line for many', async () => {
    const mark = red.log().length;
    const head = `POST http://127.0.0.1:${red.port}/whatsapp HTTP/1.1\r\nHost: 127.0.0.1:${red.port}\r\nContent-Type: application/json`;
    const statuses: string[] = [];
    for (let i = 0; i < 5; i++) {
      const answer = await rawRequest(red.port, head, '{"object":"whatsapp_business_account","entry":[]}');
      statuses.push(answer.split('\r\n')[0]);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const log = red.log().slice(mark);
    assert.deepEqual(statuses, Array(5).fill('HTTP/1.1 401 Unauthorized'), log);
    const lines = log.split('\n').filter((line) => /whatsapp-webhook/.test(line));
    assert.ok(lines.length <= 1, `one unsigned client wrote ${lines.length} log lines:\n${lines.join('\n')}`);
  });
});
