// The whole test suite, in order: test dependencies, build, lint, Rust tests, TypeScript tests
// (unit and end-to-end). Stops at the first failing step and exits non-zero;
// ends with one summary line, "tests: N passed, N failed", counted from the
// runners' own reports (cargo's "test result:" lines, vitest's JSON report).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let passed = 0;
let failed = 0;

function step(
  name: string,
  cmd: string,
  args: string[],
  opts: { capture?: boolean; report?: () => void } = {},
): string {
  const t0 = performance.now();
  console.log(`\n=== ${name}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, {
    stdio: opts.capture ? ['ignore', 'pipe', 'inherit'] : 'inherit',
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const out = opts.capture ? (r.stdout ?? '') : '';
  if (opts.capture) process.stdout.write(out);
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  if (r.status !== 0) {
    console.log(`=== ${name} FAILED after ${secs}s (exit ${r.status ?? r.signal})`);
    opts.report?.();
    console.log(`tests: ${passed} passed, ${Math.max(failed, 1)} failed`);
    process.exit(1);
  }
  console.log(`=== ${name} ok (${secs}s)`);
  return out;
}

// Test-only system packages and clients (mosquitto, paho-mqtt in a venv): the suite uses real peers.
step('test dependencies', 'bash', ['scripts/test-deps.sh']);
step('build', 'npm', ['run', 'build']);
step('lint', 'npm', ['run', 'lint']);

const cargoOut = step(
  'rust tests',
  'node',
  ['scripts/cargo.ts', 'test', '--release', '--workspace', '--exclude', 'ferry-napi'],
  {
    capture: true,
  },
);
for (const m of cargoOut.matchAll(/^test result: \w+\. (\d+) passed; (\d+) failed/gm)) {
  passed += Number(m[1]);
  failed += Number(m[2]);
}

const report = join(mkdtempSync(join(tmpdir(), 'ferrymq-vitest-')), 'report.json');
step('typescript tests', 'npx', [
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${report}`,
]);
const vitest = JSON.parse(readFileSync(report, 'utf8')) as { numPassedTests: number; numFailedTests: number };
passed += vitest.numPassedTests;
failed += vitest.numFailedTests;

console.log(`\ntests: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
