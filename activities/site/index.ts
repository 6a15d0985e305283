import { hostname } from 'node:os';
import type { DiscoveredCluster } from '../../domain/clusters.ts';
import type { PingResult } from '../../domain/runs.ts';
import { discoverKubeconfigClusters } from '../../kube/inventory.ts';
import { classified } from '../errors.ts';

export type SiteActivityDeps = {
  site: string;
  /** Names this sub-manager process in results; never a credential. */
  identity: string;
  version: string;
  /** This site's kubeconfig; read here, inside the site, and nowhere else. */
  kubeconfigPath?: string | undefined;
  now?: () => Date;
};

/**
 * Activities that run inside a site, on its sub-manager. They are the only code that may touch
 * the site's clusters and cloud credentials; what they return must be free of both.
 */
export const createSiteActivities = (deps: SiteActivityDeps) => {
  const now = deps.now ?? (() => new Date());
  return classified({
    /** Proves the round trip control → site → control; answers who served it. */
    async pingSite(input: { sentAt: string }): Promise<PingResult> {
      const answeredAt = now();
      return {
        site: deps.site,
        worker: deps.identity,
        version: deps.version,
        answeredAt: answeredAt.toISOString(),
        answeredAfterMs: Math.max(0, answeredAt.getTime() - Date.parse(input.sentAt)),
      };
    },

    /** Every cluster this site can reach through its kubeconfig (and, later, its clouds). */
    async discoverClusters(): Promise<DiscoveredCluster[]> {
      return deps.kubeconfigPath ? discoverKubeconfigClusters(deps.kubeconfigPath) : [];
    },
  });
};

export type SiteActivities = ReturnType<typeof createSiteActivities>;

export const defaultSiteIdentity = (site: string): string =>
  `sub-manager/${site}@${hostname()}:${process.pid}`;
