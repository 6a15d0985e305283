import type { CloudAccounts, PollingPolicy } from '../../clouds/accounts.ts';
import type {
  Catalog,
  CloudCluster,
  CloudName,
  CloudOperation,
  ClusterSpec,
  NodePoolSpec,
  ProviderExtras,
} from '../../clouds/ports.ts';
import type { DiscoveredCluster, UnlistedAccount } from '../../domain/clusters.ts';
import { cloudContext, RUN_LABEL } from '../../domain/cluster-specs.ts';
import { DroverError, ErrorType } from '../../domain/errors.ts';
import { createKubeClient, type KubeClient, type KubeCredentials } from '../../kube/client.ts';
import { classified } from '../errors.ts';

export type CloudActivityDeps = {
  /** This site's cloud accounts; their credentials are read here and never leave. */
  clouds: CloudAccounts;
  /** How long the access check waits for the cluster's API server. */
  accessTimeoutMs?: number;
};

type ClusterAt = { account: string; location: string; name: string };

const isType = (err: unknown, type: string) => err instanceof DroverError && err.type === type;

/**
 * Short-lived credentials for a cluster of one of the site's accounts, from its adapter. The
 * CA may come as PEM or, as EKS hands it out, base64 of the PEM.
 */
export const cloudKubeCredentials = async (
  clouds: CloudAccounts,
  at: ClusterAt,
): Promise<Extract<KubeCredentials, { server: string }>> => {
  const access = await clouds.get(at.account).provider.access(at.location, at.name);
  const ca = access.caData.trim();
  return {
    server: access.server,
    token: access.token,
    caData:
      ca === '' ? undefined : ca.includes('-----BEGIN') ? ca : Buffer.from(ca, 'base64').toString('utf8'),
    name: cloudContext(at.account, at.location, at.name),
  };
};

const readVersion = async (client: KubeClient): Promise<string> =>
  (await client.request<{ gitVersion?: string }>({ method: 'GET', path: '/version', action: 'read version' }))
    .gitVersion ?? 'unknown';

/**
 * Every cluster of every account, as discovery reports them: known by their cloud context, and
 * reachable when ready and answering /version. An account that cannot be listed (expired
 * credentials, its cloud down) is reported as unlisted, so its clusters keep their last state
 * instead of being marked vanished, and the other accounts are discovered all the same.
 */
export const discoverCloudClusters = async (
  clouds: CloudAccounts,
  timeoutMs = 5_000,
): Promise<{ clusters: DiscoveredCluster[]; unlisted: UnlistedAccount[] }> => {
  const unlisted: UnlistedAccount[] = [];
  const perAccount = await Promise.all(
    clouds.names().map(async (name) => {
      const account = clouds.get(name);
      let listed;
      try {
        listed = await account.provider.listClusters();
      } catch (err) {
        unlisted.push({ account: name, error: err instanceof Error ? err.message : String(err) });
        return [];
      }
      return Promise.all(
        listed.map(async (c): Promise<DiscoveredCluster> => {
          const base = {
            context: cloudContext(name, c.location, c.name),
            provider: account.cloud,
            location: c.location,
            endpoint: c.endpoint,
            kubernetesVersion: c.version,
          };
          if (c.status !== 'ready') return { ...base, reachable: false, error: `cluster is ${c.status}` };
          try {
            const credentials = await cloudKubeCredentials(clouds, {
              account: name,
              location: c.location,
              name: c.name,
            });
            await readVersion(createKubeClient(credentials, { timeoutMs }));
            return { ...base, reachable: true, error: null };
          } catch (err) {
            return { ...base, reachable: false, error: err instanceof Error ? err.message : String(err) };
          }
        }),
      );
    }),
  );
  return {
    clusters: perAccount.flat(),
    unlisted: unlisted.sort((a, b) => a.account.localeCompare(b.account)),
  };
};

/**
 * Site activities over the site's cloud accounts: each names its account, and the site picks
 * the adapter. Every one is a single quick call, so retries are cheap; what they return is
 * normalized and free of credentials.
 */
