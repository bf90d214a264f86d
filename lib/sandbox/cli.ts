#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { Sandbox } from './sandbox';
import { startSandboxServer } from './server';

const USAGE = `Usage: node dist/lib/sandbox/cli.js --phone-number-id 1000 --token TOKEN --app-secret SECRET
    [--port 8999] [--host 127.0.0.1] [--webhook URL ...] [--display-phone-number "+1 555 000 1000"]
    [--verified-name NAME] [--waba-id ID] [--throughput 80] [--storage-region DE]

Starts the WhatsApp Cloud API sandbox: the API at the printed URL (use it as apiBaseUrl) and the chat page
where you play the customer. Webhooks are signed with the app secret and POSTed to every --webhook URL.
Instead of --token and --app-secret, set WA_GDPR_SANDBOX_TOKEN and WA_GDPR_SANDBOX_APP_SECRET: other users
of the machine can read a command line (ps), not another process's environment.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8999' },
      host: { type: 'string', default: '127.0.0.1' },
      'phone-number-id': { type: 'string', default: '1000' },
      'display-phone-number': { type: 'string' },
      'verified-name': { type: 'string', default: 'Sandbox' },
      'waba-id': { type: 'string' },
      token: { type: 'string' },
      'app-secret': { type: 'string' },
      webhook: { type: 'string', multiple: true, default: [] },
      throughput: { type: 'string', default: '80' },
      'storage-region': { type: 'string', default: 'DE' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const token = values.token ?? process.env.WA_GDPR_SANDBOX_TOKEN;
  const appSecret = values['app-secret'] ?? process.env.WA_GDPR_SANDBOX_APP_SECRET;
  if (values.help || !token || !appSecret) {
    console.log(USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const port = Number(values.port);
  const throughput = Number(values.throughput);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !(throughput > 0)) {
    console.error('--port must be 0..65535 and --throughput a positive number');
    process.exitCode = 2;
    return;
  }
  const phoneNumberId = values['phone-number-id'];
  const webhooks = values.webhook;
  const sandbox = new Sandbox();
  sandbox.registerNumber({
    phoneNumberId,
    displayPhoneNumber: values['display-phone-number'] ?? `+1 555 000 ${phoneNumberId.slice(-4).padStart(4, '0')}`,
    verifiedName: values['verified-name'],
    wabaId: values['waba-id'],
    accessToken: token,
    appSecret,
    throughput,
    storageRegion: values['storage-region'],
    webhookUrls: () => webhooks,
  });
  sandbox.on('delivery-error', () => console.error('A webhook could not be delivered'));
  const server = await startSandboxServer({ port, host: values.host, sandbox });
  // The token and app secret are never printed.
  console.log(`WhatsApp Cloud API sandbox for phone number id ${phoneNumberId}`);
  console.log(`  API base URL: ${server.url}  (POST ${server.url}/v25.0/${phoneNumberId}/messages)`);
  console.log(`  Chat page:    ${server.url}/chat/`);
  console.log(`  Webhooks to:  ${webhooks.length ? webhooks.join(', ') : '(none: add --webhook URL)'}`);
  const stop = () => {
    server.close().then(() => {
      sandbox.close();
      process.exit(0);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : 'The sandbox could not start');
  process.exitCode = 1;
});
