/**
 * Aedes (npm) as a benchmark peer: its default in-memory persistence and
 * mqemitter, behind a plain `net` server on 127.0.0.1 (port from argv[2],
 * 0 = any free port). Prints one JSON line `{"port":N,"aedes":"x.y.z"}` when
 * listening; exits on SIGINT / SIGTERM after closing the broker.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { Aedes } from 'aedes';

const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve('aedes'));
const version = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string })
  .version;

const broker = await Aedes.createBroker();
const server = createServer(broker.handle);
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  process.stdout.write(`${JSON.stringify({ port, aedes: version })}\n`);
});
const stop = (): void => {
  server.close();
  broker.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
