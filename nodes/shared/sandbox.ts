import { createHash, randomBytes } from 'node:crypto';
import type { TemplateDefinition } from '../../lib/sandbox/messages';
import { Sandbox } from '../../lib/sandbox/sandbox';
import { startSandboxServer } from '../../lib/sandbox/server';

/**
 * One in-process sandbox per Node-RED process, shared by every whatsapp-config in sandbox mode and
 * by the chat page; its Cloud API is served on a loopback port of its own so the client talks real HTTP.
 */
export interface SandboxEndpoint {
  url: string;
  port: number;
  close(): Promise<void> | void;
}

let sandbox: Sandbox | undefined;
let endpoint: Promise<SandboxEndpoint> | undefined;
let secrets: SandboxSecrets | undefined;

export interface SandboxSecrets {
  accessToken: string;
  appSecret: string;
  verifyToken: string;
}

/**
 * The templates the sandbox's business account lists (GET /{waba-id}/message_templates), for the examples: whatsapp-send
 * looks a template's category up before sending it without a consent (a MARKETING one needs consent). It lists any
 * other name asked for as a utility template.
 */
export const SANDBOX_TEMPLATES: TemplateDefinition[] = [
  {
    name: 'consent_request',
    language: 'en',
    category: 'UTILITY',
    // Labels come without an article ("Newsletter"): after a colon they read in both languages.
    body: 'Please confirm your sign-up on WhatsApp: {{1}}. You can unsubscribe at any time by replying STOP.',
    buttons: [{ type: 'quick_reply', text: 'YES' }],
  },
  {
    name: 'consent_request',
    language: 'de',
    category: 'UTILITY',
    body: 'Bitte bestätigen Sie Ihre Anmeldung per WhatsApp: {{1}}. Sie können sich jederzeit mit STOP abmelden.',
    buttons: [{ type: 'quick_reply', text: 'JA' }],
  },
  // whatsapp-send adds no opt-out line to a template (its text is Meta's to approve): it is in the template's footer,
  // as it should be in every template you submit, so that a first message that is a template says how to stop too.
  {
    name: 'order_update',
    language: 'en',
    category: 'UTILITY',
    body: 'Your order {{1}} is now: {{2}}.',
    footer: 'Reply STOP to unsubscribe.',
  },
  {
    name: 'order_update',
    language: 'de',
    category: 'UTILITY',
    body: 'Ihre Bestellung {{1}} ist jetzt: {{2}}.',
    footer: 'Antworten Sie mit STOP, um sich abzumelden.',
  },
  {
    name: 'spring_sale',
    language: 'en',
    category: 'MARKETING',
    body: 'Spring sale: 20% off everything this week.',
    footer: 'Reply STOP to unsubscribe.',
  },
  {
    name: 'spring_sale',
    language: 'de',
    category: 'MARKETING',
    body: 'Frühlingsaktion: 20 % auf alles, nur diese Woche.',
    footer: 'Antworten Sie mit STOP, um sich abzumelden.',
  },
];

export function processSandbox(): Sandbox {
  sandbox ??= new Sandbox({ templates: SANDBOX_TEMPLATES, listUnknownTemplatesAsUtility: true });
  return sandbox;
}

/** Starts the loopback server on first use; later calls share it. */
export function sandboxEndpoint(): Promise<SandboxEndpoint> {
  if (!endpoint) {
    // The chat page is on the admin app, behind Node-RED's permissions (whatsapp-config.ts), not on this port.
    const starting = Promise.resolve(
      startSandboxServer({ port: 0, host: '127.0.0.1', sandbox: processSandbox(), chat: false }),
    );
    endpoint = starting.then((started) => ({ url: started.url, port: started.port, close: () => started.close() }));
    // A failed start must not stick: the next deploy tries again.
    endpoint.catch(() => {
      endpoint = undefined;
    });
  }
  return endpoint;
}

/** Stops the loopback server (tests; Node-RED itself keeps it for the life of the process). */
export async function stopSandboxEndpoint(): Promise<void> {
  const running = endpoint;
  endpoint = undefined;
  if (running) await (await running).close();
}

/**
 * Random per-process credentials for sandbox configs that leave theirs empty, so the sandbox's
 * bearer check and webhook signatures always match what the config node uses.
 */
export function processSandboxSecrets(): SandboxSecrets {
  secrets ??= {
    accessToken: `sandbox-${randomBytes(24).toString('hex')}`,
    appSecret: randomBytes(32).toString('hex'),
    verifyToken: randomBytes(16).toString('hex'),
  };
  return secrets;
}

/** A stable, numeric phone number id for a sandbox config that has none: derived from the node id. */
export function sandboxPhoneNumberId(configNodeId: string): string {
  const digest = createHash('sha256').update(configNodeId).digest();
  return `1${(digest.readBigUInt64BE(0) % 10n ** 14n).toString().padStart(14, '0')}`;
}

/** A display number in the fictional +1 555 range for the same config. */
export function sandboxDisplayNumber(phoneNumberId: string): string {
  return `+1 555 ${phoneNumberId.slice(-7, -4)} ${phoneNumberId.slice(-4)}`;
}
