// Runs cargo with the shared build cache outside the clone, so a fresh
// clone (and CI) reuses an earlier RocksDB build instead of compiling it
// again. Usage: node scripts/cargo.ts <cargo args...>
//
// `napi build` always passes `--target <host>`, which puts its artifacts
// under target/<triple>/. Compiling subcommands get the same flag here, so
// tests, clippy and the addon share one RocksDB build instead of two.
import { spawnSync } from 'node:child_process';
import { cargoEnv, hostTriple } from './native-env.ts';

const args = process.argv.slice(2);
const compiling = new Set(['build', 'test', 'clippy', 'check', 'bench', 'run']);
if (args[0] && compiling.has(args[0]) && !args.includes('--target')) {
  const sep = args.indexOf('--');
  const flag = ['--target', hostTriple()];
  if (sep === -1) args.push(...flag);
  else args.splice(sep, 0, ...flag);
}
const result = spawnSync('cargo', args, { stdio: 'inherit', env: cargoEnv() });
if (result.error) {
  console.error(`cargo could not be started: ${result.error.message}`);
  process.exit(127);
}
process.exit(result.status ?? 1);
