import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import type { Db } from '../db/database.ts';
import { prepareDeployRun, type DeployRunOptions } from '../activities/control/deploy-plans.ts';
import {
  mergeShardProgress,
  type DeployProgress,
  type DeployTarget,
  type ShardPlan,
  type ShardProgress,
  type Strategy,
} from '../domain/deployments.ts';
import type { PendingStep } from '../domain/runs.ts';
import { CONTROL_TASK_QUEUE } from '../domain/task-queues.ts';
import type { BulkDeployInput } from '../workflows/bulk-deploy.ts';
import { pendingActivities } from './temporal-views.ts';

export type { DeployRunOptions };

/**
 * Starts a deploy run: stores its plan (see prepareDeployRun) and starts the run's workflow.
 */
export const startDeployRun = async (
  deps: { db: Db; temporal: Client },
  options: DeployRunOptions,
  run: {
    runId: string;
    releaseId: string;
    strategy: Strategy;
    waves: DeployTarget[][];
    /** Targets an earlier run finished, each with that run's id. */
    doneBefore?: ReadonlyMap<string, string>;
    /** Targets an earlier run started but did not finish, each with that run's id. */
    snapshotRuns?: ReadonlyMap<string, string>;
    memo: Record<string, string>;
  },
): Promise<void> => {
  const input: BulkDeployInput = await prepareDeployRun(deps.db, options, run);
  await deps.temporal.workflow.start('bulkDeployWorkflow', {
    taskQueue: CONTROL_TASK_QUEUE,
    workflowId: run.runId,
    args: [input],
    memo: run.memo,
  });
};

const isDeployProgress = (p: unknown): p is DeployProgress =>
  typeof p === 'object' && p !== null && 'shards' in p && 'counts' in p;

const DEPLOY_ACTIVITY_ID = /^deploy:(.+):\d+$/;

/**
 * Marks the targets whose deploy activity sits unclaimed on their site's queue as `waiting`,
 * since the moment it was queued, and names each of the shard's pending steps by its target.
 * Only Temporal knows whether a worker has picked a task up, so this reads the shard's
 * pending activities; the shard itself sees such a target as running.
 */
const markWaiting = (
  progress: DeployProgress,
  shard: WorkflowExecutionDescription,
): { progress: DeployProgress; pending: PendingStep[] } => {
  const byId = new Map(progress.targets.map((t) => [t.id, t]));
  const waitingSince = new Map<string, string>();
  const pending: PendingStep[] = pendingActivities(shard).map(({ activityId, claimable, ...step }) => {
    const id = DEPLOY_ACTIVITY_ID.exec(activityId)?.[1];
    const target = id === undefined ? undefined : byId.get(id);
    if (id !== undefined && claimable && step.since) waitingSince.set(id, step.since);
    return target ? { ...step, target: target.name } : step;
  });
  // Over the site link the shard itself knows which targets wait for their site and which run
  // there; each is a step of the shard (legacy shards named theirs by activity, above).
  const named = new Set(pending.map((p) => p.target));
  for (const t of progress.targets) {
    if (named.has(t.name) || !['waiting', 'running', 'rolling-back'].includes(t.state)) continue;
    pending.push({
      activity: t.state === 'rolling-back' ? 'rollbackRelease' : 'deployRelease',
      state: t.state === 'waiting' ? 'waiting' : 'running',
      attempt: t.attempts,
      since: t.waitingSince ?? null,
      lastFailure: null,
      target: t.name,
    });
  }
  if (waitingSince.size === 0) return { progress, pending };
  const counts = { ...progress.counts };
  const targets = progress.targets.map((t) => {
    const since = waitingSince.get(t.id);
    if (t.state !== 'running' || since === undefined) return t;
    counts.running--;
    counts.waiting++;
    return { ...t, state: 'waiting' as const, waitingSince: since };
  });
  return { progress: { ...progress, counts, targets }, pending };
};

/**
 * A run's progress with the live targets of the shard at work folded in, and the shard's
 * pending steps. The shard may close between the queries; then the run itself already holds
 * its outcome.
 */
export const liveDeployView = async (
  client: Client,
  runId: string,
  progress: unknown,
): Promise<{ progress: unknown; pending: PendingStep[]; activeShard: ShardPlan | null }> => {
  let current = progress;
  for (let attempt = 0; attempt < 2; attempt++) {
    if (!isDeployProgress(current) || !current.shards.active)
      return { progress: current, pending: [], activeShard: null };
    try {
      const handle = client.workflow.getHandle(current.shards.active.workflowId);
      const [shard, description] = await Promise.all([
        handle.query<ShardProgress>('progress'),
        handle.describe(),
      ]);
      return { ...markWaiting(mergeShardProgress(current, shard), description), activeShard: shard.plan };
    } catch {
      current = await client.workflow.getHandle(runId).query<DeployProgress>('progress');
    }
  }
  return { progress: current, pending: [], activeShard: null };
};

export const liveDeployProgress = async (
  client: Client,
  runId: string,
  progress: unknown,
): Promise<unknown> => (await liveDeployView(client, runId, progress)).progress;
