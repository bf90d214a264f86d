import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A real Node-RED process for end-to-end tests: its own red.js, a temporary user directory, a free
 * port and Node-RED's DEFAULT settings (copied into the user directory by Node-RED itself), so the
 * editor/admin app and the node app are both mounted at "/" exactly as users run it. The package is
 * installed the way the palette manager leaves it, as <userDir>/node_modules/@gdpr-whatsapp/node-red;
 * that directory holds a package.json whose "node-red" section points into the build folder under
 * test (a symlink), because Node-RED resolves a module's node files relative to its package.json and
 * follows symlinks when it stats them. The Node-RED used is NODE_RED_PATH (a node-red package folder,
 * or any file inside one) or the devDependency; the Node.js is the one running the tests.
 */
export interface RealNodeRedOptions {
  /** Node types to load from this package (default: all whose compiled file exists in the build). */
  types?: string[];
  /** Extra settings as JavaScript source of an object literal, merged over the defaults (e.g. adminAuth). */
  settingsOverrides?: string;
  /** Extra environment, e.g. { LANG: 'de_DE.UTF-8' }. */
  env?: Record<string, string>;
  /** How long to wait for "Started flows" / the server; default 30 s. */
  startTimeoutMs?: number;
  /**
   * A user directory the package is already installed in (e.g. from the packed tarball); nothing is
   * linked into it. stop() removes it like the temporary one.
   */
  userDir?: string;
  /** The port of the first attempt instead of a free one (to test what happens when it is taken). */
  firstPort?: number;
}

const PACKAGE_NAME = '@gdpr-whatsapp/node-red';
/** The build folder this compiled file lives in: <out>/test/helpers/real-node-red.js. */
const BUILD_DIR = path.resolve(__dirname, '..', '..');
const REPO_DIR = path.resolve(BUILD_DIR, '..');

/** red.js of the Node-RED under test. */
export function redJsPath(): string {
  const configured = process.env.NODE_RED_PATH;
  if (configured) {
    const stat = fs.statSync(configured);
    let dir = stat.isDirectory() ? configured : path.dirname(configured);
    while (!fs.existsSync(path.join(dir, 'red.js')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
    return path.join(dir, 'red.js');
  }
  // require.resolve('node-red') is <node-red>/lib/red.js; the launcher is <node-red>/red.js.
  return path.join(path.dirname(require.resolve('node-red')), '..', 'red.js');
}

/**
 * Node-RED exits with these lines when its port was taken: between freePort() closing the port and Node-RED
 * binding it, any process (an outgoing connection among them) may get it. Starting again on another port is safe.
 */
export function portWasTaken(log: string): boolean {
  return /EADDRINUSE|Error: port in use|Unable to listen on/.test(log);
}

/** How often a start is tried on a new port after the port was taken. */
export const PORT_ATTEMPTS = 3;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Installs this package into `userDir` as Node-RED's palette manager would leave it, pointing at the build. */
function installPackage(userDir: string, types: string[] | undefined): void {
  const repoPackage = JSON.parse(fs.readFileSync(path.join(REPO_DIR, 'package.json'), 'utf8'));
  const moduleDir = path.join(userDir, 'node_modules', ...PACKAGE_NAME.split('/'));
  fs.mkdirSync(moduleDir, { recursive: true });
  fs.symlinkSync(BUILD_DIR, path.join(moduleDir, 'build'), 'dir');
  const nodes: Record<string, string> = {};
  for (const [type, file] of Object.entries<string>(repoPackage['node-red']?.nodes ?? {})) {
    const built = file.replace(/^dist\//, 'build/');
    if (types ? types.includes(type) : fs.existsSync(path.join(moduleDir, built))) nodes[type] = built;
  }
  const pkg = { ...repoPackage, main: undefined, 'node-red': { ...repoPackage['node-red'], nodes } };
  fs.writeFileSync(path.join(moduleDir, 'package.json'), JSON.stringify(pkg, null, 2));
  // Node-RED lists what the user installed in <userDir>/package.json.
  fs.writeFileSync(
    path.join(userDir, 'package.json'),
    JSON.stringify({ name: 'node-red-project', private: true, dependencies: { [PACKAGE_NAME]: repoPackage.version } }),
  );
}

export class RealNodeRed {
  private output = '';
  private exited?: Promise<void>;

  private constructor(
    readonly userDir: string,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      this.output += chunk;
    });
    child.stderr?.on('data', (chunk: string) => {
      this.output += chunk;
    });
    // 'close', not 'exit': only then has everything the process printed arrived (the port-in-use lines among it).
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(options: RealNodeRedOptions = {}): Promise<RealNodeRed> {
    const userDir = options.userDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'wa-gdpr-nodered-'));
    if (!options.userDir) installPackage(userDir, options.types);
    if (options.settingsOverrides) {
      // Default settings file of the Node-RED under test, with only the given properties replaced.
      const defaults = path.join(path.dirname(redJsPath()), 'settings.js');
      fs.writeFileSync(
        path.join(userDir, 'settings.js'),
        `module.exports = Object.assign({}, require(${JSON.stringify(defaults)}), ${options.settingsOverrides});\n`,
      );
    }
    for (let attempt = 1; ; attempt++) {
      const port = attempt === 1 && options.firstPort ? options.firstPort : await freePort();
      const child = spawn(process.execPath, [redJsPath(), '--userDir', userDir, '--port', String(port)], {
        cwd: userDir,
        // PORT as Node-RED's default settings.js reads it, so flows can reach their own HTTP endpoints.
        env: { ...process.env, PORT: String(port), ...options.env, NODE_RED_ENABLE_PROJECTS: 'false' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const red = new RealNodeRed(userDir, port, child);
      try {
        await red.waitForLog(/Started flows|Server now running/, options.startTimeoutMs ?? 30000);
        await red.waitForLog(/Started flows/, options.startTimeoutMs ?? 30000);
        return red;
      } catch (err) {
        if (child.exitCode !== null) await red.exited;
        if (child.exitCode !== null && portWasTaken(red.log()) && attempt < PORT_ATTEMPTS) continue;
        await red.stop();
        throw err;
      }
    }
  }

  /** Everything the process printed so far. */
  log(): string {
    return this.output;
  }

  /** Resolves with the log once `pattern` appears in it (searching from `fromIndex`). */
  async waitForLog(pattern: RegExp, timeoutMs = 10000, fromIndex = 0): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (pattern.test(this.output.slice(fromIndex))) return this.output;
      if (this.child.exitCode !== null) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`Node-RED log did not show ${pattern} (exit code ${this.child.exitCode}):\n${this.output}`);
  }

  /** Admin API call (no adminAuth by default; pass a bearer token when settings enable it). */
  request(method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.url}${urlPath}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /**
   * Full deploy through the Admin API (POST /flows). Credentials go inside each node as
   * `credentials`, as the editor sends them. Resolves when the new flows have started.
   */
  async deploy(flows: Record<string, unknown>[], headers: Record<string, string> = {}): Promise<void> {
    const mark = this.output.length;
    const answer = await this.request('POST', '/flows', flows, {
      'Node-RED-API-Version': 'v1',
      'Node-RED-Deployment-Type': 'full',
      ...headers,
    });
    if (answer.status >= 300) throw new Error(`deploy failed: ${answer.status} ${await answer.text()}`);
    await this.waitForLog(/Started flows/, 15000, mark);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      const killed = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(killed);
    }
    fs.rmSync(this.userDir, { recursive: true, force: true });
  }
}
