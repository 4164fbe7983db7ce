// Shared by the scripts that invoke cargo: where native builds are cached.
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Cargo's target dir: `CARGO_TARGET_DIR` if set, else ~/.cache/ferrymq/target. */
export function cargoTargetDir(): string {
  return process.env.CARGO_TARGET_DIR ?? join(homedir(), '.cache', 'ferrymq', 'target');
}

export function cargoEnv(): NodeJS.ProcessEnv {
  return { ...process.env, CARGO_TARGET_DIR: cargoTargetDir() };
}
