import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createCloneActivities } from '../activities/control/clones.ts';
import { createClusterLifecycleActivities } from '../activities/control/clusters.ts';
import { createControlActivities } from '../activities/control/index.ts';
import type { Db } from '../db/database.ts';
import { CONTROL_TASK_QUEUE } from '../domain/task-queues.ts';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** The control worker: every workflow, plus the activities that need the database. */
export const createControlWorker = async (opts: {
  connection: NativeConnection;
  namespace: string;
  db: Db;
  identity?: string;
  discoveryIntervalSeconds?: number;
}): Promise<Worker> =>
  Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: CONTROL_TASK_QUEUE,
    workflowsPath: WORKFLOWS_PATH,
    activities: {
      ...createControlActivities({
        db: opts.db,
        temporal: new Client({ connection: opts.connection, namespace: opts.namespace }),
        ...(opts.discoveryIntervalSeconds === undefined
          ? {}
          : { discoveryIntervalSeconds: opts.discoveryIntervalSeconds }),
      }),
      ...createClusterLifecycleActivities({ db: opts.db }),
      ...createCloneActivities({ db: opts.db }),
    },
    ...(opts.identity ? { identity: opts.identity } : {}),
  });
