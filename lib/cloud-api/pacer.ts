import { GdprWhatsAppError } from '../errors';

/** Time as the pacer and the client see it; tests pass a fake one instead of sleeping. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface PacerOptions {
  /** Starts per second; 0 switches pacing off. */
  ratePerSecond: number;
  /** Tasks running at once (started, not yet settled); the next one waits in the queue. Default: no limit. */
  maxConcurrent?: number;
  /** Tasks allowed to wait; one more is refused at once, so a slow API cannot grow memory without limit. */
  maxQueue: number;
  /** Tasks waiting outside the pacer that count against `maxQueue` too (the client's per-recipient order). */
  waitingElsewhere?: () => number;
  clock?: Clock;
}

/**
 * slowDown(): no start for SLOW_DOWN_HOLD_MS, then the rate cut by SLOW_DOWN_FACTOR, growing back by a
 * RECOVERY_SECONDS-th of the configured rate per second (a minute from nothing to full). Further cuts within
 * SLOW_DOWN_COOLDOWN_MS are ignored: the answers to requests already on their way report the same excess.
 */
export const SLOW_DOWN_HOLD_MS = 1000;
export const SLOW_DOWN_FACTOR = 0.5;
export const SLOW_DOWN_COOLDOWN_MS = 2000;
const RECOVERY_SECONDS = 60;

interface Waiting {
  task: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/**
 * Starts tasks in FIFO order, at most `ratePerSecond` in any window of one second (a sliding window
 * over the last start times, so a burst up to the rate goes out at once, which is how Meta counts
 * a phone number's throughput for error 130429), and at most `maxConcurrent` at a time.
 */
export class Pacer {
  private readonly clock: Clock;
  private readonly maxQueue: number;
  private readonly waitingElsewhere: () => number;
  /** Start times of the last `slots` tasks, a ring buffer. */
  private readonly starts: number[];
  private readonly slots: number;
  private readonly rate: number;
  private readonly maxConcurrent: number;
  /** After slowDown(): the rate it was cut to (undefined once recovered), and until when nothing starts. */
  private cutRate?: number;
  private pausedUntil = Number.NEGATIVE_INFINITY;
  private lastCut = Number.NEGATIVE_INFINITY;
  private running = 0;
  private next = 0;
  private queue: Array<Waiting | undefined> = [];
  private head = 0;
  private timer: unknown;
  private closed = false;

  constructor(options: PacerOptions) {
    this.clock = options.clock ?? realClock;
    this.maxQueue = Math.max(0, Math.floor(options.maxQueue));
    this.waitingElsewhere = options.waitingElsewhere ?? (() => 0);
    const rate = Number.isFinite(options.ratePerSecond) && options.ratePerSecond > 0 ? options.ratePerSecond : 0;
    // A rate below 1 per second becomes one start per 1000/rate ms.
    this.rate = rate;
    this.slots = rate > 0 ? Math.max(1, Math.floor(rate)) : 0;
    this.starts = new Array(this.slots).fill(Number.NEGATIVE_INFINITY);
    const limit = options.maxConcurrent ?? 0;
    this.maxConcurrent = Number.isFinite(limit) && limit >= 1 ? Math.floor(limit) : Number.POSITIVE_INFINITY;
  }

  get queueLength(): number {
    return this.queue.length - this.head;
  }

  /** Whether another task may wait: in this queue or elsewhere (see PacerOptions.waitingElsewhere). */
  hasRoom(): boolean {
    return this.queueLength + this.waitingElsewhere() < this.maxQueue;
  }

  schedule<T>(task: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    if (this.queueLength === 0 && this.hasSlot()) return this.start(task);
    if (!this.hasRoom()) return Promise.reject(queueFullError(this.maxQueue));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ task, resolve: resolve as (value: unknown) => void, reject });
      this.arm();
    });
  }

  /** Starts per second now: the configured rate, or less after slowDown(). */
  currentRate(): number {
    if (this.cutRate === undefined) return this.rate;
    const recovering = Math.max(0, this.clock.now() - this.pausedUntil) / 1000;
    const rate = this.cutRate + (this.rate / RECOVERY_SECONDS) * recovering;
    if (rate < this.rate) return rate;
    this.cutRate = undefined;
    return this.rate;
  }

  /**
   * The API says the number's limit is lower than the rate (Meta's 130429 names no wait, and inbound messages count
   * against the same limit): a short pause, then a lower rate that grows back slowly. No effect when pacing is off.
   */
  slowDown(): void {
    const now = this.clock.now();
    if (this.slots === 0 || this.closed || now - this.lastCut < SLOW_DOWN_COOLDOWN_MS) return;
    this.cutRate = Math.max(Math.min(this.rate, 1), this.currentRate() * SLOW_DOWN_FACTOR);
    this.lastCut = now;
    this.pausedUntil = now + SLOW_DOWN_HOLD_MS;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.arm();
  }

  /** Refuses new tasks and rejects the waiting ones; tasks already started run to their end. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const waiting = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    for (const entry of waiting) entry?.reject(closedError());
  }

  private hasSlot(): boolean {
    if (this.running >= this.maxConcurrent) return false;
    return this.slots === 0 || this.waitMs() === 0;
  }

  /** Until the next start is allowed: at most `rate` starts in any window of 1000 * slots / rate ms. */
  private waitMs(): number {
    if (this.slots === 0) return 0;
    const now = this.clock.now();
    const rate = this.currentRate();
    // At a cut rate, fewer starts in a proportionally longer window; the k-th last start opens the next slot.
    const k = Math.min(this.slots, Math.max(1, Math.floor(rate)));
    const kthLast = this.starts[(this.next - k + this.slots) % this.slots];
    return Math.max(0, this.pausedUntil - now, kthLast + (1000 * k) / rate - now);
  }

  private start<T>(task: () => Promise<T>): Promise<T> {
    if (this.slots > 0) {
      this.starts[this.next] = this.clock.now();
      this.next = (this.next + 1) % this.slots;
    }
    this.running++;
    let running: Promise<T>;
    try {
      running = Promise.resolve(task());
    } catch (err) {
      running = Promise.reject(err);
    }
    const ended = () => {
      this.running--;
      // A rate wait has its timer; a task held back by the limit alone starts when one ends.
      if (this.timer === undefined && !this.closed) this.drain();
    };
    running.then(ended, ended);
    return running;
  }

  private drain(): void {
    this.timer = undefined;
    while (this.queueLength > 0 && this.hasSlot()) {
      const entry = this.queue[this.head]!;
      this.queue[this.head] = undefined;
      this.head++;
      this.start(entry.task).then(entry.resolve, entry.reject);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer !== undefined || this.queueLength === 0 || this.closed) return;
    if (this.running >= this.maxConcurrent) return;
    this.timer = this.clock.setTimeout(() => this.drain(), this.waitMs());
  }
}

/** The error for work refused or dropped because its sender was closed (Node-RED redeploy or shutdown). */
export function closedError(): GdprWhatsAppError {
  return new GdprWhatsAppError('closed', 'The sender was closed before the message could be sent');
}

export function queueFullError(max: number): GdprWhatsAppError {
  return new GdprWhatsAppError('queue-full', `The send queue is full (${max} messages waiting)`, { max });
}
