import {
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  defineUpdate,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.ts';
import type { SiteActivities } from '../activities/site/index.ts';
import {
  allowedFailures,
  planWaves,
  type DeployTarget,
  type RunPhase,
  type Strategy,
  type TargetState,
} from '../domain/deployments.ts';
import { ErrorType } from '../domain/errors.ts';
import { siteTaskQueue } from '../domain/task-queues.ts';

export type BulkDeployInput = {
  releaseId: string;
  targets: DeployTarget[];
  strategy: Strategy;
  /** Cluster ids a predecessor run finished: never applied again. */
  alreadyDone?: string[];
};

export type TargetProgress = {
  id: string;
  name: string;
  site: string;
  wave: number;
  state: TargetState;
  attempts: number;
  lastError: string | null;
  changed: number | null;
};

export type DeployProgress = {
  phase: RunPhase;
  pausedReason: string | null;
  releaseId: string;
  currentWave: number;
  waves: {
    index: number;
    total: number;
    succeeded: number;
    failed: number;
    running: number;
    pending: number;
    skipped: number;
    rolledBack: number;
  }[];
  counts: Record<TargetState, number>;
  failureBudget: { allowed: number; used: number };
  maxParallel: number;
  targets: TargetProgress[];
};

export const progressQuery = defineQuery<DeployProgress>('progress');
export const pauseUpdate = defineUpdate<DeployProgress>('pause');
export const resumeUpdate = defineUpdate<DeployProgress, [{ failed: 'retry' | 'skip' }]>('resume');
export const rollbackUpdate = defineUpdate<DeployProgress>('rollback');
export const setConcurrencyUpdate = defineUpdate<DeployProgress, [{ maxParallel: number }]>('setConcurrency');

const { ensureReleaseServed } = proxyActivities<ControlActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumInterval: '30 seconds' },
});

/** Per site, so each cluster's work runs in the site that holds its credentials. */
const siteActivities = (site: string) =>
  proxyActivities<SiteActivities>({
    taskQueue: siteTaskQueue(site),
    // No schedule-to-start timeout: an offline site's targets wait for it.
    startToCloseTimeout: '10 minutes',
    // The site activity heartbeats every 5 s: a dead sub-manager is noticed in 30 s, not 10 min.
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 3 },
  });

/**
 * Rolls a release out to many clusters in waves, at most `maxParallel` at a time. When failures
 * exceed the budget the run pauses and waits for a person: resume (retry or skip the failed)
 * or roll back (every touched cluster back to its snapshot, waves in reverse). It never fails
 * on its own for a target's failure.
 */
