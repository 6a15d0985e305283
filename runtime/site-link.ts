import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { siteEndpoint, siteNamespace } from '../domain/site-link.ts';
import { siteTaskQueue } from '../domain/task-queues.ts';

/** gRPC status of registering what exists. */
const ALREADY_EXISTS = 6;
const RETENTION = '7 days';
/** A namespace just registered is served once the frontend's namespace cache has it. */
const SERVED_WITHIN_MS = 60_000;

export type SiteLink = { namespace: string; endpoint: string; taskQueue: string };

/**
 * Makes a site's namespace and its Nexus endpoint (target: that namespace and the site's
 * queue), if they are not there yet, and waits until the namespace is served. Idempotent:
 * enrollment calls it, and so does a sub-manager on the shared credential of a setup without
 * authorization; under authorization only the control plane may (cluster admin).
 */
export const ensureSiteLink = async (
  connection: Pick<Connection, 'workflowService' | 'operatorService'>,
  controlNamespace: string,
  site: string,
): Promise<SiteLink> => {
  const link = {
    namespace: siteNamespace(controlNamespace, site),
    endpoint: siteEndpoint(controlNamespace, site),
    taskQueue: siteTaskQueue(site),
  };
  const unlessExists = (err: unknown) => {
    if ((err as { code?: number }).code !== ALREADY_EXISTS) throw err;
  };
  await connection.workflowService
    .registerNamespace({
      namespace: link.namespace,
      description: `drover site ${site}: this site's work only`,
      workflowExecutionRetentionPeriod: msToTs(RETENTION),
    })
    .catch(unlessExists);
  for (const deadline = Date.now() + SERVED_WITHIN_MS; ;) {
    try {
      await connection.workflowService.describeNamespace({ namespace: link.namespace });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
  await connection.operatorService
    .createNexusEndpoint({
      spec: {
        name: link.endpoint,
        target: { worker: { namespace: link.namespace, taskQueue: link.taskQueue } },
      },
    })
    .catch(unlessExists);
  return link;
};
