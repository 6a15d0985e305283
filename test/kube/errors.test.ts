import { describe, expect, it } from '@jest/globals';
import { createServer, type Socket } from 'node:net';
import { createKubeClient } from '../../kube/client.ts';
import { classifyKubeError, KubeError, KubeHttpError } from '../../kube/errors.ts';

const ctx = {
  action: 'apply',
  object: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' },
  documentIndex: 3,
  server: 'https://127.0.0.1:6443',
};

const status = (code: number, message: string, extra: Record<string, unknown> = {}) => ({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  code,
  message,
  ...extra,
});

const classify = (code: number, body: unknown, headers: Record<string, string> = {}) => {
  const err = classifyKubeError(
    new KubeHttpError(code, body, headers, 'PATCH /apis/apps/v1/namespaces/shop/deployments/web'),
    ctx,
  );
  if (!(err instanceof KubeError)) throw new Error('expected a KubeError');
  return err;
};

describe('classifyKubeError', () => {
  it.each([
    [401, 'Unauthorized', 'Unauthorized'],
    [403, 'Forbidden', 'deployments.apps "web" is forbidden: User "x" cannot patch resource'],
    [404, 'NotFound', 'namespaces "shop" not found'],
    [409, 'Conflict', 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'],
    [410, 'Conflict', 'too old resource version'],
    [422, 'Invalid', 'Deployment.apps "web" is invalid'],
    [400, 'BadInput', 'the server rejected our request'],
    [415, 'BadInput', 'unsupported media type'],
  ])(
    'HTTP %i → %s, not retryable, naming the object and keeping the server message',
    (code, type, message) => {
      const err = classify(code, status(code, message));
      expect(err).toMatchObject({
        type,
        retryable: false,
        status: code,
        documentIndex: 3,
        object: ctx.object,
      });
      expect(err.message).toBe(
        `apply Deployment shop/web (document 4) on https://127.0.0.1:6443: ${message}`,
      );
    },
  );

  it('gives every field path a 422 names', () => {
    const err = classify(
      422,
      status(
        422,
        'Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1, spec.template.spec.containers[0].image: Required value]',
        {
          reason: 'Invalid',
          details: {
            causes: [
              { reason: 'FieldValueInvalid', field: 'spec.replicas' },
              { reason: 'FieldValueRequired', field: 'spec.template.spec.containers[0].image' },
            ],
          },
        },
      ),
    );
    expect(err).toMatchObject({
      type: 'Invalid',
      reason: 'Invalid',
      field: 'spec.replicas, spec.template.spec.containers[0].image',
    });
  });

  it('treats the 500 that server-side apply returns for a schema mismatch as invalid input, not an outage', () => {
    const err = classify(
      500,
      status(
        500,
        'failed to create typed patch object (shop/web; apps/v1, Kind=Deployment): .spec.replica: field not declared in schema',
      ),
    );
    expect(err).toMatchObject({ type: 'Invalid', retryable: false, field: 'spec.replica' });
  });

  it('names unknown fields that strict validation reports', () => {
    const err = classify(
      400,
      status(400, 'strict decoding error: unknown field "spec.replica", unknown field "spec.tmplate"', {
        reason: 'BadRequest',
      }),
    );
    expect(err).toMatchObject({ type: 'BadInput', field: 'spec.replica, spec.tmplate' });
  });

  it('retries throttling after the Retry-After seconds', () => {
    const err = classify(
      429,
      status(429, 'Too many requests, please try again later.', { reason: 'TooManyRequests' }),
      { 'Retry-After': '3' },
    );
    expect(err).toMatchObject({ type: 'Throttled', retryable: true, retryAfterMs: 3000 });
  });

  it('reads Retry-After given as an HTTP date', () => {
    const at = new Date(Date.now() + 10_000).toUTCString();
    const err = classify(503, 'service unavailable', { 'retry-after': at });
    expect(err).toMatchObject({ type: 'Unavailable', retryable: true });
    expect(err.retryAfterMs).toBeGreaterThan(8_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(10_000);
  });

  it("falls back to the Status' retryAfterSeconds when there is no header", () => {
    const err = classify(
      504,
      status(504, 'Timeout: request did not complete within 60s', {
        reason: 'Timeout',
        details: { retryAfterSeconds: 2 },
      }),
    );
    expect(err).toMatchObject({ type: 'Unavailable', retryable: true, retryAfterMs: 2000 });
  });

  it('keeps a non-JSON body as the message', () => {
    const err = classify(502, '<html>Bad Gateway</html>');
    expect(err).toMatchObject({ type: 'Unavailable', retryable: true, retryAfterMs: undefined });
    expect(err.message).toContain('<html>Bad Gateway</html>');
  });

  it('classifies the ApiException shape of client-node generated APIs too', () => {
    const apiException = Object.assign(new Error('HTTP-Code: 404'), {
      code: 404,
      body: status(404, 'configmaps "x" not found'),
      headers: {},
    });
    expect(classifyKubeError(apiException, ctx)).toMatchObject({ type: 'NotFound', retryable: false });
  });

  it('leaves programming errors alone, so they are not retried', () => {
    const bug = new TypeError('cannot read properties of undefined');
    expect(classifyKubeError(bug, ctx)).toBe(bug);
  });
});

describe('network failures, for real', () => {
  it('an API server that is not listening is retryable Unavailable', async () => {
    const port = await closedPort();
    const client = createKubeClient({ server: `https://127.0.0.1:${port}`, token: 'x' });
    const err = await client.request({ method: 'GET', path: '/readyz', action: 'check' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KubeError);
    expect(err).toMatchObject({ type: 'Unavailable', retryable: true });
    expect((err as KubeError).message).toContain(`https://127.0.0.1:${port}`);
    expect((err as KubeError).message).toContain('ECONNREFUSED');
  });

  it('a server that accepts but never answers times out as retryable Unavailable', async () => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    try {
      const client = createKubeClient(
        { server: `https://127.0.0.1:${port}`, token: 'x' },
        { timeoutMs: 300 },
      );
      await expect(client.request({ method: 'GET', path: '/readyz', action: 'check' })).rejects.toMatchObject(
        { type: 'Unavailable', retryable: true },
      );
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});

const closedPort = async (): Promise<number> => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
};
