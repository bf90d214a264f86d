import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

/**
 * What the examples teach by their wiring. A flow copied from one must honour every opt-out Meta reports: the
 * "stop promotions" choice in the chat arrives on the webhook's third output, a marketing message Meta refused
 * because of it (131050) on the second, and only a stop-handler turns them into withdrawals.
 */

const examplesDir = path.resolve(__dirname, '..', '..', '..', 'examples');

interface FlowNode {
  id: string;
  type: string;
  wires?: string[][];
  purposes?: unknown;
}

function marketingPurposes(store: FlowNode): string[] {
  const purposes = typeof store.purposes === 'string' ? JSON.parse(store.purposes) : store.purposes;
  return (purposes as { id: string; marketing?: boolean }[]).filter((p) => p.marketing).map((p) => p.id);
}

describe('example flows: wiring', () => {
  const files = fs.readdirSync(examplesDir).filter((f) => f.endsWith('.json'));

  it('finds the ten examples', () => assert.equal(files.length, 10));

  for (const file of files) {
    const flow: FlowNode[] = JSON.parse(fs.readFileSync(path.join(examplesDir, file), 'utf8'));
    const byId = new Map(flow.map((n) => [n.id, n]));
    const hasMarketing = flow.some((n) => n.type === 'consent-store' && marketingPurposes(n).length > 0);
    const webhooks = flow.filter((n) => n.type === 'whatsapp-webhook');
    if (!hasMarketing || webhooks.length === 0) continue;

    it(`${file}: Meta's marketing opt-out and refused marketing messages reach a stop-handler`, () => {
      for (const webhook of webhooks) {
        for (const output of [1, 2]) {
          const targets = (webhook.wires?.[output] ?? []).map((id) => byId.get(id)?.type);
          assert.ok(targets.includes('stop-handler'), `output ${output + 1} of ${webhook.id} goes to ${targets}`);
        }
      }
    });
  }
});
