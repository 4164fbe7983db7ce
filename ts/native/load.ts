/**
 * The only module that loads the native addon (Architecture Invariant: no
 * other file imports a `.node` file or a platform package).
 *
 * Resolution order:
 * 1. `FERRYMQ_NATIVE_PATH`, an explicit path to a `.node` file;
 * 2. the prebuilt platform package `ferrymq-<platform>` (an optional
 *    dependency of `ferrymq`, installed by npm only on matching machines);
 * 3. a development build in `crates/ferry-napi/` of a source checkout.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Binding from '../../crates/ferry-napi/binding.d.ts';
import { FerryError } from '../errors.ts';
import { packageVersion } from '../version.ts';

export type NativeBinding = typeof Binding;

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

/** The napi-rs platform suffix for this process, e.g. `linux-x64-gnu`. */
export function platformTriple(
  platform: NodeJS.Platform = process.platform,
  arch: string = process.arch,
): string {
  switch (platform) {
    case 'linux':
      return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`;
    case 'win32':
      return `win32-${arch}-msvc`;
    default:
      return `${platform}-${arch}`;
  }
}

function isMusl(): boolean {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return !report?.header?.glibcVersionRuntime;
}

function candidates(triple: string): { label: string; load: () => unknown }[] {
  const list: { label: string; load: () => unknown }[] = [];
  const explicit = process.env.FERRYMQ_NATIVE_PATH;
  if (explicit) list.push({ label: explicit, load: () => require(explicit) });
  const pkg = `ferrymq-${triple}`;
  list.push({ label: `package ${pkg}`, load: () => require(pkg) });
  // ts/native/ in a checkout, dist/native/ once compiled: both sit two levels below the root.
  const dev = join(here, '..', '..', 'crates', 'ferry-napi', `ferrymq.${triple}.node`);
  if (existsSync(dev)) list.push({ label: dev, load: () => require(dev) });
  return list;
}

let cached: NativeBinding | undefined;

/** Load the addon once; throws FERRY_ERR_NATIVE_MISSING / _VERSION with what was tried. */
export function loadNative(): NativeBinding {
  if (cached) return cached;
  const triple = platformTriple();
  const failures: string[] = [];
  for (const c of candidates(triple)) {
    let binding: NativeBinding;
    try {
      binding = c.load() as NativeBinding;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      failures.push(`${c.label}: ${e.code === 'MODULE_NOT_FOUND' ? 'not installed' : e.message}`);
      continue;
    }
    const nativeVersion = binding.nativeVersion();
    if (nativeVersion !== packageVersion) {
      throw new FerryError(
        'FERRY_ERR_NATIVE_VERSION',
        `native addon ${c.label} is version ${nativeVersion}, but ferrymq is ${packageVersion}; reinstall ferrymq or rebuild with \`npm run build:native\``,
      );
    }
    cached = binding;
    return binding;
  }
  throw new FerryError(
    'FERRY_ERR_NATIVE_MISSING',
    `no native addon for ${triple} (${process.platform}/${process.arch}). Tried: ${failures.join('; ')}. ` +
      `Prebuilt packages exist for linux-x64-gnu; on other platforms build from source with \`npm run build:native\` (needs Rust).`,
  );
}
