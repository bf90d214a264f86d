import fs from 'node:fs';
import path from 'node:path';

export type FlowNode = Record<string, unknown> & { id: string; type: string };

export interface LoadedExample {
  file: string;
  nodes: FlowNode[];
  /** The example's only node of `type` (its whatsapp-config, consent-store ...). */
  only(type: string): FlowNode;
  /** The node with this name. */
  named(name: string): FlowNode;
}

/** The example flows as the installed package ships them (Import > Examples reads this folder). */
export function loadExamples(moduleDir: string): Map<string, LoadedExample> {
  const dir = path.join(moduleDir, 'examples');
  const examples = new Map<string, LoadedExample>();
  for (const file of fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const nodes = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as FlowNode[];
    const only = (type: string) => {
      const found = nodes.filter((n) => n.type === type);
      if (found.length !== 1) throw new Error(`${file} has ${found.length} ${type} nodes`);
      return found[0];
    };
    const named = (name: string) => {
      const found = nodes.find((n) => n.name === name);
      if (!found) throw new Error(`${file} has no node named ${name}`);
      return found;
    };
    examples.set(file.slice(0, 2), { file, nodes, only, named });
  }
  return examples;
}
