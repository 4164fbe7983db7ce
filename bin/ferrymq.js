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
const { main } = await import('../dist/cli.js');
main().catch((err) => {
  process.stderr.write(`ferrymq: ${err?.stack ?? err}\n`);
  process.exit(1);
});
