// A registry and flow-library catalogue on 127.0.0.1 that answer only from what is on this machine,
// so node-red-dev's network checks run their real code offline and still say something true:
// - a package document is the one npm cached at install time (the registry's own answer, dist-tags
//   and all), merged with every version installed under node_modules (and NODE_RED_PATH); a package
//   known to neither gets a 404, never an invented answer.
// - the catalogue lists the Node-RED node modules installed here, with the types their editor HTML
//   registers (read by node-red-dev's parser). It is not the flow library's catalogue.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { openNpmCache } = require('./npm-cache');
const { getNodeDefinitions, requireFromNodeRedDev } = require('./node-red-dev');

const semver = requireFromNodeRedDev('semver');

/** Every package.json under a node_modules folder, nested ones included: [{ dir, manifest }]. */
function installedPackages(nodeModules, found = []) {
  let entries;
  try {
    entries = fs.readdirSync(nodeModules, { withFileTypes: true });
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const dir = path.join(nodeModules, entry.name);
    if (entry.name.startsWith('@')) {
      installedPackages(dir, found);
      continue;
    }
    try {
      found.push({ dir, manifest: JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) });
    } catch {
      continue;
    }
    installedPackages(path.join(dir, 'node_modules'), found);
  }
  return found;
}

const MANIFEST_FIELDS = [
  'name',
  'version',
  'description',
  'license',
  'repository',
  'homepage',
  'bugs',
  'engines',
  'dependencies',
  'optionalDependencies',
  'peerDependencies',
  'node-red',
];

function versionManifest(manifest) {
  const picked = {};
  for (const field of MANIFEST_FIELDS) if (manifest[field] !== undefined) picked[field] = manifest[field];
  return picked;
}

/** Node types per locally installed Node-RED module, for the catalogue. */
function localCatalogue(installed) {
  const modules = [];
  for (const { dir, manifest } of installed) {
    const htmlFiles = [];
    if (manifest.name === '@node-red/nodes') {
      // Node-RED's core nodes declare no "node-red" section, yet a type clash with them is real.
      const walk = (d) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(path.join(d, e.name));
          else if (e.name.endsWith('.html')) htmlFiles.push(path.join(d, e.name));
        }
      };
      walk(path.join(dir, 'core'));
    } else if (manifest['node-red']?.nodes) {
      for (const js of Object.values(manifest['node-red'].nodes))
        htmlFiles.push(path.join(dir, js.replace('.js', '.html')));
    } else {
      continue;
    }
    const types = new Set();
    for (const file of htmlFiles) {
      try {
        for (const type of Object.keys(getNodeDefinitions(file))) types.add(type);
      } catch {
        // Files without an inline registerType (help-only HTML) name no types.
      }
    }
    if (!modules.some((m) => m.id === manifest.name && m.version === manifest.version)) {
      modules.push({ id: manifest.name, version: manifest.version, types: [...types].sort() });
    }
  }
  return { name: 'local node modules (offline stand-in for the flow library catalogue)', modules };
}

/**
 * Gathers the local facts once. roots: folders whose node_modules are read (the project, and the
 * Node-RED install NODE_RED_PATH points at, if any).
 */
function localFacts({ roots, extraPackages = [] }) {
  const installed = [];
  for (const root of roots) installedPackages(path.join(root, 'node_modules'), installed);
  for (const dir of extraPackages) {
    try {
      installed.push({ dir, manifest: JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) });
    } catch {
      // An absent NODE_RED_PATH install adds nothing.
    }
  }
  const byName = new Map();
  for (const pkg of installed) {
    const { name, version } = pkg.manifest;
    if (!name || !semver.valid(version)) continue;
    if (!byName.has(name)) byName.set(name, new Map());
    byName.get(name).set(version, pkg.manifest);
  }
  return { installed, byName, catalogue: localCatalogue(installed), cachedPackument: openNpmCache() };
}

/** The package document for name, or undefined when nothing local knows the package. */
function packument(facts, name) {
  const cached = facts.cachedPackument(name);
  const local = facts.byName.get(name);
  if (!cached && !local) return undefined;
  const document = cached
    ? { ...cached.document, versions: { ...cached.document.versions } }
    : { name, 'dist-tags': {}, versions: {} };
  for (const [version, manifest] of local ?? []) {
    document.versions[version] = { ...versionManifest(manifest), ...document.versions[version] };
  }
  if (!document['dist-tags'].latest) {
    document['dist-tags'] = { latest: semver.rsort(Object.keys(document.versions))[0] };
  }
  const source = cached
    ? `npm cache of ${new Date(cached.cachedAt).toISOString().slice(0, 10)}`
    : 'node_modules only (newer releases unknown offline)';
  return { document, source };
}

/** Starts the server; resolves to { url, answered: Map<what, source>, unknown: Set<name>, close() }. */
function startLocalRegistry(facts) {
  const answered = new Map();
  const unknown = new Set();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/catalogue/catalogue.json') {
      answered.set('catalogue.json', facts.catalogue.name);
      return send(200, facts.catalogue);
    }
    if (url.pathname.startsWith('/registry/')) {
      const name = decodeURIComponent(url.pathname.slice('/registry/'.length));
      const found = packument(facts, name);
      if (!found) {
        unknown.add(name);
        return send(404, { error: 'Not found' });
      }
      answered.set(name, found.source);
      return send(200, found.document);
    }
    return send(404, { error: 'Not found' });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        answered,
        unknown,
        close: () => new Promise((done) => server.close(done)),
      });
    });
  });
}

module.exports = { localFacts, packument, startLocalRegistry };
