import type { NextFunction, Request, Response } from 'express';
import type { NodeAPI } from 'node-red';
import { CloudApiClient } from '../lib/cloud-api/client';
import { GdprWhatsAppError } from '../lib/errors';
import { createChatHandler, isChatAsset } from '../lib/sandbox/chat';
import { SANDBOX_WABA_ID } from '../lib/webhook/build';
import { ADMIN_PREFIX, needsPermission, PERMISSION_READ, PERMISSION_WRITE, SANDBOX_CHAT_PATH } from './shared/admin';
import { ERRORS_NAMESPACE, translateError } from './shared/i18n';
import { migrate, savedConfigSettings } from './shared/migrations';
import { WHATSAPP_CONFIG_DEFAULTS, whatsappConfigMigrations } from './shared/migrations/whatsapp-config';
import { adminPath, selfAdminUrl, selfNodeUrl } from './shared/node-http';
import {
  processSandbox,
  processSandboxSecrets,
  sandboxDisplayNumber,
  sandboxEndpoint,
  sandboxPhoneNumberId,
} from './shared/sandbox';
import { isEuEeaRegion } from './shared/storage-region';
import {
  positiveInteger,
  type WebhookRegistration,
  type WhatsAppConfigDef,
  type WhatsAppConfigNode,
  type WhatsAppCredentials,
} from './shared/types';

const PHONE_NUMBER_ID = /^\d{1,32}$/;
/** As Meta writes a Graph API version in its paths: v25.0. */
const API_VERSION = /^v\d{1,3}\.\d{1,3}$/;
/** Meta's highest throughput tier, messages per second per number; the dialog allows no more. */
const MAX_THROUGHPUT = 1000;

/**
 * settings.js `whatsappGdprLoadTest: true` says the runtime sends to a mock of the API in a load test (`npm run bench`,
 * "pacing off"): a throughput set above Meta's highest tier is then used as set. No number may send faster to Meta.
 */
function throughputCap(RED: NodeAPI): number {
  return (RED.settings as unknown as { whatsappGdprLoadTest?: unknown }).whatsappGdprLoadTest === true
    ? Number.POSITIVE_INFINITY
    : MAX_THROUGHPUT;
}

let chatUrlLogged = false;

