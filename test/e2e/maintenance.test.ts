/**
 * Scheduled maintenance end to end on real parts: the API (inject), the control worker and a
 * site's sub-manager worker (in this process, so the test can look inside the sandbox cloud),
 * the test Temporal server and Postgres, two real kube-apiservers reached through the site's
 * kubeconfig, and the sandbox EKS behind the official SDK as the site's cloud account.
 *
 * Shown: a rollout started by a deploy schedule (trigger) is listed under it and deploys like
 * any rollout; an object changed behind drover's back with kubectl is reported per cluster,
 * object and field, left alone under `report` and put back under `repair`; clusters past their
 * expiry wait out the grace period, are listed by a dry run, and then go — the cloud cluster
 * through its delete run, the kubeconfig cluster deregistered only — while an unexpired one
 * stays; the version report judges cloud clusters by their catalog and the others by the
 * upstream support window.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Cluster } from '../../api/routes/clusters.ts';
import { createCloudAccounts, type CloudAccounts } from '../../clouds/accounts.ts';
import { cloudProviderFactories } from '../../clouds/factories.ts';
import type { DriftReportRow } from '../../db/maintenance.ts';
import type { Run } from '../../domain/runs.ts';
import { siteNamespace } from '../../domain/site-link.ts';
import { CONTROL_TASK_QUEUE } from '../../domain/task-queues.ts';
import type { SandboxCloud } from '../../sandbox/clouds/core.ts';
import { startSandboxClouds, type SandboxClouds } from '../../sandbox/clouds/fleet.ts';
import { startKubeEnv, type KubeCluster, type KubeEnv } from '../../sandbox/kube-env.ts';
import type { DeployProgress } from '../../workflows/bulk-deploy.ts';
import type { MaintenanceInput, MaintenanceReport } from '../../workflows/maintenance.ts';
import { EKS_EXTRAS } from '../support/clouds.ts';
import {
  siteKubeconfig,
  startApi,
  startWorkers,
  type ApiHarness,
  type InProcessWorkers,
} from '../support/drover.ts';
import { testNamespace, uniq, waitUntil } from '../support/env.ts';

const run = promisify(execFile);
const site = `maint-${uniq()}`;
const dir = mkdtempSync(join(tmpdir(), 'drover-maintenance-'));
const REGION = 'us-east-1';
const ACCOUNT = 'sandbox-eks';
/** Discovery names a cloud cluster after its context, `<account>/<location>/<name>`. */
const OLD = `${ACCOUNT}-${REGION}-old`;

const RELEASE = `
apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: shop }
data: { color: blue }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: registry.example/web:1.0
`;

let api: ApiHarness;
let kube: KubeEnv;
let fleet: SandboxClouds;
let engine: SandboxCloud;
let accounts: CloudAccounts;
let workers: InProcessWorkers | undefined;
/** Inventory ids by context. */
const ids = new Map<string, string>();

const k = (i: number) => kube.clusters[i] as KubeCluster;
const id = (context: string) => {
  const found = ids.get(context);
  if (!found) throw new Error(`no cluster with context ${context}`);
  return found;
};
const kubectl = async (c: KubeCluster, args: string[]): Promise<string> =>
  (await run(kube.binary, ['kubectl', '--kubeconfig', c.kubeconfigPath, '--context', c.name, ...args]))
    .stdout;
const color = (c: KubeCluster) =>
  kubectl(c, ['get', 'configmap', 'settings', '-n', 'shop', '-o', 'jsonpath={.data.color}']);

const finished = async <T>(runId: string, timeoutMs = 90_000): Promise<Run & { result: T }> => {
  let view: Run | undefined;
  await waitUntil(
    `run ${runId} to finish`,
    async () => (view = (await api.call<Run>('GET', `/v1/runs/${runId}`)).body).status !== 'running',
    timeoutMs,
  );
  if (view?.status !== 'succeeded') throw new Error(`run ${runId} ${view?.status}: ${view?.error ?? ''}`);
  return view as Run & { result: T };
};
const maintain = async (spec: object): Promise<MaintenanceReport> => {
  const started = await api.call<{ runId: string }>('POST', '/v1/maintenance', spec);
  expect(started.status).toBe(202);
  return (await finished<MaintenanceReport>(started.body.runId)).result;
};
const discover = async () => {
  const started = await api.call<{ runId: string }>('POST', `/v1/sites/${site}/discover`);
  expect(started.status).toBe(202);
  await finished(started.body.runId);
  const listed = await api.call<{ items: Cluster[] }>('GET', `/v1/clusters?site=${site}&limit=100`);
  ids.clear();
  for (const c of listed.body.items) ids.set(c.context, c.id);
};

