import type { InboundMessage, MessageStatus } from './types';

/** Meta retries a webhook delivery for up to 7 days; a mark must outlive that. */
export const DEDUPE_TTL_MS = 8 * 24 * 60 * 60 * 1000;

/** Remembers which webhook items were already handled. */
export interface DedupeStore {
  /** True when `key` was not seen within its ttl; the mark is durable when the promise resolves. */
  markSeen(key: string, ttlMs: number): Promise<boolean>;
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

/** A per-process store: marks are lost on restart and not shared between instances. */
export class MemoryDedupeStore implements DedupeStore {
  private readonly expiries = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: MemoryDedupeOptions = {}) {
    this.maxEntries = Math.max(1, Math.floor(options.maxEntries ?? 100_000));
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.expiries.size;
  }

  async markSeen(key: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const expiry = this.expiries.get(key);
    if (expiry !== undefined && expiry > now) return false;
    // Re-inserting keeps the map ordered by insertion time, so the first key is the oldest.
    this.expiries.delete(key);
    this.expiries.set(key, now + ttlMs);
    this.evict(now);
    return true;
  }

  private evict(now: number): void {
    for (const [key, expiry] of this.expiries) {
      if (this.expiries.size <= this.maxEntries && expiry > now) break;
      this.expiries.delete(key);
    }
  }
}
