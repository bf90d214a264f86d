import { spawn } from 'node:child_process';
import * as path from 'node:path';

/**
 * Benchmark 3 and the ledger rows of benchmark 5: helper h4's ledger benchmark (ledger.ts), run as its own
 * process so that its memory and timers never mix with the others; its console tables are read back.
 */
export type CheckScenario = 'cold' | 'alone' | 'typed' | 'unknown' | 'hot';

export interface LedgerFigures {
  backend: string;
  subjects: number;
  /** Checks per second (wall clock) and per CPU-second of the bench process, per scenario (see ledger.ts). */
  checks: Partial<Record<CheckScenario, { perSecond: number; perCpuSecond: number }>>;
  eraseP50Ms?: number;
  eraseP99Ms?: number;
  bytesPerSubject?: number;
  sweepSeconds?: number;
  swept?: number;
}

export type LedgerPhase = 'checks' | 'erase' | 'size' | 'sweep';

export async function runLedgerBench(
  subjects: number,
  backend: 'sqlite' | 'postgres',
  phases: LedgerPhase[] = ['checks', 'erase', 'size', 'sweep'],
): Promise<LedgerFigures> {
  const script = path.join(__dirname, 'ledger.js');
  const argv = [script, '--subjects', String(subjects), '--backend', backend, '--phases', phases.join(',')];
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`ledger bench exited with ${code}:\n${err || out}`)),
    );
  });
  const tables = parseConsoleTables(output);
  const main = tables.find((t) => t.length > 0 && 'subjects' in t[0])?.[0];
  if (!main) throw new Error(`the ledger bench printed no result table:\n${output}`);
  const figures: LedgerFigures = {
    backend: String(main.backend),
    subjects: Number(main.subjects),
    checks: {},
    eraseP50Ms: numberOrUndefined(main.eraseP50Ms),
    eraseP99Ms: numberOrUndefined(main.eraseP99Ms),
    bytesPerSubject: numberOrUndefined(main.bytesPerSubject),
    sweepSeconds: numberOrUndefined(main.sweepSeconds),
    swept: numberOrUndefined(main.swept),
  };
  for (const row of tables.find((t) => t.length > 0 && 'scenario' in t[0]) ?? []) {
    figures.checks[row.scenario as CheckScenario] = {
      perSecond: Number(row.checksPerSecond),
      perCpuSecond: Number(row.checksPerCpuSecond),
    };
  }
  return figures;
}

function numberOrUndefined(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

/** Every console.table in `text` (the box-drawing layout Node prints) as rows, numbers as numbers. */
export function parseConsoleTables(text: string): Record<string, string | number>[][] {
  const cells = (line: string) =>
    line
      .split('│')
      .slice(1, -1)
      .map((cell) => cell.trim().replace(/^'(.*)'$/, '$1'));
  const tables: Record<string, string | number>[][] = [];
  let header: string[] | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('┌')) {
      header = undefined;
      tables.push([]);
    } else if (line.startsWith('│') && tables.length > 0) {
      if (!header) {
        header = cells(line);
        continue;
      }
      const names = header;
      const row: Record<string, string | number> = {};
      cells(line).forEach((value, i) => {
        if (names[i] === '(index)' || value === '') return;
        row[names[i]] = Number.isFinite(Number(value)) ? Number(value) : value;
      });
      tables[tables.length - 1].push(row);
    }
  }
  return tables;
}
