import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createSigningKeyStore } from '../../db/signing-keys.ts';
import { createSiteStore } from '../../db/sites.ts';
import { notFound } from '../../domain/errors.ts';
import { runIdFor } from '../../domain/runs.ts';
import { EnrollBody, Enrollment, Revocation, SiteName } from '../../domain/sites.ts';
import { CONTROL_TASK_QUEUE } from '../../domain/task-queues.ts';
import { ensureSiteLink } from '../../runtime/site-link.ts';
import { jwksDocument, signSiteToken } from '../../runtime/temporal-credentials.ts';
import type { AppDeps } from '../app.ts';
import { ErrorBody } from '../errors.ts';

const SiteParams = z.object({ site: SiteName });

/** The JWKS, for the Temporal server: public, like any issuer's. */
export const jwksRoute =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const keys = createSigningKeyStore(deps.db);
    app.get(
      '/.well-known/jwks.json',
      {
        schema: {
          summary: 'Public keys of the Temporal credentials drover signs (what the Temporal server trusts)',
          tags: ['sites'],
          response: {
            200: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }),
          },
        },
      },
      async (_request, reply) => {
        // Made on first ask: the control plane's own key is always among those published.
        await keys.controlKey();
        return reply.header('cache-control', 'no-store').send(jwksDocument(await keys.published()));
      },
    );
  };

/**
 * Site enrollment and revocation: `POST /v1/sites/{site}/enroll` makes the site's Temporal
 * namespace and signs its credential (returned once, never stored); `POST
 * /v1/sites/{site}/revoke` drops the site's key from the JWKS, so the Temporal server refuses
 * the credential once it re-reads the document.
 */
export const siteCredentialRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const sites = createSiteStore(deps.db);
    const keys = createSigningKeyStore(deps.db);

    app.post(
      '/sites/:site/enroll',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Enroll a site: its Temporal namespace and a credential for its sub-manager (shown once)',
          description:
            'Creates the site if it is new. Enrolling an enrolled site again rotates its credential: the earlier one is revoked.',
          tags: ['sites'],
          params: SiteParams,
          body: EnrollBody,
          response: { 201: Enrollment, 400: ErrorBody },
        },
      },
      async (request, reply) => {
        const { site } = request.params;
        if (!(await sites.get(site))) await sites.create(site, request.body.description ?? '');
        const controlNamespace = deps.temporal.options.namespace;
        // The namespace and endpoint first: a credential for a namespace that does not exist
        // is no use. A site enrolled again keeps both.
        const link = await ensureSiteLink(deps.temporal.connection, controlNamespace, site);
        // The site's credential cannot reach the control namespace to announce itself: the
        // check-in starts here and waits for the site's first answer over its link.
        await deps.temporal.workflow.start('siteCheckInWorkflow', {
          taskQueue: CONTROL_TASK_QUEUE,
          workflowId: runIdFor('site-check-in', site),
          args: [{ site, description: request.body.description ?? '' }],
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        });
        const { key, revoked } = await keys.rotateSite(site);
        const ttlSeconds = request.body.ttlDays * 86_400;
        const now = new Date();
        const temporalToken = signSiteToken(key, { controlNamespace, name: site }, { ttlSeconds, now });
        return reply.status(201).send({
          site,
          namespace: link.namespace,
          endpoint: link.endpoint,
          taskQueue: link.taskQueue,
          keyId: key.kid,
          temporalToken,
          expiresAt: new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
          revokedKeys: revoked,
        });
      },
    );

    app.post(
      '/sites/:site/revoke',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Revoke a site’s credential: its key leaves the JWKS the Temporal server trusts',
          tags: ['sites'],
          params: SiteParams,
          response: { 200: Revocation, 404: ErrorBody },
        },
      },
      async (request) => {
        const { site } = request.params;
        if (!(await sites.get(site))) throw notFound('site', site);
        return {
          site,
          revokedKeys: await keys.revokeSite(site),
          note: 'refused by the Temporal server once it re-reads the JWKS (its refresh interval); the site’s work waits as for an offline site; enroll again to bring it back',
        };
      },
    );
  };
