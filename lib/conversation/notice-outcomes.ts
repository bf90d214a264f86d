/** How long the outcome of a notice is kept, once known, for the message that follows it. */
export const NOTICE_OUTCOME_KEEP_MS = 60_000;
/** Notices tracked at once; the oldest is forgotten first (its message then goes as it would without the check). */
const MAX_TRACKED = 10_000;

/**
 * Art. 13 GDPR: the privacy notice must reach a person before the message it precedes. privacy-notice emits the
 * notice and then the message, which names the notice; whatsapp-send tracks the notice and, before sending the
 * message, waits for the notice's outcome, so that a notice that failed stops the message behind it.
 */
export class NoticeOutcomes {
  private readonly outcomes = new Map<string, Promise<boolean>>();

  /** A notice on its way; call the answer with whether it was delivered. */
  track(noticeId: string): (delivered: boolean) => void {
    let settle: (delivered: boolean) => void = () => {};
    const outcome = new Promise<boolean>((resolve) => {
      settle = resolve;
    });
    this.outcomes.delete(noticeId);
    if (this.outcomes.size >= MAX_TRACKED) {
      const oldest = this.outcomes.keys().next().value;
      if (oldest !== undefined) this.outcomes.delete(oldest);
    }
    this.outcomes.set(noticeId, outcome);
    return (delivered) => {
      settle(delivered);
      const forget = setTimeout(() => {
        if (this.outcomes.get(noticeId) === outcome) this.outcomes.delete(noticeId);
      }, NOTICE_OUTCOME_KEEP_MS);
      forget.unref?.();
    };
  }

  /** Whether the notice was delivered, once it is known; undefined for a notice that did not pass here. */
  outcomeOf(noticeId: string): Promise<boolean> | undefined {
    return this.outcomes.get(noticeId);
  }
}
