import { ParentClosePolicy, patched, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.ts';
import type { SiteActivities } from '../activities/site/index.ts';
import { discoverSiteWorkflow } from './discovery.ts';
import { SITE_LINK_PATCH, siteSteps } from './site-link.ts';

const { recordSiteCheckIn, ensureDiscoverySchedule } = proxyActivities<ControlActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumInterval: '30 seconds' },
});

export type SiteCheckInInput = { site: string; description: string; version?: string };

/**
 * Registers a site, keeps its discovery schedule and discovers its clusters now. Started by
 * enrollment (the site's credential cannot reach the control namespace), and, on a setup
 * without authorization, by the sub-manager when it comes up. Over the site link it first
 * asks the site itself (a ping, which waits while the site is not up yet), so the version
 * recorded is the one the site runs.
 */
export async function siteCheckInWorkflow(input: SiteCheckInInput): Promise<void> {
  let version = input.version ?? '';
  if (patched(SITE_LINK_PATCH)) {
    const { pingSite } = siteSteps<SiteActivities>(input.site, {
      startToCloseTimeout: '30 seconds',
      retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
    });
    version = (await pingSite({ sentAt: new Date().toISOString() })).version;
  }
  await recordSiteCheckIn({ site: input.site, description: input.description, version });
  await ensureDiscoverySchedule({ site: input.site });
  await startChild(discoverSiteWorkflow, {
    workflowId: `discovery:${input.site}:check-in-${workflowInfo().runId}`,
    args: [{ site: input.site }],
    parentClosePolicy: ParentClosePolicy.ABANDON,
  });
}
