import type { Node, NodeAPI, NodeMessage } from 'node-red';

/** Upper bound on waiting: a webhook answered later than this is retried by Meta although it was handled. */
export const COMPLETION_TIMEOUT_MS = 10000;

interface CompleteEvent {
  msg?: { _msgid?: unknown };
  node?: { id?: unknown };
}

interface HooksApi {
  add(hookId: string, callback: (event: CompleteEvent) => void): void;
  remove(hookId: string): void;
}

interface Waiting {
  /** Wired node ids that have not finished with this message yet. */
  targets: Set<string>;
  resolve: () => void;
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
   * reports completion has finished with every message, or after the timeout.
   */
  sendAndWait(node: Node & { wires?: string[][] }, outputs: NodeMessage[][]): Promise<void> {
    const waits: Promise<void>[] = [];
    outputs.forEach((messages, output) => {
      const targets = (node.wires?.[output] ?? []).filter((id) => this.reportsCompletion(id));
      for (const msg of messages) {
        // Node-RED would give every message of one send() the first one's id; each needs its own here.
        const id = this.RED.util.generateId();
        (msg as { _msgid?: string })._msgid = id;
        if (!this.hooks || targets.length === 0) continue;
        waits.push(new Promise((resolve) => this.waiting.set(id, { targets: new Set(targets), resolve })));
      }
    });
    node.send(outputs as unknown as NodeMessage[]);
    if (waits.length === 0) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.timeoutMs);
    });
    return Promise.race([Promise.all(waits).then(() => undefined), timeout]).finally(() => {
      clearTimeout(timer);
      for (const messages of outputs) for (const msg of messages) this.waiting.delete(String(msg._msgid));
    });
  }

  close(): void {
    this.hooks?.remove(this.hookId);
    for (const entry of this.waiting.values()) entry.resolve();
    this.waiting.clear();
  }

  private reportsCompletion(id: string): boolean {
    const target = this.RED.nodes.getNode(id) as (Node & { _expectedDoneCount?: number }) | null;
    // Node-RED counts the input handlers that take `done` (Node.js, _expectedDoneCount); none means no report.
    return target !== null && (target._expectedDoneCount === undefined || target._expectedDoneCount > 0);
  }

  private completed(event: CompleteEvent): void {
    const entry = this.waiting.get(String(event.msg?._msgid));
    if (!entry?.targets.delete(String(event.node?.id))) return;
    if (entry.targets.size === 0) {
      this.waiting.delete(String(event.msg?._msgid));
      entry.resolve();
    }
  }
}
