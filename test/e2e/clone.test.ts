/**
 * Cloning clusters end to end on real parts: the API (inject), the control worker and two
 * sites' sub-manager workers (in this process, so the test can look inside the sandbox
 * clouds), the test Temporal server and Postgres, a sandbox EKS in site `src-…` and a sandbox
 * GKE in site `dst-…` behind the official SDKs, every ready cluster backed by a real
 * kube-apiserver that accepts the adapters' own tokens.
 *
 * Shown: three EKS clusters picked by a label filter (a fourth is not) are planned (dry run),
 * the plans submitted, and cloned to GKE with their workloads migrated into the clones' API
 * servers (stripped, storage class mapped); one clone's GKE create fails → the run pauses →
 * resume makes only the missing clone → rollback deletes every clone and leaves the sources
 * as they were. A single clone's plan with what EKS needs left out is refused naming the field.
 * The CLI does a single clone the way a person would: dry run to a file, submit it, watch it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Cluster } from '../../api/routes/clusters.ts';
import { createCloudAccounts } from '../../clouds/accounts.ts';
import { cloudProviderFactories } from '../../clouds/factories.ts';
import { createSiteStore } from '../../db/sites.ts';
import { siteNamespace } from '../../domain/site-link.ts';
import { CLONED_FROM_LABEL, type ClonePlan, type CloneRunProgress } from '../../domain/clones.ts';
import { applyManifests } from '../../kube/apply.ts';
import { createKubeClient, type KubeClient } from '../../kube/client.ts';
import type { SandboxCloud } from '../../sandbox/clouds/core.ts';
import { startSandboxClouds, type SandboxClouds } from '../../sandbox/clouds/fleet.ts';
import type { CreateClusterProgress } from '../../workflows/create-cluster.ts';
import { EKS_EXTRAS, FAST_SANDBOX } from '../support/clouds.ts';
import {
  decodedHistoryText,
  startApi,
  startWorkers,
  type ApiHarness,
  type InProcessWorkers,
  type RunView,
} from '../support/drover.ts';
import { repoRoot, testDataConverter, testNamespace, uniq, waitUntil } from '../support/env.ts';
import { freePort } from '../support/services.ts';

const key = uniq();
const sourceSite = `src-${key}`;
const targetSite = `dst-${key}`;
const dir = mkdtempSync(join(tmpdir(), 'drover-clone-'));

const WORKLOADS = `
apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: shop-config, namespace: shop }
data: { mode: live }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers: [{ name: web, image: registry.example/web:1.0 }]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  annotations: { service.beta.kubernetes.io/aws-load-balancer-type: nlb }
spec:
  clusterIP: 10.96.8.8
  selector: { app: web }
  ports: [{ port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: data, namespace: shop }
spec:
  storageClassName: gp2
  accessModes: [ReadWriteOnce]
  resources: { requests: { storage: 1Gi } }
`;

let api: ApiHarness;
let fleet: SandboxClouds;
let workers: InProcessWorkers | undefined;
let eks: SandboxCloud;
let gke: SandboxCloud;

const waitForRun = <P>(runId: string, until: (r: RunView<P>) => boolean, timeoutMs = 180_000) =>
  api.waitForRun<P>(runId, { until, timeoutMs });

/** A backing API server's admin client for a sandbox cluster: the test's own view, not the sites'. */
const adminClient = (cloud: SandboxCloud, location: string, name: string): KubeClient => {
  const access = cloud.find(location, name)?.access;
  if (!access) throw new Error(`${name} in ${location} has no API server`);
  return createKubeClient({ server: access.server, caData: access.caData, token: access.token });
};

const get = <T>(client: KubeClient, path: string) =>
  client.request<T>({ method: 'GET', path, action: 'read' });

const exists = (client: KubeClient, path: string) =>
  get(client, path).then(
    () => true,
    (err: unknown) => {
      if ((err as { type?: string }).type === 'NotFound') return false;
      throw err;
    },
  );

const eksSpec = (name: string, env: string) => ({
  name,
  location: 'us-east-1',
  version: '1.33',
  labels: { env, team: 'shop' },
  nodePools: [{ name: 'general', machineType: 'm7i.large', count: 2 }],
  extras: EKS_EXTRAS,
});

/** The sources: made through the create run like any managed cluster, each with a shop. */
const sources: { name: string; id: string; env: string }[] = [];

