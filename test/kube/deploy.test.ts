/**
 * The per-cluster deploy engine on two real kube-apiservers: snapshot, deploy, verify,
 * rollback. What is on the clusters is checked with kubectl (drover-kube kubectl), which
 * shares no code with kube/.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { createKubeClient, type KubeClient } from '../../kube/client.ts';
import {
  deployToCluster,
  loadSnapshot,
  restoreSnapshot,
  snapshotObjects,
  snapshotOnce,
  snapshotPath,
  verifyDeployment,
  type DeployResult,
  type Snapshot,
} from '../../kube/deploy.ts';
import { KubeError } from '../../kube/errors.ts';
import { startKubeEnv, type KubeCluster, type KubeEnv } from '../../sandbox/kube-env.ts';

const run = promisify(execFile);

// Written out of order on purpose (the engine sorts); default/shop-config exists beforehand.
const RELEASE = `
apiVersion: shop.example.com/v1
kind: Widget
metadata: { name: blue, namespace: shop }
spec: { size: small }
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: shop-config
  namespace: default
  labels: { tier: web }
data:
  mode: new
  feature: "on"
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
      containers:
        - name: web
          image: registry.example/web:1.0
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  selector: { app: web }
  ports: [{ port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: widgets.shop.example.com }
spec:
  group: shop.example.com
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget }
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: { type: string }
`;

// Created with client-side kubectl apply, so it also carries the last-applied annotation.
const PREEXISTING = (cluster: string) => `
apiVersion: v1
kind: ConfigMap
metadata:
  name: shop-config
  namespace: default
  labels: { team: payments }
  annotations: { owner: ${cluster}-team }
data:
  mode: old
  keep: "yes"
`;

interface Json {
  kind: string;
  metadata: {
    name: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    managedFields?: unknown;
  };
  data?: Record<string, string>;
}

let env: KubeEnv;
let clusters: [KubeCluster, KubeCluster];
let clients: [KubeClient, KubeClient];
let dir: string;
/** default/shop-config on each cluster as kubectl returned it before any deploy. */
let preexisting: Json[];
let snapshots: Snapshot[];
let deployed: DeployResult[];

const key = (i: number) => `run-1/${clusters[i]?.name ?? ''}`;

