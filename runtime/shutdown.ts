import type { Logger } from './logger.ts';

/**
 * Runs `stop` once on SIGINT or SIGTERM, then exits. A second signal while stopping exits at
 * once, so an impatient Ctrl-C never leaves the terminal hanging.
 */
export const onShutdown = (logger: Logger, stop: () => Promise<void>): void => {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
};
