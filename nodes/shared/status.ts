import type { NodeStatus } from 'node-red';

/** Node status shapes and colours in one place, so every node reads the same way in the editor. */
export const STATUS = {
  ready: { fill: 'green', shape: 'dot' },
  busy: { fill: 'blue', shape: 'ring' },
  waiting: { fill: 'yellow', shape: 'ring' },
  failed: { fill: 'red', shape: 'ring' },
  broken: { fill: 'red', shape: 'dot' },
  idle: { fill: 'grey', shape: 'ring' },
} as const satisfies Record<string, NodeStatus>;

export type StatusKind = keyof typeof STATUS;

export function statusOf(kind: StatusKind, text: string): NodeStatus {
  return { ...STATUS[kind], text };
}
