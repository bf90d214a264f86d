import { createHmac, randomBytes } from 'node:crypto';
import type { InboundMessage, MessageStatus } from './types';

/** Meta retries a webhook delivery for up to 7 days; a mark must outlive that. */
export const DEDUPE_TTL_MS = 8 * 24 * 60 * 60 * 1000;

/**
 * How long a claim holds before another delivery may take the item over: longer than the webhook waits for its
 * wired nodes (COMPLETION_TIMEOUT_MS, 10 s) plus the store, so only a claim whose process died runs out.
 */
export const DEDUPE_LEASE_MS = 60_000;

/**
 * 'claimed': this caller works on the item now; 'done': it was handled before (a duplicate);
 * 'in-progress': another delivery (or instance) holds an unexpired claim on it.
 */
export type ClaimOutcome = 'claimed' | 'done' | 'in-progress';

/**
 * A claimed message's sender and time: the 24-hour customer service window starts with it (consent-gate reads
 * it). `key` is the message's de-duplication key; only messages this delivery claims count.
 */
export interface InboundTime {
  key: string;
  subject: { phone?: string; userId?: string };
  /** Unix milliseconds. */
  at: number;
  /**
   * A reaction to a message the business sent: it opens the window of a sender the store knows, but does not bring
   * back a person who was erased (the 👍 is often her answer to the erasure's confirmation).
   */
  reaction?: boolean;
}

/**
 * Remembers which webhook items were handled, in two phases, so that a failure between receiving and handling
 * loses nothing: an item is claimed (with a lease) before it is emitted and marked done only after the flow
 * finished with it; a released or expired claim lets Meta's retry through again. Each call handles all items of
 * one delivery at once (one transaction in the consent ledger).
 */
export interface DedupeStore {
  /**
   * Claims each key in order, atomically across instances: an item is taken if nobody holds it (or an earlier
   * claim's lease ran out). Either every outcome counts or, on failure, none does. The senders of claimed
   * messages in `inbound` get their inbound time in the same step. `claimId` names this delivery's claims (one per
   * POST), so that its release cannot drop a claim another delivery took over after this one's lease ran out.
   */
  claimAll(
    keys: readonly string[],
    leaseMs: number,
    inbound?: readonly InboundTime[],
    claimId?: string,
  ): Promise<ClaimOutcome[]>;
  /** Marks the items handled for `ttlMs`. */
  completeAll(keys: readonly string[], ttlMs: number, claimId?: string): Promise<void>;
  /**
   * Drops claims that were not completed, so the next delivery handles the items. With `claimId`, only the claims
   * that delivery still holds; without, any.
   */
  releaseAll(keys: readonly string[], claimId?: string): Promise<void>;
}

/** Most deliveries a store remembers the leases of: each ends in a complete or a release, so only lost ones stay. */
const MAX_REMEMBERED_CLAIMS = 10_000;

/**
 * The lease each delivery's claims were taken with, by claim id and stored key: a claim is a delivery's own while
 * its row still has that lease (a takeover writes a later one).
 */
export class ClaimLeases {
  private readonly byClaim = new Map<string, Map<string, number>>();

  remember(claimId: string | undefined, key: string, leaseUntil: number): void {
    if (claimId === undefined) return;
    let leases = this.byClaim.get(claimId);
    if (!leases) {
      if (this.byClaim.size >= MAX_REMEMBERED_CLAIMS) this.byClaim.delete(this.byClaim.keys().next().value as string);
      leases = new Map();
      this.byClaim.set(claimId, leases);
    }
    leases.set(key, leaseUntil);
  }

  /** The lease `claimId` took `key` with (and forgets it); undefined when it holds no claim on it. */
  take(claimId: string, key: string): number | undefined {
    const leases = this.byClaim.get(claimId);
    const lease = leases?.get(key);
    leases?.delete(key);
    if (leases?.size === 0) this.byClaim.delete(claimId);
    return lease;
  }
}

export function messageDedupeKey(message: Pick<InboundMessage, 'messageId'>): string {
  return `msg:${message.messageId}`;
}

/** A message passes through sent, delivered and read: each status of it is its own event. */
export function statusDedupeKey(status: Pick<MessageStatus, 'messageId' | 'status'>): string {
  return `status:${status.messageId}:${status.status}`;
}

