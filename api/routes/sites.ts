import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createSiteStore, type SiteRow } from '../../db/sites.ts';
import { notFound } from '../../domain/errors.ts';
import { CreateSiteBody, Site, SiteName } from '../../domain/sites.ts';
import { runIdFor } from '../../domain/runs.ts';
import { CONTROL_TASK_QUEUE } from '../../domain/task-queues.ts';
import { ErrorBody } from '../errors.ts';
import { siteLiveness } from '../temporal-views.ts';
import type { AppDeps } from '../app.ts';

const SiteParams = z.object({ site: SiteName });
const RunAccepted = z.object({
  runId: z.string(),
  links: z.object({ self: z.string(), events: z.string().optional() }),
});

export const siteRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const sites = createSiteStore(deps.db);
    const view = async (row: SiteRow): Promise<Site> => ({
      name: row.name,
      description: row.description,
      createdAt: row.created_at.toISOString(),
      ...(await siteLiveness(deps.temporal, row.name, deps.siteOfflineAfterMs)),
    });
    const mustExist = async (name: string) => {
      const row = await sites.get(name);
      if (!row) throw notFound('site', name);
      return row;
    };

    app.get(
      '/sites',
      {
        schema: {
          summary: 'List sites with liveness from their sub-managers',
          tags: ['sites'],
          response: { 200: z.object({ items: z.array(Site) }), 401: ErrorBody },
        },
      },
      async () => ({ items: await Promise.all((await sites.list()).map(view)) }),
    );

    app.post(
      '/sites',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Register a site before its sub-manager first starts',
          tags: ['sites'],
          body: CreateSiteBody,
          response: { 201: Site, 400: ErrorBody, 409: ErrorBody },
        },
      },
      async (request, reply) =>
        reply.status(201).send(await view(await sites.create(request.body.name, request.body.description))),
    );

    app.get(
      '/sites/:site',
      {
        schema: {
          summary: 'One site',
          tags: ['sites'],
          params: SiteParams,
          response: { 200: Site, 404: ErrorBody },
        },
      },
      async (request) => view(await mustExist(request.params.site)),
    );

    app.post(
      '/sites/:site/ping',
      {
        schema: {
          summary: 'Start a run that round-trips through the site’s sub-manager',
          description:
            'Returns at once with the run id. If the site is offline the run waits for its sub-manager instead of failing.',
          tags: ['sites'],
          params: SiteParams,
          response: { 202: RunAccepted, 404: ErrorBody },
        },
      },
      async (request, reply) => {
        const { site } = request.params;
        await mustExist(site);
        const runId = runIdFor('ping', `${site}:${randomUUID()}`);
        await deps.temporal.workflow.start('pingSiteWorkflow', {
          taskQueue: CONTROL_TASK_QUEUE,
          workflowId: runId,
          args: [{ site }],
          memo: { site, startedBy: request.principal?.name ?? 'unknown' },
        });
        deps.metrics.runsStarted.inc({ kind: 'ping' });
        return reply.status(202).send({ runId, links: { self: `/v1/runs/${runId}` } });
      },
    );
  };
