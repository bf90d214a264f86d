// Settings of the main job (scripts/start.js) when it listens on this machine only: the user directory's own
// settings.js if there is one, else Node-RED's defaults, plus one guard. The demo has no login; a web page the
// developer visits could still reach the editor, by DNS rebinding (the page's own name made to resolve to 127.0.0.1)
// or by calling 127.0.0.1 directly (the admin API allows any origin), and deploy a function node. The Host and Origin
// headers tell such requests apart, and Node-RED checks neither: this does, for the editor, its admin API (the
// sandbox chat included) and its websocket.

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const userDir = process.env.WA_GDPR_DEMO_USER_DIR || '';
const own = path.join(userDir, 'settings.js');
const base = require(userDir && fs.existsSync(own) ? own : require.resolve('node-red/settings.js'));

const LOCAL_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

// Node-RED mounts its admin app before the flows' http in routes, so its middleware sees every request: only the
// editor's and its admin API's paths are guarded, and a tunnel's host name still reaches a webhook or form.
const ADMIN_PATHS = ['/auth', '/comms', '/context', '/credentials', '/debug', '/diagnostics', '/flow', '/flows']
  .concat(['/icons', '/inject', '/library', '/locales', '/nodes', '/plugins', '/projects', '/red', '/settings'])
  .concat(['/theme', '/vendor', '/whatsapp-gdpr']);

function isAdminPath(url) {
  // As Express routes it: case-insensitive, and a request line in absolute form names the same path.
  let pathname;
  try {
    pathname = new URL(String(url || '/'), 'http://localhost').pathname.toLowerCase();
  } catch {
    return true;
  }
  return pathname === '/' || ADMIN_PATHS.some((prefix) => pathname === prefix || pathname.startsWith(`${prefix}/`));
}

/** A page of another site calling the editor directly (Node-RED's admin API allows any origin) names itself here. */
function isLocalOrigin(origin) {
  if (origin === undefined) return true;
  try {
    return LOCAL_NAMES.has(new URL(String(origin)).hostname.toLowerCase());
  } catch {
    return false;
  }
}

function hostName(header) {
  return String(header || '')
    .toLowerCase()
    .replace(/:\d+$/, '');
}

function isLocalRequest(req) {
  return LOCAL_NAMES.has(hostName(req.headers.host)) && isLocalOrigin(req.headers.origin);
}

function localHostOnly(req, res, next) {
  if (!isAdminPath(req.url) || isLocalRequest(req)) return next();
  res
    .status(403)
    .type('text/plain')
    .send('The demo editor answers to localhost only. / Der Demo-Editor antwortet nur auf localhost.');
}

// The editor's websocket (/comms: debug messages, node status) is no express route, so httpAdminMiddleware never
// sees its handshake; and a browser lets any page open a websocket to 127.0.0.1, whatever its origin. The handshake
// is checked where the server hands it out, before Node-RED's own listener takes it.
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, req, socket, ...rest) {
  if (event === 'upgrade' && isAdminPath(req.url) && !isLocalRequest(req)) {
    socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return true;
  }
  return emit.call(this, event, req, socket, ...rest);
};

// Node-RED takes one middleware or a list of them.
const theirs = base.httpAdminMiddleware;
module.exports = {
  ...base,
  httpAdminMiddleware: [localHostOnly].concat(theirs ? theirs : []),
};
