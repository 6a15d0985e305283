import { ApplicationFailure, defineQuery, isCancellation, setHandler } from '@temporalio/workflow';
import type { CloudName } from '../domain/clouds.ts';
import { ErrorType } from '../domain/errors.ts';
import {
  cloudActivities,
  cloudSteps,
  controlActivities,
  createStepLog,
  failureMessage,
  failureType,
  type ClusterAt,
  type RunStep,
} from './cloud-steps.ts';

export type DeleteClusterInput = {
  /** The inventory's id; deregistered once the cloud cluster is gone. */
  clusterId: string;
  site: string;
  account: string;
  location: string;
  name: string;
};

export type DeleteClusterProgress = {
  kind: 'delete-cluster';
  phase: 'deleting' | 'succeeded' | 'failed' | 'cancelled';
  clusterId: string;
  site: string;
  account: string;
  cloud: CloudName | null;
  name: string;
  location: string;
  steps: RunStep[];
  error: string | null;
};

export const progressQuery = defineQuery<DeleteClusterProgress>('progress');

/**
 * Destroys a cluster of one of a site's cloud accounts: its node pools, then the cluster
 * (waiting until the cloud no longer lists it), then its inventory entry. Nothing is undone on
 * failure or cancel — a deleted pool cannot be had back — and the cluster stays registered
 * until it is really gone, so a failed run can simply be asked again.
 */
export async function deleteClusterWorkflow(input: DeleteClusterInput): Promise<DeleteClusterProgress> {
  const at: ClusterAt = { account: input.account, location: input.location, name: input.name };
  const log = createStepLog();
  let phase: DeleteClusterProgress['phase'] = 'deleting';
  let cloudName: CloudName | null = null;
  let error: string | null = null;
  const progress = (): DeleteClusterProgress => ({
    kind: 'delete-cluster',
    phase,
    clusterId: input.clusterId,
    site: input.site,
    account: input.account,
    cloud: cloudName,
    name: input.name,
    location: input.location,
    steps: log.steps,
    error,
  });
  setHandler(progressQuery, progress);

  try {
    const info = await cloudActivities(input.site).cloudAccountInfo({ account: input.account });
    cloudName = info.cloud;
    const steps = cloudSteps(input.site, input.account, info.polling);
    const where = `cluster ${input.name} in ${input.location}`;

    const cluster = await log.run(
      'describe',
      where,
      () => steps.settled(at),
      (c) =>
        c
          ? `${c.status}, node pools: ${c.nodePools.map((p) => p.name).join(', ') || 'none'}`
          : 'already gone',
    );
    // AKS keeps its system pool until the cluster goes; every other pool goes first.
    for (const pool of cluster?.nodePools.filter((p) => !p.system && p.status !== 'deleting') ?? []) {
      await log.run(
        'delete-node-pool',
        `node pool ${pool.name}`,
        async () => {
          try {
            return (await steps.deleteNodePool(at, pool.name)) ? 'deleted' : 'already gone';
          } catch (err) {
            // Some pools cannot go alone (the cloud's last or system pool): they go with the cluster.
            if (failureType(err) === ErrorType.Conflict || failureType(err) === ErrorType.Invalid)
              return `left for the cluster delete: ${failureMessage(err)}`;
            throw err;
          }
        },
        (note) => note,
      );
    }
    if (cluster) {
      await log.run(
        'delete-cluster',
        where,
        () => steps.deleteCluster(at),
        ({ pools }) => (pools.length > 0 ? `deleted, after node pools ${pools.join(', ')}` : 'deleted'),
      );
    }
    await log.run('deregister', `cluster ${input.clusterId}`, () =>
      controlActivities().deregisterCluster({ id: input.clusterId }),
    );
    phase = 'succeeded';
    return progress();
  } catch (err) {
    error = failureMessage(err);
    if (isCancellation(err)) {
      phase = 'cancelled';
      throw err;
    }
    phase = 'failed';
    throw ApplicationFailure.create({
      type: failureType(err),
      message: error,
      nonRetryable: true,
      details: [progress()],
    });
  }
}
