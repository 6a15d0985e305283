import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound } from '../../domain/errors.ts';
import { Role, createTokenStore } from '../auth.ts';
import { ErrorBody } from '../errors.ts';
import type { AppDeps } from '../app.ts';

const TokenInfo = z.object({
  id: z.string(),
  name: z.string(),
  role: Role,
  createdAt: z.string().datetime(),
  lastUsedAt: z.string().datetime().nullable(),
  revokedAt: z.string().datetime().nullable(),
});

export const tokenRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const tokens = createTokenStore(deps.db);

    app.get(
      '/tokens',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'List API tokens (never their secrets)',
          tags: ['tokens'],
          response: { 200: z.object({ items: z.array(TokenInfo) }) },
        },
      },
      async () => ({
        items: (await tokens.list()).map((t) => ({
          id: t.id,
          name: t.name,
          role: t.role,
          createdAt: t.created_at.toISOString(),
          lastUsedAt: t.last_used_at?.toISOString() ?? null,
          revokedAt: t.revoked_at?.toISOString() ?? null,
        })),
      }),
    );

    app.post(
      '/tokens',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Create an API token; its secret is shown once, in this response',
          tags: ['tokens'],
          body: z.object({
            name: z
              .string()
              .min(1)
              .max(100)
              .regex(/^[-A-Za-z0-9_.@]+$/, 'letters, digits and -_.@ only'),
            role: Role,
          }),
          response: {
            201: z.object({
              id: z.string(),
              name: z.string(),
              role: Role,
              token: z.string(),
              createdAt: z.string().datetime(),
            }),
            400: ErrorBody,
            409: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const t = await tokens.create(request.body.name, request.body.role);
        return reply.status(201).send({ ...t, createdAt: t.createdAt.toISOString() });
      },
    );

    app.delete(
      '/tokens/:id',
      {
        config: { role: 'admin' },
        schema: {
          summary: 'Revoke a token',
          tags: ['tokens'],
          params: z.object({ id: z.string().uuid() }),
          response: { 204: z.null(), 404: ErrorBody },
        },
      },
      async (request, reply) => {
        if (!(await tokens.revoke(request.params.id))) throw notFound('token', request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
