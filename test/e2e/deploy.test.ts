import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { buildApp, type App } from '../../api/app.ts';
import { createTokenStore } from '../../api/auth.ts';
import type { Cluster } from '../../api/routes/clusters.ts';
import type { Db } from '../../db/database.ts';
import type { Run } from '../../domain/runs.ts';
import type { DeployProgress } from '../../workflows/bulk-deploy.ts';
import { deployActivityCalls, siteKubeconfig } from '../support/drover.ts';
import { startKubeEnv, type KubeCluster, type KubeEnv } from '../../sandbox/kube-env.ts';
import {
  freshPostgres,
  startDroverProcess,
  stopProcess,
  temporalClient,
  uniq,
  waitUntil,
} from '../support/env.ts';

/**
 * The headline flow on real parts: a rollout to 6 clusters in 2 sites, 2 waves; one cluster's
 * credentials lack rights, so the run pauses at its failure budget; after the fix a resume
 * applies that cluster only; a rollback puts every cluster back to its snapshot.
 */
const run = promisify(execFile);
const siteA = `dep-a-${uniq()}`;
const siteB = `dep-b-${uniq()}`;
const dir = mkdtempSync(join(tmpdir(), 'drover-deploy-'));
let kube: KubeEnv;
let db: Db;
let temporal: Client;
let app: App;
let token: string;
const processes: ChildProcess[] = [];

const RELEASE = `
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  color: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 1
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: registry.example/web:1.0
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: shared
  namespace: default
data:
  mode: new
`;

const kubeconfig = (entries: { context: string; cluster: KubeCluster; token: string }[]) =>
  siteKubeconfig(
    entries.map((e) => ({
      context: e.context,
      server: e.cluster.server,
      caData: e.cluster.caData,
      token: e.token,
    })),
  );

const kubectl = async (c: KubeCluster, args: string[]) => {
  try {
    const { stdout } = await run(kube.binary, [
      'kubectl',
      '--kubeconfig',
      c.kubeconfigPath,
      '--context',
      c.name,
      ...args,
    ]);
    return { code: 0, stdout };
  } catch (err) {
    return { code: 1, stdout: (err as { stderr?: string }).stderr ?? '' };
  }
};
/** An object as a person would diff it: without what the server sets on every write. */
const comparable = async (c: KubeCluster, args: string[]) => {
  const r = await kubectl(c, [...args, '-o', 'json']);
  if (r.code !== 0) return `absent: ${r.stdout.trim()}`;
  const o = JSON.parse(r.stdout) as { metadata: Record<string, unknown> };
  for (const k of ['resourceVersion', 'managedFields', 'generation', 'creationTimestamp', 'uid'])
    delete o.metadata[k];
  return JSON.stringify(o);
};

const call = async <T>(method: 'GET' | 'POST', url: string, payload?: object) => {
  const res = await app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload ? { payload } : {}),
  });
  return { status: res.statusCode, body: res.json<T>() };
};
const progressOf = async (runId: string) =>
  (await call<Run & { progress: DeployProgress }>('GET', `/v1/runs/${runId}`)).body.progress;
const waitForPhase = async (runId: string, phases: string[], timeoutMs = 120_000) => {
  let p: DeployProgress | undefined;
  await waitUntil(
    `run ${runId} to reach ${phases.join('/')}`,
    // Settled: targets already running when the run paused finish first.
    async () => phases.includes((p = await progressOf(runId)).phase) && p.counts.running === 0,
    timeoutMs,
  );
  return p as DeployProgress;
};

let before: Map<string, string>;
let runId: string;

