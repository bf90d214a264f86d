import assert from 'node:assert/strict';
import { openSqliteDatabase } from '../../lib/store/sqlite-driver';
import { configNodes, countingNodes, functionNode, randomStoreKeys, readCounts, sqliteIn } from './support/flows';
import { createUserDir, NodeRedProcess } from './support/node-red-process';
import { postWebhook, signedTextWebhook, subjectPhone } from './support/webhooks';

/**
 * In a real Node-RED process (default settings, RED.hooks present): the webhook marks a message done only after
 * the nodes wired to it finished with it. A wired node that fails makes it answer 500 so Meta's retry is handled
 * again, and a process killed while the flow holds a message leaves a claim, not a "done" mark: the retry is
 * answered 503 while the lease runs and handled once it ran out. Before, the mark was written first and both
 * retries were dropped as duplicates (a STOP lost for good).
 */
const TYPES = ['whatsapp-config', 'consent-store', 'whatsapp-webhook'];
const APP_SECRET = 'h16-redelivery-app-secret';

/** Counts each text in flow context; "fail-once" throws the first time, "hang" never finishes (when told to). */
function flakyFlow(hang: boolean): Record<string, unknown>[] {
  return [
    {
      id: 'hook1',
      z: 'tab1',
      type: 'whatsapp-webhook',
      path: '/whatsapp',
      whatsapp: 'wa1',
      store: 'store1',
      wires: [['flaky'], [], []],
    },
    functionNode(
      'flaky',
      `const counts = flow.get('counts') || {};
counts[msg.payload] = (counts[msg.payload] || 0) + 1;
flow.set('counts', counts);
if (msg.payload === 'fail-once' && counts[msg.payload] === 1) throw new Error('the withdrawal was not committed');
if (msg.payload === 'hang' && ${hang}) return null;
node.done();
return null;`,
    ),
    ...countingNodes([]),
  ];
}

function sqliteFile(userDir: string): string {
  const backend = sqliteIn(userDir);
  if (backend.kind !== 'sqlite') throw new Error('not a SQLite backend');
  return backend.file;
}

async function until(predicate: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('reliability: a failed or crashed delivery is handled again on retry (real Node-RED)', function () {
  this.timeout(90000);
  const keys = randomStoreKeys();
  let red: NodeRedProcess | undefined;
  let userDir = '';

  before(async () => {
    userDir = createUserDir(TYPES);
    red = await NodeRedProcess.start({ types: TYPES }, userDir);
  });

  after(async () => {
    await red?.remove();
  });

  it('a wired node that fails: 500, the retry is emitted again and answered 200, the next is a duplicate', async () => {
    const node = red as NodeRedProcess;
    await node.deploy([...configNodes(sqliteIn(userDir), { appSecret: APP_SECRET, keys }), ...flakyFlow(false)]);
    const stop = signedTextWebhook(subjectPhone(16_000_001), 'fail-once', APP_SECRET);
    assert.equal((await postWebhook(`${node.url}/whatsapp`, stop)).status, 500);
    assert.equal((await postWebhook(`${node.url}/whatsapp`, stop)).status, 200);
    assert.equal((await readCounts(node.url))['fail-once'], 2, "Meta's retry was dropped as a duplicate");
    assert.equal((await postWebhook(`${node.url}/whatsapp`, stop)).status, 200);
    assert.equal((await readCounts(node.url))['fail-once'], 2, 'a handled message was emitted again');
  });

  it('SIGKILL while the flow holds a message: the retry waits (503) for the lease, then is handled', async () => {
    const node = red as NodeRedProcess;
    await node.deploy([...configNodes(sqliteIn(userDir), { appSecret: APP_SECRET, keys }), ...flakyFlow(true)]);
    const held = signedTextWebhook(subjectPhone(16_000_002), 'hang', APP_SECRET);
    const inFlight = postWebhook(`${node.url}/whatsapp`, held);
    await until(async () => (await readCounts(node.url)).hang === 1, 'the flow to hold the message');
    await node.kill();
    assert.equal((await inFlight).status, 0, 'the killed process answered');

    await node.restart();
    // The dead process's claim still holds: not a duplicate, not handled twice at once.
    assert.equal((await postWebhook(`${node.url}/whatsapp`, held)).status, 503);
    assert.equal((await readCounts(node.url)).hang, undefined);

    // Sixty seconds later the lease has run out (set here instead of waiting for it).
    const { db } = openSqliteDatabase(sqliteFile(userDir));
    try {
      assert.equal(Number(db.prepare('UPDATE dedupe_marks SET expires_at = 0 WHERE completed = 0').run().changes), 1);
    } finally {
      db.close();
    }
    await node.deploy([...configNodes(sqliteIn(userDir), { appSecret: APP_SECRET, keys }), ...flakyFlow(false)]);
    assert.equal((await postWebhook(`${node.url}/whatsapp`, held)).status, 200);
    assert.equal((await readCounts(node.url)).hang, 1, 'the message held by the dead process was lost');
    assert.equal((await postWebhook(`${node.url}/whatsapp`, held)).status, 200);
    assert.equal((await readCounts(node.url)).hang, 1, 'a handled message was emitted again');
  });
});
