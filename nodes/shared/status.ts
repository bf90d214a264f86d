import type { Node, NodeStatus } from 'node-red';

/** Node status shapes and colours in one place, so every node reads the same way in the editor. */
export const STATUS = {
  ready: { fill: 'green', shape: 'dot' },
  busy: { fill: 'blue', shape: 'ring' },
  waiting: { fill: 'yellow', shape: 'ring' },
  /** Works, but something in the setup needs the user's attention (the log says what). */
  warning: { fill: 'yellow', shape: 'dot' },
  failed: { fill: 'red', shape: 'ring' },
  broken: { fill: 'red', shape: 'dot' },
  idle: { fill: 'grey', shape: 'ring' },
} as const satisfies Record<string, NodeStatus>;

export type StatusKind = keyof typeof STATUS;

export function statusOf(kind: StatusKind, text: string): NodeStatus {
  return { ...STATUS[kind], text };
}

/** How often a running count is shown at most: a broadcast or a STOP wave would otherwise flood the editor. */
export const COUNT_STATUS_INTERVAL_MS = 500;

/**
 * A status that changes with every message (a running count) shown at most once per `intervalMs`, the last
 * one always: the editor cannot show more, and translating and publishing each one costs real time under load.
 * Call `cancel` when the node closes.
 */
export function throttledStatus(
  node: Pick<Node, 'status'>,
  intervalMs = COUNT_STATUS_INTERVAL_MS,
): { show: (status: () => NodeStatus) => void; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let latest: (() => NodeStatus) | undefined;
  return {
    show(status) {
      latest = status;
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        if (latest) node.status(latest());
      }, intervalMs);
    },
    cancel() {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

/**
 * A status setter that passes a status on only when it differs from the one shown: a node that restates its state on
 * a timer would otherwise send the editor, and every Status node watching it, the same status again and again.
 */
export function changedOnly(node: Pick<Node, 'status'>): (status: NodeStatus) => void {
  let shown = '';
  return (status) => {
    const key = `${status.fill}|${status.shape}|${status.text}`;
    if (key === shown) return;
    shown = key;
    node.status(status);
  };
}
