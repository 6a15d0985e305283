/**
 * The AKS adapter against the sandbox AKS: @azure/arm-containerservice over HTTPS (trusting the
 * sandbox's CA) to an ARM-speaking server backed by SandboxCloud with a ManualClock. The shared
 * conformance suite, then what is AKS's own: the ARM wire format (api-version, bearer token,
 * Azure-AsyncOperation, error bodies, nextLink paging), pools (System mode, spot, zones,
 * autoscaling), labels as tags, resumable operation tokens, the catalog and credentials.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { StaticTokenCredential, createAksProvider, type AksProvider } from '../../clouds/aks/adapter.ts';
import type { ClusterSpec, NodePoolSpec } from '../../clouds/ports.ts';
import { startAksSandbox, type AksSandbox } from '../../sandbox/clouds/aks.ts';
import { ManualClock, SandboxCloud } from '../../sandbox/clouds/core.ts';
import {
  createReady,
  describeConformance,
  untilDone,
  type ConformanceTarget,
  rejection,
} from './conformance.ts';

const SUBSCRIPTION = '6b1c2f3e-0000-4000-8000-00000000a1c5';
const RESOURCE_GROUP = 'drover-test';
const TOKEN = 'sandbox-bearer-token';
const LOCATION = 'eastus';
const API = 'api-version=2026-06-01';

const spec = (name: string): ClusterSpec => ({
  name,
  location: LOCATION,
  version: '1.33',
  labels: { team: 'platform', 'drover.io/owner': 'tests' },
  nodePools: [
    {
      name: 'system',
      machineType: 'Standard_D4s_v5',
      count: 3,
      autoscaling: null,
      labels: {},
      taints: [],
      spot: false,
      diskGb: 128,
      zones: ['eastus-1', 'eastus-2', 'eastus-3'],
      system: true,
    },
  ],
  extras: {},
});

const pool = (name: string): NodePoolSpec => ({
  name,
  machineType: 'Standard_E4s_v5',
  count: 2,
  autoscaling: { min: 1, max: 5 },
  labels: { workload: 'batch' },
  taints: [{ key: 'dedicated', value: 'batch', effect: 'NoSchedule' }],
  spot: false,
  diskGb: 64,
  zones: [],
});

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

let clock: ManualClock;
let cloud: SandboxCloud;
let sandbox: AksSandbox;
let provider: AksProvider;

/** A plain HTTPS request to the sandbox, for what the SDK hides (headers, status codes). */
const raw = (
  method: string,
  path: string,
  options: { query?: string; token?: string | null; body?: unknown } = {},
): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const query = options.query ?? API;
    const token = options.token === undefined ? TOKEN : options.token;
    const url = new URL(`${path}${query ? `?${query}` : ''}`, sandbox.url);
    const req = request(
      url,
      {
        method,
        ca: sandbox.ca,
        headers: {
          'content-type': 'application/json',
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
          });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body === undefined ? undefined : JSON.stringify(options.body));
  });

const clusterPath = (name: string, rg = RESOURCE_GROUP) =>
  `/subscriptions/${SUBSCRIPTION}/resourceGroups/${rg}/providers/Microsoft.ContainerService/managedClusters/${name}`;

const errorOf = (r: RawResponse) => r.body.error as { code: string; message: string };

const target = (): ConformanceTarget => ({
  provider,
  location: LOCATION,
  spec,
  pool,
  sandbox: cloud,
  advance: (ms) => clock.advance(ms),
});

const newProvider = (overrides: Partial<Parameters<typeof createAksProvider>[0]> = {}) =>
  createAksProvider({
    subscriptionId: SUBSCRIPTION,
    resourceGroup: RESOURCE_GROUP,
    endpoint: sandbox.url,
    ca: sandbox.ca,
    credential: new StaticTokenCredential(TOKEN),
    ...overrides,
  });

let n = 0;
const unique = (base: string) => `${base}-${Date.now().toString(36)}-${++n}`;

beforeAll(async () => {
  clock = new ManualClock();
  cloud = new SandboxCloud({ clock });
  sandbox = await startAksSandbox({ cloud, token: TOKEN, pageSize: 2 });
  provider = newProvider();
});

afterAll(async () => {
  await sandbox.stop();
});

