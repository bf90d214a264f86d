import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { LedgerHandle } from '../lib/consent/threaded-ledger';
import type { LedgerEvent } from '../lib/consent/types';
import { consentEventPayload, eventSelected, parseEventFilter } from '../lib/conversation/dsr';
import { GdprWhatsAppError } from '../lib/errors';
import { findConsentStore, ledgerOf } from './consent-store';
import { catchableError, translateError } from './shared/i18n';
import { type Migration, migrate, savedConfigSettings, withDefaults } from './shared/migrations';
import { statusOf } from './shared/status';

interface ConsentEventsDef extends NodeDef {
  configVersion?: number;
  store: string;
  includePhone?: boolean;
  /** Event types to emit; empty = all. */
  eventTypes?: string[] | string;
}

const migrations: readonly Migration[] = [withDefaults({ includePhone: false })];

/** What msg.topic may ask of the store. */
const STORE_COMMANDS = ['retention-sweep', 'verify-audit', 'export-audit'];

/**
 * consent-events: emits the consent store's ledger events (requested, confirmed, withdrawn, expired, erased,
 * notice shown) so a flow can keep a CRM in step. Pseudonym always, phone number only when ticked. Its input
 * runs store maintenance on demand: msg.topic "retention-sweep", "verify-audit" or "export-audit", answered on the
 * same output.
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

    const listenTo = (opened: LedgerHandle) => {
      // The flow may have been stopped while the store was still opening.
      if (closed || ledger === opened) return;
      ledger?.off('event', onEvent);
      ledger = opened;
      opened.on('event', onEvent);
      opened.once('stopped', () => {
        if (ledger !== opened) return;
        opened.off('event', onEvent);
        ledger = undefined;
        if (!closed) this.status(statusOf('waiting', RED._('consent-events.status.connecting')));
      });
      this.status(statusOf('ready', RED._('consent-events.status.listening')));
    };

    // Every ledger the store opens, also the one after a failed open or a stopped thread (the store retries on its
    // own), is listened to before any other node can change a consent in it: no event goes unheard.
    let stopListening: (() => void) | undefined;
    if (!store) {
      this.status(statusOf('broken', RED._('consent-events.status.no-store')));
    } else {
      stopListening = store.onLedgerOpened(listenTo);
      this.status(statusOf('waiting', RED._('consent-events.status.connecting')));
      store.getLedger().then(listenTo, (err: unknown) => {
        if (closed) return;
        this.status(statusOf('failed', RED._('consent-events.status.store-failed')));
        this.error(RED._('consent-events.errors.store-failed', { reason: translateError(RED, err) }));
      });
    }

    /**
     * The audit log as JSON lines for an auditor (verifyAuditLines, audit-verify.ts), one message per page of
     * the ledger so a long log never sits in one message: a sequence in msg.parts that a join node in automatic
     * mode puts back together (the last part carries the count), or that a file node appends page by page.
     */
    const exportAudit = async (
      msg: NodeMessageInFlow,
      send: (msg: NodeMessageInFlow) => void,
      opened: LedgerHandle,
    ) => {
      const id = RED.util.generateId();
      let page = await opened.exportAuditPage();
      let events = 0;
      for (let index = 0; ; index += 1) {
        const last = page.next === undefined;
        // A string sequence as the split node makes one (type, ch), so join reassembles it without separators.
        const parts = { id, index, type: 'string', ch: '', ...(last ? { count: index + 1 } : {}) };
        const payload = page.lines.map((line) => `${line}\n`).join('');
        const out = Object.assign(RED.util.cloneMessage(msg), { topic: 'audit.exported', payload, parts });
        const anchored = index === 0 && page.lines.length > 0 && JSON.parse(page.lines[0]).type === 'anchor';
        events += page.lines.length - (anchored ? 1 : 0);
        send(out);
        if (last) break;
        page = await opened.exportAuditPage(page.next);
      }
      this.status(statusOf('ready', RED._('consent-events.status.audit-exported', { count: events })));
    };

    // Issue 3: the retention sweep also runs on demand and reports what it removed; the audit chain is
    // verified on demand (a scheduled inject in a flow), and a broken chain leaves as topic "audit.broken".
    this.on('input', async (msg: NodeMessageInFlow, send, done) => {
      try {
        const command = typeof msg.topic === 'string' ? msg.topic : '';
        if (!STORE_COMMANDS.includes(command)) {
          throw new GdprWhatsAppError(
            'unknown-store-command',
            'consent-events runs msg.topic "retention-sweep", "verify-audit" or "export-audit"',
          );
        }
        const opened = await ledgerOf(store);
        if (command === 'export-audit') {
          await exportAudit(msg, send, opened);
          done();
          return;
        }
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
                RED._('consent-events.status.audit-broken', { seq: verification.firstBrokenSeq ?? '?' }),
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
      stopListening?.();
      ledger?.off('event', onEvent);
      ledger = undefined;
      done();
    });
  }

  RED.nodes.registerType('consent-events', ConsentEvents, {
    settings: savedConfigSettings('consent-events', migrations),
  });
}
