import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { GdprWhatsAppError } from '../../lib/errors';

/** Upper bound on waiting: a webhook answered later than this is retried by Meta although it was handled. */
export const COMPLETION_TIMEOUT_MS = 10000;

interface CompleteEvent {
  msg?: { _msgid?: unknown };
  node?: { id?: unknown };
  /** What the node passed to done(err), or the error its input handler hit; undefined on success. */
  error?: unknown;
}

interface HooksApi {
  add(hookId: string, callback: (event: CompleteEvent) => void): void;
  remove(hookId: string): void;
}

interface Waiting {
  /** Wired node ids that have not finished with this message yet. */
  targets: Set<string>;
  /** The first error a wired node reported for this message. */
  error?: unknown;
  resolve: () => void;
}

/** A message that did not finish cleanly. */
export interface Unfinished {
  msg: NodeMessage;
  /** The first error a wired node reported for it; undefined when some wired node did not finish in time. */
  error?: unknown;
}

let labels = 0;

/**
 * Lets a node wait until the nodes wired to its outputs have finished (called `done`) with the messages it sent,
 * through Node-RED's onComplete hook. whatsapp-webhook answers Meta only then: DESIGN.md section 3, "the
 * webhook answers 200 only after what it must persist (a withdrawal ...) is durable", and stop-handler calls
 * `done` only after the withdrawal is committed. Node-RED reports completion only for input handlers that take
 * `done`; wired nodes whose handlers do not are not waited for.
 */
export class FirstHopCompletion {
  private readonly waiting = new Map<string, Waiting>();
  private readonly hookId: string;
  private readonly hooks: HooksApi | undefined;

  constructor(
    private readonly RED: NodeAPI,
    private readonly timeoutMs = COMPLETION_TIMEOUT_MS,
  ) {
    labels += 1;
    this.hookId = `onComplete.gdprWhatsAppFirstHop${labels}`;
    this.hooks = (RED as unknown as { hooks?: HooksApi }).hooks;
    this.hooks?.add(this.hookId, (event) => this.completed(event));
  }

  /**
   * Sends `outputs` from `node` (one array of messages per output) and resolves once every wired node that
   * reports completion has finished with every message, or after the timeout. Resolves with the messages (the
   * objects given) that did not finish cleanly: a wired node reported an error (done(err), a function node
   * that threw) or had not finished when the time was up. Without RED.hooks (node-red-node-test-helper)
   * nothing is waited for and nothing is reported.
   */
  sendAndWait(node: Node & { wires?: string[][] }, outputs: NodeMessage[][]): Promise<Unfinished[]> {
    // A wired node that a modified-nodes deploy is replacing is undefined for a moment, and Node-RED drops what is
    // sent to it without a word: a STOP would be lost behind a 200. Nothing is sent; Meta delivers the POST again.
    const count = outputs.reduce(
      (sum, messages, output) => sum + (this.replacing(node, output) ? messages.length : 0),
      0,
    );
    if (count > 0) {
      throw new GdprWhatsAppError(
        'webhook-not-handled',
        `${count} webhook items were not handled: a wired node is being redeployed; Meta will deliver them again`,
        { count },
      );
    }
    const entries = new Map<NodeMessage, Waiting>();
    const waits: Promise<void>[] = [];
    outputs.forEach((messages, output) => {
      const targets = (node.wires?.[output] ?? []).filter((id) => this.reportsCompletion(id));
      for (const msg of messages) {
        // Node-RED would give every message of one send() the first one's id; each needs its own here.
        const id = this.RED.util.generateId();
        (msg as { _msgid?: string })._msgid = id;
        if (!this.hooks || targets.length === 0) continue;
        waits.push(
          new Promise((resolve) => {
            const entry: Waiting = { targets: new Set(targets), resolve };
            entries.set(msg, entry);
            this.waiting.set(id, entry);
          }),
        );
      }
    });
    const forget = () => {
      for (const msg of entries.keys()) this.waiting.delete(String(msg._msgid));
    };
    try {
      node.send(outputs as unknown as NodeMessage[]);
    } catch (err) {
      forget();
      throw err;
    }
    if (waits.length === 0) return Promise.resolve([]);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.timeoutMs);
    });
    return Promise.race([Promise.all(waits).then(() => undefined), timeout])
      .then(() =>
        [...entries]
          .filter(([, entry]) => entry.error !== undefined || entry.targets.size > 0)
          .map(([msg, entry]) => ({ msg, error: entry.targets.size > 0 ? undefined : entry.error })),
      )
      .finally(() => {
        clearTimeout(timer);
        forget();
      });
  }

  close(): void {
    this.hooks?.remove(this.hookId);
    for (const entry of this.waiting.values()) entry.resolve();
    this.waiting.clear();
  }

  private replacing(node: Node & { wires?: string[][] }, output: number): boolean {
    return (node.wires?.[output] ?? []).some((id) => this.RED.nodes.getNode(id) === undefined);
  }

  private reportsCompletion(id: string): boolean {
    const target = this.RED.nodes.getNode(id) as (Node & { _expectedDoneCount?: number }) | null | undefined;
    // Node-RED counts the input handlers that take `done` (Node.js, _expectedDoneCount); none means no report.
    return target != null && (target._expectedDoneCount === undefined || target._expectedDoneCount > 0);
  }

  private completed(event: CompleteEvent): void {
    const entry = this.waiting.get(String(event.msg?._msgid));
    if (!entry?.targets.delete(String(event.node?.id))) return;
    if (event.error && entry.error === undefined) entry.error = event.error;
    if (entry.targets.size === 0) {
      this.waiting.delete(String(event.msg?._msgid));
      entry.resolve();
    }
  }
}
