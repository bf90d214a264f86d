#!/usr/bin/env node
// The main job: Node-RED (the devDependency) with these nodes loaded from this tree, a user directory
// inside the project (.nodered/, ignored by git), a sandbox-mode flow deployed, and the URLs printed.
// No WhatsApp account needed.  PORT=1880 by default.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const root = path.join(__dirname, '..');
// WA_GDPR_USER_DIR: tests run the main job in a directory of their own.
const userDir = process.env.WA_GDPR_USER_DIR || path.join(root, '.nodered');
const port = Number(process.env.PORT || 1880);
// This machine only, unless HOST says otherwise: the demo has no login, and its editor and sandbox would let
// anyone on the network run code or play a customer (and so create consent records for any number).
const host = process.env.HOST || '127.0.0.1';
const base = `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`;
const demoFlowFile = path.join(root, 'examples', '10-complete-bot.json');

function linkPackageIntoUserDir() {
  const scopeDir = path.join(userDir, 'node_modules', '@gdpr-whatsapp');
  const link = path.join(scopeDir, 'node-red');
  fs.mkdirSync(scopeDir, { recursive: true });
  if (!fs.existsSync(link)) fs.symlinkSync(root, link, 'dir');
}

/**
 * Whether this job may use the port. Taken (often by a Node-RED of the user's own), the started Node-RED would
 * fail while the wait below found the other server answering, and the demo flow would replace its flows.
 */
function portIsFree() {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

async function waitForNodeRed(child) {
  for (let i = 0; i < 120; i++) {
    if (child.exitCode !== null) throw new Error('Node-RED exited while starting');
    try {
      const res = await fetch(`${base}/settings`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('Node-RED did not start within 60 seconds');
}

/**
 * The examples' staff endpoints (campaigns, orders, erasure, export, retention) answer only with this token as
 * Bearer header. Made once and kept in .nodered/staff-token (mode 0600) unless WA_GDPR_STAFF_TOKEN is set.
 */
function staffToken() {
  if (process.env.WA_GDPR_STAFF_TOKEN) return process.env.WA_GDPR_STAFF_TOKEN;
  const file = path.join(userDir, 'staff-token');
  if (!fs.existsSync(file)) {
    fs.writeFileSync(file, `${require('node:crypto').randomBytes(24).toString('base64url')}\n`, {
      mode: 0o600,
      flag: 'wx',
    });
  }
  return fs.readFileSync(file, 'utf8').trim();
}

async function deployDemoFlowOnce() {
  if (fs.existsSync(path.join(userDir, 'flows.json'))) return false;
  // The consent store makes its keys once in .nodered/whatsapp-consent-keys.json (mode 0600) when a flow brings none.
  // Its privacy notice links the path /privacy, which the node completes with this Node-RED's own address and port.
  const flow = JSON.parse(fs.readFileSync(demoFlowFile, 'utf8'));
  const res = await fetch(`${base}/flows`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
    body: JSON.stringify(flow),
  });
  if (!res.ok) throw new Error(`Deploying the demo flow failed: HTTP ${res.status} ${await res.text()}`);
  return true;
}

/**
 * Node-RED answers before it started the flows, and the flows' pages only exist from then on: the addresses are
 * printed once the policy page of the flows' privacy notice answers (up to 30 seconds; flows without one, at once).
 */
async function waitForFlows() {
  let flows = [];
  try {
    flows = JSON.parse(fs.readFileSync(path.join(userDir, 'flows.json'), 'utf8'));
  } catch {
    return;
  }
  const notice =
    Array.isArray(flows) && flows.find((n) => n.type === 'privacy-notice' && n.servePage !== false && !n.d);
  if (!notice) return;
  const page = `${base}${notice.pagePath || '/privacy'}`;
  for (let i = 0; i < 60; i++) {
    try {
      if ((await fetch(page)).status !== 404) return;
    } catch {
      // not answering yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function main() {
  if (!(await portIsFree())) {
    throw new Error(
      `Port ${port} on ${host} is already in use (another Node-RED?): start with another one, e.g. PORT=${port + 1} npm start\n` +
        `Port ${port} auf ${host} ist schon belegt (ein anderes Node-RED?): mit einem anderen starten, z. B. PORT=${port + 1} npm start`,
    );
  }
  fs.mkdirSync(userDir, { recursive: true });
  linkPackageIntoUserDir();
  const redJs = path.join(path.dirname(require.resolve('node-red/package.json')), 'red.js');
  const token = staffToken();
  // Node-RED's own first-visit dialogs (its release tour, the update-check question) would cover the demo flow; the
  // demo is for these nodes and asks nothing of the network. A Node-RED of the user's own shows both as usual.
  const settings = ['-D', `uiHost=${host}`, '-D', 'editorTheme.tours=false', '-D', 'telemetry.enabled=false'];
  // On this machine only, the editor also refuses requests for other host names (scripts/demo-settings.js).
  const guard = host === '127.0.0.1' ? ['--settings', path.join(__dirname, 'demo-settings.js')] : [];
  const child = spawn(process.execPath, [redJs, '--userDir', userDir, '--port', String(port), ...guard, ...settings], {
    stdio: 'inherit',
    // production: a malformed request body gets a short 400, not a stack trace with the server's paths.
    env: {
      ...process.env,
      WA_GDPR_STAFF_TOKEN: token,
      WA_GDPR_DEMO_USER_DIR: userDir,
      NODE_ENV: process.env.NODE_ENV || 'production',
    },
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code) => process.exit(code ?? 0));

  await waitForNodeRed(child);
  const deployed = await deployDemoFlowOnce();
  await waitForFlows();
  console.log(`
  WhatsApp GDPR nodes are running (sandbox mode, no WhatsApp account needed).
    Node-RED editor:        ${base}/
    Sandbox chat (customer): ${base}/whatsapp-gdpr/sandbox/
    Staff endpoints (campaigns, orders, data subject requests) need the header
      Authorization: Bearer ${token}
      e.g. curl -H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' \\
             -d '{"phone": "+49 151 23456789"}' ${base}/dsr/export
    ${deployed ? `Deployed the demo flow from ${path.relative(root, demoFlowFile)}.` : 'Kept the flows already in .nodered/flows.json (delete it to redeploy the demo).'}
    ${host === '127.0.0.1' ? 'Reachable from this machine only (HOST=0.0.0.0 opens it to the network: set adminAuth first).' : `Listening on ${host}: the editor has no login unless adminAuth is set.`}
  Stop with Ctrl+C.
`);
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