beforeAll(async () => {
  kube = await startKubeEnv({ clusters: 2, baseDir: join(dir, 'kube'), namePrefix: 'maint' });
  // k1 and k2 run the release; k2-alias is k2 again under another context, a kubeconfig
  // cluster that will expire.
  writeFileSync(
    join(dir, 'site.yaml'),
    siteKubeconfig([
      { context: 'k1', server: k(0).server, caData: k(0).caData, token: k(0).adminToken },
      { context: 'k2', server: k(1).server, caData: k(1).caData, token: k(1).adminToken },
      { context: 'k2-alias', server: k(1).server, caData: k(1).caData, token: k(1).adminToken },
    ]),
  );

  // A sandbox EKS whose clusters are records only (no API servers): expiry deletes them.
  fleet = await startSandboxClouds({
    dir: join(dir, 'clouds'),
    clouds: ['eks'],
    createMs: 0,
    deleteMs: 500,
    backing: false,
    polling: { initialMs: 200, maxMs: 500 },
  });
  engine = fleet.engine('eks');
  accounts = createCloudAccounts(fleet.accounts, cloudProviderFactories);
  for (const name of ['old', 'young']) {
    await accounts.get(ACCOUNT).provider.createCluster({
      name,
      location: REGION,
      version: '1.33',
      labels: { team: 'platform' },
      nodePools: [],
      extras: EKS_EXTRAS,
    });
  }

  api = await startApi();
  workers = await startWorkers(
    api,
    [
      {
        site,
        identity: 'maintenance-test',
        version: 'test',
        kubeconfigPath: join(dir, 'site.yaml'),
        stateDir: join(dir, 'state'),
        clouds: accounts,
        temporal: api.temporal,
      },
    ],
    { quiet: true },
  );
  await api.call('POST', '/v1/sites', { name: site });
  await discover();
  for (const context of ['k1', 'k2']) {
    await api.call('PATCH', `/v1/clusters/${id(context)}`, { labels: { app: 'shop' } });
  }
}, 240_000);

afterAll(async () => {
  await workers?.stop();
  await api?.close();
  await fleet?.stop();
  await kube?.stop({ removeData: true });
}, 60_000);

describe('a rollout started by a schedule', () => {
  it('is planned when it fires, listed under the schedule and deploys like any rollout', async () => {
    const release = await api.call<{ id: string }>('POST', '/v1/releases', {
      name: 'shop',
      manifests: RELEASE,
    });
    expect(release.status).toBe(201);
    const created = await api.call('POST', '/v1/schedules', {
      id: `shop-${site}`,
      spec: { cron: ['@yearly'] },
      action: {
        kind: 'deploy',
        deployment: {
          releaseId: release.body.id,
          placement: { sites: [site], selector: 'app=shop' },
          strategy: { waves: [{ count: 1 }, { percent: 100 }], rollbackWindowSeconds: 0 },
        },
      },
    });
    expect(created.status).toBe(201);
    expect((await api.call('POST', `/v1/schedules/shop-${site}/trigger`)).status).toBe(202);
    let runId = '';
    await waitUntil(
      'the scheduled rollout',
      async () => {
        const runs = await api.call<{ items: { id: string }[] }>('GET', `/v1/runs?schedule=shop-${site}`);
        runId = runs.body.items[0]?.id ?? '';
        return runId !== '';
      },
      15_000,
    );
    expect(runId).toMatch(new RegExp(`^deploy:shop-${site}\\.scheduled-`));
    const done = await finished<DeployProgress>(runId);
    expect(done.result).toMatchObject({
      phase: 'succeeded',
      releaseId: release.body.id,
      counts: { succeeded: 2 },
    });
    expect(await color(k(0))).toBe('blue');
    expect(await color(k(1))).toBe('blue');
    const schedule = await api.call<{ recentRuns: { runId: string }[] }>('GET', `/v1/schedules/shop-${site}`);
    expect(schedule.body.recentRuns.map((r) => r.runId)).toEqual([runId]);
  }, 120_000);
});

