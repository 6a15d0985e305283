/**
 * The GKE adapter against the GKE sandbox: the official ClusterManagerClient over gRPC with TLS
 * (the sandbox CA) and a bearer token, the shared conformance suite, and GKE's own details:
 * per-zone node counts, zonal vs regional clusters, gRPC status codes with their
 * google.rpc.Status details, no client-side retries, operations by full name.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import container from '@google-cloud/container';
import * as grpc from '@grpc/grpc-js';
import { GoogleAuth, OAuth2Client } from 'google-auth-library';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGkeProvider, gkeError, type GkeProvider } from '../../clouds/gke/adapter.ts';
import { perZoneCount, zoneCount } from '../../clouds/gke/catalog.ts';
import type { ClusterSpec, NodePoolSpec } from '../../clouds/ports.ts';
import { ManualClock, SandboxCloud } from '../../sandbox/clouds/core.ts';
import { GKE_SERVER_CONFIG, startGkeSandbox, type GkeSandbox } from '../../sandbox/clouds/gke.ts';
import { describeConformance, untilDone, type ConformanceTarget, rejection } from './conformance.ts';

const PROJECT = 'drover-sandbox';
const TOKEN = 'ya29.sandbox-access-token';
const REGION = 'us-central1';
const BACKING_CA = '-----BEGIN CERTIFICATE-----\nYmFja2luZw==\n-----END CERTIFICATE-----\n';

let dir: string;
let clock: ManualClock;
let cloud: SandboxCloud;
let sandbox: GkeSandbox;
let provider: GkeProvider;
const extra: GkeProvider[] = [];

const adapter = (options: { project?: string; token?: string } = {}) => {
  const p = createGkeProvider({
    project: options.project ?? PROJECT,
    endpoint: sandbox.host,
    port: sandbox.port,
    ca: sandbox.ca,
    credentials: { accessToken: options.token ?? TOKEN },
  });
  extra.push(p);
  return p;
};

const pool = (name: string, overrides: Partial<NodePoolSpec> = {}): NodePoolSpec => ({
  name,
  machineType: 'n2-standard-8',
  count: 2,
  autoscaling: null,
  labels: { workload: 'batch' },
  taints: [{ key: 'dedicated', value: 'batch', effect: 'NoSchedule' }],
  spot: true,
  diskGb: 200,
  zones: ['us-central1-a', 'us-central1-b'],
  ...overrides,
});

const spec = (name: string, location = REGION, pools?: NodePoolSpec[]): ClusterSpec => ({
  name,
  location,
  version: '1.33',
  labels: { team: 'platform', env: 'test' },
  nodePools: pools ?? [
    {
      name: 'default',
      machineType: 'e2-standard-4',
      count: 3,
      autoscaling: { min: 3, max: 6 },
      labels: { role: 'general' },
      taints: [],
      spot: false,
      diskGb: 100,
      zones: [],
    },
  ],
  extras: {},
});

const target = (): ConformanceTarget => ({
  provider,
  location: REGION,
  spec: (name) => spec(name),
  pool: (name) => pool(name),
  sandbox: cloud,
  advance: (ms) => clock.advance(ms),
});

/** Raw SDK clients bring their own channel credentials; this keeps gax from probing for ADC. */
const noAdc = () => new GoogleAuth({ authClient: new OAuth2Client() });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-gke-'));
  clock = new ManualClock();
  cloud = new SandboxCloud({ clock });
  sandbox = await startGkeSandbox({ cloud, certDir: dir, projects: [PROJECT], tokens: [TOKEN] });
  provider = adapter();
});

afterEach(() => cloud.clearFaults());

afterAll(async () => {
  await Promise.all(extra.map((p) => p.close()));
  await sandbox.stop();
  await rm(dir, { recursive: true, force: true });
});

describeConformance('GKE (sandbox)', target);

