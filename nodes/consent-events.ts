import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { FeedEvent, FeedPage } from '../lib/consent/event-feed';
import { EventReturns, MAX_ATTEMPTS_DEFAULT } from '../lib/consent/event-returns';
import type { LedgerHandle } from '../lib/consent/threaded-ledger';
import { consentEventPayload, eventSelected, parseEventFilter, requireKnownEventTypes } from '../lib/conversation/dsr';
import { GdprWhatsAppError } from '../lib/errors';
import { findConsentStore, ledgerOf } from './consent-store';
import { catchableError, textOr, translateError } from './shared/i18n';
import { type Migration, migrate, savedConfigSettings, withDefaults } from './shared/migrations';
import { changedOnly, statusOf } from './shared/status';
import { throttledWarning } from './shared/throttled-warning';

interface ConsentEventsDef extends NodeDef {
  configVersion?: number;
  store: string;
  includePhone?: boolean;
  /** Event types to emit; empty = all. */
  eventTypes?: string[] | string;
  /** When an event counts as delivered: once sent on, or once the flow wired it back to the input. */
  acknowledge?: 'sent' | 'returned';
  /** Seconds an event may stay out in "returned" mode before it is sent again. */
  redeliverAfter?: number | string;
  /** Sends of one event in "returned" mode before it is given up (reported to Catch nodes); 0 = no limit. */
  maxAttempts?: number | string;
}

const REDELIVER_AFTER_DEFAULT_S = 60;
const REDELIVER_AFTER_MAX_S = 3600;
const MAX_ATTEMPTS_MAX = 1000;

export const consentEventsMigrations: readonly Migration[] = [
  withDefaults({
    includePhone: false,
    acknowledge: 'sent',
    redeliverAfter: REDELIVER_AFTER_DEFAULT_S,
    maxAttempts: MAX_ATTEMPTS_DEFAULT,
  }),
  // Version 2: acknowledging on return; nodes saved before go on acknowledging what they sent on.
  {
    version: 2,
    up: (config) => ({
      ...config,
      acknowledge: config.acknowledge === 'returned' ? 'returned' : 'sent',
      redeliverAfter: config.redeliverAfter ?? REDELIVER_AFTER_DEFAULT_S,
    }),
  },
  // Version 3: an event that never comes back is given up after a number of sends; nodes saved before get the default.
  {
    version: 3,
    up: (config) => ({
      ...config,
      maxAttempts:
        config.maxAttempts === undefined || config.maxAttempts === null || config.maxAttempts === ''
          ? MAX_ATTEMPTS_DEFAULT
          : config.maxAttempts,
    }),
  },
];

/** The whole numbers the dialog takes for the settings of "acknowledge when returned" (consent-events.html). */
const RETURN_SETTINGS = {
  redeliverAfter: { min: 1, max: REDELIVER_AFTER_MAX_S, label: 'Send again after' },
  maxAttempts: { min: 0, max: MAX_ATTEMPTS_MAX, label: 'Give up after' },
} as const;

/**
 * A setting of "acknowledge when returned" as the dialog takes it: empty for the default, or a whole number in its
 * range. Anything else (60s, 0 seconds, 2.5 sends) used to fall back to the default unseen, so an integrator who
 * mistyped it never learned that events went again every minute or were given up after five misses. A whole number
 * written otherwise (60.0, +60), as the first dialog with "Send again after" saved it and the runtime ran it, runs on.
 */
function returnSettingProblem(
  config: ConsentEventsDef,
  name: keyof typeof RETURN_SETTINGS,
  label: (name: keyof typeof RETURN_SETTINGS, english: string) => string,
): GdprWhatsAppError | undefined {
  const value: unknown = config[name];
  const text = value === undefined || value === null ? '' : String(value).trim();
  const { min, max } = RETURN_SETTINGS[name];
  const number = Number(text);
  if (text === '' || (Number.isInteger(number) && number >= min && number <= max)) return undefined;
  const setting = label(name, RETURN_SETTINGS[name].label);
  return new GdprWhatsAppError(
    'invalid-events-setting',
    `consent-events' setting "${setting}" must be a whole number from ${min} to ${max}, not "${text.slice(0, 40)}"`,
    { setting, min, max, value: text.slice(0, 40) },
  );
}

