import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  nodeRed: string;
  os: string;
}

/** The Node-RED under test: NODE_RED_PATH (as the test helpers read it) or the devDependency. */
export function nodeRedVersion(): string {
  const configured = process.env.NODE_RED_PATH;
  try {
    let dir = configured ? path.resolve(configured) : path.dirname(require.resolve('node-red/package.json'));
    if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) dir = path.dirname(dir);
    while (!fs.existsSync(path.join(dir, 'red.js')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
    return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.versions.node,
    nodeRed: nodeRedVersion(),
    os: `${os.type()} ${os.release()}`,
  };
}

export function describeMachine(m: Machine = machine()): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}; Node-RED ${m.nodeRed}`;
}
