import {
  Client,
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  WorkflowIdConflictPolicy,
} from '@temporalio/client';
import type { Db } from '../../db/database.ts';
import { createClusterStore } from '../../db/clusters.ts';
import {
  createDeployTargetStore,
  type DeployTargetRow,
  type TargetOutcome,
} from '../../db/deploy-targets.ts';
import { createReleaseStore } from '../../db/releases.ts';
import { createSiteStore } from '../../db/sites.ts';
import {
  releaseWorkflowId,
  type ObjectIdentity,
  type Override,
  type ServedRelease,
} from '../../domain/releases.ts';
import { siteNamespace, siteReleaseWorkflowId } from '../../domain/site-link.ts';
import { parseManifests } from '../../kube/apply.ts';
import type {
  ClusterRef,
  DiscoveredCluster,
  DiscoverySummary,
  TargetSpec,
  UnlistedAccount,
} from '../../domain/clusters.ts';
import { selectorFrom } from '../../domain/selectors.ts';
import { CONTROL_TASK_QUEUE, siteTaskQueue } from '../../domain/task-queues.ts';
import { ensureSiteLink as makeSiteLink } from '../../runtime/site-link.ts';
import { classified } from '../errors.ts';

export type ControlActivityDeps = {
  db: Db;
  /** For activities that manage Temporal objects (schedules); absent in pure-database tests. */
  temporal?: Client;
  discoveryIntervalSeconds?: number;
};

export const discoveryScheduleId = (site: string): string => `discovery-${site}`;

/** Activities that need the central database; they run on the control worker only. */
export const createControlActivities = ({
  db,
  temporal,
  discoveryIntervalSeconds = 600,
}: ControlActivityDeps) => {
  const sites = createSiteStore(db);
  const clusters = createClusterStore(db);
  const releases = createReleaseStore(db);
  const deployTargets = createDeployTargetStore(db);
  /** A release's content as the sites are given it: parsed objects and overrides. */
  const served = async (releaseId: string): Promise<ServedRelease> => {
    const row = await releases.get(releaseId);
    return {
      releaseId,
      objects: parseManifests(row.manifests).map((m) => m.object as unknown as ObjectIdentity),
      overrides: row.overrides,
    };
  };
  /** Sites whose link this process has made or seen. */
  const linked = new Set<string>();
  return classified({
    /** One shard's targets, as the API stored the run's plan. */
    async loadDeployTargets(input: { runId: string; from: number; to: number }): Promise<DeployTargetRow[]> {
      return deployTargets.range(input.runId, input.from, input.to);
    },

    /** A resume that skips the failed: the stored record of finished shards says so too. */
    async skipFailedTargets(input: { runId: string; ranges: { from: number; to: number }[] }): Promise<void> {
      for (const { from, to } of input.ranges) await deployTargets.skipFailed(input.runId, from, to);
    },

    /** What a shard did to each of its targets, for rollback, successors and the listing. */
    async recordDeployOutcomes(input: { runId: string; outcomes: TargetOutcome[] }): Promise<void> {
      await deployTargets.recordOutcomes(input.runId, input.outcomes);
    },

    /** A release's content, parsed, for the workflow that serves it to the sites. */
    async loadRelease(input: {
      releaseId: string;
    }): Promise<{ objects: ObjectIdentity[]; overrides: Override[] }> {
      const { objects, overrides } = await served(input.releaseId);
      return { objects, overrides };
    },

    /**
     * The site's namespace and Nexus endpoint, made if missing (runtime/site-link.ts): the
     * control plane makes a site's link before it first calls the site, as enrollment does.
     */
    async ensureSiteLink(input: { site: string }): Promise<void> {
      if (!temporal) throw new Error('ensureSiteLink needs a Temporal client');
      if (linked.has(input.site)) return;
      await makeSiteLink(temporal.connection, temporal.options.namespace, input.site);
      linked.add(input.site);
    },

    /**
     * Puts the release's content into the site's own namespace, where the site's deploys and
     * drift checks read it (workflows/site/release.ts): started with the content if the site
     * has no copy, told to keep it if it has. Sites never read the control namespace.
     */
    async publishRelease(input: { releaseId: string; site: string }): Promise<void> {
      if (!temporal) throw new Error('publishRelease needs a Temporal client');
      const release = await served(input.releaseId);
      const site = new Client({
        connection: temporal.connection,
        namespace: siteNamespace(temporal.options.namespace, input.site),
        dataConverter: temporal.options.dataConverter,
      });
      await site.workflow.signalWithStart('siteReleaseWorkflow', {
        taskQueue: siteTaskQueue(input.site),
        workflowId: siteReleaseWorkflowId(input.releaseId),
        args: [{ release }],
        signal: 'keep',
      });
    },

    /** Makes sure the release's serving workflow runs (one per release, started once). */
    async ensureReleaseServed(input: { releaseId: string }): Promise<void> {
      if (!temporal) throw new Error('ensureReleaseServed needs a Temporal client');
      await releases.get(input.releaseId); // unknown release: NotFound, not a workflow that never loads
      await temporal.workflow.start('releaseWorkflow', {
        taskQueue: CONTROL_TASK_QUEUE,
        workflowId: releaseWorkflowId(input.releaseId),
        args: [{ releaseId: input.releaseId }],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      });
    },

    /** A sub-manager announced itself: register its site if new and note when it came up. */
    async recordSiteCheckIn(input: { site: string; description: string; version: string }): Promise<void> {
      await sites.checkIn(input.site, input.description, input.version);
    },

    /** Folds what a site saw into the inventory. */
    async recordDiscovery(input: {
      site: string;
      clusters: DiscoveredCluster[];
      unlisted?: UnlistedAccount[];
    }): Promise<DiscoverySummary> {
      return clusters.applyDiscovery(input.site, input.clusters, input.unlisted ?? []);
    },

    /** The stable, sorted target list of a bulk run. */
    async resolvePlacement(spec: TargetSpec): Promise<ClusterRef[]> {
      const selector = selectorFrom(spec.selector, 'selector');
      return clusters.placement({ clusterIds: spec.clusterIds, selector, sites: spec.sites });
    },

    /** Every site gets a discovery schedule; created once, its interval kept up to date. */
    async ensureDiscoverySchedule(input: {
      site: string;
    }): Promise<{ scheduleId: string; created: boolean }> {
      if (!temporal) throw new Error('ensureDiscoverySchedule needs a Temporal client');
      const scheduleId = discoveryScheduleId(input.site);
      const spec = { intervals: [{ every: `${discoveryIntervalSeconds}s` as const }] };
      try {
        await temporal.schedule.create({
          scheduleId,
          spec,
          action: {
            type: 'startWorkflow',
            workflowType: 'discoverSiteWorkflow',
            taskQueue: CONTROL_TASK_QUEUE,
            workflowId: `discovery:${input.site}:scheduled`,
            args: [{ site: input.site }],
          },
          policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
          memo: { site: input.site },
        });
        return { scheduleId, created: true };
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw err;
        await temporal.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec }));
        return { scheduleId, created: false };
      }
    },
  });
};

export type ControlActivities = ReturnType<typeof createControlActivities>;
