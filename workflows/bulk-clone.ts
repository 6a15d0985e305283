import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  defineUpdate,
  executeChild,
  isCancellation,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import {
  cloneToMake,
  MAX_CLONES_PER_RUN,
  type BulkCloneInput,
  type ClonePhase,
  type ClonePlan,
  type ClonePlanning,
  type CloneRunProgress,
  type CloneTargetProgress,
  type PlanProblem,
} from '../domain/clones.ts';
import { allowedFailures, emptyCounts, type WaveProgress } from '../domain/deployments.ts';
import type { MigrationReport } from '../domain/workload-migration.ts';
import { ErrorType } from '../domain/errors.ts';
import { failureMessage } from './cloud-steps.ts';
import {
  cloneClusterWorkflow,
  cloneStepSignal,
  planClones,
  type CloneClusterProgress,
} from './clone-cluster.ts';
import { deleteClusterWorkflow } from './delete-cluster.ts';

/**
 * A clone run: one or many clusters cloned to a target account, each a child workflow
 * (clone-cluster.ts), in waves, at most `maxParallel` at a time, with a failure budget. It
 * speaks the run control protocol of deploy runs (progress query; pause, resume, rollback and
 * setConcurrency updates), so the runs API drives both alike.
 *
 * First every clone is planned (or a submitted plan checked); the `plan` update answers with
 * the plans, which the API waits for. A dry run ends there; a plan with problems ends the run
 * `rejected` with nothing made. Past the budget the run pauses for a person: resume retries
 * the failed clones (each failed one has already deleted what it made) or skips them;
 * rollback deletes every clone the run made, through the delete-cluster workflow — never a
 * source, which a clone run only ever reads.
 */

export const progressQuery = defineQuery<CloneRunProgress>('progress');
/** Resolves once every clone is planned: the API's dry-run answer and its 400s. */
export const planUpdate = defineUpdate<ClonePlanning>('plan');
export const pauseUpdate = defineUpdate<CloneRunProgress>('pause');
export const resumeUpdate = defineUpdate<CloneRunProgress, [{ failed: 'retry' | 'skip' }]>('resume');
export const rollbackUpdate = defineUpdate<CloneRunProgress>('rollback');
export const setConcurrencyUpdate = defineUpdate<CloneRunProgress, [{ maxParallel: number }]>(
  'setConcurrency',
);

const MAX_PARALLEL = 50;
/** Notes per clone the run keeps: the clone's own run has them all, and 200 clones must fit a query. */
const NOTES_IN_RUN = 3;

const brief = (report: MigrationReport | null): MigrationReport | null =>
  report && {
    ...report,
    notes: report.notes.slice(0, NOTES_IN_RUN),
    notesOmitted: report.notesOmitted + Math.max(0, report.notes.length - NOTES_IN_RUN),
  };
const TERMINAL: ClonePhase[] = ['rejected', 'planned', 'succeeded', 'rolled-back', 'cancelled'];

