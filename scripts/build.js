#!/usr/bin/env node
// Compiles the TypeScript to CommonJS and copies what Node-RED looks for beside each compiled
// node file: the editor HTML, locales/ and icons/.
//   node scripts/build.js [--out DIR] [--lenient]
// --out lets parallel work build into its own folder; --lenient keeps the emitted JavaScript
// when another part of the tree has type errors (never used by npm test or CI).

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const args = process.argv.slice(2);
const root = path.join(__dirname, '..');
const outArg = args.indexOf('--out');
const target = path.resolve(root, outArg >= 0 ? args[outArg + 1] : 'dist');
const lenient = args.includes('--lenient');
// Built beside the target and swapped in at the end: a Node-RED running from it (npm start while npm test builds)
// keeps finding its files, instead of answering 500 for the sandbox chat until the build is done.
const dist = `${target}.building-${process.pid}`;

fs.rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', root, '--outDir', dist], {
  stdio: 'inherit',
});
if (tsc.status !== 0 && !lenient) {
  fs.rmSync(dist, { recursive: true, force: true });
  process.exit(tsc.status ?? 1);
}

const nodesSrc = path.join(root, 'nodes');
const nodesOut = path.join(dist, 'nodes');
fs.mkdirSync(nodesOut, { recursive: true });
for (const file of fs.readdirSync(nodesSrc)) {
  if (file.endsWith('.html')) fs.copyFileSync(path.join(nodesSrc, file), path.join(nodesOut, file));
}
fs.cpSync(path.join(nodesSrc, 'locales'), path.join(nodesOut, 'locales'), { recursive: true });
fs.cpSync(path.join(root, 'icons'), path.join(nodesOut, 'icons'), { recursive: true });
// Static assets of lib/ (the sandbox chat page) travel with the compiled code.
const assets = path.join(root, 'lib', 'sandbox', 'public');
if (fs.existsSync(assets)) fs.cpSync(assets, path.join(dist, 'lib', 'sandbox', 'public'), { recursive: true });

const previous = `${target}.previous-${process.pid}`;
if (fs.existsSync(target)) fs.renameSync(target, previous);
fs.renameSync(dist, target);
fs.rmSync(previous, { recursive: true, force: true });
