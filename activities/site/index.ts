import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError, type Client } from '@temporalio/client';
import { createCloudAccounts, type CloudAccounts } from '../../clouds/accounts.ts';
import { parseCloudContext } from '../../domain/cluster-specs.ts';
import type { SiteDiscovery } from '../../domain/clusters.ts';
import type { DeployTarget } from '../../domain/deployments.ts';
import { capDriftCheck, type DriftCheck } from '../../domain/maintenance.ts';
import { DroverError, ErrorType, NON_RETRYABLE_ERROR_TYPES } from '../../domain/errors.ts';
import {
  releaseWorkflowId,
  renderForCluster,
  type ClusterFacts,
  type ServedRelease,
} from '../../domain/releases.ts';
import type { PingResult } from '../../domain/runs.ts';
import { createKubeClient } from '../../kube/client.ts';
import {
  deployToCluster,
  loadSnapshot,
  restoreSnapshot,
  snapshotObjects,
  snapshotOnce,
  verifyDeployment,
} from '../../kube/deploy.ts';
import { discoverKubeconfigClusters } from '../../kube/inventory.ts';
import { checkAndRepairDrift } from '../../kube/drift.ts';
import type { Manifest } from '../../kube/apply.ts';
import { classified } from '../errors.ts';
import { withHeartbeat } from '../heartbeat.ts';
import { cloudKubeCredentials, createCloudActivities, discoverCloudClusters } from './clouds.ts';
import { createWorkloadActivities } from './workloads.ts';

export type SiteActivityDeps = {
  site: string;
  /** Names this sub-manager process in results; never a credential. */
  identity: string;
  version: string;
  /** This site's kubeconfig; read here, inside the site, and nowhere else. */
  kubeconfigPath?: string | undefined;
  /** Where this site keeps per-run snapshots of what it changed (cluster content stays here). */
  stateDir?: string | undefined;
  /** This site's cloud accounts (clouds file); their clusters are known as `<account>/<location>/<name>`. */
  clouds?: CloudAccounts | undefined;
  /** For reading release content from the release's workflow (a query; nothing recorded). */
  temporal?: Client | undefined;
  /** How long a deploy waits for release content while no worker answers for it (5 min). */
  releaseWaitMs?: number;
  now?: () => Date;
};

/** Releases kept per sub-manager; each is at most a few MiB and never changes. */
const RELEASES_CACHED = 16;

/** gRPC codes that mean the ask itself is wrong (bad argument, no right to, failed precondition). */
const FINAL_CODES = new Set([3, 7, 9, 16]);

/**
 * Asks the release's workflow in this site's namespace (workflows/site/release.ts, published
 * there by the control plane) for its content. This sub-manager's own worker answers that
 * query; while no worker can (it is still starting, say) Temporal gives up on each ask after
 * its query timeout (30 s by default), so ask again, for up to `waitMs`, before a cluster's
 * deploy fails for it; the same while a workflow answers that it has no content yet. Any
 * other answer (the workflow does not exist, the query failed in it) is final.
 */
const patientQuery = async (temporal: Client, releaseId: string, waitMs: number): Promise<ServedRelease> => {
  const deadline = Date.now() + waitMs;
  for (let delay = 1_000; ; delay = Math.min(delay * 2, 15_000)) {
    let content: ServedRelease | null;
    try {
      content = await temporal.workflow
        .getHandle(releaseWorkflowId(releaseId))
        .query<ServedRelease | null>('content');
    } catch (err) {
      const code = (err as { cause?: { code?: unknown } }).cause?.code;
      const unreachable = err instanceof ServiceError && !(typeof code === 'number' && FINAL_CODES.has(code));
      if (!unreachable || Date.now() + delay > deadline) throw err;
      await sleep(delay);
      continue;
    }
    if (content) return content;
    // Served but not loaded yet: the release's workflow has just started.
    if (Date.now() + delay > deadline)
      throw new Error(`release ${releaseId} was still loading after ${Math.round(waitMs / 1000)} s`);
    await sleep(Math.min(delay, 2_000));
  }
};

/**
 * Release content by id, asked of the release's workflow once per sub-manager (concurrent
 * askers share the one query) and kept: a release id always names the same content.
 */
const createReleaseCache = (waitMs: number) => {
  const cache = new Map<string, Promise<ServedRelease>>();
  return (temporal: Client, releaseId: string): Promise<ServedRelease> => {
    const hit = cache.get(releaseId);
    if (hit) {
      // Most recently used last, so the oldest is the first to go.
      cache.delete(releaseId);
      cache.set(releaseId, hit);
      return hit;
    }
    const pending = patientQuery(temporal, releaseId, waitMs);
    cache.set(releaseId, pending);
    // A failed query is not kept: the next activity asks again (unless a newer ask replaced it).
    pending.catch(() => {
      if (cache.get(releaseId) === pending) cache.delete(releaseId);
    });
    while (cache.size > RELEASES_CACHED) cache.delete(cache.keys().next().value as string);
    return pending;
  };
};

/** One snapshot per (run, cluster): a retried deploy must never re-snapshot its own changes. */
const snapshotKey = (runId: string, clusterId: string) => `${runId}--${clusterId}`;

/**
 * Activities that run inside a site, on its sub-manager. They are the only code that may touch
 * the site's clusters and cloud credentials; what they return must be free of both.
 */