beforeAll(async () => {
  fleet = await startSandboxClouds({ dir, name: 'drover-clone', clouds: ['eks', 'gke'], ...FAST_SANDBOX });
  eks = fleet.engine('eks');
  gke = fleet.engine('gke');
  api = await startApi();
  for (const site of [sourceSite, targetSite])
    await createSiteStore(api.db).checkIn(site, 'clone test', 'test');
  // Each site holds its own cloud account: credentials never leave it.
  const siteWith = (site: string, cloud: 'eks' | 'gke') => ({
    site,
    identity: `clone-test-${site}`,
    version: 'test',
    clouds: createCloudAccounts([fleet.account(cloud)], cloudProviderFactories),
  });
  workers = await startWorkers(api, [siteWith(sourceSite, 'eks'), siteWith(targetSite, 'gke')], {
    quiet: true,
  });
  // Three prod clusters and one dev cluster, each with the same small shop in it.
  const made = await Promise.all(
    ['prod', 'prod', 'prod', 'dev'].map(async (env, i) => {
      const name = `shop-${i + 1}-${key}`;
      const started = await api.call<{ runId: string }>('POST', '/v1/clusters:create', {
        site: sourceSite,
        account: 'sandbox-eks',
        spec: eksSpec(name, env),
      });
      expect(started.status).toBe(202);
      const run = await waitForRun<CreateClusterProgress>(started.body.runId, (r) => r.status !== 'running');
      expect(run.status).toBe('succeeded');
      await applyManifests(adminClient(eks, 'us-east-1', name), WORKLOADS, {
        fieldManager: 'kubectl-client-side-apply',
      });
      return { name, id: run.progress?.clusterId ?? '', env };
    }),
  );
  sources.push(...made);
}, 300_000);

afterAll(async () => {
  await workers?.stop();
  await api?.close();
  await fleet?.stop();
}, 60_000);

const inventory = async (site: string) =>
  (await api.call<{ items: Cluster[] }>('GET', `/v1/clusters?site=${site}`)).body.items;

