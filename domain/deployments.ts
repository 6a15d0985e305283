import { z } from 'zod';
import { ClusterRef, TargetSpec } from './clusters.ts';
import { matches, parseSelector } from './selectors.ts';

/**
 * Bulk deployment strategy and the pure planning behind it: which clusters go in which wave,
 * and when failures exhaust the budget. Workflow-safe.
 */

/** A wave is either the clusters matching a selector or a share of those not yet placed. */
export const WaveSpec = z.union([
  z.object({ selector: z.string().max(4096) }).strict(),
  z.object({ percent: z.number().gt(0).lte(100) }).strict(),
  z.object({ count: z.number().int().positive() }).strict(),
]);
export type WaveSpec = z.infer<typeof WaveSpec>;

export const FailureBudget = z.union([
  z.object({ count: z.number().int().min(0) }).strict(),
  z.object({ percent: z.number().min(0).max(100) }).strict(),
]);
export type FailureBudget = z.infer<typeof FailureBudget>;

export const Strategy = z.object({
  /** Default: one canary cluster, then everything else. */
  waves: z
    .array(WaveSpec)
    .min(1)
    .max(50)
    .default([{ count: 1 }, { percent: 100 }]),
  maxParallel: z.number().int().min(1).max(500).default(10),
  failureBudget: FailureBudget.default({ count: 0 }),
  /** `none`: go on; `pause`: stop after each wave until resumed; `approval` is the same but named for gates. */
  betweenWaves: z.enum(['none', 'pause']).default('none'),
  /** Off for clusters without controllers (readiness never comes). */
  readiness: z.boolean().default(false),
  /** A finished rollout stays open this long so it can still be rolled back. */
  rollbackWindowSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600)
    .default(3600),
  /**
   * How long a target may wait for its site's sub-manager to pick it up (the site is offline or
   * its link is down) before it counts as failed against the budget. Unset: it waits forever.
   */
  siteDeadlineSeconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 24 * 3600)
    .optional(),
});
export type Strategy = z.infer<typeof Strategy>;

export const DeploymentRequest = z.object({
  releaseId: z.string().regex(/^rel-[0-9a-f]{20}$/, 'must be a release id (rel-…)'),
  placement: TargetSpec,
  strategy: Strategy.default({
    waves: [{ count: 1 }, { percent: 100 }],
    maxParallel: 10,
    failureBudget: { count: 0 },
    betweenWaves: 'none',
    readiness: false,
    rollbackWindowSeconds: 3600,
  }),
  dryRun: z.boolean().default(false),
});
export type DeploymentRequest = z.infer<typeof DeploymentRequest>;

/** A target as the deploy workflow carries it: a reference plus the labels overrides select on. */
export const DeployTarget = ClusterRef.extend({ labels: z.record(z.string(), z.string()) });
export type DeployTarget = z.infer<typeof DeployTarget>;

/**
 * Splits the (already sorted) targets into waves, in order. A selector wave takes the
 * not-yet-placed clusters it matches; a percent wave takes that share of ALL targets (rounded
 * up, at least one) from those not yet placed; a count wave takes that many. Whatever remains
 * after the last wave joins it, so no target is ever left out. Empty waves are dropped.
 */
export const planWaves = <T extends { labels: Record<string, string> }>(
  targets: readonly T[],
  waves: readonly WaveSpec[],
): T[][] => {
  let remaining = [...targets];
  const planned: T[][] = [];
  waves.forEach((wave, i) => {
    let take: T[];
    if ('selector' in wave) {
      const selector = parseSelector(wave.selector);
      take = remaining.filter((t) => matches(selector, t.labels));
    } else {
      const n = 'count' in wave ? wave.count : Math.max(1, Math.ceil((targets.length * wave.percent) / 100));
      take = remaining.slice(0, n);
    }
    const taken = new Set(take);
    remaining = remaining.filter((t) => !taken.has(t));
    if (i === waves.length - 1) take = [...take, ...remaining];
    if (take.length > 0) planned.push(take);
  });
  return planned;
};

/** How many failures the run tolerates before it pauses for a decision. */
export const allowedFailures = (budget: FailureBudget, total: number): number =>
  'count' in budget ? budget.count : Math.floor((total * budget.percent) / 100);

/**
 * `waiting` appears only in live views (the API's): the target's work is queued on its site
 * but no sub-manager has picked it up (the site is offline or cut off). Workflows and the
 * database know it as `running`.
 */
export const TargetState = z.enum([
  'pending',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'skipped',
  'rolling-back',
  'rolled-back',
]);
export type TargetState = z.infer<typeof TargetState>;

export const RunPhase = z.enum([
  'running',
  'paused',
  'rolling-back',
  'rolled-back',
  'succeeded',
  'cancelled',
]);
export type RunPhase = z.infer<typeof RunPhase>;

