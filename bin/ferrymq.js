#!/usr/bin/env node
// The published entry point: plain JS so it runs on any Node without a
// TypeScript loader; the compiled sources are in dist/.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(
    `ferrymq: Node.js ${process.versions.node} is not supported; use Node.js 24 LTS (or 22.12+).\n`,
  );
  process.exit(2);
}

/**
 * V8 flags for `ferrymq start` (ARCHITECTURE.md, "V8 flags of the broker",
 * has the measurements). The young generation's size is fixed when the heap
 * is created, so v8.setFlagsFromString cannot change it and NODE_OPTIONS is
 * the user's: the process replaces itself once with the flags added
 * (process.execve: same pid, same stdio, one more Node start-up of a few
 * tens of ms), before anything of FerryMQ is loaded. A flag the user gave
 * (node's command line or NODE_OPTIONS) wins over ours; FERRYMQ_NODE_FLAGS
 * replaces the list ('' to start without a re-exec).
 */
const DEFAULT_NODE_FLAGS =
  '--max-semi-space-size=8 --incremental-marking-soft-trigger=85 --incremental-marking-hard-trigger=95';

function flagName(arg) {
  return arg.split('=')[0].replaceAll('_', '-');
}

function missingNodeFlags() {
  const wanted = (process.env.FERRYMQ_NODE_FLAGS ?? DEFAULT_NODE_FLAGS).split(/\s+/).filter(Boolean);
  const given = new Set(
    [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].filter(Boolean).map(flagName),
  );
  return wanted.filter((f) => !given.has(flagName(f)));
}

if (process.argv[2] === 'start' && typeof process.execve === 'function' && process.platform !== 'win32') {
  const missing = missingNodeFlags();
  if (missing.length > 0) {
    process.execve(process.execPath, [
      process.execPath,
      ...process.execArgv,
      ...missing,
      ...process.argv.slice(1),
    ]);
  }
}

const { main } = await import('../dist/cli.js');
main().catch((err) => {
  process.stderr.write(`ferrymq: ${err?.stack ?? err}\n`);
  process.exit(1);
});
