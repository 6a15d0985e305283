import type { Db } from '../../db/database.ts';
import { createClusterStore } from '../../db/clusters.ts';
import type { CloudName } from '../../clouds/ports.ts';
import { ErrorType, DroverError } from '../../domain/errors.ts';
import type { SpecProblem } from '../../domain/cluster-specs.ts';
import { classified } from '../errors.ts';

/**
 * Control activities of the cluster lifecycle (create and delete workflows): the inventory
 * side, which needs the database and so runs on the control worker.
 */
export const createClusterLifecycleActivities = ({ db }: { db: Db }) => {
  const clusters = createClusterStore(db);
  return classified({
    /** Whether the site still has room for that name; checked before anything is created. */
    async checkClusterName(input: { site: string; name: string }): Promise<SpecProblem | null> {
      const taken = await clusters.findByName(input.site, input.name);
      return taken
        ? {
            field: 'spec.name',
            message: `site '${input.site}' already has a cluster named '${input.name}' (${taken.id})`,
            type: ErrorType.Conflict,
          }
        : null;
    },

    /** Registers a cluster the run created; safe to retry. */
    async registerCreatedCluster(input: {
      site: string;
      context: string;
      name: string;
      cloud: CloudName;
      location: string;
      version: string | null;
      endpoint: string | null;
      labels: Record<string, string>;
    }): Promise<{ id: string }> {
      const row = await clusters.registerCreated({
        site: input.site,
        context: input.context,
        name: input.name,
        provider: input.cloud,
        location: input.location,
        kubernetesVersion: input.version,
        endpoint: input.endpoint,
        labels: input.labels,
      });
      return { id: row.id };
    },

    /** Takes a cluster out of the inventory; one already out is fine. */
    async deregisterCluster(input: { id: string }): Promise<void> {
      try {
        await clusters.deregister(input.id);
      } catch (err) {
        if (!(err instanceof DroverError && err.type === ErrorType.NotFound)) throw err;
      }
    },
  });
};

export type ClusterLifecycleActivities = ReturnType<typeof createClusterLifecycleActivities>;