describeConformance('aks (sandbox)', target);

describe('AKS sandbox wire format', () => {
  it('requires api-version and a bearer token, and answers in ARM error bodies', async () => {
    const noVersion = await raw('GET', clusterPath('anything'), { query: '' });
    expect(noVersion.status).toBe(400);
    expect(errorOf(noVersion).code).toBe('MissingApiVersionParameter');

    const noAuth = await raw('GET', clusterPath('anything'), { token: null });
    expect(noAuth.status).toBe(401);
    expect(errorOf(noAuth)).toMatchObject({
      code: 'AuthenticationFailed',
      message: expect.stringMatching(/Authorization/),
    });

    const missing = await raw('GET', clusterPath('anything'));
    expect(missing.status).toBe(404);
    expect(errorOf(missing).code).toBe('ResourceNotFound');

    const wrongToken = newProvider({ credential: new StaticTokenCredential('not-the-token') });
    expect((await rejection(wrongToken.describeCluster(LOCATION, 'anything'))).type).toBe('Unauthorized');
  });

  it('creates with 201 + Azure-AsyncOperation, polls an operation status resource, deletes with 202 + Location', async () => {
    const name = unique('wire');
    const body = {
      location: 'East US',
      tags: { env: 'test' },
      identity: { type: 'SystemAssigned' },
      properties: {
        kubernetesVersion: '1.32',
        dnsPrefix: name,
        agentPoolProfiles: [{ name: 'sys', vmSize: 'Standard_D2s_v5', count: 1, mode: 'System' }],
      },
    };
    const created = await raw('PUT', clusterPath(name), { body });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name,
      location: 'eastus',
      properties: { provisioningState: 'Creating' },
    });
    expect((created.body.properties as Record<string, unknown>).currentKubernetesVersion).toBe('1.32.6');
    const asyncOp = created.headers['azure-asyncoperation'];
    expect(asyncOp).toMatch(
      new RegExp(
        `^${sandbox.url}/subscriptions/${SUBSCRIPTION}/providers/Microsoft.ContainerService/locations/eastus/operations/[0-9a-f-]+\\?api-version=`,
      ),
    );
    const opPath = new URL(String(asyncOp));
    const poll = () => raw('GET', opPath.pathname, { query: opPath.search.slice(1) });
    expect((await poll()).body).toMatchObject({ status: 'InProgress' });
    clock.advance(10_000);
    expect((await poll()).body).toMatchObject({ status: 'Succeeded' });

    // A second PUT is an idempotent update (tags), not a second cluster.
    const again = await raw('PUT', clusterPath(name), { body: { ...body, tags: { env: 'prod' } } });
    expect(again.status).toBe(200);
    expect(again.body.tags).toEqual({ env: 'prod' });

    const deleted = await raw('DELETE', clusterPath(name));
    expect(deleted.status).toBe(202);
    expect(deleted.headers['azure-asyncoperation']).toMatch(/\/operations\//);
    expect(deleted.headers.location).toMatch(/\/operationresults\//);
    const result = new URL(String(deleted.headers.location));
    expect((await raw('GET', result.pathname, { query: result.search.slice(1) })).status).toBe(202);
    clock.advance(10_000);
    expect((await raw('GET', result.pathname, { query: result.search.slice(1) })).status).toBe(204);
    expect((await raw('DELETE', clusterPath(name))).status).toBe(204);
  });

  it('rejects a create without a System pool, bad pool names, unknown versions and tag names with a clear 400', async () => {
    const base = (profiles: unknown[], extra: Record<string, unknown> = {}) => ({
      location: LOCATION,
      properties: { dnsPrefix: 'x', agentPoolProfiles: profiles, ...extra },
    });
    const noSystem = await raw('PUT', clusterPath(unique('nosys')), {
      body: base([{ name: 'user1', vmSize: 'Standard_D2s_v5', count: 1, mode: 'User' }]),
    });
    expect(noSystem.status).toBe(400);
    expect(errorOf(noSystem).message).toMatch(/at least one agent pool with mode System/);

    const badName = await raw('PUT', clusterPath(unique('badname')), {
      body: base([{ name: 'System_Pool', vmSize: 'Standard_D2s_v5', count: 1, mode: 'System' }]),
    });
    expect(badName.status).toBe(400);
    expect(errorOf(badName)).toMatchObject({
      code: 'InvalidAgentPoolName',
      message: expect.stringContaining("'System_Pool'"),
    });

    const badVersion = await raw('PUT', clusterPath(unique('badver')), {
      body: base([{ name: 'sys', vmSize: 'Standard_D2s_v5', count: 1, mode: 'System' }], {
        kubernetesVersion: '1.20',
      }),
    });
    expect(badVersion.status).toBe(400);
    expect(errorOf(badVersion).code).toBe('AgentPoolK8sVersionNotSupported');

    const badTag = await raw('PUT', clusterPath(unique('badtag')), {
      body: {
        ...base([{ name: 'sys', vmSize: 'Standard_D2s_v5', count: 1, mode: 'System' }]),
        tags: { 'a/b': 'c' },
      },
    });
    expect(badTag.status).toBe(400);
    expect(errorOf(badTag).code).toBe('InvalidTagNameCharacters');

    // Through the adapter these are Invalid, with the server's message.
    const noCluster = await rejection(
      provider.createNodePool(LOCATION, unique('nocluster'), pool('waytoolongname'), {}),
    );
    expect(noCluster.type).toBe('NotFound');
    const name = unique('names');
    await createReady(target(), name);
    const invalidPool = await rejection(provider.createNodePool(LOCATION, name, pool('waytoolongname'), {}));
    expect(invalidPool.type).toBe('Invalid');
    expect(invalidPool.message).toMatch(/waytoolongname.*at most 12 characters/);
    const oldVersion = await rejection(provider.createCluster({ ...spec(unique('old')), version: '1.20' }));
    expect(oldVersion.type).toBe('Invalid');
    expect(oldVersion.message).toMatch(/Version 1.20 is not supported/);
  });

  it('pages lists with nextLink; the adapter follows every page', async () => {
    const group = `paging-${Date.now().toString(36)}`;
    const paged = newProvider({ resourceGroup: group });
    const names = [1, 2, 3, 4, 5].map((i) => unique(`page${i}`));
    for (const name of names) await paged.createCluster(spec(name));
    const first = await raw(
      'GET',
      `/subscriptions/${SUBSCRIPTION}/resourceGroups/${group}/providers/Microsoft.ContainerService/managedClusters`,
    );
    expect((first.body.value as unknown[]).length).toBe(2);
    expect(first.body.nextLink).toMatch(/\$skipToken=2/);
    expect((await paged.listClusters(LOCATION)).map((c) => c.name)).toEqual(names);
    expect(await paged.listClusters('westeurope')).toEqual([]);
    const bySubscription = await raw(
      'GET',
      `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.ContainerService/managedClusters`,
    );
    expect(bySubscription.body.nextLink).toBeDefined();
  });
});

