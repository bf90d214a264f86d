import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { classifyApiError } from '../../lib/cloud-api/errors';
import { GdprWhatsAppError } from '../../lib/errors';
import { consentEventsMigrations } from '../../nodes/consent-events';
import { optInFlowMigrations } from '../../nodes/opt-in-flow';
import { FirstHopCompletion } from '../../nodes/shared/completion';
import { catalogNamespace, ERRORS_NAMESPACE, errorReport, translateError } from '../../nodes/shared/i18n';
import { inboundPayload } from '../../nodes/shared/messages';
import { currentVersion, migrate } from '../../nodes/shared/migrations';
import { whatsappConfigMigrations } from '../../nodes/shared/migrations/whatsapp-config';
import { whatsappWebhookMigrations } from '../../nodes/shared/migrations/whatsapp-webhook';
import { sandboxPhoneNumberId } from '../../nodes/shared/sandbox';
import { statusOf, throttledStatus } from '../../nodes/shared/status';
import { isEuEeaRegion } from '../../nodes/shared/storage-region';

describe('nodes/shared', () => {
  describe('throttledStatus', () => {
    it('shows a running count at most once per interval, always the latest, and nothing after cancel', async () => {
      const shown: string[] = [];
      let built = 0;
      const counter = throttledStatus({ status: (s) => shown.push(String((s as { text?: string }).text)) }, 30);
      for (let i = 1; i <= 100; i++) {
        counter.show(() => {
          built += 1;
          return statusOf('ready', `${i} withdrawn`);
        });
      }
      assert.deepEqual(shown, [], 'nothing at once');
      await new Promise((resolve) => setTimeout(resolve, 60));
      assert.deepEqual(shown, ['100 withdrawn']);
      assert.equal(built, 1, 'only the status shown is built (translated)');
      counter.show(() => statusOf('ready', '101 withdrawn'));
      counter.cancel();
      await new Promise((resolve) => setTimeout(resolve, 60));
      assert.deepEqual(shown, ['100 withdrawn']);
    });
  });

  describe('FirstHopCompletion', () => {
    it('sends nothing while a modified-nodes deploy replaces a wired node (getNode answers undefined): Meta retries', async () => {
      const hooks: string[] = [];
      const RED = {
        nodes: { getNode: () => undefined },
        util: { generateId: () => `id-${hooks.length}` },
        hooks: { add: (id: string) => hooks.push(id), remove: () => undefined },
      };
      const sent: unknown[] = [];
      const completion = new FirstHopCompletion(RED as never, 50);
      const node = { wires: [['stop-handler-being-replaced']], send: (outputs: unknown) => sent.push(outputs) };
      // Node-RED would drop it without a word, and the webhook would answer 200 for a STOP nobody handled.
      assert.throws(
        () => completion.sendAndWait(node as never, [[{ payload: 'STOP' }]]),
        (err: GdprWhatsAppError) => err.code === 'webhook-not-handled' && err.params.count === 1,
      );
      assert.equal(sent.length, 0, 'nothing sent');
      completion.close();
    });
  });

  describe('migrations', () => {
    it('fills the defaults of a config saved before versioning and stamps the version', () => {
      const migrated = migrate<Record<string, unknown>>({ id: 'a', phoneNumberId: '1' }, whatsappConfigMigrations);
      assert.equal(migrated.mode, 'cloud');
      assert.equal(migrated.apiVersion, 'v25.0');
      assert.equal(migrated.throughput, 80);
      assert.equal(migrated.phoneNumberId, '1');
      assert.equal(migrated.configVersion, currentVersion(whatsappConfigMigrations));
    });

    it('leaves a current config as saved, including deliberate false values', () => {
      const saved = { id: 'w', path: '/x', minimise: false, maxBytes: 1024, configVersion: 1 };
      assert.deepEqual(migrate(saved, whatsappWebhookMigrations), saved);
      const old = migrate<Record<string, unknown>>({ id: 'w', path: '/x', minimise: false }, whatsappWebhookMigrations);
      assert.equal(old.minimise, false);
      assert.equal(old.maxBytes, 3 * 1024 * 1024);
    });

    it('gives an opt-in-flow saved before the request limit the default limit, and keeps a chosen one', () => {
      const saved = { id: 'o', store: 's', purpose: 'news', configVersion: 1 };
      const migrated = migrate<Record<string, unknown>>(saved, optInFlowMigrations);
      assert.equal(migrated.maxRequestsPerMinute, 30);
      assert.equal(migrated.configVersion, 3);
      assert.equal(
        migrate<Record<string, unknown>>({ ...saved, maxRequestsPerMinute: 0 }, optInFlowMigrations)
          .maxRequestsPerMinute,
        0,
      );
      const empty = migrate<Record<string, unknown>>({ ...saved, maxRequestsPerMinute: '' }, optInFlowMigrations);
      assert.equal(empty.maxRequestsPerMinute, 30, 'an empty field is the default, not "no limit"');
    });

    it("lets an opt-in-flow saved before the wording check take any wording, and new ones only the purpose's", () => {
      const saved = { id: 'o', store: 's', purpose: 'news', configVersion: 2, maxRequestsPerMinute: 30 };
      assert.equal(migrate<Record<string, unknown>>(saved, optInFlowMigrations).acceptAnyWording, true);
      const chosen = { ...saved, acceptAnyWording: false };
      assert.equal(migrate<Record<string, unknown>>(chosen, optInFlowMigrations).acceptAnyWording, false);
      const current = { ...saved, configVersion: 3 };
      assert.equal(migrate<Record<string, unknown>>(current, optInFlowMigrations).acceptAnyWording, undefined);
      // Written by hand without a version: the defaults, which check the wording.
      const bare = { id: 'o', store: 's', purpose: 'news' };
      assert.equal(migrate<Record<string, unknown>>(bare, optInFlowMigrations).acceptAnyWording, false);
    });

    it('lets a consent-events node saved before acknowledging on return go on acknowledging what it sent on', () => {
      const saved = { id: 'e', store: 's', includePhone: false, configVersion: 1 };
      const migrated = migrate<Record<string, unknown>>(saved, consentEventsMigrations);
      assert.deepEqual([migrated.acknowledge, migrated.redeliverAfter, migrated.configVersion], ['sent', 60, 3]);
      const bare = migrate<Record<string, unknown>>({ id: 'e', store: 's' }, consentEventsMigrations);
      assert.deepEqual([bare.acknowledge, bare.redeliverAfter], ['sent', 60]);
      const current = { ...saved, acknowledge: 'returned', redeliverAfter: 15, maxAttempts: 0, configVersion: 3 };
      assert.deepEqual(migrate(current, consentEventsMigrations), current);
    });

    it('gives a consent-events node saved before the limit on sends the default limit, 5', () => {
      const saved = { id: 'e', store: 's', acknowledge: 'returned', redeliverAfter: 15, configVersion: 2 };
      const migrated = migrate<Record<string, unknown>>(saved, consentEventsMigrations);
      assert.deepEqual([migrated.maxAttempts, migrated.configVersion], [5, 3]);
      assert.equal(
        migrate<Record<string, unknown>>({ ...saved, maxAttempts: '' }, consentEventsMigrations).maxAttempts,
        5,
      );
      // A value saved by hand before the version is kept, 0 (never give up) too.
      assert.equal(
        migrate<Record<string, unknown>>({ ...saved, maxAttempts: 0 }, consentEventsMigrations).maxAttempts,
        0,
      );
      assert.equal(migrate<Record<string, unknown>>({ id: 'e', store: 's' }, consentEventsMigrations).maxAttempts, 5);
    });

    it('runs only the newer migrations, in order, without touching the input', () => {
      const steps = [
        { version: 2, up: (c: Record<string, unknown>) => ({ ...c, trail: `${c.trail}2` }) },
        { version: 1, up: (c: Record<string, unknown>) => ({ ...c, trail: `${c.trail ?? ''}1` }) },
        { version: 3, up: (c: Record<string, unknown>) => ({ ...c, trail: `${c.trail}3` }) },
      ];
      const saved = { configVersion: 1, trail: 'x' };
      assert.deepEqual(migrate(saved, steps), { configVersion: 3, trail: 'x23' });
      assert.deepEqual(saved, { configVersion: 1, trail: 'x' });
    });
  });

  describe('translateError', () => {
    const catalog: Record<string, string> = {
      [`${ERRORS_NAMESPACE}:errors.invalid-phone`]: 'Die Telefonnummer ist ungültig.',
      [`${ERRORS_NAMESPACE}:errors.queue-full`]: 'Warteschlange voll (__max__).',
    };
    // Like i18next: a missing key comes back as the key without namespace.
    catalog[`${ERRORS_NAMESPACE}:errors.unknown-purpose`] =
      'Der Zweck __purpose__ ist nicht eingerichtet (__detail__).';
    // Like i18next: a missing key comes back as the key without namespace, an unfilled placeholder stays as it is.
    const RED = {
      _: (key: string, params?: Record<string, unknown>) => {
        const text = catalog[key];
        if (!text) return key.slice(key.indexOf(':') + 1);
        return text.replace(/__(\w+)__/g, (m, name: string) =>
          params?.[name] === undefined ? m : String(params[name]),
        );
      },
    };

    it('drops placeholders the error did not fill instead of showing them', () => {
      assert.equal(
        translateError(RED, new GdprWhatsAppError('unknown-purpose', 'unknown', { purpose: 'news' })),
        'Der Zweck news ist nicht eingerichtet.',
      );
    });

    it('names the catalog of a node set of this scoped package', () => {
      assert.equal(catalogNamespace('whatsapp-send'), '@gdpr-whatsapp/node-red/whatsapp-send');
      assert.equal(ERRORS_NAMESPACE, '@gdpr-whatsapp/node-red/whatsapp-config');
    });

    it('translates a coded error with its parameters and falls back to the English message', () => {
      assert.equal(
        translateError(RED, new GdprWhatsAppError('invalid-phone', 'bad number')),
        'Die Telefonnummer ist ungültig.',
      );
      assert.equal(
        translateError(RED, new GdprWhatsAppError('queue-full', 'full', { max: 5 })),
        'Warteschlange voll (5).',
      );
      assert.equal(translateError(RED, new GdprWhatsAppError('no-such-code', 'English text')), 'English text');
      assert.equal(translateError(RED, new Error('plain')), 'plain');
    });

    it("gives a failure without an answer of Meta's a title in the catalog's language, and keeps Meta's own", () => {
      const file = path.join(__dirname, '..', '..', '..', 'nodes', 'locales', 'de', 'whatsapp-config.json');
      const errors = JSON.parse(fs.readFileSync(file, 'utf8')).errors;
      const german = {
        _: (key: string, params?: Record<string, unknown>) => {
          const parts = key
            .slice(key.indexOf(':') + 1)
            .split('.')
            .slice(1);
          const text = parts.reduce<unknown>((node, part) => (node as Record<string, unknown>)?.[part], errors);
          if (typeof text !== 'string') return key.slice(key.indexOf(':') + 1);
          return text.replace(/__(\w+)__/g, (m, name: string) => String(params?.[name] ?? m));
        },
      };
      const unreachable = classifyApiError(
        undefined,
        undefined,
        Object.assign(new Error('getaddrinfo'), { code: 'ENOTFOUND' }),
      );
      assert.equal(
        translateError(german, unreachable),
        'Fehler der WhatsApp Cloud API 0: Serveradresse nicht gefunden',
      );
      assert.equal(unreachable.toJSON().title, 'Host not found', 'msg.error keeps the English title');
      const metas = classifyApiError(400, { error: { code: 131047, message: '(#131047) Re-engagement message' } });
      assert.equal(translateError(german, metas), 'Fehler der WhatsApp Cloud API 131047: Re-engagement message');
      const held = unreachable.heldBack(2000);
      assert.match(translateError(german, held), /\(Serveradresse nicht gefunden\)/);
    });

    it('reports a coded error as msg.error', () => {
      assert.deepEqual(errorReport(RED, new GdprWhatsAppError('invalid-phone', 'bad')), {
        code: 'invalid-phone',
        title: 'Die Telefonnummer ist ungültig.',
        retryable: false,
      });
    });

    it('reports a message refused unsent (queue full, sender stopped) as retryable', () => {
      for (const code of ['queue-full', 'closed', 'config-closed']) {
        assert.equal(errorReport(RED, new GdprWhatsAppError(code, 'not sent')).retryable, true, code);
      }
    });

    it('marks a message stopped on its way (closed-in-flight) as possibly delivered', () => {
      const stopped = Object.assign(new GdprWhatsAppError('closed-in-flight', 'stopped'), { deliveryUnknown: true });
      assert.deepEqual(errorReport(RED, stopped), {
        code: 'closed-in-flight',
        title: translateError(RED, stopped),
        retryable: false,
        deliveryUnknown: true,
      });
    });
  });

  it('knows EU/EEA storage regions', () => {
    assert.equal(isEuEeaRegion('DE'), true);
    assert.equal(isEuEeaRegion('no'), true);
    for (const outside of ['CH', 'GB', 'US', 'IN', '', undefined]) assert.equal(isEuEeaRegion(outside), false);
  });

  it('derives a stable numeric sandbox phone number id from the config node id', () => {
    const id = sandboxPhoneNumberId('a1b2c3d4e5f60718');
    assert.match(id, /^\d{15}$/);
    assert.equal(sandboxPhoneNumberId('a1b2c3d4e5f60718'), id);
    assert.notEqual(sandboxPhoneNumberId('another-node'), id);
  });

  it('uses the text or the tapped reply id as msg.payload', () => {
    const base = { messageId: 'm', timestamp: 1, phoneNumberId: 'p' };
    assert.equal(inboundPayload({ ...base, type: 'text', text: 'Hallo' }), 'Hallo');
    // As the normaliser gives them: a tapped reply's title is its text, the id is what the flow switches on.
    assert.equal(
      inboundPayload({
        ...base,
        type: 'interactive',
        text: 'Ja, gerne',
        interactive: { type: 'button_reply', id: 'yes', title: 'Ja, gerne' },
      }),
      'yes',
    );
    assert.equal(
      inboundPayload({
        ...base,
        type: 'button',
        text: 'Stop promotions',
        button: { payload: 'STOP', text: 'Stop promotions' },
      }),
      'STOP',
    );
    // A template's quick reply without a payload is known by its text.
    assert.equal(inboundPayload({ ...base, type: 'button', text: 'Stop', button: { text: 'Stop' } }), 'Stop');
    assert.equal(inboundPayload({ ...base, type: 'image', media: { id: 'i', caption: 'Rechnung' } }), 'Rechnung');
  });
});
