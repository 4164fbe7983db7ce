import { type Logger, pino } from 'pino';
import type { Config } from './config/schema.ts';

export type { Logger };

/**
 * One pino logger per process. `auto` prints pretty lines on a terminal and
 * JSON otherwise (so log shippers and the e2e tests get one object per line).
 * Pretty printing runs in pino's worker thread, off the event loop.
 */
export function createLogger(
  log: Config['log'],
  destination: NodeJS.WritableStream = process.stdout,
): Logger {
  const pretty =
    log.format === 'pretty' || (log.format === 'auto' && (destination as { isTTY?: boolean }).isTTY === true);
  if (pretty) {
    return pino({
      level: log.level,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  const dest = pino.destination({ dest: 1, sync: false });
  // A reader that goes away (EPIPE) must not turn logging into an uncaught error.
  dest.on('error', () => {});
  return pino({ level: log.level, base: { pid: process.pid } }, dest);
}
