// Compiles ts/ to dist/ and ships the generated addon typings beside the
// compiled loader (tsc does not copy .d.ts inputs).
import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';

execFileSync('tsc', ['-p', 'tsconfig.build.json'], { stdio: 'inherit' });
copyFileSync('ts/native/binding.d.ts', 'dist/native/binding.d.ts');
