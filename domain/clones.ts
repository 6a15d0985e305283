import { z } from 'zod';
import { AccountName, CloudClusterName, ClusterSpecRequest } from './cluster-specs.ts';
import {
  FailureBudget,
  WaveSpec,
  type RunPhase,
  type TargetProgress,
  type TargetState,
  type WaveProgress,
} from './deployments.ts';
import { parseSelector, SelectorParseError, Labels } from './selectors.ts';
import { SiteName } from './sites.ts';
import { WorkloadPlan, WorkloadRequest, type MigrationReport } from './workload-migration.ts';
import type { PlanWarning } from './clone-plan.ts';

/**
 * Clone runs as the API and the CLI see them: the request schemas of `POST /v1/clones` and
 * `POST /v1/clones:bulk`, the plan a dry run returns (and a person may edit and submit), and
 * the progress a clone run reports. Workflow-safe.
 */

/** The inventory label a clone carries: the id of the cluster it was cloned from. */
export const CLONED_FROM_LABEL = 'drover.io/cloned-from';

/** Clones one run makes at most (each is a child workflow and its plan rides in history). */
export const MAX_CLONES_PER_RUN = 200;

export const CloudNameSchema = z.enum(['eks', 'gke', 'aks']);

/** A label selector, checked with Kubernetes' grammar. */
const Selector = z
  .string()
  .min(1)
  .max(4096)
  .superRefine((s, ctx) => {
    try {
      parseSelector(s);
    } catch (err) {
      if (!(err instanceof SelectorParseError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  });

const ExtrasSchema = ClusterSpecRequest.shape.extras;

/** Where a clone goes and what only the user can say about it. */
export const CloneTargetRequest = z
  .object({
    site: SiteName,
    account: AccountName,
    /** Default: the source region's counterpart (curated table); a GKE zone makes a zonal cluster. */
    location: z.string().min(1).max(63).optional(),
    /** Default: the source's name, made valid for every cloud, plus `nameSuffix`. */
    name: CloudClusterName.optional(),
    nameSuffix: z
      .string()
      .max(20)
      .regex(/^[-a-z0-9]*$/, 'lowercase letters, digits and dashes')
      .optional(),
    /** What the target cloud needs and a source cannot say (EKS roles and subnets, …). */
    extras: ExtrasSchema.optional(),
    /** Added to the clone's cloud labels. */
    labels: Labels.optional(),
  })
  .strict();
export type CloneTargetRequest = z.infer<typeof CloneTargetRequest>;

/** A source cluster as the inventory knows it (resolved by the API from its id). */
export const CloneSource = z
  .object({
    clusterId: z.string().uuid(),
    name: z.string().min(1),
    site: SiteName,
    account: AccountName,
    cloud: CloudNameSchema,
    location: z.string().min(1),
  })
  .strict();
export type CloneSource = z.infer<typeof CloneSource>;

export const PlanWarningSchema = z.object({ field: z.string(), message: z.string() }).strict();

/**
 * What a clone will do: the whole target spec (as `POST /v1/clusters:create` takes it), the
 * workload migration with its mapping tables, and every lossy or guessed choice. A dry run
 * returns it; submitted (edited or not) it is executed as it stands.
 */
export const ClonePlan = z
  .object({
    source: CloneSource.extend({ version: z.string() }).strict(),
    target: z.object({ site: SiteName, account: AccountName, cloud: CloudNameSchema }).strict(),
    spec: ClusterSpecRequest,
    workloads: WorkloadPlan.nullable().default(null),
    warnings: z.array(PlanWarningSchema).max(1000).default([]),
  })
  .strict();
export type ClonePlan = z.infer<typeof ClonePlan>;

export const CloneStrategy = z
  .object({
    waves: z
      .array(WaveSpec)
      .min(1)
      .max(50)
      .default([{ percent: 100 }]),
    maxParallel: z.number().int().min(1).max(50).default(5),
    failureBudget: FailureBudget.default({ count: 0 }),
    betweenWaves: z.enum(['none', 'pause']).default('none'),
    /** A finished run stays open this long so its clones can still be rolled back (deleted). */
    rollbackWindowSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600)
      .default(3600),
  })
  .strict();
export type CloneStrategy = z.infer<typeof CloneStrategy>;

const DEFAULT_STRATEGY: CloneStrategy = {
  waves: [{ percent: 100 }],
  maxParallel: 5,
  failureBudget: { count: 0 },
  betweenWaves: 'none',
  rollbackWindowSeconds: 3600,
};

const exactlyOne = (
  ctx: z.RefinementCtx,
  hasPlan: boolean,
  planField: string,
  parts: [string, boolean][],
): void => {
  if (hasPlan) {
    for (const [field, given] of parts)
      if (given)
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `give either ${planField} or ${field}, not both`,
        });
    return;
  }
  for (const [field, given] of parts)
    if (!given && field !== 'workloads')
      ctx.addIssue({ code: 'custom', path: [field], message: `required (or submit ${planField})` });
};

