/**
 * `ferrymq` command line. Only parsing and process concerns (exit codes,
 * signals) live here; the node itself is ts/node.ts.
 */
import { Command } from 'commander';
import { loadConfig } from './config/load.ts';
import { FerryError } from './errors.ts';
import { registerBench } from './loadgen/cli.ts';
import { createLogger, type Logger } from './log.ts';
import { type RunningNode, startNode } from './node.ts';
import { packageVersion } from './version.ts';

/** Exit codes: 0 clean stop, 1 runtime failure, 2 bad config or usage, 130 forced by a second signal. */
export const ExitCode = { ok: 0, failure: 1, config: 2, forced: 130 } as const;

/**
 * Exit once the log is flushed, but never wait on it for long: a log
 * destination that is gone (a closed pipe) must not keep a stopping broker alive.
 */
function exitAfterFlush(logger: Logger, code: number): void {
  setTimeout(() => process.exit(code), 2000);
  logger.flush(() => process.exit(code));
}

function fail(message: string, code: number): never {
  process.stderr.write(`ferrymq: ${message}\n`);
  process.exit(code);
}

/**
 * Installed before the node starts, so a signal that arrives while it is
 * still starting (or just after it logged "ready") is never lost: the stop
 * begins as soon as the node exists.
 */
function installSignalHandlers(
  nodeReady: Promise<RunningNode | undefined>,
  logger: Logger,
  timeoutMs: number,
): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting for shutdown');
      logger.flush();
      process.exit(ExitCode.forced);
    }
    stopping = true;
    logger.info({ signal, timeout_ms: timeoutMs }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ timeout_ms: timeoutMs }, 'shutdown did not finish in time; exiting');
      logger.flush();
      process.exit(ExitCode.failure);
    }, timeoutMs);
    timer.unref();
    nodeReady
      .then((node) => node?.close())
      .then(
        () => {
          logger.info('stopped');
          exitAfterFlush(logger, ExitCode.ok);
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          exitAfterFlush(logger, ExitCode.failure);
        },
      );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

async function start(options: { config?: string }): Promise<void> {
  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    config = await loadConfig(options.config);
  } catch (err) {
    if (err instanceof FerryError) fail(err.message, ExitCode.config);
    throw err;
  }
  const logger = createLogger(config.log);
  // A bug must not leave a half-alive broker: log it and exit non-zero.
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    exitAfterFlush(logger, ExitCode.failure);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection');
    exitAfterFlush(logger, ExitCode.failure);
  });
  const starting = startNode(config, logger);
  installSignalHandlers(
    starting.catch(() => undefined),
    logger,
    config.shutdown_timeout_ms,
  );
  try {
    await starting;
  } catch (err) {
    const message = err instanceof FerryError ? `${err.message} [${err.code}]` : String(err);
    logger.flush();
    fail(message, ExitCode.failure);
  }
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = new Command('ferrymq')
    .description('FerryMQ: MQTT and Kafka-protocol broker over one log')
    .version(packageVersion, '-v, --version')
    .showHelpAfterError()
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : ExitCode.config));
  program
    .command('start')
    .description('start a node (embedded defaults unless --config is given; FERRYMQ_* env vars override)')
    .option('-c, --config <file>', 'TOML configuration file')
    .action(start);
  registerBench(program, (message) => fail(message, ExitCode.config));
  await program.parseAsync(argv);
}
