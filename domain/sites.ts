import { z } from 'zod';

/** Site names become task-queue names and path segments: keep them DNS-label-like. */
export const SiteName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be lowercase letters, digits and dashes (a DNS label)');

export const SiteStatus = z.enum(['online', 'offline']);

export const Site = z.object({
  name: SiteName,
  description: z.string(),
  status: SiteStatus,
  /** When a sub-manager of this site last polled its queue, as Temporal saw it. */
  lastSeenAt: z.string().datetime().nullable(),
  pollers: z.array(z.object({ identity: z.string(), lastAccessAt: z.string().datetime().nullable() })),
  createdAt: z.string().datetime(),
});
export type Site = z.infer<typeof Site>;

export const CreateSiteBody = z.object({
  name: SiteName,
  description: z.string().max(500).default(''),
});

/** Enrollment (`POST /v1/sites/{site}/enroll`): a site's Temporal namespace and credential. */
export const EnrollBody = z
  .object({
    description: z.string().max(200).optional(),
    /** How long the credential is valid; revocation ends it sooner. */
    ttlDays: z.number().int().min(1).max(3650).default(365),
  })
  .default({ ttlDays: 365 });

export const Enrollment = z.object({
  site: z.string(),
  namespace: z.string().describe('the Temporal namespace that holds this site’s work and nothing else'),
  endpoint: z.string().describe('the Nexus endpoint through which the control plane reaches this site'),
  taskQueue: z.string(),
  keyId: z.string(),
  temporalToken: z.string().describe('shown once: a JWT with worker rights in `namespace` only'),
  expiresAt: z.string().datetime(),
  revokedKeys: z.array(z.string()).describe('earlier keys of this site, revoked by this enrollment'),
});
export type Enrollment = z.infer<typeof Enrollment>;

export const Revocation = z.object({
  site: z.string(),
  revokedKeys: z.array(z.string()),
  note: z.string(),
});
export type Revocation = z.infer<typeof Revocation>;

/** A poller counts as alive if Temporal saw it poll within this window. */
export const isPollerAlive = (lastAccess: Date | null, now: Date, offlineAfterMs: number): boolean =>
  lastAccess !== null && now.getTime() - lastAccess.getTime() <= offlineAfterMs;
