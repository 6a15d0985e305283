import type { Client } from '@temporalio/client';
import type { Db } from '../db/database.ts';
import { createDeployTargetStore } from '../db/deploy-targets.ts';
import {
  mergeShardProgress,
  planShards,
  type DeployProgress,
  type DeployTarget,
  type ShardProgress,
  type Strategy,
} from '../domain/deployments.ts';
import { CONTROL_TASK_QUEUE } from '../domain/task-queues.ts';
import type { BulkDeployInput } from '../workflows/bulk-deploy.ts';

export type DeployRunOptions = {
  /** Targets per shard (child workflow); at most 500. */
  shardSize: number;
  /** Continue-as-new threshold of a run's history, in events; tests set it low. */
  historyLimit?: number | undefined;
};

/**
 * Starts a deploy run: stores its planned targets (the run's workflows read them back by
 * position range, so no payload grows with the fleet), cuts the waves into shards and starts
 * the run's workflow.
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
    memo: Record<string, string>;
  },
): Promise<void> => {
  const doneBefore = run.doneBefore ?? new Map<string, string>();
  await createDeployTargetStore(deps.db).savePlan(run.runId, run.waves, doneBefore);
  const flat = run.waves.flat();
  const input: BulkDeployInput = {
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
  await deps.temporal.workflow.start('bulkDeployWorkflow', {
    taskQueue: CONTROL_TASK_QUEUE,
    workflowId: run.runId,
    args: [input],
    memo: run.memo,
  });
};

const isDeployProgress = (p: unknown): p is DeployProgress =>
  typeof p === 'object' && p !== null && 'shards' in p && 'counts' in p;

/**
 * A run's progress with the live targets of the shard at work folded in. The shard may close
 * between the two queries; then the run itself already holds its outcome.
 */
export const liveDeployProgress = async (
  client: Client,
  runId: string,
  progress: unknown,
): Promise<unknown> => {
  let current = progress;
  for (let attempt = 0; attempt < 2; attempt++) {
    if (!isDeployProgress(current) || !current.shards.active) return current;
    try {
      const shard = await client.workflow
        .getHandle(current.shards.active.workflowId)
        .query<ShardProgress>('progress');
      return mergeShardProgress(current, shard);
    } catch {
      current = await client.workflow.getHandle(runId).query<DeployProgress>('progress');
    }
  }
  return current;
};
