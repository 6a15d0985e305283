import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { siteEndpoint, siteNamespace } from '../domain/site-link.ts';
import { siteTaskQueue } from '../domain/task-queues.ts';

/** gRPC statuses: registering what exists; a call this credential or server does not allow. */
const ALREADY_EXISTS = 6;
const PERMISSION_DENIED = 7;
const UNIMPLEMENTED = 12;
const RETENTION = '7 days';
/** A namespace just registered is served once the frontend's namespace cache has it. */
const SERVED_WITHIN_MS = 60_000;

export type SiteLink = { namespace: string; endpoint: string; taskQueue: string };

/**
 * Makes a site's namespace and its Nexus endpoint (target: that namespace and the site's
 * queue), if they are not there yet, and waits until the namespace is served. Idempotent:
 * enrollment calls it, the control plane before it first calls a site, and a sub-manager on a
 * server without authorization; under authorization only the control plane may (cluster admin).
 * Where they are made by other means (Temporal Cloud), it finds the namespace and goes on.
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
  const code = (err: unknown) => (err as { code?: number }).code;
  await connection.workflowService
    .registerNamespace({
      namespace: link.namespace,
      description: `drover site ${site}: this site's work only`,
      workflowExecutionRetentionPeriod: msToTs(RETENTION),
    })
    .catch(async (err: unknown) => {
      if (code(err) === ALREADY_EXISTS) return;
      // Made elsewhere (Temporal Cloud, an operator), where registering is not ours to do: it
      // will do if it is there.
      await connection.workflowService.describeNamespace({ namespace: link.namespace }).catch(() => {
        throw err;
      });
    });
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
    .catch((err: unknown) => {
      // Made elsewhere, as above: there the endpoint API is not ours to call (a missing endpoint
      // shows as site steps that never start, and in the control worker's log).
      if (![ALREADY_EXISTS, PERMISSION_DENIED, UNIMPLEMENTED].includes(code(err) ?? -1)) throw err;
    });
  return link;
};
