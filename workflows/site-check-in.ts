import { proxyActivities } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.ts';

const { recordSiteCheckIn } = proxyActivities<ControlActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumInterval: '30 seconds' },
});

export type SiteCheckInInput = { site: string; description: string; version: string };

/**
 * Started by a sub-manager when it comes up: the site cannot reach the database, so it asks
 * the control side, through Temporal, to register it.
 */
export async function siteCheckInWorkflow(input: SiteCheckInInput): Promise<void> {
  await recordSiteCheckIn(input);
}