const kubectl = async (
  cluster: KubeCluster,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const { stdout, stderr } = await run(env.binary, [
      'kubectl',
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--context',
      cluster.name,
      ...args,
    ]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
};

const kubectlJson = async (cluster: KubeCluster, args: string[]): Promise<Json> => {
  const r = await kubectl(cluster, [...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Json;
};

const getConfig = (cluster: KubeCluster) =>
  kubectlJson(cluster, ['get', '-n', 'default', 'configmap', 'shop-config']);

/** What a restore must bring back: everything but the write counters. */
const content = (o: Json) => {
  const { resourceVersion: _rv, managedFields: _mf, ...metadata } = o.metadata;
  return { ...o, metadata };
};

/** resourceVersion of every object of the release as kubectl sees it, by kind. */
const versions = async (cluster: KubeCluster): Promise<Record<string, string>> =>
  Object.fromEntries(
    await Promise.all(
      [
        ['get', 'customresourcedefinition', 'widgets.shop.example.com'],
        ['get', 'namespace', 'shop'],
        ['get', '-n', 'default', 'configmap', 'shop-config'],
        ['get', '-n', 'shop', 'deployment', 'web'],
        ['get', '-n', 'shop', 'service', 'web'],
        ['get', '-n', 'shop', 'widgets.shop.example.com', 'blue'],
      ].map(async (args) => {
        const o = await kubectlJson(cluster, args);
        return [o.kind, o.metadata.resourceVersion] as const;
      }),
    ),
  );

const versionsOf = (result: DeployResult): Record<string, string> =>
  Object.fromEntries(result.applied.map((a) => [a.ref.kind, a.resourceVersion]));

const rejection = async (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

beforeAll(async () => {
  const base = await mkdtemp(join(tmpdir(), 'drover-kube-deploy-'));
  dir = join(base, 'snapshots');
  env = await startKubeEnv({ clusters: 2, baseDir: base });
  clusters = env.clusters as [KubeCluster, KubeCluster];
  clients = [
    createKubeClient({ kubeconfigPath: clusters[0].kubeconfigPath, context: clusters[0].name }),
    createKubeClient({
      server: clusters[1].server,
      caData: clusters[1].caData,
      token: clusters[1].adminToken,
    }),
  ];
  preexisting = await Promise.all(
    clusters.map(async (cluster) => {
      const file = join(base, `${cluster.name}-preexisting.yaml`);
      await writeFile(file, PREEXISTING(cluster.name));
      const applied = await kubectl(cluster, ['apply', '-f', file]);
      if (applied.code !== 0) throw new Error(applied.stderr);
      return getConfig(cluster);
    }),
  );
}, 240_000);

afterAll(async () => {
  await env?.stop({ removeData: true });
}, 60_000);

describe('snapshot files', () => {
  it('keeps every key inside the directory, distinct keys in distinct files', () => {
    for (const k of ['../../etc/passwd', 'a/b', 'a_b', 'a%2Fb', '.', '..', 'ü', 'x'.repeat(500)]) {
      const path = snapshotPath('/state', k);
      expect(dirname(path)).toBe('/state');
      expect(path.length).toBeLessThan(260);
    }
    const names = ['a/b', 'a_b', 'a%2Fb', 'a.b', 'a..b'].map((k) => snapshotPath('/state', k));
    expect(new Set(names).size).toBe(names.length);
    expect(snapshotPath('/state', 'x'.repeat(500))).not.toBe(snapshotPath('/state', `${'x'.repeat(499)}y`));
    expect(() => snapshotPath('/state', '')).toThrow('empty');
  });

  it('loads nothing for an unknown key, and racing takers agree on the first saved', async () => {
    const local = await mkdtemp(join(tmpdir(), 'drover-snapshots-'));
    expect(await loadSnapshot(local, 'nothing')).toBeUndefined();
    const take = (takenAt: string) => async () => {
      await new Promise((r) => setTimeout(r, 10));
      return { takenAt, entries: [] };
    };
    const both = await Promise.all([
      snapshotOnce(local, 'k', take('first')),
      snapshotOnce(local, 'k', take('second')),
    ]);
    expect(both[0]).toEqual(both[1]);
    expect(await loadSnapshot(local, 'k')).toEqual(both[0]);
    // No temporary files are left behind, and only the owner may read what is there.
    expect(await readdir(local)).toEqual(['k.json']);
    expect((await stat(snapshotPath(local, 'k'))).mode & 0o777).toBe(0o600);
  });
});

describe('deploy engine on two real API servers', () => {
  it('snapshots what the release touches: the live objects that exist, and which do not', async () => {
    snapshots = await Promise.all(
      clients.map((client, i) => snapshotOnce(dir, key(i), () => snapshotObjects(client, RELEASE))),
    );
    for (const [i, snapshot] of snapshots.entries()) {
      expect(snapshot.entries.map((e) => [e.ref.kind, e.ref.namespace, e.ref.name, e.existed])).toEqual([
        // The CRD is not there yet, but its custom resource is placed in its namespace.
        ['Widget', 'shop', 'blue', false],
        ['ConfigMap', 'default', 'shop-config', true],
        ['Deployment', 'shop', 'web', false],
        ['Service', 'shop', 'web', false],
        ['Namespace', undefined, 'shop', false],
        ['CustomResourceDefinition', undefined, 'widgets.shop.example.com', false],
      ]);
      const before = preexisting[i] as Json;
      const cm = snapshot.entries[1];
      expect(cm?.resourceVersion).toBe(before.metadata.resourceVersion);
      expect(cm?.live).toEqual({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: 'shop-config',
          namespace: 'default',
          labels: { team: 'payments' },
          annotations: before.metadata.annotations,
          // Server-set fields are gone, so the copy can be written back.
        },
        data: { mode: 'old', keep: 'yes' },
      });
      expect(before.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toBeDefined();
      // Stored as JSON, and read back the same.
      expect(await loadSnapshot(dir, key(i))).toEqual(snapshot);
    }
  });

  it('deploys in dependency order, marks every object with the release, and verifies', async () => {
    // Cluster 2's first attempt dies after four objects, like a worker killed mid-way.
    const crash = await rejection(
      deployToCluster(clients[1], RELEASE, {
        releaseId: 'rel-1',
        snapshot: snapshots[1],
        onProgress: ({ done }) => {
          if (done === 4) throw new Error('worker killed');
        },
      }),
    );
    expect(crash).toEqual(new Error('worker killed'));
    expect((await getConfig(clusters[1])).data).toMatchObject({ mode: 'new' });

    // The retried activity asks for its snapshot again and gets the one from before the crash.
    const take = jest.fn(() => snapshotObjects(clients[1], RELEASE));
    expect(await snapshotOnce(dir, key(1), take)).toEqual(snapshots[1]);
    expect(take).not.toHaveBeenCalled();
    const now = await snapshotObjects(clients[1], RELEASE);
    expect(now.entries.filter((e) => e.existed).map((e) => e.ref.kind)).toEqual([
      'Widget',
      'ConfigMap',
      'Namespace',
      'CustomResourceDefinition',
    ]);

    deployed = await Promise.all(
      clients.map((client, i) =>
        deployToCluster(client, RELEASE, { releaseId: 'rel-1', snapshot: snapshots[i] }),
      ),
    );
    for (const [i, result] of deployed.entries()) {
      const cluster = clusters[i] as KubeCluster;
      expect(result.releaseId).toBe('rel-1');
      expect(result.applied.map((a) => [a.ref.kind, a.documentIndex, a.changed])).toEqual([
        ['CustomResourceDefinition', 5, true],
        ['Namespace', 4, true],
        ['Widget', 0, true],
        ['ConfigMap', 1, true],
        ['Deployment', 2, true],
        ['Service', 3, true],
      ]);
      expect(result.applied.find((a) => a.ref.kind === 'Deployment')?.generation).toBe(1);
      // The CRD alone changes afterwards: kube-apiserver records in its status that it is Established.
      const { CustomResourceDefinition: _crd, ...live } = await versions(cluster);
      expect(versionsOf(result)).toMatchObject(live);
      expect(await verifyDeployment(clients[i] as KubeClient, result, { readiness: false })).toEqual({
        ok: true,
        problems: [],
      });

      const cm = await getConfig(cluster);
      // New data from the release; the old key no one removed stays, as with any apply.
      expect(cm.data).toEqual({ mode: 'new', feature: 'on', keep: 'yes' });
      expect(cm.metadata.labels).toEqual({
        team: 'payments',
        tier: 'web',
        'app.kubernetes.io/managed-by': 'drover',
      });
      expect(cm.metadata.annotations?.['drover.io/release']).toBe('rel-1');
      const widget = await kubectlJson(cluster, ['get', '-n', 'shop', 'widgets.shop.example.com', 'blue']);
      expect(widget.metadata.annotations?.['drover.io/release']).toBe('rel-1');
    }
  });

  it('deploying again changes no resourceVersion', async () => {
    const before = await Promise.all(clusters.map(versions));
    const again = await Promise.all(
      clients.map((client, i) =>
        deployToCluster(client, RELEASE, { releaseId: 'rel-1', snapshot: snapshots[i] }),
      ),
    );
    expect(await Promise.all(clusters.map(versions))).toEqual(before);
    expect(again.map(versionsOf)).toEqual(before);
    // Still relative to the snapshot: this run changed every object.
    expect(again.map((r) => r.applied.map((a) => a.changed))).toEqual(
      deployed.map((r) => r.applied.map(() => true)),
    );
    // Without a snapshot, relative to just before: nothing changed.
    const plain = await deployToCluster(clients[0], RELEASE, { releaseId: 'rel-1' });
    expect(plain.applied.map((a) => a.changed)).toEqual([false, false, false, false, false, false]);
    expect(versionsOf(plain)).toEqual(before[0]);
  });

  it('verify reports readiness, missing objects and foreign releases, without waiting', async () => {
    const cluster = clusters[0];
    const result = deployed[0] as DeployResult;
    // No controllers run here, so nobody has observed the Deployment.
    expect(await verifyDeployment(clients[0], result, { readiness: true })).toEqual({
      ok: false,
      problems: [
        'Deployment shop/web: not ready: its controller has not observed generation 1 yet (observed: none)',
      ],
    });
    // Playing the controller: observed, but only one of two replicas ready…
    const status = async (s: object) =>
      expect(
        (
          await kubectl(cluster, [
            'patch',
            '-n',
            'shop',
            'deployment/web',
            '--subresource=status',
            '--type=merge',
            '-p',
            JSON.stringify({ status: s }),
          ])
        ).code,
      ).toBe(0);
    await status({ observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 1 });
    expect((await verifyDeployment(clients[0], result, { readiness: true })).problems).toEqual([
      'Deployment shop/web: not ready: 1 of 2 replicas ready',
    ]);
    // …then both.
    await status({
      observedGeneration: 1,
      replicas: 2,
      updatedReplicas: 2,
      readyReplicas: 2,
      availableReplicas: 2,
    });
    expect(await verifyDeployment(clients[0], result, { readiness: true })).toEqual({
      ok: true,
      problems: [],
    });

    expect(
      await verifyDeployment(clients[0], { ...result, releaseId: 'rel-2' }, { readiness: false }),
    ).toMatchObject({
      ok: false,
      problems: expect.arrayContaining([
        "ConfigMap default/shop-config: annotation drover.io/release is 'rel-1', expected 'rel-2'",
      ]) as unknown,
    });
    expect((await kubectl(cluster, ['delete', '-n', 'shop', 'service', 'web'])).code).toBe(0);
    expect((await verifyDeployment(clients[0], result, { readiness: false })).problems).toEqual([
      'Service shop/web: not found',
    ]);
    // A redeploy puts it back.
    const redeployed = await deployToCluster(clients[0], RELEASE, {
      releaseId: 'rel-1',
      snapshot: snapshots[0],
    });
    expect(await verifyDeployment(clients[0], redeployed, { readiness: false })).toEqual({
      ok: true,
      problems: [],
    });
  });

  it('a token without rights fails with a non-retryable Forbidden naming the object', async () => {
    const cluster = clusters[1];
    const restricted = createKubeClient({
      server: cluster.server,
      caData: cluster.caData,
      token: cluster.restrictedToken,
    });
    const err = await rejection(
      deployToCluster(restricted, RELEASE, { releaseId: 'rel-9', snapshot: snapshots[1] }),
    );
    expect(err).toBeInstanceOf(KubeError);
    expect(err).toMatchObject({
      type: 'Forbidden',
      retryable: false,
      status: 403,
      documentIndex: 5,
      object: { kind: 'CustomResourceDefinition', name: 'widgets.shop.example.com' },
    });
    expect((err as KubeError).message).toContain(
      `User "${cluster.restrictedUser}" cannot patch resource "customresourcedefinitions"`,
    );
    // Reading, as a deploy without a snapshot does first, is refused the same way.
    await expect(deployToCluster(restricted, RELEASE, { releaseId: 'rel-9' })).rejects.toMatchObject({
      type: 'Forbidden',
      retryable: false,
    });
    const cm = await getConfig(cluster);
    expect(cm.metadata.annotations?.['drover.io/release']).toBe('rel-1');
  });

  it('refuses to deploy an object the snapshot does not cover, before writing anything', async () => {
    const extra = `${RELEASE}---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: extra, namespace: shop }\n`;
    await expect(
      deployToCluster(clients[0], extra, { releaseId: 'rel-1', snapshot: snapshots[0] }),
    ).rejects.toMatchObject({
      type: 'BadInput',
      documentIndex: 6,
      object: { kind: 'ConfigMap', namespace: 'shop', name: 'extra' },
    });
    expect((await kubectl(clusters[0], ['get', '-n', 'shop', 'configmap', 'extra'])).stderr).toContain(
      'not found',
    );
  });

  it('rollback puts back exactly what was there and deletes what the release created', async () => {
    const restored = await Promise.all(
      clients.map(async (client, i) =>
        restoreSnapshot(client, (await loadSnapshot(dir, key(i))) as Snapshot),
      ),
    );
    for (const [i, result] of restored.entries()) {
      const cluster = clusters[i] as KubeCluster;
      expect(result.objects.map((o) => [o.ref.kind, o.action])).toEqual([
        ['Service', 'deleted'],
        ['Deployment', 'deleted'],
        ['Widget', 'deleted'],
        ['Namespace', 'deleted'],
        ['CustomResourceDefinition', 'deleted'],
        ['ConfigMap', 'restored'],
      ]);
      expect(content(await getConfig(cluster))).toEqual(content(preexisting[i] as Json));

      for (const [kind, name] of [
        ['deployment', 'web'],
        ['service', 'web'],
      ] as const) {
        expect((await kubectl(cluster, ['get', '-n', 'shop', kind, name])).stderr).toContain('not found');
      }
      // No namespace controller runs here: a deleted namespace stays Terminating.
      const ns = await kubectl(cluster, ['get', 'namespace', 'shop', '-o', 'json']);
      if (ns.code === 0) expect((JSON.parse(ns.stdout) as Json).metadata.deletionTimestamp).toBeDefined();
      else expect(ns.stderr).toContain('not found');
      // The CRD's finalizer (inside kube-apiserver) removes it, and its custom resources, shortly.
      await eventually(async () =>
        expect((await kubectl(cluster, ['get', 'crd', 'widgets.shop.example.com'])).stderr).toContain(
          'not found',
        ),
      );
      expect(
        (await kubectl(cluster, ['get', '-n', 'shop', 'widgets.shop.example.com', 'blue'])).code,
      ).not.toBe(0);
    }
  });

  it('restoring again changes nothing', async () => {
    const before = await Promise.all(clusters.map(getConfig));
    const again = await Promise.all(
      clients.map((client, i) => restoreSnapshot(client, snapshots[i] as Snapshot)),
    );
    for (const result of again) {
      expect(result.objects.map((o) => [o.ref.kind, o.action])).toEqual([
        ['Service', 'absent'],
        ['Deployment', 'absent'],
        ['Widget', 'absent'],
        // Still Terminating, so there is still something to delete.
        ['Namespace', 'deleted'],
        ['CustomResourceDefinition', 'absent'],
        ['ConfigMap', 'unchanged'],
      ]);
    }
    expect(await Promise.all(clusters.map(getConfig))).toEqual(before);
  });

  it('an object that existed and was deleted since is created again', async () => {
    const cluster = clusters[0];
    expect((await kubectl(cluster, ['delete', '-n', 'default', 'configmap', 'shop-config'])).code).toBe(0);
    const result = await restoreSnapshot(clients[0], snapshots[0] as Snapshot);
    expect(result.objects.find((o) => o.ref.kind === 'ConfigMap')?.action).toBe('recreated');
    const cm = await getConfig(cluster);
    const before = preexisting[0] as Json;
    expect([cm.data, cm.metadata.labels, cm.metadata.annotations]).toEqual([
      before.data,
      before.metadata.labels,
      before.metadata.annotations,
    ]);
  });
});

const eventually = async (check: () => Promise<void>, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
};
