import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * The README's main job (`npm start` = scripts/start.js), run as a user runs it: Node-RED with the demo flow and
 * the sandbox, reachable from this machine only (no login), the privacy notice linking to the page it serves on
 * the port it runs on, and a malformed request answered without a stack trace.
 */
const ROOT = path.resolve(__dirname, '..', '..', '..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** An address of this machine other than loopback, to check nothing listens there. */
function otherAddress(): string | undefined {
  return Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** scripts/start.js as `PORT=<port> npm start` runs it, in a user directory of its own; `output()` so far. */
function startMainJob(port: number, userDir: string): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'start.js')], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), WA_GDPR_USER_DIR: userDir, HOST: '', NODE_ENV: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  return { child, output: () => output };
}

describe('the main job (npm start): demo flow and sandbox on this machine', function () {
  this.timeout(120000);
  let child: ChildProcess;
  let output = '';
  let port: number;
  let userDir: string;

  before(async () => {
    port = await freePort();
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-gdpr-main-job-'));
    const job = startMainJob(port, userDir);
    child = job.child;
    for (let i = 0; i < 600 && !/Stop with Ctrl\+C/.test(job.output()); i++) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    output = job.output();
    assert.match(output, /Deployed the demo flow/, output);
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  it('prints the editor, the sandbox and the staff token, and serves them', async () => {
    assert.match(output, new RegExp(`Node-RED editor: +http://127\\.0\\.0\\.1:${port}/`));
    assert.match(output, /Authorization: Bearer \S{16,}/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/whatsapp-gdpr/sandbox/`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${port}/privacy`)).status, 200);
  });

  it('listens on this machine only: the demo has no login', async function () {
    const address = otherAddress();
    if (!address) this.skip();
    assert.equal(await connects('127.0.0.1', port), true);
    assert.equal(await connects(address as string, port), false, `reachable on ${address}`);
  });

  it('refuses editor requests made for another host name (DNS rebinding), and serves localhost', async () => {
    const request = (path: string, host: string, origin?: string) =>
      new Promise<number>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path, headers: { host, ...(origin ? { origin } : {}) } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', reject);
      });
    assert.equal(await request('/flows', `evil.example:${port}`), 403);
    assert.equal(await request('/', `evil.example:${port}`), 403);
    assert.equal(await request('/FLOWS', `evil.example:${port}`), 403, 'Express routes paths whatever their case');
    // A page of another site calling this machine's editor directly: the Host is local, the Origin is not.
    assert.equal(await request('/flows', `127.0.0.1:${port}`, 'http://evil.example'), 403);
    assert.equal(await request('/flows', `127.0.0.1:${port}`, `http://localhost:${port}`), 200);
    assert.equal(await request('/flows', `localhost:${port}`), 200);
    assert.equal(await request('/flows', `127.0.0.1:${port}`), 200);
    // A flow's own routes (a webhook behind a tunnel, the policy page) answer whatever the host name.
    assert.equal(await request('/privacy', `tunnel.example:${port}`), 200);
  });

  it("refuses the editor's websocket (debug messages, node status) to another site's page, and opens it to localhost", async () => {
    // A browser opens a websocket to 127.0.0.1 for any page, and names the page in Origin.
    const handshake = (host: string, origin?: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1',
          port,
          path: '/comms',
          headers: {
            host,
            ...(origin ? { origin } : {}),
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-version': '13',
            'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          },
        });
        req.on('upgrade', (res, socket) => {
          socket.destroy();
          resolve(res.statusCode ?? 0);
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    assert.equal(await handshake(`127.0.0.1:${port}`, 'http://evil.example'), 403);
    assert.equal(await handshake(`evil.example:${port}`, `http://evil.example:${port}`), 403, 'DNS rebinding');
    assert.equal(await handshake(`127.0.0.1:${port}`, `http://127.0.0.1:${port}`), 101);
    assert.equal(await handshake(`localhost:${port}`, `http://localhost:${port}`), 101);
  });

  it("links the privacy notice to the page on this job's own port", async () => {
    // A customer writes to the demo number in the sandbox chat, as the README suggests; the notice comes first.
    const chat = `http://127.0.0.1:${port}/whatsapp-gdpr/sandbox`;
    const { numbers } = (await (await fetch(`${chat}/numbers`)).json()) as { numbers: { phoneNumberId: string }[] };
    const customer = { phoneNumberId: numbers[0].phoneNumberId, waId: '4915199990001' };
    const sent = await fetch(`${chat}/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...customer, name: 'Erika', text: 'Hallo' }),
    });
    assert.equal(sent.status, 200, await sent.text());
    let notice: string | undefined;
    for (const end = Date.now() + 15000; !notice && Date.now() < end; ) {
      const query = `phoneNumberId=${customer.phoneNumberId}&waId=${customer.waId}`;
      const { messages } = (await (await fetch(`${chat}/messages?${query}`)).json()) as {
        messages: { direction: string; text: string }[];
      };
      notice = messages.find((m) => m.direction === 'outbound')?.text;
      if (!notice) await new Promise((r) => setTimeout(r, 100));
    }
    const link = notice?.match(/Datenschutzerklärung: (\S+?)\.?\s/)?.[1];
    assert.equal(link, `http://127.0.0.1:${port}/privacy`, notice);
    assert.equal((await fetch(link)).status, 200);
  });

  it('answers a malformed body with a short 400, not a stack trace with server paths', async () => {
    const answer = await fetch(`http://127.0.0.1:${port}/optin`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"phone": "+49 151 4444',
    });
    assert.equal(answer.status, 400);
    const text = await answer.text();
    assert.doesNotMatch(text, /node_modules|at \w+ \(/);
  });
});

describe('the main job (npm start) when its port is taken', function () {
  this.timeout(60000);

  it('stops with a clear message and deploys nothing into whatever listens there (a Node-RED of the user, say)', async () => {
    // Stands in for the user's own Node-RED on the port: it answers /settings and would take a deployment.
    const posts: string[] = [];
    const other = http.createServer((req, res) => {
      if (req.method === 'POST') posts.push(String(req.url));
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', () => resolve()));
    const { port } = other.address() as net.AddressInfo;
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-gdpr-main-job-taken-'));
    try {
      const { child, output: outputSoFar } = startMainJob(port, userDir);
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      const output = outputSoFar();
      assert.equal(code, 1, output);
      assert.match(output, new RegExp(`Port ${port} .*in use`), output);
      assert.match(output, /PORT=/, 'it says how to choose another port');
      assert.deepEqual(posts, [], 'nothing was deployed into the other server');
    } finally {
      other.closeAllConnections();
      await new Promise((resolve) => other.close(resolve));
      fs.rmSync(userDir, { recursive: true, force: true });
    }
  });
});
