import { z } from 'zod';
import { SiteName } from './sites.ts';

export const Provider = z.enum(['eks', 'gke', 'aks', 'sandbox', 'kubeconfig']);
export type Provider = z.infer<typeof Provider>;

/**
 * pending: registered, not yet confirmed by its site; ready: its site reached it at the last
 * discovery; unreachable: listed by its site but not answering; vanished: its site no longer
 * lists it (kept, never deleted, so history and runs still resolve it).
 */
export const ClusterStatus = z.enum(['pending', 'ready', 'unreachable', 'vanished']);
export type ClusterStatus = z.infer<typeof ClusterStatus>;

export const ClusterOrigin = z.enum(['discovered', 'registered']);

/** Kubeconfig context names as kubectl allows them, bounded. */
export const ContextName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[^\s/][^\s]*$/, 'must be a kubeconfig context name (no whitespace, not starting with /)');

export const ClusterName = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^[A-Za-z0-9]([-A-Za-z0-9_.@]*[A-Za-z0-9])?$/,
    'letters, digits and -_.@, starting and ending alphanumeric',
  );

/** What workflows carry: a reference the site resolves to credentials, nothing more. */
export const ClusterRef = z.object({
  id: z.string().uuid(),
  name: z.string(),
  site: SiteName,
  context: z.string(),
});
export type ClusterRef = z.infer<typeof ClusterRef>;

/** What a site reports about one cluster it can see. No credential, ever. */
export const DiscoveredCluster = z.object({
  context: z.string(),
  provider: Provider,
  location: z.string(),
  endpoint: z.string().nullable(),
  kubernetesVersion: z.string().nullable(),
  reachable: z.boolean(),
  error: z.string().nullable(),
});
export type DiscoveredCluster = z.infer<typeof DiscoveredCluster>;

/** A cloud account the site could not list this time, and why (no credential in it). */
export const UnlistedAccount = z.object({ account: z.string(), error: z.string() });
export type UnlistedAccount = z.infer<typeof UnlistedAccount>;

/** What a site sees: its clusters, and the cloud accounts it could not list. */
export type SiteDiscovery = { clusters: DiscoveredCluster[]; unlisted: UnlistedAccount[] };

export const DiscoverySummary = z.object({
  site: z.string(),
  seen: z.number().int(),
  added: z.array(z.string()),
  updated: z.number().int(),
  vanished: z.array(z.string()),
  unreachable: z.array(z.string()),
  /** Accounts not listed this time: their clusters keep their last state, none is marked vanished. */
  unlisted: z.array(UnlistedAccount),
});
export type DiscoverySummary = z.infer<typeof DiscoverySummary>;

/** A placement: which clusters a bulk run targets. Empty fields do not constrain. */
export const TargetSpec = z
  .object({
    clusterIds: z.array(z.string().uuid()).max(10_000).optional(),
    selector: z.string().max(4096).optional(),
    sites: z.array(SiteName).max(1000).optional(),
  })
  .refine((t) => t.clusterIds !== undefined || t.selector !== undefined || t.sites !== undefined, {
    message: 'name clusterIds, a selector or sites',
  });
export type TargetSpec = z.infer<typeof TargetSpec>;

/** Stable order for every bulk run: by site, then name, then id. */
export const compareRefs = (a: ClusterRef, b: ClusterRef): number =>
  a.site < b.site
    ? -1
    : a.site > b.site
      ? 1
      : a.name < b.name
        ? -1
        : a.name > b.name
          ? 1
          : a.id < b.id
            ? -1
            : a.id > b.id
              ? 1
              : 0;

/**
 * A readable, valid cluster name from a kubeconfig context: EKS contexts are ARNs
 * (`arn:aws:eks:REGION:ACCOUNT:cluster/NAME`), GKE ones `gke_PROJECT_LOCATION_NAME`; others
 * are kept with invalid characters replaced.
 */
export const clusterNameFromContext = (context: string): string => {
  const eks = /^arn:aws[a-z-]*:eks:[^:]+:\d+:cluster\/(.+)$/.exec(context);
  const gke = /^gke_[^_]+_[^_]+_(.+)$/.exec(context);
  const raw = eks?.[1] ?? gke?.[1] ?? context;
  const cleaned = raw
    .replace(/[^-A-Za-z0-9_.@]+/g, '-')
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '')
    .slice(0, 253);
  return cleaned || 'cluster';
};

/** Provider and location as far as a kubeconfig tells them (server host, context naming). */
export const providerFromKubeconfig = (
  context: string,
  server: string | null,
): { provider: Provider; location: string } => {
  const host = (() => {
    try {
      return server ? new URL(server).hostname : '';
    } catch {
      return '';
    }
  })();
  const eksHost = /\.([a-z0-9-]+)\.eks\.amazonaws\.com$/.exec(host);
  if (eksHost?.[1]) return { provider: 'eks', location: eksHost[1] };
  const eksArn = /^arn:aws[a-z-]*:eks:([^:]+):/.exec(context);
  if (eksArn?.[1]) return { provider: 'eks', location: eksArn[1] };
  const gke = /^gke_[^_]+_([^_]+)_/.exec(context);
  if (gke?.[1]) return { provider: 'gke', location: gke[1] };
  const aks = /\.hcp\.([a-z0-9]+)\.azmk8s\.io$/.exec(host);
  if (aks?.[1]) return { provider: 'aks', location: aks[1] };
  return { provider: 'kubeconfig', location: '' };
};
