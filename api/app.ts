import Fastify, { type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Client } from '@temporalio/client';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Db } from '../db/database.ts';
import type { Logger } from '../runtime/logger.ts';
import { DROVER_VERSION } from '../runtime/version.ts';
import { authenticate, createTokenStore } from './auth.ts';
import { errorHandler } from './errors.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { cloneRoutes } from './routes/clones.ts';
import { codecRoutes } from './routes/codec.ts';
import { cloudClusterRoutes } from './routes/cloud-clusters.ts';
import { clusterRoutes } from './routes/clusters.ts';
import { releaseRoutes } from './routes/releases.ts';
import { deploymentRoutes } from './routes/deployments.ts';
import type { DeployRunOptions } from './deploy-runs.ts';
import { MAX_SHARD_SIZE } from '../domain/deployments.ts';
import { runRoutes } from './routes/runs.ts';
import { maintenanceRoutes } from './routes/maintenance.ts';
import { scheduleRoutes } from './routes/schedules.ts';
import { siteRoutes } from './routes/sites.ts';
import { jwksRoute, siteCredentialRoutes } from './routes/site-credentials.ts';
import { tokenRoutes } from './routes/tokens.ts';

export type AppDeps = {
  db: Db;
  temporal: Client;
  siteOfflineAfterMs: number;
  metrics: Metrics;
  deployRuns: DeployRunOptions;
  /** Browser origins (the Temporal UI) allowed to call the codec endpoint. */
  codecCorsOrigins: string[];
};

export type BuildAppOptions = Omit<AppDeps, 'metrics' | 'deployRuns' | 'codecCorsOrigins'> & {
  logger?: Logger | false;
  /** Serve HTTPS with this certificate and key (PEM). */
  https?: { cert: Buffer; key: Buffer } | undefined;
  codecCorsOrigins?: string[] | undefined;
  /** Default: shards of 500 targets. */
  deployRuns?: DeployRunOptions | undefined;
};

const READY_CHECK_TIMEOUT_MS = 2_000;

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms).unref(),
    ),
  ]);

/** Builds the API without listening, so tests drive it with `inject`. */
export const buildApp = async (opts: BuildAppOptions) => {
  const deps: AppDeps = {
    ...opts,
    metrics: createMetrics(),
    deployRuns: opts.deployRuns ?? { shardSize: MAX_SHARD_SIZE },
    codecCorsOrigins: opts.codecCorsOrigins ?? [],
  };
  // Typed as the plain HTTP server either way: routes and tests do not depend on the transport.
  const serverOptions = {
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    genReqId: () => crypto.randomUUID(),
    ...(opts.https ? { https: opts.https } : {}),
  } as FastifyServerOptions;
  const app = Fastify(serverOptions).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: { code: 'NotFound', message: `no route ${request.method} ${request.url}` } }),
  );

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'drover',
        version: DROVER_VERSION,
        description:
          'Manager of managers for Kubernetes fleets. Every /v1 route needs `Authorization: Bearer <token>`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.httpRequests.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get(
    '/healthz',
    {
      schema: {
        summary: 'The process is up',
        tags: ['health'],
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  const ReadyBody = z.object({
    status: z.enum(['ready', 'not-ready']),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), error: z.string().optional() })),
  });
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Temporal and the database are reachable',
        tags: ['health'],
        response: { 200: ReadyBody, 503: ReadyBody },
      },
    },
    async (_request, reply) => {
      const check = async (what: string, probe: () => Promise<unknown>) =>
        withTimeout(probe(), READY_CHECK_TIMEOUT_MS, what).then(
          () => ({ ok: true }),
          (err: unknown) => ({ ok: false, error: err instanceof Error ? err.message : String(err) }),
        );
      const [database, temporal] = await Promise.all([
        check('database', () => opts.db.query('SELECT 1')),
        // A deadline on the call itself: the client's retry loop would otherwise go on in the
        // background long after this check gave up.
        check('temporal', () =>
          opts.temporal.connection.withDeadline(Date.now() + READY_CHECK_TIMEOUT_MS, () =>
            opts.temporal.workflowService.getSystemInfo({}),
          ),
        ),
      ]);
      const ready = database.ok && temporal.ok;
      return reply
        .status(ready ? 200 : 503)
        .send({ status: ready ? 'ready' : 'not-ready', checks: { database, temporal } });
    },
  );

  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['health'] } },
    async (_request, reply) =>
      reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()),
  );

  const tokens = createTokenStore(opts.db);
  await app.register(
    async (v1) => {
      v1.addHook('onRequest', authenticate(tokens));
      await v1.register(siteRoutes(deps));
      await v1.register(siteCredentialRoutes(deps));
      await v1.register(clusterRoutes(deps));
      await v1.register(cloudClusterRoutes(deps));
      await v1.register(cloneRoutes(deps));
      await v1.register(releaseRoutes(deps));
      await v1.register(deploymentRoutes(deps));
      await v1.register(runRoutes(deps));
      await v1.register(scheduleRoutes(deps));
      await v1.register(maintenanceRoutes(deps));
      await v1.register(tokenRoutes(deps));
    },
    { prefix: '/v1' },
  );
  await app.register(jwksRoute(deps));
  // Beside /v1, not in it: a browser's CORS preflight must be answered before authentication.
  await app.register(codecRoutes(deps, tokens), { prefix: '/v1/codec' });

  return app;
};
export type App = Awaited<ReturnType<typeof buildApp>>;