beforeAll(async () => {
  kube = await startKubeEnv({ clusters: 6, baseDir: join(dir, 'kube'), namePrefix: 'dep' });
  const c = kube.clusters;
  // The shared ConfigMap exists before the rollout; rollback must bring it back exactly.
  for (const cluster of c) {
    await kubectl(cluster, ['create', 'configmap', 'shared', '-n', 'default', '--from-literal=mode=old']);
    await kubectl(cluster, ['label', 'configmap', 'shared', '-n', 'default', 'owner=platform']);
  }
  before = new Map(
    await Promise.all(
      c.map(
        async (k) => [k.name, await comparable(k, ['get', 'configmap', 'shared', '-n', 'default'])] as const,
      ),
    ),
  );
  const at = (i: number) => c[i] as KubeCluster;
  // Site A's third cluster is reached with a token that has no rights: it will fail.
  writeFileSync(
    join(dir, 'a.yaml'),
    kubeconfig([
      { context: 'a1', cluster: at(0), token: at(0).adminToken },
      { context: 'a2', cluster: at(1), token: at(1).adminToken },
      { context: 'a3', cluster: at(2), token: at(2).restrictedToken },
    ]),
  );
  writeFileSync(
    join(dir, 'b.yaml'),
    kubeconfig(
      [4, 5, 6].map((n) => ({ context: `b${n - 3}`, cluster: at(n - 1), token: at(n - 1).adminToken })),
    ),
  );
  const pg = await freshPostgres();
  db = pg.db;
  temporal = await temporalClient();
  // Shards of two targets, and a run that continues as new after every shard or so: the
  // rollout below crosses shard, wave and execution boundaries on six clusters.
  app = await buildApp({
    db,
    temporal,
    siteOfflineAfterMs: 12_000,
    logger: false,
    deployRuns: { shardSize: 2, historyLimit: 40 },
  });
  token = (await createTokenStore(db).ensureAdmin()) ?? '';
  processes.push(
    startDroverProcess('workers/main.ts', `deploy-control-${siteA}`, { DATABASE_URL: pg.url }),
    startDroverProcess('sub-manager/main.ts', `deploy-${siteA}`, {
      DROVER_SITE: siteA,
      DROVER_KUBECONFIG: join(dir, 'a.yaml'),
      DROVER_SITE_STATE_DIR: join(dir, 'state-a'),
    }),
    startDroverProcess('sub-manager/main.ts', `deploy-${siteB}`, {
      DROVER_SITE: siteB,
      DROVER_KUBECONFIG: join(dir, 'b.yaml'),
      DROVER_SITE_STATE_DIR: join(dir, 'state-b'),
    }),
  );
  await waitUntil(
    'both sites discovered',
    async () =>
      (await call<{ items: Cluster[] }>('GET', `/v1/clusters?site=${siteA}`)).body.items.length === 3 &&
      (await call<{ items: Cluster[] }>('GET', `/v1/clusters?site=${siteB}`)).body.items.length === 3,
    90_000,
  );
}, 240_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => stopProcess(p)));
  await app?.close();
  await temporal?.connection.close();
  await db?.close();
  await kube?.stop({ removeData: true });
});

const deployCalls = (id: string) => deployActivityCalls(temporal, id);

