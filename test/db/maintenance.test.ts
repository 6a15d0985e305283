/**
 * The maintenance store on real Postgres: what is deployed where (latest succeeded deploy per
 * cluster and release name, rollbacks and dead clusters accounted for, paged without gaps),
 * drift reports, clusters that expire.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClusterStore } from '../../db/clusters.ts';
import type { Db } from '../../db/database.ts';
import { createDeployTargetStore } from '../../db/deploy-targets.ts';
import { createMaintenanceStore, type MaintenanceStore } from '../../db/maintenance.ts';
import { createReleaseStore } from '../../db/releases.ts';
import type { DeployTarget } from '../../domain/deployments.ts';
import type { DeployedRelease } from '../../domain/maintenance.ts';
import { freshPostgres } from '../support/env.ts';

const SITE = 'maint-db';
let db: Db;
let store: MaintenanceStore;
const clusters: Record<string, DeployTarget> = {};
const releases: Record<string, string> = {};

const release = async (name: string, color: string) =>
  (
    await createReleaseStore(db).create({
      name,
      manifests: `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${name} }\ndata: { color: ${color} }\n`,
      overrides: [],
      objects: [{ apiVersion: 'v1', kind: 'ConfigMap', name }],
    })
  ).release.id;

/** A deploy run of `releaseId` to `targets`, each ending in its state, at minute `at`. */
const deployRun = async (
  runId: string,
  releaseId: string,
  outcomes: [DeployTarget, 'succeeded' | 'failed' | 'rolled-back'][],
  at: number,
) => {
  const targets = createDeployTargetStore(db);
  await targets.savePlan(runId, [outcomes.map(([t]) => t)], new Map());
  await targets.recordOutcomes(
    runId,
    outcomes.map(([, state], position) => ({ position, state, attempts: 1, lastError: null, changed: 1 })),
  );
  await db.query(`UPDATE deploy_targets SET updated_at = $2 WHERE run_id = $1`, [
    runId,
    new Date(Date.UTC(2026, 10, 1, 0, at)),
  ]);
  await store.recordRunReleases([{ runId, releaseId }]);
};

const all = async (filter: { clusterIds?: string[] } = {}, limit = 100): Promise<DeployedRelease[]> => {
  const items: DeployedRelease[] = [];
  let after: string | undefined;
  do {
    const page = await store.deployedReleases({ ...filter, after, limit });
    items.push(...page.items);
    after = page.next ?? undefined;
  } while (after);
  return items;
};
const summary = (items: DeployedRelease[]) =>
  items.map((i) => `${i.target.name} ${i.releaseName} ${i.runId}`).sort();

beforeAll(async () => {
  db = (await freshPostgres()).db;
  store = createMaintenanceStore(db);
  await createClusterStore(db).applyDiscovery(
    SITE,
    ['a', 'b', 'c', 'd', 'e'].map((context) => ({
      context,
      provider: 'kubeconfig' as const,
      location: '',
      endpoint: null,
      kubernetesVersion: 'v1.33.1',
      reachable: true,
      error: null,
    })),
  );
  const rows = await db.query<{ id: string; name: string; context: string; labels: Record<string, string> }>(
    `SELECT id, name, context, labels FROM clusters WHERE site = $1`,
    [SITE],
  );
  for (const r of rows)
    clusters[r.name] = { id: r.id, name: r.name, site: SITE, context: r.context, labels: {} };
  releases.shop1 = await release('shop', 'blue');
  releases.shop2 = await release('shop', 'green');
  releases.db = await release('db', 'x');
  const c = (name: string) => clusters[name] as DeployTarget;

  await deployRun(
    'deploy:r1',
    releases.shop1,
    [
      [c('a'), 'succeeded'],
      [c('b'), 'succeeded'],
      [c('d'), 'succeeded'],
      [c('e'), 'succeeded'],
    ],
    1,
  );
  await deployRun(
    'deploy:r2',
    releases.shop2,
    [
      [c('a'), 'succeeded'],
      [c('b'), 'rolled-back'],
      [c('c'), 'failed'],
    ],
    2,
  );
  await deployRun('deploy:r3', releases.db, [[c('a'), 'succeeded']], 3);
  // d vanished from its site, e was deregistered: neither is checked any more.
  await db.query(`UPDATE clusters SET status = 'vanished' WHERE id = $1`, [c('d').id]);
  await createClusterStore(db).deregister(c('e').id);
}, 60_000);

afterAll(async () => {
  await db?.close();
});