describe('bulk clone EKS → GKE', () => {
  it('plans, clones with workloads, pauses on a failed clone, resumes only it, rolls back to the sources alone', async () => {
    const prod = sources.filter((s) => s.env === 'prod');

    // --- dry run: the plans, with what GKE makes of the EKS clusters --------------------------
    const dry = await api.call<{
      runId: string;
      plans: ClonePlan[];
      waves: string[][];
      problems: unknown[];
      strategy: object;
    }>('POST', '/v1/clones:bulk', {
      source: { selector: 'env=prod', sites: [sourceSite], location: 'us-east-1' },
      target: { site: targetSite, account: 'sandbox-gke', location: 'us-east4' },
      workloads: { namespaces: ['shop'] },
      strategy: { maxParallel: 3, failureBudget: { count: 0 }, rollbackWindowSeconds: 600 },
      dryRun: true,
    });
    expect(dry.status).toBe(200);
    expect(dry.body.problems).toEqual([]);
    expect(dry.body.plans.map((p) => p.source.clusterId).sort()).toEqual(prod.map((s) => s.id).sort());
    expect(dry.body.waves.flat().sort()).toEqual(prod.map((s) => s.id).sort());
    for (const plan of dry.body.plans) {
      expect(plan.target).toEqual({ site: targetSite, account: 'sandbox-gke', cloud: 'gke' });
      expect(plan.spec).toMatchObject({
        location: 'us-east4',
        version: '1.33',
        labels: { env: 'prod', team: 'shop' },
        // Two nodes over GKE's three zones: three.
        nodePools: [{ name: 'general', machineType: 'e2-standard-2', count: 3 }],
      });
      expect(plan.spec.labels).not.toHaveProperty('drover-run');
      expect(plan.warnings.map((w) => w.field)).toContain('spec.nodePools.0.count');
      // Secrets were not asked for: none travel, and no warning about them.
      expect(plan.workloads?.includeSecrets).toBe(false);
      expect(plan.warnings.map((w) => w.field)).not.toContain('workloads.includeSecrets');
      expect(plan.workloads?.mappings.storageClasses.gp2).toBe('standard-rwo');
    }
    // Dry: nothing was made.
    expect(gke.calls.get('createCluster') ?? 0).toBe(0);

    // --- submit the plans; the second clone's GKE create fails ---------------------------------
    const failing = dry.body.plans[1]?.spec.name as string;
    gke.inject({ op: 'createCluster', kind: 'fail-async', cluster: failing });
    const started = await api.call<{ runId: string; count: number }>('POST', '/v1/clones:bulk', {
      plans: dry.body.plans,
      strategy: dry.body.strategy,
    });
    expect(started.status).toBe(202);
    expect(started.body.count).toBe(3);
    const runId = started.body.runId;
    // The run pauses as soon as the budget is spent; the clones still running finish meanwhile.
    const paused = await waitForRun<CloneRunProgress>(
      runId,
      (r) => r.progress?.phase === 'paused' && r.progress.counts.running === 0,
    );
    const p1 = paused.progress as CloneRunProgress;
    expect(p1.counts).toMatchObject({ succeeded: 2, failed: 1, pending: 0, running: 0 });
    expect(p1.pausedReason).toMatch(/failure budget exceeded/);
    const failed = p1.targets.find((t) => t.state === 'failed');
    expect(failed?.clone?.name).toBe(failing);
    expect(failed?.lastError).toMatch(/failed/);
    expect(gke.calls.get('createCluster')).toBe(3);
    // The failed clone undid itself: GKE holds the two good clones only.
    await waitUntil('the failed clone to be gone', () => gke.all().length === 2, 30_000);
    expect(gke.all().every((c) => c.status === 'ready')).toBe(true);

    // The control protocol while paused: pausing again is refused, concurrency can change.
    expect((await api.call('POST', `/v1/runs/${runId}/pause`)).status).toBe(422);
    const concurrency = await api.call<{ progress: CloneRunProgress }>(
      'POST',
      `/v1/runs/${runId}/concurrency`,
      {
        maxParallel: 2,
      },
    );
    expect(concurrency.status).toBe(200);
    expect(concurrency.body.progress.maxParallel).toBe(2);
    expect((await api.call('POST', `/v1/runs/${runId}/concurrency`, { maxParallel: 51 })).status).toBe(400);

    // --- the clones hold the shop, as the target's own API servers show -------------------------
    for (const t of p1.targets.filter((x) => x.state === 'succeeded')) {
      const clone = t.clone as NonNullable<typeof t.clone>;
      expect(clone).toMatchObject({
        site: targetSite,
        account: 'sandbox-gke',
        cloud: 'gke',
        location: 'us-east4',
      });
      expect(t.migrated?.byKind).toEqual({
        Namespace: 1,
        ConfigMap: 1,
        PersistentVolumeClaim: 1,
        Service: 1,
        Deployment: 1,
      });
      const target = adminClient(gke, 'us-east4', clone.name);
      const source = adminClient(eks, 'us-east-1', t.name);
      type Obj = {
        metadata: {
          uid: string;
          annotations?: Record<string, string>;
          managedFields?: { manager: string }[];
        };
        spec: { clusterIP?: string; storageClassName?: string };
        data?: Record<string, string>;
      };
      const [svc, srcSvc, pvc, cm] = await Promise.all([
        get<Obj>(target, '/api/v1/namespaces/shop/services/web'),
        get<Obj>(source, '/api/v1/namespaces/shop/services/web'),
        get<Obj>(target, '/api/v1/namespaces/shop/persistentvolumeclaims/data'),
        get<Obj>(target, '/api/v1/namespaces/shop/configmaps/shop-config'),
      ]);
      expect(srcSvc.spec.clusterIP).toBe('10.96.8.8');
      expect(svc.spec.clusterIP).not.toBe('10.96.8.8');
      expect(svc.metadata.uid).not.toBe(srcSvc.metadata.uid);
      expect(svc.metadata.annotations ?? {}).not.toHaveProperty(
        'service.beta.kubernetes.io/aws-load-balancer-type',
      );
      expect(pvc.spec.storageClassName).toBe('standard-rwo');
      expect(cm.data).toEqual({ mode: 'live' });
      expect(cm.metadata.annotations ?? {}).not.toHaveProperty(
        'kubectl.kubernetes.io/last-applied-configuration',
      );
      expect(cm.metadata.managedFields?.map((m) => m.manager)).toEqual(['drover']);
      expect(await exists(target, '/apis/apps/v1/namespaces/shop/deployments/web')).toBe(true);
    }
    // Registered in the target site, labelled with their sources.
    const clones = await inventory(targetSite);
    expect(clones.map((c) => c.labels[CLONED_FROM_LABEL]).sort()).toEqual(
      p1.targets
        .filter((t) => t.state === 'succeeded')
        .map((t) => t.id)
        .sort(),
    );

    // --- resume: only the missing clone is made -------------------------------------------------
    const resumed = await api.call<{ progress: CloneRunProgress }>('POST', `/v1/runs/${runId}/resume`, {
      failed: 'retry',
    });
    expect(resumed.status).toBe(200);
    const done = await waitForRun<CloneRunProgress>(runId, (r) => r.progress?.phase === 'succeeded');
    expect(done.status).toBe('running'); // open for its rollback window
    expect(done.progress?.counts).toMatchObject({ succeeded: 3, failed: 0 });
    expect(done.progress?.targets.find((t) => t.clone?.name === failing)?.attempts).toBe(2);
    expect(gke.calls.get('createCluster')).toBe(4);
    expect(
      gke
        .all()
        .map((c) => c.name)
        .sort(),
    ).toEqual(dry.body.plans.map((p) => p.spec.name).sort());
    expect((await inventory(targetSite)).length).toBe(3);
    // The clone run of each attempt shows its steps.
    const cloneRun = await api.call<RunView<{ steps: { step: string; state: string }[] }>>(
      'GET',
      `/v1/runs/${done.progress?.targets[0]?.runId ?? ''}`,
    );
    expect(cloneRun.body.progress?.steps.map((s) => `${s.step}:${s.state}`)).toEqual([
      'create:done',
      'export-workloads:done',
      'import-workloads:done',
      'label:done',
    ]);

    // --- rollback: every clone goes; the sources stay as they were -------------------------------
    const rolled = await api.call('POST', `/v1/runs/${runId}/rollback`);
    expect(rolled.status).toBe(200);
    const after = await waitForRun<CloneRunProgress>(runId, (r) => r.status !== 'running');
    expect(after.status).toBe('succeeded');
    expect(after.progress?.phase).toBe('rolled-back');
    expect(after.progress?.counts).toMatchObject({ 'rolled-back': 3 });
    expect(gke.all()).toEqual([]);
    expect(await inventory(targetSite)).toEqual([]);
    expect(
      eks
        .all()
        .map((c) => [c.name, c.status])
        .sort(),
    ).toEqual(sources.map((s) => [s.name, 'ready']).sort());
    const left = await inventory(sourceSite);
    expect(left.map((c) => c.id).sort()).toEqual(sources.map((s) => s.id).sort());
    for (const s of sources)
      expect(
        await exists(adminClient(eks, 'us-east-1', s.name), '/api/v1/namespaces/shop/configmaps/shop-config'),
      ).toBe(true);
    // A finished rollback cannot be asked twice.
    expect((await api.call('POST', `/v1/runs/${runId}/rollback`)).status).toBe(422);
  }, 600_000);
});

