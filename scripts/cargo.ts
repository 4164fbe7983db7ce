// Runs cargo with the shared build cache outside the clone, so a fresh
// clone (and CI) reuses an earlier RocksDB build instead of compiling it
// again. Usage: node scripts/cargo.ts <cargo args...>
import { spawnSync } from 'node:child_process';
import { cargoEnv } from './native-env.ts';

const result = spawnSync('cargo', process.argv.slice(2), { stdio: 'inherit', env: cargoEnv() });
if (result.error) {
  console.error(`cargo could not be started: ${result.error.message}`);
  process.exit(127);
}
process.exit(result.status ?? 1);
