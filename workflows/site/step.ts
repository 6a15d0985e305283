import { ActivityCancellationType, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { SiteOperation, SiteStep, SiteStepOptions } from '../../domain/site-link.ts';

/** A site step's activity options, as its caller gave them. */
export const stepActivityOptions = (options: SiteStepOptions): ActivityOptions => ({
  startToCloseTimeout: options.startToCloseTimeout,
  ...(options.heartbeatTimeout === undefined ? {} : { heartbeatTimeout: options.heartbeatTimeout }),
  ...(options.retry === undefined ? {} : { retry: options.retry }),
  cancellationType: options.waitForCancellation
    ? ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
    : ActivityCancellationType.TRY_CANCEL,
});

/**
 * One step the control plane asked of this site (workflows/site-link.ts), run in the site's
 * own namespace: the site activity of that name, with the caller's timeouts and retries. Its
 * failure is the activity's failure, which the caller unwraps; cancelling the operation
 * cancels this workflow and so the activity.
 */
export async function siteStepWorkflow(input: SiteStep & { operation: SiteOperation }): Promise<unknown> {
  const activities = proxyActivities<Record<string, (...args: unknown[]) => Promise<unknown>>>(
    stepActivityOptions(input.options),
  );
  const run = activities[input.operation];
  if (!run) throw new Error(`no site step ${input.operation}`);
  return run(...input.args);
}
