import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createClusterStore, type ClusterRow } from '../../db/clusters.ts';
import { createSiteStore } from '../../db/sites.ts';
import {
  ClusterName,
  ClusterRef,
  ClusterStatus,
  ContextName,
  Provider,
  TargetSpec,
} from '../../domain/clusters.ts';
import { notFound } from '../../domain/errors.ts';
import { runIdFor } from '../../domain/runs.ts';
import { Labels, selectorFrom, validateLabelKey, validateLabelValue } from '../../domain/selectors.ts';
import { SiteName } from '../../domain/sites.ts';
import { CONTROL_TASK_QUEUE } from '../../domain/task-queues.ts';
import { ErrorBody } from '../errors.ts';
import type { AppDeps } from '../app.ts';
import { startClusterDestroy } from './cloud-clusters.ts';

export const Cluster = z.object({
  id: z.string().uuid(),
  name: z.string(),
  site: z.string(),
  context: z.string(),
  provider: Provider,
  location: z.string(),
  kubernetesVersion: z.string().nullable(),
  endpoint: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  status: ClusterStatus,
  statusMessage: z.string().nullable(),
  origin: z.enum(['discovered', 'registered']),
  expiresAt: z.string().datetime().nullable(),
  createdAt: z.string().datetime(),
  updatedAt: z.string().datetime(),
  lastSeenAt: z.string().datetime().nullable(),
});
export type Cluster = z.infer<typeof Cluster>;

const view = (r: ClusterRow): Cluster => ({
  id: r.id,
  name: r.name,
  site: r.site,
  context: r.context,
  provider: r.provider,
  location: r.location,
  kubernetesVersion: r.kubernetes_version,
  endpoint: r.endpoint,
  labels: r.labels,
  status: r.status,
  statusMessage: r.status_message,
  origin: r.origin,
  expiresAt: r.expires_at?.toISOString() ?? null,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  lastSeenAt: r.last_seen_at?.toISOString() ?? null,
});

/** Label changes: a value sets the label, null removes it (JSON merge patch). */
const LabelChanges = z.record(z.string(), z.string().nullable()).superRefine((labels, ctx) => {
  for (const [key, value] of Object.entries(labels)) {
    const keyError = validateLabelKey(key);
    if (keyError) ctx.addIssue({ code: 'custom', path: [key], message: `label key '${key}': ${keyError}` });
    const valueError = value === null ? undefined : validateLabelValue(value);
    if (valueError)
      ctx.addIssue({ code: 'custom', path: [key], message: `label '${key}' value: ${valueError}` });
  }
});

const IdParams = z.object({ id: z.string().uuid() });

