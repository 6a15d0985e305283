import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { buildApp, type App } from '../../api/app.ts';
import { createTokenStore } from '../../api/auth.ts';
import type { Cluster } from '../../api/routes/clusters.ts';
import type { Db } from '../../db/database.ts';
import type { DiscoverySummary } from '../../domain/clusters.ts';
import type { Run } from '../../domain/runs.ts';
import { startKubeEnv, type KubeCluster, type KubeEnv } from '../../sandbox/kube-env.ts';
import { decodedHistoryText, siteKubeconfig } from '../support/drover.ts';
import { freePort } from '../support/services.ts';
import {
  freshPostgres,
  startDroverProcess,
  stopProcess,
  temporalClient,
  uniq,
  waitUntil,
} from '../support/env.ts';

/**
 * Discovery across two sites, each with its own sub-manager and its own real API servers.
 * Each site's kubeconfig exists only in that site's sub-manager; afterwards the database, every
 * API response and every workflow history are scanned for any credential.
 */
const siteA = `inv-a-${uniq()}`;
const siteB = `inv-b-${uniq()}`;
const dir = mkdtempSync(join(tmpdir(), 'drover-inventory-'));
let kube: KubeEnv;
let db: Db;
let temporal: Client;
let app: App;
let token: string;
const processes: ChildProcess[] = [];
const responses: string[] = [];
let deadPort: number;

const kubeconfigFor = siteKubeconfig;
const entry = (c: KubeCluster, context = c.name) => ({
  context,
  server: c.server,
  caData: c.caData,
  token: c.adminToken,
});

const call = async <T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) => {
  const res = await app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload ? { payload } : {}),
  });
  responses.push(res.body);
  return { status: res.statusCode, body: res.body ? res.json<T>() : (undefined as T) };
};
const list = async (query: string) =>
  (await call<{ items: Cluster[] }>('GET', `/v1/clusters?${query}`)).body.items;
const waitForRun = async (runId: string) => {
  let run: Run | undefined;
  await waitUntil(
    `run ${runId}`,
    async () => (run = (await call<Run>('GET', `/v1/runs/${runId}`)).body).status !== 'running',
    60_000,
  );
  return run as Run;
};

beforeAll(async () => {
  kube = await startKubeEnv({ clusters: 4, baseDir: join(dir, 'kube'), namePrefix: 'inv' });
  deadPort = await freePort();
  const [c1, c2, c3, c4] = kube.clusters as [KubeCluster, KubeCluster, KubeCluster, KubeCluster];
  writeFileSync(
    join(dir, 'a.yaml'),
    kubeconfigFor([entry(c1, 'alpha'), entry(c2, 'arn:aws:eks:eu-west-1:123456789012:cluster/beta')]),
  );
  writeFileSync(
    join(dir, 'b.yaml'),
    kubeconfigFor([
      entry(c3, 'gamma'),
      entry(c4, 'delta'),
      {
        context: 'gone-dark',
        server: `https://127.0.0.1:${deadPort}`,
        token: 'unused-token-for-a-dead-server',
      },
    ]),
  );
  const pg = await freshPostgres();
  db = pg.db;
  temporal = await temporalClient();
  app = await buildApp({ db, temporal, siteOfflineAfterMs: 12_000, logger: false });
  token = (await createTokenStore(db).ensureAdmin()) ?? '';
  processes.push(
    startDroverProcess('workers/main.ts', `inventory-control-${siteA}`, { DATABASE_URL: pg.url }),
    startDroverProcess('sub-manager/main.ts', `inventory-${siteA}`, {
      DROVER_SITE: siteA,
      DROVER_KUBECONFIG: join(dir, 'a.yaml'),
    }),
    startDroverProcess('sub-manager/main.ts', `inventory-${siteB}`, {
      DROVER_SITE: siteB,
      DROVER_KUBECONFIG: join(dir, 'b.yaml'),
    }),
  );
}, 240_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => stopProcess(p)));
  await app?.close();
  await temporal?.connection.close();
  await db?.close();
  await kube?.stop({ removeData: true });
});

