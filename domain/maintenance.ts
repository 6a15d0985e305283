import { z } from 'zod';
import { TargetSpec, type Provider } from './clusters.ts';
import { durationMs, Duration } from './durations.ts';
import { compareVersions, minorOf } from './versions.ts';

/**
 * Scheduled maintenance: what a maintenance run does (drift, expired clusters, version report)
 * and the pure rules behind each. Workflow-safe: no I/O, time is always passed in.
 */

export const DriftPolicy = z.enum(['report', 'repair']);
export type DriftPolicy = z.infer<typeof DriftPolicy>;

export const DriftTask = z
  .object({
    /** `report` only looks; `repair` re-applies the release (server-side apply, forced) where it drifted. */
    policy: DriftPolicy.default('report'),
    /** Only these clusters; default every cluster a release was deployed to. */
    placement: TargetSpec.optional(),
    /** Clusters checked at once. */
    maxParallel: z.number().int().min(1).max(100).default(10),
  })
  .strict();
export type DriftTask = z.infer<typeof DriftTask>;

export const ExpiredClustersTask = z
  .object({
    /** How long past its expiry a cluster is left before it goes (time to notice and extend it). */
    grace: Duration.default('1h'),
    /** List what would go; delete nothing. */
    dryRun: z.boolean().default(false),
    /** Clusters deleted at once. */
    maxParallel: z.number().int().min(1).max(50).default(5),
  })
  .strict();
export type ExpiredClustersTask = z.infer<typeof ExpiredClustersTask>;

export const VersionReportTask = z
  .object({
    /** Flag clusters whose version leaves support within this long. */
    warnWithin: Duration.default('90d'),
  })
  .strict();
export type VersionReportTask = z.infer<typeof VersionReportTask>;

export const MaintenanceSpec = z
  .object({
    drift: DriftTask.optional(),
    expiredClusters: ExpiredClustersTask.optional(),
    versions: VersionReportTask.optional(),
  })
  .strict()
  .refine((s) => s.drift ?? s.expiredClusters ?? s.versions, {
    message: 'name at least one task: drift, expiredClusters or versions',
  });
export type MaintenanceSpec = z.infer<typeof MaintenanceSpec>;

// ─── Expiry ──────────────────────────────────────────────────────────────────────────────

/**
 * A cluster's time to live as a label, counted from when the inventory first knew it
 * (`drover.io/ttl=72h`, `=7d`). Label values cannot hold a timestamp (no `:`), so an absolute
 * expiry is the inventory's `expiresAt` field instead; when both are set the earlier wins.
 */
export const TTL_LABEL = 'drover.io/ttl';

export type Expiry = { at: Date; reason: 'expiresAt' | 'ttl-label' };

/** When a cluster expires, if it does; a malformed TTL label is ignored (and reported by the caller). */
export const clusterExpiry = (cluster: {
  expiresAt: Date | null;
  createdAt: Date;
  labels: Readonly<Record<string, string>>;
}): Expiry | null => {
  const ttl = cluster.labels[TTL_LABEL];
  const ttlMs = ttl === undefined ? undefined : durationMs(ttl);
  const fromLabel = ttlMs === undefined ? null : new Date(cluster.createdAt.getTime() + ttlMs);
  if (cluster.expiresAt && (!fromLabel || cluster.expiresAt <= fromLabel))
    return { at: cluster.expiresAt, reason: 'expiresAt' };
  return fromLabel ? { at: fromLabel, reason: 'ttl-label' } : null;
};

// ─── Versions ────────────────────────────────────────────────────────────────────────────

/**
 * End-of-life dates of upstream Kubernetes minors (kubernetes.io/releases). Used for clusters
 * that no cloud account of their site describes (kubeconfig clusters), and shown next to a
 * cloud's own list. A minor older than every entry is past its end of life; one newer than
 * every entry is taken as supported. Update when a minor is released.
 */
export const UPSTREAM_END_OF_LIFE: Readonly<Record<string, string>> = {
  '1.30': '2025-06-28',
  '1.31': '2025-10-28',
  '1.32': '2026-02-28',
  '1.33': '2026-06-28',
  '1.34': '2026-10-27',
  '1.35': '2027-02-28',
  '1.36': '2027-06-28',
  '1.37': '2027-10-28',
};

/**
 * supported: in support, not leaving it soon; expiring: leaves support within the warning
 * window (upstream end of life), or is the oldest minor its cloud still offers (the next to
 * go); unsupported: past end of life, or no longer offered by its cloud; unknown: no version.
 */
export const VersionStatus = z.enum(['supported', 'expiring', 'unsupported', 'unknown']);
export type VersionStatus = z.infer<typeof VersionStatus>;

export type VersionAssessment = {
  minor: string | null;
  status: VersionStatus;
  /** Where the verdict comes from: the cloud account's catalog or the upstream table. */
  source: 'cloud-catalog' | 'upstream';
  /** The minors the source supports, newest first. */
  supported: string[];
  /** Upstream end of life of this minor, when known. */
  endOfLife: string | null;
  reason: string;
};

