import { createClusterStore } from '../../db/clusters.ts';
import type { Db } from '../../db/database.ts';
import { createDeployTargetStore } from '../../db/deploy-targets.ts';
import { createMaintenanceStore } from '../../db/maintenance.ts';
import { createReleaseStore } from '../../db/releases.ts';
import {
  MAX_SHARD_SIZE,
  planShards,
  planWaves,
  type DeployTarget,
  type DeploymentRequest,
  type Strategy,
} from '../../domain/deployments.ts';
import { DroverError, ErrorType } from '../../domain/errors.ts';
import { selectorFrom, type Selector } from '../../domain/selectors.ts';
import type { BulkDeployInput } from '../../workflows/bulk-deploy.ts';
import { classified } from '../errors.ts';

/**
 * Planning a deploy run, shared by POST /v1/deployments and the runs a schedule starts: the
 * release must exist, the placement is resolved into targets (with the labels overrides select
 * on) and cut into waves; the plan is stored, and the run's workflow gets only its shards.
 */

export type DeployRunOptions = {
  /** Targets per shard (child workflow); at most 500. */
  shardSize: number;
  /** Continue-as-new threshold of a run's history, in events; tests set it low. */
  historyLimit?: number | undefined;
};

/** Runs shard into child workflows of 500 targets, so this bounds only the planner's own work. */
export const MAX_DEPLOY_TARGETS = 20_000;

/**
 * Checks what a deployment request names without resolving its placement: the release exists
 * and every selector parses. Errors name the field under `prefix` (`body` for the API's
 * request, `action.deployment` for a schedule's).
 */
export const checkDeploymentRequest = async (
  db: Db,
  request: Pick<DeploymentRequest, 'releaseId' | 'placement' | 'strategy'>,
  prefix: string,
): Promise<Selector | undefined> => {
  try {
    await createReleaseStore(db).get(request.releaseId);
  } catch (err) {
    if (err instanceof DroverError && err.type === ErrorType.NotFound) {
      throw new DroverError(ErrorType.NotFound, err.message, { field: `${prefix}.releaseId` });
    }
    throw err;
  }
  request.strategy.waves.forEach((w, i) => {
    if ('selector' in w) selectorFrom(w.selector, `${prefix}.strategy.waves.${i}.selector`);
  });
  return selectorFrom(request.placement.selector, `${prefix}.placement.selector`);
};

/** Checks a deployment request (see checkDeploymentRequest) and resolves its waves. */
export const planDeployment = async (
  db: Db,
  request: Pick<DeploymentRequest, 'releaseId' | 'placement' | 'strategy'>,
  prefix: string,
): Promise<{ count: number; waves: DeployTarget[][] }> => {
  const selector = await checkDeploymentRequest(db, request, prefix);
  const targets = await createClusterStore(db).placementWithLabels({
    clusterIds: request.placement.clusterIds,
    selector,
    sites: request.placement.sites,
  });
  if (targets.length === 0) {
    throw new DroverError(ErrorType.BadInput, 'the placement selects no cluster', {
      field: `${prefix}.placement`,
    });
  }
  if (targets.length > MAX_DEPLOY_TARGETS) {
    throw new DroverError(
      ErrorType.BadInput,
      `the placement selects ${targets.length} clusters; at most ${MAX_DEPLOY_TARGETS.toLocaleString('en')} per deployment`,
      { field: `${prefix}.placement` },
    );
  }
  return { count: targets.length, waves: planWaves(targets, request.strategy.waves) };
};

type PlannedRun = {
  releaseId: string;
  strategy: Strategy;
  waves: DeployTarget[][];
  /** Targets an earlier run finished, each with that run's id. */
  doneBefore?: ReadonlyMap<string, string> | undefined;
  /** Targets an earlier run started but did not finish, each with that run's id (its snapshot). */
  snapshotRuns?: ReadonlyMap<string, string> | undefined;
};

/** The run workflow's input: its waves cut into shards (position ranges of the stored plan). */
export const bulkDeployInput = (options: DeployRunOptions, run: PlannedRun): BulkDeployInput => {
  const doneBefore = run.doneBefore ?? new Map<string, string>();
  const flat = run.waves.flat();
  return {
    releaseId: run.releaseId,
    strategy: run.strategy,
    shards: planShards(
      run.waves.map((w) => w.length),
      options.shardSize,
      (position) => doneBefore.has(flat[position]?.id ?? ''),
    ),
    total: flat.length,
    ...(options.historyLimit === undefined ? {} : { historyLimit: options.historyLimit }),
  };
};

/**
 * Stores a run's planned targets (its workflows read them back by position range, so no
 * payload grows with the fleet) and which release it rolls out; returns the workflow's input.
 */
export const prepareDeployRun = async (
  db: Db,
  options: DeployRunOptions,
  run: PlannedRun & { runId: string },
): Promise<BulkDeployInput> => {
  await createDeployTargetStore(db).savePlan(
    run.runId,
    run.waves,
    run.doneBefore ?? new Map<string, string>(),
    run.snapshotRuns,
  );
  await createMaintenanceStore(db).recordRunReleases([{ runId: run.runId, releaseId: run.releaseId }]);
  return bulkDeployInput(options, run);
};

/** The control activity behind scheduled rollouts (workflows/scheduled-deploy.ts). */
export const createDeployPlanActivities = ({
  db,
  deployRuns = { shardSize: MAX_SHARD_SIZE },
}: {
  db: Db;
  deployRuns?: DeployRunOptions | undefined;
}) =>
  classified({
    /**
     * Plans a rollout as POST /v1/deployments would, for the run `runId`, and stores its plan.
     * Safe to retry: a plan already stored for the run is read back, not planned again.
     */
    async planDeployRun(input: {
      runId: string;
      deployment: Pick<DeploymentRequest, 'releaseId' | 'placement' | 'strategy'>;
    }): Promise<BulkDeployInput> {
      const { releaseId, strategy } = input.deployment;
      const stored = await createDeployTargetStore(db).plan(input.runId);
      if (stored.length > 0) {
        const waves: DeployTarget[][] = [];
        for (const row of stored) (waves[row.wave] ??= []).push(row.target);
        return bulkDeployInput(deployRuns, { releaseId, strategy, waves });
      }
      const { waves } = await planDeployment(db, input.deployment, 'action.deployment');
      return prepareDeployRun(db, deployRuns, { runId: input.runId, releaseId, strategy, waves });
    },
  });

export type DeployPlanActivities = ReturnType<typeof createDeployPlanActivities>;
