import { ParentClosePolicy, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.ts';
import { discoverSiteWorkflow } from './discovery.ts';

const { recordSiteCheckIn, ensureDiscoverySchedule } = proxyActivities<ControlActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumInterval: '30 seconds' },
});

export type SiteCheckInInput = { site: string; description: string; version: string };

/**
 * Started by a sub-manager when it comes up: the site cannot reach the database, so it asks
 * the control side, through Temporal, to register it, keep its discovery schedule, and
 * discover its clusters now.
 */
export async function siteCheckInWorkflow(input: SiteCheckInInput): Promise<void> {
  await recordSiteCheckIn(input);
  await ensureDiscoverySchedule({ site: input.site });
  await startChild(discoverSiteWorkflow, {
    workflowId: `discovery:${input.site}:check-in-${workflowInfo().runId}`,
    args: [{ site: input.site }],
    parentClosePolicy: ParentClosePolicy.ABANDON,
  });
}
