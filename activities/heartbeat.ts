import { Context } from '@temporalio/activity';

const HEARTBEAT_EVERY_MS = 5_000;

/**
 * Heartbeats while `work` runs, so that when the process running it dies (kill -9, a site
 * losing power) Temporal notices within the heartbeat timeout and hands the work to another
 * attempt, instead of waiting out the whole start-to-close timeout.
 */
export const withHeartbeat = async <T>(work: () => Promise<T>): Promise<T> => {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    return work(); // called outside an activity (unit tests)
  }
  context.heartbeat();
  const timer = setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
};
