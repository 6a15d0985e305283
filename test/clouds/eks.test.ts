/**
 * The EKS adapter against the sandbox EKS (with a ManualClock and fault injection) and against
 * moto (a third-party EKS implementation, from PyPI), both through @aws-sdk/client-eks over a
 * real socket; plus what is EKS's own: the wire format of errors, paging, node-group mapping,
 * spec validation and the shape and signature of the cluster bearer token.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  CreateClusterCommand,
  DescribeClusterVersionsCommand,
  EKSClient,
  paginateListClusters,
} from '@aws-sdk/client-eks';
import { EksProvider } from '../../clouds/eks/adapter.ts';
import type { ClusterSpec, NodePoolSpec, ProviderExtras } from '../../clouds/ports.ts';
import { ManualClock, SandboxCloud } from '../../sandbox/clouds/core.ts';
import { startEksSandbox } from '../../sandbox/clouds/eks.ts';
import type { EksSandbox } from '../../sandbox/clouds/eks.ts';
import { createReady, describeConformance, untilDone, rejection } from './conformance.ts';
import type { ConformanceTarget } from './conformance.ts';

const REGION = 'us-east-1';
const credentials = {
  accessKeyId: 'AKIDSANDBOXEXAMPLE',
  secretAccessKey: 'sandbox/secret/key/not/a/real/one',
};
const extras: ProviderExtras = {
  eks: {
    roleArn: 'arn:aws:iam::123456789012:role/drover-cluster',
    subnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
    nodeRoleArn: 'arn:aws:iam::123456789012:role/drover-nodes',
  },
};

const pool = (name: string): NodePoolSpec => ({
  name,
  machineType: 'm7i.large',
  count: 2,
  autoscaling: { min: 1, max: 4 },
  labels: { 'drover.io/pool': name },
  taints: [
    { key: 'dedicated', value: 'ci', effect: 'NoSchedule' },
    { key: 'spot', value: 'true', effect: 'PreferNoSchedule' },
  ],
  spot: false,
  diskGb: 50,
  zones: [],
});

const spec = (name: string): ClusterSpec => ({
  name,
  location: REGION,
  version: '1.33',
  labels: { team: 'platform', 'drover.io/env': 'test' },
  nodePools: [pool('default')],
  extras,
});

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });

/** A request the sandbox accepts as SigV4 (it checks the header's scope, not the signature). */
const fakeAuth = (region = REGION, service = 'eks') =>
  `AWS4-HMAC-SHA256 Credential=AKIDSANDBOXEXAMPLE/20260101/${region}/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`;

// --- the sandbox ---------------------------------------------------------------------------------

