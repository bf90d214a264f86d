import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';

/**
 * The Node-RED flow library's scorecard (node-red-dev validate), run offline by scripts/scorecard.js
 * against this build packed with npm pack: every check must pass, none may be skipped.
 */

const buildDir = path.resolve(__dirname, '..', '..');
const root = path.resolve(buildDir, '..');

function npmUnavailable(): string | undefined {
  const npm = spawnSync('npm', ['--version'], { encoding: 'utf8' });
  if (npm.error) return npm.error.message;
  return npm.status === 0 ? undefined : `npm --version exited with ${npm.status}`;
}

describe('Node-RED scorecard (node-red-dev validate, offline)', () => {
  it('passes every check for the packed package', async function () {
    this.timeout(300_000);
    const reason = npmUnavailable();
    if (reason) {
      console.log(`      skipped: npm pack cannot run here (${reason})`);
      this.skip();
    }
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(
        process.execPath,
        [path.join(root, 'scripts', 'scorecard.js'), '--out', buildDir],
        { cwd: root, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => {
          const exitCode = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
          resolve({ code: exitCode, output: stdout + stderr });
        },
      );
    });
    const verdicts = output
      .split('\n')
      .filter((line) => /^\s+(PASS|FAIL|SKIP) /.test(line) || /^scorecard:/.test(line));
    assert.ok(verdicts.length > 0, `scorecard printed no verdicts:\n${output}`);
    assert.equal(code, 0, `scorecard failed:\n${verdicts.filter((l) => !/^\s+PASS /.test(l)).join('\n')}`);
    assert.ok(
      verdicts.every((line) => /^\s+PASS /.test(line)),
      verdicts.join('\n'),
    );
  });
});
