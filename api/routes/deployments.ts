import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createClusterStore } from '../../db/clusters.ts';
import { createReleaseStore } from '../../db/releases.ts';
import { DeploymentRequest, planWaves } from '../../domain/deployments.ts';
import { DroverError, ErrorType } from '../../domain/errors.ts';
import { runIdFor } from '../../domain/runs.ts';
import { startDeployRun } from '../deploy-runs.ts';
import { ErrorBody } from '../errors.ts';
import { selectorFrom } from './clusters.ts';
import type { AppDeps } from '../app.ts';

/** Runs shard into child workflows of 500 targets, so this bounds only the API's own work. */
const MAX_TARGETS = 20_000;

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
        if (targets.length > MAX_TARGETS) {
          throw new DroverError(
            ErrorType.BadInput,
            `the placement selects ${targets.length} clusters; at most ${MAX_TARGETS.toLocaleString('en')} per deployment`,
            { field: 'body.placement' },
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
          count: targets.length,
          waves: waves.map((w) => w.length),
          links: { self: `/v1/runs/${runId}` },
        });
      },
    );
  };
