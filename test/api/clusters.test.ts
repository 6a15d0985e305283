import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { createControlActivities } from '../../activities/control/index.ts';
import { buildApp, type App } from '../../api/app.ts';
import { createTokenStore } from '../../api/auth.ts';
import type { Cluster } from '../../api/routes/clusters.ts';
import type { Db } from '../../db/database.ts';
import type { ClusterRef, TargetSpec } from '../../domain/clusters.ts';
import { matches, parseSelector } from '../../domain/selectors.ts';
import { freshPglite, freshPostgres, temporalClient } from '../support/env.ts';

/**
 * Selectors against a 1,000-cluster inventory: what the API returns (selector evaluated in
 * SQL, paged) must be exactly what evaluating the selector on each cluster's labels gives.
 */
const SITES = ['north', 'south', 'east'];
const KEYS = ['env', 'tier', 'team', 'region', 'gpu'];
const VALUES = ['prod', 'staging', 'dev', 'web', 'api', 'a', 'b', 'eu', 'us'];

type Seeded = { id: string; site: string; name: string; labels: Record<string, string> };

const seed = async (db: Db, count: number): Promise<Seeded[]> => {
  const rng = fc.sample(
    fc.array(fc.tuple(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES)), { maxLength: 4 }),
    { numRuns: count, seed: 42 },
  );
  for (const site of SITES)
    await db.query(`INSERT INTO sites (tenant_id, name) VALUES ('default', $1)`, [site]);
  const clusters = rng.map((pairs, i) => ({
    id: randomUUID(),
    site: SITES[i % SITES.length] ?? 'north',
    name: `c-${String(i).padStart(4, '0')}`,
    labels: Object.fromEntries(pairs),
  }));
  await db.query(
    `INSERT INTO clusters (id, tenant_id, site, name, context, provider, labels, status, origin)
     SELECT (c->>'id')::uuid, 'default', c->>'site', c->>'name', c->>'name', 'kubeconfig', c->'labels', 'ready', 'discovered'
       FROM jsonb_array_elements($1::jsonb) AS c`,
    [JSON.stringify(clusters)],
  );
  return clusters;
};

const selectors = [
  '',
  'env=prod',
  'env==prod',
  'env!=prod',
  'tier in (web,api)',
  'tier notin (web)',
  'gpu',
  '!gpu',
  'env=prod,tier=web',
  'env in (prod,staging),!team,region notin (eu)',
  'env,tier,team',
];

describe.each([
  ['postgres', async () => (await freshPostgres()).db],
  ['pglite', freshPglite],
])('clusters on %s', (_kind, open) => {
  let db: Db;
  let temporal: Client;
  let app: App;
  let token: string;
  let inventory: Seeded[];

  beforeAll(async () => {
    db = await open();
    temporal = await temporalClient();
    app = await buildApp({ db, temporal, siteOfflineAfterMs: 45_000, logger: false });
    token = (await createTokenStore(db).ensureAdmin()) ?? '';
    inventory = await seed(db, 1000);
  }, 60_000);

  afterAll(async () => {
    await app.close();
    await temporal.connection.close();
    await db.close();
  });

  const get = (url: string) =>
    app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

  const listAll = async (selector: string, pageSize: number) => {
    const out: Cluster[] = [];
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams({ selector, limit: String(pageSize), ...(cursor ? { cursor } : {}) });
      const res = await get(`/v1/clusters?${q.toString()}`);
      expect(res.statusCode).toBe(200);
      const page = res.json<{ items: Cluster[]; nextCursor: string | null }>();
      out.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  };

  it.each(selectors)('selector %p returns exactly the matching clusters, across pages', async (text) => {
    const expected = inventory
      .filter((c) => matches(parseSelector(text), c.labels))
      .map((c) => c.id)
      .sort();
    const got = await listAll(text, 173);
    expect(got.map((c) => c.id).sort()).toEqual(expected);
    expect(new Set(got.map((c) => c.id)).size).toBe(got.length); // no page overlap
    if (text === 'env=prod') expect(expected.length).toBeGreaterThan(20); // the data exercises it
  });

  it('filters by site and provider too', async () => {
    const got = await listAll('env=prod', 1000);
    const north = (await get('/v1/clusters?site=north&selector=env%3Dprod&limit=1000')).json<{
      items: Cluster[];
    }>().items;
    expect(north.map((c) => c.id).sort()).toEqual(
      got
        .filter((c) => c.site === 'north')
        .map((c) => c.id)
        .sort(),
    );
    expect((await get('/v1/clusters?provider=eks')).json<{ items: Cluster[] }>().items).toEqual([]);
  });

  it('rejects a bad selector with 400 naming the position', async () => {
    const res = await get(`/v1/clusters?selector=${encodeURIComponent('env in (prod')}`);
    expect(res.statusCode).toBe(400);
    const body = res.json<{ error: { field: string; message: string; details: { position: number } } }>();
    expect(body.error.field).toBe('querystring.selector');
    expect(body.error.details.position).toBe(12);
    expect(body.error.message).toMatch(/position 12/);
  });

  it('rejects a forged cursor, a bad provider and an oversized page', async () => {
    expect((await get('/v1/clusters?cursor=bm90LWEtY3Vyc29y')).json()).toMatchObject({
      error: { field: 'querystring.cursor' },
    });
    expect((await get('/v1/clusters?provider=digitalocean')).json()).toMatchObject({
      error: { field: 'querystring.provider' },
    });
    expect((await get('/v1/clusters?limit=5000')).json()).toMatchObject({
      error: { field: 'querystring.limit' },
    });
  });

  it('resolves placement in the control activity: stable order, AND of constraints, unknown ids refused', async () => {
    const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    const activities = createControlActivities({ db });
    const resolve = (spec: TargetSpec) =>
      env.run<[TargetSpec], ClusterRef[], typeof activities.resolvePlacement>(
        activities.resolvePlacement.bind(activities),
        spec,
      );
    const refs = await resolve({ selector: 'env=prod', sites: ['south', 'east'] });
    const expected = inventory
      .filter((c) => c.labels.env === 'prod' && c.site !== 'north')
      .sort((a, b) => (a.site < b.site ? -1 : a.site > b.site ? 1 : a.name < b.name ? -1 : 1));
    expect(refs.map((r) => r.id)).toEqual(expected.map((c) => c.id));
    expect(refs[0]).toEqual({
      id: expected[0]?.id,
      name: expected[0]?.name,
      site: expected[0]?.site,
      context: expected[0]?.name,
    });

    // Explicit ids come back in the same stable order as everything else, not as given.
    const some = inventory.slice(0, 3); // sites north, south, east
    const byIds = await resolve({ clusterIds: some.map((c) => c.id).reverse() });
    expect(byIds.map((r) => r.site)).toEqual(['east', 'north', 'south']);
    expect(byIds.map((r) => r.id).sort()).toEqual(some.map((c) => c.id).sort());

    const unknown = randomUUID();
    const failure = await resolve({ clusterIds: [unknown] }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'NotFound', nonRetryable: true });
    expect((failure as Error).message).toContain(unknown);

    const bad = await resolve({ selector: 'a in (' }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ type: 'BadInput', nonRetryable: true });
  });
});
