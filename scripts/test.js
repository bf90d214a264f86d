#!/usr/bin/env node
// Runs the compiled mocha suite and ends with one plain summary line ("N passed, N failed").
//   node scripts/test.js [--out DIR] [--except PART ...] [glob ...]
// Globs are relative to the build folder (default: every test/**/*.test.js); --except leaves out the files whose
// path contains PART (CI runs the browser suites beside the others).
// NODE_RED_PATH picks the Node-RED that the node tests run in (default: the devDependency).

const path = require('node:path');
const fs = require('node:fs');
const Mocha = require('mocha');

const args = process.argv.slice(2);
const root = path.join(__dirname, '..');
const outArg = args.indexOf('--out');
const dist = path.resolve(root, outArg >= 0 ? args[outArg + 1] : 'dist');
const takesValue = new Set(['--out', '--except']);
const excepted = args.filter((_, i) => args[i - 1] === '--except');
const globs = args.filter((a, i) => !takesValue.has(a) && !takesValue.has(args[i - 1]));

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

// A committed .only would shrink CI to a few tests.
const mocha = new Mocha({ timeout: 30000, reporter: 'spec', forbidOnly: Boolean(process.env.CI) });
for (const file of selected) mocha.addFile(file);
const runner = mocha.run((failures) => {
  const { passes, failures: failed, pending } = runner.stats;
  console.log(`\n${passes} passed, ${failed} failed, ${pending} skipped`);
  process.exitCode = failures > 0 || passes === 0 ? 1 : 0;
  // Node-RED and database pools keep handles open; the summary is written, so leave now.
  setTimeout(() => process.exit(process.exitCode), 200).unref();
});
