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
import { createCloudActivities } from '../../activities/site/clouds.ts';
import type { Cluster } from '../../api/routes/clusters.ts';
import { createCloudAccounts } from '../../clouds/accounts.ts';
import { cloudProviderFactories } from '../../clouds/factories.ts';
import type { CloudName } from '../../clouds/ports.ts';
import { createSiteStore } from '../../db/sites.ts';
import { createKubeClient } from '../../kube/client.ts';
import type { SandboxCloud, SandboxOp } from '../../sandbox/clouds/core.ts';
import { startSandboxClouds, type SandboxClouds } from '../../sandbox/clouds/fleet.ts';
import type { CreateClusterProgress } from '../../workflows/create-cluster.ts';
import type { DeleteClusterProgress } from '../../workflows/delete-cluster.ts';
import { EKS_EXTRAS, FAST_SANDBOX } from '../support/clouds.ts';
import {
  decodedHistoryText,
  startApi,
  siteStepHistory,
  startWorkers,
  type ApiHarness,
  type InProcessWorkers,
} from '../support/drover.ts';
import { repoRoot, uniq } from '../support/env.ts';
import { freePort } from '../support/services.ts';

const site = `clouds-${uniq()}`;
const dir = mkdtempSync(join(tmpdir(), 'drover-cloud-clusters-'));

type Sandbox = { cloud: CloudName; account: string; engine: SandboxCloud; spec: (name: string) => object };
let api: ApiHarness;
let fleet: SandboxClouds;
let workers: InProcessWorkers | undefined;

const eksSpec = (name: string) => ({
  name,
  location: 'us-east-1',
  version: '1.33',
  labels: { team: 'platform' },
  nodePools: [{ name: 'general', machineType: 'm7i.large', count: 2 }],
  extras: EKS_EXTRAS,
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
const SPECS: Record<CloudName, (name: string) => object> = { eks: eksSpec, gke: gkeSpec, aks: aksSpec };

const sandbox = (cloud: CloudName): Sandbox => ({
  cloud,
  account: fleet.account(cloud).name,
  engine: fleet.engine(cloud),
  spec: SPECS[cloud],
});

beforeAll(async () => {
  // Every ready sandbox cluster gets its own real API server.
  fleet = await startSandboxClouds({ dir, name: 'drover-e2e', ...FAST_SANDBOX });
  api = await startApi();
  await createSiteStore(api.db).checkIn(site, 'cloud clusters test site', 'test');
  // The failures below are on purpose: keep the SDK's warnings about them off the output.
  workers = await startWorkers(
    api,
    [
      {
        site,
        identity: 'cloud-clusters-test',
        version: 'test',
        // One more account whose cloud is not there: discovery reports it and goes on.
        clouds: createCloudAccounts(
          [
            ...fleet.accounts,
            {
              ...fleet.account('eks'),
              name: 'sandbox-dead',
              options: { ...fleet.account('eks').options, endpoint: `http://127.0.0.1:${await freePort()}` },
            },
          ],
          cloudProviderFactories,
        ),
      },
    ],
    { quiet: true },
  );
}, 240_000);

afterAll(async () => {
  await workers?.stop();
  await api?.close();
  await fleet?.stop();
}, 60_000);

const waitForRun = <P>(runId: string, timeoutMs = 120_000) => api.waitForRun<P>(runId, { timeoutMs });

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
      // The step ran in the site's namespace: its history holds the activity and its retry.
      const history = await siteStepHistory(api.temporal, site, started.body.runId, 'cloudCreateCluster');
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
    const secrets = [...fleet.secrets, 'k8s-aws-v1.', inCloud?.access?.token ?? ''];
    // Payloads decrypted and read as text, or a secret in them would go unseen.
    const history = await decodedHistoryText(api.temporal, started.body.runId);
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
    expect(discovered.result).toMatchObject({ unlisted: [{ account: 'sandbox-dead' }] });
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
    await api.waitForRun<CreateClusterProgress>(runId, {
      until: (r) =>
        r.progress?.steps.some((st) => st.step === 'wait-cluster' && st.state === 'running') === true,
      timeoutMs: 60_000,
    });
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
      clouds: createCloudAccounts([fleet.account('eks')], cloudProviderFactories),
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
