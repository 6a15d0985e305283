import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createCloneActivities } from '../activities/control/clones.ts';
import { createClusterLifecycleActivities } from '../activities/control/clusters.ts';
import { createControlActivities } from '../activities/control/index.ts';
import { createDeployPlanActivities, type DeployRunOptions } from '../activities/control/deploy-plans.ts';
import { createMaintenanceActivities } from '../activities/control/maintenance.ts';
import type { Db } from '../db/database.ts';
import { CONTROL_TASK_QUEUE } from '../domain/task-queues.ts';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** The control worker: every workflow, plus the activities that need the database. */
export const createControlWorker = async (opts: {
  connection: NativeConnection;
  namespace: string;
  /** The encrypting converter (runtime/payload-codec.ts): histories hold no plaintext. */
  dataConverter: DataConverter;
  db: Db;
  identity?: string;
  discoveryIntervalSeconds?: number;
  /** Wall time of maintenance's expiry checks; tests move it. */
  now?: () => Date;
  /** Shards of the rollouts schedules start; default 500 targets. */
  deployRuns?: DeployRunOptions;
}): Promise<Worker> => {
  const temporal = new Client({
    connection: opts.connection,
    namespace: opts.namespace,
    dataConverter: opts.dataConverter,
  });
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    dataConverter: opts.dataConverter,
    taskQueue: CONTROL_TASK_QUEUE,
    workflowsPath: WORKFLOWS_PATH,
    activities: {
      ...createControlActivities({
        db: opts.db,
        temporal,
        ...(opts.discoveryIntervalSeconds === undefined
          ? {}
          : { discoveryIntervalSeconds: opts.discoveryIntervalSeconds }),
      }),
      ...createClusterLifecycleActivities({ db: opts.db }),
      ...createMaintenanceActivities({
        db: opts.db,
        temporal,
        ...(opts.now ? { now: opts.now } : {}),
      }),
      ...createDeployPlanActivities({ db: opts.db, deployRuns: opts.deployRuns }),
      ...createCloneActivities({ db: opts.db }),
    },
    ...(opts.identity ? { identity: opts.identity } : {}),
  });
};
