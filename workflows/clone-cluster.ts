import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  defineSignal,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { CloneActivities } from '../activities/control/clones.ts';
import type { WorkloadActivities } from '../activities/site/workloads.ts';
import type { Catalog, CloudName } from '../domain/clouds.ts';
import { chooseLocation, placeholdersIn, translateCluster } from '../domain/clone-plan.ts';
import {
  CLONED_FROM_LABEL,
  cloneToMake,
  type ClonePlan,
  type CloneItem,
  type CloneMade,
  type PlanProblem,
} from '../domain/clones.ts';
import { checkClusterSpec, cloudContext } from '../domain/cluster-specs.ts';
import { ErrorType } from '../domain/errors.ts';
import { siteSteps } from './site-link.ts';
import { planWorkloads, type MigrationReport } from '../domain/workload-migration.ts';
import {
  cloudActivities,
  controlActivities,
  createStepLog,
  failureMessage,
  failureType,
  type RunStep,
} from './cloud-steps.ts';
import { createClusterWorkflow } from './create-cluster.ts';
import { deleteClusterWorkflow } from './delete-cluster.ts';

/**
 * One clone, as a child of a clone run: create the planned cluster on the target through the
 * create-cluster workflow (itself a saga), migrate the chosen workloads from the source's site
 * to the target's through this workflow, and label the clone with its source in the
 * inventory. A failure or a cancel after the clone exists deletes it again (through the
 * delete-cluster workflow), so a retried clone starts from nothing. The source is only read.
 *
 * Also here: planning, which the run does for all its clones before any is made.
 */

export type CloneClusterInput = { plan: ClonePlan };

export type CloneClusterPhase =
  'creating' | 'migrating' | 'labelling' | 'undoing' | 'succeeded' | 'failed' | 'cancelled';

export type CloneClusterProgress = {
  kind: 'clone-cluster';
  phase: CloneClusterPhase;
  source: { clusterId: string; name: string; site: string };
  clone: CloneMade;
  steps: RunStep[];
  undone: RunStep[];
  migrated: MigrationReport | null;
  error: string | null;
};

export const progressQuery = defineQuery<CloneClusterProgress>('progress');
/** Sent to the run: which step a clone is at, for the run's live progress. */
export const cloneStepSignal = defineSignal<[{ sourceId: string; step: string }]>('cloneStep');

const workloadActivities = (site: string) =>
  siteSteps<WorkloadActivities>(site, {
    // No schedule-to-start timeout: an offline site's step waits for it.
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
  });

const { labelCluster } = proxyActivities<CloneActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumInterval: '30 seconds', maximumAttempts: 10 },
});

