import type { NodeAPI, NodeDef } from 'node-red';

/** A deployed node's saved settings, as RED.nodes.eachNode lists them. */
export type SiblingDef = NodeDef & Record<string, unknown>;

/**
 * The deployed nodes of `type` that use the consent store `storeId` and run. eachNode lists disabled nodes and the
 * nodes of disabled flows too: such a node serves no page and answers no one, so it is left out.
 */
export function runningNodesOfStore(RED: NodeAPI, type: string, storeId: string): SiblingDef[] {
  const disabledTabs = new Set<string>();
  RED.nodes.eachNode((def) => {
    if (def.type === 'tab' && (def as SiblingDef).disabled === true) disabledTabs.add(def.id);
  });
  const found: SiblingDef[] = [];
  RED.nodes.eachNode((def) => {
    const node = def as SiblingDef;
    if (node.type !== type || node.store !== storeId || node.d === true || disabledTabs.has(node.z)) return;
    found.push(node);
  });
  return found;
}
