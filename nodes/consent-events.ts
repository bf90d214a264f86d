import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { LedgerHandle } from '../lib/consent/threaded-ledger';
import type { LedgerEvent } from '../lib/consent/types';
import { consentEventPayload, eventSelected, parseEventFilter } from '../lib/conversation/dsr';
import { GdprWhatsAppError } from '../lib/errors';
import { findConsentStore, ledgerOf } from './consent-store';
import { catchableError, translateError } from './shared/i18n';
import { type Migration, migrate, withDefaults } from './shared/migrations';
import { statusOf } from './shared/status';

interface ConsentEventsDef extends NodeDef {
  configVersion?: number;
  store: string;
  includePhone?: boolean;
  /** Event types to emit; empty = all. */
  eventTypes?: string[] | string;
}

const migrations: readonly Migration[] = [withDefaults({ includePhone: false })];

/**
 * consent-events: emits the consent store's ledger events (requested, confirmed, withdrawn, expired, erased,
 * notice shown) so a flow can keep a CRM in step. Pseudonym always, phone number only when ticked. Its input
 * runs store maintenance on demand: msg.topic "retention-sweep" or "verify-audit", answered on the same output.
 */
export default function consentEventsNode(RED: NodeAPI): void {
  function ConsentEvents(this: Node, saved: ConsentEventsDef) {
    RED.nodes.createNode(this, saved);
    const config = migrate<ConsentEventsDef>(saved, migrations);
    const store = findConsentStore(RED, config.store);
    const includePhone = config.includePhone === true;
    const filter = parseEventFilter(config.eventTypes);
    let ledger: LedgerHandle | undefined;
    let closed = false;
    let emitted = 0;

    const onEvent = (event: LedgerEvent) => {
      if (!event || typeof event.type !== 'string' || !eventSelected(event.type, filter)) return;
      emitted += 1;
      this.send({ topic: event.type, payload: consentEventPayload(event, includePhone) });
      this.status(statusOf('ready', RED._('consent-events.status.emitted', { count: emitted })));
    };

    if (!store) {
      this.status(statusOf('broken', RED._('consent-events.status.no-store')));
    } else {
      this.status(statusOf('waiting', RED._('consent-events.status.connecting')));
      store.getLedger().then(
        (opened) => {
          // The flow may have been stopped while the store was still opening.
          if (closed) return;
          ledger = opened;
          ledger.on('event', onEvent);
          this.status(statusOf('ready', RED._('consent-events.status.listening')));
        },
        (err: unknown) => {
          if (closed) return;
          this.status(statusOf('failed', RED._('consent-events.status.store-failed')));
          this.error(RED._('consent-events.errors.store-failed', { reason: translateError(RED, err) }));
        },
      );
    }

    // Issue 3: the retention sweep also runs on demand and reports what it removed; the audit chain is
    // verified on demand (a scheduled inject in a flow), and a broken chain leaves as topic "audit.broken".
    this.on('input', async (msg: NodeMessageInFlow, send, done) => {
      try {
        const command = typeof msg.topic === 'string' ? msg.topic : '';
        if (command !== 'retention-sweep' && command !== 'verify-audit') {
          throw new GdprWhatsAppError(
            'unknown-store-command',
            'consent-events runs msg.topic "retention-sweep" or "verify-audit"',
          );
        }
        const opened = await ledgerOf(store);
        if (command === 'retention-sweep') {
          msg.topic = 'retention.swept';
          msg.payload = await opened.sweepRetention();
        } else {
          const verification = await opened.verifyAudit();
          msg.topic = verification.ok ? 'audit.verified' : 'audit.broken';
          msg.payload = verification;
          if (!verification.ok)
            this.status(
              statusOf(
                'failed',
                RED._('consent-events.status.audit-broken', {
                  seq: verification.firstBrokenSeq ?? '?',
                  defaultValue: 'audit chain broken at __seq__',
                }),
              ),
            );
        }
        send(msg);
        done();
      } catch (err) {
        done(catchableError(RED, err, 'store-command-failed'));
      }
    });

    this.on('close', (done: () => void) => {
      closed = true;
      ledger?.off('event', onEvent);
      ledger = undefined;
      done();
    });
  }

  RED.nodes.registerType('consent-events', ConsentEvents);
}
