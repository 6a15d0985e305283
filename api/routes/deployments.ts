import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { planDeployment } from '../../activities/control/deploy-plans.ts';
import { DeploymentRequest } from '../../domain/deployments.ts';
import { runIdFor } from '../../domain/runs.ts';
import { startDeployRun } from '../deploy-runs.ts';
import { ErrorBody } from '../errors.ts';
import type { AppDeps } from '../app.ts';

const PlannedTarget = z.object({ id: z.string(), name: z.string(), site: z.string() });

export const deploymentRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
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
        const { count, waves } = await planDeployment(deps.db, body, 'body');
        if (body.dryRun) {
          return reply.status(200).send({
            dryRun: true as const,
            releaseId: body.releaseId,
            count,
            waves: waves.map((w) => w.map((t) => ({ id: t.id, name: t.name, site: t.site }))),
          });
        }
        const runId = runIdFor('deploy', randomUUID());
        await startDeployRun(deps, deps.deployRuns, {
          runId,
          releaseId: body.releaseId,
          strategy: body.strategy,
          waves,
          memo: { releaseId: body.releaseId, startedBy: request.principal?.name ?? 'unknown' },
        });
        deps.metrics.runsStarted.inc({ kind: 'deploy' });
        return reply.status(202).send({
          runId,
          count,
          waves: waves.map((w) => w.length),
          links: { self: `/v1/runs/${runId}` },
        });
      },
    );
  };