export async function bulkCloneWorkflow(input: BulkCloneInput): Promise<CloneRunProgress> {
  const { strategy } = input;
  const { workflowId } = workflowInfo();
  // Children are named by the run's key, under a kind of their own (not a controlled run).
  const runKey = workflowId.slice(workflowId.indexOf(':') + 1);
  const items = input.items.slice(0, MAX_CLONES_PER_RUN);

  let phase: ClonePhase = 'planning';
  let pausedReason: string | null = null;
  let maxParallel = strategy.maxParallel;
  let rollbackRequested = false;
  let planning: ClonePlanning | undefined;
  let plans: (ClonePlan | null)[] = items.map((i) => i.plan);
  let problems: PlanProblem[] = [];
  let error: string | null = null;
  /** Bumped by every decision, so the scheduler wakes to act on it. */
  let decisions = 0;
  const allowed = allowedFailures(strategy.failureBudget, items.length);
  const targets: CloneTargetProgress[] = items.map((item) => ({
    id: item.source.clusterId,
    name: item.source.name,
    site: item.source.site,
    wave: item.wave,
    state: 'pending',
    attempts: 0,
    lastError: null,
    step: null,
    clone: null,
    migrated: null,
    runId: null,
    warnings: item.plan?.warnings.length ?? 0,
  }));
  const waveCount = targets.reduce((n, t) => Math.max(n, t.wave + 1), 0);
  const running = new Set<Promise<void>>();

  const count = (state: CloneTargetProgress['state']) => targets.filter((t) => t.state === state).length;
  const progress = (): CloneRunProgress => {
    const counts = emptyCounts();
    for (const t of targets) counts[t.state]++;
    const waves: WaveProgress[] = Array.from({ length: waveCount }, (_, index) => {
      const of = targets.filter((t) => t.wave === index);
      const n = (s: CloneTargetProgress['state'][]) => of.filter((t) => s.includes(t.state)).length;
      return {
        index,
        total: of.length,
        succeeded: n(['succeeded']),
        failed: n(['failed']),
        running: n(['running', 'rolling-back']),
        pending: n(['pending']),
        skipped: n(['skipped']),
        rolledBack: n(['rolled-back']),
      };
    });
    const active = targets.find((t) => t.state === 'pending' || t.state === 'running');
    return {
      kind: 'clone',
      phase,
      pausedReason,
      currentWave: active?.wave ?? Math.max(0, waveCount - 1),
      waves,
      counts,
      failureBudget: { allowed, used: counts.failed },
      maxParallel,
      targets: targets.map((t) => ({ ...t })),
      problems,
      ...(input.dryRun || phase === 'rejected' ? { plans } : {}),
      error,
    };
  };

  const refuse = (type: string, message: string) => ApplicationFailure.create({ type, message });
  setHandler(progressQuery, progress);
  setHandler(planUpdate, async () => {
    await condition(() => planning !== undefined);
    return planning as ClonePlanning;
  });
  setHandler(cloneStepSignal, ({ sourceId, step }) => {
    const t = targets.find((x) => x.id === sourceId);
    if (t && (t.state === 'running' || t.state === 'rolling-back')) t.step = step;
  });
  setHandler(
    pauseUpdate,
    async () => {
      phase = 'paused';
      pausedReason = 'paused by request';
      decisions++;
      return progress();
    },
    {
      validator: () => {
        if (phase !== 'running') throw refuse(ErrorType.InvalidState, `cannot pause a run that is ${phase}`);
      },
    },
  );
  setHandler(
    resumeUpdate,
    async ({ failed }) => {
      for (const t of targets) if (t.state === 'failed') t.state = failed === 'retry' ? 'pending' : 'skipped';
      phase = 'running';
      pausedReason = null;
      decisions++;
      return progress();
    },
    {
      validator: (arg: { failed?: unknown } | undefined) => {
        if (phase !== 'paused') throw refuse(ErrorType.InvalidState, `cannot resume a run that is ${phase}`);
        if (arg?.failed !== 'retry' && arg?.failed !== 'skip')
          throw refuse(ErrorType.BadInput, "failed must be 'retry' or 'skip'");
      },
    },
  );
  setHandler(
    rollbackUpdate,
    async () => {
      rollbackRequested = true;
      decisions++;
      return progress();
    },
    {
      validator: () => {
        if (
          rollbackRequested ||
          ['planning', 'rolling-back', 'rejected', 'planned', 'rolled-back', 'cancelled'].includes(phase)
        )
          throw refuse(ErrorType.InvalidState, `cannot roll back a run that is ${phase}`);
      },
    },
  );
  setHandler(
    setConcurrencyUpdate,
    async ({ maxParallel: n }) => {
      maxParallel = n;
      decisions++;
      return progress();
    },
    {
      validator: (arg: { maxParallel?: unknown } | undefined) => {
        const n = arg?.maxParallel;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_PARALLEL)
          throw refuse(ErrorType.BadInput, `maxParallel must be a whole number from 1 to ${MAX_PARALLEL}`);
        if (TERMINAL.includes(phase)) throw refuse(ErrorType.InvalidState, `the run is ${phase}`);
      },
    },
  );

  const overBudget = () => count('failed') > allowed;
  const pauseFor = (reason: string) => {
    if (phase !== 'running') return;
    phase = 'paused';
    pausedReason = reason;
  };

  /** One clone, as a child workflow; a failure is the target's, never the run's. */
  const cloneOne = async (index: number) => {
    const t = targets[index] as CloneTargetProgress;
    const plan = plans[index] as ClonePlan;
    // A clone an earlier attempt could not undo is still there: rollback must keep finding it.
    const leftover = t.clone?.clusterId ? t.clone : null;
    t.state = 'running';
    t.attempts++;
    t.step = 'create';
    t.lastError = null;
    t.runId = `clone-cluster:${runKey}.${index + 1}.${t.attempts}`;
    t.clone = cloneToMake(plan);
    try {
      const handle = await startChild(cloneClusterWorkflow, { workflowId: t.runId, args: [{ plan }] });
      const result = await handle.result();
      t.state = 'succeeded';
      t.step = null;
      t.clone = result.clone;
      t.migrated = brief(result.migrated);
    } catch (err) {
      if (isCancellation(err)) {
        t.state = 'failed';
        t.lastError = 'cancelled';
        if (leftover) t.clone = leftover;
        throw err;
      }
      t.state = 'failed';
      t.lastError = failureMessage(err);
      // The clone deleted what it made; its last known state says so.
      const details = (err as { cause?: { details?: unknown[] } }).cause?.details;
      const last = details?.[0] as CloneClusterProgress | undefined;
      if (last?.migrated) t.migrated = brief(last.migrated);
      // A clone whose own undo did not finish is still there: rollback must find it.
      const undone = last?.undone.some((s) => s.step === 'delete-clone' && s.state === 'done') ?? false;
      if (last?.clone.clusterId && !undone) t.clone = last.clone;
      else if (leftover) t.clone = leftover;
      if (overBudget()) pauseFor(`failure budget exceeded: ${count('failed')} failed, ${allowed} allowed`);
    }
  };

  let pausedAfterWave = -1;
  const cloneAll = async () => {
    let lastWave = -1;
    for (;;) {
      await condition(() => rollbackRequested || phase === 'running');
      if (rollbackRequested) return;
      const open = targets.filter((t) => t.state === 'pending' || t.state === 'running');
      if (open.length === 0) {
        if (!overBudget()) return;
        pauseFor(`failure budget exceeded: ${count('failed')} failed, ${allowed} allowed`);
        continue;
      }
      // A wave starts once the waves before it have nothing pending or running.
      const wave = Math.min(...open.map((t) => t.wave));
      if (
        strategy.betweenWaves === 'pause' &&
        wave > lastWave &&
        lastWave >= 0 &&
        pausedAfterWave < lastWave &&
        running.size === 0
      ) {
        pausedAfterWave = lastWave;
        pauseFor(`wave ${lastWave + 1} of ${waveCount} done; resume to start wave ${wave + 1}`);
        continue;
      }
      lastWave = wave;
      const startable = targets
        .map((t, i) => ({ t, i }))
        .filter(({ t }) => t.state === 'pending' && t.wave === wave)
        .slice(0, Math.max(0, maxParallel - running.size));
      for (const { i } of startable) {
        const p = cloneOne(i).finally(() => running.delete(p));
        running.add(p);
      }
      const seen = decisions;
      // Wake on a finished clone or on any decision.
      await Promise.race([...running, condition(() => decisions !== seen)]);
    }
  };

  /** Deletes the clones the run made, the last made first, never anything else. */
  const rollBack = async () => {
    phase = 'rolling-back';
    pausedReason = null;
    await condition(() => running.size === 0);
    const queue = targets
      .map((t, i) => ({ t, i }))
      .filter(({ t }) => (t.state === 'succeeded' || t.state === 'failed') && t.clone?.clusterId)
      .reverse();
    const rollbackOne = async ({ t, i }: { t: CloneTargetProgress; i: number }) => {
      const made = t.clone;
      if (!made?.clusterId || made.clusterId === t.id) return;
      const before = t.state;
      t.state = 'rolling-back';
      t.step = 'delete-clone';
      try {
        await executeChild(deleteClusterWorkflow, {
          workflowId: `clone-cluster:${runKey}.${i + 1}.rollback`,
          args: [
            {
              clusterId: made.clusterId,
              site: made.site,
              account: made.account,
              location: made.location,
              name: made.name,
            },
          ],
        });
        t.state = 'rolled-back';
        t.step = null;
        t.lastError = null;
      } catch (err) {
        if (isCancellation(err)) throw err;
        t.state = before === 'succeeded' ? 'failed' : before;
        t.lastError = `rollback failed: ${failureMessage(err)}`;
      }
    };
    const lanes = new Set<Promise<void>>();
    for (const entry of queue) {
      while (lanes.size >= maxParallel) await Promise.race(lanes);
      const p = rollbackOne(entry).finally(() => lanes.delete(p));
      lanes.add(p);
    }
    await Promise.all(lanes);
    // A clone never started was never made: nothing to roll back.
    for (const t of targets) if (t.state === 'pending') t.state = 'skipped';
    phase = 'rolled-back';
  };

  try {
    try {
      const planned = await planClones(items);
      plans = planned.plans;
      problems = planned.problems;
      targets.forEach((t, i) => (t.warnings = plans[i]?.warnings.length ?? 0));
    } catch (err) {
      error = failureMessage(err);
      planning = { ok: false, plans, problems, error };
      if (isCancellation(err)) throw err;
      phase = 'rejected';
      await condition(allHandlersFinished);
      throw ApplicationFailure.create({
        type: ErrorType.Unavailable,
        message: `planning failed: ${error}`,
        nonRetryable: true,
        details: [progress()],
      });
    }
    planning = { ok: problems.length === 0, plans, problems, error: null };
    // A dry run's plans are for editing: its problems are what to fill in.
    if (input.dryRun) {
      phase = 'planned';
      await condition(allHandlersFinished);
      return progress();
    }
    if (problems.length > 0) {
      phase = 'rejected';
      await condition(allHandlersFinished);
      const type = problems.some((p) => p.type === 'Conflict') ? ErrorType.Conflict : ErrorType.BadInput;
      throw ApplicationFailure.create({
        type,
        message: problems.map((p) => `${p.field}: ${p.message}`).join('; '),
        nonRetryable: true,
        details: [progress()],
      });
    }

    phase = 'running';
    await cloneAll();
    if (!rollbackRequested) {
      phase = 'succeeded';
      // Stay open for a while: "delete those clones again" is most often said just after.
      await condition(() => rollbackRequested, strategy.rollbackWindowSeconds * 1000);
    }
    if (rollbackRequested) await rollBack();
    await condition(allHandlersFinished);
    return progress();
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled: nothing new starts; each running clone undoes itself; wait until they have.
    await CancellationScope.nonCancellable(() => condition(() => running.size === 0));
    phase = 'cancelled';
    return progress();
  }
}
