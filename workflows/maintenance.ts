import {
  continueAsNew,
  defineQuery,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { ClusterLifecycleActivities } from '../activities/control/clusters.ts';
import type { ControlActivities } from '../activities/control/index.ts';
import type {
  ExpiredCluster,
  MaintainedCluster,
  MaintenanceActivities,
} from '../activities/control/maintenance.ts';
import type { CloudActivities } from '../activities/site/clouds.ts';
import type { SiteActivities } from '../activities/site/index.ts';
import { durationMs } from '../domain/durations.ts';
import {
  assessVersion,
  type DeployedRelease,
  type DriftCheck,
  type DriftPolicy,
  type DriftStatus,
  type MaintenanceSpec,
  type VersionAssessment,
  type VersionStatus,
} from '../domain/maintenance.ts';
import { runIdFor } from '../domain/runs.ts';
import type { ScheduledBy } from '../domain/schedules.ts';
import { SITE_LINK_PATCH, siteSteps } from './site-link.ts';
import { failureMessage } from './cloud-steps.ts';
import { deleteClusterWorkflow } from './delete-cluster.ts';

/**
 * A maintenance run: the tasks its spec names, in this order — expired clusters go first (no
 * point checking what is about to be deleted), then drift, then the version report. Each task
 * adds its section to the run's report, which is the run's result and its `progress` query.
 * Per-cluster findings are kept in full in the database (drift) or, capped, in the report.
 */
export type MaintenanceInput = ScheduledBy & {
  spec: MaintenanceSpec;
  /** Drift pairs per page (a page is checked, then recorded). */
  pageSize?: number;
  /** Continue as new past this many history events; tests set it low. */
  historyLimit?: number;
  carried?: Carried;
};

export type DriftFinding = {
  clusterId: string;
  cluster: string;
  site: string;
  release: string;
  releaseId: string;
  status: DriftStatus;
  /** `Kind namespace/name: field, field` per object that differed. */
  objects: string[];
  error: string | null;
};

export type DriftSummary = {
  policy: DriftPolicy;
  /** Releases checked on clusters (a cluster with two releases counts twice). */
  checked: number;
  counts: Record<DriftStatus, number>;
  /** Those not in sync, first FINDINGS_KEPT; GET /v1/drift has them all. */
  findings: DriftFinding[];
};

type ExpiryEntry = Pick<
  ExpiredCluster,
  'id' | 'name' | 'site' | 'provider' | 'expiresAt' | 'reason' | 'dueAt'
> & {
  /** delete: through its cloud's delete run; deregister: taken out of the inventory only. */
  action: 'delete' | 'deregister';
  outcome: 'would-go' | 'deleted' | 'deregistered' | 'already-deleting' | 'failed';
  runId: string | null;
  error: string | null;
};

export type ExpirySummary = {
  dryRun: boolean;
  grace: string;
  /** The time the check was made against. */
  checkedAt: string;
  clusters: ExpiryEntry[];
  inGrace: Pick<ExpiredCluster, 'id' | 'name' | 'site' | 'expiresAt' | 'dueAt'>[];
  badTtl: { id: string; name: string; site: string; value: string }[];
};

export type ClusterVersion = {
  id: string;
  name: string;
  site: string;
  provider: string;
  version: string | null;
} & VersionAssessment;

export type VersionSummary = {
  checked: number;
  counts: Record<VersionStatus, number>;
  /** Clusters not `supported`, first FINDINGS_KEPT. */
  flagged: ClusterVersion[];
  /** Cloud accounts whose catalog could not be read; their clusters were judged by the upstream table. */
  catalogErrors: { site: string; account: string; error: string }[];
};

export type MaintenanceReport = {
  kind: 'maintenance';
  stage: 'expired-clusters' | 'drift' | 'versions' | 'done';
  scheduleId: string | null;
  expiredClusters?: ExpirySummary;
  drift?: DriftSummary;
  versions?: VersionSummary;
};

type Carried = { report: MaintenanceReport; driftCursor: string | null };

export const FINDINGS_KEPT = 200;
/** Objects named per finding in the report (each line ≤ 200 characters). */
const FINDING_OBJECTS = 5;
const DEFAULT_PAGE_SIZE = 50;
const VERSION_PAGE = 500;
/** Continue as new past this many history events (Temporal suggests it later on its own). */
const HISTORY_LIMIT = 8_000;

export const maintenanceProgressQuery = defineQuery<MaintenanceReport>('progress');

const control = proxyActivities<
  MaintenanceActivities & Pick<ControlActivities, 'ensureReleaseServed' | 'publishRelease'>
>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumInterval: '30 seconds', maximumAttempts: 10 },
});
const lifecycle = proxyActivities<ClusterLifecycleActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumInterval: '30 seconds', maximumAttempts: 10 },
});