describe('drift', () => {
  it('reports an object changed behind drover’s back, per cluster, object and field, and changes nothing', async () => {
    // The site's copy of the release is gone (as it is once it lapsed and retention removed
    // it): the check publishes it to the site again before the site reads it.
    const namespace = siteNamespace(testNamespace(), site);
    const copies = await api.temporal.workflowService.listWorkflowExecutions({
      namespace,
      query: `WorkflowId STARTS_WITH 'release:'`,
    });
    expect(copies.executions?.length).toBeGreaterThan(0);
    for (const wf of copies.executions ?? []) {
      await api.temporal.workflowService.deleteWorkflowExecution({
        namespace,
        workflowExecution: { workflowId: wf.execution?.workflowId ?? '' },
      });
    }
    await waitUntil(
      'the site’s release copies deleted',
      async () => {
        for (const wf of copies.executions ?? []) {
          const gone = await api.temporal.workflowService
            .describeWorkflowExecution({
              namespace,
              execution: { workflowId: wf.execution?.workflowId ?? '' },
            })
            .then(
              () => false,
              () => true,
            );
          if (!gone) return false;
        }
        return true;
      },
      30_000,
    );

    await kubectl(k(0), [
      'patch',
      'configmap',
      'settings',
      '-n',
      'shop',
      '--type=merge',
      '-p',
      '{"data":{"color":"red"}}',
    ]);
    await kubectl(k(0), ['scale', 'deployment', 'web', '-n', 'shop', '--replicas=3']);

    const report = await maintain({ drift: { policy: 'report' } });
    expect(report.drift).toMatchObject({
      policy: 'report',
      checked: 2,
      counts: { 'in-sync': 1, drifted: 1, repaired: 0, error: 0 },
    });
    expect(report.drift?.findings).toEqual([
      expect.objectContaining({
        cluster: 'k1',
        release: 'shop',
        status: 'drifted',
        objects: ['ConfigMap shop/settings: data.color', 'Deployment shop/web: spec.replicas'],
      }),
    ]);
    const stored = await api.call<{ items: DriftReportRow[] }>(
      'GET',
      `/v1/drift?site=${site}&status=drifted`,
    );
    expect(stored.body.items).toHaveLength(1);
    expect(stored.body.items[0]).toMatchObject({
      clusterId: id('k1'),
      releaseName: 'shop',
      status: 'drifted',
    });
    expect(stored.body.items[0]?.objects).toEqual([
      expect.objectContaining({
        kind: 'ConfigMap',
        namespace: 'shop',
        name: 'settings',
        state: 'drifted',
        fields: [{ path: 'data.color', live: '"red"', desired: '"blue"' }],
      }),
      expect.objectContaining({
        kind: 'Deployment',
        fields: [{ path: 'spec.replicas', live: '3', desired: '1' }],
      }),
    ]);
    const inSync = await api.call<{ items: DriftReportRow[] }>('GET', `/v1/drift?cluster=${id('k2')}`);
    expect(inSync.body.items.map((r) => r.status)).toEqual(['in-sync']);
    expect(await color(k(0))).toBe('red');
  }, 120_000);

  it('repairs under `repair`: the release is applied again and the cluster is back in sync', async () => {
    const report = await maintain({ drift: { policy: 'repair' } });
    expect(report.drift?.counts).toEqual({ 'in-sync': 1, drifted: 0, repaired: 1, error: 0 });
    expect(await color(k(0))).toBe('blue');
    expect(
      await kubectl(k(0), ['get', 'deployment', 'web', '-n', 'shop', '-o', 'jsonpath={.spec.replicas}']),
    ).toBe('1');
    const stored = await api.call<{ items: DriftReportRow[] }>('GET', `/v1/drift?cluster=${id('k1')}`);
    expect(stored.body.items[0]?.status).toBe('repaired');
    const again = await maintain({ drift: { policy: 'report', placement: { selector: 'app=shop' } } });
    expect(again.drift?.counts).toEqual({ 'in-sync': 2, drifted: 0, repaired: 0, error: 0 });
  }, 120_000);

  it('pages through the fleet and continues as new between pages without losing count', async () => {
    const input: MaintenanceInput = {
      spec: { drift: { policy: 'report', maxParallel: 10 } },
      pageSize: 1,
      historyLimit: 5,
    };
    const runId = `maintenance:paged-${site}`;
    await api.temporal.workflow.start('maintenanceWorkflow', {
      taskQueue: CONTROL_TASK_QUEUE,
      workflowId: runId,
      args: [input],
    });
    const done = await finished<MaintenanceReport>(runId);
    expect(done.result.drift).toMatchObject({ checked: 2, counts: { 'in-sync': 2 } });
    const { runId: last } = await api.temporal.workflow.getHandle(runId).describe();
    const history = await api.temporal.workflow.getHandle(runId, last).fetchHistory();
    expect(
      history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId,
    ).toBeTruthy();
  }, 120_000);
});

