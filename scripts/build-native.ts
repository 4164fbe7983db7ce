// Builds the napi addon for this machine into crates/ferry-napi/ with
// @napi-rs/cli, using the shared cargo cache (see native-env.ts).
// `--debug` builds without optimisations (faster to compile, slow to run).
import { spawnSync } from 'node:child_process';
import { cargoEnv, cargoTargetDir } from './native-env.ts';

const release = !process.argv.includes('--debug');
const args = [
  'napi',
  'build',
  '--platform',
  '--manifest-path',
  'crates/ferry-napi/Cargo.toml',
  '--package-json-path',
  'package.json',
  '--output-dir',
  'crates/ferry-napi',
  '--target-dir',
  cargoTargetDir(),
  '--no-js',
  '--dts',
  '../../ts/native/binding.d.ts',
  ...(release ? ['--release'] : []),
];
const result = spawnSync('npx', args, { stdio: 'inherit', env: cargoEnv() });
process.exit(result.status ?? 1);
