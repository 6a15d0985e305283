import { proxyActivities } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.ts';
import type { SiteActivities } from '../activities/site/index.ts';
import type { DiscoveredCluster, DiscoverySummary, SiteDiscovery } from '../domain/clusters.ts';
import { siteSteps } from './site-link.ts';

const { recordDiscovery } = proxyActivities<ControlActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumInterval: '30 seconds' },
});

/**
 * Asks one site what clusters it sees, then folds the answer into the inventory. The site
 * step waits for the sub-manager if it is offline (no schedule-to-start timeout).
 */
export async function discoverSiteWorkflow({ site }: { site: string }): Promise<DiscoverySummary> {
  const { discoverClusters } = siteSteps<SiteActivities>(site, {
    startToCloseTimeout: '2 minutes',
    retry: { maximumInterval: '1 minute' },
  });
  const found: SiteDiscovery | DiscoveredCluster[] = await discoverClusters();
  // A sub-manager of an earlier version answers with the clusters alone.
  const { clusters, unlisted } = Array.isArray(found) ? { clusters: found, unlisted: [] } : found;
  return recordDiscovery({ site, clusters, unlisted });
}