describe('expired clusters', () => {
  it('wait out the grace period, are listed by a dry run, then go; an unexpired one stays', async () => {
    const hour = 3_600_000;
    await api.call('PATCH', `/v1/clusters/${id(`${ACCOUNT}/${REGION}/old`)}`, {
      expiresAt: new Date(Date.now() - hour).toISOString(),
    });
    await api.call('PATCH', `/v1/clusters/${id(`${ACCOUNT}/${REGION}/young`)}`, {
      expiresAt: new Date(Date.now() + 24 * hour).toISOString(),
    });
    // A TTL label counts from when the inventory first knew the cluster: a second has passed.
    await api.call('PATCH', `/v1/clusters/${id('k2-alias')}`, { labels: { 'drover.io/ttl': '1s' } });

    const waiting = await maintain({ expiredClusters: { grace: '2h' } });
    expect(waiting.expiredClusters?.clusters).toEqual([]);
    expect(waiting.expiredClusters?.inGrace.map((c) => c.name).sort()).toEqual(['k2-alias', OLD]);

    const dryRun = await maintain({ expiredClusters: { grace: '0s', dryRun: true } });
    expect(
      dryRun.expiredClusters?.clusters.map((c) => [c.name, c.action, c.outcome, c.reason]).sort(),
    ).toEqual([
      ['k2-alias', 'deregister', 'would-go', 'ttl-label'],
      [OLD, 'delete', 'would-go', 'expiresAt'],
    ]);
    expect(engine.find(REGION, 'old')).toBeDefined();

    const gone = await maintain({ expiredClusters: { grace: '0s' } });
    const byName = Object.fromEntries((gone.expiredClusters?.clusters ?? []).map((c) => [c.name, c]));
    expect(byName[OLD]).toMatchObject({
      action: 'delete',
      outcome: 'deleted',
      runId: `delete-cluster:${id(`${ACCOUNT}/${REGION}/old`)}`,
      error: null,
    });
    expect(byName['k2-alias']).toMatchObject({ action: 'deregister', outcome: 'deregistered' });
    expect(engine.find(REGION, 'old')).toBeUndefined();
    expect(engine.find(REGION, 'young')).toBeDefined();
    expect((await api.call('GET', `/v1/clusters/${id(`${ACCOUNT}/${REGION}/old`)}`)).status).toBe(404);
    expect((await api.call('GET', `/v1/clusters/${id('k2-alias')}`)).status).toBe(404);
    expect((await api.call('GET', `/v1/clusters/${id(`${ACCOUNT}/${REGION}/young`)}`)).status).toBe(200);
    // The API server behind the deregistered context is untouched: drover only forgot it.
    expect(await color(k(1))).toBe('blue');
  }, 120_000);
});

describe('version report', () => {
  it("judges a cloud's cluster by its catalog and a kubeconfig cluster by the upstream window", async () => {
    const report = await maintain({ versions: { warnWithin: '30d' } });
    const versions = report.versions;
    expect(versions?.checked).toBe(3);
    expect(versions?.catalogErrors).toEqual([]);
    const flagged = Object.fromEntries((versions?.flagged ?? []).map((c) => [c.name, c]));
    // The test API servers are Kubernetes 1.33, past its upstream end of life (2026-06-28).
    expect(flagged.k1).toMatchObject({ minor: '1.33', status: 'unsupported', source: 'upstream' });
    expect(flagged.k2).toMatchObject({ status: 'unsupported', source: 'upstream' });
    // The sandbox EKS still offers 1.33 (down to 1.30): supported, so not flagged.
    expect(flagged[`${ACCOUNT}-${REGION}-young`]).toBeUndefined();
    expect(versions?.counts.supported).toBe(1);
  }, 120_000);
});
