import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CloudApiError } from '../../lib/cloud-api/errors';
import { GdprWhatsAppError } from '../../lib/errors';
import { errorReport } from '../../nodes/shared/i18n';
import { coreNode, helper } from '../helpers/node-red';

/**
 * The order examples' "answer to the shop" function node in Node-RED's own function node, fed whatsapp-send's failure
 * reports (msg.error, as its second output carries them): the shop learns whether to fix the order, wait, or not send it
 * again. The e2e suite drives the sandbox for a real refusal (an unknown user id); the sandbox cannot time out or
 * limit on demand, so the other failures are the reports whatsapp-send builds from the package's own errors.
 */
const EXAMPLES_DIR = path.resolve(__dirname, '..', '..', '..', 'examples');

type FlowNode = Record<string, unknown> & { id: string; type: string; name?: string; func?: string };

interface ShopAnswer {
  statusCode?: number;
  headers?: Record<string, string>;
  payload?: Record<string, unknown>;
}

function shopAnswers(): FlowNode[] {
  return fs
    .readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, f), 'utf8')) as FlowNode[])
    .filter((n) => n.type === 'function' && n.name === 'answer to the shop');
}

/** msg.error as whatsapp-send's second output carries it for `err`. */
function reportOf(err: unknown): unknown {
  return errorReport({ _: (key: string) => key } as never, err);
}

describe("examples: the order endpoint's answer to the shop", () => {
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());

  it('is the same code in examples 06 and 10', () => {
    const answers = shopAnswers();
    assert.equal(answers.length, 2);
    assert.equal(new Set(answers.map((a) => a.func)).size, 1);
  });

  async function answerFor(error: unknown): Promise<ShopAnswer> {
    const [answer] = shopAnswers();
    await helper.load(
      coreNode('function/10-function.js') as never,
      [
        { id: 'answer', type: 'function', func: answer.func, outputs: 1, wires: [['out']] },
        { id: 'out', type: 'helper' },
      ] as never,
    );
    const out = helper.getNode('out') as unknown as { on(event: 'input', f: (msg: ShopAnswer) => void): void };
    const answered = new Promise<ShopAnswer>((resolve) => out.on('input', resolve));
    helper.getNode('answer').receive({ payload: { type: 'text' }, error } as never);
    // Plain objects again: the function node's come from its own context, with another Object prototype.
    const result = JSON.parse(JSON.stringify(await answered)) as ShopAnswer;
    await helper.unload();
    return result;
  }

  it("answers 422 with Meta's reason when Meta refuses this message for good", async () => {
    const unknownUser = new CloudApiError({
      apiCode: 100,
      title: 'Invalid parameter',
      details: 'Param recipient is not the business-scoped user id of a customer',
      httpStatus: 400,
    });
    const answer = await answerFor(reportOf(unknownUser));
    assert.equal(answer.statusCode, 422);
    assert.deepEqual(answer.payload, {
      outcome: 'failed',
      code: 100,
      title: 'Invalid parameter',
      details: 'Param recipient is not the business-scoped user id of a customer',
    });
    const template = new CloudApiError({ apiCode: 132001, title: 'Template name does not exist', httpStatus: 404 });
    assert.equal((await answerFor(reportOf(template))).statusCode, 422);
  });

  it('answers 503 with Retry-After: the wait Meta named, else a minute, or an hour for limits Meta lifts after hours', async () => {
    const limited = new CloudApiError({ apiCode: 130429, title: 'Rate limit hit', httpStatus: 400 }).withWait(4200);
    const answer = await answerFor(reportOf(limited));
    assert.equal(answer.statusCode, 503);
    assert.deepEqual(answer.headers, { 'Retry-After': '5' });
    assert.deepEqual(answer.payload, { outcome: 'failed', code: 130429 });
    const full = await answerFor(reportOf(new GdprWhatsAppError('queue-full', 'The send queue is full')));
    assert.deepEqual(
      [full.statusCode, full.headers, full.payload],
      [503, { 'Retry-After': '60' }, { outcome: 'failed', code: 'queue-full' }],
    );
    const spam = new CloudApiError({ apiCode: 131048, title: 'Spam rate limit hit', httpStatus: 400 });
    const later = await answerFor(reportOf(spam));
    assert.deepEqual([later.statusCode, later.headers], [503, { 'Retry-After': '3600' }]);
    // The window closed between the gate's check and Meta: sent again, it goes as the template.
    const closed = new CloudApiError({ apiCode: 131047, title: 'Re-engagement message', httpStatus: 400 });
    const soon = await answerFor(reportOf(closed));
    assert.deepEqual([soon.statusCode, soon.headers], [503, { 'Retry-After': '60' }]);
  });

  it('answers 202 delivery-unknown when the message may have arrived, so that no retry sends it twice', async () => {
    const timedOut = new CloudApiError({
      apiCode: 0,
      title: 'Timed out',
      network: true,
      timedOut: true,
    }).asDeliveryUnknown();
    const answer = await answerFor(reportOf(timedOut));
    assert.equal(answer.statusCode, 202);
    assert.deepEqual(answer.payload, { outcome: 'delivery-unknown', code: 0 });
    assert.equal(answer.headers, undefined);
  });

  it("answers 502 for this flow's own access to the API, and 400 for the shop's own mistake", async () => {
    const expired = new CloudApiError({ apiCode: 190, title: 'Access token has expired', httpStatus: 401 });
    const answer = await answerFor(reportOf(expired));
    assert.deepEqual([answer.statusCode, answer.payload], [502, { outcome: 'failed', code: 190 }]);
    const invalid = await answerFor(reportOf(new GdprWhatsAppError('invalid-phone', 'Not a phone number')));
    assert.deepEqual([invalid.statusCode, invalid.payload], [400, { outcome: 'failed', code: 'invalid-phone' }]);
  });
});