export const clusterRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const clusters = createClusterStore(deps.db);
    const sites = createSiteStore(deps.db);

    const startDiscovery = async (site: string, startedBy: string) => {
      const runId = runIdFor('discovery', `${site}:${randomUUID()}`);
      await deps.temporal.workflow.start('discoverSiteWorkflow', {
        taskQueue: CONTROL_TASK_QUEUE,
        workflowId: runId,
        args: [{ site }],
        memo: { site, startedBy },
      });
      deps.metrics.runsStarted.inc({ kind: 'discovery' });
      return runId;
    };

    app.get(
      '/clusters',
      {
        schema: {
          summary: 'List clusters, filtered by label selector, site, provider and status',
          tags: ['clusters'],
          querystring: z.object({
            selector: z
              .string()
              .max(4096)
              .optional()
              .describe('Kubernetes label selector, e.g. `env=prod,tier in (web,api)`'),
            site: SiteName.optional(),
            provider: Provider.optional(),
            status: ClusterStatus.optional(),
            limit: z.coerce.number().int().min(1).max(1000).default(100),
            cursor: z.string().max(2000).optional().describe('`nextCursor` of the previous page'),
          }),
          response: {
            200: z.object({ items: z.array(Cluster), nextCursor: z.string().nullable() }),
            400: ErrorBody,
          },
        },
      },
      async (request) => {
        const q = request.query;
        const page = await clusters.list(
          {
            selector: selectorFrom(q.selector, 'querystring.selector'),
            site: q.site,
            provider: q.provider,
            status: q.status,
          },
          { limit: q.limit, cursor: q.cursor },
        );
        return { items: page.items.map(view), nextCursor: page.nextCursor };
      },
    );

    app.get(
      '/clusters/:id',
      {
        schema: {
          summary: 'One cluster',
          tags: ['clusters'],
          params: IdParams,
          response: { 200: Cluster, 404: ErrorBody },
        },
      },
      async (request) => view(await clusters.get(request.params.id)),
    );

    app.post(
      '/clusters',
      {
        schema: {
          summary: 'Register an existing cluster by its site and kubeconfig context',
          description:
            'The cluster starts `pending`; a discovery run of its site (whose id is returned) confirms it. Credentials stay in the site: only the context name is stored.',
          tags: ['clusters'],
          body: z.object({
            site: SiteName,
            context: ContextName,
            name: ClusterName.optional(),
            labels: Labels.optional(),
            expiresAt: z.string().datetime().nullable().optional(),
          }),
          response: {
            201: Cluster.extend({ discoveryRunId: z.string() }),
            400: ErrorBody,
            404: ErrorBody,
            409: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const b = request.body;
        const row = await clusters.register({
          site: b.site,
          context: b.context,
          name: b.name,
          labels: b.labels,
          expiresAt: b.expiresAt ? new Date(b.expiresAt) : null,
        });
        const discoveryRunId = await startDiscovery(b.site, request.principal?.name ?? 'unknown');
        return reply.status(201).send({ ...view(row), discoveryRunId });
      },
    );

    app.patch(
      '/clusters/:id',
      {
        schema: {
          summary: 'Change labels (null removes one) or the expiry of a cluster',
          tags: ['clusters'],
          params: IdParams,
          body: z
            .object({
              labels: LabelChanges.optional(),
              expiresAt: z.string().datetime().nullable().optional(),
            })
            .strict(),
          response: { 200: Cluster, 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request) => {
        const { labels, expiresAt } = request.body;
        return view(
          await clusters.patch(request.params.id, {
            labels,
            expiresAt: expiresAt === undefined ? undefined : expiresAt === null ? null : new Date(expiresAt),
          }),
        );
      },
    );

    app.delete(
      '/clusters/:id',
      {
        schema: {
          summary: 'Deregister a cluster (the cluster itself is untouched; discovery will not re-add it)',
          description:
            "With `destroy=true` the cluster is deleted in its site's cloud account first (node pools, then the cluster, then its inventory entry): a run whose id is returned (202).",
          tags: ['clusters'],
          params: IdParams,
          querystring: z.object({
            destroy: z
              .enum(['true', 'false'])
              .default('false')
              .describe('delete the cluster in its cloud, not only from the inventory'),
          }),
          response: {
            202: z.object({ runId: z.string(), links: z.object({ self: z.string() }) }),
            204: z.null(),
            404: ErrorBody,
            409: ErrorBody,
            422: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        if (request.query.destroy === 'true') {
          const row = await clusters.get(request.params.id);
          const run = await startClusterDestroy(deps.temporal, row, request.principal?.name ?? 'unknown');
          deps.metrics.runsStarted.inc({ kind: 'delete-cluster' });
          return reply.status(202).send(run);
        }
        await clusters.deregister(request.params.id);
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/sites/:site/discover',
      {
        schema: {
          summary: 'Start a discovery run of one site now',
          tags: ['sites', 'clusters'],
          params: z.object({ site: SiteName }),
          response: {
            202: z.object({ runId: z.string(), links: z.object({ self: z.string() }) }),
            404: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        if (!(await sites.get(request.params.site))) throw notFound('site', request.params.site);
        const runId = await startDiscovery(request.params.site, request.principal?.name ?? 'unknown');
        return reply.status(202).send({ runId, links: { self: `/v1/runs/${runId}` } });
      },
    );

    app.post(
      '/placement/preview',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Resolve a target spec into the sorted cluster list a bulk run would use',
          tags: ['clusters'],
          body: TargetSpec,
          response: {
            200: z.object({ count: z.number().int(), items: z.array(ClusterRef) }),
            400: ErrorBody,
            404: ErrorBody,
          },
        },
      },
      async (request) => {
        const b = request.body;
        const items = await clusters.placement({
          clusterIds: b.clusterIds,
          selector: selectorFrom(b.selector, 'body.selector'),
          sites: b.sites,
        });
        return { count: items.length, items };
      },
    );
  };
