import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { GdprWhatsAppError } from '../errors';
import { forgetPhoneNumber, normalisePhoneNumber } from '../phone';
import { auditExportLines } from './audit-verify';
import type { ConsentLedger } from './ledger';
import {
  CLOSE,
  EVENT,
  type ForwardedMethod,
  type PostedMethod,
  type ReadyInfo,
  reviveError,
  type SerialisedError,
  type ThreadMessage,
  type ThreadRequest,
  WARNING,
} from './ledger-thread-protocol';
import type { PurposeDefinition } from './purposes';
import type { LedgerEvent, LedgerOptions, RetentionSettings } from './types';

/** What the nodes use of a consent ledger; ConsentLedger and ThreadedConsentLedger both offer it. */
export type LedgerHandle = Pick<
  ConsentLedger,
  | ForwardedMethod
  | PostedMethod
  | 'exportAudit'
  | 'close'
  | 'purposeIds'
  | 'purpose'
  | 'backendDescription'
  | 'retention'
> &
  Pick<EventEmitter, 'on' | 'off' | 'once' | 'listenerCount'>;

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/**
 * A ConsentLedger on a worker thread of its own, with the same methods. The ledger's work (keyed hashes,
 * encryption, the audit chain, SQLite's statements and page writes) runs on another core than the flows:
 * on the event loop it was over half of a webhook's CPU time (bench/inbound.ts). Calls answer in the order
 * the ledger finishes them; events arrive before the answer of the call that caused them, as in-process.
 * The thread keeps the process alive only while a call waits for its answer. Should the thread end by itself
 * (a crash), waiting and later calls reject with store-thread-stopped and the ledger emits 'stopped'.
 */
export class ThreadedConsentLedger extends EventEmitter implements LedgerHandle {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private stopped?: Error;
  private closing?: Promise<void>;
  private readonly exited: Promise<void>;
  /** Requests of one event-loop turn travel as one message: each postMessage costs a wake-up of the thread. */
  private outbox: ThreadRequest[] = [];
  private readonly purposes: Map<string, PurposeDefinition>;
  readonly backendDescription: string;
  readonly retention: RetentionSettings;

  private constructor(
    private readonly worker: Worker,
    info: ReadyInfo,
  ) {
    super();
    this.purposes = new Map(info.purposes.map((p) => [p.id, p]));
    this.backendDescription = info.backendDescription;
    this.retention = info.retention;
    worker.on('message', (messages: ThreadMessage[]) => {
      for (const message of messages) this.receive(message);
    });
    worker.on('error', (err) => this.stop(err));
    this.exited = new Promise((resolve) => {
      worker.once('exit', () => {
        if (this.closing) {
          this.stop(new GdprWhatsAppError('store-closed', 'The consent store was stopped'));
        } else {
          this.stop(new GdprWhatsAppError('store-thread-stopped', 'The consent store thread stopped unexpectedly'));
          // The consent-store node opens a new ledger for the next caller.
          this.emit('stopped', this.stopped);
        }
        resolve();
      });
    });
    worker.unref();
  }

  /** Opens the ledger on a new thread; rejects as ConsentLedger.open would (keys, purposes, database). */
  static open(options: LedgerOptions): Promise<ThreadedConsentLedger> {
    if (options?.clock) {
      return Promise.reject(new GdprWhatsAppError('invalid-input', 'A threaded ledger keeps the real time'));
    }
    const worker = new Worker(path.join(__dirname, 'ledger-thread.js'), { workerData: { options } });
    return new Promise((resolve, reject) => {
      const early = (err: Error) => reject(err);
      worker.once('error', early);
      worker.once('message', ([[, ok, result]]: [[number, boolean, ReadyInfo | SerialisedError]]) => {
        worker.off('error', early);
        if (ok) resolve(new ThreadedConsentLedger(worker, result as ReadyInfo));
        else reject(reviveError(result as SerialisedError));
      });
    });
  }

  readonly requestConsent = this.forward('requestConsent');
  readonly confirmConsent = this.forward('confirmConsent');
  readonly giveConsent = this.forward('giveConsent');
  readonly refuseConsent = this.forward('refuseConsent');
  readonly withdrawConsent = this.forward('withdrawConsent');
  readonly withdrawUnlessErased = this.forward('withdrawUnlessErased');
  readonly linkUserId = this.forward('linkUserId');
  /**
   * The number she left is forgotten on this thread too, as the thread forgot it (IdentityChanges.numberChanged): the
   * ledger no longer holds it, and it may be someone else's now. By the answer, not subject.number-changed: a repeated
   * move and the move of an erased person tell no event, yet the nodes normalised the number for this very call.
   */
  readonly numberChanged: ConsentLedger['numberChanged'] = async (input) => {
    const changed = await this.call('numberChanged', [input]);
    forgetNumberLeft(input);
    return changed as Awaited<ReturnType<ConsentLedger['numberChanged']>>;
  };
  readonly checkConsent = this.forward('checkConsent');
  readonly hasConsent = this.forward('hasConsent');
  readonly getConsent = this.forward('getConsent');
  readonly flushUsage = this.forward('flushUsage');
  readonly recordNoticeShown = this.forward('recordNoticeShown');
  readonly hasSeenNotice = this.forward('hasSeenNotice');
  readonly sentBeforeNumberChange = this.forward('sentBeforeNumberChange');
  readonly recordInbound = this.forward('recordInbound');
  readonly lastInboundAt = this.forward('lastInboundAt');
  readonly recordBlocked = this.forward('recordBlocked');
  readonly eraseSubject = this.forward('eraseSubject');
  readonly isSuppressed = this.forward('isSuppressed');
  readonly knowsSubject = this.forward('knowsSubject');
  readonly isErasedAndGone = this.forward('isErasedAndGone');
  readonly noticeNotDelivered = this.forward('noticeNotDelivered');
  readonly noticeSent = this.forward('noticeSent');
  readonly messagesFailed = this.forward('messagesFailed');
  readonly requestNotDelivered = this.forward('requestNotDelivered');
  readonly isRequestOpen = this.forward('isRequestOpen');
  readonly requestSent = this.forward('requestSent');
  readonly requestsFailed = this.forward('requestsFailed');
  readonly exportSubject = this.forward('exportSubject');
  readonly sweepRetention = this.forward('sweepRetention');
  readonly markSeen = this.forward('markSeen');
  readonly claim = this.forward('claim');
  readonly complete = this.forward('complete');
  readonly release = this.forward('release');
  readonly claimAll = this.forward('claimAll');
  readonly completeAll = this.forward('completeAll');
  readonly releaseAll = this.forward('releaseAll');
  readonly verifyAudit = this.forward('verifyAudit');
  readonly exportAuditPage = this.forward('exportAuditPage');
  readonly integrityCheck = this.forward('integrityCheck');
  readonly readEvents = this.forward('readEvents');
  readonly acknowledgeEvents = this.forward('acknowledgeEvents');
  readonly releaseEvents = this.forward('releaseEvents');

