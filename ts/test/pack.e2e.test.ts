/**
 * What a user gets from npm: the packed main tarball plus the linux-x64-gnu
 * platform package, installed into an empty directory on a PATH with no
 * Rust toolchain, started with `npx ferrymq start`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, repoRoot, spawnBroker, tempDir } from './helpers/broker.ts';

// Node 24 first (the one running this test), then the system paths, minus cargo/rustup.
const pathWithoutRust = [
  dirname(process.execPath),
  ...(process.env.PATH ?? '').split(delimiter).filter((p) => !/\.cargo|\.rustup/.test(p)),
].join(delimiter);
const env = {
  ...process.env,
  PATH: pathWithoutRust,
  CARGO_HOME: '/nonexistent',
  RUSTUP_HOME: '/nonexistent',
};

let installDir: string;
let tarballs: string[];
const brokers: BrokerProcess[] = [];

beforeAll(() => {
  execFileSync(process.execPath, ['scripts/build-npm.ts'], { cwd: repoRoot, stdio: 'inherit' });
  const packDir = join(repoRoot, 'pack');
  tarballs = readdirSync(packDir)
    .filter((f) => f.endsWith('.tgz'))
    .map((f) => join(packDir, f));
}, 300_000);

afterAll(async () => {
  for (const b of brokers) {
    b.signal('SIGKILL');
    await b.exited;
  }
});

describe('packed tarballs', () => {
  it('are the main package and the linux-x64-gnu platform package', () => {
    const names = tarballs.map((t) => t.split('/').pop());
    expect(names).toEqual(expect.arrayContaining(['ferrymq-0.1.0.tgz', 'ferrymq-linux-x64-gnu-0.1.0.tgz']));
    for (const t of tarballs)
      console.log(`${t.split('/').pop()}: ${(statSync(t).size / 1024).toFixed(0)} KiB`);
  });

  it('install into an empty directory and start with npx, with no cargo on PATH', async () => {
    expect(spawnSync('cargo', ['--version'], { env }).error).toBeTruthy();
    installDir = await tempDir('ferrymq-install-');
    execFileSync('npm', ['init', '-y'], { cwd: installDir, env, stdio: 'ignore' });
    execFileSync('npm', ['install', '--no-audit', '--no-fund', ...tarballs], {
      cwd: installDir,
      env,
      stdio: 'inherit',
    });
    const b = await spawnBroker({
      command: { file: 'npx', args: ['--no-install', 'ferrymq'] },
      cwd: installDir,
      env: { PATH: pathWithoutRust, CARGO_HOME: '/nonexistent', RUSTUP_HOME: '/nonexistent' },
    });
    brokers.push(b);
    const ready = await b.ready;
    expect(ready.version).toBe('0.1.0');
    const health = (await (await fetch(`${b.adminUrl()}/health`)).json()) as { status: string };
    expect(health.status).toBe('ok');
    // Ctrl-C: the broker stops cleanly; npx itself re-raises SIGINT on its way out.
    b.signal('SIGINT');
    const exit = await b.exited;
    expect(exit.code === 0 || exit.signal === 'SIGINT').toBe(true);
    expect(b.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
  }, 300_000);
});