/**
 * What in the settings the node refuses (a flow written by hand or by a script, which the edit dialog never checked):
 * an event type it does not know would let those events go unsent, an acknowledgement it does not know would let
 * them go when sent, a redelivery time or give-up count it does not take would be replaced by the default unseen.
 * Such a node takes no event, so they wait in the store for the node as meant.
 */
function settingsProblem(
  config: ConsentEventsDef,
  filter: Set<string> | undefined,
  label: (name: keyof typeof RETURN_SETTINGS, english: string) => string,
): GdprWhatsAppError | undefined {
  try {
    requireKnownEventTypes(filter);
  } catch (err) {
    return err as GdprWhatsAppError;
  }
  const acknowledge: unknown = config.acknowledge;
  if (acknowledge !== undefined && acknowledge !== 'sent' && acknowledge !== 'returned') {
    return new GdprWhatsAppError(
      'unknown-acknowledge',
      `Acknowledge must be "sent" or "returned", not "${acknowledge}"`,
      {
        value: String(acknowledge),
      },
    );
  }
  // Hidden and unused while events are acknowledged when sent on, as in the dialog.
  if (acknowledge !== 'returned') return undefined;
  return returnSettingProblem(config, 'redeliverAfter', label) ?? returnSettingProblem(config, 'maxAttempts', label);
}

/** A setting settingsProblem let pass: empty is the default. */
function settingOr(value: unknown, fallback: number): number {
  const text = value === undefined || value === null ? '' : String(value).trim();
  return text === '' ? fallback : Number(text);
}

/**
 * This Node-RED installation as a holder of event feed leases: a random id kept in the user directory, so that a
 * redeployed or restarted node takes over from its previous copy at once, even when that copy could not let go (the
 * store closing at the same time, a crash), while a copy on another instance waits for the lease. Without a writable
 * user directory, this process's own id. The host's name goes with it: replicas sharing one user directory (a shared
 * volume, or an image built with the file in it) would otherwise all hold the lease at once and each send every event.
 */
const holders = new Map<string, string>();
const PROCESS_HOLDER = `node-red-${randomUUID()}`;
const HOLDER_FILE = '.whatsapp-gdpr-instance-id';

export function installationHolder(userDir: unknown, host = os.hostname()): string {
  let kept = typeof userDir === 'string' && userDir !== '' ? holders.get(userDir) : PROCESS_HOLDER;
  if (kept === undefined) {
    kept = keptHolder(path.join(userDir as string, HOLDER_FILE)) ?? PROCESS_HOLDER;
    holders.set(userDir as string, kept);
  }
  return `${kept}@${host.slice(0, 100)}`;
}

function keptHolder(file: string): string | undefined {
  const read = () => {
    try {
      const id = fs.readFileSync(file, 'utf8').trim();
      return /^node-red-[0-9a-f-]{36}$/.test(id) ? id : undefined;
    } catch {
      return undefined;
    }
  };
  const kept = read();
  if (kept) return kept;
  try {
    // 'wx': of two nodes starting at once, one writes and the other reads what it wrote.
    fs.writeFileSync(file, PROCESS_HOLDER, { flag: 'wx', mode: 0o600 });
    return PROCESS_HOLDER;
  } catch {
    return read();
  }
}

/** How often the node looks for events it was not told of: another instance's, or a lease to take over. */
const POLL_MS = 5000;

/** The shortest wait before a look for events to send again. */
const REDELIVERY_FLOOR_MS = 1000;
const UNKNOWN_ID_WARNING_INTERVAL_MS = 60_000;

/** What msg.topic may ask of the store. */
const STORE_COMMANDS = ['retention-sweep', 'verify-audit', 'export-audit'];

/**
 * consent-events: emits the consent store's ledger events (requested, confirmed, withdrawn, expired, erased,
 * notice shown) so a flow can keep a CRM in step, at least once: from the store's event feed, so that an event
 * is not lost to a crash, a redeploy or another instance. Pseudonym always, phone number only when ticked. Its input
 * runs store maintenance on demand: msg.topic "retention-sweep", "verify-audit" or "export-audit", answered on the
 * same output.
 */
