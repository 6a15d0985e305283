import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createMaintenanceStore } from '../../db/maintenance.ts';
import { DriftStatus, MaintenanceSpec } from '../../domain/maintenance.ts';
import { runIdFor } from '../../domain/runs.ts';
import { SiteName } from '../../domain/sites.ts';
import { CONTROL_TASK_QUEUE } from '../../domain/task-queues.ts';
import type { MaintenanceInput } from '../../workflows/maintenance.ts';
import { ErrorBody } from '../errors.ts';
import { selectorFrom } from '../../domain/selectors.ts';
import type { AppDeps } from '../app.ts';

const FieldDrift = z.object({ path: z.string(), live: z.string(), desired: z.string() });
const ObjectDrift = z.object({
  apiVersion: z.string(),
  kind: z.string(),
  namespace: z.string().nullable(),
  name: z.string(),
  state: z.enum(['missing', 'drifted']),
  fields: z.array(FieldDrift),
  truncated: z.boolean(),
});
const DriftReport = z.object({
  clusterId: z.string(),
  clusterName: z.string(),
  site: z.string(),
  releaseName: z.string(),
  releaseId: z.string(),
  deployRunId: z.string(),
  status: DriftStatus,
  checked: z.number(),
  objects: z.array(ObjectDrift),
  omitted: z.number().describe('differing objects not listed in objects (a check keeps itself under 16 KiB)'),
  error: z.string().nullable(),
  checkedAt: z.string(),
  checkRunId: z.string(),
});

export const maintenanceRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const store = createMaintenanceStore(deps.db);

    app.post(
      '/maintenance',
      {
        schema: {
          summary: 'Start a maintenance run now (drift, expired clusters, version report)',
          description: [
            '`drift`: every release deployed to a cluster (its latest succeeded deploy) is compared with the',
            'cluster; `policy: repair` re-applies what drifted. `expiredClusters`: clusters past their',
            '`expiresAt` or `drover.io/ttl` label (a duration since registration) and the `grace` period are',
            'deleted — through their cloud when they belong to a site account, otherwise deregistered only;',
            '`dryRun` lists them. `versions`: each cluster against its cloud catalog or the upstream support',
            'window. The report is the run result (GET /v1/runs/{id}); drift is also kept per cluster (GET /v1/drift).',
            'To run it on a timetable, create a schedule of kind `maintenance`.',
          ].join(' '),
          tags: ['maintenance'],
          body: MaintenanceSpec,
          response: {
            202: z.object({ runId: z.string(), links: z.object({ self: z.string() }) }),
            400: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        selectorFrom(request.body.drift?.placement?.selector, 'body.drift.placement.selector');
        const runId = runIdFor('maintenance', randomUUID());
        const input: MaintenanceInput = { spec: request.body };
        await deps.temporal.workflow.start('maintenanceWorkflow', {
          taskQueue: CONTROL_TASK_QUEUE,
          workflowId: runId,
          args: [input],
          memo: { startedBy: request.principal?.name ?? 'unknown' },
        });
        deps.metrics.runsStarted.inc({ kind: 'maintenance' });
        return reply.status(202).send({ runId, links: { self: `/v1/runs/${runId}` } });
      },
    );

    app.get(
      '/drift',
      {
        schema: {
          summary: 'The latest drift check of each release on each cluster',
          description:
            'Per cluster and release (by name): in-sync, drifted (which objects, which fields: live and desired value), repaired, or error. Written by maintenance runs with a `drift` task.',
          tags: ['maintenance'],
          querystring: z.object({
            status: DriftStatus.optional(),
            site: SiteName.optional(),
            cluster: z.string().uuid().optional().describe('one cluster id'),
            limit: z.coerce.number().int().min(1).max(1000).default(100),
            cursor: z.string().max(1024).optional(),
          }),
          response: {
            200: z.object({ items: z.array(DriftReport), nextCursor: z.string().nullable() }),
            400: ErrorBody,
          },
        },
      },
      async (request) => {
        const q = request.query;
        return store.listDrift(
          { status: q.status, site: q.site, clusterId: q.cluster },
          { limit: q.limit, cursor: q.cursor },
        );
      },
    );
  };
