#!/usr/bin/env node
// Runs the Node-RED flow library's scorecard (node-red-dev validate, its real check code) offline
// against the packed package, prints every check and exits non-zero when one fails or is skipped.
//   node scripts/scorecard.js [--out DIR] [--keep]
// Without --out, `npm pack` runs in the project (its prepack builds dist/). With --out, the build
// already in DIR is packed as dist/ (parallel builds, the test suite); npm's "files" list still decides
// what goes into the tarball. --keep leaves the temporary folder (tarball, unpacked package, scorecard.json).
// Network calls are answered by scripts/scorecard/registry.js from local facts; see there.

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const nodeRedDev = require('./scorecard/node-red-dev');
const { localFacts, startLocalRegistry } = require('./scorecard/registry');

const root = path.join(__dirname, '..');
const args = process.argv.slice(2);
const outArg = args.indexOf('--out');
const buildDir = outArg >= 0 ? path.resolve(root, args[outArg + 1]) : undefined;
const keep = args.includes('--keep');

/** Every check node-red-dev 0.1.6 records in its scorecard. */
const CHECKS = [
  ['P01', 'licence declared'],
  ['P03', 'repository or bugs link'],
  ['P04', 'package name (scoped, or node-red-contrib-)'],
  ['P05', '"node-red" in keywords'],
  ['P06', 'compatible with current Node-RED releases'],
  ['P07', 'engines.node fits the latest Node-RED'],
  ['P08', 'no similarly named package in the catalogue'],
  ['N01', 'node types unique in the catalogue'],
  ['N02', 'an example flow for every node'],
  ['D01', 'at most 6 dependencies'],
  ['D02', 'no known incompatible package in the dependency tree'],
  ['D03', 'dependencies at their latest versions'],
];

function run(command, commandArgs, cwd) {
  const result = spawnSync(command, commandArgs, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.error) throw new Error(`${command} cannot run: ${result.error.message}`);
  if (result.status !== 0) {
    process.stderr.write(result.stdout + result.stderr);
    throw new Error(`${command} ${commandArgs.join(' ')} failed (exit ${result.status})`);
  }
  return result.stdout + result.stderr;
}

/** The project as npm would see it, with buildDir standing in for dist/. */
function stage(stageDir) {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  fs.mkdirSync(stageDir, { recursive: true });
  const entries = new Set(['package.json', '.npmignore', 'README.md', 'LICENSE']);
  for (const entry of pkg.files ?? []) if (!entry.startsWith('dist')) entries.add(entry);
  for (const entry of entries) {
    const from = path.join(root, entry);
    if (fs.existsSync(from)) fs.cpSync(from, path.join(stageDir, entry), { recursive: true });
  }
  fs.cpSync(buildDir, path.join(stageDir, 'dist'), { recursive: true });
  return stageDir;
}

/** npm pack, as the flow library receives the package. Returns the tarball path. */
function pack(workDir) {
  const destination = path.join(workDir, 'pack');
  fs.mkdirSync(destination);
  if (buildDir) {
    // The build is done already; prepack would rebuild into the staging copy's dist/.
    run('npm', ['pack', '--ignore-scripts', '--pack-destination', destination], stage(path.join(workDir, 'stage')));
  } else {
    run('npm', ['pack', '--pack-destination', destination], root);
  }
  const tarballs = fs.readdirSync(destination).filter((f) => f.endsWith('.tgz'));
  if (tarballs.length !== 1) throw new Error(`npm pack left ${tarballs.length} tarballs`);
  return path.join(destination, tarballs[0]);
}

/** Unpacks like node-red-dev's npmget.js does for --npm (its tar, strip 1). */
async function unpack(tarball, workDir) {
  const packageDir = path.join(workDir, 'package');
  fs.mkdirSync(packageDir);
  await nodeRedDev.requireFromNodeRedDev('tar').x({ file: tarball, cwd: packageDir, strip: 1 });
  return packageDir;
}

/** Each node set's editor HTML through node-red-dev's parser; a set it cannot read is skipped by N01/N02. */
function parseEditorHtml(packageDir) {
  const pkg = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8'));
  return Object.entries(pkg['node-red']?.nodes ?? {}).map(([set, js]) => {
    try {
      const types = Object.keys(nodeRedDev.getNodeDefinitions(path.join(packageDir, js.replace('.js', '.html'))));
      return types.includes(set) ? { set, types } : { set, types, error: `registers ${types.join(', ')}, not ${set}` };
    } catch (err) {
      return { set, types: [], error: err.message.replace(/\s+/g, ' ') };
    }
  });
}

function forward(stream, sink, collected) {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    collected.push(chunk);
    const lines = (pending + chunk).split('\n');
    pending = lines.pop();
    for (const line of lines) sink.write(`  | ${line}\n`);
  });
  stream.on('end', () => pending && sink.write(`  | ${pending}\n`));
}

