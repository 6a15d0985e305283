import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createClusterStore } from '../../db/clusters.ts';
import { createReleaseStore } from '../../db/releases.ts';
import { DeploymentRequest, planWaves } from '../../domain/deployments.ts';
import { DroverError, ErrorType } from '../../domain/errors.ts';
import { runIdFor } from '../../domain/runs.ts';
import { CONTROL_TASK_QUEUE } from '../../domain/task-queues.ts';
import { ErrorBody } from '../errors.ts';
import { selectorFrom } from './clusters.ts';
import type { AppDeps } from '../app.ts';

const PlannedTarget = z.object({ id: z.string(), name: z.string(), site: z.string() });

export const deploymentRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const clusters = createClusterStore(deps.db);
    const releases = createReleaseStore(deps.db);

    app.post(
      '/deployments',
      {
        schema: {
          summary: 'Roll a release out to the clusters a placement selects, in waves',
          description:
            'With `dryRun: true` returns the resolved plan (clusters per wave) and touches nothing. Otherwise starts a run and returns its id; follow it with GET /v1/runs/{id}.',
          tags: ['deployments'],
          body: DeploymentRequest,
          response: {
            200: z.object({
              dryRun: z.literal(true),
              releaseId: z.string(),
              count: z.number(),
              waves: z.array(z.array(PlannedTarget)),
            }),
            202: z.object({
              runId: z.string(),
              count: z.number(),
              waves: z.array(z.number()),
              links: z.object({ self: z.string() }),
            }),
            400: ErrorBody,
            404: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const body = request.body;
        try {
          await releases.get(body.releaseId);
        } catch (err) {
          if (err instanceof DroverError && err.type === ErrorType.NotFound) {
            throw new DroverError(ErrorType.NotFound, err.message, { field: 'body.releaseId' });
          }
          throw err;
        }
        body.strategy.waves.forEach((w, i) => {
          if ('selector' in w) selectorFrom(w.selector, `body.strategy.waves.${i}.selector`);
        });
        const targets = await clusters.placementWithLabels({
          clusterIds: body.placement.clusterIds,
          selector: selectorFrom(body.placement.selector, 'body.placement.selector'),
          sites: body.placement.sites,
        });
        if (targets.length === 0) {
          throw new DroverError(ErrorType.BadInput, 'the placement selects no cluster', {
            field: 'body.placement',
          });
        }
        if (targets.length > 2000) {
          // One workflow keeps at most ~2,000 activities in flight and a bounded history;
          // sharding into child runs is what lifts this.
          throw new DroverError(
            ErrorType.BadInput,
            `the placement selects ${targets.length} clusters; at most 2,000 per deployment for now`,
            {
              field: 'body.placement',
            },
          );
        }
        const waves = planWaves(targets, body.strategy.waves);
        if (body.dryRun) {
          return reply.status(200).send({
            dryRun: true as const,
            releaseId: body.releaseId,
            count: targets.length,
            waves: waves.map((w) => w.map((t) => ({ id: t.id, name: t.name, site: t.site }))),
          });
        }
        const runId = runIdFor('deploy', randomUUID());
        await deps.temporal.workflow.start('bulkDeployWorkflow', {
          taskQueue: CONTROL_TASK_QUEUE,
          workflowId: runId,
          args: [{ releaseId: body.releaseId, targets, strategy: body.strategy }],
          memo: { releaseId: body.releaseId, startedBy: request.principal?.name ?? 'unknown' },
        });
        deps.metrics.runsStarted.inc({ kind: 'deploy' });
        return reply.status(202).send({
          runId,
          count: targets.length,
          waves: waves.map((w) => w.length),
          links: { self: `/v1/runs/${runId}` },
        });
      },
    );
  };