export async function bulkDeployWorkflow(input: BulkDeployInput): Promise<DeployProgress> {
  const { strategy } = input;
  const done = new Set(input.alreadyDone ?? []);
  const waves = planWaves(input.targets, strategy.waves);
  const targets = new Map<string, TargetProgress & { ref: DeployTarget }>();
  waves.forEach((wave, index) =>
    wave.forEach((ref) =>
      targets.set(ref.id, {
        ref,
        id: ref.id,
        name: ref.name,
        site: ref.site,
        wave: index,
        state: done.has(ref.id) ? 'skipped' : 'pending',
        attempts: 0,
        lastError: done.has(ref.id) ? 'finished by an earlier run' : null,
        changed: null,
      }),
    ),
  );
  let phase: RunPhase = 'running';
  let pausedReason: string | null = null;
  let currentWave = 0;
  let maxParallel = strategy.maxParallel;
  let rollbackRequested = false;
  const allowed = allowedFailures(strategy.failureBudget, targets.size);

  const all = () => [...targets.values()];
  const count = (state: TargetState, list = all()) => list.filter((t) => t.state === state).length;
  const progress = (): DeployProgress => ({
    phase,
    pausedReason,
    releaseId: input.releaseId,
    currentWave,
    waves: waves.map((_, index) => {
      const list = all().filter((t) => t.wave === index);
      return {
        index,
        total: list.length,
        succeeded: count('succeeded', list),
        failed: count('failed', list),
        running: count('running', list) + count('rolling-back', list),
        pending: count('pending', list),
        skipped: count('skipped', list),
        rolledBack: count('rolled-back', list),
      };
    }),
    counts: Object.fromEntries(
      (['pending', 'running', 'succeeded', 'failed', 'skipped', 'rolling-back', 'rolled-back'] as const).map(
        (s) => [s, count(s)],
      ),
    ) as Record<TargetState, number>,
    failureBudget: { allowed, used: count('failed') },
    maxParallel,
    targets: all().map(({ ref: _ref, ...t }) => t),
  });

  setHandler(progressQuery, progress);
  setHandler(
    pauseUpdate,
    () => {
      phase = 'paused';
      pausedReason = 'paused by request';
      return progress();
    },
    {
      validator: () => {
        if (phase !== 'running')
          throw ApplicationFailure.create({
            type: ErrorType.InvalidState,
            message: `cannot pause a run that is ${phase}`,
          });
      },
    },
  );
  setHandler(
    resumeUpdate,
    ({ failed }) => {
      for (const t of all()) {
        if (t.state === 'failed') t.state = failed === 'retry' ? 'pending' : 'skipped';
      }
      phase = 'running';
      pausedReason = null;
      return progress();
    },
    {
      validator: (arg: { failed?: unknown } | undefined) => {
        if (phase !== 'paused')
          throw ApplicationFailure.create({
            type: ErrorType.InvalidState,
            message: `cannot resume a run that is ${phase}`,
          });
        if (arg?.failed !== 'retry' && arg?.failed !== 'skip') {
          throw ApplicationFailure.create({
            type: ErrorType.BadInput,
            message: "failed must be 'retry' or 'skip'",
          });
        }
      },
    },
  );
  setHandler(
    rollbackUpdate,
    () => {
      rollbackRequested = true;
      return progress();
    },
    {
      validator: () => {
        if (phase === 'rolling-back' || phase === 'rolled-back' || phase === 'cancelled') {
          throw ApplicationFailure.create({
            type: ErrorType.InvalidState,
            message: `cannot roll back a run that is ${phase}`,
          });
        }
      },
    },
  );
  setHandler(
    setConcurrencyUpdate,
    ({ maxParallel: n }) => {
      maxParallel = n;
      return progress();
    },
    {
      validator: (arg: { maxParallel?: unknown } | undefined) => {
        const n = arg?.maxParallel;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 500) {
          throw ApplicationFailure.create({
            type: ErrorType.BadInput,
            message: 'maxParallel must be a whole number from 1 to 500',
          });
        }
        if (TERMINAL_PHASES.includes(phase))
          throw ApplicationFailure.create({ type: ErrorType.InvalidState, message: `the run is ${phase}` });
      },
    },
  );

  const running = new Set<Promise<void>>();
  const deployOne = async (t: TargetProgress & { ref: DeployTarget }) => {
    t.state = 'running';
    t.attempts++;
    try {
      const result = await siteActivities(t.site).deployRelease({
        target: t.ref,
        releaseId: input.releaseId,
        runId: workflowInfo().workflowId,
        readiness: strategy.readiness,
      });
      t.state = 'succeeded';
      t.changed = result.changed;
      t.lastError = null;
    } catch (err) {
      if (isCancellation(err)) throw err;
      t.state = 'failed';
      t.lastError = failureMessage(err);
      if (count('failed') > allowed && phase === 'running') {
        phase = 'paused';
        pausedReason = `failure budget exceeded: ${count('failed')} failed, ${allowed} allowed`;
      }
    }
  };

  const rollBack = async () => {
    await condition(() => running.size === 0);
    phase = 'rolling-back';
    pausedReason = null;
    for (let w = waves.length - 1; w >= 0; w--) {
      currentWave = w;
      const touched = all().filter((t) => t.wave === w && t.attempts > 0 && t.state !== 'rolled-back');
      const queue = [...touched].reverse();
      const inFlight = new Set<Promise<void>>();
      while (queue.length > 0 || inFlight.size > 0) {
        while (queue.length > 0 && inFlight.size < maxParallel) {
          const t = queue.shift();
          if (!t) break;
          t.state = 'rolling-back';
          const p = siteActivities(t.site)
            .rollbackRelease({ target: t.ref, runId: workflowInfo().workflowId })
            .then(
              () => {
                t.state = 'rolled-back';
              },
              (err: unknown) => {
                // A rollback that cannot finish is reported, not hidden; the run stays visible.
                t.state = 'failed';
                t.lastError = `rollback failed: ${failureMessage(err)}`;
              },
            )
            .finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
        if (inFlight.size > 0) await Promise.race(inFlight);
      }
    }
    phase = 'rolled-back';
  };

  try {
    await ensureReleaseServed({ releaseId: input.releaseId });
    for (let w = 0; w < waves.length && !rollbackRequested; w++) {
      currentWave = w;
      const wave = all().filter((t) => t.wave === w);
      for (;;) {
        await condition(() => rollbackRequested || phase === 'running');
        if (rollbackRequested) break;
        const pending = wave.filter((t) => t.state === 'pending');
        const active = wave.filter((t) => t.state === 'running').length;
        if (pending.length === 0 && active === 0) {
          // Failures within budget finish the wave; beyond it, wait for a decision.
          if (count('failed') > allowed) {
            phase = 'paused';
            pausedReason ??= `failure budget exceeded: ${count('failed')} failed, ${allowed} allowed`;
            continue;
          }
          break;
        }
        for (const t of pending.slice(0, Math.max(0, maxParallel - running.size))) {
          const p = deployOne(t).finally(() => running.delete(p));
          running.add(p);
        }
        // Wake on any finished target or any decision.
        await Promise.race([...running, condition(() => rollbackRequested || phase !== 'running')]);
      }
      if (!rollbackRequested && strategy.betweenWaves === 'pause' && w < waves.length - 1) {
        phase = 'paused';
        pausedReason = `wave ${w + 1} of ${waves.length} done; resume to start wave ${w + 2}`;
        await condition(() => rollbackRequested || phase === 'running');
      }
    }
    if (!rollbackRequested) {
      phase = 'succeeded';
      // Stay open for a while: "roll it back" is most often said just after a rollout.
      await condition(() => rollbackRequested, strategy.rollbackWindowSeconds * 1000);
    }
    if (rollbackRequested) await rollBack();
    return progress();
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled: start nothing new; let in-flight targets settle so the record is true.
    await CancellationScope.nonCancellable(async () => {
      await Promise.allSettled(running);
    });
    phase = 'cancelled';
    return progress();
  }
}

const TERMINAL_PHASES: RunPhase[] = ['succeeded', 'rolled-back', 'cancelled'];

const failureMessage = (err: unknown): string => {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.message && !parts.includes(e.message)) parts.push(e.message);
  }
  return parts.join(': ') || String(err);
};
