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

/** A poller counts as alive if Temporal saw it poll within this window. */
export const isPollerAlive = (lastAccess: Date | null, now: Date, offlineAfterMs: number): boolean =>
  lastAccess !== null && now.getTime() - lastAccess.getTime() <= offlineAfterMs;
