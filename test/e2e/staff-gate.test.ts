import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { coreNode, helper } from '../helpers/node-red';

/**
 * The examples' "staff only?" function node in Node-RED's own function node: staff endpoints (campaigns, orders,
 * erasure, export, retention) answer only with the Bearer token from WA_GDPR_STAFF_TOKEN and stay closed without it.
 * The e2e suite drives the deployed endpoints with the token set; this covers the closed state.
 */
const EXAMPLES_DIR = path.resolve(__dirname, '..', '..', '..', 'examples');
const TOKEN = 'a-staff-token-of-32-characters!!';

type FlowNode = Record<string, unknown> & { id: string; type: string; name?: string; func?: string };

function staffGates(): FlowNode[] {
  return fs
    .readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, f), 'utf8')) as FlowNode[])
    .filter((n) => n.type === 'function' && n.name === 'staff only?');
}

interface Answer {
  output: 1 | 2;
  msg: { statusCode?: number; payload?: { error?: string } };
}

describe('examples: the staff-only gate', () => {
  const saved = process.env.WA_GDPR_STAFF_TOKEN;

  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    if (saved === undefined) delete process.env.WA_GDPR_STAFF_TOKEN;
    else process.env.WA_GDPR_STAFF_TOKEN = saved;
    await helper.unload();
  });

  it('is the same code on every staff endpoint of every example', () => {
    const gates = staffGates();
    assert.equal(gates.length, 15);
    assert.equal(new Set(gates.map((g) => g.func)).size, 1);
  });

  async function ask(authorization: string | undefined): Promise<Answer> {
    const [gate] = staffGates();
    await helper.load(
      coreNode('function/10-function.js') as never,
      [
        {
          id: 'gate',
          type: 'function',
          name: 'staff only?',
          func: gate.func,
          outputs: 2,
          wires: [['allowed'], ['refused']],
        },
        { id: 'allowed', type: 'helper' },
        { id: 'refused', type: 'helper' },
      ] as never,
    );
    const wire = (id: string) =>
      helper.getNode(id) as unknown as { on(event: 'input', f: (msg: Answer['msg']) => void): void };
    const answer = new Promise<Answer>((resolve) => {
      wire('allowed').on('input', (msg) => resolve({ output: 1, msg }));
      wire('refused').on('input', (msg) => resolve({ output: 2, msg }));
    });
    helper.getNode('gate').receive({ req: { headers: authorization ? { authorization } : {} }, payload: {} });
    const result = await answer;
    await helper.unload();
    return result;
  }

  it('stays closed (503) while WA_GDPR_STAFF_TOKEN is unset or shorter than 16 characters', async () => {
    delete process.env.WA_GDPR_STAFF_TOKEN;
    for (const authorization of [undefined, 'Bearer ', 'Bearer undefined']) {
      const { output, msg } = await ask(authorization);
      assert.equal(output, 2, String(authorization));
      assert.equal(msg.statusCode, 503);
      assert.equal(msg.payload?.error, 'staff-token-not-set');
    }
    process.env.WA_GDPR_STAFF_TOKEN = 'short';
    const short = await ask('Bearer short');
    assert.equal(short.output, 2, 'a guessable token opens nothing');
    assert.equal(short.msg.statusCode, 503);
  });

  it('lets the exact Bearer token through and refuses anything else with 401', async () => {
    process.env.WA_GDPR_STAFF_TOKEN = TOKEN;
    // The scheme's name is case-insensitive, and more than one space may follow it (RFC 9110, 11.1 and 11.4).
    for (const authorization of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER  ${TOKEN}`]) {
      assert.equal((await ask(authorization)).output, 1, authorization);
    }
    for (const authorization of [
      undefined,
      TOKEN,
      `Basic ${TOKEN}`,
      `Bearer${TOKEN}`,
      `Bearer ${TOKEN} `,
      `Bearer ${TOKEN.toUpperCase()}`,
      `Bearer ${TOKEN.slice(1)}`,
    ]) {
      const { output, msg } = await ask(authorization);
      assert.equal(output, 2, String(authorization));
      assert.equal(msg.statusCode, 401);
      assert.equal(msg.payload?.error, 'staff-token-required');
    }
  });
});
