import type { Db } from '../../db/database.ts';
import { createSiteStore } from '../../db/sites.ts';

export type ControlActivityDeps = { db: Db };

/** Activities that need the central database; they run on the control worker only. */
export const createControlActivities = ({ db }: ControlActivityDeps) => {
  const sites = createSiteStore(db);
  return {
    /** A sub-manager announced itself: register its site if new and note when it came up. */
    async recordSiteCheckIn(input: { site: string; description: string; version: string }): Promise<void> {
      await sites.checkIn(input.site, input.description, input.version);
    },
  };
};

export type ControlActivities = ReturnType<typeof createControlActivities>;