describe('AKS adapter', () => {
  it('maps pools: the first non-spot pool becomes System, spot marks are hidden, zones and labels round-trip', async () => {
    const name = unique('mapping');
    const base = spec(name);
    const clusterSpec: ClusterSpec = {
      ...base,
      nodePools: [
        { ...pool('spot1'), spot: true, taints: [], labels: { kind: 'spot' }, autoscaling: null, count: 1 },
        { ...pool('main'), autoscaling: { min: 1, max: 3 }, count: 10, zones: ['eastus-1', '2'], taints: [] },
      ],
    };
    await untilDone(target(), await provider.createCluster(clusterSpec));
    const cluster = await provider.describeCluster(LOCATION, name);
    const spot = cluster?.nodePools.find((p) => p.name === 'spot1');
    const main = cluster?.nodePools.find((p) => p.name === 'main');
    expect(spot).toMatchObject({ spot: true, system: false, labels: { kind: 'spot' }, taints: [] });
    expect(main).toMatchObject({
      system: true,
      count: 3,
      autoscaling: { min: 1, max: 3 },
      zones: ['eastus-1', 'eastus-2'],
    });
    expect(cluster?.labels).toEqual(base.labels);

    const wire = await raw('GET', clusterPath(name));
    expect(wire.body.tags).toEqual({ team: 'platform', 'drover.io:owner': 'tests' });
    const profiles = (wire.body.properties as { agentPoolProfiles: Record<string, unknown>[] })
      .agentPoolProfiles;
    expect(profiles.find((p) => p.name === 'main')).toMatchObject({
      mode: 'System',
      availabilityZones: ['1', '2'],
    });
    expect(profiles.find((p) => p.name === 'spot1')).toMatchObject({
      mode: 'User',
      scaleSetPriority: 'Spot',
      nodeLabels: { kind: 'spot', 'kubernetes.azure.com/scalesetpriority': 'spot' },
      nodeTaints: ['kubernetes.azure.com/scalesetpriority=spot:NoSchedule'],
    });
  });

  it('rejects zones of another region before calling AKS, and spot System pools as AKS does', async () => {
    const before = cloud.calls.get('createCluster') ?? 0;
    const zones = await rejection(
      provider.createCluster({
        ...spec(unique('zones')),
        nodePools: [{ ...spec('x').nodePools[0]!, zones: ['westeurope-1'] }],
      }),
    );
    expect(zones).toMatchObject({ type: 'Invalid', field: 'nodePools[0].zones[0]' });
    expect(cloud.calls.get('createCluster') ?? 0).toBe(before);

    const spotSystem = await rejection(
      provider.createCluster({
        ...spec(unique('spotsys')),
        nodePools: [{ ...spec('x').nodePools[0]!, spot: true }],
      }),
    );
    expect(spotSystem.type).toBe('Invalid');
    expect(spotSystem.message).toMatch(/Spot/);
  });

  it('refuses a resource group other than its own: it could never find, poll or delete that cluster', async () => {
    const before = cloud.calls.get('createCluster') ?? 0;
    const name = unique('rg');
    const other = await rejection(
      provider.createCluster({ ...spec(name), extras: { aks: { resourceGroup: 'elsewhere' } } }),
    );
    expect(other).toMatchObject({ type: 'Invalid', field: 'extras.aks.resourceGroup' });
    const pool = await rejection(
      provider.createNodePool(LOCATION, name, spec(name).nodePools[0]!, {
        aks: { resourceGroup: 'elsewhere' },
      }),
    );
    expect(pool).toMatchObject({ type: 'Invalid', field: 'extras.aks.resourceGroup' });
    expect(cloud.calls.get('createCluster') ?? 0).toBe(before);
    expect(cloud.all().filter((c) => c.name === name)).toEqual([]);
  });

  it('serializes operations into tokens another adapter resumes, without the credential', async () => {
    const name = unique('resume');
    const op = await provider.createCluster(spec(name));
    expect(op.done).toBe(false);
    expect(op.token).not.toContain(TOKEN);
    expect(JSON.parse(op.token)).toMatchObject({ state: { status: 'running' } });
    const other = newProvider();
    clock.advance(10_000);
    const done = await other.getOperation(op);
    expect(done).toMatchObject({ done: true, error: null, token: '' });

    const forged = { ...op, token: op.token.replaceAll(sandbox.url, 'https://attacker.example') };
    expect((await rejection(provider.getOperation(forged))).type).toBe('BadInput');
  });

  it('surfaces throttling of a poll as Throttled with Retry-After, and polls once per call', async () => {
    const name = unique('throttle');
    const op = await provider.createCluster(spec(name));
    cloud.inject({ op: 'getOperation', kind: 'throttle', retryAfterSeconds: 3 });
    const before = cloud.calls.get('getOperation') ?? 0;
    const throttled = await rejection(provider.getOperation(op));
    expect(throttled).toMatchObject({
      type: 'Throttled',
      details: expect.objectContaining({ retryAfterMs: 3000 }),
    });
    expect(cloud.calls.get('getOperation')).toBe(before + 1); // no SDK retry
    const still = await provider.getOperation(op);
    expect(still.done).toBe(false);
    expect(cloud.calls.get('getOperation')).toBe(before + 2);
  });

  it('refuses to delete a cluster that is still being created, and the last System pool', async () => {
    const name = unique('busy');
    await provider.createCluster(spec(name));
    expect((await rejection(provider.deleteCluster(LOCATION, name))).type).toBe('Conflict');
    clock.advance(10_000);
    const lastSystem = await rejection(provider.deleteNodePool(LOCATION, name, 'system'));
    expect(lastSystem.type).toBe('Invalid');
    expect(lastSystem.message).toMatch(/last System agent pool/);
    expect((await rejection(provider.createNodePool(LOCATION, name, { ...pool('system') }, {}))).type).toBe(
      'Conflict',
    );
  });

  it('lists GA versions from the API, newest first, and curated regions and machine types', async () => {
    const catalog = await provider.catalog(LOCATION);
    expect(catalog.versions).toEqual(['1.33', '1.32', '1.31']); // 1.34 is preview, 1.30 LTS-only
    expect(catalog.defaultVersion).toBe('1.32');
    expect(catalog.regions).toContainEqual({ name: 'eastus', zones: ['eastus-1', 'eastus-2', 'eastus-3'] });
    expect(catalog.regions).toContainEqual({ name: 'westus', zones: [] });
    expect(catalog.machineTypes.some((m) => m.arch === 'arm64')).toBe(true);
    expect(catalog.machineTypes.some((m) => m.name === 'Standard_ND96asr_v4')).toBe(true);
    const westus = await provider.catalog('westus');
    expect(westus.machineTypes.some((m) => m.family === 'gpu')).toBe(false);
  });

  it('reads credentials from the kubeconfig: server, CA and token', async () => {
    const name = unique('creds');
    const cluster = await createReady(target(), name);
    expect(cluster.endpoint).toMatch(/^https:\/\/.+\.hcp\.eastus\.azmk8s\.io:443$/);
    const access = await provider.access(LOCATION, name);
    expect(access.server).toBe(cluster.endpoint);
    expect(access.caData).toBe(sandbox.ca);
    expect(access.token).toMatch(/^[0-9a-f]{64}$/);
    expect(Date.parse(access.expiresAt) - Date.now()).toBeGreaterThan(50 * 60 * 1000);
    expect((await rejection(provider.access(LOCATION, unique('absent')))).type).toBe('NotFound');
  });

  it('gives a backed cluster the backing API server as endpoint and credentials', async () => {
    const backed = new SandboxCloud({
      clock,
      backing: {
        provision: async () => ({
          server: 'https://127.0.0.1:6443',
          caData: sandbox.ca,
          token: 'backing-token-123',
        }),
        release: async () => {},
      },
    });
    const server = await startAksSandbox({ cloud: backed });
    try {
      const p = newProvider({ endpoint: server.url, ca: server.ca });
      const name = unique('backed');
      const ready = await createReady({ ...target(), provider: p, sandbox: backed }, name);
      expect(ready.endpoint).toBe('https://127.0.0.1:6443');
      expect(await p.access(LOCATION, name)).toMatchObject({
        server: 'https://127.0.0.1:6443',
        caData: sandbox.ca,
        token: 'backing-token-123',
      });
    } finally {
      await server.stop();
    }
  });

  it('reports an unreachable endpoint as Unavailable', async () => {
    const down = newProvider({ endpoint: 'https://127.0.0.1:1' });
    expect((await rejection(down.describeCluster(LOCATION, 'x'))).type).toBe('Unavailable');
  });
});

describe('AKS adapter with Azure AD clusters', () => {
  it('trades the kubelogin config for a token from its own credential, for the AKS AAD server audience', async () => {
    const name = unique('aad');
    const created = await raw('PUT', clusterPath(name), {
      body: {
        location: LOCATION,
        properties: {
          dnsPrefix: name,
          aadProfile: { managed: true, tenantID: '72f988bf-0000-0000-0000-000000000000' },
          agentPoolProfiles: [{ name: 'sys', vmSize: 'Standard_D2s_v5', count: 1, mode: 'System' }],
        },
      },
    });
    expect(created.status).toBe(201);
    clock.advance(10_000);
    const scopes: string[] = [];
    const base = new StaticTokenCredential(TOKEN);
    const recording = {
      getToken: async (scope: string | string[]) => {
        scopes.push(...[scope].flat());
        return base.getToken();
      },
    };
    const p = newProvider({ credential: recording });
    const access = await p.access(LOCATION, name);
    expect(access.token).toBe(TOKEN);
    expect(scopes).toContain('6dae42f8-4368-4678-94ff-3960e28e3630/.default');
    expect(access.server).toMatch(/azmk8s\.io:443$/);
  });
});
