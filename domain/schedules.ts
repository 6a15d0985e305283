import { z } from 'zod';
import { DeploymentRequest } from './deployments.ts';
import { Duration, DurationAtLeast } from './durations.ts';
import { MaintenanceSpec } from './maintenance.ts';
import { SiteName } from './sites.ts';

/**
 * Schedules: a Temporal Schedule that starts one kind of drover run from a stored spec. The
 * schedule itself lives in Temporal only (it is run state, not inventory); what the user asked
 * for rides in the scheduled action's arguments, so it is read back exactly as given.
 */

export const ScheduleId = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be lowercase letters, digits and dashes (a DNS label)');

/** Cron as Temporal reads it: 5–7 fields, or `@daily`, `@hourly`, `@every 10m` … */
export const CronExpression = z
  .string()
  .min(1)
  .max(256)
  .refine((s) => {
    const body = s.split('#')[0]?.trim() ?? '';
    if (/^(CRON_)?TZ=/.test(body)) return false;
    if (body.startsWith('@'))
      return /^@(yearly|annually|monthly|weekly|daily|midnight|hourly|every\s+\S+)$/.test(body);
    const fields = body.split(/\s+/).filter(Boolean).length;
    return fields >= 5 && fields <= 7;
  }, 'must be a cron expression of 5 to 7 fields (minute hour day-of-month month day-of-week), or @daily, @hourly, @every 10m …; set the time zone in `timezone`');

/** An IANA time zone name the runtime knows (Temporal's server reads the same database). */
export const TimeZone = z
  .string()
  .min(1)
  .max(64)
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'must be an IANA time zone such as UTC or Europe/Berlin');

export const ScheduleTiming = z
  .object({
    cron: z.array(CronExpression).min(1).max(10).optional(),
    intervals: z
      .array(z.object({ every: DurationAtLeast(1_000), offset: Duration.optional() }).strict())
      .min(1)
      .max(10)
      .optional(),
    /** For cron times; default UTC. */
    timezone: TimeZone.optional(),
    startAt: z.string().datetime({ offset: true }).optional(),
    endAt: z.string().datetime({ offset: true }).optional(),
    /** Each time is delayed by a random amount up to this. */
    jitter: Duration.optional(),
  })
  .strict()
  .refine((t) => t.cron !== undefined || t.intervals !== undefined, {
    message: 'name `cron` or `intervals`',
  })
  .refine((t) => !t.startAt || !t.endAt || Date.parse(t.startAt) < Date.parse(t.endAt), {
    message: 'endAt must be after startAt',
    path: ['endAt'],
  });
export type ScheduleTiming = z.infer<typeof ScheduleTiming>;

export const OverlapPolicy = z.enum([
  'skip',
  'buffer-one',
  'buffer-all',
  'cancel-other',
  'terminate-other',
  'allow-all',
]);
export type OverlapPolicy = z.infer<typeof OverlapPolicy>;

export const SchedulePolicy = z
  .object({
    /** What happens when a time comes while the previous run is still open. */
    overlap: OverlapPolicy.default('skip'),
    /** After an outage, times missed by at most this long still run (once each). */
    catchupWindow: DurationAtLeast(10_000).default('10m'),
    /** Pause the schedule when one of its runs fails. */
    pauseOnFailure: z.boolean().default(false),
  })
  .strict();
export type SchedulePolicy = z.infer<typeof SchedulePolicy>;

export const DEFAULT_SCHEDULE_POLICY: SchedulePolicy = {
  overlap: 'skip',
  catchupWindow: '10m',
  pauseOnFailure: false,
};

export const ScheduleKind = z.enum(['deploy', 'maintenance', 'discovery']);
export type ScheduleKind = z.infer<typeof ScheduleKind>;

export const ScheduledDeployment = DeploymentRequest.omit({ dryRun: true }).strict();
export type ScheduledDeployment = z.infer<typeof ScheduledDeployment>;

export const ScheduleAction = z.discriminatedUnion('kind', [
  /** A rollout, planned afresh each time: the placement is resolved when the schedule fires. */
  z.object({ kind: z.literal('deploy'), deployment: ScheduledDeployment }).strict(),
  z.object({ kind: z.literal('maintenance'), maintenance: MaintenanceSpec }).strict(),
  z.object({ kind: z.literal('discovery'), site: SiteName }).strict(),
]);
export type ScheduleAction = z.infer<typeof ScheduleAction>;

export const CreateScheduleRequest = z
  .object({
    id: ScheduleId,
    description: z.string().max(500).default(''),
    spec: ScheduleTiming,
    policy: SchedulePolicy.default(DEFAULT_SCHEDULE_POLICY),
    action: ScheduleAction,
    /** Create it paused; it fires only once unpaused (or triggered). */
    paused: z.boolean().default(false),
  })
  .strict();
export type CreateScheduleRequest = z.infer<typeof CreateScheduleRequest>;

export const PatchScheduleRequest = z
  .object({
    description: z.string().max(500).optional(),
    spec: ScheduleTiming.optional(),
    policy: SchedulePolicy.optional(),
    action: ScheduleAction.optional(),
  })
  .strict()
  .refine((p) => Object.values(p).some((v) => v !== undefined), {
    message: 'name at least one of description, spec, policy, action',
  });
export type PatchScheduleRequest = z.infer<typeof PatchScheduleRequest>;

/** What a schedule keeps of its definition (in its action's arguments). */
export type ScheduleDefinition = {
  description: string;
  spec: ScheduleTiming;
  policy: SchedulePolicy;
  action: ScheduleAction;
};

/** Every workflow a schedule starts gets this next to its own input. */
export type ScheduledBy = { schedule?: { id: string; definition: ScheduleDefinition } };

/**
 * The workflow id a schedule's action carries; Temporal appends `-<scheduled time>`, so each
 * run is `<kind>:<schedule>.scheduled-2026-05-01T03:00:00Z`. Schedule ids hold no `.`, so the
 * prefix up to it names exactly one schedule's runs.
 */
export const scheduledWorkflowId = (kind: ScheduleKind, id: string): string => `${kind}:${id}.scheduled`;

/** Prefixes of every run a schedule may have started (its kind may have changed). */
export const scheduledRunPrefixes = (id: string): string[] =>
  ScheduleKind.options.map((kind) => `${scheduledWorkflowId(kind, id)}-`);

export const BackfillRequest = z
  .object({
    start: z.string().datetime({ offset: true }),
    end: z.string().datetime({ offset: true }),
    /** Default: the schedule's own overlap policy. */
    overlap: OverlapPolicy.optional(),
  })
  .strict()
  .refine((b) => Date.parse(b.start) < Date.parse(b.end), {
    message: 'end must be after start',
    path: ['end'],
  });
export type BackfillRequest = z.infer<typeof BackfillRequest>;
