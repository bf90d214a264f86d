/**
 * At most `perMinute` requests in any minute (the times of those sent in the last one are kept); 0: no limit. A public
 * form can be sent any number, and each request is a message the business pays for (opt-in-flow).
 */
export class RequestLimit {
  private readonly sent: number[] = [];
  private readonly perMinute: number;

  constructor(perMinute: number) {
    this.perMinute = Number.isSafeInteger(perMinute) && perMinute > 0 ? perMinute : 0;
  }

  allows(now: number): boolean {
    if (this.perMinute === 0) return true;
    while (this.sent.length > 0 && this.sent[0] <= now - 60_000) this.sent.shift();
    return this.sent.length < this.perMinute;
  }

  count(now: number): void {
    if (this.perMinute > 0) this.sent.push(now);
  }
}
