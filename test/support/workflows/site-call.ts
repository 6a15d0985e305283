import { createNexusServiceClient } from '@temporalio/workflow';
import { siteService } from './site-service.ts';

/** A control workflow that has a site do a piece of work through the site's Nexus endpoint. */
export async function callSiteWorkflow(input: { endpoint: string; label: string }): Promise<string> {
  const site = createNexusServiceClient({ service: siteService, endpoint: input.endpoint });
  return site.executeOperation('runSiteWork', { label: input.label }, { scheduleToCloseTimeout: '1 minute' });
}
