import assert from 'node:assert/strict';
import {
  type Backend,
  configNodes,
  countingNodes,
  functionNode,
  openLedger,
  randomStoreKeys,
  readCounts,
  seedConsents,
  sqliteIn,
  webhookToStopHandler,
} from './support/flows';
import { createUserDir, NodeRedProcess } from './support/node-red-process';
import { dropSchema, freshSchema, PG_SKIP_LINE, postgresUrl } from './support/postgres';
import { postWebhook, runBounded, signedTextWebhook, subjectPhone } from './support/webhooks';

/**
 * Issue 7, "Crash": a real Node-RED process receives a burst of signed STOP webhooks from distinct subjects
 * who hold consent and is killed with SIGKILL partway. After a restart on the same user directory, every STOP
 * that was answered 200 is a withdrawal in the store, the database is sound and the audit chain verifies.
 */
const TYPES = ['whatsapp-config', 'consent-store', 'whatsapp-webhook', 'stop-handler'];
const APP_SECRET = 'h11-crash-app-secret';
/** The figure; each run stays within about a minute per backend on two cores. */
const BURST = 5000;
/**
 * SIGKILL once this many STOPs were answered 200, while the rest of the burst is in flight. Lower on PostgreSQL,
 * where each STOP costs several round trips under one advisory lock, to keep the run near a minute.
 */
const KILL_AFTER = { sqlite: 2500, postgres: 1000 };
const CONCURRENCY = 32;
/**
 * The client stops starting POSTs once it kills the process, so only the first KILL_AFTER answers plus those
 * in flight can reach a live process: those subjects are seeded with consent (seeding all 5,000 on PostgreSQL
 * alone takes longer than the whole run). The test asserts that no POST went beyond them.
 */
const seededFor = (backend: Backend) => KILL_AFTER[backend.kind] + 4 * CONCURRENCY;

interface CrashFigures {
  backend: string;
  burst: number;
  seeded: number;
  answered200: number;
  failed: number;
  notSent: number;
  withdrawnAfterRestart: number;
  auditEvents: number;
  seedMs: number;
  burstMs: number;
}

async function crashRun(backend: Backend, userDir: string, firstIndex: number): Promise<CrashFigures> {
  const keys = randomStoreKeys();
  const seeded = seededFor(backend);
  const killAfter = KILL_AFTER[backend.kind];
  const phones = Array.from({ length: BURST + 1 }, (_, i) => subjectPhone(firstIndex + i));
  // One more subject than the burst: after the restart its STOP shows the store is in use again.
  const [probe] = phones.splice(BURST, 1);

  let started = Date.now();
  const seeding = await openLedger(backend, keys);
  await seedConsents(seeding, [...phones.slice(0, seeded), probe]);
  await seeding.close();
  const seedMs = Date.now() - started;

  const red = await NodeRedProcess.start({ types: TYPES }, userDir);
  try {
    await red.deploy([...configNodes(backend, { appSecret: APP_SECRET, keys }), ...webhookToStopHandler()]);
    const webhooks = phones.map((phone) => signedTextWebhook(phone, 'STOP', APP_SECRET));
    const statuses = new Array<number | undefined>(BURST).fill(undefined);
    let answered = 0;
    let killing: Promise<void> | undefined;
    started = Date.now();
    await runBounded(
      BURST,
      CONCURRENCY,
      (i) => postWebhook(`${red.url}/whatsapp`, webhooks[i]),
      (i, answer) => {
        statuses[i] = answer.status;
        if (answer.status === 200) answered += 1;
        if (answered >= killAfter && !killing) killing = red.kill();
        return !killing;
      },
    );
    await killing;
    const burstMs = Date.now() - started;
    assert.ok(killing, `the burst ended before the kill (${answered} answered 200)`);
    const acked = new Set(phones.filter((_, i) => statuses[i] === 200));
    const failed = statuses.filter((s) => s !== undefined && s !== 200).length;
    const notSent = statuses.filter((s) => s === undefined).length;
    assert.ok(failed > 0 || notSent > 0, 'the kill landed after the whole burst');
    assert.equal(statuses.slice(seeded).filter((s) => s !== undefined).length, 0, 'a STOP went to an unseeded subject');

    await red.restart();
    const probeAnswer = await postWebhook(`${red.url}/whatsapp`, signedTextWebhook(probe, 'STOP', APP_SECRET));
    assert.equal(probeAnswer.status, 200, 'the restarted process takes STOPs again');

    const ledger = await openLedger(backend, keys);
    try {
      const notWithdrawn: string[] = [];
      let withdrawn = 0;
      for (const phone of [...phones.slice(0, seeded), probe]) {
        const check = await ledger.checkConsent(phone, 'news');
        if (check.status === 'withdrawn') withdrawn += 1;
        else if (phone === probe || acked.has(phone)) notWithdrawn.push(`${phone}: ${check.status}`);
      }
      assert.deepEqual(notWithdrawn.slice(0, 5), [], `${notWithdrawn.length} STOPs answered 200 were lost`);
      if (backend.kind === 'sqlite') assert.equal(await ledger.integrityCheck(), 'ok');
      const audit = await ledger.verifyAudit();
      assert.ok(audit.ok, `audit chain: ${audit.reason} at ${audit.firstBrokenSeq}`);
      // Seeding wrote one event per subject; every withdrawal at least one more.
      assert.ok(audit.count >= seeded + 1 + withdrawn, `only ${audit.count} audit events`);
      return {
        backend: backend.kind,
        burst: BURST,
        seeded,
        answered200: acked.size,
        failed,
        notSent,
        withdrawnAfterRestart: withdrawn,
        auditEvents: audit.count,
        seedMs,
        burstMs,
      };
    } finally {
      await ledger.close();
    }
  } finally {
    await red.stop();
  }
}

