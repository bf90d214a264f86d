import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { coreNode, helper } from '../helpers/node-red';

/**
 * Examples 07 and 10: her MEINE DATEN is a request for access (Art. 15 GDPR). The chat answer says that the full copy
 * follows within a month, and the function's second output hands the task to staff with what they need to find her.
 * The function node as it ships, in a real Node-RED runtime; the e2e suite drives the whole flow through the sandbox.
 */
type FlowNode = Record<string, unknown> & { id: string; type: string; name?: string; wires?: string[][] };

const EXAMPLES = ['07-data-subject-requests.json', '10-complete-bot.json'];

/** What export-subject emits for a person with one consent and one notice shown. */
function exported(): Record<string, unknown> {
  return {
    consents: [
      {
        purpose: 'newsletter',
        status: 'given',
        lawfulBasis: 'consent',
        decidedAt: 1,
        updatedAt: Date.UTC(2026, 11, 5),
      },
    ],
    notices: [{ noticeVersion: 'v1', shownAt: Date.UTC(2026, 11, 5) }],
    information: { purposes: [{ id: 'newsletter', label: 'Newsletter', labels: { de: 'Newsletter' } }] },
  };
}

for (const file of EXAMPLES) {
  describe(`example ${file.slice(0, 2)}: MEINE DATEN answers and hands the full copy to staff`, function () {
    this.timeout(20000);
    const flow = JSON.parse(
      fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'examples', file), 'utf8'),
    ) as FlowNode[];
    const shipped = flow.find((n) => n.type === 'function' && n.name === 'what we store') as FlowNode;

    beforeEach(() => helper.startServer());
    afterEach(async () => {
      await helper.unload();
      await helper.stopServer();
    });

    it('says the copy follows within a month, and names her to staff on output 2', async () => {
      assert.equal(shipped.outputs, 2);
      const staffNode = flow.find((n) => n.id === shipped.wires?.[1]?.[0]);
      assert.equal(staffNode?.type, 'debug', 'output 2 goes to a debug node for a person');
      const fn = { ...shipped, z: 'tab', wires: [['answer'], ['task']] };
      await helper.load(
        coreNode('function/10-function.js') as never,
        [
          { id: 'tab', type: 'tab' },
          fn,
          { id: 'answer', type: 'helper', z: 'tab' },
          { id: 'task', type: 'helper', z: 'tab' },
        ] as never,
      );
      const answered = new Promise<Record<string, unknown>>((resolve) => helper.getNode('answer').on('input', resolve));
      const handed = new Promise<Record<string, unknown>>((resolve) => helper.getNode('task').on('input', resolve));
      helper.getNode(shipped.id).receive({
        payload: exported(),
        whatsapp: { from: '+4915123456789', messageId: 'wamid.MYDATA', timestamp: 1764950400, type: 'text' },
      } as never);
      const answer = await answered;
      assert.match(
        String(answer.payload),
        /^Das speichern wir über Sie: Ihre Nummer \(verschlüsselt\), wann Sie uns zuletzt geschrieben haben, und diese Einträge:\n- Newsletter: erteilt \(/,
      );
      assert.match(
        String(answer.payload),
        /Eine vollständige Auskunft mit einer Kopie Ihrer Daten senden wir Ihnen innerhalb eines Monats/,
      );
      assert.equal(answer.to, '+4915123456789');
      const task = (await handed).payload as Record<string, unknown>;
      assert.equal(task.phone, '+4915123456789');
      assert.equal(task.messageId, 'wamid.MYDATA');
      assert.equal(task.askedAt, '2025-12-05T16:00:00.000Z');
      assert.match(String(task.task), /full copy within a month/);
    });
  });
}
