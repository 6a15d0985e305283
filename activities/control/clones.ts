import type { Db } from '../../db/database.ts';
import { createClusterStore } from '../../db/clusters.ts';
import { classified } from '../errors.ts';

/** Control activities of clone runs: the inventory side. */
export const createCloneActivities = ({ db }: { db: Db }) => {
  const clusters = createClusterStore(db);
  return classified({
    /** Sets inventory labels on a cluster (the clone's `drover.io/cloned-from`); safe to repeat. */
    async labelCluster(input: { clusterId: string; labels: Record<string, string> }): Promise<void> {
      await clusters.patch(input.clusterId, { labels: input.labels });
    },
  });
};

export type CloneActivities = ReturnType<typeof createCloneActivities>;