/** node-red-dev validate in a child process, its network calls sent to the local registry. */
function validate(packageDir, registryUrl, workDir) {
  const scorecardFile = path.join(workDir, 'scorecard.json');
  // npm-remote-ls and npm-check find their registry through rc('npm'), which reads the .npmrc in the
  // working directory (it does not read npm_config_registry).
  fs.writeFileSync(path.join(workDir, '.npmrc'), `registry=${registryUrl}/registry/\n`);
  const env = { ...process.env, SCORECARD_REGISTRY: registryUrl, npm_config_registry: `${registryUrl}/registry/` };
  // npm-remote-ls (request) would route through a proxy, which the offline guard then refuses.
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) delete env[name];
  const child = spawn(
    process.execPath,
    [
      '-r',
      path.join(__dirname, 'scorecard', 'offline.js'),
      nodeRedDev.bin,
      'validate',
      '--path',
      packageDir,
      '--output',
      scorecardFile,
    ],
    { cwd: workDir, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const stdout = [];
  const stderr = [];
  forward(child.stdout, process.stdout, stdout);
  forward(child.stderr, process.stdout, stderr);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      let scorecard;
      try {
        scorecard = JSON.parse(fs.readFileSync(scorecardFile, 'utf8'));
      } catch {
        scorecard = undefined;
      }
      resolve({ code, scorecard, stdout: stdout.join(''), stderr: stderr.join('') });
    });
  });
}

function details(result) {
  const rest = Object.entries(result).filter(([key]) => key !== 'test');
  return rest.length ? JSON.stringify(Object.fromEntries(rest)) : '';
}

/** Rows of [status, code, title, detail]; status PASS, FAIL or SKIP. */
function judge({ scorecard, code, stdout, stderr }, definitions, registry) {
  const rows = [];
  if (code !== 0) rows.push(['FAIL', 'run', 'node-red-dev validate', `exited with ${code}`]);
  const unreadable = definitions.filter((d) => d.error);
  const parseFailures = stdout.split('\n').filter((l) => l.startsWith('Unable to parse'));
  rows.push([
    unreadable.length || parseFailures.length ? 'FAIL' : 'PASS',
    'HTML',
    'every node set has an inline registerType its parser reads',
    unreadable.length
      ? `N01/N02 skip: ${unreadable.map((d) => `${d.set} (${d.error})`).join('; ')}`
      : parseFailures.join('; '),
  ]);
  for (const [check, title] of CHECKS) {
    const result = scorecard?.[check];
    if (!result) rows.push(['SKIP', check, title, 'not in the scorecard']);
    // node-red-dev records P05 as passed in both branches; its warning is the real verdict.
    else if (check === 'P05' && stderr.includes('P05 Package.json keywords MUST contain node-red'))
      rows.push(['FAIL', check, title, 'warned: keywords lack "node-red"']);
    else rows.push([result.test ? 'PASS' : 'FAIL', check, title, details(result)]);
  }
  const blocked = [...new Set(stderr.split('\n').filter((l) => l.startsWith('[scorecard-offline]')))];
  const unknown = [...registry.unknown];
  rows.push([
    blocked.length || unknown.length ? 'FAIL' : 'PASS',
    'NET',
    'every network call answered locally',
    [
      ...blocked,
      ...(unknown.length ? [`no local registry answer for ${unknown.join(', ')} (D02/D03 incomplete)`] : []),
    ].join('; '),
  ]);
  return rows;
}

async function main() {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'scorecard-'));
  try {
    console.log(`Packing ${buildDir ? `${path.relative(root, buildDir)} as dist/` : 'the project'} with npm pack...`);
    const tarball = pack(workDir);
    const packageDir = await unpack(tarball, workDir);
    console.log(`Packed ${path.basename(tarball)}; validating the unpacked package offline.`);
    const definitions = parseEditorHtml(packageDir);
    const noderedPath = process.env.NODE_RED_PATH;
    const facts = localFacts({ roots: [root], extraPackages: noderedPath ? [path.resolve(noderedPath)] : [] });
    const registry = await startLocalRegistry(facts);
    let outcome;
    try {
      outcome = await validate(packageDir, registry.url, workDir);
    } finally {
      await registry.close();
    }
    console.log('\nLocal answers given:');
    for (const [what, source] of registry.answered) console.log(`  ${what}: ${source}`);
    console.log(`  catalogue modules: ${facts.catalogue.modules.map((m) => m.id).join(', ') || 'none'}`);
    const rows = judge(outcome, definitions, registry);
    console.log('\nScorecard:');
    for (const [status, check, title, detail] of rows) {
      console.log(`  ${status.padEnd(4)} ${check.padEnd(4)} ${title}${detail ? `  ${detail}` : ''}`);
    }
    const bad = rows.filter(([status]) => status !== 'PASS');
    console.log(bad.length ? `\n${bad.length} check(s) failed or skipped.` : `\nAll ${rows.length} checks passed.`);
    if (keep) console.log(`Kept ${workDir}`);
    return bad.length ? 1 : 0;
  } finally {
    if (!keep) fs.rmSync(workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`scorecard: ${err.message}`);
    process.exit(1);
  },
);
