// Preloaded (node -r) into the node-red-dev process by scripts/scorecard.js.
// - node-red-dev calls https://registry.npmjs.org and https://catalogue.nodered.org through its own
//   axios: those requests are sent to the local registry instead (SCORECARD_REGISTRY).
// - npm-remote-ls and npm-check find the registry through npm's config (npm_config_registry), which
//   the parent points at the same local registry.
// - Any other connection off this machine is refused and reported, so "offline" is a fact, not a hope.
const net = require('node:net');
const { requireFromNodeRedDev } = require('./node-red-dev');

const local = process.env.SCORECARD_REGISTRY;
if (!local) throw new Error('offline.js: SCORECARD_REGISTRY is not set');

const REWRITES = [
  ['https://registry.npmjs.org/', `${local}/registry/`],
  ['https://catalogue.nodered.org/', `${local}/catalogue/`],
];

requireFromNodeRedDev('axios').interceptors.request.use((config) => {
  for (const [remote, replacement] of REWRITES) {
    if (config.url.startsWith(remote)) return { ...config, url: replacement + config.url.slice(remote.length) };
  }
  return config;
});

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(...args) {
  // net.connect hands over its normalised [options, callback] array; direct callers pass (options|port, host).
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  const options = typeof first === 'object' && first !== null ? first : { port: first, host: args[1] };
  const host = options.host || 'localhost';
  if (options.path || LOOPBACK.test(host)) return connect.apply(this, args);
  process.stderr.write(`[scorecard-offline] blocked a connection to ${host}:${options.port}\n`);
  process.nextTick(() => this.destroy(new Error(`offline scorecard: connection to ${host} refused`)));
  return this;
};