export const createSiteActivities = (deps: SiteActivityDeps) => {
  const now = deps.now ?? (() => new Date());
  const clouds = deps.clouds ?? createCloudAccounts([], {});
  const clusterClient = async (target: Pick<DeployTarget, 'context'>) => {
    // A cluster created in one of the site's cloud accounts: fresh credentials from its cloud.
    const cloud = parseCloudContext(target.context);
    if (cloud && clouds.has(cloud.account))
      return createKubeClient(await cloudKubeCredentials(clouds, cloud));
    if (!deps.kubeconfigPath) {
      throw new DroverError(ErrorType.BadInput, `site ${deps.site} has no kubeconfig (DROVER_KUBECONFIG)`);
    }
    return createKubeClient({ kubeconfigPath: deps.kubeconfigPath, context: target.context });
  };
  const releaseContent = createReleaseCache(deps.releaseWaitMs ?? 5 * 60_000);
  /** This cluster's rendering of the release, as every deploy and drift check of it sees it. */
  const renderedRelease = async (target: DeployTarget, releaseId: string): Promise<Manifest[]> => {
    if (!deps.temporal) throw new Error('sub-manager has no Temporal client for release content');
    const facts: ClusterFacts = { name: target.name, labels: target.labels };
    const content = await releaseContent(deps.temporal, releaseId);
    return renderForCluster(content.objects, content.overrides, facts).map((object, index) => ({
      index,
      object,
    }));
  };
  const stateDir = () => {
    if (!deps.stateDir) throw new Error('sub-manager has no state directory for snapshots');
    return deps.stateDir;
  };
  return classified({
    /** Cloud accounts: create, poll, delete clusters and node pools (see ./clouds.ts). */
    ...createCloudActivities({ clouds }),

    /** A clone's workload migration: export from a source cluster, import into a clone (./workloads.ts). */
    ...createWorkloadActivities({ clusterClient }),

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

    /** Every cluster this site can reach through its kubeconfig and its cloud accounts. */
    async discoverClusters(): Promise<SiteDiscovery> {
      const [fromKubeconfig, fromClouds] = await Promise.all([
        deps.kubeconfigPath ? discoverKubeconfigClusters(deps.kubeconfigPath) : [],
        discoverCloudClusters(clouds),
      ]);
      return { clusters: [...fromKubeconfig, ...fromClouds.clusters], unlisted: fromClouds.unlisted };
    },

    /**
     * One cluster's share of a rollout: fetch this cluster's rendering of the release, snapshot
     * what it will touch (once per run), server-side apply, verify. Safe to retry.
     */
    async deployRelease(input: {
      target: DeployTarget;
      releaseId: string;
      runId: string;
      /** The run whose snapshot this cluster keeps (an earlier run that touched it); default runId. */
      snapshotRunId?: string;
      readiness: boolean;
    }): Promise<{ applied: number; changed: number }> {
      return withHeartbeat(async () => {
        const manifests = await renderedRelease(input.target, input.releaseId);
        const client = await clusterClient(input.target);
        const snapshot = await snapshotOnce(
          stateDir(),
          snapshotKey(input.snapshotRunId ?? input.runId, input.target.id),
          () => snapshotObjects(client, manifests),
        );
        const result = await deployToCluster(client, manifests, { releaseId: input.releaseId, snapshot });
        const verdict = await verifyDeployment(client, result, { readiness: input.readiness });
        if (!verdict.ok) {
          throw new DroverError(ErrorType.Unavailable, `not verified yet: ${verdict.problems.join('; ')}`);
        }
        return { applied: result.applied.length, changed: result.applied.filter((o) => o.changed).length };
      });
    },

    /**
     * Whether the cluster still holds what drover applied of a release (see kube/drift.ts); under
     * `repair`, re-applies what drifted. What no retry can fix (no rights, an invalid object) is
     * the check's result; an unreachable cluster fails the attempt, and Temporal retries it.
     */
    async checkDrift(input: {
      target: DeployTarget;
      releaseId: string;
      repair: boolean;
    }): Promise<DriftCheck> {
      return withHeartbeat(async () => {
        const manifests = await renderedRelease(input.target, input.releaseId);
        const client = await clusterClient(input.target);
        try {
          return capDriftCheck(
            await checkAndRepairDrift(client, manifests, {
              releaseId: input.releaseId,
              repair: input.repair,
            }),
          );
        } catch (err) {
          if (!(err instanceof DroverError) || !NON_RETRYABLE_ERROR_TYPES.includes(err.type)) throw err;
          return { status: 'error', checked: manifests.length, objects: [], error: err.message };
        }
      });
    },

    /** Puts a cluster back to the snapshot this run took; nothing to do if it never got that far. */
    async rollbackRelease(input: { target: DeployTarget; runId: string }): Promise<{ restored: number }> {
      return withHeartbeat(async () => {
        const snapshot = await loadSnapshot(stateDir(), snapshotKey(input.runId, input.target.id));
        if (!snapshot) return { restored: 0 };
        const result = await restoreSnapshot(await clusterClient(input.target), snapshot);
        return {
          restored: result.objects.filter((o) => o.action !== 'unchanged' && o.action !== 'absent').length,
        };
      });
    },
  });
};

export type SiteActivities = ReturnType<typeof createSiteActivities>;

export const defaultSiteIdentity = (site: string): string =>
  `sub-manager/${site}@${hostname()}:${process.pid}`;