export default function registerWhatsAppConfig(RED: NodeAPI): void {
  function WhatsAppConfig(this: WhatsAppConfigNode, saved: WhatsAppConfigDef): void {
    RED.nodes.createNode(this, saved);
    const node = this;
    const config = migrate<WhatsAppConfigDef>(saved, whatsappConfigMigrations);
    const credentials: WhatsAppCredentials = node.credentials ?? {};
    const sandboxMode = config.mode === 'sandbox';
    const sandboxSecrets = sandboxMode ? processSandboxSecrets() : undefined;
    const webhooks = new Map<string, string>();
    let client: Promise<CloudApiClient> | undefined;
    /** The client once made: only it can remember a template's category. */
    let made: CloudApiClient | undefined;
    let closed = false;

    node.mode = sandboxMode ? 'sandbox' : 'cloud';
    node.phoneNumberId =
      String(config.phoneNumberId ?? '').trim() || (sandboxMode ? sandboxPhoneNumberId(node.id) : '');
    // A token pasted with a space or line break around it worked before (node:http sends it, the server trims it).
    const accessToken = credentials.accessToken?.trim() || sandboxSecrets?.accessToken;
    const appSecret = credentials.appSecret || sandboxSecrets?.appSecret;
    const verifyToken = credentials.verifyToken || sandboxSecrets?.verifyToken;
    const configuredThroughput = positiveInteger(config.throughput, WHATSAPP_CONFIG_DEFAULTS.throughput);
    // Set past the dialog (the admin API, an edited flows file): faster than Meta lets any number send.
    const throughput = Math.min(configuredThroughput, throughputCap(RED));
    if (configuredThroughput > throughput) {
      node.warn(RED._('whatsapp-config.warn.throughput-capped', { given: configuredThroughput, max: MAX_THROUGHPUT }));
    }

    node.appSecret = () => appSecret;
    node.verifyToken = () => verifyToken;
    node.registerWebhook = (webhook: WebhookRegistration) => {
      webhooks.set(webhook.id, webhook.path);
    };
    node.unregisterWebhook = (webhook: WebhookRegistration) => {
      webhooks.delete(webhook.id);
    };
    const webhookUrls = (): string[] =>
      [...webhooks.values()].map((path) => selfNodeUrl(RED, path)).filter((url): url is string => Boolean(url));

    // Sandbox mode: register this number with the process sandbox now, so the chat page shows it and
    // customer replies reach the webhook nodes before the first message is sent.
    // A sandbox number without an account id belongs to the sandbox's default account, whose templates it lists.
    const sandboxWabaId = config.wabaId ? String(config.wabaId) : SANDBOX_WABA_ID;
    const sandboxUrl: Promise<string> | undefined = sandboxMode
      ? sandboxEndpoint().then((endpoint) => {
          if (closed) return endpoint.url;
          processSandbox().registerNumber({
            phoneNumberId: node.phoneNumberId,
            displayPhoneNumber: sandboxDisplayNumber(node.phoneNumberId),
            verifiedName: config.name || 'Sandbox',
            wabaId: sandboxWabaId,
            accessToken: accessToken as string,
            appSecret: appSecret as string,
            throughput,
            webhookUrls,
          });
          if (!chatUrlLogged) {
            chatUrlLogged = true;
            const chat = selfAdminUrl(RED, SANDBOX_CHAT_PATH) ?? adminPath(RED, SANDBOX_CHAT_PATH);
            node.log(RED._('whatsapp-config.log.sandbox-chat', { url: chat }));
          }
          return endpoint.url;
        })
      : undefined;
    sandboxUrl?.catch((err: unknown) => node.error(translateError(RED, err)));

    const apiVersion = String(config.apiVersion || WHATSAPP_CONFIG_DEFAULTS.apiVersion).trim();
    const cloudApiBaseUrl = String(config.apiBaseUrl || WHATSAPP_CONFIG_DEFAULTS.apiBaseUrl);

    /**
     * Every problem of the configuration, in the order a send meets them (it fails with the first): a deploy names them
     * all at once. `apiBaseUrl` undefined: the sandbox's own, which is fine.
     */
    function configProblems(apiBaseUrl: string | undefined): GdprWhatsAppError[] {
      const problems: GdprWhatsAppError[] = [];
      if (!PHONE_NUMBER_ID.test(node.phoneNumberId)) {
        problems.push(
          new GdprWhatsAppError('config-phone-number-id', 'The WhatsApp configuration has no valid phone number id'),
        );
      }
      const stray = accessToken ? strayTokenCharacter(accessToken) : undefined;
      if (!accessToken) {
        problems.push(
          new GdprWhatsAppError('config-access-token-missing', 'The WhatsApp configuration has no access token'),
        );
      } else if (stray) {
        problems.push(
          new GdprWhatsAppError(
            'config-access-token-invalid',
            `The access token contains a character no access token has (${stray}): copy it from Meta again`,
            { character: stray },
          ),
        );
      }
      if (apiBaseUrl !== undefined && !carriesTokenSafely(apiBaseUrl)) {
        problems.push(
          new GdprWhatsAppError(
            'config-api-url-insecure',
            'The API base URL must use https (plain http only to this machine): the access token travels with every request',
          ),
        );
      }
      if (!API_VERSION.test(apiVersion)) {
        problems.push(
          new GdprWhatsAppError(
            'config-api-version',
            `The API version must be written as Meta names it, such as v25.0, not ${apiVersion.slice(0, 20)}`,
            { version: apiVersion.slice(0, 20) },
          ),
        );
      }
      return problems;
    }

    async function createClient(): Promise<CloudApiClient> {
      const apiBaseUrl = sandboxUrl ? await sandboxUrl : cloudApiBaseUrl;
      const [problem] = configProblems(sandboxUrl ? undefined : apiBaseUrl);
      if (problem) throw problem;
      return new CloudApiClient({
        apiBaseUrl,
        apiVersion,
        phoneNumberId: node.phoneNumberId,
        // configProblems refuses a configuration without one.
        accessToken: accessToken as string,
        ...(sandboxUrl ? { wabaId: sandboxWabaId } : config.wabaId ? { wabaId: String(config.wabaId) } : {}),
        throughput,
        maxQueue: positiveInteger(config.maxQueue, WHATSAPP_CONFIG_DEFAULTS.maxQueue),
        timeoutMs: positiveInteger(config.timeoutMs, WHATSAPP_CONFIG_DEFAULTS.timeoutMs),
      });
    }

    node.client = () => {
      if (closed)
        return Promise.reject(new GdprWhatsAppError('config-closed', 'The WhatsApp configuration was stopped'));
      if (!client) {
        const creating = createClient();
        client = creating;
        creating.then(
          (created) => {
            if (client === creating) made = created;
          },
          // A failed start (no token yet, sandbox not up) must not stick until the next deploy.
          () => {
            client = undefined;
          },
        );
      }
      return client;
    };

    node.forgetTemplateCategories = (names: readonly string[]) => {
      // A client still being made remembers nothing yet.
      for (const name of names) made?.forgetTemplateCategory(name);
    };

    // Said at deploy, all at once: otherwise each shows up only as the failure of a send, one after the other.
    if (!sandboxMode) {
      for (const problem of configProblems(cloudApiBaseUrl)) node.error(translateError(RED, problem));
    }

    // GDPR Chapter V: message data stored at rest outside the EU/EEA is a third-country transfer.
    if (!sandboxMode && accessToken && PHONE_NUMBER_ID.test(node.phoneNumberId)) {
      node
        .client()
        .then((c) => c.getPhoneNumber())
        .then((info) => {
          if (!closed && !isEuEeaRegion(info.storageRegion)) {
            node.warn(RED._('whatsapp-config.warn.storage-outside-eu', { region: info.storageRegion || '-' }));
          }
        })
        .catch((err: unknown) => {
          if (!closed) node.warn(RED._('whatsapp-config.warn.check-failed', { error: translateError(RED, err) }));
        });
    }

    // Templates sent without a marketing consent are looked up in the account's list (whatsapp-send): say it now.
    if (!sandboxMode && !config.wabaId) node.warn(RED._('whatsapp-config.warn.no-waba-id'));

    node.on('close', (removed: boolean, done: () => void) => {
      closed = true;
      webhooks.clear();
      // A redeployed config registers its number again and keeps the sandbox conversations.
      if (sandboxMode && removed) processSandbox().unregisterNumber(node.phoneNumberId);
      const closing = client;
      client = undefined;
      made = undefined;
      Promise.resolve(closing)
        .then((c) => c?.close())
        .catch(() => undefined)
        .finally(done);
    });
  }

  RED.nodes.registerType('whatsapp-config', WhatsAppConfig as never, {
    settings: savedConfigSettings('whatsapp-config', whatsappConfigMigrations),
    credentials: {
      accessToken: { type: 'password' },
      appSecret: { type: 'password' },
      verifyToken: { type: 'password' },
    },
  });

  // "Check connection" in the edit dialog: asks the deployed config node's number for its details.
  RED.httpAdmin.post(
    `${ADMIN_PREFIX}/config/:id/check`,
    needsPermission(RED, PERMISSION_READ),
    (req: Request, res: Response) => {
      const configNode = RED.nodes.getNode(String(req.params.id)) as WhatsAppConfigNode | null;
      if (configNode?.type !== 'whatsapp-config') {
        res.status(404).json({
          error: 'deploy-first',
          message: RED._(`${ERRORS_NAMESPACE}:errors.deploy-first`),
        });
        return;
      }
      configNode
        .client()
        .then((c) => c.getPhoneNumber())
        .then((info) =>
          res.json({
            mode: configNode.mode,
            displayPhoneNumber: info.displayPhoneNumber,
            verifiedName: info.verifiedName,
            qualityRating: info.qualityRating,
            storageRegion: info.storageRegion ?? null,
            storageStatus: info.storageStatus ?? null,
            euStorage: isEuEeaRegion(info.storageRegion),
          }),
        )
        .catch((err: unknown) => {
          const code = err instanceof GdprWhatsAppError ? err.code : 'internal-error';
          res.status(502).json({ error: code, message: translateError(RED, err) });
        });
    },
  );

  // The sandbox chat page: its static files hold no data and load without a login (a browser tab sends no
  // admin token); every JSON endpoint needs the permission, and the page sends the editor's token.
  const chat = createChatHandler(processSandbox(), { basePath: `${SANDBOX_CHAT_PATH}/` });
  const chatGuard = (permission: string) => {
    const guard = needsPermission(RED, permission);
    return (req: Request, res: Response, next: NextFunction) => {
      const relative = req.path.slice(SANDBOX_CHAT_PATH.length).replace(/^\//, '');
      if (req.method === 'GET' && isChatAsset(relative)) next();
      else guard(req, res, next);
    };
  };
  const chatPaths = [SANDBOX_CHAT_PATH, `${SANDBOX_CHAT_PATH}/*`];
  RED.httpAdmin.get(chatPaths, chatGuard(PERMISSION_READ), chat);
  RED.httpAdmin.post(chatPaths, chatGuard(PERMISSION_WRITE), chat);
}

/**
 * The first character of `token` that no access token has, as "U+2026"; undefined when there is none. Meta's tokens
 * are printable ASCII: a space, a line break or a character beyond ASCII came with copying ("…" where a long token
 * was shortened for display, a zero-width space). node:http refuses most of them in a header, Meta the rest.
 */
export function strayTokenCharacter(token: string): string | undefined {
  const found = /[^\x21-\x7e]/u.exec(token);
  if (!found) return undefined;
  return `U+${(found[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** https anywhere; plain http only to this machine (a local mock or proxy), where the token never crosses a network. */
export function carriesTokenSafely(apiBaseUrl: string): boolean {
  try {
    const url = new URL(apiBaseUrl);
    if (url.protocol === 'https:') return true;
    return url.protocol === 'http:' && /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i.test(url.hostname);
  } catch {
    return false;
  }
}