  /** Batched like in-process: the thread writes the marks every few seconds. */
  markUsed(subject: Parameters<ConsentLedger['markUsed']>[0], purpose: string): void {
    this.post('markUsed', [subject, purpose]);
  }

  startRetentionTimer(ms: number): void {
    this.post('startRetentionTimer', [ms]);
  }

  stopRetentionTimer(): void {
    this.post('stopRetentionTimer', []);
  }

  purposeIds(): string[] {
    return [...this.purposes.keys()];
  }

  purpose(id: string): PurposeDefinition | undefined {
    return this.purposes.get(id);
  }

  /** A page at a time from the thread, so a long log never crosses it whole. */
  exportAudit(): AsyncIterable<string> {
    return auditExportLines((after) => this.exportAuditPage(after));
  }

  /** Flushes usage marks, closes the database and ends the thread; later calls reject with store-closed. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.worker.ref();
      if (!this.stopped) await this.call(CLOSE, []).catch(() => undefined);
      await this.exited;
    })();
    return this.closing;
  }

  private forward<M extends ForwardedMethod>(method: M): ConsentLedger[M] {
    return ((...args: unknown[]) => this.call(method, args)) as unknown as ConsentLedger[M];
  }

  private call(method: string, args: unknown[]): Promise<unknown> {
    if (this.stopped) return Promise.reject(this.stopped);
    if (this.closing && method !== CLOSE) {
      return Promise.reject(new GdprWhatsAppError('store-closed', 'The consent store was stopped'));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(id, { resolve, reject });
      this.enqueue([id, method, args]);
    });
  }

  private post(method: PostedMethod, args: unknown[]): void {
    if (this.stopped || this.closing) return;
    this.enqueue([0, method, args]);
  }

  private enqueue(request: ThreadRequest): void {
    if (this.outbox.length === 0) setImmediate(() => this.flush());
    this.outbox.push(request);
  }

  private flush(): void {
    const requests = this.outbox;
    this.outbox = [];
    try {
      this.worker.postMessage(requests);
    } catch {
      // One input could not be cloned (a function, say): the others go on, that call alone is refused.
      for (const request of requests) {
        try {
          this.worker.postMessage([request]);
        } catch (err) {
          this.refuse(request[0], uncloneable(err));
        }
      }
    }
  }

  private refuse(id: number, err: Error): void {
    if (id === 0) this.emit('warning', err);
    else this.takeWaiting(id)?.reject(err);
  }

  /** The call waiting for answer `id`; with none left waiting, the thread no longer holds the process open. */
  private takeWaiting(id: number): Waiting | undefined {
    const waiting = this.waiting.get(id);
    this.waiting.delete(id);
    if (this.waiting.size === 0 && !this.closing) this.worker.unref();
    return waiting;
  }

  private receive(message: ThreadMessage): void {
    if (message[0] === EVENT) {
      const event = message[1] as LedgerEvent;
      // The thread forgot the erased number; the nodes on this thread normalised it too.
      if (event?.type === 'subject.erased' && event.phone) forgetPhoneNumber(event.phone);
      this.emit('event', event);
      return;
    }
    if (message[0] === WARNING) {
      this.emit('warning', reviveError(message[1] as SerialisedError));
      return;
    }
    const [id, ok, result] = message as [number, boolean, unknown];
    const waiting = this.takeWaiting(id);
    if (!waiting) return;
    if (ok) waiting.resolve(result);
    else waiting.reject(reviveError(result as SerialisedError));
  }

  private stop(err: Error): void {
    this.stopped ??= err;
    for (const waiting of this.waiting.values()) waiting.reject(this.stopped);
    this.waiting.clear();
  }
}

function forgetNumberLeft(input: Parameters<ConsentLedger['numberChanged']>[0]): void {
  try {
    forgetPhoneNumber(normalisePhoneNumber(input.phone));
  } catch {
    // The thread took it, so it normalises; anything else was nothing this thread remembered.
  }
}

/** A function, symbol or similar in the input cannot reach the ledger: the same answer as other bad input. */
function uncloneable(err: unknown): Error {
  if (err instanceof Error && err.name === 'DataCloneError') {
    return new GdprWhatsAppError('invalid-input', 'The input holds a value that cannot be stored', {});
  }
  return err instanceof Error ? err : new Error(String(err));
}
