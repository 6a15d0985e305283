/**
 * Folding a site's discovery into the inventory on real Postgres: a cloud account the site
 * could not list keeps its clusters as they were (not vanished), while a listed account's
 * missing cluster is marked vanished; once the account lists again without it, it vanishes.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClusterStore } from '../../db/clusters.ts';
import type { Db } from '../../db/database.ts';
import type { DiscoveredCluster } from '../../domain/clusters.ts';
import { freshPostgres } from '../support/env.ts';

const SITE = 'discovery-db';
let db: Db;

const seen = (context: string, provider: DiscoveredCluster['provider']): DiscoveredCluster => ({
  context,
  provider,
  location: provider === 'kubeconfig' ? '' : 'us-east-1',
  endpoint: null,
  kubernetesVersion: 'v1.33.1',
  reachable: true,
  error: null,
});
const statusByContext = async () =>
  Object.fromEntries(
    (
      await db.query<{ context: string; status: string }>(
        'SELECT context, status FROM clusters WHERE site = $1 ORDER BY context',
        [SITE],
      )
    ).map((r) => [r.context, r.status]),
  );

beforeAll(async () => {
  db = (await freshPostgres()).db;
});
afterAll(async () => {
  await db?.close();
});

describe('discovery with an account that could not be listed', () => {
  it('keeps that account’s clusters, vanishes what a listed account no longer has', async () => {
    const store = createClusterStore(db);
    const first = await store.applyDiscovery(SITE, [
      seen('acct-a/us-east-1/one', 'eks'),
      seen('acct-b/us-east-1/two', 'eks'),
      seen('k1', 'kubeconfig'),
    ]);
    expect(first).toMatchObject({ seen: 3, vanished: [], unlisted: [] });

    const down = [{ account: 'acct-a', error: 'connect ECONNREFUSED 127.0.0.1:1' }];
    const second = await store.applyDiscovery(SITE, [seen('k1', 'kubeconfig')], down);
    expect(second.unlisted).toEqual(down);
    expect(second.vanished).toEqual(['acct-b-us-east-1-two']);
    expect(await statusByContext()).toEqual({
      'acct-a/us-east-1/one': 'ready',
      'acct-b/us-east-1/two': 'vanished',
      k1: 'ready',
    });

    const third = await store.applyDiscovery(SITE, [seen('k1', 'kubeconfig')]);
    expect(third.vanished).toEqual(['acct-a-us-east-1-one']);
    expect((await statusByContext())['acct-a/us-east-1/one']).toBe('vanished');
  });
});
