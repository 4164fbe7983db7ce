// Shared by the scripts that invoke cargo: where native builds are cached.
import { execFileSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Cargo's target dir: `CARGO_TARGET_DIR` if set, else ~/.cache/ferrymq/target. */
export function cargoTargetDir(): string {
  return process.env.CARGO_TARGET_DIR ?? join(homedir(), '.cache', 'ferrymq', 'target');
}

export function cargoEnv(): NodeJS.ProcessEnv {
  return { ...process.env, CARGO_TARGET_DIR: cargoTargetDir() };
}

/** The Rust host triple, e.g. x86_64-unknown-linux-gnu. */
export function hostTriple(): string {
  const out = execFileSync('rustc', ['-vV'], { encoding: 'utf8' });
  const line = out.split('\n').find((l) => l.startsWith('host: '));
  if (!line) throw new Error('rustc -vV printed no host triple');
  return line.slice('host: '.length).trim();
}
