import {
  ActivityFailure,
  CancellationScope,
  condition,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.ts';
import type { SiteActivities } from '../activities/site/index.ts';
import {
  emptyCounts,
  FAILURES_KEPT,
  type DeployTarget,
  type ShardPlan,
  type ShardProgress,
  type TargetProgress,
  type TargetState,
} from '../domain/deployments.ts';
import { failureMessage } from '../domain/errors.ts';
import { SITE_LINK_PATCH, siteBatch, siteSteps } from './site-link.ts';

/**
 * One shard of a deploy run: a range of at most 500 targets in one wave. The run (its parent)
 * holds the protocol a person speaks to (pause, resume, rollback, concurrency) and passes each
 * decision down by signal; the shard tells the run when it had to stop at the failure budget.
 */
export type ShardInput = {
  runId: string;
  releaseId: string;
  plan: ShardPlan;
  /** `deploy` applies every pending target (after `retryFailed`, the failed ones too); `rollback` restores every touched one. */
  mode: 'deploy' | 'rollback';
  retryFailed: boolean;
  readiness: boolean;
  maxParallel: number;
  /** The run is paused: start nothing until resumed. */
  paused: boolean;
  /** Failures of the run's other shards, which count against the same budget. */
  failedElsewhere: number;
  allowed: number;
  /** Strategy `siteDeadlineSeconds`: how long a target may wait for its site; unset = forever. */
  siteDeadlineSeconds?: number;
};

export type ShardResult = {
  counts: Record<TargetState, number>;
  /** Failed targets by name, at most FAILURES_KEPT. */
  failures: TargetProgress[];
  /** Stopped early by the run (rollback requested or cancelled). */
  stopped: boolean;
  /** Resume decisions the shard applied; one that came while it was closing is the run's to apply. */
  resumes: number;
};

export type ShardControl =
  | { action: 'pause' }
  | { action: 'resume'; failed: 'retry' | 'skip'; failedElsewhere: number }
  | { action: 'concurrency'; maxParallel: number }
  | { action: 'stop' };

export const shardControlSignal = defineSignal<[ShardControl]>('shardControl');
export const shardProgressQuery = defineQuery<ShardProgress>('progress');
/** Sent by a shard to its run: it stopped at the failure budget and waits for a decision. */
export const shardPausedSignal = defineSignal<[{ shard: string; reason: string }]>('shardPaused');

const { loadDeployTargets, recordDeployOutcomes, publishRelease } = proxyActivities<ControlActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumInterval: '30 seconds' },
});

/** How a site runs one target's deploy or rollback. */
const DEPLOY_STEP = {
  startToCloseTimeout: '10 minutes',
  // The site activity heartbeats every 5 s: a dead sub-manager is noticed in 30 s, not 10 min.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 3 },
} as const;

/**
 * Targets per operation over the site link. A workflow may hold only so many Nexus
 * operations open (workflows/site-link.ts), and each crossing costs a few workflow tasks on
 * both sides, so a shard's targets at a site cross in batches; a batch's targets report back
 * together when its last one is done.
 */
const SITE_BATCH_SIZE = 25;

/**
 * Runs from before the site link: one activity per target, on the site's queue, whose id
 * names the target (`deploy:<target id>:<attempt>`).
 */
const siteActivities = (site: string, options: { key?: string; siteDeadlineSeconds?: number } = {}) =>
  siteSteps<SiteActivities>(site, {
    // Without a deadline an offline site's targets wait for it; with one, they fail after it
    // (a schedule-to-start timeout is never retried: the task would only queue again).
    ...(options.siteDeadlineSeconds === undefined
      ? {}
      : { scheduleToStartTimeout: options.siteDeadlineSeconds * 1000 }),
    ...(options.key === undefined ? {} : { key: options.key }),
    ...DEPLOY_STEP,
  });

/** A published copy is kept by its site for days; publish again after this, to be sure. */
const REPUBLISH_AFTER_MS = 24 * 60 * 60 * 1000;