describe('whatsapp-webhook answers 200 only after the nodes wired to it are done (DESIGN.md section 3)', function () {
  this.timeout(60000);
  let red: NodeRedProcess | undefined;

  after(async () => {
    await red?.remove();
  });

  it('holds the answer until a slow wired node calls done, and answers when it has', async () => {
    const types = ['whatsapp-config', 'consent-store', 'whatsapp-webhook'];
    const userDir = createUserDir(types);
    red = await NodeRedProcess.start({ types }, userDir);
    await red.deploy([
      ...configNodes(sqliteIn(userDir), { appSecret: APP_SECRET, keys: randomStoreKeys() }),
      {
        id: 'hook1',
        z: 'tab1',
        type: 'whatsapp-webhook',
        path: '/whatsapp',
        whatsapp: 'wa1',
        store: 'store1',
        wires: [['slow'], [], []],
      },
      // Finishes 400 ms after it received the message, like a database write would.
      functionNode(
        'slow',
        `setTimeout(() => {
  const counts = flow.get('counts') || {};
  counts.finished = (counts.finished || 0) + 1;
  flow.set('counts', counts);
  node.done();
}, 400);
return null;`,
      ),
      ...countingNodes([]),
    ]);
    for (let i = 0; i < 3; i++) {
      const answer = await postWebhook(
        `${red.url}/whatsapp`,
        signedTextWebhook(subjectPhone(9_000_000 + i), 'Hallo', APP_SECRET),
      );
      assert.equal(answer.status, 200);
      assert.equal((await readCounts(red.url)).finished, i + 1, 'answered before the wired node was done');
    }
  });
});

describe('reliability: SIGKILL during a burst of STOP webhooks', function () {
  this.timeout(240000);
  const userDirs: string[] = [];

  after(async () => {
    const { rmSync } = await import('node:fs');
    for (const dir of userDirs) rmSync(dir, { recursive: true, force: true });
  });

  it('SQLite: every STOP answered 200 is a withdrawal after the restart; integrity_check and the audit chain hold', async () => {
    const userDir = createUserDir(TYPES);
    userDirs.push(userDir);
    const figures = await crashRun(sqliteIn(userDir), userDir, 10_000_000);
    console.log(`      crash figures: ${JSON.stringify(figures)}`);
  });

  it('PostgreSQL: every STOP answered 200 is a withdrawal after the restart; the audit chain holds', async function () {
    const url = postgresUrl();
    if (!url) {
      console.log(`      ${PG_SKIP_LINE}`);
      return this.skip();
    }
    const schema = freshSchema('h11_crash');
    const userDir = createUserDir(TYPES);
    userDirs.push(userDir);
    try {
      const figures = await crashRun({ kind: 'postgres', url, schema }, userDir, 20_000_000);
      console.log(`      crash figures: ${JSON.stringify(figures)}`);
    } finally {
      await dropSchema(url, schema);
    }
  });
});
