import type { Client } from '@temporalio/client';
import { createClusterStore } from '../../db/clusters.ts';
import type { Db } from '../../db/database.ts';
import { createMaintenanceStore, UNKNOWN_RELEASE, type DriftRecord } from '../../db/maintenance.ts';
import { parseCloudContext } from '../../domain/cluster-specs.ts';
import type { Provider, TargetSpec } from '../../domain/clusters.ts';
import { durationMs } from '../../domain/durations.ts';
import { DroverError, ErrorType } from '../../domain/errors.ts';
import { CLOUD_PROVIDERS, clusterExpiry, TTL_LABEL, type DeployedRelease } from '../../domain/maintenance.ts';
import { parseSelector, SelectorParseError } from '../../domain/selectors.ts';
import { classified } from '../errors.ts';

export type MaintenanceActivityDeps = {
  db: Db;
  /** Reads deploy runs' memos (which release each rolled out). */
  temporal?: Client | undefined;
  /** Wall time of expiry checks; tests move it. */
  now?: () => Date;
};

/** A cluster of the inventory as maintenance sees it. */
export type MaintainedCluster = {
  id: string;
  name: string;
  site: string;
  context: string;
  provider: Provider;
  kubernetesVersion: string | null;
  status: string;
  /** Set when the cluster belongs to one of its site's cloud accounts (it can be destroyed there). */
  cloud: { account: string; location: string; name: string } | null;
};

export type ExpiredCluster = MaintainedCluster & {
  expiresAt: string;
  reason: 'expiresAt' | 'ttl-label';
  /** When the grace period ends and the cluster goes. */
  dueAt: string;
};

/** Clusters looked at per expiry run; the next run sees the rest. */
const EXPIRY_BATCH = 1_000;
/** Deploy runs whose release is looked up (from Temporal) per page of deployed releases. */
const RUN_LOOKUPS = 200;

const maintained = (r: {
  id: string;
  name: string;
  site: string;
  context: string;
  provider: Provider;
  kubernetes_version: string | null;
  status: string;
}): MaintainedCluster => {
  const at = parseCloudContext(r.context);
  return {
    id: r.id,
    name: r.name,
    site: r.site,
    context: r.context,
    provider: r.provider,
    kubernetesVersion: r.kubernetes_version,
    status: r.status,
    cloud: at && CLOUD_PROVIDERS.includes(r.provider) ? at : null,
  };
};

/** Control activities of maintenance runs: the database side of drift, expiry and versions. */
export const createMaintenanceActivities = ({
  db,
  temporal,
  now = () => new Date(),
}: MaintenanceActivityDeps) => {
  const store = createMaintenanceStore(db);
  const clusters = createClusterStore(db);

  /** Learns the release of deploy runs the table does not know yet, from each run's memo. */
  const learnRunReleases = async () => {
    if (!temporal) return;
    const runs = await store.runsWithoutRelease(RUN_LOOKUPS);
    const learned = await Promise.all(
      runs.map(async (runId) => {
        try {
          const { memo } = await temporal.workflow.getHandle(runId).describe();
          const releaseId = memo?.releaseId;
          return { runId, releaseId: typeof releaseId === 'string' ? releaseId : UNKNOWN_RELEASE };
        } catch (err) {
          // Gone from Temporal (past retention): its release cannot be known any more.
          if ((err as { name?: string }).name === 'WorkflowNotFoundError')
            return { runId, releaseId: UNKNOWN_RELEASE };
          throw err;
        }
      }),
    );
    await store.recordRunReleases(learned);
  };

  return classified({
    /** A page of what is deployed where (latest succeeded deploy per cluster and release name). */
    async listDeployedReleases(input: {
      placement?: TargetSpec | undefined;
      after?: string | null;
      limit: number;
    }): Promise<{ items: DeployedRelease[]; next: string | null }> {
      if (!input.after) await learnRunReleases();
      let clusterIds: string[] | undefined;
      if (input.placement) {
        let selector;
        try {
          selector =
            input.placement.selector === undefined ? undefined : parseSelector(input.placement.selector);
        } catch (err) {
          if (err instanceof SelectorParseError)
            throw new DroverError(ErrorType.BadInput, `drift.placement.selector: ${err.message}`, {
              field: 'drift.placement.selector',
            });
          throw err;
        }
        const refs = await clusters.placement({
          clusterIds: input.placement.clusterIds,
          selector,
          sites: input.placement.sites,
        });
        clusterIds = refs.map((r) => r.id);
      }
      return store.deployedReleases({ clusterIds, after: input.after ?? undefined, limit: input.limit });
    },

    /** Keeps each check as the latest drift report of its cluster and release. */
    async recordDriftChecks(input: { checkRunId: string; records: DriftRecord[] }): Promise<void> {
      await store.recordDriftChecks(input.checkRunId, input.records);
    },

    /**
     * Clusters past their expiry (the `expiresAt` field or the TTL label): `due` when the grace
     * period is over too, `inGrace` before. A malformed TTL label is listed, never acted on.
     */
    async listExpiredClusters(input: { graceMs: number }): Promise<{
      now: string;
      due: ExpiredCluster[];
      inGrace: ExpiredCluster[];
      badTtl: { id: string; name: string; site: string; value: string }[];
    }> {
      const at = now();
      const rows = await store.clustersWithExpiry(EXPIRY_BATCH);
      const due: ExpiredCluster[] = [];
      const inGrace: ExpiredCluster[] = [];
      const badTtl: { id: string; name: string; site: string; value: string }[] = [];
      for (const row of rows) {
        const expiry = clusterExpiry({
          expiresAt: row.expires_at,
          createdAt: row.created_at,
          labels: row.labels,
        });
        const ttl = row.labels[TTL_LABEL];
        if (ttl !== undefined && durationMs(ttl) === undefined)
          badTtl.push({ id: row.id, name: row.name, site: row.site, value: ttl });
        if (!expiry || expiry.at > at) continue;
        const dueAt = new Date(expiry.at.getTime() + input.graceMs);
        const entry: ExpiredCluster = {
          ...maintained(row),
          expiresAt: expiry.at.toISOString(),
          reason: expiry.reason,
          dueAt: dueAt.toISOString(),
        };
        (dueAt <= at ? due : inGrace).push(entry);
      }
      return { now: at.toISOString(), due, inGrace, badTtl };
    },

    /** A page of the inventory (live clusters), for the version report. */
    async listClustersForVersions(input: {
      cursor?: string | null;
      limit: number;
    }): Promise<{ items: MaintainedCluster[]; next: string | null }> {
      const page = await clusters.list({}, { limit: input.limit, cursor: input.cursor ?? undefined });
      return {
        items: page.items.filter((r) => r.status !== 'vanished').map(maintained),
        next: page.nextCursor,
      };
    },
  });
};

export type MaintenanceActivities = ReturnType<typeof createMaintenanceActivities>;
