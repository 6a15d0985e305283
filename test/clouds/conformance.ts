/**
 * The CloudProvider conformance suite: one set of expectations every adapter meets, run by
 * each cloud's test file against its sandbox (and the EKS adapter against moto too), always
 * through the official SDK over a real socket.
 */
import { describe, expect, it } from '@jest/globals';
import type { CloudOperation, CloudProvider, ClusterSpec, NodePoolSpec } from '../../clouds/ports.ts';
import { DroverError } from '../../domain/errors.ts';
import type { Fault, SandboxCloud } from '../../sandbox/clouds/core.ts';

export interface ConformanceTarget {
  provider: CloudProvider;
  location: string;
  /** A valid spec for this cloud, with the given name and one node pool. */
  spec(name: string): ClusterSpec;
  /** An extra node pool valid on this cloud. */
  pool(name: string): NodePoolSpec;
  /** The sandbox behind the adapter; absent for third-party servers (moto). */
  sandbox?: SandboxCloud;
  /** Moves the sandbox's clock (a ManualClock); absent where time cannot be moved. */
  advance?(ms: number): void;
}

/** Polls until the operation is done, moving the sandbox clock between polls. */
export const untilDone = async (target: ConformanceTarget, op: CloudOperation): Promise<CloudOperation> => {
  let current = op;
  for (let i = 0; i < 60 && !current.done; i++) {
    if (target.advance) target.advance(5_000);
    else await new Promise((r) => setTimeout(r, 500));
    current = await target.provider.getOperation(current);
  }
  if (!current.done) throw new Error(`operation ${current.kind} on ${current.cluster} never finished`);
  return current;
};