export const createCloudActivities = ({ clouds, accessTimeoutMs = 10_000 }: CloudActivityDeps) => {
  const provider = (account: string) => clouds.get(account).provider;
  return classified({
    /** What the account's cloud offers in a location, and how often its operations are worth polling. */
    async cloudCatalog(input: {
      account: string;
      location?: string;
    }): Promise<{ cloud: CloudName; catalog: Catalog; polling: PollingPolicy }> {
      const account = clouds.get(input.account);
      let catalog: Catalog;
      try {
        catalog = await account.provider.catalog(input.location);
      } catch (err) {
        // A location the cloud does not know: the whole catalog, so the spec check can say so.
        if (
          !(isType(err, ErrorType.Invalid) || isType(err, ErrorType.NotFound)) ||
          input.location === undefined
        )
          throw err;
        catalog = await account.provider.catalog();
      }
      return { cloud: account.cloud, catalog, polling: account.polling };
    },

    /** Which cloud an account is and how often its operations are worth polling. */
    async cloudAccountInfo(input: {
      account: string;
    }): Promise<{ cloud: CloudName; polling: PollingPolicy }> {
      const account = clouds.get(input.account);
      return { cloud: account.cloud, polling: account.polling };
    },

    async cloudDescribeCluster(input: ClusterAt): Promise<CloudCluster | null> {
      return provider(input.account).describeCluster(input.location, input.name);
    },

    /**
     * Starts creating the cluster, labelled with the run that asked for it. A retry after a
     * lost answer meets the cluster its first attempt made: that one (same run label) is
     * adopted and `operation` is null (poll by describing it); anyone else's is a Conflict.
     */
    async cloudCreateCluster(input: {
      account: string;
      spec: ClusterSpec;
      runKey: string;
    }): Promise<{ operation: CloudOperation | null; adopted: boolean }> {
      const cloud = provider(input.account);
      const spec = { ...input.spec, labels: { ...input.spec.labels, [RUN_LABEL]: input.runKey } };
      try {
        return { operation: await cloud.createCluster(spec), adopted: false };
      } catch (err) {
        if (!isType(err, ErrorType.Conflict)) throw err;
        const existing = await cloud.describeCluster(spec.location, spec.name);
        if (existing?.labels[RUN_LABEL] === input.runKey) return { operation: null, adopted: true };
        throw err;
      }
    },

    async cloudGetOperation(input: { account: string; operation: CloudOperation }): Promise<CloudOperation> {
      return provider(input.account).getOperation(input.operation);
    },

    /** Adds a node pool; one an earlier attempt already added is taken as it is (null operation). */
    async cloudCreateNodePool(input: {
      account: string;
      location: string;
      cluster: string;
      pool: NodePoolSpec;
      extras: ProviderExtras;
    }): Promise<{ operation: CloudOperation | null }> {
      const cloud = provider(input.account);
      try {
        return {
          operation: await cloud.createNodePool(input.location, input.cluster, input.pool, input.extras),
        };
      } catch (err) {
        if (!isType(err, ErrorType.Conflict)) throw err;
        const cluster = await cloud.describeCluster(input.location, input.cluster);
        if (cluster?.nodePools.some((p) => p.name === input.pool.name)) return { operation: null };
        throw err;
      }
    },

    /** Null when the pool (or its cluster) is already gone. */
    async cloudDeleteNodePool(input: ClusterAt & { pool: string }): Promise<CloudOperation | null> {
      try {
        return await provider(input.account).deleteNodePool(input.location, input.name, input.pool);
      } catch (err) {
        if (isType(err, ErrorType.NotFound)) return null;
        throw err;
      }
    },

    /** A cluster already gone gives a done operation. */
    async cloudDeleteCluster(input: ClusterAt): Promise<CloudOperation> {
      return provider(input.account).deleteCluster(input.location, input.name);
    },

    /**
     * Proves the site can use the cluster: fetches short-lived access and asks its API server
     * for /version. Returns where it answered and what it runs, never the credentials.
     */
    async cloudAccessCheck(input: ClusterAt): Promise<{ server: string; version: string }> {
      const credentials = await cloudKubeCredentials(clouds, input);
      const version = await readVersion(createKubeClient(credentials, { timeoutMs: accessTimeoutMs }));
      return { server: credentials.server, version };
    },
  });
};

export type CloudActivities = ReturnType<typeof createCloudActivities>;