/** A site's drift checks: an offline site's wait is bounded, so the run can report it. */
const siteDrift = (site: string) =>
  siteSteps<Pick<SiteActivities, 'checkDrift'>>(site, {
    scheduleToStartTimeout: '10 minutes',
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '2 seconds', maximumInterval: '30 seconds', maximumAttempts: 3 },
  });
const siteCatalog = (site: string) =>
  siteSteps<Pick<CloudActivities, 'cloudCatalog'>>(site, {
    scheduleToStartTimeout: '5 minutes',
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '2 seconds', maximumInterval: '30 seconds', maximumAttempts: 3 },
  });

/** At most `limit` of `work` at once, results in input order. */
const inParallel = async <T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> => {
  const results: R[] = [];
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
};

const zeroDrift = (): Record<DriftStatus, number> => ({ 'in-sync': 0, drifted: 0, repaired: 0, error: 0 });
const zeroVersions = (): Record<VersionStatus, number> => ({
  supported: 0,
  expiring: 0,
  unsupported: 0,
  unknown: 0,
});

export async function maintenanceWorkflow(input: MaintenanceInput): Promise<MaintenanceReport> {
  const { spec } = input;
  const report: MaintenanceReport = input.carried?.report ?? {
    kind: 'maintenance',
    stage: 'expired-clusters',
    scheduleId: input.schedule?.id ?? null,
  };
  setHandler(maintenanceProgressQuery, () => report);
  const runId = workflowInfo().workflowId;

  if (report.stage === 'expired-clusters') {
    if (spec.expiredClusters) report.expiredClusters = await expireClusters(spec.expiredClusters, runId);
    report.stage = 'drift';
  }

  if (report.stage === 'drift') {
    if (spec.drift) {
      const task = spec.drift;
      const summary = (report.drift ??= {
        policy: task.policy,
        checked: 0,
        counts: zeroDrift(),
        findings: [],
      });
      let cursor = input.carried?.driftCursor ?? null;
      do {
        const page = await control.listDeployedReleases({
          placement: task.placement,
          after: cursor,
          limit: input.pageSize ?? DEFAULT_PAGE_SIZE,
        });
        for (const releaseId of new Set(page.items.map((i) => i.releaseId))) {
          await control.ensureReleaseServed({ releaseId });
        }
        // Over the site link each site reads the release in its own namespace, where its copy
        // may have lapsed since the rollout: publish it to every site this page checks.
        if (patched(SITE_LINK_PATCH)) {
          const pairs = new Set(page.items.map((i) => `${i.target.site}\n${i.releaseId}`));
          for (const pair of pairs) {
            const [site, releaseId] = pair.split('\n') as [string, string];
            await control.publishRelease({ site, releaseId });
          }
        }
        const checks = await inParallel(page.items, task.maxParallel, (item) =>
          checkOne(item, task.policy === 'repair'),
        );
        await control.recordDriftChecks({
          checkRunId: runId,
          records: page.items.map((item, i) => ({
            clusterId: item.target.id,
            releaseName: item.releaseName,
            releaseId: item.releaseId,
            deployRunId: item.runId,
            check: checks[i] as DriftCheck,
          })),
        });
        page.items.forEach((item, i) => {
          const check = checks[i] as DriftCheck;
          summary.checked++;
          summary.counts[check.status]++;
          if (check.status !== 'in-sync' && summary.findings.length < FINDINGS_KEPT) {
            summary.findings.push({
              clusterId: item.target.id,
              cluster: item.target.name,
              site: item.target.site,
              release: item.releaseName,
              releaseId: item.releaseId,
              status: check.status,
              objects: findingLines(check),
              error: check.error,
            });
          }
        });
        cursor = page.next;
        const info = workflowInfo();
        if (
          cursor &&
          (info.continueAsNewSuggested || info.historyLength > (input.historyLimit ?? HISTORY_LIMIT))
        ) {
          await continueAsNew<typeof maintenanceWorkflow>({
            ...input,
            carried: { report, driftCursor: cursor },
          });
        }
      } while (cursor);
    }
    report.stage = 'versions';
  }

  if (report.stage === 'versions') {
    if (spec.versions) report.versions = await reportVersions(durationMs(spec.versions.warnWithin) ?? 0);
    report.stage = 'done';
  }
  return report;
}

/** A finding's objects in the run's report, a few short lines: the full check is in GET /v1/drift. */
const findingLines = (check: DriftCheck): string[] => {
  const lines = check.objects.slice(0, FINDING_OBJECTS).map((o) => {
    const line = `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}: ${o.state === 'missing' ? 'missing' : o.fields.map((f) => f.path).join(', ')}`;
    return line.length > 200 ? `${line.slice(0, 199)}…` : line;
  });
  const more = check.objects.length - lines.length + (check.omitted ?? 0);
  return more > 0 ? [...lines, `… and ${more} more`] : lines;
};

