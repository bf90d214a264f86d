import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, PORT_ATTEMPTS, portWasTaken, redJsPath } from '../../helpers/real-node-red';

/**
 * A real Node-RED process that, unlike test/helpers/real-node-red.ts, can be killed with SIGKILL and
 * started again on the SAME user directory (flows, credentials and the SQLite file survive), and that
 * keeps everything it printed across restarts. Default Node-RED settings; the package is installed
 * the way the palette manager leaves it, pointing at the build folder under test.
 */
const PACKAGE_NAME = '@gdpr-whatsapp/node-red';
/** <out>/test/reliability/support/node-red-process.js -> <out>. */
const BUILD_DIR = path.resolve(__dirname, '..', '..', '..');
const REPO_DIR = path.resolve(BUILD_DIR, '..');

export interface NodeRedProcessOptions {
  /** Node types of this package to load (others are left out, so a half-built node cannot break the run). */
  types: string[];
  env?: Record<string, string>;
}

export function createUserDir(types: string[]): string {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-gdpr-h11-'));
  const repoPackage = JSON.parse(fs.readFileSync(path.join(REPO_DIR, 'package.json'), 'utf8'));
  const moduleDir = path.join(userDir, 'node_modules', ...PACKAGE_NAME.split('/'));
  fs.mkdirSync(moduleDir, { recursive: true });
  fs.symlinkSync(BUILD_DIR, path.join(moduleDir, 'build'), 'dir');
  const nodes: Record<string, string> = {};
  for (const [type, file] of Object.entries<string>(repoPackage['node-red']?.nodes ?? {})) {
    if (types.includes(type)) nodes[type] = file.replace(/^dist\//, 'build/');
  }
  const pkg = { ...repoPackage, main: undefined, 'node-red': { ...repoPackage['node-red'], nodes } };
  fs.writeFileSync(path.join(moduleDir, 'package.json'), JSON.stringify(pkg, null, 2));
  fs.writeFileSync(
    path.join(userDir, 'package.json'),
    JSON.stringify({ name: 'node-red-project', private: true, dependencies: { [PACKAGE_NAME]: repoPackage.version } }),
  );
  return userDir;
}

export class NodeRedProcess {
  private child?: ChildProcess;
  private exited: Promise<void> = Promise.resolve();
  private output = '';
  /** Where the current run's output starts in `log()`. */
  private runStart = 0;
  port = 0;

  private constructor(
    readonly userDir: string,
    private readonly options: NodeRedProcessOptions,
  ) {}

  static async start(options: NodeRedProcessOptions, userDir = createUserDir(options.types)): Promise<NodeRedProcess> {
    const red = new NodeRedProcess(userDir, options);
    await red.restart();
    return red;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Everything every run of this process printed, in order. */
  log(): string {
    return this.output;
  }

  /** Starts Node-RED (again) on the same user directory and waits until its flows run. */
  async restart(): Promise<void> {
    if (this.running) throw new Error('Node-RED is still running');
    for (let attempt = 1; ; attempt++) {
      try {
        await this.startOnFreePort();
        return;
      } catch (err) {
        if (this.running) throw err;
        await this.exited;
        if (!portWasTaken(this.output.slice(this.runStart)) || attempt >= PORT_ATTEMPTS) throw err;
      }
    }
  }

  private async startOnFreePort(): Promise<void> {
    this.port = await freePort();
    this.runStart = this.output.length;
    const child = spawn(process.execPath, [redJsPath(), '--userDir', this.userDir, '--port', String(this.port)], {
      cwd: this.userDir,
      env: { ...process.env, ...this.options.env, NODE_RED_ENABLE_PROJECTS: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      this.output += chunk;
    });
    child.stderr?.on('data', (chunk: string) => {
      this.output += chunk;
    });
    // 'close', not 'exit': only then has everything the process printed arrived.
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    await this.waitForLog(/Started flows/, 30000, this.runStart);
    // red.js may start the flows before its server listens: a request in between is refused.
    await this.waitForLog(/Server now running at/, 30000, this.runStart);
  }

  async waitForLog(pattern: RegExp, timeoutMs = 10000, fromIndex = this.runStart): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (pattern.test(this.output.slice(fromIndex))) return;
      if (!this.running) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`Node-RED log did not show ${pattern}:\n${this.output.slice(-4000)}`);
  }

  /**
   * Full deploy through the Admin API, credentials inside the nodes as the editor sends them. Nodes on a tab
   * get a position: without x and y Node-RED takes a node for a config node (flows/util.js parseConfig).
   */
  async deploy(flows: Record<string, unknown>[]): Promise<void> {
    flows = flows.map((node, i) => (node.z && node.x === undefined ? { x: 200, y: 40 * (i + 1), ...node } : node));
    const mark = this.output.length;
    const answer = await fetch(`${this.url}/flows`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'Node-RED-API-Version': 'v1',
        'Node-RED-Deployment-Type': 'full',
      },
      body: JSON.stringify(flows),
    });
    if (answer.status >= 300) throw new Error(`deploy failed: ${answer.status} ${await answer.text()}`);
    await this.waitForLog(/Started flows/, 15000, mark);
  }

  /** The crash: no close handlers, no checkpoint, no flush. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** A normal shutdown (close handlers run). */
  async stop(): Promise<void> {
    if (!this.running) return;
    const child = this.child;
    child?.kill('SIGTERM');
    const hard = setTimeout(() => child?.kill('SIGKILL'), 10000);
    await this.exited;
    clearTimeout(hard);
  }

  async remove(): Promise<void> {
    await this.stop();
    fs.rmSync(this.userDir, { recursive: true, force: true });
  }
}