describe('bulk deploy across two sites', () => {
  it('plans waves on a dry run and touches nothing', async () => {
    const release = await call<{ id: string }>('POST', '/v1/releases', { name: 'shop', manifests: RELEASE });
    expect(release.status).toBe(201);
    const dry = await call<{ waves: { name: string }[][] }>('POST', '/v1/deployments', {
      releaseId: release.body.id,
      placement: { sites: [siteA, siteB] },
      strategy: { waves: [{ count: 3 }, { percent: 100 }], maxParallel: 2, failureBudget: { count: 0 } },
      dryRun: true,
    });
    expect(dry.status).toBe(200);
    expect(dry.body.waves.map((w) => w.map((t) => t.name))).toEqual([
      ['a1', 'a2', 'a3'],
      ['b1', 'b2', 'b3'],
    ]);
    expect((await kubectl(kube.clusters[0] as KubeCluster, ['get', 'ns', 'shop'])).code).toBe(1);

    const started = await call<{ runId: string }>('POST', '/v1/deployments', {
      releaseId: release.body.id,
      placement: { sites: [siteA, siteB] },
      strategy: { waves: [{ count: 3 }, { percent: 100 }], maxParallel: 2, failureBudget: { count: 0 } },
    });
    expect(started.status).toBe(202);
    runId = started.body.runId;
  }, 30_000);

  it('pauses at the failure budget, naming the failure', async () => {
    const p = await waitForPhase(runId, ['paused']);
    expect(p.pausedReason).toMatch(/failure budget exceeded/);
    const byName = new Map(p.targets.map((t) => [t.name, t]));
    expect(byName.get('a3')).toMatchObject({ state: 'failed' });
    expect(byName.get('a3')?.lastError).toMatch(/forbidden/i);
    // Wave 2 has not started: its targets are listed as pending, with the rest.
    const listed = await call<{ total: number; items: { name: string; state: string; wave: number }[] }>(
      'GET',
      `/v1/runs/${runId}/targets?limit=4`,
    );
    expect(listed.status).toBe(200);
    expect(listed.body.total).toBe(6);
    expect(listed.body.items.map((t) => [t.name, t.state])).toEqual([
      ['a1', 'succeeded'],
      ['a2', 'succeeded'],
      ['a3', 'failed'],
      ['b1', 'pending'],
    ]);
    const rest = await call<{ items: { name: string; state: string }[]; nextCursor: string | null }>(
      'GET',
      `/v1/runs/${runId}/targets?limit=4&cursor=3`,
    );
    expect(rest.body.items.map((t) => [t.name, t.state])).toEqual([
      ['b2', 'pending'],
      ['b3', 'pending'],
    ]);
    expect(rest.body.nextCursor).toBeNull();
    // Filtered by state: a3's shard is still at work (paused with the run), so its state is
    // the live one, not the pending the database holds until the shard ends.
    type Page = { total: number; items: { name: string }[]; nextCursor: string | null };
    const inState = async (query: string) => {
      const res = await call<Page>('GET', `/v1/runs/${runId}/targets?${query}`);
      expect(res.status).toBe(200);
      return { ...res.body, names: res.body.items.map((t) => t.name) };
    };
    expect(await inState('state=failed')).toMatchObject({ total: 1, names: ['a3'], nextCursor: null });
    expect(await inState('state=pending')).toMatchObject({ total: 3, names: ['b1', 'b2', 'b3'] });
    const first = await inState('state=succeeded&limit=1');
    expect(first).toMatchObject({ total: 2, names: ['a1'], nextCursor: '0' });
    expect(await inState('state=succeeded&limit=1&cursor=0')).toMatchObject({ names: ['a2'] });
    expect(await inState('state=failed&cursor=2')).toMatchObject({ total: 1, names: [], nextCursor: null });
    expect(p.waves[1]).toMatchObject({ total: 3, pending: 3 });
    // Wave 2 never started: site B's clusters are untouched.
    expect((await kubectl(kube.clusters[3] as KubeCluster, ['get', 'ns', 'shop'])).code).toBe(1);
    // The state forbids what makes no sense.
    const pauseAgain = await call<{ error: { code: string } }>('POST', `/v1/runs/${runId}/pause`);
    expect(pauseAgain.status).toBe(422);
  }, 150_000);

  it('resumes after the fix and applies only the failed cluster again', async () => {
    const c = kube.clusters;
    writeFileSync(
      join(dir, 'a.yaml'),
      kubeconfig(
        [0, 1, 2].map((i) => ({
          context: `a${i + 1}`,
          cluster: c[i] as KubeCluster,
          token: (c[i] as KubeCluster).adminToken,
        })),
      ),
    );
    const resumed = await call<{ progress: DeployProgress }>('POST', `/v1/runs/${runId}/resume`, {
      failed: 'retry',
    });
    expect(resumed.status).toBe(200);
    const p = await waitForPhase(runId, ['succeeded']);
    expect(p.counts.succeeded).toBe(6);
    expect(p.shards).toMatchObject({ total: 4, finished: 4, active: null });
    // Listed as one run: its shards are parts of it.
    const listed = await call<{ items: { id: string }[] }>('GET', '/v1/runs?kind=deploy&limit=100');
    expect(listed.body.items.map((r) => r.id)).toContain(runId);
    expect(listed.body.items.filter((r) => r.id.startsWith(`${runId}.`))).toEqual([]);
    // The run crossed execution boundaries: its latest execution continued an earlier one.
    const latest = await temporal.workflow.getHandle(runId).fetchHistory();
    expect(latest.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId).toBeTruthy();
    const calls = await deployCalls(runId);
    expect(calls.get('a1')).toBe(1);
    expect(calls.get('a2')).toBe(1);
    expect(calls.get('b1')).toBe(1);
    // a3: its first try (retried by Temporal only for retryable errors: Forbidden is not), then the resume.
    expect(calls.get('a3')).toBe(2);
    for (const k of c) {
      const cm = JSON.parse(
        (await kubectl(k, ['get', 'configmap', 'settings', '-n', 'shop', '-o', 'json'])).stdout,
      ) as { data: Record<string, string> };
      expect(cm.data).toEqual({ color: 'blue' });
      const shared = JSON.parse(
        (await kubectl(k, ['get', 'configmap', 'shared', '-n', 'default', '-o', 'json'])).stdout,
      ) as { data: Record<string, string> };
      expect(shared.data).toEqual({ mode: 'new' });
    }
  }, 150_000);

  it('rolls every cluster back to its snapshot and removes what the release created', async () => {
    const rolled = await call<{ progress: DeployProgress }>('POST', `/v1/runs/${runId}/rollback`);
    expect(rolled.status).toBe(200);
    const p = await waitForPhase(runId, ['rolled-back']);
    expect(p.counts['rolled-back']).toBe(6);
    for (const k of kube.clusters) {
      expect(await comparable(k, ['get', 'configmap', 'shared', '-n', 'default'])).toBe(before.get(k.name));
      expect((await kubectl(k, ['get', 'configmap', 'settings', '-n', 'shop'])).code).toBe(1);
      expect((await kubectl(k, ['get', 'deployment', 'web', '-n', 'shop'])).code).toBe(1);
    }
    const again = await call<{ error: { code: string } }>('POST', `/v1/runs/${runId}/rollback`);
    expect([422, 404, 409]).toContain(again.status);
  }, 150_000);

  describe('failures in a shard that already finished', () => {
    // Site A alone, shards of two: [a1, a2] then [a3]. a1 and a3 lack rights; the budget
    // allows one failure, so the first shard finishes with a1 failed and the run pauses in
    // the second when a3 fails too. The decision must reach a1 as well as a3.
    const siteAKubeconfig = (restricted: string[]) => {
      const c = kube.clusters;
      writeFileSync(
        join(dir, 'a.yaml'),
        kubeconfig(
          [0, 1, 2].map((i) => {
            const cluster = c[i] as KubeCluster;
            const context = `a${i + 1}`;
            return {
              context,
              cluster,
              token: restricted.includes(context) ? cluster.restrictedToken : cluster.adminToken,
            };
          }),
        ),
      );
    };
    const startOnSiteA = async (name: string) => {
      const release = await call<{ id: string }>('POST', '/v1/releases', {
        name,
        manifests: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: default\ndata:\n  k: v`,
      });
      const started = await call<{ runId: string }>('POST', '/v1/deployments', {
        releaseId: release.body.id,
        placement: { sites: [siteA] },
        strategy: { waves: [{ percent: 100 }], maxParallel: 1, failureBudget: { count: 1 } },
      });
      expect(started.status).toBe(202);
      const p = await waitForPhase(started.body.runId, ['paused']);
      expect(p.pausedReason).toMatch(/2 failed, 1 allowed/);
      expect(p.shards).toMatchObject({ total: 2, finished: 1 });
      return started.body.runId;
    };
    const statesOf = async (id: string) =>
      (
        await call<{ items: { name: string; state: string }[] }>('GET', `/v1/runs/${id}/targets`)
      ).body.items.map((t) => `${t.name}:${t.state}`);

    it('skips them on resume with skip, in the progress and in the stored record', async () => {
      siteAKubeconfig(['a1', 'a3']);
      const id = await startOnSiteA('skipped-after-shard');
      expect(await statesOf(id)).toEqual(['a1:failed', 'a2:succeeded', 'a3:failed']);
      expect((await call('POST', `/v1/runs/${id}/resume`, { failed: 'skip' })).status).toBe(200);
      const p = await waitForPhase(id, ['succeeded']);
      expect(p.counts).toMatchObject({ succeeded: 1, skipped: 2, failed: 0 });
      expect(await statesOf(id)).toEqual(['a1:skipped', 'a2:succeeded', 'a3:skipped']);
      const calls = await deployCalls(id);
      expect([calls.get('a1'), calls.get('a2'), calls.get('a3')]).toEqual([1, 1, 1]);
    }, 150_000);

    it('retries them on resume with retry, once the cause is fixed', async () => {
      siteAKubeconfig(['a1', 'a3']);
      const id = await startOnSiteA('retried-after-shard');
      siteAKubeconfig([]);
      expect((await call('POST', `/v1/runs/${id}/resume`, { failed: 'retry' })).status).toBe(200);
      const p = await waitForPhase(id, ['succeeded']);
      expect(p.counts).toMatchObject({ succeeded: 3, failed: 0 });
      expect(await statesOf(id)).toEqual(['a1:succeeded', 'a2:succeeded', 'a3:succeeded']);
      const calls = await deployCalls(id);
      expect([calls.get('a1'), calls.get('a2'), calls.get('a3')]).toEqual([2, 1, 2]);
      for (const i of [0, 1, 2]) {
        expect(
          (await kubectl(kube.clusters[i] as KubeCluster, ['get', 'configmap', 'retried-after-shard'])).code,
        ).toBe(0);
      }
    }, 150_000);
  });
});
