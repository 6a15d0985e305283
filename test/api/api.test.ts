import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, Connection } from '@temporalio/client';
import { buildApp, type App } from '../../api/app.ts';
import { createTokenStore } from '../../api/auth.ts';
import type { Db } from '../../db/database.ts';
import { freePort } from '../support/services.ts';
import { freshPostgres, temporalClient } from '../support/env.ts';

let db: Db;
let temporal: Client;
let app: App;
let admin: string;
let viewer: string;

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  ({ db } = await freshPostgres());
  temporal = await temporalClient();
  app = await buildApp({ db, temporal, siteOfflineAfterMs: 45_000, logger: false });
  const tokens = createTokenStore(db);
  admin = (await tokens.ensureAdmin()) ?? '';
  viewer = (await tokens.create('ci-viewer', 'viewer')).token;
});

afterAll(async () => {
  await app.close();
  await temporal.connection.close();
  await db.close();
});

describe('authentication', () => {
  it('refuses /v1 without a token, with 401 and a challenge', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/sites' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(res.json()).toEqual({
      error: { code: 'Unauthorized', message: expect.stringMatching(/missing bearer token/) },
    });
  });

  it('refuses a wrong token and a malformed header', async () => {
    for (const authorization of ['Bearer drv_not-a-real-token', 'Basic YWRtaW46YWRtaW4=', `Bearer`]) {
      const res = await app.inject({ method: 'GET', url: '/v1/sites', headers: { authorization } });
      expect(res.statusCode).toBe(401);
    }
  });

  it('refuses a revoked token', async () => {
    const t = await app.inject({
      method: 'POST',
      url: '/v1/tokens',
      headers: auth(admin),
      payload: { name: 'short-lived', role: 'viewer' },
    });
    expect(t.statusCode).toBe(201);
    const { id, token } = t.json<{ id: string; token: string }>();
    expect((await app.inject({ method: 'GET', url: '/v1/sites', headers: auth(token) })).statusCode).toBe(
      200,
    );
    expect(
      (await app.inject({ method: 'DELETE', url: `/v1/tokens/${id}`, headers: auth(admin) })).statusCode,
    ).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/v1/sites', headers: auth(token) })).statusCode).toBe(
      401,
    );
  });

  it('lets a viewer read but not act: 403 naming the role needed', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/sites', headers: auth(viewer) })).statusCode).toBe(
      200,
    );
    const res = await app.inject({
      method: 'POST',
      url: '/v1/sites',
      headers: auth(viewer),
      payload: { name: 'nope' },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json<{ error: { message: string } }>().error.message).toMatch(/needs 'admin'/);
  });

  it('never lists token secrets or hashes', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/tokens', headers: auth(admin) });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain(admin);
    expect(res.body).not.toMatch(/hash/i);
    expect(res.json<{ items: { name: string }[] }>().items.map((t) => t.name)).toEqual(
      expect.arrayContaining(['admin', 'ci-viewer']),
    );
  });
});

describe('errors', () => {
  it('400 names the bad body field', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/sites',
      headers: auth(admin),
      payload: { name: 'Bad_Name' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'BadInput', field: 'body.name' } });
  });

  it('400 names a missing field and a bad path parameter', async () => {
    const missing = await app.inject({
      method: 'POST',
      url: '/v1/tokens',
      headers: auth(admin),
      payload: { name: 'x' },
    });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ error: { field: 'body.role' } });
    const badParam = await app.inject({ method: 'POST', url: '/v1/sites/UPPER/ping', headers: auth(admin) });
    expect(badParam.statusCode).toBe(400);
    expect(badParam.json()).toMatchObject({ error: { field: 'params.site' } });
  });

  it('400 on malformed JSON, without internals', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/sites',
      headers: { ...auth(admin), 'content-type': 'application/json' },
      payload: '{"name":',
    });
    expect(res.statusCode).toBe(400);
    expect(res.body).not.toMatch(/at .*\.ts:\d+/);
  });

  it('404 for an unknown site, run and route', async () => {
    const site = await app.inject({ method: 'POST', url: '/v1/sites/nowhere/ping', headers: auth(admin) });
    expect(site.statusCode).toBe(404);
    expect(site.json()).toMatchObject({ error: { code: 'NotFound', message: "site 'nowhere' not found" } });
    const run = await app.inject({ method: 'GET', url: '/v1/runs/ping:nowhere:0000', headers: auth(admin) });
    expect(run.statusCode).toBe(404);
    expect(
      (await app.inject({ method: 'GET', url: '/v1/nothing-here', headers: auth(admin) })).statusCode,
    ).toBe(404);
  });

  it('409 when a site already exists', async () => {
    const first = await app.inject({
      method: 'POST',
      url: '/v1/sites',
      headers: auth(admin),
      payload: { name: 'twice' },
    });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({ name: 'twice', status: 'offline', lastSeenAt: null });
    const second = await app.inject({
      method: 'POST',
      url: '/v1/sites',
      headers: auth(admin),
      payload: { name: 'twice' },
    });
    expect(second.statusCode).toBe(409);
  });
});

describe('health, metrics and docs', () => {
  it('healthz and readyz report Temporal and the database', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({
      status: 'ready',
      checks: { database: { ok: true }, temporal: { ok: true } },
    });
  });

  it('readyz is 503 when Temporal is unreachable', async () => {
    const deadPort = await freePort();
    // No retry interceptor: its backoff timer would outlive the connection closed below.
    const unreachable = new Client({
      connection: Connection.lazy({ address: `127.0.0.1:${deadPort}`, interceptors: [] }),
    });
    const lonely = await buildApp({ db, temporal: unreachable, siteOfflineAfterMs: 45_000, logger: false });
    const res = await lonely.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({
      status: 'not-ready',
      checks: { database: { ok: true }, temporal: { ok: false } },
    });
    await lonely.close();
    await unreachable.connection.close();
  });

  it('exposes Prometheus metrics that count requests', async () => {
    await app.inject({ method: 'GET', url: '/healthz' });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.body).toMatch(
      /drover_api_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} \d+/,
    );
  });

  it('serves an OpenAPI document generated from the route schemas, and a docs page', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json<{
      openapi: string;
      paths: Record<string, Record<string, { parameters?: { name: string }[] }>>;
    }>();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/sites',
        '/v1/sites/{site}',
        '/v1/sites/{site}/ping',
        '/v1/runs/{id}',
        '/healthz',
      ]),
    );
    expect(doc.paths['/v1/sites/{site}/ping']?.post?.parameters?.map((p) => p.name)).toEqual(['site']);
    const docs = await app.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.body).toMatch(/swagger-ui/i);
  });
});
