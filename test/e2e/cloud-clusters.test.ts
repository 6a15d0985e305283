/**
 * Managed clusters end to end on real parts: the API (inject), the control worker and a site's
 * sub-manager worker (in this process, so the test can look inside the sandbox clouds), the
 * test Temporal server and Postgres, and the three sandbox clouds behind the official SDKs,
 * their ready clusters backed by real kube-apiservers that accept the adapters' own tokens.
 *
 * Shown: create → ready → registered on each cloud, then destroy → gone and deregistered; a
 * bad spec is a 400 naming the field before anything exists; a failure injected at each step
 * (the cloud's create, a node pool's create, the registration) and a cancel leave no cloud
 * resource behind and the run lists what it undid; a throttled create is retried after the
 * server's delay, not the activity's own backoff.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createCloudActivities } from '../../activities/site/clouds.ts';
import { createSiteActivities } from '../../activities/site/index.ts';
import type { Cluster } from '../../api/routes/clusters.ts';
import { createCloudAccounts, type CloudAccountConfig } from '../../clouds/accounts.ts';
import { cloudProviderFactories } from '../../clouds/factories.ts';
import type { CloudName } from '../../clouds/ports.ts';
import { createSiteStore } from '../../db/sites.ts';
import type { Run } from '../../domain/runs.ts';
import { siteTaskQueue } from '../../domain/task-queues.ts';
import { createKubeClient } from '../../kube/client.ts';
import { kubeEnvBacking } from '../../sandbox/clouds/backing.ts';
import { SandboxCloud, type SandboxOp } from '../../sandbox/clouds/core.ts';
import { startAksSandbox } from '../../sandbox/clouds/aks.ts';
import { startEksSandbox } from '../../sandbox/clouds/eks.ts';
import { startGkeSandbox } from '../../sandbox/clouds/gke.ts';
import { startTokenWebhook, type TokenWebhook } from '../../sandbox/clouds/token-webhook.ts';
import { startKubeEnv, type KubeEnv } from '../../sandbox/kube-env.ts';
import { createControlWorker } from '../../workers/control-worker.ts';
import type { CreateClusterProgress } from '../../workflows/create-cluster.ts';
import type { DeleteClusterProgress } from '../../workflows/delete-cluster.ts';
import { startApi, type ApiHarness } from '../support/drover.ts';
import { repoRoot, temporalAddress, testNamespace, uniq, waitUntil } from '../support/env.ts';

const site = `clouds-${uniq()}`;
const dir = mkdtempSync(join(tmpdir(), 'drover-cloud-clusters-'));
const GKE_TOKEN = 'ya29.sandbox-e2e-token';
const POLLING = { initialMs: 200, maxMs: 800 };

type Sandbox = { cloud: CloudName; account: string; engine: SandboxCloud; spec: (name: string) => object };
const clouds = new Map<CloudName, Sandbox>();
const stops: (() => Promise<void>)[] = [];
let api: ApiHarness;
let kube: KubeEnv;
let webhook: TokenWebhook;
let connection: NativeConnection;
let workers: Worker[] = [];
let running: Promise<unknown>;
let eksOptions: Record<string, unknown>;

const sandbox = (cloud: CloudName): Sandbox => {
  const s = clouds.get(cloud);
  if (!s) throw new Error(`no ${cloud} sandbox`);
  return s;
};

const eksSpec = (name: string) => ({
  name,
  location: 'us-east-1',
  version: '1.33',
  labels: { team: 'platform' },
  nodePools: [{ name: 'general', machineType: 'm7i.large', count: 2 }],
  extras: {
    eks: {
      roleArn: 'arn:aws:iam::123456789012:role/drover-cluster',
      subnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
      nodeRoleArn: 'arn:aws:iam::123456789012:role/drover-nodes',
    },
  },
});
const gkeSpec = (name: string) => ({
  name,
  location: 'europe-west1',
  version: '1.33',
  labels: { team: 'platform' },
  nodePools: [{ name: 'general', machineType: 'e2-standard-4', count: 3 }],
});
const aksSpec = (name: string) => ({
  name,
  location: 'eastus',
  version: '1.33',
  labels: { team: 'platform' },
  nodePools: [{ name: 'system', machineType: 'Standard_D4s_v5', count: 3 }],
});

const engine = () =>
  new SandboxCloud({
    createDelayMs: 1_500,
    nodePoolDelayMs: 800,
    deleteDelayMs: 800,
    backing: kubeEnvBacking(kube),
  });

beforeAll(async () => {
  webhook = await startTokenWebhook({ dir: join(dir, 'webhook'), tokens: [GKE_TOKEN] });
  // A single API server to start with (the env needs one); sandbox clusters add their own.
  kube = await startKubeEnv({
    clusters: 1,
    baseDir: join(dir, 'kube'),
    namePrefix: 'base',
    apiServerArgs: webhook.apiServerArgs(),
  });

  const accounts: CloudAccountConfig[] = [];
  const eksEngine = engine();
  const eks = await startEksSandbox({ cloud: eksEngine, region: 'us-east-1' });
  stops.push(() => eks.stop());
  clouds.set('eks', { cloud: 'eks', account: 'sandbox-eks', engine: eksEngine, spec: eksSpec });
  eksOptions = {
    region: 'us-east-1',
    endpoint: eks.url,
    credentials: { accessKeyId: 'AKIDSANDBOXE2E', secretAccessKey: 'sandbox-secret' },
  };
  accounts.push({ name: 'sandbox-eks', cloud: 'eks', options: eksOptions, polling: POLLING });

  const gkeEngine = engine();
  const gke = await startGkeSandbox({
    cloud: gkeEngine,
    certDir: join(dir, 'gke'),
    projects: ['drover-e2e'],
    tokens: [GKE_TOKEN],
  });
  stops.push(() => gke.stop());
  clouds.set('gke', { cloud: 'gke', account: 'sandbox-gke', engine: gkeEngine, spec: gkeSpec });
  accounts.push({
    name: 'sandbox-gke',
    cloud: 'gke',
    options: {
      project: 'drover-e2e',
      endpoint: gke.host,
      port: gke.port,
      ca: gke.ca,
      accessToken: GKE_TOKEN,
    },
    polling: POLLING,
  });

  const aksEngine = engine();
  const aks = await startAksSandbox({ cloud: aksEngine, certDir: join(dir, 'aks'), token: 'aks-e2e-token' });
  stops.push(() => aks.stop());
  clouds.set('aks', { cloud: 'aks', account: 'sandbox-aks', engine: aksEngine, spec: aksSpec });
  accounts.push({
    name: 'sandbox-aks',
    cloud: 'aks',
    options: {
      subscriptionId: '6b1c2f3e-0000-4000-8000-00000000e2e0',
      resourceGroup: 'drover-e2e',
      endpoint: aks.url,
      ca: aks.ca,
      token: 'aks-e2e-token',
    },
    polling: POLLING,
  });

  try {
    // The failures below are on purpose: keep the SDK's warnings about them off the output.
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Already installed in this jest worker.
  }
  api = await startApi();
  await createSiteStore(api.db).checkIn(site, 'cloud clusters test site', 'test');
  connection = await NativeConnection.connect({ address: temporalAddress() });
  workers = [
    await createControlWorker({ connection, namespace: testNamespace(), db: api.db }),
    await Worker.create({
      connection,
      namespace: testNamespace(),
      taskQueue: siteTaskQueue(site),
      activities: createSiteActivities({
        site,
        identity: 'cloud-clusters-test',
        version: 'test',
        clouds: createCloudAccounts(accounts, cloudProviderFactories),
      }),
    }),
  ];
  running = Promise.all(workers.map((w) => w.run()));
}, 240_000);

afterAll(async () => {
  for (const w of workers) w.shutdown();
  await running;
  await connection?.close();
  await api?.close();
  for (const stop of stops) await stop();
  await webhook?.stop();
  await kube?.stop({ removeData: true });
}, 60_000);

type RunView<P> = Run & { progress?: P };

const waitForRun = async <P>(runId: string, timeoutMs = 120_000): Promise<RunView<P>> => {
  let run: RunView<P> | undefined;
  await waitUntil(
    `run ${runId} to end`,
    async () => (run = (await api.call<RunView<P>>('GET', `/v1/runs/${runId}`)).body).status !== 'running',
    timeoutMs,
  );
  return run as RunView<P>;
};

const create = (cloud: CloudName, spec: object, extra: object = {}) =>
  api.call<{ runId: string; validated: boolean; error?: { code: string; field?: string; message: string } }>(
    'POST',
    '/v1/clusters:create',
    { site, account: sandbox(cloud).account, spec, ...extra },
  );

const calls = (cloud: CloudName, op: SandboxOp) => sandbox(cloud).engine.calls.get(op) ?? 0;
const stepsOf = (p: { steps: { step: string; state: string }[] }) =>
  p.steps.map((s) => `${s.step}:${s.state}`);
const undoneOf = (p: CreateClusterProgress) => p.undone.map((s) => `${s.step}:${s.state}`);
const inventory = async (name: string) =>
  (await api.call<{ items: Cluster[] }>('GET', `/v1/clusters?site=${site}`)).body.items.filter(
    (c) => c.name === name,
  );

describe.each(['eks', 'gke', 'aks'] as const)('managed clusters on %s', (cloud) => {
  it('creates a cluster: ready, registered, reachable by its site; then destroys it', async () => {
    const name = `${cloud}-ok-${uniq()}`;
    const s = sandbox(cloud);
    if (cloud === 'eks') {
      // The first create is throttled: the retry must wait the server's 4 s, not the 2 s backoff.
      s.engine.inject({ op: 'createCluster', kind: 'throttle', retryAfterSeconds: 4, cluster: name });
    }
    const createsBefore = calls(cloud, 'createCluster');
    const started = await create(cloud, s.spec(name));
    expect(started.status).toBe(202);
    expect(started.body.validated).toBe(true);
    const run = await waitForRun<CreateClusterProgress>(started.body.runId);
    expect(run.error).toBeUndefined();
    expect(run.status).toBe('succeeded');
    const p = run.progress as CreateClusterProgress;
    expect(p.phase).toBe('succeeded');
    expect(stepsOf(p)).toEqual(
      expect.arrayContaining(['validate:done', 'create-cluster:done', 'check-access:done', 'register:done']),
    );
    expect(p.context).toBe(`${s.account}/${p.location}/${name}`);

    // In the cloud: one ready cluster with its pool; in the inventory: ready, described.
    const inCloud = s.engine.find(p.location, name);
    expect(inCloud?.status).toBe('ready');
    expect([...(inCloud?.nodePools.values() ?? [])].map((n) => [n.name, n.status])).toEqual([
      [cloud === 'aks' ? 'system' : 'general', 'ready'],
    ]);
    const [registered] = await inventory(name);
    expect(registered).toMatchObject({
      id: p.clusterId,
      provider: cloud,
      location: p.location,
      context: p.context,
      status: 'ready',
      origin: 'registered',
      labels: { team: 'platform' },
    });
    expect(registered?.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+/);
    // The access check meant something: that API server refuses a token its cloud did not issue.
    const refused = createKubeClient({
      server: registered?.endpoint ?? '',
      token: 'not-a-cloud-token',
      caData: inCloud?.access?.caData,
    }).request({ method: 'GET', path: '/version', action: 'read version' });
    await expect(refused).rejects.toMatchObject({ type: 'Unauthorized' });
    expect(registered?.kubernetesVersion).toMatch(/^1\.33/);

    if (cloud === 'eks') {
      expect(calls(cloud, 'createCluster') - createsBefore).toBe(2);
      const history = await api.temporal.workflow.getHandle(started.body.runId).fetchHistory();
      const events = history.events ?? [];
      const scheduled = events.find(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'cloudCreateCluster',
      );
      const startedEvent = events.find(
        (e) =>
          e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() ===
          scheduled?.eventId?.toString(),
      );
      expect(startedEvent?.activityTaskStartedEventAttributes?.attempt).toBe(2);
      const ms = (e: typeof scheduled) =>
        Number(e?.eventTime?.seconds ?? 0) * 1000 + (e?.eventTime?.nanos ?? 0) / 1e6;
      expect(ms(startedEvent) - ms(scheduled)).toBeGreaterThanOrEqual(3_900);
    }

    // No credential the site used reached the run's history or the API's answer.
    const secrets = [
      GKE_TOKEN,
      'aks-e2e-token',
      'sandbox-secret',
      'k8s-aws-v1.',
      inCloud?.access?.token ?? '',
    ];
    const history = JSON.stringify(
      (await api.temporal.workflow.getHandle(started.body.runId).fetchHistory()).events ?? [],
      // Payloads serialize as base64: read them as text, or a secret in them would go unseen.
      (k, v: unknown) =>
        k === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
    );
    // The payloads were read: the spec's name (in no id, only in payloads) is there.
    expect(history).toContain(name);
    const answer = JSON.stringify((await api.call('GET', `/v1/runs/${started.body.runId}`)).body);
    for (const secret of secrets.filter((x) => x.length > 0)) {
      expect(history).not.toContain(secret);
      expect(answer).not.toContain(secret);
    }
    expect(inCloud?.access?.token ?? '').not.toBe('');

    // Discovery knows it by its cloud context and reaches its API server with fresh credentials.
    const discovery = await api.call<{ runId: string }>('POST', `/v1/sites/${site}/discover`);
    const discovered = await waitForRun<unknown>(discovery.body.runId, 60_000);
    expect(discovered.status).toBe('succeeded');
    expect((await inventory(name))[0]).toMatchObject({ id: p.clusterId, status: 'ready' });

    const destroy = await api.call<{ runId: string }>('DELETE', `/v1/clusters/${p.clusterId}?destroy=true`);
    expect(destroy.status).toBe(202);
    const deleted = await waitForRun<DeleteClusterProgress>(destroy.body.runId);
    expect(deleted.status).toBe('succeeded');
    expect(deleted.progress?.phase).toBe('succeeded');
    expect(stepsOf(deleted.progress as DeleteClusterProgress)).toEqual(
      expect.arrayContaining(['describe:done', 'delete-cluster:done', 'deregister:done']),
    );
    expect(s.engine.all()).toEqual([]);
    expect((await api.call('GET', `/v1/clusters/${p.clusterId}`)).status).toBe(404);
  }, 180_000);

  it('refuses a bad spec with a 400 naming the field, before anything is created', async () => {
    const s = sandbox(cloud);
    const base = s.spec(`${cloud}-bad-${uniq()}`) as { nodePools: object[] };
    const before = calls(cloud, 'createCluster');
    const cases: [object, string][] = [
      [{ ...base, version: '1.9' }, 'body.spec.version'],
      [{ ...base, location: 'mars-north-1' }, 'body.spec.location'],
      [
        { ...base, nodePools: [{ ...base.nodePools[0], machineType: 'quantum.huge' }] },
        'body.spec.nodePools.0.machineType',
      ],
    ];
    // An EKS account serves one region: another real region is still a bad location for it.
    if (cloud === 'eks') cases.push([{ ...base, location: 'eu-west-1' }, 'body.spec.location']);
    for (const [spec, field] of cases) {
      const res = await create(cloud, spec);
      expect(res.status).toBe(400);
      expect(res.body.error?.field).toBe(field);
    }
    const unknownAccount = await api.call<{ error: { field: string } }>('POST', '/v1/clusters:create', {
      site,
      account: 'no-such-account',
      spec: base,
    });
    expect(unknownAccount.status).toBe(400);
    expect(unknownAccount.body.error.field).toBe('body.account');
    const dry = await create(cloud, base, { dryRun: true });
    expect(dry.status).toBe(200);
    expect(calls(cloud, 'createCluster')).toBe(before);
    expect(s.engine.all()).toEqual([]);
  }, 120_000);

  it('undoes everything when the cloud fails to create the cluster', async () => {
    const s = sandbox(cloud);
    const name = `${cloud}-fail-${uniq()}`;
    s.engine.inject({ op: 'createCluster', kind: 'fail-async', cluster: name });
    const started = await create(cloud, s.spec(name));
    expect(started.status).toBe(202);
    const run = await waitForRun<CreateClusterProgress>(started.body.runId);
    expect(run.status).toBe('failed');
    const p = run.progress as CreateClusterProgress;
    expect(p.phase).toBe('failed');
    expect(stepsOf(p)).toEqual(['validate:done', 'create-cluster:done', 'wait-cluster:failed']);
    expect(undoneOf(p)).toEqual(['delete-cluster:done']);
    expect(p.undone[0]?.note).toBe('deleted');
    expect(run.error).toMatch(/undone: delete-cluster/);
    expect(s.engine.all()).toEqual([]);
    expect(await inventory(name)).toEqual([]);
  }, 120_000);

  it('fails cleanly when the cloud refuses the create outright (quota)', async () => {
    const s = sandbox(cloud);
    const name = `${cloud}-quota-${uniq()}`;
    s.engine.inject({ op: 'createCluster', kind: 'quota', cluster: name });
    const started = await create(cloud, s.spec(name));
    expect(started.status).toBe(202);
    const run = await waitForRun<CreateClusterProgress>(started.body.runId);
    expect(run.status).toBe('failed');
    const p = run.progress as CreateClusterProgress;
    expect(p.steps.at(-1)).toMatchObject({ step: 'create-cluster', state: 'failed' });
    expect(p.steps.at(-1)?.note).toMatch(/quota/i);
    expect(s.engine.all()).toEqual([]);
    expect(await inventory(name)).toEqual([]);
  }, 120_000);
});

describe('managed clusters: failures after the cluster exists', () => {
  it('undoes the node pools and the cluster when a node pool fails (EKS adds pools separately)', async () => {
    const s = sandbox('eks');
    const name = `eks-pool-${uniq()}`;
    s.engine.inject({ op: 'createNodePool', kind: 'fail-async', cluster: name });
    const started = await create('eks', s.spec(name));
    const run = await waitForRun<CreateClusterProgress>(started.body.runId);
    expect(run.status).toBe('failed');
    const p = run.progress as CreateClusterProgress;
    expect(stepsOf(p)).toEqual([
      'validate:done',
      'create-cluster:done',
      'wait-cluster:done',
      'create-node-pool:done',
      'wait-node-pool:failed',
    ]);
    expect(undoneOf(p)).toEqual(['delete-node-pool:done', 'delete-cluster:done']);
    expect(s.engine.all()).toEqual([]);
  }, 180_000);

  it('undoes the cluster when the cloud refuses a node pool outright', async () => {
    const s = sandbox('eks');
    const name = `eks-poolquota-${uniq()}`;
    s.engine.inject({ op: 'createNodePool', kind: 'quota', cluster: name });
    const started = await create('eks', s.spec(name));
    const run = await waitForRun<CreateClusterProgress>(started.body.runId);
    expect(run.status).toBe('failed');
    const p = run.progress as CreateClusterProgress;
    expect(p.steps.at(-1)).toMatchObject({ step: 'create-node-pool', state: 'failed' });
    expect(undoneOf(p)).toContain('delete-cluster:done');
    expect(s.engine.all()).toEqual([]);
    expect(await inventory(name)).toEqual([]);
  }, 180_000);

  it('undoes the cloud cluster when registering it fails (the name was taken meanwhile)', async () => {
    const s = sandbox('gke');
    const name = `gke-reg-${uniq()}`;
    const started = await create('gke', s.spec(name));
    expect(started.status).toBe(202);
    // Someone registers another cluster under the same name while the run creates this one.
    const squatter = await api.call('POST', '/v1/clusters', { site, context: `squatter-${name}`, name });
    expect(squatter.status).toBe(201);
    const run = await waitForRun<CreateClusterProgress>(started.body.runId);
    expect(run.status).toBe('failed');
    const p = run.progress as CreateClusterProgress;
    expect(p.steps.at(-1)).toMatchObject({ step: 'register', state: 'failed' });
    expect(p.steps.at(-1)?.note).toMatch(/already has a cluster named/);
    expect(undoneOf(p)).toEqual(['delete-cluster:done']);
    expect(s.engine.all()).toEqual([]);
    expect((await inventory(name)).map((c) => c.context)).toEqual([`squatter-${name}`]);
    // Asked again, the taken name is refused up front.
    const again = await create('gke', s.spec(name));
    expect(again.status).toBe(409);
    expect(again.body.error?.field).toBe('body.spec.name');
  }, 180_000);

  it('undoes what was done when the run is cancelled while the cluster is being created', async () => {
    const s = sandbox('aks');
    const name = `aks-cancel-${uniq()}`;
    const started = await create('aks', s.spec(name));
    const runId = started.body.runId;
    await waitUntil(
      'the run to wait for the cluster',
      async () =>
        (
          await api.call<RunView<CreateClusterProgress>>('GET', `/v1/runs/${runId}`)
        ).body.progress?.steps.some((st) => st.step === 'wait-cluster' && st.state === 'running') === true,
      60_000,
    );
    expect((await api.call('POST', `/v1/runs/${runId}/cancel`)).status).toBe(202);
    const run = await waitForRun<CreateClusterProgress>(runId);
    expect(run.status).toBe('cancelled');
    const p = run.progress as CreateClusterProgress;
    expect(p.phase).toBe('cancelled');
    expect(p.steps.at(-1)).toMatchObject({ step: 'wait-cluster', state: 'cancelled' });
    expect(undoneOf(p)).toEqual(['delete-cluster:done']);
    expect(s.engine.all()).toEqual([]);
  }, 180_000);
});

describe('managed clusters: the create step is safe to retry', () => {
  it("adopts the cluster its own earlier attempt made, and refuses anyone else's", async () => {
    const s = sandbox('eks');
    const activities = createCloudActivities({
      clouds: createCloudAccounts(
        [{ name: s.account, cloud: 'eks', options: eksOptions, polling: POLLING }],
        cloudProviderFactories,
      ),
    });
    const request = s.spec(`eks-retry-${uniq()}`) as { name: string; location: string; version: string };
    const spec = {
      ...request,
      labels: {},
      nodePools: [],
      extras: eksSpec(request.name).extras,
    };
    const first = await activities.cloudCreateCluster({ account: s.account, spec, runKey: 'run-one' });
    expect(first).toMatchObject({ adopted: false, operation: { kind: 'create-cluster' } });
    // The answer was lost; the retry meets the cluster it made.
    const retry = await activities.cloudCreateCluster({ account: s.account, spec, runKey: 'run-one' });
    expect(retry).toEqual({ adopted: true, operation: null });
    await expect(
      activities.cloudCreateCluster({ account: s.account, spec, runKey: 'run-two' }),
    ).rejects.toMatchObject({ type: 'Conflict' });
    expect(s.engine.all().map((c) => c.name)).toEqual([request.name]);
    await s.engine.reset();
  });
});

describe('managed clusters from the CLI', () => {
  const drover = async (args: string[], apiUrl: string) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(
        process.execPath,
        ['--disable-warning=ExperimentalWarning', join(repoRoot, 'cli/drover.ts'), ...args],
        { env: { PATH: process.env.PATH, HOME: dir, DROVER_API_URL: apiUrl, DROVER_TOKEN: api.token } },
      );
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };

  it('checks, creates and destroys a cluster: drover clusters create / rm --destroy', async () => {
    const apiUrl = await api.app.listen({ host: '127.0.0.1', port: 0 });
    const s = sandbox('gke');
    const name = `gke-cli-${uniq()}`;
    const specFile = join(dir, 'spec.json');
    const badFile = join(dir, 'bad.json');
    writeFileSync(specFile, JSON.stringify(s.spec(name)));
    writeFileSync(badFile, JSON.stringify({ ...s.spec(name), location: 'atlantis1' }));
    const common = ['clusters', 'create', '--site', site, '--account', s.account];

    const dry = await drover([...common, '-f', specFile, '--dry-run'], apiUrl);
    expect(dry).toMatchObject({ code: 0 });
    expect(dry.stdout).toMatch(/spec ok: gke cluster gke-cli-\w+, Kubernetes 1\.33\./);
    const bad = await drover([...common, '-f', badFile], apiUrl);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/body\.spec\.location/);
    expect(s.engine.all()).toEqual([]);

    const created = await drover([...common, '-f', specFile], apiUrl);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/✓ register /);
    const [cluster] = await inventory(name);
    expect(cluster?.status).toBe('ready');

    const destroyed = await drover(['clusters', 'rm', cluster?.id ?? '', '--destroy'], apiUrl);
    expect(destroyed.code).toBe(0);
    expect(destroyed.stdout).toMatch(/✓ deregister /);
    expect(s.engine.all()).toEqual([]);
    expect(await inventory(name)).toEqual([]);
  }, 180_000);
});