/** `POST /v1/clones`: one cluster, from its id to a target; or a plan a dry run returned. */
export const CloneRequest = z
  .object({
    source: z.object({ clusterId: z.string().uuid() }).strict().optional(),
    target: CloneTargetRequest.optional(),
    workloads: WorkloadRequest.optional(),
    plan: ClonePlan.optional(),
    rollbackWindowSeconds: CloneStrategy.shape.rollbackWindowSeconds.optional(),
    dryRun: z.boolean().default(false),
  })
  .strict()
  .superRefine((r, ctx) =>
    exactlyOne(ctx, r.plan !== undefined, 'plan', [
      ['source', r.source !== undefined],
      ['target', r.target !== undefined],
      ['workloads', r.workloads !== undefined],
    ]),
  );
export type CloneRequest = z.infer<typeof CloneRequest>;

/** Which clusters a bulk clone takes: ids, a label selector, sites, a location (ANDed). */
export const CloneSourceFilter = z
  .object({
    clusterIds: z.array(z.string().uuid()).min(1).max(MAX_CLONES_PER_RUN).optional(),
    selector: Selector.optional(),
    sites: z.array(SiteName).min(1).max(100).optional(),
    /** Only clusters in this region or zone (as their cloud names it). */
    location: z.string().min(1).max(63).optional(),
  })
  .strict()
  .refine((s) => s.clusterIds !== undefined || s.selector !== undefined || s.sites !== undefined, {
    message: 'name clusterIds, a selector or sites',
  });
export type CloneSourceFilter = z.infer<typeof CloneSourceFilter>;

/** `POST /v1/clones:bulk`: every cluster a filter picks, to one target account and location. */
export const BulkCloneRequest = z
  .object({
    source: CloneSourceFilter.optional(),
    target: CloneTargetRequest.omit({ name: true }).optional(),
    workloads: WorkloadRequest.optional(),
    /** The `plans` of a bulk dry run, edited or not. */
    plans: z.array(ClonePlan).min(1).max(MAX_CLONES_PER_RUN).optional(),
    strategy: CloneStrategy.default(DEFAULT_STRATEGY),
    dryRun: z.boolean().default(false),
  })
  .strict()
  .superRefine((r, ctx) =>
    exactlyOne(ctx, r.plans !== undefined, 'plans', [
      ['source', r.source !== undefined],
      ['target', r.target !== undefined],
      ['workloads', r.workloads !== undefined],
    ]),
  );
export type BulkCloneRequest = z.infer<typeof BulkCloneRequest>;

/** One clone to plan (or a plan to check) and make, as the run's input carries it. */
export type CloneItem = {
  source: CloneSource;
  target: CloneTargetRequest;
  workloads: WorkloadRequest | null;
  /** A submitted plan: checked, not re-planned. */
  plan: ClonePlan | null;
  wave: number;
};

export type BulkCloneInput = {
  items: CloneItem[];
  strategy: CloneStrategy;
  dryRun: boolean;
};