export default function consentEventsNode(RED: NodeAPI): void {
  function ConsentEvents(this: Node, saved: ConsentEventsDef) {
    RED.nodes.createNode(this, saved);
    // Restated after every poll (every few seconds): passed on only when it changed.
    const showStatus = changedOnly(this);
    const config = migrate<ConsentEventsDef>(saved, consentEventsMigrations);
    const store = findConsentStore(RED, config.store);
    const includePhone = config.includePhone === true;
    const filter = parseEventFilter(config.eventTypes);
    const refused = settingsProblem(config, filter, (name, english) =>
      textOr(RED, `consent-events.label.${name}`, english),
    );
    // A refused node delivers nothing: the defaults only keep its (unused) tracker well-formed.
    const checked: Partial<ConsentEventsDef> = refused === undefined ? config : {};
    const redeliverMs = settingOr(checked.redeliverAfter, REDELIVER_AFTER_DEFAULT_S) * 1000;
    const returns =
      config.acknowledge === 'returned'
        ? new EventReturns(redeliverMs, settingOr(checked.maxAttempts, MAX_ATTEMPTS_DEFAULT))
        : undefined;
    let redeliveryTimer: NodeJS.Timeout | undefined;
    let ledger: LedgerHandle | undefined;
    let closed = false;
    let emitted = 0;
    /** Events this copy gave up (sent as often as allowed, never back): on show until the node restarts. */
    let givenUp = 0;
    let lastGivenUp = 0;
    /**
     * The ledger keeps this node's place in its event feed (consumer = the node's id, so it outlives a redeploy and
     * a restart); each copy of the node (one per Node-RED instance on the same store) is one holder, and only the
     * holder of the lease delivers: every event reaches the flow at least once, from one instance.
     */
    const consumer = `consent-events:${this.id}`;
    const holder = installationHolder(RED.settings.userDir);
    let delivering: Promise<void> | undefined;
    let deliverAgain = false;
    let failing = false;
    let auditBroken = false;
    let standby = false;

    const selected = (event: FeedEvent) => eventSelected(event.type, filter);
    const eventMessage = (event: FeedEvent) => ({
      topic: event.type,
      payload: consentEventPayload(event, includePhone),
      eventId: event.id,
    });
    const emit = (event: FeedEvent) => {
      this.send(eventMessage(event));
    };

    /**
     * An event given up is reported as an error with the event's message, so that a Catch node can keep it (a
     * dead-letter store): the text names the id and the sends, never the person (the payload carries what the
     * output would).
     */
    const reportGivenUp = ({ event, attempts }: { event: FeedEvent; attempts: number }) => {
      givenUp += 1;
      lastGivenUp = event.id;
      const err = new GdprWhatsAppError(
        'event-given-up',
        `Event ${event.id} did not come back to consent-events after ${attempts} sends and is given up`,
        { id: event.id, attempts },
      );
      this.error(catchableError(RED, err), { ...eventMessage(event), attempts });
    };

    /** Sends a page at once and acknowledges it (the default): returns whether the next page may follow. */
    const deliverPage = async (opened: LedgerHandle, events: readonly FeedEvent[]): Promise<boolean> => {
      // A node stopped halfway sends no more: what it did not send comes from its next copy.
      let sent: number | undefined;
      for (const event of events) {
        if (closed) break;
        if (selected(event)) {
          emit(event);
          emitted += 1;
        }
        sent = event.id;
      }
      if (sent !== undefined) await opened.acknowledgeEvents(consumer, { holder, lastId: sent });
      return true;
    };

    /**
     * "Acknowledge when returned": sends what is not out yet (or out too long) and acknowledges only as far as every
     * event came back. The next page follows only once this one settled: at most one page is out at a time.
     */
    const deliverReturnedPage = async (
      opened: LedgerHandle,
      page: FeedPage,
      tracker: EventReturns,
    ): Promise<boolean> => {
      const events = page.events;
      // A clock that never goes back: a step of the wall clock neither holds back nor bunches redeliveries.
      const plan = tracker.plan(events, page.more, performance.now(), selected, page.after);
      // Reported before the acknowledgement moves past them: none is let go unheard.
      for (const given of plan.givenUp) reportGivenUp(given);
      if (plan.resent > 0) {
        this.warn(RED._('consent-events.errors.redelivered', { count: plan.resent, seconds: redeliverMs / 1000 }));
      }
      for (const event of plan.send) {
        if (closed) break;
        emit(event);
      }
      // Events sent again are counted once.
      emitted += plan.send.length - plan.resent;
      if (plan.settledUpTo !== undefined) {
        const moved = await opened.acknowledgeEvents(consumer, { holder, lastId: plan.settledUpTo });
        if (moved) tracker.settled(plan.settledUpTo);
        else {
          // Not moved: another copy holds the lease now. This one starts afresh, and the next read at once says whether
          // it stands by or holds the lease again (then it sends from the cursor).
          tracker.clear();
          deliverAgain = true;
        }
      }
      scheduleRedelivery(tracker);
      return events.length > 0 && plan.settledUpTo === events[events.length - 1].id;
    };

    const scheduleRedelivery = (tracker: EventReturns) => {
      clearTimeout(redeliveryTimer);
      const due = tracker.nextRedelivery();
      if (due === undefined || closed) return;
      // At least a second: a due time in the past must not turn into a read every few milliseconds.
      redeliveryTimer = setTimeout(onEvent, Math.max(REDELIVERY_FLOOR_MS, due - performance.now()));
    };

    const readyStatus = () => {
      // Given up stays on show (a red ring) until the node restarts: the Catch node's flow tells which.
      if (givenUp > 0) {
        return statusOf(
          'failed',
          RED._('consent-events.status.emitted-given-up', { count: emitted, givenUp, id: lastGivenUp }),
        );
      }
      if (emitted === 0) return statusOf('ready', RED._('consent-events.status.listening'));
      if (returns && returns.waiting > 0) {
        return statusOf(
          'ready',
          RED._('consent-events.status.emitted-waiting', { count: emitted, waiting: returns.waiting }),
        );
      }
      return statusOf('ready', RED._('consent-events.status.emitted', { count: emitted }));
    };

    /** Takes the events waiting for this node, page by page, sends them and acknowledges them; one run at a time. */
    const deliver = (): Promise<void> => {
      const opened = ledger;
      if (!opened || closed) return Promise.resolve();
      if (delivering) {
        deliverAgain = true;
        return delivering;
      }
      delivering = (async () => {
        do {
          deliverAgain = false;
          for (;;) {
            const page = await opened.readEvents(consumer, { holder, includeContact: includePhone });
            if (page.held) {
              // The copy holding the lease sends from the cursor: what this one had out is its to send now.
              returns?.clear();
              standby = true;
              if (!closed) showStatus(statusOf('waiting', RED._('consent-events.status.standby')));
              return;
            }
            standby = false;
            const settled = returns
              ? await deliverReturnedPage(opened, page, returns)
              : await deliverPage(opened, page.events);
            if (!page.more || !settled || closed) break;
          }
        } while (deliverAgain && !closed);
        failing = false;
        // A broken audit chain stays on show until a verification passes again.
        if (closed || auditBroken) return;
        showStatus(readyStatus());
      })()
        .catch((err: unknown) => {
          // A ledger that stopped meanwhile is replaced: the next one's delivery says how it goes.
          if (closed || ledger !== opened) return;
          showStatus(statusOf('failed', RED._('consent-events.status.store-failed')));
          // Once per run of failures: the next poll tries again, and the events wait in the store meanwhile.
          if (!failing) this.warn(RED._('consent-events.errors.delivery-failed', { reason: translateError(RED, err) }));
          failing = true;
        })
        .finally(() => {
          delivering = undefined;
          // Told of a change after the run's last read, but before it ended.
          if (deliverAgain) void deliver();
        });
      return delivering;
    };
    const onEvent = () => {
      void deliver();
    };

    // Another instance's changes, a lease to renew or to take over: the feed is looked at every few seconds too.
    const poll = setInterval(onEvent, POLL_MS);

    /**
     * The consent store calls this when it opened a ledger, and waits for the answer before any other node may use it:
     * the first read registers a new node in the feed, so that no change from then on goes without its event.
     */
    const listenTo = async (opened: LedgerHandle): Promise<void> => {
      // The flow may have been stopped while the store was still opening.
      if (closed || ledger === opened) return;
      ledger?.off('event', onEvent);
      ledger = opened;
      opened.once('stopped', () => {
        if (ledger !== opened) return;
        opened.off('event', onEvent);
        ledger = undefined;
        if (!closed) showStatus(statusOf('waiting', RED._('consent-events.status.connecting')));
      });
      showStatus(statusOf('ready', RED._('consent-events.status.listening')));
      try {
        await opened.readEvents(consumer, { holder, includeContact: includePhone, limit: 1 });
      } catch {
        // The delivery below reports it, and the poll tries again.
      }
      if (ledger !== opened) return;
      opened.on('event', onEvent);
      // What happened while it was away (stopped, redeployed, crashed, another instance's changes) comes first.
      void deliver();
    };

    // Every ledger the store opens, also the one after a failed open or a stopped thread (the store retries on its
    // own), is listened to before any other node can change a consent in it: no event goes unheard.
    let stopListening: (() => void) | undefined;
    if (!store) {
      showStatus(statusOf('broken', RED._('consent-events.status.no-store')));
    } else if (refused) {
      showStatus(statusOf('broken', translateError(RED, refused)));
      this.error(translateError(RED, refused));
    } else {
      stopListening = store.onLedgerOpened(listenTo);
      showStatus(statusOf('waiting', RED._('consent-events.status.connecting')));
      store.getLedger().then(listenTo, (err: unknown) => {
        if (closed) return;
        showStatus(statusOf('failed', RED._('consent-events.status.store-failed')));
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
      showStatus(statusOf('ready', RED._('consent-events.status.audit-exported', { count: events })));
    };

    /**
     * An event the flow wired back: delivered. The cursor moves once every event before it came back too, and the
     * person's next event goes.
     */
    const takeBack = (eventId: unknown) => {
      if (!returns) {
        throw new GdprWhatsAppError(
          'events-acknowledged-when-sent',
          'This consent-events node acknowledges events when it sends them; choose "when returned" to wire them back',
        );
      }
      if (typeof eventId !== 'number' || !Number.isSafeInteger(eventId) || eventId < 1) {
        throw new GdprWhatsAppError('invalid-event-id', 'msg.eventId must be the id of an event this node sent');
      }
      if (returns.returned(eventId)) {
        void deliver();
        return;
      }
      // Wired back wrong (another node's events, an id made up in the flow): it acknowledges nothing, say so.
      if (!returns.accountsFor(eventId)) warnUnknownId(eventId);
      if (!closed && !auditBroken && !failing && !standby && ledger) showStatus(readyStatus());
    };

    /** A flow wired back wrong sends such ids with every event: one warning a minute, with a count. */
    const warnUnknownId = throttledWarning<number>(
      (text) => this.warn(text),
      UNKNOWN_ID_WARNING_INTERVAL_MS,
      (id, more) =>
        more > 0
          ? RED._('consent-events.errors.unknown-event-id-more', { id, count: more })
          : RED._('consent-events.errors.unknown-event-id', { id }),
    );

    // Issue 3: the retention sweep also runs on demand and reports what it removed; the audit chain is
    // verified on demand (a scheduled inject in a flow), and a broken chain leaves as topic "audit.broken".
    this.on('input', async (msg: NodeMessageInFlow, send, done) => {
      try {
        const command = typeof msg.topic === 'string' ? msg.topic : '';
        if (!STORE_COMMANDS.includes(command) && (msg as { eventId?: unknown }).eventId !== undefined) {
          takeBack((msg as { eventId?: unknown }).eventId);
          done();
          return;
        }
        if (!STORE_COMMANDS.includes(command)) {
          throw new GdprWhatsAppError(
            'unknown-store-command',
            'consent-events runs msg.topic "retention-sweep", "verify-audit" or "export-audit"',
          );
        }
        const opened = await ledgerOf(store);
        // Answers leave on the events' output: an id there would pass for an event's (and acknowledge it, returned).
        delete (msg as { eventId?: unknown }).eventId;
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
          auditBroken = !verification.ok;
          if (!verification.ok)
            showStatus(
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

    this.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      clearInterval(poll);
      clearTimeout(redeliveryTimer);
      stopListening?.();
      const opened = ledger;
      opened?.off('event', onEvent);
      ledger = undefined;
      // The next copy (a redeploy) takes over at once. A removed node keeps its place: disabled for a while, it sends
      // what happened meanwhile once enabled again; deleted for good, the retention sweep drops it after 7 days.
      const running = delivering ?? Promise.resolve();
      running
        .then(() => opened?.releaseEvents(consumer, { holder }))
        .catch(() => undefined)
        .finally(done);
    });
  }

  RED.nodes.registerType('consent-events', ConsentEvents, {
    settings: savedConfigSettings('consent-events', consentEventsMigrations),
  });
}
