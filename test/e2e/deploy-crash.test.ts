import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import type { Cluster } from '../../api/routes/clusters.ts';
import type { Run } from '../../domain/runs.ts';
import { createKubeClient } from '../../kube/client.ts';
import { deployToCluster } from '../../kube/deploy.ts';
import type { DeployProgress } from '../../workflows/bulk-deploy.ts';
import { startKubeEnv, type KubeCluster, type KubeEnv } from '../../sandbox/kube-env.ts';
import { deployActivityCalls, startApi, siteKubeconfig, type ApiHarness } from '../support/drover.ts';
import { startDroverProcess, stopProcess, uniq, waitUntil } from '../support/env.ts';

/**
 * kill -9 the control worker, then the sub-manager, in the middle of a rollout; restart them;
 * the run completes and every cluster ends up exactly as a clean single apply leaves it.
 */
const run = promisify(execFile);
const site = `crash-${uniq()}`;
const dir = mkdtempSync(join(tmpdir(), 'drover-crash-'));
let kube: KubeEnv;
let api: ApiHarness;
let databaseUrl: string;
let temporal: Client;
let controlWorker: ChildProcess;
let subManager: ChildProcess;

// Enough objects that each cluster takes a while, so the kills land mid-rollout.
const RELEASE = [
  'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: crash',
  ...Array.from(
    { length: 40 },
    (_, i) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${i}\n  namespace: crash\ndata:\n  index: "${i}"`,
  ),
].join('\n---\n');

const TARGETS = 4; // clusters in the site; one more is the clean reference
const startControl = () =>
  startDroverProcess('workers/main.ts', `crash-control-${site}-${uniq()}`, { DATABASE_URL: databaseUrl });
const startSite = () =>
  startDroverProcess('sub-manager/main.ts', `crash-${site}-${uniq()}`, {
    DROVER_SITE: site,
    DROVER_KUBECONFIG: join(dir, 'site.yaml'),
    DROVER_SITE_STATE_DIR: join(dir, 'state'),
  });

const call = <T>(method: 'GET' | 'POST', url: string, payload?: object) => api.call<T>(method, url, payload);

/** Whether ConfigMap `name` exists in namespace default of cluster `c`, as kubectl sees it. */
const configMapIn = (c: KubeCluster, name: string) =>
  run(kube.binary, [
    'kubectl',
    '--kubeconfig',
    c.kubeconfigPath,
    '--context',
    c.name,
    'get',
    'configmap',
    name,
    '-n',
    'default',
  ]).then(
    () => 'present',
    () => 'absent',
  );

/** Every release object on a cluster, as kubectl shows it minus what differs on every write. */
const state = async (c: KubeCluster) => {
  const { stdout } = await run(kube.binary, [
    'kubectl',
    '--kubeconfig',
    c.kubeconfigPath,
    '--context',
    c.name,
    'get',
    'configmaps',
    '-n',
    'crash',
    '-o',
    'json',
  ]);
  const list = JSON.parse(stdout) as { items: { metadata: Record<string, unknown>; data?: unknown }[] };
  return list.items
    .filter((o) => String(o.metadata.name).startsWith('cm-'))
    .map((o) => ({
      name: o.metadata.name,
      labels: o.metadata.labels,
      annotations: o.metadata.annotations,
      managers: ((o.metadata.managedFields ?? []) as { manager: string; operation: string }[]).map(
        (m) => `${m.manager}/${m.operation}`,
      ),
      data: o.data,
    }))
    .sort((a, b) => String(a.name).localeCompare(String(b.name)));
};

beforeAll(async () => {
  kube = await startKubeEnv({ clusters: TARGETS + 1, baseDir: join(dir, 'kube'), namePrefix: 'crash' });
  const targets = kube.clusters.slice(0, TARGETS);
  writeFileSync(
    join(dir, 'site.yaml'),
    siteKubeconfig(
      targets.map((c) => ({ context: c.name, server: c.server, caData: c.caData, token: c.adminToken })),
    ),
  );
  api = await startApi();
  ({ databaseUrl, temporal } = api);
  controlWorker = startControl();
  subManager = startSite();
  await waitUntil(
    'site discovered',
    async () =>
      (await call<{ items: Cluster[] }>('GET', `/v1/clusters?site=${site}`)).body.items.length === TARGETS,
    90_000,
  );
}, 240_000);

afterAll(async () => {
  await Promise.all([stopProcess(subManager), stopProcess(controlWorker)]);
  await api?.close();
  await kube?.stop({ removeData: true });
});

describe('a rollout survives its processes being killed', () => {
  it('completes after kill -9 of the control worker and of the sub-manager, with clusters as a clean apply leaves them', async () => {
    const release = await call<{ id: string }>('POST', '/v1/releases', { name: 'crash', manifests: RELEASE });
    expect(release.status).toBe(201);
    const started = await call<{ runId: string }>('POST', '/v1/deployments', {
      releaseId: release.body.id,
      placement: { sites: [site] },
      strategy: { waves: [{ percent: 100 }], maxParallel: 1, failureBudget: { count: 0 } },
    });
    expect(started.status).toBe(202);
    const runId = started.body.runId;
    const progress = async () =>
      (await call<Run & { progress?: DeployProgress }>('GET', `/v1/runs/${runId}`)).body;

    // Kill the control worker once the first cluster is under way…
    await waitUntil(
      'first cluster running',
      async () => ((await progress()).progress?.counts.running ?? 0) > 0,
      60_000,
    );
    await stopProcess(controlWorker, 'SIGKILL');
    controlWorker = startControl();
    // …and the sub-manager while a later one is.
    await waitUntil(
      'a later cluster running',
      async () => ((await progress()).progress?.counts.succeeded ?? 0) >= 1,
      90_000,
    );
    await stopProcess(subManager, 'SIGKILL');
    // Both kills happened mid-rollout.
    expect((await progress()).progress?.counts.succeeded ?? 0).toBeLessThan(TARGETS);
    subManager = startSite();

    let final: (Run & { progress?: DeployProgress }) | undefined;
    await waitUntil(
      'rollout to finish',
      async () => (final = await progress()).progress?.phase === 'succeeded',
      180_000,
    );
    expect(final?.progress?.counts.succeeded).toBe(TARGETS);
    expect(final?.progress?.counts.failed).toBe(0);

    // The reference: the same release applied once, cleanly, to a cluster nothing crashed on.
    const reference = kube.clusters[TARGETS] as KubeCluster;
    const objects = (
      await call<{ objects: unknown[] }>('POST', `/v1/releases/${release.body.id}/render`, {
        clusterName: reference.name,
        labels: {},
      })
    ).body.objects;
    await deployToCluster(
      createKubeClient({ kubeconfigPath: reference.kubeconfigPath, context: reference.name }),
      objects.map((object, index) => ({ index, object: object as never })),
      { releaseId: release.body.id },
    );
    const expected = await state(reference);
    expect(expected).toHaveLength(40);
    for (const c of kube.clusters.slice(0, TARGETS)) expect(await state(c)).toEqual(expected);
  }, 300_000);

  it('resumes a terminated run with a successor that skips every cluster it finished', async () => {
    const release = await call<{ id: string }>('POST', '/v1/releases', {
      name: 'after-termination',
      manifests:
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: resumed\n  namespace: default\ndata:\n  k: v',
    });
    const started = await call<{ runId: string }>('POST', '/v1/deployments', {
      releaseId: release.body.id,
      placement: { sites: [site] },
      strategy: { waves: [{ count: 2 }, { percent: 100 }], maxParallel: 2, betweenWaves: 'pause' },
    });
    const first = started.body.runId;
    await waitUntil(
      'first wave done and paused',
      async () => {
        const p = (await call<{ progress?: DeployProgress }>('GET', `/v1/runs/${first}`)).body.progress;
        return p?.phase === 'paused' && p.counts.running === 0;
      },
      90_000,
    );
    await temporal.workflow.getHandle(first).terminate('simulating a run that died');

    const resumed = await call<{ successor: { runId: string; alreadyDone: number; remaining: number } }>(
      'POST',
      `/v1/runs/${first}/resume`,
      { failed: 'retry' },
    );
    expect(resumed.status).toBe(202);
    expect(resumed.body.successor).toMatchObject({ alreadyDone: 2, remaining: TARGETS - 2 });
    const next = resumed.body.successor.runId;
    // One successor per run: asking again names it instead of deploying twice at once.
    const twice = await call<{ error: { message: string } }>('POST', `/v1/runs/${first}/resume`, {
      failed: 'retry',
    });
    expect(twice.status).toBe(409);
    expect(twice.body.error.message).toContain(next);
    let p: DeployProgress | undefined;
    await waitUntil(
      'successor to finish',
      async () =>
        (p = (await call<{ progress?: DeployProgress }>('GET', `/v1/runs/${next}`)).body.progress)?.phase ===
          'paused' || p?.phase === 'succeeded',
      90_000,
    );
    // Its first wave holds only clusters the predecessor finished, so it pauses there too.
    if (p?.phase === 'paused') {
      expect((await call('POST', `/v1/runs/${next}/resume`, { failed: 'retry' })).status).toBe(200);
      await waitUntil(
        'successor to finish',
        async () =>
          (p = (await call<{ progress?: DeployProgress }>('GET', `/v1/runs/${next}`)).body.progress)
            ?.phase === 'succeeded',
        90_000,
      );
    }
    expect(p?.counts).toMatchObject({ skipped: 2, succeeded: TARGETS - 2, failed: 0 });
    // Applied only where the predecessor had not: count the successor's deploy calls.
    const calls = [...(await deployActivityCalls(temporal, next)).values()].reduce((a, b) => a + b, 0);
    expect(calls).toBe(TARGETS - 2);
    // A finished or dead run cannot be paused.
    expect((await call('POST', `/v1/runs/${first}/pause`)).status).toBe(422);
    // Rolling the successor back restores its predecessor's clusters too, from their snapshots.
    expect((await call('POST', `/v1/runs/${next}/rollback`)).status).toBe(200);
    await waitUntil(
      'successor rolled back',
      async () =>
        (p = (await call<{ progress?: DeployProgress }>('GET', `/v1/runs/${next}`)).body.progress)?.phase ===
        'rolled-back',
      90_000,
    );
    expect(p?.counts['rolled-back']).toBe(TARGETS);
    for (const c of kube.clusters.slice(0, TARGETS)) expect(await configMapIn(c, 'resumed')).toBe('absent');
  }, 240_000);

  it('cancels a paused run: nothing new starts, the record says cancelled', async () => {
    const release = await call<{ id: string }>('POST', '/v1/releases', {
      name: 'to-cancel',
      manifests:
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cancelled\n  namespace: default\ndata:\n  k: v',
    });
    const started = await call<{ runId: string }>('POST', '/v1/deployments', {
      releaseId: release.body.id,
      placement: { sites: [site] },
      strategy: { waves: [{ count: 1 }, { percent: 100 }], maxParallel: 1, betweenWaves: 'pause' },
    });
    const id = started.body.runId;
    await waitUntil(
      'first wave done and paused',
      async () =>
        (await call<{ progress?: DeployProgress }>('GET', `/v1/runs/${id}`)).body.progress?.phase ===
        'paused',
      90_000,
    );
    expect((await call('POST', `/v1/runs/${id}/cancel`)).status).toBe(202);
    await temporal.workflow.getHandle(id).result();
    const final = (await call<{ progress: DeployProgress }>('GET', `/v1/runs/${id}`)).body.progress;
    expect(final.phase).toBe('cancelled');
    expect(final.counts).toMatchObject({ succeeded: 1, pending: TARGETS - 1 });
    // The clusters of the wave that never started were not touched.
    const untouched = kube.clusters.slice(1, TARGETS);
    for (const c of untouched) expect(await configMapIn(c, 'cancelled')).toBe('absent');
  }, 180_000);
});