describe('EKS adapter on the sandbox EKS', () => {
  const clock = new ManualClock();
  const cloud = new SandboxCloud({ clock });
  let sandbox: EksSandbox;
  let provider: EksProvider;
  let sdk: EKSClient;

  beforeAll(async () => {
    sandbox = await startEksSandbox({ cloud, region: REGION });
    provider = new EksProvider({ region: REGION, endpoint: sandbox.url, credentials, pageSize: 2 });
    sdk = new EKSClient({ region: REGION, endpoint: sandbox.url, credentials, maxAttempts: 1 });
  });
  afterAll(async () => {
    provider.destroy();
    sdk.destroy();
    await sandbox.stop();
    await cloud.reset();
  });

  const target = (): ConformanceTarget => ({
    provider,
    location: REGION,
    spec,
    pool,
    sandbox: cloud,
    advance: (ms) => clock.advance(ms),
  });

  describeConformance('eks (sandbox)', target);

  describe('wire', () => {
    it('renders errors as EKS does: status, x-amzn-ErrorType, JSON message', async () => {
      const res = await fetch(`${sandbox.url}/clusters/nope`, { headers: { authorization: fakeAuth() } });
      expect(res.status).toBe(404);
      expect(res.headers.get('x-amzn-errortype')).toBe('ResourceNotFoundException');
      expect(await res.json()).toEqual({ clusterName: 'nope', message: 'No cluster found for name: nope.' });

      cloud.inject({ op: 'listClusters', kind: 'throttle', retryAfterSeconds: 3 });
      const throttled = await fetch(`${sandbox.url}/clusters`, { headers: { authorization: fakeAuth() } });
      expect(throttled.status).toBe(429);
      expect(throttled.headers.get('x-amzn-errortype')).toBe('ThrottlingException');
      expect(throttled.headers.get('retry-after')).toBe('3');

      cloud.inject({ op: 'listClusters', kind: 'internal' });
      const internal = await fetch(`${sandbox.url}/clusters`, { headers: { authorization: fakeAuth() } });
      expect(internal.status).toBe(500);
      expect(internal.headers.get('x-amzn-errortype')).toBe('ServerException');
    });

    it('refuses unsigned requests and requests signed for another region', async () => {
      const unsigned = await fetch(`${sandbox.url}/clusters`);
      expect(unsigned.status).toBe(403);
      expect(unsigned.headers.get('x-amzn-errortype')).toBe('UnrecognizedClientException');
      const elsewhere = await fetch(`${sandbox.url}/clusters`, {
        headers: { authorization: fakeAuth('eu-west-1') },
      });
      expect(elsewhere.status).toBe(403);
      expect(elsewhere.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException');

      const lost = new EksProvider({ region: 'eu-west-1', endpoint: sandbox.url, credentials });
      try {
        const err = await rejection(lost.listClusters());
        expect(err.type).toBe('Unauthorized');
      } finally {
        lost.destroy();
      }
    });

    it('is retried by nobody but Temporal: one request per call, even on 5xx and throttling', async () => {
      cloud.calls.clear();
      cloud.inject({ op: 'describeCluster', kind: 'internal' });
      expect((await rejection(provider.describeCluster(REGION, 'any'))).type).toBe('Unavailable');
      cloud.inject({ op: 'describeCluster', kind: 'throttle', retryAfterSeconds: 1 });
      const throttled = await rejection(provider.describeCluster(REGION, 'any'));
      expect(throttled.type).toBe('Throttled');
      expect(throttled.details?.retryAfterMs).toBe(1_000);
      expect(cloud.calls.get('describeCluster')).toBe(2);
    });

    it('pages ListClusters with maxResults and nextToken; the adapter follows every page', async () => {
      const names = ['page-a', 'page-b', 'page-c', 'page-d', 'page-e'];
      for (const n of names) await provider.createCluster(spec(n));
      const pages: string[][] = [];
      for await (const p of paginateListClusters({ client: sdk, pageSize: 2 }, {}))
        pages.push(p.clusters ?? []);
      expect(pages.flat().filter((n) => n.startsWith('page-'))).toEqual(names);
      expect(pages.every((p) => p.length <= 2)).toBe(true);

      // The adapter's page size is 2 here: five clusters take three pages.
      cloud.calls.clear();
      const listed = await provider.listClusters(REGION);
      expect(listed.map((c) => c.name).filter((n) => n.startsWith('page-'))).toEqual(names);
      expect(cloud.calls.get('listClusters')).toBeGreaterThanOrEqual(3);

      const bad = await fetch(`${sandbox.url}/clusters?maxResults=0`, {
        headers: { authorization: fakeAuth() },
      });
      expect(bad.status).toBe(400);
      expect(bad.headers.get('x-amzn-errortype')).toBe('InvalidParameterException');
      const badToken = await fetch(`${sandbox.url}/clusters?nextToken=garbage`, {
        headers: { authorization: fakeAuth() },
      });
      expect(badToken.status).toBe(400);

      clock.advance(5_000);
      for (const n of names) await untilDone(target(), await provider.deleteCluster(REGION, n));
    });

    it('honours the idempotency token of a retried CreateCluster, and only that one', async () => {
      const input = {
        name: 'idem',
        roleArn: extras.eks?.roleArn,
        resourcesVpcConfig: { subnetIds: extras.eks?.subnetIds },
        clientRequestToken: 'token-1',
      };
      const first = await sdk.send(new CreateClusterCommand(input));
      const retry = await sdk.send(new CreateClusterCommand(input));
      expect(retry.cluster?.arn).toBe(first.cluster?.arn);
      await expect(
        sdk.send(new CreateClusterCommand({ ...input, clientRequestToken: 'token-2' })),
      ).rejects.toMatchObject({
        name: 'ResourceInUseException',
        $metadata: { httpStatusCode: 409 },
      });
      expect(first.cluster?.createdAt).toBeInstanceOf(Date);
      expect(first.cluster?.version).toBe('1.33'); // the default: newest-but-one at the clock's date
      clock.advance(5_000);
      await untilDone(target(), await provider.deleteCluster(REGION, 'idem'));
    });

    it('rejects bad specs on the server as InvalidParameterException', async () => {
      const base = {
        name: 'bad-spec',
        roleArn: extras.eks?.roleArn,
        resourcesVpcConfig: { subnetIds: extras.eks?.subnetIds },
      };
      const cases = [
        { ...base, resourcesVpcConfig: { subnetIds: ['subnet-1'] } },
        { ...base, roleArn: 'not-an-arn' },
        { ...base, version: '1.20' },
        { ...base, version: '1.28' }, // out of extended support at the clock's date
        { ...base, name: '-starts-with-dash' },
      ];
      for (const input of cases) {
        await expect(sdk.send(new CreateClusterCommand(input))).rejects.toMatchObject({
          name: 'InvalidParameterException',
          $metadata: { httpStatusCode: 400 },
        });
      }
      expect(cloud.find(REGION, 'bad-spec')).toBeUndefined();
      const viaAdapter = await rejection(provider.createCluster({ ...spec('bad-spec'), version: '1.20' }));
      expect(viaAdapter.type).toBe('Invalid');
      expect(viaAdapter.message).toContain('1.20');
    });
  });

  describe('adapter', () => {
    it('names the missing EKS extra before calling EKS', async () => {
      cloud.calls.clear();
      const cases: [ProviderExtras, string][] = [
        [{}, 'extras.eks'],
        [{ eks: { ...extras.eks!, roleArn: '' } }, 'extras.eks.roleArn'],
        [{ eks: { ...extras.eks!, subnetIds: ['subnet-1'] } }, 'extras.eks.subnetIds'],
        [{ eks: { ...extras.eks!, nodeRoleArn: '' } }, 'extras.eks.nodeRoleArn'],
      ];
      for (const [bad, field] of cases) {
        const err = await rejection(provider.createCluster({ ...spec('no-extras'), extras: bad }));
        expect(err.type).toBe('Invalid');
        expect(err.field).toBe(field);
      }
      const poolErr = await rejection(
        provider.createNodePool(REGION, 'whatever', pool('p'), { eks: { ...extras.eks!, nodeRoleArn: '' } }),
      );
      expect(poolErr.field).toBe('extras.eks.nodeRoleArn');
      const scaling = await rejection(
        provider.createCluster({
          ...spec('no-extras'),
          nodePools: [{ ...pool('p'), autoscaling: { min: 5, max: 2 } }],
        }),
      );
      expect(scaling.field).toBe('nodePools.p.autoscaling');
      expect(await rejection(provider.describeCluster('eu-west-1', 'x'))).toMatchObject({
        type: 'Invalid',
        field: 'location',
      });
      expect(cloud.calls.size).toBe(0);
    });

    it('maps node pools onto node groups: scaling, taint effects, spot, disk, AMI by architecture', async () => {
      const name = 'mapping';
      await createReady(target(), name);
      const spot: NodePoolSpec = {
        name: 'arm-spot',
        machineType: 'm7g.xlarge',
        count: 3,
        autoscaling: null,
        labels: { arch: 'arm64' },
        taints: [{ key: 'batch', value: '', effect: 'NoExecute' }],
        spot: true,
        diskGb: 80,
        zones: [],
      };
      for (const p of [pool('general'), spot])
        expect(
          (await untilDone(target(), await provider.createNodePool(REGION, name, p, extras))).error,
        ).toBeNull();

      const wire = cloud.get(REGION, name).nodePools.get('arm-spot')?.spec.request as Record<string, unknown>;
      expect(wire).toMatchObject({
        nodegroupName: 'arm-spot',
        instanceTypes: ['m7g.xlarge'],
        amiType: 'AL2023_ARM_64_STANDARD',
        capacityType: 'SPOT',
        diskSize: 80,
        scalingConfig: { minSize: 3, maxSize: 3, desiredSize: 3 },
        taints: [{ key: 'batch', value: '', effect: 'NO_EXECUTE' }],
        nodeRole: extras.eks?.nodeRoleArn,
        subnets: extras.eks?.subnetIds,
      });
      const general = cloud.get(REGION, name).nodePools.get('general')?.spec.request as Record<
        string,
        unknown
      >;
      expect(general).toMatchObject({
        amiType: 'AL2023_x86_64_STANDARD',
        capacityType: 'ON_DEMAND',
        scalingConfig: { minSize: 1, maxSize: 4, desiredSize: 2 },
        taints: [
          { key: 'dedicated', value: 'ci', effect: 'NO_SCHEDULE' },
          { key: 'spot', value: 'true', effect: 'PREFER_NO_SCHEDULE' },
        ],
      });

      const described = await provider.describeCluster(REGION, name);
      const byName = Object.fromEntries((described?.nodePools ?? []).map((p) => [p.name, p]));
      expect(byName['arm-spot']).toEqual({ ...spot, status: 'ready' });
      expect(byName.general).toEqual({ ...pool('general'), status: 'ready' });

      // EKS's rule: a cluster with node groups cannot be deleted.
      const inUse = await rejection(provider.deleteCluster(REGION, name));
      expect(inUse.type).toBe('Conflict');
      expect(inUse.message).toContain('nodegroups attached');
      const dup = await rejection(provider.createNodePool(REGION, name, pool('general'), extras));
      expect(dup.type).toBe('Conflict');

      for (const p of ['general', 'arm-spot'])
        expect((await untilDone(target(), await provider.deleteNodePool(REGION, name, p))).error).toBeNull();
      expect((await untilDone(target(), await provider.deleteCluster(REGION, name))).error).toBeNull();
    });

    it('refuses a node group on a cluster still creating, as a state Conflict', async () => {
      const name = 'young';
      await provider.createCluster(spec(name));
      const early = await rejection(provider.createNodePool(REGION, name, pool('p'), extras));
      expect(early).toMatchObject({
        type: 'Conflict',
        details: { reason: 'state', awsError: 'InvalidRequestException' },
      });
      const deleteEarly = await rejection(provider.deleteCluster(REGION, name));
      expect(deleteEarly.type).toBe('Conflict');
      clock.advance(5_000);
      await untilDone(target(), await provider.deleteCluster(REGION, name));
    });

    it('reports a node group that failed to create as a done operation with EKS’s health issue', async () => {
      const name = 'ng-fails';
      await createReady(target(), name);
      cloud.inject({ op: 'createNodePool', kind: 'fail-async', cluster: name });
      const done = await untilDone(
        target(),
        await provider.createNodePool(REGION, name, pool('doomed'), extras),
      );
      expect(done.error).toMatch(/NodeCreationFailure: .*failed/);
      const described = await provider.describeCluster(REGION, name);
      expect(described?.nodePools.find((p) => p.name === 'doomed')?.status).toBe('failed');
      await untilDone(target(), await provider.deleteNodePool(REGION, name, 'doomed'));
      await untilDone(target(), await provider.deleteCluster(REGION, name));
    });

    it('serves access with the CA as PEM and an EKS token bound to the cluster', async () => {
      const name = 'tokened';
      const ready = await createReady(target(), name);
      const access = await provider.access(REGION, name);
      expect(access.server).toBe(ready.endpoint);
      expect(access.caData).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
      const left = Date.parse(access.expiresAt) - Date.now();
      expect(left).toBeGreaterThan(13 * 60_000);
      expect(left).toBeLessThanOrEqual(14 * 60_000);
      expect(decodeToken(access.token).searchParams.get('X-Amz-Credential')).toContain(
        credentials.accessKeyId,
      );
      await untilDone(target(), await provider.deleteCluster(REGION, name));
      expect((await rejection(provider.access(REGION, name))).type).toBe('NotFound');
    });
  });
});

// --- the token, on its own -----------------------------------------------------------------------

const decodeToken = (token: string): URL => {
  expect(token.startsWith('k8s-aws-v1.')).toBe(true);
  const body = token.slice('k8s-aws-v1.'.length);
  expect(body).toMatch(/^[A-Za-z0-9_-]+$/); // base64url, no padding
  return new URL(Buffer.from(body, 'base64url').toString('utf8'));
};

const rfc3986 = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');

describe('EKS cluster token', () => {
  it('is a presigned STS GetCallerIdentity URL, signed with x-k8s-aws-id, valid SigV4', async () => {
    const at = new Date('2026-03-04T05:06:07Z');
    const provider = new EksProvider({ region: 'eu-west-1', credentials });
    try {
      const url = decodeToken(await provider.token('prod-eu', at));
      const q = url.searchParams;
      expect(url.origin).toBe('https://sts.eu-west-1.amazonaws.com');
      expect(url.pathname).toBe('/');
      expect(q.get('Action')).toBe('GetCallerIdentity');
      expect(q.get('Version')).toBe('2011-06-15');
      expect(q.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
      expect(q.get('X-Amz-Credential')).toBe(
        `${credentials.accessKeyId}/20260304/eu-west-1/sts/aws4_request`,
      );
      expect(q.get('X-Amz-Date')).toBe('20260304T050607Z');
      expect(q.get('X-Amz-Expires')).toBe('60');
      expect(q.get('X-Amz-SignedHeaders')).toBe('host;x-k8s-aws-id');
      expect(q.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);

      // Recompute the signature by hand (SigV4 query signing) to prove STS would accept it.
      const params = [...q.entries()]
        .filter(([k]) => k !== 'X-Amz-Signature')
        .sort(([a], [b]) => (a < b ? -1 : 1));
      const canonical = [
        'GET',
        '/',
        params.map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`).join('&'),
        `host:${url.host}\nx-k8s-aws-id:prod-eu\n`,
        'host;x-k8s-aws-id',
        sha256(''),
      ].join('\n');
      const scope = '20260304/eu-west-1/sts/aws4_request';
      const toSign = ['AWS4-HMAC-SHA256', '20260304T050607Z', scope, sha256(canonical)].join('\n');
      let key: Buffer = hmac(`AWS4${credentials.secretAccessKey}`, '20260304');
      for (const part of ['eu-west-1', 'sts', 'aws4_request']) key = hmac(key, part);
      expect(q.get('X-Amz-Signature')).toBe(createHmac('sha256', key).update(toSign).digest('hex'));

      // Bound to the cluster: another name, another signature.
      const other = decodeToken(await provider.token('prod-us', at));
      expect(other.searchParams.get('X-Amz-Signature')).not.toBe(q.get('X-Amz-Signature'));
    } finally {
      provider.destroy();
    }
  });

  it('carries the session token of temporary credentials', async () => {
    const provider = new EksProvider({
      region: 'us-west-2',
      credentials: { ...credentials, sessionToken: 'session/token+value=' },
    });
    try {
      const url = decodeToken(await provider.token('c'));
      expect(url.searchParams.get('X-Amz-Security-Token')).toBe('session/token+value=');
    } finally {
      provider.destroy();
    }
  });
});

// --- versions move with the sandbox clock --------------------------------------------------------

describe('EKS catalog from DescribeClusterVersions', () => {
  it('serves supported versions newest first, the default among them, following the release calendar', async () => {
    const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
    const cloud = new SandboxCloud({ clock });
    const sandbox = await startEksSandbox({ cloud, region: 'eu-west-1' });
    const provider = new EksProvider({
      region: 'eu-west-1',
      endpoint: sandbox.url,
      credentials,
      pageSize: 4,
    });
    const sdk = new EKSClient({ region: 'eu-west-1', endpoint: sandbox.url, credentials, maxAttempts: 1 });
    try {
      const jan = await provider.catalog('eu-west-1');
      expect(jan.versions).toEqual(['1.34', '1.33', '1.32', '1.31', '1.30', '1.29']);
      expect(jan.defaultVersion).toBe('1.33');
      expect(jan.regions.find((r) => r.name === 'eu-west-1')?.zones).toEqual([
        'eu-west-1a',
        'eu-west-1b',
        'eu-west-1c',
      ]);
      expect(jan.machineTypes.find((m) => m.name === 'm7g.large')).toMatchObject({
        vcpu: 2,
        memoryMiB: 8192,
        arch: 'arm64',
      });

      const raw = await sdk.send(new DescribeClusterVersionsCommand({ clusterVersions: ['1.31'] }));
      expect(raw.clusterVersions?.[0]).toMatchObject({
        clusterVersion: '1.31',
        versionStatus: 'EXTENDED_SUPPORT',
        status: 'extended-support',
        defaultVersion: false,
      });
      expect(raw.clusterVersions?.[0]?.endOfStandardSupportDate?.toISOString()).toBe(
        '2025-11-26T00:00:00.000Z',
      );
      const all = await sdk.send(new DescribeClusterVersionsCommand({ includeAll: true }));
      expect(all.clusterVersions?.map((c) => c.clusterVersion)).toContain('1.28');
      const dflt = await sdk.send(new DescribeClusterVersionsCommand({ defaultOnly: true }));
      expect(dflt.clusterVersions?.map((c) => c.clusterVersion)).toEqual(['1.33']);

      clock.advance(90 * 24 * 3_600_000); // April 2026: 1.35 is out, 1.29 is past extended support
      const april = await provider.catalog();
      expect(april.versions).toEqual(['1.35', '1.34', '1.33', '1.32', '1.31', '1.30']);
      expect(april.defaultVersion).toBe('1.34');
    } finally {
      provider.destroy();
      sdk.destroy();
      await sandbox.stop();
    }
  });
});

// --- moto ------------------------------------------------------------------------------------------

const MOTO = join(process.cwd(), '.tools/venv/bin/moto_server');
const PYTHON = join(process.cwd(), '.tools/venv/bin/python');

/**
 * Starts moto_server under a parent-death signal, so that it dies with this jest worker even
 * if afterAll never runs.
 */
const startMoto = async (port: number): Promise<ChildProcess> => {
  if (!existsSync(MOTO)) throw new Error(`${MOTO} is missing: run tools/bootstrap.sh --test`);
  const launcher = [
    'import ctypes, os, signal, sys',
    'ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)', // PR_SET_PDEATHSIG
    'os.execv(sys.argv[1], sys.argv[1:])',
  ].join('\n');
  const child = spawn(PYTHON, ['-c', launcher, MOTO, '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited: ${stderr}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/moto-api/`);
      if (res.ok) return child;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
};

const stopProcess = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
};

describe('EKS adapter on moto', () => {
  let moto: ChildProcess | undefined;
  let provider: EksProvider;

  beforeAll(async () => {
    const port = await freePort();
    moto = await startMoto(port);
    provider = new EksProvider({ region: REGION, endpoint: `http://127.0.0.1:${port}`, credentials });
  }, 40_000);
  afterAll(async () => {
    provider?.destroy();
    if (moto) await stopProcess(moto);
  });

  describeConformance('eks (moto)', () => ({ provider, location: REGION, spec, pool }), { sandboxed: false });

  it('maps moto’s node groups like EKS’s: spot, disk, taints', async () => {
    const name = 'moto-mapping';
    const target: ConformanceTarget = { provider, location: REGION, spec, pool };
    await createReady(target, name);
    const spot = { ...pool('spot'), spot: true, autoscaling: null, count: 2 };
    await untilDone(target, await provider.createNodePool(REGION, name, spot, extras));
    const described = await provider.describeCluster(REGION, name);
    expect(described?.nodePools.find((p) => p.name === 'spot')).toEqual({ ...spot, status: 'ready' });
    const inUse = await rejection(provider.deleteCluster(REGION, name));
    expect(inUse.type).toBe('Conflict');
    await untilDone(target, await provider.deleteNodePool(REGION, name, 'spot'));
    await untilDone(target, await provider.deleteCluster(REGION, name));
  });
});
