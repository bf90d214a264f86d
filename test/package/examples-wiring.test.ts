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
  acknowledge?: string;
  configVersion?: number;
  scope?: string[] | null;
}

function marketingPurposes(store: FlowNode): string[] {
  const purposes = typeof store.purposes === 'string' ? JSON.parse(store.purposes) : store.purposes;
  return (purposes as { id: string; marketing?: boolean }[]).filter((p) => p.marketing).map((p) => p.id);
}

/** The nodes reachable from `start`, going on only through nodes `through` accepts. */
function downstream(byId: Map<string, FlowNode>, start: string[], through: (n: FlowNode) => boolean): Set<string> {
  const seen = new Set<string>();
  const queue = [...start];
  while (queue.length > 0) {
    const id = queue.shift() as string;
    const node = byId.get(id);
    if (!node || seen.has(id) || !through(node)) continue;
    seen.add(id);
    queue.push(...(node.wires ?? []).flat());
  }
  return seen;
}

describe('example flows: wiring', () => {
  const files = fs.readdirSync(examplesDir).filter((f) => f.endsWith('.json'));

  it('finds the ten examples', () => assert.equal(files.length, 10));

  for (const file of files) {
    const flow: FlowNode[] = JSON.parse(fs.readFileSync(path.join(examplesDir, file), 'utf8'));
    const byId = new Map(flow.map((n) => [n.id, n]));
    const hasMarketing = flow.some((n) => n.type === 'consent-store' && marketingPurposes(n).length > 0);
    const webhooks = flow.filter((n) => n.type === 'whatsapp-webhook');
    // The answer to a web form: where opt-in-flow's decisions without a message (output 3) are answered.
    const optIns = flow.filter((n) => n.type === 'opt-in-flow');
    const formAnswers = flow.filter(
      (n) =>
        n.type === 'http response' && optIns.some((o) => downstream(byId, o.wires?.[2] ?? [], () => true).has(n.id)),
    );

    if (formAnswers.length > 0) {
      it(`${file}: the opt-in form answers before the confirmation is sent, whatever the number`, () => {
        // Answered after whatsapp-send only for a new number, the page's timing would tell a stranger who typed
        // the number in whether its owner had signed up already.
        for (const optIn of optIns) {
          for (const output of [0, 2]) {
            const reaches = downstream(byId, optIn.wires?.[output] ?? [], (n) => n.type !== 'whatsapp-send');
            assert.ok(
              formAnswers.some((answer) => reaches.has(answer.id)),
              `output ${output + 1} of opt-in-flow reaches the answer without passing whatsapp-send`,
            );
          }
        }
        for (const send of flow.filter((n) => n.type === 'whatsapp-send')) {
          const reaches = downstream(byId, (send.wires ?? []).flat(), () => true);
          assert.ok(!formAnswers.some((answer) => reaches.has(answer.id)), `${send.id} holds back a form answer`);
        }
      });

      it(`${file}: the opt-in form answers when opt-in-flow fails (the store stopped or redeploying)`, () => {
        // Its error reaches only a Catch node: without one wired to the answer the browser waits for its timeout.
        for (const optIn of optIns.filter((o) =>
          formAnswers.some((a) => downstream(byId, o.wires?.[2] ?? [], () => true).has(a.id)),
        )) {
          const catches = flow.filter(
            (n) => n.type === 'catch' && (n.scope === null || (n.scope ?? []).includes(optIn.id)),
          );
          assert.ok(
            catches.some((c) =>
              formAnswers.some((a) => downstream(byId, (c.wires ?? []).flat(), () => true).has(a.id)),
            ),
            `no catch node answers the form when ${optIn.id} fails`,
          );
        }
      });
    }

    // A consent-events node that feeds another system over HTTP (a CRM).
    const feeds = flow.filter(
      (n) =>
        n.type === 'consent-events' &&
        [...downstream(byId, [n.id], () => true)].some((id) => byId.get(id)?.type === 'http request'),
    );
    if (feeds.length > 0) {
      it(`${file}: consent events sent to a CRM are acknowledged only when wired back, and given-up ones caught`, () => {
        // Acknowledged when sent, an event the CRM did not take (5xx, 429, no answer) would never go again: a
        // withdrawal or erasure lost to a CRM that is down.
        for (const events of feeds) {
          assert.equal(events.acknowledge, 'returned', `${events.id} acknowledges when returned`);
          assert.ok((events.configVersion ?? 1) >= 3, `${events.id} saved with configVersion 3`);
          const after = downstream(byId, (events.wires ?? []).flat(), () => true);
          const back = [...after].filter((id) => (byId.get(id)?.wires ?? []).flat().includes(events.id));
          assert.ok(back.length > 0, `nothing wires ${events.id}'s events back to it`);
          const catches = flow.filter((n) => n.type === 'catch' && (n.scope ?? []).includes(events.id));
          assert.ok(
            catches.some((c) => (c.wires ?? []).flat().length > 0),
            `no catch node takes the events ${events.id} gives up`,
          );
          // Where the given-up events go: the dead letters, which a refusal for good reaches too.
          const deadLetters = new Set(catches.flatMap((c) => (c.wires ?? []).flat()));
          for (const id of back) {
            const node = byId.get(id);
            if (node?.type !== 'switch') {
              // Kept for a person first: a refusal let go unseen would be lost.
              assert.ok(deadLetters.has(id), `${id} wires back only what the CRM answered or the dead letters kept`);
              continue;
            }
            // Only the CRM's 2xx goes back at once. A refusal for good (the middle output) goes back through the dead
            // letters; anything else (the last output: 5xx, 429) not at all, so consent-events sends it again.
            const outputs = node.wires ?? [];
            assert.ok(outputs[0]?.includes(events.id), `${id}: its first output (2xx) goes back`);
            for (const output of outputs.slice(1)) {
              assert.ok(!output.includes(events.id), `${id}: only its first output goes back directly`);
            }
            if (outputs.length > 2) {
              assert.ok(
                outputs[1].some((target) => deadLetters.has(target)),
                `${id}: a refusal for good goes to the dead letters`,
              );
            }
          }
        }
      });
    }

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