/** Something that keeps a plan from being executed, by the field of the plan it is about. */
export type PlanProblem = {
  /** `items.3.spec.nodePools.0.machineType`: the item, then the field of its plan. */
  field: string;
  message: string;
  type: 'BadInput' | 'Conflict' | 'NotFound';
};

/** The run's first answer: every plan, and what keeps any of them from being executed. */
export type ClonePlanning = {
  ok: boolean;
  plans: (ClonePlan | null)[];
  problems: PlanProblem[];
  /** Set when planning itself could not finish (a site unreachable, a cloud failing). */
  error: string | null;
};

/** The clone a target made, as far as it got. */
export type CloneMade = {
  clusterId: string | null;
  name: string;
  site: string;
  account: string;
  cloud: string;
  location: string;
  context: string | null;
};

/** The clone a plan will make, before it exists (no cluster id, no context yet). */
export const cloneToMake = (plan: ClonePlan): CloneMade => ({
  clusterId: null,
  name: plan.spec.name,
  site: plan.target.site,
  account: plan.target.account,
  cloud: plan.target.cloud,
  location: plan.spec.location,
  context: null,
});

/** A deploy target's progress (its `id`, `name` and `site` are the source cluster's), plus the clone. */
export type CloneTargetProgress = Omit<TargetProgress, 'changed' | 'waitingSince'> & {
  /** The step the clone is at (or ended at): create, migrate, label, delete-clone. */
  step: string | null;
  clone: CloneMade | null;
  migrated: MigrationReport | null;
  /** The clone run of the latest attempt (GET /v1/runs/{id} shows its steps). */
  runId: string | null;
  warnings: number;
};

export type ClonePhase = 'planning' | 'rejected' | 'planned' | RunPhase;

/** What a clone run's progress query (and its result) says. */
export type CloneRunProgress = {
  kind: 'clone';
  phase: ClonePhase;
  pausedReason: string | null;
  currentWave: number;
  waves: WaveProgress[];
  counts: Record<TargetState, number>;
  failureBudget: { allowed: number; used: number };
  maxParallel: number;
  targets: CloneTargetProgress[];
  problems: PlanProblem[];
  /** Dry runs only: the plans, in the order of `targets`. */
  plans?: (ClonePlan | null)[];
  error: string | null;
};

export type { PlanWarning };

/**
 * The request field a planning problem is about, for the API's 400: a submitted plan's own
 * field (`body.plans.2.spec.version`), or for a plan drover made, the request field that
 * decides it (`body.target.extras.eks.roleArn`); a field only a plan can change names the
 * target and says to edit a dry run's plan.
 */
export const requestFieldOf = (
  problem: PlanProblem,
  request: { bulk: boolean; submittedPlans: boolean },
): { field: string; message: string } => {
  const m = /^items\.(\d+)\.(.*)$/.exec(problem.field);
  const index = m?.[1] ?? '0';
  const field = m?.[2] ?? problem.field;
  if (request.submittedPlans)
    return {
      field: request.bulk ? `body.plans.${index}.${field}` : `body.plan.${field}`,
      message: problem.message,
    };
  const direct: [RegExp, (rest: string) => string][] = [
    [/^spec\.extras\.(.*)$/, (rest) => `body.target.extras.${rest}`],
    [/^spec\.location$/, () => 'body.target.location'],
    [/^spec\.name$/, () => (request.bulk ? 'body.target.nameSuffix' : 'body.target.name')],
    [/^target\.(.*)$/, (rest) => `body.target.${rest}`],
    [/^source$/, () => (request.bulk ? 'body.source' : 'body.source.clusterId')],
  ];
  for (const [re, to] of direct) {
    const hit = re.exec(field);
    if (hit) {
      const cluster = request.bulk ? ` (clone ${index})` : '';
      return { field: to(hit[1] ?? ''), message: `${problem.message}${cluster}` };
    }
  }
  return {
    field: 'body.target',
    message: `${field}: ${problem.message} — run with dryRun, edit the plan and submit it`,
  };
};