/** One target's progress as a run reports it. */
export type TargetProgress = {
  id: string;
  name: string;
  site: string;
  wave: number;
  state: TargetState;
  attempts: number;
  lastError: string | null;
  changed: number | null;
  /** With state `waiting`: since when its site's queue holds it unclaimed. */
  waitingSince?: string;
};

export type WaveProgress = {
  index: number;
  total: number;
  succeeded: number;
  failed: number;
  running: number;
  pending: number;
  skipped: number;
  rolledBack: number;
};

/** What a deploy run's progress query (and its result) says. */
export type DeployProgress = {
  phase: RunPhase;
  pausedReason: string | null;
  releaseId: string;
  currentWave: number;
  waves: WaveProgress[];
  counts: Record<TargetState, number>;
  failureBudget: { allowed: number; used: number };
  maxParallel: number;
  /**
   * The targets of the shard at work (live) and every failed target of the others (up to
   * FAILURES_KEPT per shard); the whole list is GET /v1/runs/{id}/targets.
   */
  targets: TargetProgress[];
  shards: { total: number; finished: number; active: ActiveShard | null };
};

/** The shard a run is working on, whose own progress query holds its targets' live states. */
export type ActiveShard = { workflowId: string; wave: number; index: number };

/**
 * A contiguous range of a run's targets (positions `from` to `to`, exclusive) within one
 * wave, worked by one child workflow: at most SHARD_SIZE targets, so at most that many
 * activities are in flight per workflow and each history stays far from Temporal's limits.
 */
export type ShardPlan = { wave: number; index: number; from: number; to: number; skipped: number };

/** Temporal advises at most ~500 activities in flight per workflow. */
export const MAX_SHARD_SIZE = 500;
/** Failed targets a shard reports to its run by name (the rest are counted). */
export const FAILURES_KEPT = 100;

/** Every target state, in the order counts list them. */
export const TARGET_STATES = TargetState.options;

export const emptyCounts = (): Record<TargetState, number> =>
  Object.fromEntries(TARGET_STATES.map((s) => [s, 0])) as Record<TargetState, number>;

/**
 * Cuts planned waves into shards of at most `shardSize` targets. Positions count across
 * waves in wave order, as the API stores the targets. `doneBefore` marks targets a
 * predecessor finished, so each shard knows how many it will skip.
 */
export const planShards = (
  waveSizes: readonly number[],
  shardSize: number,
  isDoneBefore: (position: number) => boolean = () => false,
): ShardPlan[] => {
  if (!Number.isInteger(shardSize) || shardSize < 1 || shardSize > MAX_SHARD_SIZE) {
    throw new Error(`shard size must be a whole number from 1 to ${MAX_SHARD_SIZE}, got ${shardSize}`);
  }
  const shards: ShardPlan[] = [];
  let position = 0;
  waveSizes.forEach((size, wave) => {
    for (let index = 0, from = position; from < position + size; index++, from += shardSize) {
      const to = Math.min(from + shardSize, position + size);
      let skipped = 0;
      for (let p = from; p < to; p++) if (isDoneBefore(p)) skipped++;
      shards.push({ wave, index, from, to, skipped });
    }
    position += size;
  });
  return shards;
};

/** A shard's own live view: what its progress query answers. */
export type ShardProgress = {
  wave: number;
  index: number;
  /** The shard's plan, which the run counts as pending (and skipped) while it works. */
  plan: ShardPlan;
  counts: Record<TargetState, number>;
  targets: TargetProgress[];
};

const waveKey: Record<TargetState, keyof WaveProgress | null> = {
  pending: 'pending',
  running: 'running',
  waiting: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  skipped: 'skipped',
  'rolling-back': 'running',
  'rolled-back': 'rolledBack',
};

/**
 * The run's view with the active shard's live counts and targets folded in. The run counts
 * a shard at work as all pending until it ends; this replaces that with what the shard says.
 */
export const mergeShardProgress = (run: DeployProgress, shard: ShardProgress): DeployProgress => {
  const counts = { ...run.counts };
  const waves = run.waves.map((w) => ({ ...w }));
  const wave = waves[shard.wave];
  const { from, to, skipped } = shard.plan;
  counts.pending -= to - from - skipped;
  counts.skipped -= skipped;
  if (wave) {
    wave.pending -= to - from - skipped;
    wave.skipped -= skipped;
  }
  for (const s of TARGET_STATES) {
    counts[s] += shard.counts[s];
    const key = waveKey[s];
    if (wave && key) wave[key] += shard.counts[s];
  }
  return {
    ...run,
    counts,
    waves,
    failureBudget: { ...run.failureBudget, used: counts.failed },
    targets: [...run.targets, ...shard.targets],
  };
};