/** One release on one cluster; a check its site could not run is an `error` finding, not a failed run. */
const checkOne = async (item: DeployedRelease, repair: boolean): Promise<DriftCheck> => {
  try {
    return await siteDrift(item.target.site).checkDrift({
      target: item.target,
      releaseId: item.releaseId,
      repair,
    });
  } catch (err) {
    return { status: 'error', checked: 0, objects: [], error: failureMessage(err) };
  }
};

const expireClusters = async (
  task: NonNullable<MaintenanceSpec['expiredClusters']>,
  runId: string,
): Promise<ExpirySummary> => {
  const found = await control.listExpiredClusters({ graceMs: durationMs(task.grace) ?? 0 });
  const entry = (c: ExpiredCluster): ExpiryEntry => ({
    id: c.id,
    name: c.name,
    site: c.site,
    provider: c.provider,
    expiresAt: c.expiresAt,
    reason: c.reason,
    dueAt: c.dueAt,
    action: c.cloud ? 'delete' : 'deregister',
    outcome: 'would-go',
    runId: null,
    error: null,
  });
  const summary: ExpirySummary = {
    dryRun: task.dryRun,
    grace: task.grace,
    checkedAt: found.now,
    clusters: found.due.map(entry),
    inGrace: found.inGrace.map(({ id, name, site, expiresAt, dueAt }) => ({
      id,
      name,
      site,
      expiresAt,
      dueAt,
    })),
    badTtl: found.badTtl,
  };
  if (task.dryRun) return summary;

  await inParallel(found.due, task.maxParallel, async (cluster) => {
    const out = summary.clusters.find((c) => c.id === cluster.id) as ExpiryEntry;
    try {
      if (!cluster.cloud) {
        // Known by a kubeconfig context only: drover cannot destroy it, it can only forget it.
        await lifecycle.deregisterCluster({ id: cluster.id });
        out.outcome = 'deregistered';
        return;
      }
      const deleteRunId = runIdFor('delete-cluster', cluster.id);
      out.runId = deleteRunId;
      const child = await startChild(deleteClusterWorkflow, {
        workflowId: deleteRunId,
        args: [{ clusterId: cluster.id, site: cluster.site, ...cluster.cloud }],
        // A delete that started goes on even if this run is stopped.
        parentClosePolicy: ParentClosePolicy.ABANDON,
        memo: { clusterId: cluster.id, site: cluster.site, startedBy: runId },
      });
      await child.result();
      out.outcome = 'deleted';
    } catch (err) {
      // A delete of this cluster is under way already (started by hand or by an earlier run).
      if ((err as Error).name === 'WorkflowExecutionAlreadyStartedError') {
        out.outcome = 'already-deleting';
        return;
      }
      out.outcome = 'failed';
      out.error = failureMessage(err);
    }
  });
  return summary;
};

const reportVersions = async (warnWithinMs: number): Promise<VersionSummary> => {
  const summary: VersionSummary = { checked: 0, counts: zeroVersions(), flagged: [], catalogErrors: [] };
  const catalogs = new Map<string, Promise<string[] | null>>();
  const cloudVersions = (c: MaintainedCluster): Promise<string[] | null> => {
    if (!c.cloud) return Promise.resolve(null);
    const { account } = c.cloud;
    const key = `${c.site}/${account}`;
    let hit = catalogs.get(key);
    if (!hit) {
      hit = siteCatalog(c.site)
        .cloudCatalog({ account })
        .then(
          (answer) => answer.catalog.versions,
          (err: unknown) => {
            summary.catalogErrors.push({ site: c.site, account, error: failureMessage(err) });
            return null;
          },
        );
      catalogs.set(key, hit);
    }
    return hit;
  };
  let cursor: string | null = null;
  do {
    const page: { items: MaintainedCluster[]; next: string | null } = await control.listClustersForVersions({
      cursor,
      limit: VERSION_PAGE,
    });
    const now = new Date();
    for (const c of page.items) {
      const assessment = assessVersion({
        version: c.kubernetesVersion,
        cloudVersions: await cloudVersions(c),
        now,
        warnWithinMs,
      });
      summary.checked++;
      summary.counts[assessment.status]++;
      if (assessment.status !== 'supported' && summary.flagged.length < FINDINGS_KEPT) {
        summary.flagged.push({
          id: c.id,
          name: c.name,
          site: c.site,
          provider: c.provider,
          version: c.kubernetesVersion,
          ...assessment,
        });
      }
    }
    cursor = page.next;
  } while (cursor);
  return summary;
};
