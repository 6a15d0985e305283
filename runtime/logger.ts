import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout, one line per event; `component` says which process. */
export const createLogger = (
  component: string,
  level: string = process.env.DROVER_LOG_LEVEL ?? 'info',
): Logger => pino({ level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime });
