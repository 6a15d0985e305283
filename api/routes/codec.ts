import type { Payload } from '@temporalio/common';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DroverError, ErrorType } from '../../domain/errors.ts';
import { applyCodecs, PayloadKeyError } from '../../runtime/payload-codec.ts';
import type { AppDeps } from '../app.ts';
import { authenticate, type createTokenStore } from '../auth.ts';
import { ErrorBody } from '../errors.ts';

/** A payload as Temporal's remote codec protocol carries it: protobuf JSON, bytes in base64. */
const JsonPayload = z.object({
  metadata: z.record(z.string(), z.string().base64()).optional(),
  data: z.string().base64().optional(),
});
const Payloads = z.object({ payloads: z.array(JsonPayload).max(1000) });
type JsonPayload = z.infer<typeof JsonPayload>;

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
  ),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [
      k,
      Buffer.from(v ?? new Uint8Array()).toString('base64'),
    ]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

/**
 * Temporal's remote codec endpoint (`POST /v1/codec/decode`, `/encode`), so admins read
 * decrypted payloads in the Temporal UI or CLI (`temporal workflow show --codec-endpoint
 * http://…/v1/codec --codec-auth "Bearer drv_…"`). Admin only: decoded payloads hold release
 * content and Secrets. Browsers on the listed origins (the Temporal UI) may call it.
 */
export const codecRoutes =
  (deps: AppDeps, tokens: ReturnType<typeof createTokenStore>): FastifyPluginAsyncZod =>
  async (app) => {
    const allowed = new Set(deps.codecCorsOrigins);

    // CORS comes first: a browser's preflight carries no credentials.
    app.addHook('onRequest', async (request, reply) => {
      const origin = request.headers.origin;
      if (origin && allowed.has(origin)) {
        void reply.header('access-control-allow-origin', origin);
        void reply.header('vary', 'Origin');
        void reply.header('access-control-allow-credentials', 'true');
        void reply.header('access-control-allow-methods', 'POST, OPTIONS');
        void reply.header('access-control-allow-headers', 'authorization, content-type, x-namespace');
      }
      if (request.method === 'OPTIONS') return reply.status(204).send();
    });
    app.addHook('onRequest', authenticate(tokens));
    app.options('/decode', { schema: { hide: true } }, async () => undefined);
    app.options('/encode', { schema: { hide: true } }, async () => undefined);

    const run = async (direction: 'encode' | 'decode', payloads: JsonPayload[]) => {
      let out: Payload[];
      try {
        out = await applyCodecs(deps.temporal, direction, payloads.map(fromJson));
      } catch (err) {
        if (err instanceof PayloadKeyError)
          throw new DroverError(ErrorType.BadInput, `payloads: ${err.message}`);
        throw err;
      }
      return { payloads: out.map(toJson) };
    };

    for (const direction of ['decode', 'encode'] as const) {
      app.post(
        `/${direction}`,
        {
          config: { role: 'admin' },
          schema: {
            summary:
              direction === 'decode'
                ? 'Decrypt payloads (Temporal remote codec protocol)'
                : 'Encrypt payloads with the active key (Temporal remote codec protocol)',
            tags: ['codec'],
            security: [{ bearer: [] }],
            body: Payloads,
            response: { 200: Payloads, 400: ErrorBody },
          },
        },
        async (request) => run(direction, request.body.payloads),
      );
    }
  };
