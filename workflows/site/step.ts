import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { SiteOperation, SiteStep } from '../../domain/site-link.ts';

/**
 * One step the control plane asked of this site (workflows/site-link.ts), run in the site's
 * own namespace: the site activity of that name, with the caller's timeouts and retries. Its
 * failure is the activity's failure, which the caller unwraps; cancelling the operation
 * cancels this workflow and so the activity.
 */
export async function siteStepWorkflow(input: SiteStep & { operation: SiteOperation }): Promise<unknown> {
  const { options } = input;
  const activities = proxyActivities<Record<string, (...args: unknown[]) => Promise<unknown>>>({
    startToCloseTimeout: options.startToCloseTimeout,
    ...(options.heartbeatTimeout === undefined ? {} : { heartbeatTimeout: options.heartbeatTimeout }),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    cancellationType: options.waitForCancellation
      ? ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
      : ActivityCancellationType.TRY_CANCEL,
  });
  const run = activities[input.operation];
  if (!run) throw new Error(`no site step ${input.operation}`);
  return run(...input.args);
}
