import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Run, RunId, kindOfRunId } from '../../domain/runs.ts';
import { DroverError, ErrorType } from '../../domain/errors.ts';
import { ErrorBody } from '../errors.ts';
import { describeRun } from '../temporal-views.ts';
import type { AppDeps } from '../app.ts';

const Params = z.object({ id: RunId });
/** Kinds of run that speak the control protocol (progress query, pause/resume/rollback updates). */
const CONTROLLED_KINDS = ['deploy'];

export const runRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/runs/:id',
      {
        schema: {
          summary: 'A run: status, progress, what it is waiting for, and its result or error',
          tags: ['runs'],
          params: Params,
          response: { 200: Run.extend({ progress: z.unknown().optional() }), 404: ErrorBody },
        },
      },
      async (request) => {
        const run = await describeRun(deps.temporal, request.params.id);
        if (CONTROLLED_KINDS.includes(run.kind)) {
          const progress =
            run.status === 'running'
              ? await deps.temporal.workflow.getHandle(run.id).query('progress')
              : run.result;
          return { ...run, progress };
        }
        return run;
      },
    );

    const control = (name: string, update: string, summary: string, body?: z.ZodType) =>
      app.post(
        `/runs/:id/${name}`,
        {
          schema: {
            summary,
            tags: ['runs'],
            params: Params,
            ...(body ? { body } : {}),
            response: {
              200: z.object({ progress: z.unknown() }),
              404: ErrorBody,
              409: ErrorBody,
              422: ErrorBody,
            },
          },
        },
        async (request) => {
          const { id } = request.params;
          if (!CONTROLLED_KINDS.includes(kindOfRunId(id))) {
            throw new DroverError(
              ErrorType.InvalidState,
              `runs of kind '${kindOfRunId(id)}' cannot be ${name}d`,
            );
          }
          const handle = deps.temporal.workflow.getHandle(id);
          const progress = body
            ? await handle.executeUpdate(update, { args: [request.body] })
            : await handle.executeUpdate(update);
          return { progress };
        },
      );

    control('pause', 'pause', 'Pause a run: no new targets start; running ones finish');
    control(
      'resume',
      'resume',
      'Resume a paused run, retrying its failed targets or skipping them',
      z.object({ failed: z.enum(['retry', 'skip']).default('retry') }),
    );
    control(
      'rollback',
      'rollback',
      'Roll back every cluster the run touched to its snapshot, in reverse wave order',
    );
    control(
      'concurrency',
      'setConcurrency',
      'Change how many targets run at once',
      z.object({ maxParallel: z.number().int().min(1).max(500) }),
    );

    app.post(
      '/runs/:id/cancel',
      {
        schema: {
          summary: 'Cancel a run: nothing new starts; what runs settles',
          tags: ['runs'],
          params: Params,
          response: { 202: z.object({ runId: z.string() }), 404: ErrorBody },
        },
      },
      async (request, reply) => {
        await deps.temporal.workflow.getHandle(request.params.id).cancel();
        return reply.status(202).send({ runId: request.params.id });
      },
    );
  };