type Target = TargetProgress & { ref: DeployTarget; position: number; appliedBy: string | null };

export async function deployShardWorkflow(input: ShardInput): Promise<ShardResult> {
  const { plan, runId } = input;
  let maxParallel = input.maxParallel;
  let paused = input.paused;
  let stopped = false;
  let failedElsewhere = input.failedElsewhere;
  /** Set once the shard records its outcome: from then on its targets' states are final. */
  let closing = false;
  let resumes = 0;

  const rows = await loadDeployTargets({ runId, from: plan.from, to: plan.to });
  const targets: Target[] = rows.map((r) => ({
    ref: r.target,
    position: r.position,
    appliedBy: r.appliedBy,
    id: r.target.id,
    name: r.target.name,
    site: r.target.site,
    wave: r.wave,
    state: r.doneBefore ? 'skipped' : input.retryFailed && r.state === 'failed' ? 'pending' : r.state,
    attempts: r.attempts,
    lastError: r.doneBefore ? 'finished by an earlier run' : r.lastError,
    changed: r.changed,
  }));

  const count = (state: TargetState) => targets.filter((t) => t.state === state).length;
  const counts = () => {
    const c = emptyCounts();
    for (const t of targets) c[t.state]++;
    return c;
  };
  const strip = ({ ref: _ref, position: _position, appliedBy: _appliedBy, ...t }: Target): TargetProgress =>
    t;
  setHandler(shardProgressQuery, () => ({
    wave: plan.wave,
    index: plan.index,
    plan,
    counts: counts(),
    targets: targets.map(strip),
  }));
  setHandler(shardControlSignal, (control) => {
    switch (control.action) {
      case 'pause':
        paused = true;
        break;
      case 'resume':
        if (closing) break;
        resumes++;
        for (const t of targets) {
          if (t.state === 'failed') t.state = control.failed === 'retry' ? 'pending' : 'skipped';
        }
        failedElsewhere = control.failedElsewhere;
        paused = false;
        break;
      case 'concurrency':
        maxParallel = control.maxParallel;
        break;
      case 'stop':
        stopped = true;
        break;
    }
  });

  const parent = workflowInfo().parent;
  const stopForBudget = async () => {
    if (paused) return;
    paused = true;
    const failed = failedElsewhere + count('failed');
    if (parent) {
      await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(shardPausedSignal, {
        shard: workflowInfo().workflowId,
        reason: `failure budget exceeded: ${failed} failed, ${input.allowed} allowed`,
      });
    }
  };
  const overBudget = () => failedElsewhere + count('failed') > input.allowed;

  /** The release's content, published into each site's namespace before the site needs it. */
  const published = new Map<string, { at: number; done: Promise<void> }>();
  const publishedTo = (site: string): Promise<void> => {
    const hit = published.get(site);
    if (hit && Date.now() - hit.at < REPUBLISH_AFTER_MS) return hit.done;
    const done = publishRelease({ releaseId: input.releaseId, site });
    published.set(site, { at: Date.now(), done });
    // A failed publish is tried again by the next target of that site.
    done.catch(() => published.delete(site));
    return done;
  };

  /** Work in flight, and how many targets it holds (a batch holds several). */
  const running = new Set<Promise<void>>();
  let busy = 0;
  const track = (work: Promise<void>, size: number) => {
    busy += size;
    const p = work.finally(() => {
      running.delete(p);
      busy -= size;
    });
    running.add(p);
  };

  const deployInput = (t: Target) => ({
    target: t.ref,
    releaseId: input.releaseId,
    runId,
    // A target an earlier run touched keeps that run's snapshot: the state before it all.
    ...(t.appliedBy === null ? {} : { snapshotRunId: t.appliedBy }),
    readiness: input.readiness,
  });
  const failedToReach = (err: unknown, site: string): string =>
    siteUnreachable(err) && input.siteDeadlineSeconds !== undefined
      ? `site ${site} unreachable for ${input.siteDeadlineSeconds} s: no sub-manager picked the target up`
      : failureMessage(err);
  const CANCELLED_MID_APPLY = 'cancelled while being applied: the cluster may hold part of the release';
  const NO_OUTCOME = 'the site gave no outcome for this target';

  /**
   * Over the site link: a batch of one site's targets in one operation. Its targets wait until
   * the site takes the batch, then run there; each comes back with its own outcome.
   */
  const deployBatch = async (site: string, batch: Target[]) => {
    const since = new Date().toISOString();
    for (const t of batch) {
      t.attempts++;
      t.state = 'waiting';
      t.waitingSince = since;
    }
    const first = batch[0] as Target;
    try {
      await publishedTo(site);
      const { outcomes } = await siteBatch(site, 'deployRelease', batch.map(deployInput), {
        ...DEPLOY_STEP,
        ...(input.siteDeadlineSeconds === undefined
          ? {}
          : { scheduleToStartTimeout: input.siteDeadlineSeconds * 1000 }),
        key: deployActivityId(first.id, first.attempts),
        maxParallel: batch.length,
        onStarted: () => {
          for (const t of batch) {
            t.state = 'running';
            delete t.waitingSince;
          }
        },
      });
      batch.forEach((t, i) => {
        const outcome = outcomes[i];
        delete t.waitingSince;
        if (outcome?.ok) {
          t.state = 'succeeded';
          t.changed = (outcome.result as { changed: number }).changed;
          t.lastError = null;
        } else {
          t.state = 'failed';
          t.lastError = outcome ? outcome.error : NO_OUTCOME;
        }
      });
    } catch (err) {
      for (const t of batch) {
        delete t.waitingSince;
        t.state = isCancellation(err) ? 'pending' : 'failed';
        t.lastError = isCancellation(err) ? CANCELLED_MID_APPLY : failedToReach(err, site);
      }
      if (isCancellation(err)) throw err;
    }
    if (overBudget()) await stopForBudget();
  };

  /** Runs from before the site link: one activity per target on the site's queue. */
  const deployOne = async (t: Target) => {
    t.state = 'running';
    t.attempts++;
    try {
      const result = await siteActivities(t.site, {
        key: deployActivityId(t.id, t.attempts),
        ...(input.siteDeadlineSeconds === undefined
          ? {}
          : { siteDeadlineSeconds: input.siteDeadlineSeconds }),
      }).deployRelease(deployInput(t));
      t.state = 'succeeded';
      t.changed = result.changed;
      t.lastError = null;
    } catch (err) {
      if (isCancellation(err)) {
        t.state = 'pending';
        t.lastError = CANCELLED_MID_APPLY;
        throw err;
      }
      t.state = 'failed';
      t.lastError = failedToReach(err, t.site);
      if (overBudget()) await stopForBudget();
    }
  };

  const rollbackInput = (t: Target) => ({ target: t.ref, runId: t.appliedBy ?? runId });
  /** A rollback that cannot finish is reported, not hidden; the run stays visible. */
  const rolledBack = (t: Target, error: string | null) => {
    t.state = error === null ? 'rolled-back' : 'failed';
    t.lastError = error === null ? null : `rollback failed: ${error}`;
  };
  // A target an earlier run applied is restored from that run's snapshot.
  const rollbackBatch = async (site: string, batch: Target[]) => {
    for (const t of batch) t.state = 'rolling-back';
    try {
      const { outcomes } = await siteBatch(site, 'rollbackRelease', batch.map(rollbackInput), {
        ...DEPLOY_STEP,
        maxParallel: batch.length,
      });
      batch.forEach((t, i) => {
        const outcome = outcomes[i];
        rolledBack(t, outcome?.ok ? null : (outcome?.error ?? NO_OUTCOME));
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      for (const t of batch) rolledBack(t, failureMessage(err));
    }
  };
  const rollbackOne = async (t: Target) => {
    t.state = 'rolling-back';
    try {
      await siteActivities(t.site).rollbackRelease(rollbackInput(t));
      rolledBack(t, null);
    } catch (err) {
      if (isCancellation(err)) throw err;
      rolledBack(t, failureMessage(err));
    }
  };

  /** Starts work on these targets: in batches per site over the link, one by one before it. */
  const dispatch = (
    picked: Target[],
    batched: (site: string, batch: Target[]) => Promise<void>,
    one: (t: Target) => Promise<void>,
  ) => {
    if (!patched(SITE_LINK_PATCH)) {
      for (const t of picked) track(one(t), 1);
      return;
    }
    const bySite = new Map<string, Target[]>();
    for (const t of picked) bySite.set(t.site, [...(bySite.get(t.site) ?? []), t]);
    for (const [site, group] of bySite) {
      for (let i = 0; i < group.length; i += SITE_BATCH_SIZE) {
        const batch = group.slice(i, i + SITE_BATCH_SIZE);
        track(batched(site, batch), batch.length);
      }
    }
  };

  const deployAll = async () => {
    for (;;) {
      await condition(() => stopped || !paused);
      if (stopped) return;
      const pending = targets.filter((t) => t.state === 'pending');
      if (pending.length === 0 && running.size === 0) {
        // Failures within budget finish the shard; beyond it, wait for a decision.
        if (!overBudget()) return;
        await stopForBudget();
        continue;
      }
      dispatch(pending.slice(0, Math.max(0, maxParallel - busy)), deployBatch, deployOne);
      // Wake on any finished work or any decision.
      await Promise.race([...running, condition(() => stopped || paused)]);
    }
  };

  const rollbackAll = async () => {
    // Later targets first: the reverse of the order they were applied in.
    const queue = targets
      .filter((t) => (t.attempts > 0 || t.appliedBy !== null) && t.state !== 'rolled-back')
      .reverse();
    while (queue.length > 0 || running.size > 0) {
      if (queue.length > 0 && busy < maxParallel) {
        dispatch(queue.splice(0, maxParallel - busy), rollbackBatch, rollbackOne);
      }
      if (running.size > 0) await Promise.race(running);
    }
  };

  const finish = async (): Promise<ShardResult> => {
    await condition(() => running.size === 0);
    closing = true;
    await recordDeployOutcomes({
      runId,
      outcomes: targets.map((t) => ({
        position: t.position,
        state: t.state,
        attempts: t.attempts,
        lastError: t.lastError,
        changed: t.changed,
      })),
    });
    return {
      counts: counts(),
      failures: targets
        .filter((t) => t.state === 'failed')
        .slice(0, FAILURES_KEPT)
        .map(strip),
      stopped,
      resumes,
    };
  };

  try {
    if (input.mode === 'rollback') await rollbackAll();
    else await deployAll();
    return await finish();
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled: start nothing new; let in-flight targets settle so the record is true.
    stopped = true;
    return await CancellationScope.nonCancellable(async () => {
      await Promise.allSettled(running);
      return finish();
    });
  }
}

/** The deploy activity's id for a target's n-th attempt; the API parses it back. */
export const deployActivityId = (targetId: string, attempt: number): string =>
  `deploy:${targetId}:${attempt}`;

/** The site's queue held the target past the deadline: no sub-manager took it. */
const siteUnreachable = (err: unknown): boolean =>
  err instanceof ActivityFailure &&
  err.cause instanceof TimeoutFailure &&
  err.cause.timeoutType === 'SCHEDULE_TO_START';

export { failureMessage };

/** Counts of a shard that has not run: its planned targets, pending or skipped. */
export const plannedCounts = (plan: ShardPlan): Record<TargetState, number> => {
  const c = emptyCounts();
  c.pending = plan.to - plan.from - plan.skipped;
  c.skipped = plan.skipped;
  return c;
};
