// Registry documents npm itself stored when this tree was installed (npm's cacache, format
// index-v5/content-v2). They are the registry's real answers as of that install, read without
// touching the network.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

function npmCacheDir() {
  const configured = process.env.npm_config_cache;
  if (configured) return path.join(configured, '_cacache');
  const npm = spawnSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' });
  return npm.status === 0 && npm.stdout.trim() ? path.join(npm.stdout.trim(), '_cacache') : undefined;
}

function hashPath(dir, hex) {
  return path.join(dir, hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
}

/** The newest live index entry for a key (later lines win; an entry without integrity is a deletion). */
function readIndexEntry(cacheDir, key) {
  const bucket = hashPath(path.join(cacheDir, 'index-v5'), crypto.createHash('sha256').update(key).digest('hex'));
  let text;
  try {
    text = fs.readFileSync(bucket, 'utf8');
  } catch {
    return undefined;
  }
  let found;
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const json = line.slice(tab + 1);
    if (crypto.createHash('sha1').update(json).digest('hex') !== line.slice(0, tab)) continue; // torn write
    const entry = JSON.parse(json);
    if (entry.key === key) found = entry.integrity ? entry : undefined;
  }
  return found;
}

function readContent(cacheDir, integrity) {
  const [algorithm, digest] = integrity.split(/\s+/)[0].split('-');
  const file = hashPath(path.join(cacheDir, 'content-v2', algorithm), Buffer.from(digest, 'base64').toString('hex'));
  const data = fs.readFileSync(file);
  if (crypto.createHash(algorithm).update(data).digest('base64') !== digest) throw new Error(`corrupt cache ${file}`);
  return data;
}

/** A reader of cached packuments: (name) => { document, cachedAt } | undefined. */
function openNpmCache(registry = 'https://registry.npmjs.org/') {
  const cacheDir = npmCacheDir();
  return function cachedPackument(name) {
    if (!cacheDir) return undefined;
    const key = `make-fetch-happen:request-cache:${registry}${name.replace('/', '%2f')}`;
    const entry = readIndexEntry(cacheDir, key);
    if (!entry) return undefined;
    try {
      return { document: JSON.parse(readContent(cacheDir, entry.integrity).toString('utf8')), cachedAt: entry.time };
    } catch {
      return undefined;
    }
  };
}

module.exports = { openNpmCache };
