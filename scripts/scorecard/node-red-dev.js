// node-red-dev's own code, loaded from the installed devDependency so that nothing here re-implements
// a scorecard check. Its HTML parser (getNodeDefinitions) is module-private in src/libs/checknodes.js,
// so that file is compiled once more with one export line appended: the exact parser the flow
// library runs, not a copy of it.
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');

const packageDir = path.dirname(require.resolve('node-red-dev/package.json'));
const bin = path.join(packageDir, 'bin', 'run');

/** Resolves a module the way node-red-dev's sources do (its nested axios, tar, acorn...). */
function requireFromNodeRedDev(id) {
  return require(require.resolve(id, { paths: [path.join(packageDir, 'src', 'libs')] }));
}

let parser;
/** node-red-dev's getNodeDefinitions(htmlFile): { [type]: { category, color, icon, inputs, outputs, ... } }. */
function getNodeDefinitions(htmlFile) {
  if (!parser) {
    const file = path.join(packageDir, 'src', 'libs', 'checknodes.js');
    const mod = new Module(file, module);
    mod.filename = file;
    mod.paths = Module._nodeModulePaths(path.dirname(file));
    mod._compile(`${fs.readFileSync(file, 'utf8')}\nmodule.exports.getNodeDefinitions = getNodeDefinitions;\n`, file);
    parser = mod.exports.getNodeDefinitions;
    if (typeof parser !== 'function') throw new Error(`node-red-dev changed: no getNodeDefinitions in ${file}`);
  }
  return parser(htmlFile);
}

module.exports = { bin, getNodeDefinitions, packageDir, requireFromNodeRedDev };
