#!/usr/bin/env node
// Runs the compiled mocha suite and ends with one plain summary line ("N passed, N failed").
//   node scripts/test.js [--out DIR] [--except PART ...] [--serial] [glob ...]
// Globs are relative to the build folder (default: every test/**/*.test.js); --except leaves out the files whose
// path contains PART.
// Some suites spend their time waiting rather than computing: the browser suites on Chromium, and the suites that
// post many web forms on opt-in-flow's half-second answer floor. When a run holds them and others, they run in a
// second process beside the others (their output follows the others'), which saves about a third of a run on two
// cores. --serial runs everything in this one process.
// NODE_RED_PATH picks the Node-RED that the node tests run in (default: the devDependency).

const path = require('node:path');
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const Mocha = require('mocha');

const args = process.argv.slice(2);
const root = path.join(__dirname, '..');
const outArg = args.indexOf('--out');
const dist = path.resolve(root, outArg >= 0 ? args[outArg + 1] : 'dist');
const takesValue = new Set(['--out', '--except']);
const flags = new Set(['--serial']);
const excepted = args.filter((_, i) => args[i - 1] === '--except');
const globs = args.filter((a, i) => !takesValue.has(a) && !flags.has(a) && !takesValue.has(args[i - 1]));
const serial = args.includes('--serial');
const SIDE_PARTS = [
  `test${path.sep}browser${path.sep}`,
  `test${path.sep}reliability${path.sep}fuzz-inputs.test.js`,
  `test${path.sep}nodes${path.sep}opt-in-flow.test.js`,
];

function listTests(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...listTests(full));
    else if (entry.name.endsWith('.test.js')) found.push(full);
  }
  return found;
}

// The PostgreSQL suites read WA_GDPR_PG_URL; the standard libpq variables (PGHOST, PGDATABASE, ...) work too.
function postgresUrlFromLibpqEnv(env) {
  if (!env.PGHOST && !env.PGDATABASE) return undefined;
  const user = encodeURIComponent(env.PGUSER || 'postgres');
  const password = env.PGPASSWORD ? `:${encodeURIComponent(env.PGPASSWORD)}` : '';
  const host = env.PGHOST && !env.PGHOST.startsWith('/') ? env.PGHOST : '127.0.0.1';
  return `postgres://${user}${password}@${host}:${env.PGPORT || 5432}/${encodeURIComponent(env.PGDATABASE || 'postgres')}`;
}
if (!process.env.WA_GDPR_PG_URL) {
  const derived = postgresUrlFromLibpqEnv(process.env);
  if (derived) process.env.WA_GDPR_PG_URL = derived;
}

// CI sets WA_GDPR_REQUIRE_PG: there a missing PostgreSQL must fail the run, not turn its suites into skips.
if (process.env.WA_GDPR_REQUIRE_PG && !process.env.WA_GDPR_PG_URL) {
  console.error('WA_GDPR_REQUIRE_PG is set but WA_GDPR_PG_URL is not: the PostgreSQL suites cannot run.');
  process.exit(1);
}

const all = listTests(path.join(dist, 'test')).sort();
const matches = (f, parts) => parts.some((part) => path.relative(dist, f).includes(part));
const selected = (globs.length ? all.filter((f) => matches(f, globs)) : all).filter((f) => !matches(f, excepted));
if (selected.length === 0) {
  console.error('No test files matched.');
  process.exit(1);
}

const sideFiles = selected.filter((f) => SIDE_PARTS.some((part) => path.relative(dist, f).startsWith(part)));
const mainFiles = selected.filter((f) => !sideFiles.includes(f));
const splitting = !serial && sideFiles.length > 0 && mainFiles.length > 0;
const side = splitting ? runBeside(sideFiles) : undefined;

// A committed .only would shrink CI to a few tests.
const mocha = new Mocha({ timeout: 30000, reporter: 'spec', forbidOnly: Boolean(process.env.CI) });
for (const file of splitting ? mainFiles : selected) mocha.addFile(file);
const fileSeconds = new Map();
const runner = mocha.run(async (failures) => {
  const counts = { ...runner.stats, failed: failures };
  console.log(slowestFiles(fileSeconds));
  if (side) {
    const other = await side;
    console.log(`\n--- ${sideFiles.length} suite file(s) that mostly wait, run beside the others ---\n${other.output}`);
    if (!other.counts) console.log(`The suites run beside ended without a summary (exit ${other.code}).`);
    const extra = other.counts || { passes: 0, failed: 1, pending: 0 };
    counts.passes += extra.passes;
    counts.failed += extra.failed;
    counts.pending += extra.pending;
    if (other.code !== 0 && extra.failed === 0) counts.failed += 1;
  }
  console.log(`\n${counts.passes} passed, ${counts.failed} failed, ${counts.pending} skipped`);
  process.exitCode = counts.failed > 0 || counts.passes === 0 ? 1 : 0;
  // Node-RED and database pools keep handles open; the summary is written, so leave now.
  setTimeout(() => process.exit(process.exitCode), 200).unref();
});

// CI's log has no timestamps: the slowest files are listed with the summary, to show where a pass spends its time.
runner.on('suite', (suite) => {
  if (suite.file && suite.parent?.root) suite.startedAt = performance.now();
});
runner.on('suite end', (suite) => {
  if (suite.startedAt === undefined) return;
  const file = path.relative(dist, suite.file);
  fileSeconds.set(file, (fileSeconds.get(file) ?? 0) + (performance.now() - suite.startedAt) / 1000);
});

function slowestFiles(seconds, shown = 12) {
  const total = [...seconds.values()].reduce((a, b) => a + b, 0);
  const lines = [...seconds.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, shown)
    .map(([file, s]) => `  ${s.toFixed(1).padStart(7)} s  ${file}`);
  return `\nSlowest files (of ${total.toFixed(0)} s in ${seconds.size} files in this process):\n${lines.join('\n')}`;
}

/** Runs the given files in a child process of the same Node; resolves with its output, exit code and counts. */
function runBeside(files) {
  const child = spawn(
    process.execPath,
    [__filename, '--serial', '--out', dist, ...files.map((f) => path.relative(dist, f))],
    {
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  return new Promise((resolve) => {
    child.on('close', (code) => {
      const summary = /^(\d+) passed, (\d+) failed, (\d+) skipped$/m.exec(output.split('\n').slice(-4).join('\n'));
      const counts = summary && { passes: +summary[1], failed: +summary[2], pending: +summary[3] };
      resolve({ output, code: code ?? 1, counts });
    });
  });
}