describe('GKE adapter and sandbox', () => {
  let n = 0;
  const unique = (base: string) => `${base}-${++n}`;

  it('converts total node counts to per-zone counts, rounding up', () => {
    expect(perZoneCount(6, 3)).toEqual({ perZone: 2, total: 6, exact: true });
    expect(perZoneCount(5, 3)).toEqual({ perZone: 2, total: 6, exact: false });
    expect(perZoneCount(1, 3)).toEqual({ perZone: 1, total: 3, exact: false });
    expect(perZoneCount(4, 1)).toEqual({ perZone: 4, total: 4, exact: true });
    expect(zoneCount('us-central1-a', [])).toBe(1);
    expect(zoneCount('us-central1', [])).toBe(3);
    expect(zoneCount('us-central1', [], ['us-central1-a', 'us-central1-f'])).toBe(2);
    expect(zoneCount('us-central1', ['us-central1-a'])).toBe(1);
  });

  it('sends GKE shapes: per-zone counts, resourceLabels, node config labels, taints, spot, disk', async () => {
    const name = unique('shapes');
    const op = await provider.createCluster(
      spec(name, REGION, [
        {
          name: 'main',
          machineType: 'e2-standard-4',
          count: 5,
          autoscaling: { min: 2, max: 7 },
          labels: { role: 'main' },
          taints: [{ key: 'gpu', value: 'true', effect: 'NoExecute' }],
          spot: true,
          diskGb: 64,
          zones: [],
        },
      ]),
    );
    await untilDone(target(), op);
    const stored = cloud.find(REGION, name);
    expect(stored?.spec).toMatchObject({
      project: PROJECT,
      resourceLabels: { team: 'platform', env: 'test' },
    });
    // Regional, no zones given: GKE's three default zones; 5 nodes → 2 per zone.
    expect(stored?.nodePools.get('main')?.spec).toMatchObject({
      initialNodeCount: 2,
      locations: ['us-central1-a', 'us-central1-b', 'us-central1-c'],
      autoscaling: { enabled: true, minNodeCount: 1, maxNodeCount: 3 },
      config: {
        machineType: 'e2-standard-4',
        diskSizeGb: 64,
        labels: { role: 'main' },
        taints: [{ key: 'gpu', value: 'true', effect: 'NO_EXECUTE' }],
        spot: true,
      },
    });
    const cluster = await provider.describeCluster(REGION, name);
    expect(cluster?.version).toBe('1.33.5-gke.1308000');
    expect(cluster?.providerId).toBe(
      `https://container.googleapis.com/v1/projects/${PROJECT}/locations/${REGION}/clusters/${name}`,
    );
    expect(cluster?.nodePools[0]).toMatchObject({
      count: 6,
      autoscaling: { min: 3, max: 9 },
      zones: ['us-central1-a', 'us-central1-b', 'us-central1-c'],
      taints: [{ key: 'gpu', value: 'true', effect: 'NoExecute' }],
      spot: true,
      diskGb: 64,
      status: 'ready',
    });
    await untilDone(target(), await provider.deleteCluster(REGION, name));
  });

  it('creates zonal clusters in a zone, and pools without zones span the cluster’s zones', async () => {
    const zone = 'europe-west1-c';
    const name = unique('zonal');
    await untilDone(
      target(),
      await provider.createCluster(spec(name, zone, [pool('main', { zones: [], count: 4 })])),
    );
    const cluster = await provider.describeCluster(zone, name);
    expect(cluster).toMatchObject({ location: zone, status: 'ready' });
    expect(cluster?.nodePools[0]).toMatchObject({ count: 4, zones: [zone] });
    expect(cloud.find(zone, name)?.nodePools.get('main')?.spec).toMatchObject({ initialNodeCount: 4 });
    expect((await provider.listClusters(zone)).map((c) => c.name)).toEqual([name]);
    expect((await provider.listClusters()).map((c) => c.name)).toContain(name);
    expect((await provider.listClusters('asia-northeast1')).map((c) => c.name)).not.toContain(name);

    const poolOp = await provider.createNodePool(zone, name, pool('more', { zones: [], count: 3 }), {});
    await untilDone(target(), poolOp);
    expect(cloud.find(zone, name)?.nodePools.get('more')?.spec).toMatchObject({
      initialNodeCount: 3,
      locations: [zone],
    });
    await untilDone(target(), await provider.deleteCluster(zone, name));
  });

  it('names operations in full and polls them with GetOperation', async () => {
    const name = unique('ops');
    const op = await provider.createCluster(spec(name));
    expect(op.token).toMatch(
      new RegExp(`^projects/${PROJECT}/locations/${REGION}/operations/operation-\\d+-[0-9a-f]+$`),
    );
    expect(op.done).toBe(false);
    const before = cloud.calls.get('getOperation') ?? 0;
    const polled = await provider.getOperation(op);
    expect(polled).toMatchObject({ token: op.token, done: false, kind: 'create-cluster', cluster: name });
    expect(cloud.calls.get('getOperation')).toBe(before + 1);

    // The raw SDK sees a GKE Operation: its type, status and links.
    const raw = new container.v1.ClusterManagerClient({
      auth: noAdc(),
      apiEndpoint: sandbox.host,
      port: sandbox.port,
      sslCreds: grpc.credentials.combineChannelCredentials(
        grpc.credentials.createSsl(Buffer.from(sandbox.ca)),
        grpc.credentials.createFromMetadataGenerator((_params, cb) => {
          const md = new grpc.Metadata();
          md.set('authorization', `Bearer ${TOKEN}`);
          cb(null, md);
        }),
      ),
    });
    try {
      const [wire] = await raw.getOperation({ name: op.token }, { retry: null });
      expect(wire).toMatchObject({
        operationType: 'CREATE_CLUSTER',
        status: 'RUNNING',
        targetLink: `https://container.googleapis.com/v1/projects/${PROJECT}/locations/${REGION}/clusters/${name}`,
      });
      const [ops] = await raw.listOperations(
        { parent: `projects/${PROJECT}/locations/${REGION}` },
        { retry: null },
      );
      expect(ops.operations?.map((o) => o.name)).toContain(wire.name);
      const [config] = await raw.getServerConfig(
        { name: `projects/${PROJECT}/locations/${REGION}` },
        { retry: null },
      );
      expect(config.validMasterVersions).toEqual(GKE_SERVER_CONFIG.validMasterVersions);
      expect(config.channels?.map((c) => c.channel)).toEqual(['RAPID', 'REGULAR', 'STABLE']);
    } finally {
      await raw.close();
    }
    await untilDone(target(), op);
    await untilDone(target(), await provider.deleteCluster(REGION, name));
  });

  it('reports a busy cluster as Conflict (FAILED_PRECONDITION) and follows a deletion under way', async () => {
    const name = unique('busy');
    const create = await provider.createCluster(spec(name));
    const busy = await rejection(provider.deleteCluster(REGION, name));
    expect(busy.type).toBe('Conflict');
    expect(busy.details).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'busy' });
    await untilDone(target(), create);

    const first = await provider.deleteCluster(REGION, name);
    const second = await provider.deleteCluster(REGION, name);
    expect(second).toMatchObject({ token: first.token, done: false, kind: 'delete-cluster' });
    await untilDone(target(), second);
    expect(await provider.describeCluster(REGION, name)).toBeNull();
    // A pool that is gone is gone: deleting it again is a done operation.
    expect(await provider.deleteNodePool(REGION, name, 'default')).toMatchObject({ done: true, error: null });
  });

  it('rejects what GKE rejects as Invalid: versions, names, labels, zones, other projects', async () => {
    const bad = [
      { ...spec(unique('version')), version: '1.20' },
      spec('Not_A_Valid_Name'),
      { ...spec(unique('labels')), labels: { 'app.kubernetes.io/name': 'x' } },
      spec(unique('zones'), REGION, [pool('p', { zones: ['europe-west1-b'] })]),
    ];
    for (const s of bad) {
      const err = await rejection(provider.createCluster(s));
      expect(err.type).toBe('Invalid');
      expect(err.details?.code).toBe('INVALID_ARGUMENT');
    }
    const other = await rejection(
      provider.createCluster({ ...spec(unique('project')), extras: { gke: { project: 'someone-else' } } }),
    );
    expect(other).toMatchObject({ type: 'Invalid', field: 'extras.gke.project' });
    expect(cloud.list().filter((c) => /^(version|labels|zones|project)-/.test(c.name))).toEqual([]);
  });

  it('reads the throttling delay from google.rpc.RetryInfo and never retries by itself', async () => {
    cloud.inject({ op: 'createCluster', kind: 'throttle', retryAfterSeconds: 30 });
    const before = cloud.calls.get('createCluster') ?? 0;
    const throttled = await rejection(provider.createCluster(spec(unique('throttled'))));
    expect(throttled).toMatchObject({
      type: 'Throttled',
      details: { code: 'RESOURCE_EXHAUSTED', retryAfterMs: 30_000 },
    });
    expect(cloud.calls.get('createCluster')).toBe(before + 1);

    // UNAVAILABLE is what google-gax retries on idempotent calls unless told not to.
    cloud.inject({ op: 'listClusters', kind: 'internal', times: 3 });
    const listsBefore = cloud.calls.get('listClusters') ?? 0;
    const unavailable = await rejection(provider.listClusters(REGION));
    expect(unavailable).toMatchObject({ type: 'Unavailable', details: { code: 'UNAVAILABLE' } });
    expect(cloud.calls.get('listClusters')).toBe(listsBefore + 1);
  });

  it('checks credentials: a missing or unknown token is Unauthorized, another project is Forbidden', async () => {
    const wrongToken = await rejection(adapter({ token: 'ya29.someone-elses' }).listClusters(REGION));
    expect(wrongToken).toMatchObject({ type: 'Unauthorized', details: { code: 'UNAUTHENTICATED' } });
    const otherProject = await rejection(adapter({ project: 'not-mine' }).listClusters(REGION));
    expect(otherProject).toMatchObject({ type: 'Forbidden', details: { code: 'PERMISSION_DENIED' } });

    const anonymous = new container.v1.ClusterManagerClient({
      auth: noAdc(),
      apiEndpoint: sandbox.host,
      port: sandbox.port,
      sslCreds: grpc.credentials.createSsl(Buffer.from(sandbox.ca)),
    });
    try {
      await expect(
        anonymous.listClusters({ parent: `projects/${PROJECT}/locations/-` }, { retry: null }),
      ).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, reason: 'CREDENTIALS_MISSING' });
    } finally {
      await anonymous.close();
    }
  });

  it('gives access with the cluster CA and the caller’s own access token', async () => {
    const name = unique('access');
    const create = await provider.createCluster(spec(name));
    await expect(provider.access(REGION, name)).rejects.toMatchObject({ type: 'InvalidState' });
    await untilDone(target(), create);
    const access = await provider.access(REGION, name);
    expect(access.token).toBe(TOKEN);
    expect(access.server).toMatch(/^https:\/\/127\.0\.1\.\d+$/);
    expect(access.caData).toBe(sandbox.ca);
    await untilDone(target(), await provider.deleteCluster(REGION, name));
    await expect(provider.access(REGION, name)).rejects.toMatchObject({ type: 'NotFound' });
  });

  it('gives a backed cluster the backing API server as endpoint and its CA', async () => {
    const backedCloud = new SandboxCloud({
      clock,
      backing: {
        provision: async () => ({
          server: 'https://127.0.0.1:6443',
          caData: BACKING_CA,
          token: 'backing-token',
        }),
        release: async () => undefined,
      },
    });
    const backed = await startGkeSandbox({ cloud: backedCloud, certDir: dir, tokens: [TOKEN] });
    // The endpoint may also be given as host:port.
    const p = createGkeProvider({
      project: PROJECT,
      endpoint: backed.endpoint,
      ca: backed.ca,
      credentials: { accessToken: TOKEN },
    });
    try {
      const name = unique('backed');
      const op = await p.createCluster(spec(name));
      for (let i = 0; i < 10 && !(await p.getOperation(op)).done; i++) clock.advance(5_000);
      expect((await p.describeCluster(REGION, name))?.endpoint).toBe('https://127.0.0.1:6443');
      expect(await p.access(REGION, name)).toMatchObject({
        server: 'https://127.0.0.1:6443',
        caData: BACKING_CA,
        token: TOKEN,
      });
    } finally {
      await p.close();
      await backed.stop();
      await backedCloud.reset();
    }
  });

  it('serves the catalog: GKE versions from GetServerConfig, machine types sold in the region', async () => {
    const catalog = await provider.catalog('us-east1-b');
    expect(catalog.versions).toEqual(GKE_SERVER_CONFIG.validMasterVersions);
    expect(catalog.defaultVersion).toBe(GKE_SERVER_CONFIG.defaultClusterVersion);
    const names = catalog.machineTypes.map((m) => m.name);
    expect(names).toContain('c4a-standard-4');
    expect(names).not.toContain('t2a-standard-4');
    expect(catalog.regions.find((r) => r.name === 'us-east1')?.zones).toEqual([
      'us-east1-b',
      'us-east1-c',
      'us-east1-d',
    ]);
    expect((await provider.catalog()).machineTypes.map((m) => m.name)).toContain('t2a-standard-4');
  });

  it('classifies raw gRPC failures', () => {
    const cases: [number, string, unknown, string][] = [
      [grpc.status.INTERNAL, 'boom', undefined, 'Unavailable'],
      [grpc.status.DEADLINE_EXCEEDED, 'slow', undefined, 'Unavailable'],
      [
        grpc.status.RESOURCE_EXHAUSTED,
        'rate',
        [{ retryDelay: { seconds: '2', nanos: 500_000_000 } }],
        'Throttled',
      ],
      [grpc.status.RESOURCE_EXHAUSTED, 'quota', [{ violations: [] }], 'Conflict'],
      [grpc.status.ALREADY_EXISTS, 'exists', undefined, 'Conflict'],
    ];
    for (const [code, details, statusDetails, type] of cases) {
      const err = gkeError(Object.assign(new Error(details), { code, details, statusDetails }), 'call');
      expect(err.type).toBe(type);
    }
    const throttled = gkeError(
      Object.assign(new Error('x'), {
        code: 8,
        statusDetails: [{ retryDelay: { seconds: '2', nanos: 500_000_000 } }],
      }),
      'call',
    );
    expect(throttled.details?.retryAfterMs).toBe(2_500);
    expect(gkeError(new Error('Could not load the default credentials.'), 'call').type).toBe('Unauthorized');
  });
});
