import { z } from 'zod';

/** Kinds of run, each the prefix of its workflow id (a business key). */
export const RunKind = z.enum([
  'ping',
  'site-check-in',
  'discovery',
  'deploy',
  'create-cluster',
  'delete-cluster',
  'maintenance',
  'clone',
  'clone-cluster',
]);
export type RunKind = z.infer<typeof RunKind>;

export const RunStatus = z.enum(['running', 'succeeded', 'failed', 'cancelled', 'terminated', 'timed-out']);
export type RunStatus = z.infer<typeof RunStatus>;

/** Run ids are the workflow ids: `<kind>:<key>`; URL-safe so they sit in a path as they are. */
export const RunId = z
  .string()
  .min(3)
  .max(200)
  .regex(/^[a-z][-a-z]*:[-A-Za-z0-9_.:]+$/, 'must look like <kind>:<key>');

export const runIdFor = (kind: RunKind, key: string): string => `${kind}:${key}`;

export const kindOfRunId = (id: string): string => id.slice(0, Math.max(0, id.indexOf(':')));

export const PendingStep = z.object({
  activity: z.string(),
  /** `waiting` = scheduled, no worker has picked it up yet (e.g. the site is offline). */
  state: z.enum(['waiting', 'running', 'retrying']),
  attempt: z.number().int(),
  since: z.string().datetime().nullable(),
  lastFailure: z.string().nullable(),
  /** Deploy runs: the target (cluster name) this step works on, in the shard at work. */
  target: z.string().optional(),
});
export type PendingStep = z.infer<typeof PendingStep>;

export const Run = z.object({
  id: RunId,
  kind: z.string(),
  status: RunStatus,
  startedAt: z.string().datetime().nullable(),
  closedAt: z.string().datetime().nullable(),
  pending: z.array(PendingStep),
  result: z.unknown().optional(),
  error: z.string().optional(),
  /** What the run has done so far, for kinds that report it (create-cluster, delete-cluster). */
  progress: z.unknown().optional(),
});
export type Run = z.infer<typeof Run>;

export const PingResult = z.object({
  site: z.string(),
  worker: z.string(),
  version: z.string(),
  answeredAt: z.string().datetime(),
  answeredAfterMs: z.number(),
});
export type PingResult = z.infer<typeof PingResult>;
