import { hostname } from 'node:os';
import type { PingResult } from '../../domain/runs.ts';

export type SiteActivityDeps = {
  site: string;
  /** Names this sub-manager process in results; never a credential. */
  identity: string;
  version: string;
  now?: () => Date;
};

/**
 * Activities that run inside a site, on its sub-manager. They are the only code that may touch
 * the site's clusters and cloud credentials; what they return must be free of both.
 */
export const createSiteActivities = (deps: SiteActivityDeps) => {
  const now = deps.now ?? (() => new Date());
  return {
    /** Proves the round trip control → site → control; answers who served it. */
    async pingSite(input: { sentAt: string }): Promise<PingResult> {
      const answeredAt = now();
      return {
        site: deps.site,
        worker: deps.identity,
        version: deps.version,
        answeredAt: answeredAt.toISOString(),
        answeredAfterMs: Math.max(0, answeredAt.getTime() - Date.parse(input.sentAt)),
      };
    },
  };
};

export type SiteActivities = ReturnType<typeof createSiteActivities>;

export const defaultSiteIdentity = (site: string): string =>
  `sub-manager/${site}@${hostname()}:${process.pid}`;
