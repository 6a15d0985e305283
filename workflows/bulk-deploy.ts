import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  isCancellation,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.ts';
import {
  allowedFailures,
  emptyCounts,
  TARGET_STATES,
  type DeployProgress,
  type RunPhase,
  type ShardPlan,
  type Strategy,
  type TargetProgress,
  type TargetState,
} from '../domain/deployments.ts';
import { ErrorType } from '../domain/errors.ts';
import {
  deployShardWorkflow,
  plannedCounts,
  shardControlSignal,
  shardPausedSignal,
  type ShardControl,
  type ShardResult,
} from './deploy-shard.ts';

export type { DeployProgress, TargetProgress } from '../domain/deployments.ts';

/**
 * A deploy run. The API stores the run's targets in wave order and hands the run only their
 * shards (position ranges); each shard is a child workflow that loads its targets itself. So
 * no payload grows with the fleet, at most `maxParallel` (≤ 500) activities are in flight in
 * any one workflow, and the run continues as new before its own history grows long.
 */
export type BulkDeployInput = {
  releaseId: string;
  strategy: Strategy;
  shards: ShardPlan[];
  total: number;
  /** Continue as new past this many history events (Temporal's own suggestion counts too). */
  historyLimit?: number;
  /** The state a run carries into its next execution when it continues as new. */
  carried?: Carried;
};

type ShardState = {
  /** Absent until the shard first ran. */
  counts: Record<TargetState, number> | null;
  failures: TargetProgress[];
};

type Carried = {
  phase: RunPhase;
  pausedReason: string | null;
  maxParallel: number;
  rollbackRequested: boolean;
  /** The next shard to deploy for the first time. */
  next: number;
  /** Finished shards whose failed targets are to be tried again. */
  retry: number[];
  /** The last wave the run paused after (betweenWaves: pause). */
  pausedAfterWave: number;
  shards: ShardState[];
  /** Shards are rolled back from the last; where that has got to. */
  rollbackNext: number | null;
  childSeq: number;
};

export const progressQuery = defineQuery<DeployProgress>('progress');
export const pauseUpdate = defineUpdate<DeployProgress>('pause');
export const resumeUpdate = defineUpdate<DeployProgress, [{ failed: 'retry' | 'skip' }]>('resume');
export const rollbackUpdate = defineUpdate<DeployProgress>('rollback');
export const setConcurrencyUpdate = defineUpdate<DeployProgress, [{ maxParallel: number }]>('setConcurrency');

const { ensureReleaseServed, skipFailedTargets } = proxyActivities<ControlActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumInterval: '30 seconds' },
});

const DEFAULT_HISTORY_LIMIT = 10_000;

/**
 * Rolls a release out to many clusters in waves, at most `maxParallel` at a time. When failures
 * exceed the budget the run pauses and waits for a person: resume (retry or skip the failed)
 * or roll back (every touched cluster back to its snapshot, waves in reverse). It never fails
 * on its own for a target's failure.
 */