export const assessVersion = (input: {
  version: string | null;
  /** The cloud's supported versions (any form), or null for the upstream table. */
  cloudVersions: readonly string[] | null;
  now: Date;
  warnWithinMs: number;
}): VersionAssessment => {
  const minor = minorOf(input.version);
  const table = Object.keys(UPSTREAM_END_OF_LIFE).sort(compareVersions);
  const endOfLife = minor ? (UPSTREAM_END_OF_LIFE[minor] ?? null) : null;
  const eolDate = endOfLife ? new Date(`${endOfLife}T23:59:59Z`) : null;
  const days = (d: Date) => Math.ceil((d.getTime() - input.now.getTime()) / 86_400_000);

  if (input.cloudVersions) {
    const offered = [
      ...new Set(input.cloudVersions.map(minorOf).filter((v): v is string => v !== null)),
    ].sort((a, b) => compareVersions(b, a));
    const base = { minor, source: 'cloud-catalog' as const, supported: offered, endOfLife };
    if (!minor) return { ...base, status: 'unknown', reason: 'the cluster reports no Kubernetes version' };
    const oldest = offered.at(-1);
    const newest = offered[0];
    if (!oldest || !newest) return { ...base, status: 'unknown', reason: 'the cloud lists no versions' };
    if (
      compareVersions(minor, oldest) < 0 ||
      (compareVersions(minor, newest) <= 0 && !offered.includes(minor))
    )
      return {
        ...base,
        status: 'unsupported',
        reason: `${minor} is no longer offered by the cloud (oldest offered: ${oldest})`,
      };
    if (compareVersions(minor, newest) > 0)
      return { ...base, status: 'supported', reason: `${minor} is newer than the cloud's list` };
    if (minor === oldest && offered.length > 1)
      return { ...base, status: 'expiring', reason: `${minor} is the oldest version the cloud still offers` };
    return { ...base, status: 'supported', reason: `${minor} is offered by the cloud` };
  }

  const supportedUpstream = table
    .filter((m) => days(new Date(`${UPSTREAM_END_OF_LIFE[m] ?? ''}T23:59:59Z`)) >= 0)
    .reverse();
  const base = { minor, source: 'upstream' as const, supported: supportedUpstream, endOfLife };
  if (!minor) return { ...base, status: 'unknown', reason: 'the cluster reports no Kubernetes version' };
  if (!eolDate) {
    // End-of-life dates grow with the minor: one older than a minor past its end is past it too.
    const newer = table.find((m) => compareVersions(m, minor) > 0);
    if (!newer)
      return { ...base, status: 'supported', reason: `${minor} is newer than drover's support table` };
    const newerEol = UPSTREAM_END_OF_LIFE[newer] ?? '';
    if (days(new Date(`${newerEol}T23:59:59Z`)) < 0)
      return {
        ...base,
        status: 'unsupported',
        reason: `${minor} is older than ${newer}, which reached end of life on ${newerEol}`,
      };
    return { ...base, status: 'unknown', reason: `${minor} is not in drover's support table` };
  }
  const left = days(eolDate);
  if (left < 0)
    return { ...base, status: 'unsupported', reason: `${minor} reached end of life on ${endOfLife}` };
  if (eolDate.getTime() - input.now.getTime() <= input.warnWithinMs)
    return {
      ...base,
      status: 'expiring',
      reason: `${minor} reaches end of life on ${endOfLife} (${left} days)`,
    };
  return { ...base, status: 'supported', reason: `${minor} is supported until ${endOfLife}` };
};

/** Providers whose clusters may belong to one of their site's cloud accounts. */
export const CLOUD_PROVIDERS: readonly Provider[] = ['eks', 'gke', 'aks'];

// ─── Drift ───────────────────────────────────────────────────────────────────────────────

export const DriftStatus = z.enum(['in-sync', 'drifted', 'repaired', 'error']);
export type DriftStatus = z.infer<typeof DriftStatus>;

/** One field that differs: where, and both values (JSON, shortened). */
export type FieldDrift = { path: string; live: string; desired: string };

export type ObjectDrift = {
  apiVersion: string;
  kind: string;
  namespace: string | null;
  name: string;
  /** missing: gone from the cluster; drifted: fields differ from what drover applied. */
  state: 'missing' | 'drifted';
  fields: FieldDrift[];
  /** More differing fields than listed. */
  truncated: boolean;
};

/** What a drift check of one release on one cluster found (and, under `repair`, did). */
export type DriftCheck = {
  status: DriftStatus;
  /** Objects of the release checked. */
  checked: number;
  /** Objects that differed (before a repair). */
  objects: ObjectDrift[];
  /** Differing objects left out of `objects` to keep the check small (see capDriftCheck). */
  omitted?: number;
  error: string | null;
};

/** A release deployed to a cluster: the latest succeeded deploy of that release name there. */
export type DeployedRelease = {
  target: { id: string; name: string; site: string; context: string; labels: Record<string, string> };
  releaseId: string;
  releaseName: string;
  runId: string;
  deployedAt: string;
};

export const DRIFT_FIELDS_KEPT = 20;
export const DRIFT_VALUE_CHARS = 200;
/**
 * At most this many JSON characters per drift check: a page of checks (50 by default) then
 * stays far below Temporal's 2 MiB payload limit however much of a release drifted.
 */
export const DRIFT_CHECK_CHARS = 16_384;

/** Keeps a check's differing objects, in order, while they fit `maxChars`; counts the rest. */
export const capDriftCheck = (check: DriftCheck, maxChars = DRIFT_CHECK_CHARS): DriftCheck => {
  const error = check.error && check.error.length > 2_000 ? `${check.error.slice(0, 1_999)}…` : check.error;
  let used = JSON.stringify({ ...check, error, objects: [] }).length;
  const objects: ObjectDrift[] = [];
  for (const o of check.objects) {
    const size = JSON.stringify(o).length + 1;
    if (used + size > maxChars) break;
    objects.push(o);
    used += size;
  }
  const omitted = (check.omitted ?? 0) + check.objects.length - objects.length;
  return { ...check, error, objects, ...(omitted > 0 ? { omitted } : {}) };
};
