import { proxyActivities } from '@temporalio/workflow';

/** A site's unit of work in the trust-boundary tests: one activity, its result returned. */
type Activities = { siteTask(input: { label: string }): Promise<string> };

const { siteTask } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 1 },
});

export async function siteWorkWorkflow(input: { label: string }): Promise<string> {
  return siteTask(input);
}
