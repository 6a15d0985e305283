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

export const TargetState = z.enum([
  'pending',
  'running',
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