describe('discovery in two sites', () => {
  it('fills the inventory with each site’s clusters when the sub-managers start', async () => {
    await waitUntil(
      'both sites discovered',
      async () => (await list(`site=${siteA}`)).length === 2 && (await list(`site=${siteB}`)).length === 3,
      90_000,
    );
    const a = await list(`site=${siteA}`);
    expect(a.map((c) => [c.name, c.context, c.status, c.provider, c.location])).toEqual([
      ['alpha', 'alpha', 'ready', 'kubeconfig', ''],
      ['beta', 'arn:aws:eks:eu-west-1:123456789012:cluster/beta', 'ready', 'eks', 'eu-west-1'],
    ]);
    for (const c of a) expect(c.kubernetesVersion).toMatch(/^v1\.3\d\.\d+$/);
    expect(a[0]?.endpoint).toBe(kube.clusters[0]?.server);
    const b = await list(`site=${siteB}`);
    expect(b.map((c) => [c.name, c.status])).toEqual([
      ['delta', 'ready'],
      ['gamma', 'ready'],
      ['gone-dark', 'unreachable'],
    ]);
    expect(b.find((c) => c.name === 'gone-dark')?.statusMessage).toMatch(/ECONNREFUSED|connect/);
  }, 100_000);

  it('labels clusters and selects them', async () => {
    const [alpha, beta] = await list(`site=${siteA}`);
    const [delta, gamma] = await list(`site=${siteB}`);
    const label = async (c: Cluster | undefined, labels: Record<string, string | null>) => {
      const res = await call<Cluster>('PATCH', `/v1/clusters/${c?.id}`, { labels });
      expect(res.status).toBe(200);
      return res.body;
    };
    await label(alpha, { env: 'prod', tier: 'web' });
    await label(beta, { env: 'staging' });
    await label(gamma, { env: 'prod', tier: 'api' });
    expect((await label(delta, { env: 'prod', temp: 'x' })).labels).toEqual({ env: 'prod', temp: 'x' });
    expect((await label(delta, { temp: null })).labels).toEqual({ env: 'prod' });

    const names = async (selector: string) =>
      (await list(`selector=${encodeURIComponent(selector)}`))
        .filter((c) => [siteA, siteB].includes(c.site))
        .map((c) => c.name);
    expect(await names('env=prod')).toEqual(['alpha', 'delta', 'gamma']);
    expect(await names('env=prod,tier in (web,api)')).toEqual(['alpha', 'gamma']);
    expect(await names('env!=prod')).toEqual(['beta', 'gone-dark']);
    expect(await names('!tier,env')).toEqual(['beta', 'delta']);

    const placement = await call<{ items: { name: string; site: string }[] }>(
      'POST',
      '/v1/placement/preview',
      {
        selector: 'env=prod',
        sites: [siteB],
      },
    );
    expect(placement.body.items.map((r) => r.name)).toEqual(['delta', 'gamma']);
  }, 30_000);

  it('marks a cluster its site no longer lists as vanished, and registers one by context', async () => {
    const [c1, c2, c3] = kube.clusters as [KubeCluster, KubeCluster, KubeCluster];
    // Site A drops `beta` and gains a context for another server.
    writeFileSync(join(dir, 'a.yaml'), kubeconfigFor([entry(c1, 'alpha'), entry(c3, 'extra')]));
    const registered = await call<Cluster & { discoveryRunId: string }>('POST', '/v1/clusters', {
      site: siteA,
      context: 'extra',
      name: 'extra-one',
      labels: { owner: 'team-a' },
    });
    expect(registered.status).toBe(201);
    expect(registered.body).toMatchObject({
      name: 'extra-one',
      status: 'pending',
      origin: 'registered',
      labels: { owner: 'team-a' },
    });
    const run = await waitForRun(registered.body.discoveryRunId);
    expect(run.status).toBe('succeeded');
    expect(run.result as DiscoverySummary).toMatchObject({
      site: siteA,
      seen: 2,
      vanished: ['beta'],
      added: [],
    });

    const a = await list(`site=${siteA}`);
    expect(a.map((c) => [c.name, c.status])).toEqual([
      ['alpha', 'ready'],
      ['beta', 'vanished'],
      ['extra-one', 'ready'],
    ]);
    // Vanished clusters are never placement targets.
    const placement = await call<{ items: { name: string }[] }>('POST', '/v1/placement/preview', {
      sites: [siteA],
    });
    expect(placement.body.items.map((r) => r.name)).toEqual(['alpha', 'extra-one']);

    // Deregistered clusters stay out even though their site still lists them.
    const extra = a.find((c) => c.name === 'extra-one');
    expect((await call('DELETE', `/v1/clusters/${extra?.id}`)).status).toBe(204);
    const again = await call<{ runId: string }>('POST', `/v1/sites/${siteA}/discover`);
    expect(again.status).toBe(202);
    await waitForRun(again.body.runId);
    expect((await list(`site=${siteA}`)).map((c) => c.name)).toEqual(['alpha', 'beta']);
    expect(c2.name).toBeDefined();
  }, 120_000);

  it('keeps a discovery schedule per site', async () => {
    for (const site of [siteA, siteB]) {
      const desc = await temporal.schedule.getHandle(`discovery-${site}`).describe();
      expect(desc.action).toMatchObject({ type: 'startWorkflow', workflowType: 'discoverSiteWorkflow' });
      expect(desc.spec.intervals?.[0]?.every).toBe(600_000);
    }
  });

  it('lets no credential into the database, any API response or any workflow history', async () => {
    const secrets = [
      ...kube.clusters.flatMap((c) => [
        c.adminToken,
        c.restrictedToken,
        c.caData.split('\n').filter((l) => l.length > 40)[0] ?? '',
      ]),
      'unused-token-for-a-dead-server',
      'certificate-authority-data',
    ].filter((s) => s.length > 10);
    expect(secrets.length).toBeGreaterThanOrEqual(9);

    const tables = await db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`,
    );
    let dump = '';
    for (const { table_name } of tables)
      dump += JSON.stringify(await db.query(`SELECT * FROM ${table_name}`));
    expect(dump).toContain('gone-dark'); // the dump is real…

    const histories: string[] = [];
    for await (const wf of temporal.workflow.list({
      query: `WorkflowId STARTS_WITH 'discovery:inv-' OR WorkflowId STARTS_WITH 'site-check-in:inv-'`,
    })) {
      if (!wf.workflowId.includes(siteA) && !wf.workflowId.includes(siteB)) continue;
      // Payloads are encrypted: scan them decrypted, and the raw text as well.
      const raw = JSON.stringify(await temporal.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory());
      histories.push(raw, await decodedHistoryText(temporal, wf.workflowId, wf.runId));
    }
    expect(histories.length).toBeGreaterThanOrEqual(10);
    expect(histories.join('')).toContain('\\"reachable\\":true'); // …and so are the histories.

    for (const secret of secrets) {
      expect(dump).not.toContain(secret);
      expect(responses.join('\n')).not.toContain(secret);
      expect(histories.join('\n')).not.toContain(secret);
    }
  }, 60_000);
});
