import type { WorkloadPlan } from '../../domain/workload-migration.ts';
import type { MigrationReport } from '../../domain/workload-migration.ts';
import type { KubeObject } from '../../kube/apply.ts';
import type { KubeClient } from '../../kube/client.ts';
import { exportWorkloads, importWorkloads } from '../../kube/migrate.ts';
import { classified } from '../errors.ts';
import { withHeartbeat } from '../heartbeat.ts';

export type WorkloadActivityDeps = {
  /** A client for one of this site's clusters, by its context (kubeconfig or cloud context). */
  clusterClient: (cluster: { context: string }) => Promise<KubeClient>;
  /** Most an export may carry through the workflow; default 1 MiB. */
  maxExportBytes?: number;
};

/**
 * Site activities of a clone's workload migration. The source's site exports (reads, strips,
 * maps) and returns the objects; the workflow hands them to the target's site, which applies
 * them. There is no other channel between two sites, hence the size cap on an export.
 */
export const createWorkloadActivities = ({ clusterClient, maxExportBytes }: WorkloadActivityDeps) =>
  classified({
    async exportWorkloads(input: {
      context: string;
      plan: WorkloadPlan;
    }): Promise<{ objects: KubeObject[]; report: MigrationReport }> {
      return withHeartbeat(async () =>
        exportWorkloads(await clusterClient({ context: input.context }), input.plan, {
          ...(maxExportBytes === undefined ? {} : { maxBytes: maxExportBytes }),
        }),
      );
    },

    async importWorkloads(input: { context: string; objects: KubeObject[] }): Promise<{ applied: number }> {
      return withHeartbeat(async () =>
        importWorkloads(await clusterClient({ context: input.context }), input.objects),
      );
    },
  });

export type WorkloadActivities = ReturnType<typeof createWorkloadActivities>;