export async function bulkDeployWorkflow(input: BulkDeployInput): Promise<DeployProgress> {
  const { strategy, shards } = input;
  const state: Carried = input.carried ?? {
    phase: 'running',
    pausedReason: null,
    maxParallel: strategy.maxParallel,
    rollbackRequested: false,
    next: 0,
    retry: [],
    pausedAfterWave: -1,
    shards: shards.map(() => ({ counts: null, failures: [] })),
    rollbackNext: null,
    childSeq: 0,
  };
  const allowed = allowedFailures(strategy.failureBudget, input.total);
  const waveCount = shards.reduce((n, s) => Math.max(n, s.wave + 1), 0);
  let active: {
    index: number;
    handle: ChildWorkflowHandle<typeof deployShardWorkflow>;
    /** Resume decisions sent to this shard (with the last one's choice), to tell whether it applied them all. */
    resumes: number;
    lastResume: 'retry' | 'skip' | null;
  } | null = null;

  const countsOf = (i: number) => state.shards[i]?.counts ?? plannedCounts(shards[i] as ShardPlan);
  const failedExcept = (except: number) =>
    state.shards.reduce((n, s, i) => (i === except ? n : n + (s.counts?.failed ?? 0)), 0);
  const currentWave = () => shards[active?.index ?? Math.min(state.next, shards.length - 1)]?.wave ?? 0;

  const progress = (): DeployProgress => {
    const counts = emptyCounts();
    const waves = Array.from({ length: waveCount }, (_, index) => ({
      index,
      total: 0,
      succeeded: 0,
      failed: 0,
      running: 0,
      pending: 0,
      skipped: 0,
      rolledBack: 0,
    }));
    shards.forEach((plan, i) => {
      // The shard at work counts as planned here; the API folds its live view in.
      const c = active?.index === i ? plannedCounts(plan) : countsOf(i);
      const w = waves[plan.wave];
      for (const s of TARGET_STATES) counts[s] += c[s];
      if (w) {
        w.total += plan.to - plan.from;
        w.succeeded += c.succeeded;
        w.failed += c.failed;
        w.running += c.running + c['rolling-back'];
        w.pending += c.pending;
        w.skipped += c.skipped;
        w.rolledBack += c['rolled-back'];
      }
    });
    return {
      phase: state.phase,
      pausedReason: state.pausedReason,
      releaseId: input.releaseId,
      currentWave: currentWave(),
      waves,
      counts,
      failureBudget: { allowed, used: counts.failed },
      maxParallel: state.maxParallel,
      targets: state.shards.flatMap((s, i) => (active?.index === i ? [] : s.failures)),
      shards: {
        total: shards.length,
        finished: state.shards.filter((s, i) => s.counts !== null && active?.index !== i).length,
        active: active
          ? {
              workflowId: active.handle.workflowId,
              wave: shards[active.index]?.wave ?? 0,
              index: shards[active.index]?.index ?? 0,
            }
          : null,
      },
    };
  };

  /** Tells the shard at work; one that has just ended learns it from its successor's input. */
  const tellActive = async (control: ShardControl) => {
    const current = active;
    if (!current) return;
    try {
      await current.handle.signal(shardControlSignal, control);
    } catch {
      // The shard closed between the decision and the signal: nothing is left to tell it.
    }
  };

  /** Retries (queues again) or skips the failures of finished shards; the stored record says so too. */
  const settleFailures = async (indexes: number[], failed: 'retry' | 'skip') => {
    const skippedRanges: { from: number; to: number }[] = [];
    for (const i of indexes) {
      const s = state.shards[i];
      if (!s?.counts || s.counts.failed === 0) continue;
      if (failed === 'retry') {
        if (!state.retry.includes(i)) state.retry.push(i);
        s.counts = { ...s.counts, pending: s.counts.pending + s.counts.failed, failed: 0 };
      } else {
        s.counts = { ...s.counts, skipped: s.counts.skipped + s.counts.failed, failed: 0 };
        skippedRanges.push({ from: shards[i]?.from ?? 0, to: shards[i]?.to ?? 0 });
      }
      s.failures = [];
    }
    if (skippedRanges.length > 0)
      await skipFailedTargets({ runId: workflowInfo().workflowId, ranges: skippedRanges });
  };

  const refuse = (type: string, message: string) => ApplicationFailure.create({ type, message });
  setHandler(progressQuery, progress);
  setHandler(shardPausedSignal, ({ reason }) => {
    if (state.phase !== 'running') return;
    state.phase = 'paused';
    state.pausedReason = reason;
  });
  setHandler(
    pauseUpdate,
    async () => {
      state.phase = 'paused';
      state.pausedReason = 'paused by request';
      await tellActive({ action: 'pause' });
      return progress();
    },
    {
      validator: () => {
        if (state.phase !== 'running' || state.rollbackRequested)
          throw refuse(
            ErrorType.InvalidState,
            `cannot pause a run that is ${state.rollbackRequested ? 'rolling-back' : state.phase}`,
          );
      },
    },
  );
  setHandler(
    resumeUpdate,
    async ({ failed }) => {
      // Every failure of a finished shard is retried or skipped now; the shard at work does
      // the same with its own (or, if it was already closing, runShard does it for it).
      const current = active;
      if (current) {
        current.resumes++;
        current.lastResume = failed;
      }
      await settleFailures(
        state.shards.map((_, i) => i).filter((i) => i !== current?.index),
        failed,
      );
      // A rollback accepted while the record was written has already taken the run over.
      if (state.rollbackRequested) {
        if (current) current.lastResume = null;
        return progress();
      }
      state.phase = 'running';
      state.pausedReason = null;
      if (current) {
        try {
          await current.handle.signal(shardControlSignal, { action: 'resume', failed, failedElsewhere: 0 });
        } catch {
          // The shard closed meanwhile: runShard settles its failures.
        }
      }
      return progress();
    },
    {
      validator: (arg: { failed?: unknown } | undefined) => {
        if (state.phase !== 'paused' || state.rollbackRequested)
          throw refuse(
            ErrorType.InvalidState,
            `cannot resume a run that is ${state.rollbackRequested ? 'rolling-back' : state.phase}`,
          );
        if (arg?.failed !== 'retry' && arg?.failed !== 'skip')
          throw refuse(ErrorType.BadInput, "failed must be 'retry' or 'skip'");
      },
    },
  );
  setHandler(
    rollbackUpdate,
    async () => {
      state.rollbackRequested = true;
      await tellActive({ action: 'stop' });
      return progress();
    },
    {
      validator: () => {
        if (['rolling-back', 'rolled-back', 'cancelled'].includes(state.phase) || state.rollbackRequested)
          throw refuse(ErrorType.InvalidState, `cannot roll back a run that is ${state.phase}`);
      },
    },
  );
  setHandler(
    setConcurrencyUpdate,
    async ({ maxParallel: n }) => {
      state.maxParallel = n;
      await tellActive({ action: 'concurrency', maxParallel: n });
      return progress();
    },
    {
      validator: (arg: { maxParallel?: unknown } | undefined) => {
        const n = arg?.maxParallel;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 500)
          throw refuse(ErrorType.BadInput, 'maxParallel must be a whole number from 1 to 500');
        if (TERMINAL_PHASES.includes(state.phase))
          throw refuse(ErrorType.InvalidState, `the run is ${state.phase}`);
      },
    },
  );

  /** Runs one shard as a child and folds its outcome into the run. */
  const runShard = async (index: number, mode: 'deploy' | 'rollback', retryFailed: boolean) => {
    const plan = shards[index] as ShardPlan;
    const { workflowId } = workflowInfo();
    const handle = await startChild(deployShardWorkflow, {
      workflowId: `${workflowId}.w${plan.wave + 1}s${plan.index + 1}.${mode}.${++state.childSeq}`,
      args: [
        {
          runId: workflowId,
          releaseId: input.releaseId,
          plan,
          mode,
          retryFailed,
          readiness: strategy.readiness,
          maxParallel: state.maxParallel,
          paused: mode === 'deploy' && state.phase === 'paused',
          failedElsewhere: failedExcept(index),
          allowed,
          ...(strategy.siteDeadlineSeconds === undefined
            ? {}
            : { siteDeadlineSeconds: strategy.siteDeadlineSeconds }),
        },
      ],
    });
    const entry = { index, handle, resumes: 0, lastResume: null as 'retry' | 'skip' | null };
    active = entry;
    let result: ShardResult;
    try {
      result = await handle.result();
    } finally {
      active = null;
    }
    const shard = state.shards[index] as ShardState;
    shard.counts = result.counts;
    shard.failures = result.failures;
    // A resume that reached the shard only as it closed: its failures are settled here.
    if (mode === 'deploy' && entry.lastResume && result.resumes < entry.resumes)
      await settleFailures([index], entry.lastResume);
  };

  const continueIfLong = async () => {
    const info = workflowInfo();
    if (!info.continueAsNewSuggested && info.historyLength < (input.historyLimit ?? DEFAULT_HISTORY_LIMIT))
      return;
    await condition(allHandlersFinished);
    await continueAsNew<typeof bulkDeployWorkflow>({ ...input, carried: state });
  };

  const deploy = async () => {
    while (!state.rollbackRequested) {
      await condition(() => state.rollbackRequested || state.phase === 'running');
      if (state.rollbackRequested) return;
      await continueIfLong();
      const retry = state.retry.shift();
      if (retry !== undefined) {
        await runShard(retry, 'deploy', true);
        continue;
      }
      const plan = shards[state.next];
      if (!plan) return;
      const previousWave = state.next > 0 ? (shards[state.next - 1]?.wave ?? 0) : plan.wave;
      if (
        strategy.betweenWaves === 'pause' &&
        plan.wave > previousWave &&
        state.pausedAfterWave < previousWave
      ) {
        state.pausedAfterWave = previousWave;
        state.phase = 'paused';
        state.pausedReason = `wave ${previousWave + 1} of ${waveCount} done; resume to start wave ${plan.wave + 1}`;
        continue;
      }
      await runShard(state.next, 'deploy', false);
      state.next++;
    }
  };

  const rollBack = async () => {
    state.phase = 'rolling-back';
    state.pausedReason = null;
    state.rollbackNext ??= shards.length - 1;
    for (; state.rollbackNext >= 0; state.rollbackNext--) {
      await continueIfLong();
      const shard = state.shards[state.rollbackNext];
      if (shard?.counts) await runShard(state.rollbackNext, 'rollback', false);
    }
    state.phase = 'rolled-back';
  };

  try {
    if (state.phase === 'rolling-back') {
      await rollBack();
      return progress();
    }
    await ensureReleaseServed({ releaseId: input.releaseId });
    await deploy();
    if (!state.rollbackRequested) {
      state.phase = 'succeeded';
      // Stay open for a while: "roll it back" is most often said just after a rollout.
      await condition(() => state.rollbackRequested, strategy.rollbackWindowSeconds * 1000);
    }
    if (state.rollbackRequested) await rollBack();
    return progress();
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled: the shard at work was told and has settled; start nothing new.
    await CancellationScope.nonCancellable(() => condition(() => active === null));
    state.phase = 'cancelled';
    return progress();
  }
}

const TERMINAL_PHASES: RunPhase[] = ['succeeded', 'rolled-back', 'cancelled'];
