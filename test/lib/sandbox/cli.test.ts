import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { callApi } from './helpers';

describe('sandbox command line', () => {
  let child: ChildProcess | undefined;

  afterEach(() => {
    if (child && child.exitCode === null) child.kill('SIGTERM');
  });

  it('starts standalone, prints the URLs but not the secrets, and serves the API', async () => {
    const cli = path.join(__dirname, '../../../lib/sandbox/cli.js');
    child = spawn(
      process.execPath,
      [cli, '--port', '0', '--phone-number-id', '1000', '--token', 'cli-token', '--app-secret', 'cli-secret'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const chatUrl = await new Promise<string>((resolve, reject) => {
      child!.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /Chat page:\s+(\S+)/.exec(output);
        if (match) resolve(match[1]);
      });
      child!.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
    });
    assert.match(output, /API base URL: http:\/\/127\.0\.0\.1:\d+/);
    assert.ok(!output.includes('cli-token') && !output.includes('cli-secret'), 'no secrets in the output');
    const base = chatUrl.replace(/\/chat\/$/, '');
    const number = await callApi(`${base}/v25.0/1000`, { token: 'cli-token' });
    assert.equal(number.status, 200);
    assert.equal(number.body.id, '1000');
    const page = await fetch(chatUrl);
    assert.equal(page.status, 200);
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });

  it('takes token and app secret from the environment, where ps does not show them', async () => {
    const cli = path.join(__dirname, '../../../lib/sandbox/cli.js');
    child = spawn(process.execPath, [cli, '--port', '0', '--phone-number-id', '1000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WA_GDPR_SANDBOX_TOKEN: 'env-token', WA_GDPR_SANDBOX_APP_SECRET: 'env-secret' },
    });
    let output = '';
    const apiUrl = await new Promise<string>((resolve, reject) => {
      child!.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /API base URL:\s+(\S+)/.exec(output);
        if (match) resolve(match[1]);
      });
      child!.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
    });
    assert.equal((await callApi(`${apiUrl}/v25.0/1000`, { token: 'env-token' })).status, 200);
    assert.equal((await callApi(`${apiUrl}/v25.0/1000`, { token: 'other' })).status, 401);
  });

  it('refuses to start without token and app secret', async () => {
    const cli = path.join(__dirname, '../../../lib/sandbox/cli.js');
    child = spawn(process.execPath, [cli, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const code = await new Promise((resolve) => child!.once('exit', resolve));
    assert.equal(code, 2);
  });
});