describe('what is deployed where', () => {
  it('is the latest succeeded deploy per cluster and release name; a rolled-back one gives way to the one before', async () => {
    expect(summary(await all())).toEqual(['a db deploy:r3', 'a shop deploy:r2', 'b shop deploy:r1']);
    const a = (await all()).find((i) => i.target.name === 'a' && i.releaseName === 'shop');
    expect(a).toMatchObject({ releaseId: releases.shop2, target: { site: SITE, context: 'a' } });
  });

  it('pages without gaps or repeats, at any page size', async () => {
    for (const limit of [1, 2]) expect(summary(await all({}, limit))).toEqual(summary(await all()));
  });

  it('can be narrowed to some clusters', async () => {
    expect(summary(await all({ clusterIds: [clusters.b?.id ?? ''] }))).toEqual(['b shop deploy:r1']);
  });

  it('knows which runs still need their release looked up', async () => {
    await createDeployTargetStore(db).savePlan('deploy:old', [[clusters.c as DeployTarget]], new Map());
    await createDeployTargetStore(db).recordOutcomes('deploy:old', [
      { position: 0, state: 'succeeded', attempts: 1, lastError: null, changed: 0 },
    ]);
    expect(await store.runsWithoutRelease(10)).toEqual(['deploy:old']);
    // A run whose release cannot be known any more is recorded as such and not asked again.
    await store.recordRunReleases([{ runId: 'deploy:old', releaseId: '' }]);
    expect(await store.runsWithoutRelease(10)).toEqual([]);
    expect(summary(await all())).not.toContain('c shop deploy:old');
  });
});

describe('drift reports', () => {
  it('keep the latest check per cluster and release, filtered and paged', async () => {
    const check = (status: 'in-sync' | 'drifted') => ({
      status,
      checked: 1,
      objects:
        status === 'drifted'
          ? [
              {
                apiVersion: 'v1',
                kind: 'ConfigMap',
                namespace: 'default',
                name: 'shop',
                state: 'drifted' as const,
                fields: [{ path: 'data.color', live: '"red"', desired: '"green"' }],
                truncated: false,
              },
            ]
          : [],
      error: null,
    });
    const a = clusters.a?.id ?? '';
    const b = clusters.b?.id ?? '';
    await store.recordDriftChecks('maintenance:1', [
      {
        clusterId: a,
        releaseName: 'shop',
        releaseId: releases.shop2 ?? '',
        deployRunId: 'deploy:r2',
        check: check('drifted'),
      },
      {
        clusterId: b,
        releaseName: 'shop',
        releaseId: releases.shop1 ?? '',
        deployRunId: 'deploy:r1',
        check: check('in-sync'),
      },
    ]);
    await store.recordDriftChecks('maintenance:2', [
      {
        clusterId: b,
        releaseName: 'shop',
        releaseId: releases.shop1 ?? '',
        deployRunId: 'deploy:r1',
        check: check('drifted'),
      },
    ]);
    await store.recordDriftChecks('maintenance:1', [
      {
        clusterId: a,
        releaseName: 'shop',
        releaseId: releases.shop2 ?? '',
        deployRunId: 'deploy:r2',
        check: { ...check('drifted'), omitted: 7 },
      },
    ]);
    const drifted = await store.listDrift({ status: 'drifted' }, { limit: 1 });
    expect(drifted.items[0]?.omitted).toBe(7);
    expect(drifted.items.map((r) => [r.clusterName, r.checkRunId])).toEqual([['a', 'maintenance:1']]);
    expect(drifted.items[0]?.objects[0]?.fields).toEqual([
      { path: 'data.color', live: '"red"', desired: '"green"' },
    ]);
    const next = await store.listDrift({ status: 'drifted' }, { limit: 1, cursor: drifted.nextCursor ?? '' });
    expect(next.items.map((r) => [r.clusterName, r.checkRunId])).toEqual([['b', 'maintenance:2']]);
    expect(next.nextCursor).toBeNull();
    expect((await store.listDrift({ status: 'in-sync' }, { limit: 10 })).items).toEqual([]);
    await expect(store.listDrift({}, { limit: 10, cursor: 'garbage' })).rejects.toMatchObject({
      field: 'querystring.cursor',
    });
  });
});

describe('clusters that expire', () => {
  it('are those with an expiresAt or a TTL label', async () => {
    const c = createClusterStore(db);
    await c.patch(clusters.a?.id ?? '', { expiresAt: new Date('2026-12-01T00:00:00Z') });
    await c.patch(clusters.b?.id ?? '', { labels: { 'drover.io/ttl': '7d' } });
    expect((await store.clustersWithExpiry(100)).map((r) => r.name)).toEqual(['a', 'b']);
  });
});
