import { GdprWhatsAppError } from '../errors';

/** How long the store keeps looking for the end of a transaction that held an erasure's VACUUM back. */
const LOOK_FOR_MS = 3_600_000;

export interface VacuumRetryDeps {
  /** Whether no transaction from before `since` is open any more (one look). */
  olderEnded(since: Date): Promise<boolean>;
  vacuum(tables: readonly string[]): Promise<void>;
  onError(err: Error): void;
  intervalMs: number;
}

/**
 * The tables whose erased rows an older transaction kept in PostgreSQL's files: vacuumed again once it ended. Looks
 * every interval for an hour, and once more when the store closes; warns `erasure-vacuum-given-up` when it stops
 * looking with rows still held back.
 */
export class VacuumRetry {
  private readonly tables = new Set<string>();
  /** The latest held-back erasure's time: once nothing older than it is open, nothing older than any is. */
  private since: Date | undefined;
  private giveUpAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private looking: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly deps: VacuumRetryDeps) {}

  hold(tables: readonly string[], erasedAt: Date): void {
    for (const table of tables) this.tables.add(table);
    // Two erasures may get here in either order.
    if (this.since === undefined || erasedAt > this.since) this.since = erasedAt;
    this.giveUpAt = Date.now() + LOOK_FOR_MS;
    // Closing, the last look comes from close().
    if (!this.closed && !this.timer && !this.looking) this.schedule();
  }

  /** The last look (a redeploy closes the store): the older transaction may have ended by now. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.looking;
    if (this.since !== undefined) await this.look(true);
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.looking = this.look(false).finally(() => {
        this.looking = undefined;
        if (!this.closed && this.since !== undefined && !this.timer) this.schedule();
      });
    }, this.deps.intervalMs).unref();
  }

  private async look(final: boolean): Promise<void> {
    const since = this.since;
    if (since === undefined) return;
    const tables = [...this.tables];
    try {
      if (!(await this.deps.olderEnded(since))) {
        if (final || Date.now() >= this.giveUpAt) this.giveUp();
        return;
      }
      // An erasure that came in meanwhile may have an older transaction of its own: its tables stay for the next look.
      if (this.since === since) {
        this.tables.clear();
        this.since = undefined;
      }
      await this.deps.vacuum(tables);
    } catch (err) {
      this.deps.onError(err as Error);
      if (final) this.giveUp();
    }
  }

  private giveUp(): void {
    if (this.since === undefined) return;
    this.tables.clear();
    this.since = undefined;
    this.deps.onError(
      new GdprWhatsAppError(
        'erasure-vacuum-given-up',
        'A database transaction older than an erasure was still open when the store stopped looking: run VACUUM on the ledger tables once it has ended',
      ),
    );
  }
}