export async function cloneClusterWorkflow(input: CloneClusterInput): Promise<CloneClusterProgress> {
  const { plan } = input;
  const { workflowId } = workflowInfo();
  const log = createStepLog();
  const undoLog = createStepLog();
  const clone: CloneMade = cloneToMake(plan);
  let phase: CloneClusterPhase = 'creating';
  let migrated: MigrationReport | null = null;
  let error: string | null = null;
  const progress = (): CloneClusterProgress => ({
    kind: 'clone-cluster',
    phase,
    source: { clusterId: plan.source.clusterId, name: plan.source.name, site: plan.source.site },
    clone: { ...clone },
    steps: log.steps,
    undone: undoLog.steps,
    migrated,
    error,
  });
  setHandler(progressQuery, progress);

  const parent = workflowInfo().parent;
  const tellRun = async (step: string) => {
    if (!parent) return;
    try {
      await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(cloneStepSignal, {
        sourceId: plan.source.clusterId,
        step,
      });
    } catch {
      // The run is gone or closing: nobody to tell.
    }
  };

  try {
    await tellRun('create');
    const created = await log.run(
      'create',
      `${plan.spec.name} in ${plan.target.account}/${plan.spec.location} (site ${plan.target.site})`,
      () =>
        executeChild(createClusterWorkflow, {
          workflowId: `${workflowId}.create`,
          args: [{ site: plan.target.site, account: plan.target.account, spec: plan.spec }],
        }),
      (p) => `cluster ${p.clusterId ?? '?'}`,
    );
    clone.clusterId = created.clusterId;
    clone.context = created.context;
    clone.location = created.location;

    if (plan.workloads) {
      phase = 'migrating';
      await tellRun('migrate');
      const workloads = plan.workloads;
      const source = plan.source;
      const exported = await log.run(
        'export-workloads',
        `${source.name} (site ${source.site})`,
        () =>
          workloadActivities(source.site).exportWorkloads({
            context: cloudContext(source.account, source.location, source.name),
            plan: workloads,
          }),
        (r) => `${r.report.objects} objects, ${Math.ceil(r.report.bytes / 1024)} KiB`,
      );
      migrated = exported.report;
      const context = created.context as string;
      await log.run(
        'import-workloads',
        `${plan.spec.name} (site ${plan.target.site})`,
        () => workloadActivities(plan.target.site).importWorkloads({ context, objects: exported.objects }),
        (r) => `${r.applied} objects applied`,
      );
    }

    phase = 'labelling';
    await tellRun('label');
    const cloneId = created.clusterId as string;
    await log.run('label', `cluster ${cloneId}`, () =>
      labelCluster({ clusterId: cloneId, labels: { [CLONED_FROM_LABEL]: plan.source.clusterId } }),
    );
    phase = 'succeeded';
    return progress();
  } catch (err) {
    const cancelled = isCancellation(err);
    error = failureMessage(err);
    if (clone.clusterId !== null) {
      phase = 'undoing';
      const at = { clusterId: clone.clusterId, site: clone.site, account: clone.account };
      await CancellationScope.nonCancellable(async () => {
        await tellRun('delete-clone');
        await undoLog
          .run(
            'delete-clone',
            `cluster ${at.clusterId} (${clone.name})`,
            () =>
              executeChild(deleteClusterWorkflow, {
                workflowId: `${workflowId}.undo`,
                args: [{ ...at, location: clone.location, name: clone.name }],
              }),
            () => 'deleted',
          )
          .catch(() => undefined);
      });
    }
    phase = cancelled ? 'cancelled' : 'failed';
    if (cancelled) throw err;
    const undone = undoLog.steps.map(
      (s) => `${s.step}: ${s.state === 'done' ? 'done' : `FAILED ${s.note ?? ''}`}`,
    );
    throw ApplicationFailure.create({
      type: failureType(err),
      message: undone.length > 0 ? `${error} (undone: ${undone.join('; ')})` : error,
      nonRetryable: true,
      details: [progress()],
    });
  }
}

// --- planning ------------------------------------------------------------------------------------

/** Said in every plan that takes Secrets: the one channel between two sites is the workflow. */
const SECRETS_IN_HISTORY = {
  field: 'workloads.includeSecrets',
  message:
    "Secrets are migrated: their values travel through this clone's workflow, encrypted, and stay in its Temporal history until the namespace's retention removes it, readable by whoever holds the payload keys (admins through /v1/codec); leave includeSecrets off and recreate Secrets on the clone from their source of truth unless that is acceptable",
};

const problem = (index: number, field: string, message: string, type: PlanProblem['type']): PlanProblem => ({
  field: `items.${index}.${field}`,
  message,
  type,
});

/** Runs `work` over the items, at most `limit` at a time, results in order. */
const mapLimited = async <T, R>(
  items: readonly T[],
  limit: number,
  work: (t: T, i: number) => Promise<R>,
) => {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
};

/**
 * The plan of every item (submitted plans are taken as they are) and everything that keeps a
 * plan from being executed: placeholders left, what the target's catalog refuses, names taken
 * in the target site or twice in this run, sources or accounts that do not exist.
 */