/** The DroverError a call is rejected with; fails when it resolves or throws anything else. */
export const rejection = async (p: Promise<unknown>): Promise<DroverError> => {
  try {
    await p;
  } catch (err) {
    if (err instanceof DroverError) return err;
    throw new Error(`expected a DroverError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected a rejection');
};

/** Creates a cluster and waits until it and its pools are ready. */
export const createReady = async (target: ConformanceTarget, name: string) => {
  const op = await target.provider.createCluster(target.spec(name));
  expect(op.error).toBeNull();
  const done = await untilDone(target, op);
  expect(done.error).toBeNull();
  return createReadyAfter(target, name);
};

/**
 * `sandboxed: false` for third-party servers (moto): the tests that need the sandbox's faults
 * and clock are then reported as skipped, not passed.
 */
export const describeConformance = (
  label: string,
  setup: () => ConformanceTarget,
  { sandboxed = true }: { sandboxed?: boolean } = {},
): void => {
  const withSandbox = sandboxed ? it : it.skip;
  describe(`CloudProvider conformance: ${label}`, () => {
    let n = 0;
    const unique = (base: string) => `${base}-${Date.now().toString(36)}-${++n}`;

    it('serves a catalog: versions newest first, the default among them, machine types with sizes', async () => {
      const { provider, location } = setup();
      const catalog = await provider.catalog(location);
      expect(catalog.cloud).toBe(provider.cloud);
      expect(catalog.versions.length).toBeGreaterThan(0);
      expect(catalog.versions).toContain(catalog.defaultVersion);
      const minors = catalog.versions.map((v) => Number(v.split('.')[1]));
      expect([...minors].sort((a, b) => b - a)).toEqual(minors);
      expect(catalog.regions.length).toBeGreaterThan(0);
      for (const m of catalog.machineTypes) {
        expect(m.vcpu).toBeGreaterThan(0);
        expect(m.memoryMiB).toBeGreaterThan(0);
        expect(['amd64', 'arm64']).toContain(m.arch);
      }
      expect(catalog.machineTypes.some((m) => m.family === 'general' && m.current)).toBe(true);
    });

    it('creates a cluster: creating, then ready with an endpoint, listed, described, accessible', async () => {
      const target = setup();
      const name = unique('conf');
      const spec = target.spec(name);
      const op = await target.provider.createCluster(spec);
      expect(op).toMatchObject({ cloud: target.provider.cloud, kind: 'create-cluster', cluster: name });
      if (target.advance) {
        expect(op.done).toBe(false);
        const creating = await target.provider.describeCluster(target.location, name);
        expect(creating?.status).toBe('creating');
      }
      await untilDone(target, op);
      const cluster = await createReadyAfter(target, name);
      expect(cluster).toMatchObject({
        cloud: target.provider.cloud,
        name,
        location: target.location,
        status: 'ready',
      });
      expect(cluster.version.startsWith(spec.version)).toBe(true);
      expect(cluster.endpoint).toMatch(/^https:\/\//);
      expect(cluster.providerId).not.toBe('');
      for (const [k, v] of Object.entries(spec.labels)) expect(cluster.labels[k]).toBe(v);

      const listed = await target.provider.listClusters(target.location);
      expect(listed.map((c) => c.name)).toContain(name);
      expect(await target.provider.describeCluster(target.location, unique('absent'))).toBeNull();

      const access = await target.provider.access(target.location, name);
      expect(access.server).toBe(cluster.endpoint);
      expect(access.token.length).toBeGreaterThan(10);
      expect(Date.parse(access.expiresAt)).toBeGreaterThan(Date.now());

      const again = await rejection(target.provider.createCluster(spec));
      expect(again.type).toBe('Conflict');
      expect(again.message).toContain(name);
    });

    it('adds and removes a node pool, then deletes the cluster; deleting twice is not an error', async () => {
      const target = setup();
      const name = unique('pools');
      await createReady(target, name);
      const pool = target.pool('extra');
      const poolOp = await target.provider.createNodePool(
        target.location,
        name,
        pool,
        target.spec(name).extras,
      );
      expect(poolOp).toMatchObject({ kind: 'create-node-pool', nodePool: 'extra' });
      expect((await untilDone(target, poolOp)).error).toBeNull();
      const withPool = await target.provider.describeCluster(target.location, name);
      const described = withPool?.nodePools.find((p) => p.name === 'extra');
      expect(described).toMatchObject({
        machineType: pool.machineType,
        labels: expect.objectContaining(pool.labels) as unknown,
        status: 'ready',
      });
      expect(described?.taints).toEqual(pool.taints);

      const deletePool = await target.provider.deleteNodePool(target.location, name, 'extra');
      expect((await untilDone(target, deletePool)).error).toBeNull();
      const afterPool = await target.provider.describeCluster(target.location, name);
      expect(afterPool?.nodePools.map((p) => p.name)).not.toContain('extra');

      for (const p of afterPool?.nodePools ?? []) {
        if (target.provider.cloud === 'eks')
          await untilDone(target, await target.provider.deleteNodePool(target.location, name, p.name));
      }
      const del = await target.provider.deleteCluster(target.location, name);
      expect(del.kind).toBe('delete-cluster');
      expect((await untilDone(target, del)).error).toBeNull();
      expect(await target.provider.describeCluster(target.location, name)).toBeNull();
      const again = await target.provider.deleteCluster(target.location, name);
      expect(again.done).toBe(true);
      expect(again.error).toBeNull();
    });

    withSandbox(
      'reports throttling as Throttled with the server’s delay, and quota as a Conflict',
      async () => {
        const target = setup();
        const sandbox = target.sandbox;
        if (!sandbox) throw new Error(`${label}: a sandboxed target must name its sandbox`);
        const name = unique('faults');
        sandbox.inject({ op: 'describeCluster', kind: 'throttle', retryAfterSeconds: 7 } satisfies Fault);
        const throttled = await rejection(target.provider.describeCluster(target.location, name));
        expect(throttled.type).toBe('Throttled');
        expect(throttled.details?.retryAfterMs).toBe(7_000);
        expect(await target.provider.describeCluster(target.location, name)).toBeNull();

        sandbox.inject({ op: 'createCluster', kind: 'quota' });
        const quota = await rejection(target.provider.createCluster(target.spec(name)));
        expect(quota.type).toBe('Conflict');
        expect(quota.details?.reason).toBe('quota');
        expect(sandbox.find(target.location, name)).toBeUndefined();

        sandbox.inject({ op: 'describeCluster', kind: 'internal' });
        const internal = await rejection(target.provider.describeCluster(target.location, name));
        expect(internal.type).toBe('Unavailable');
      },
    );

    withSandbox(
      'reports an operation that failed in the cloud as done with the cloud’s message',
      async () => {
        const target = setup();
        const sandbox = target.sandbox;
        if (!sandbox) throw new Error(`${label}: a sandboxed target must name its sandbox`);
        const name = unique('broken');
        sandbox.inject({ op: 'createCluster', kind: 'fail-async', cluster: name });
        const op = await target.provider.createCluster(target.spec(name));
        const done = await untilDone(target, op);
        expect(done.error).toMatch(/failed/);
        expect((await target.provider.describeCluster(target.location, name))?.status).toBe('failed');
        // A failed cluster can still be deleted, leaving nothing behind.
        await untilDone(target, await target.provider.deleteCluster(target.location, name));
        await sandbox.settle();
        expect(sandbox.find(target.location, name)).toBeUndefined();
      },
    );
  });
};

const createReadyAfter = async (target: ConformanceTarget, name: string) => {
  for (let i = 0; i < 20; i++) {
    const c = await target.provider.describeCluster(target.location, name);
    if (c?.status === 'ready' && c.nodePools.every((p) => p.status === 'ready')) return c;
    if (target.advance) target.advance(5_000);
    else await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`cluster ${name} never became ready`);
};