export interface MemoryDedupeOptions {
  /** Upper bound on remembered keys; the oldest mark goes first. Default 100 000. */
  maxEntries?: number;
  /** Clock in milliseconds, for tests. */
  now?: () => number;
}

interface MemoryMark {
  expiresAt: number;
  completed: boolean;
}

/**
 * A per-process store: marks are lost on restart and not shared between instances. Message ids encode the
 * sender's number, so, like the consent ledger, it keeps only a keyed hash of each key (the key is random per
 * store and never leaves the process).
 */
export class MemoryDedupeStore implements DedupeStore {
  private readonly marks = new Map<string, MemoryMark>();
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly hashKey = randomBytes(32);
  private readonly leases = new ClaimLeases();

  constructor(options: MemoryDedupeOptions = {}) {
    this.maxEntries = Math.max(1, Math.floor(options.maxEntries ?? 100_000));
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.marks.size;
  }

  async claimAll(
    keys: readonly string[],
    leaseMs: number,
    _inbound?: readonly InboundTime[],
    claimId?: string,
  ): Promise<ClaimOutcome[]> {
    return keys.map((rawKey) => {
      const key = this.hashed(rawKey);
      const outcome = this.claimNow(key, leaseMs);
      const mark = this.marks.get(key);
      if (outcome === 'claimed' && mark) this.leases.remember(claimId, key, mark.expiresAt);
      return outcome;
    });
  }

  async completeAll(keys: readonly string[], ttlMs: number, claimId?: string): Promise<void> {
    for (const rawKey of keys) {
      const key = this.hashed(rawKey);
      if (claimId !== undefined) this.leases.take(claimId, key);
      this.completeNow(key, ttlMs);
    }
  }

  async releaseAll(keys: readonly string[], claimId?: string): Promise<void> {
    for (const rawKey of keys) {
      const key = this.hashed(rawKey);
      const lease = claimId === undefined ? undefined : this.leases.take(claimId, key);
      if (claimId === undefined || (lease !== undefined && this.marks.get(key)?.expiresAt === lease)) {
        this.releaseNow(key);
      }
    }
  }

  async claim(key: string, leaseMs: number): Promise<ClaimOutcome> {
    return this.claimNow(this.hashed(key), leaseMs);
  }

  async complete(key: string, ttlMs: number): Promise<void> {
    this.completeNow(this.hashed(key), ttlMs);
  }

  async release(key: string): Promise<void> {
    this.releaseNow(this.hashed(key));
  }

  /** The keys this store holds: keyed hashes, never the message ids themselves. */
  heldKeys(): string[] {
    return [...this.marks.keys()];
  }

  private hashed(key: string): string {
    return createHmac('sha256', this.hashKey).update(key).digest('base64url');
  }

  /** `key` is hashed already, as in the methods below. */
  private claimNow(key: string, leaseMs: number): ClaimOutcome {
    const now = this.now();
    const mark = this.marks.get(key);
    if (mark !== undefined && mark.expiresAt > now) return mark.completed ? 'done' : 'in-progress';
    this.put(key, { expiresAt: now + leaseMs, completed: false }, now);
    return 'claimed';
  }

  private completeNow(key: string, ttlMs: number): void {
    const now = this.now();
    this.put(key, { expiresAt: now + ttlMs, completed: true }, now);
  }

  private releaseNow(key: string): void {
    if (this.marks.get(key)?.completed === false) this.marks.delete(key);
  }

  /** One step: true when `key` was not seen within its ttl (and is marked done now). */
  async markSeen(rawKey: string, ttlMs: number): Promise<boolean> {
    const key = this.hashed(rawKey);
    const now = this.now();
    const mark = this.marks.get(key);
    if (mark !== undefined && mark.expiresAt > now) return false;
    this.put(key, { expiresAt: now + ttlMs, completed: true }, now);
    return true;
  }

  private put(key: string, mark: MemoryMark, now: number): void {
    // Re-inserting keeps the map ordered by insertion time, so the first key is the oldest.
    this.marks.delete(key);
    this.marks.set(key, mark);
    this.evict(now);
  }

  private evict(now: number): void {
    for (const [key, mark] of this.marks) {
      if (this.marks.size <= this.maxEntries && mark.expiresAt > now) break;
      this.marks.delete(key);
    }
  }
}