export const planClones = async (
  items: readonly CloneItem[],
): Promise<{ plans: (ClonePlan | null)[]; problems: PlanProblem[] }> => {
  const control = controlActivities();
  const catalogs = new Map<string, Promise<{ cloud: CloudName; catalog: Catalog }>>();
  /** One catalog per site, account and location for the whole run. */
  const catalog = (site: string, account: string, location?: string) => {
    const key = `${site}/${account}/${location ?? ''}`;
    let hit = catalogs.get(key);
    if (!hit) {
      hit = cloudActivities(site).cloudCatalog({ account, ...(location === undefined ? {} : { location }) });
      catalogs.set(key, hit);
    }
    return hit;
  };
  const problems: PlanProblem[] = [];

  const planOne = async (item: CloneItem, i: number): Promise<ClonePlan | null> => {
    if (item.plan) return item.plan;
    const { source, target } = item;
    const found = await cloudActivities(source.site).cloudDescribeCluster({
      account: source.account,
      location: source.location,
      name: source.name,
    });
    if (!found) {
      problems.push(
        problem(
          i,
          'source',
          `${source.cloud} cluster '${source.name}' no longer exists in ${source.location}`,
          'NotFound',
        ),
      );
      return null;
    }
    const sourceCatalog = (await catalog(source.site, source.account, source.location)).catalog;
    let everywhere;
    try {
      everywhere = await catalog(target.site, target.account);
    } catch (err) {
      if (failureType(err) !== ErrorType.NotFound) throw err;
      problems.push(problem(i, 'target.account', failureMessage(err), 'BadInput'));
      return null;
    }
    const where = chooseLocation(
      found,
      everywhere.cloud,
      everywhere.catalog.regions.map((r) => r.name),
      target.location,
    );
    const targetCatalog = (await catalog(target.site, target.account, where.location)).catalog;
    const translation = translateCluster({ source: found, sourceCatalog, targetCatalog, target });
    return {
      source: { ...source, version: found.version },
      target: { site: target.site, account: target.account, cloud: everywhere.cloud },
      spec: translation.spec,
      workloads: item.workloads ? planWorkloads(item.workloads, found.cloud, everywhere.cloud) : null,
      warnings: item.workloads?.includeSecrets
        ? [...translation.warnings, SECRETS_IN_HISTORY]
        : translation.warnings,
    };
  };

  const checkOne = async (plan: ClonePlan, i: number): Promise<void> => {
    for (const field of placeholdersIn(plan.spec, 'spec'))
      problems.push(problem(i, field, 'a value is required here: the plan holds a placeholder', 'BadInput'));
    let answer;
    try {
      answer = await catalog(plan.target.site, plan.target.account, plan.spec.location);
    } catch (err) {
      if (failureType(err) !== ErrorType.NotFound) throw err;
      problems.push(problem(i, 'target.account', failureMessage(err), 'BadInput'));
      return;
    }
    if (answer.cloud !== plan.target.cloud)
      problems.push(
        problem(
          i,
          'target.cloud',
          `account '${plan.target.account}' is ${answer.cloud}, not ${plan.target.cloud}`,
          'BadInput',
        ),
      );
    for (const p of checkClusterSpec(plan.spec, answer.catalog).problems) {
      // Placeholders are reported once, above.
      if (!placeholdersIn(plan.spec, 'spec').some((f) => f.startsWith(p.field)))
        problems.push(problem(i, p.field, p.message, p.type));
    }
    const taken = await control.checkClusterName({ site: plan.target.site, name: plan.spec.name });
    if (taken) problems.push(problem(i, 'spec.name', taken.message, 'Conflict'));
  };

  const plans = await mapLimited(items, 10, planOne);
  const seen = new Map<string, number>();
  plans.forEach((plan, i) => {
    if (!plan) return;
    const key = `${plan.target.site}/${plan.spec.name}`;
    const first = seen.get(key);
    if (first !== undefined)
      problems.push(
        problem(
          i,
          'spec.name',
          `clone ${first} is also named '${plan.spec.name}' in site ${plan.target.site}: give a nameSuffix or edit the plans`,
          'Conflict',
        ),
      );
    else seen.set(key, i);
  });
  await mapLimited(plans, 10, async (plan, i) => (plan ? checkOne(plan, i) : undefined));
  const indexOf = (p: PlanProblem) => Number(p.field.split('.')[1]);
  problems.sort((a, b) => indexOf(a) - indexOf(b) || (a.field < b.field ? -1 : a.field > b.field ? 1 : 0));
  return { plans, problems };
};
