import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Run, RunId } from '../../domain/runs.ts';
import { ErrorBody } from '../errors.ts';
import { describeRun } from '../temporal-views.ts';
import type { AppDeps } from '../app.ts';

export const runRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/runs/:id',
      {
        schema: {
          summary: 'A run: status, what it is waiting for, and its result or error',
          tags: ['runs'],
          params: z.object({ id: RunId }),
          response: { 200: Run, 404: ErrorBody },
        },
      },
      async (request) => describeRun(deps.temporal, request.params.id),
    );
  };