describe('single clone', () => {
  it('plans a clone to EKS with placeholders, and refuses to execute them naming the field', async () => {
    const dev = sources.find((s) => s.env === 'dev') as (typeof sources)[number];
    const body = {
      source: { clusterId: dev.id },
      target: { site: sourceSite, account: 'sandbox-eks', name: `copy-${key}` },
    };
    const dry = await api.call<{ plan: ClonePlan; problems: { field: string }[] }>('POST', '/v1/clones', {
      ...body,
      dryRun: true,
    });
    expect(dry.status).toBe(200);
    expect(dry.body.plan.spec).toMatchObject({ name: `copy-${key}`, location: 'us-east-1' });
    // Asking for Secrets is said loudly in the plan: they would sit in the workflow's history.
    const withSecrets = await api.call<{ plan: ClonePlan }>('POST', '/v1/clones', {
      ...body,
      workloads: { namespaces: ['shop'], includeSecrets: true },
      dryRun: true,
    });
    expect(withSecrets.status).toBe(200);
    expect(withSecrets.body.plan.warnings).toContainEqual({
      field: 'workloads.includeSecrets',
      message: expect.stringMatching(/Temporal history/) as unknown as string,
    });
    expect(dry.body.plan.warnings.map((w) => w.field)).not.toContain('workloads.includeSecrets');
    expect(dry.body.problems.map((p) => p.field)).toEqual([
      'body.plan.spec.extras.eks.nodeRoleArn',
      'body.plan.spec.extras.eks.roleArn',
      'body.plan.spec.extras.eks.subnetIds.0',
      'body.plan.spec.extras.eks.subnetIds.1',
    ]);
    const refused = await api.call<{ error: { field: string; message: string } }>('POST', '/v1/clones', body);
    expect(refused.status).toBe(400);
    expect(refused.body.error.field).toBe('body.target.extras.eks.nodeRoleArn');
    const plan = await api.call<{ error: { field: string } }>('POST', '/v1/clones', { plan: dry.body.plan });
    expect(plan.status).toBe(400);
    expect(plan.body.error.field).toBe('body.plan.spec.extras.eks.nodeRoleArn');
    // Malformed requests name the field before anything runs.
    const missing = await api.call<{ error: { field: string } }>('POST', '/v1/clones', {
      source: body.source,
    });
    expect(missing.status).toBe(400);
    expect(missing.body.error.field).toMatch(/^body\.target/);
    const both = await api.call<{ error: { field: string } }>('POST', '/v1/clones', {
      ...body,
      plan: dry.body.plan,
    });
    expect(both.status).toBe(400);
    const unknown = await api.call<{ error: { field: string } }>('POST', '/v1/clones', {
      ...body,
      source: { clusterId: '00000000-0000-4000-8000-000000000000' },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.field).toBe('body.source.clusterId');
    const none = await api.call<{ error: { field: string } }>('POST', '/v1/clones:bulk', {
      source: { selector: 'env=nowhere' },
      target: { site: targetSite, account: 'sandbox-gke' },
      dryRun: true,
    });
    expect(none.status).toBe(400);
    expect(none.body.error.field).toBe('body.source');
    const badSelector = await api.call<{ error: { field: string } }>('POST', '/v1/clones:bulk', {
      source: { selector: 'env in (prod' },
      target: { site: targetSite, account: 'sandbox-gke' },
    });
    expect(badSelector.status).toBe(400);
    expect(badSelector.body.error.field).toMatch(/^body\.source\.selector/);
    expect(eks.all()).toHaveLength(4);
  }, 120_000);
});

describe('a clone that takes Secrets', () => {
  it('migrates them, and no raw history in any namespace holds their value', async () => {
    const since = new Date();
    const dev = sources.find((s) => s.env === 'dev') as (typeof sources)[number];
    const value = `clone-secret-${key}-never-in-history`;
    await applyManifests(
      adminClient(eks, 'us-east-1', dev.name),
      `apiVersion: v1\nkind: Secret\nmetadata: { name: shop-db, namespace: shop }\nstringData: { password: ${value} }\n`,
      { fieldManager: 'kubectl-client-side-apply' },
    );
    const name = `secrets-${key}`;
    const started = await api.call<{ runId: string }>('POST', '/v1/clones', {
      source: { clusterId: dev.id },
      target: { site: targetSite, account: 'sandbox-gke', location: 'us-east4', name },
      workloads: { namespaces: ['shop'], includeSecrets: true },
    });
    expect(started.status).toBe(202);
    // Done, and open for its rollback window.
    const run = await waitForRun<CloneRunProgress>(
      started.body.runId,
      (r) => r.status !== 'running' || ['succeeded', 'paused', 'failed'].includes(r.progress?.phase ?? ''),
    );
    expect(run.progress?.phase).toBe('succeeded');
    const copied = await get<{ data: { password: string } }>(
      adminClient(gke, 'us-east4', name),
      '/api/v1/namespaces/shop/secrets/shop-db',
    );
    expect(Buffer.from(copied.data.password, 'base64').toString()).toBe(value);

    // Every history since: the clone's run in the control namespace, and both sites' steps
    // (the export that read the Secret, the import that wrote it) in their own namespaces.
    const needles = [value, Buffer.from(value).toString('base64')];
    const namespaces = [
      testNamespace(),
      siteNamespace(testNamespace(), sourceSite),
      siteNamespace(testNamespace(), targetSite),
    ];
    let scanned = 0;
    for (const namespace of namespaces) {
      const page = await api.temporal.workflowService.listWorkflowExecutions({
        namespace,
        query: `StartTime >= '${since.toISOString()}'`,
        pageSize: 1000,
      });
      for (const wf of page.executions ?? []) {
        const history = await api.temporal.workflowService.getWorkflowExecutionHistory({
          namespace,
          execution: wf.execution ?? {},
          maximumPageSize: 10_000,
        });
        const bytes = Buffer.from(
          proto.temporal.api.history.v1.History.encode(history.history ?? {}).finish(),
        );
        scanned++;
        for (const needle of needles) {
          expect({ namespace, id: wf.execution?.workflowId, found: bytes.includes(needle) }).toEqual({
            namespace,
            id: wf.execution?.workflowId,
            found: false,
          });
        }
      }
    }
    // The run, the source's export step and the target's import step at least.
    expect(scanned).toBeGreaterThanOrEqual(3);
    // Decrypted, the target site's history does carry the Secret: the scan looked where it is.
    const inTarget = new Client({
      connection: api.temporal.connection,
      namespace: siteNamespace(testNamespace(), targetSite),
      dataConverter: testDataConverter(),
    });
    const decoded = await Promise.all(
      (
        await inTarget.workflowService.listWorkflowExecutions({
          namespace: inTarget.options.namespace,
          query: `StartTime >= '${since.toISOString()}'`,
        })
      ).executions?.map((wf) => decodedHistoryText(inTarget, wf.execution?.workflowId ?? '')) ?? [],
    );
    // (The API server hands the Secret out as `data`, base64.)
    expect(decoded.some((text) => needles.some((needle) => text.includes(needle)))).toBe(true);

    expect((await api.call('POST', `/v1/runs/${started.body.runId}/rollback`)).status).toBe(200);
    await waitUntil('the clone to be deleted', () => gke.all().length === 0, 90_000);
  }, 300_000);
});

describe('drover clone (the CLI)', () => {
  it('dry-runs a clone into plan.json, submits it with --plan --watch, and rolls it back', async () => {
    const port = await freePort();
    await api.app.listen({ host: '127.0.0.1', port });
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      DROVER_HOME: dir,
      DROVER_API_URL: `http://127.0.0.1:${port}`,
      DROVER_TOKEN: api.token,
    };
    const drover = (args: string[]) =>
      promisify(execFile)(
        process.execPath,
        ['--disable-warning=ExperimentalWarning', join(repoRoot, 'cli/drover.ts'), ...args],
        {
          env,
          timeout: 150_000,
        },
      ).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (e: { code?: number; stdout?: string; stderr?: string }) => ({
          code: e.code ?? 1,
          stdout: e.stdout ?? '',
          stderr: e.stderr ?? '',
        }),
      );
    const dev = sources.find((s) => s.env === 'dev') as (typeof sources)[number];
    const name = `cli-${key}`;
    const dry = await drover([
      'clone',
      '--from',
      dev.id,
      '--to',
      `${targetSite}/sandbox-gke/us-east4`,
      '--name',
      name,
      '-n',
      'shop',
      '--dry-run',
    ]);
    expect(dry.stderr).toMatch(/dry run: 1 clone planned; nothing made/);
    expect(dry.stderr).toMatch(new RegExp(`eks ${dev.name} \\(us-east-1\\) → gke ${name} in us-east4`));
    expect(dry.code).toBe(0);
    const file = join(dir, 'plan.json');
    writeFileSync(file, dry.stdout);
    expect(gke.all()).toEqual([]);

    const made = await drover(['clone', '--plan', file, '--watch']);
    expect(made.stdout + made.stderr).toMatch(/succeeded \(1 succeeded, 0 failed\)/);
    expect(made.code).toBe(0);
    const runId = made.stdout.split('\n')[0] as string;
    expect(runId).toMatch(/^clone:/);
    expect(gke.all().map((c) => c.name)).toEqual([name]);
    expect(
      await exists(adminClient(gke, 'us-east4', name), '/api/v1/namespaces/shop/configmaps/shop-config'),
    ).toBe(true);

    const rollback = await drover(['runs', 'rollback', runId]);
    expect(rollback.code).toBe(0);
    await waitUntil('the CLI clone to be deleted', () => gke.all().length === 0, 60_000);
    expect(eks.all()).toHaveLength(4);
  }, 240_000);
});
