import { workflowInfo } from '@temporalio/workflow';
import type { SiteActivities } from '../activities/site/index.ts';
import type { PingResult } from '../domain/runs.ts';
import { siteSteps } from './site-link.ts';

export type PingSiteInput = { site: string };

/**
 * Control → site → control round trip. The activity has no schedule-to-start timeout on
 * purpose: while the site's sub-manager is offline the task waits in the site's queue and the
 * run completes when the site comes back, instead of failing.
 */
export async function pingSiteWorkflow({ site }: PingSiteInput): Promise<PingResult> {
  const { pingSite } = siteSteps<SiteActivities>(site, {
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  return pingSite({ sentAt: new Date(workflowInfo().runStartTime.getTime()).toISOString() });
}
