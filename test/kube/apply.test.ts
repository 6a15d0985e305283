/**
 * The apply engine against three real kube-apiservers. What drover applied is checked with
 * kubectl (drover-kube kubectl), a client that shares no code with kube/.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { applyManifests, deleteManifests, readManifests } from '../../kube/apply.ts';
import { createKubeClient, type KubeClient } from '../../kube/client.ts';
import { KubeError } from '../../kube/errors.ts';
import { startKubeEnv, type KubeCluster, type KubeEnv } from '../../sandbox/kube-env.ts';

const run = promisify(execFile);

/** A release named `name`: every object, the CRD's group included, carries the name. */
const release = (name: string) => `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}-web
  namespace: ${name}
spec:
  replicas: 2
  selector: { matchLabels: { app: ${name}-web } }
  template:
    metadata: { labels: { app: ${name}-web } }
    spec:
      containers:
        - name: web
          image: registry.example/web:1.0
          ports: [{ containerPort: 8080 }]
---
apiVersion: ${name}.example.com/v1
kind: Widget
metadata:
  name: ${name}-widget
  namespace: ${name}
spec:
  size: small
---
apiVersion: v1
kind: Service
metadata:
  name: ${name}-web
  namespace: ${name}
spec:
  selector: { app: ${name}-web }
  ports: [{ port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}-settings
  namespace: ${name}
data:
  greeting: hello from ${name}
---
apiVersion: v1
kind: Namespace
metadata:
  name: ${name}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.${name}.example.com
spec:
  group: ${name}.example.com
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
                size: { type: string, enum: [small, large] }
`;

// The release is deliberately written in the wrong order (CRD last, its custom resource
// second): the engine has to sort it.
const releases = ['alpha', 'beta', 'gamma'] as const;

let env: KubeEnv;
let clusters: [KubeCluster, KubeCluster, KubeCluster];
let clients: KubeClient[];

const kubectl = async (
  cluster: KubeCluster,
  args: string[],
  context = cluster.name,
): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const { stdout, stderr } = await run(env.binary, [
      'kubectl',
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--context',
      context,
      ...args,
    ]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
};

const kubectlJson = async <T>(cluster: KubeCluster, args: string[]): Promise<T> => {
  const r = await kubectl(cluster, [...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
};

interface Item {
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
  };
}

/** Every object of release `name` as kubectl sees it, `Kind/name` → resourceVersion. */
const releaseObjects = async (cluster: KubeCluster, name: string): Promise<Record<string, string>> => {
  const crd = await kubectlJson<Item>(cluster, [
    'get',
    'customresourcedefinition',
    `widgets.${name}.example.com`,
  ]);
  const ns = await kubectlJson<Item>(cluster, ['get', 'namespace', name]);
  const { items } = await kubectlJson<{ items: Item[] }>(cluster, [
    'get',
    '-n',
    name,
    `deployments,services,configmaps,widgets.${name}.example.com`,
  ]);
  const all = [crd, ns, ...items.filter((i) => i.metadata.name !== 'kube-root-ca.crt')];
  return Object.fromEntries(all.map((i) => [`${i.kind}/${i.metadata.name}`, i.metadata.resourceVersion]));
};

beforeAll(async () => {
  env = await startKubeEnv({ clusters: 3, baseDir: await mkdtemp(join(tmpdir(), 'drover-kube-apply-')) });
  clusters = env.clusters as [KubeCluster, KubeCluster, KubeCluster];
  // One client per way of passing credentials: kubeconfig file, kubeconfig text, server+token.
  clients = [
    createKubeClient({ kubeconfigPath: clusters[0].kubeconfigPath, context: clusters[0].name }),
    createKubeClient({ kubeconfig: env.kubeconfig, context: clusters[1].name }),
    createKubeClient({
      server: clusters[2].server,
      caData: clusters[2].caData,
      token: clusters[2].adminToken,
    }),
  ];
}, 240_000);

afterAll(async () => {
  await env?.stop({ removeData: true });
}, 60_000);

describe('apply on three real API servers', () => {
  it('applies each cluster its own release, in dependency order, and kubectl sees each only where it belongs', async () => {
    const applied = await Promise.all(
      releases.map((name, i) => applyManifests(clients[i] as KubeClient, release(name))),
    );

    for (const result of applied) {
      expect(result.map((a) => a.object.kind)).toEqual([
        'CustomResourceDefinition',
        'Namespace',
        'Deployment',
        'Widget',
        'Service',
        'ConfigMap',
      ]);
      expect(result.map((a) => a.documentIndex)).toEqual([5, 4, 0, 1, 2, 3]);
    }

    for (const [i, name] of releases.entries()) {
      const cluster = clusters[i] as KubeCluster;
      expect(Object.keys(await releaseObjects(cluster, name)).sort()).toEqual(
        [
          `ConfigMap/${name}-settings`,
          `CustomResourceDefinition/widgets.${name}.example.com`,
          `Deployment/${name}-web`,
          `Namespace/${name}`,
          `Service/${name}-web`,
          `Widget/${name}-widget`,
        ].sort(),
      );
      const cm = await kubectlJson<{
        data: Record<string, string>;
        metadata: { labels: Record<string, string> };
      }>(cluster, ['get', '-n', name, 'configmap', `${name}-settings`]);
      expect(cm.data.greeting).toBe(`hello from ${name}`);
      expect(cm.metadata.labels['app.kubernetes.io/managed-by']).toBe('drover');

      for (const other of releases.filter((r) => r !== name)) {
        const ns = await kubectl(cluster, ['get', 'namespace', other]);
        expect(ns.code).not.toBe(0);
        expect(ns.stderr).toContain(`namespaces "${other}" not found`);
        const crd = await kubectl(cluster, [
          'get',
          'customresourcedefinition',
          `widgets.${other}.example.com`,
        ]);
        expect(crd.stderr).toContain('not found');
      }
      // Nothing else drover-managed leaked onto this cluster.
      const managed = await kubectlJson<{ items: Item[] }>(cluster, [
        'get',
        'namespaces,customresourcedefinitions',
        '-l',
        'app.kubernetes.io/managed-by=drover',
      ]);
      expect(managed.items.map((i) => i.metadata.name).sort()).toEqual([name, `widgets.${name}.example.com`]);
    }
  });

  it('applying again changes no resourceVersion', async () => {
    const before = await Promise.all(
      releases.map((name, i) => releaseObjects(clusters[i] as KubeCluster, name)),
    );
    const again = await Promise.all(
      releases.map((name, i) => applyManifests(clients[i] as KubeClient, release(name))),
    );
    const after = await Promise.all(
      releases.map((name, i) => releaseObjects(clusters[i] as KubeCluster, name)),
    );
    expect(after).toEqual(before);
    for (const [i, result] of again.entries()) {
      expect(
        Object.fromEntries(result.map((a) => [`${a.object.kind}/${a.object.name}`, a.resourceVersion])),
      ).toEqual(before[i]);
    }
  });

  it('reads back what it applied', async () => {
    const read = await readManifests(clients[0] as KubeClient, release('alpha'));
    expect(read.map((r) => [r.documentIndex, r.live?.kind, r.live?.metadata.name])).toEqual([
      [0, 'Deployment', 'alpha-web'],
      [1, 'Widget', 'alpha-widget'],
      [2, 'Service', 'alpha-web'],
      [3, 'ConfigMap', 'alpha-settings'],
      [4, 'Namespace', 'alpha'],
      [5, 'CustomResourceDefinition', 'widgets.alpha.example.com'],
    ]);
    expect((read[0]?.live?.spec as { replicas: number }).replicas).toBe(2);
    // The CRD schema arrives intact, including keywords an object model would rename.
    const crd = read[5]?.live as unknown as {
      spec: {
        versions: {
          schema: { openAPIV3Schema: { properties: { spec: { properties: { size: { enum: string[] } } } } } };
        }[];
      };
    };
    expect(crd.spec.versions[0]?.schema.openAPIV3Schema.properties.spec.properties.size.enum).toEqual([
      'small',
      'large',
    ]);
    // On a cluster where the release was never applied, nothing is there to read.
    const elsewhere = await readManifests(clients[1] as KubeClient, release('alpha'));
    expect(elsewhere.every((r) => r.live === undefined)).toBe(true);
  });

  it('rejects an invalid manifest with an error naming the document and the field', async () => {
    const bad = `${release('alpha')}---
apiVersion: v1
kind: ConfigMap
metadata: { name: extra, namespace: alpha }
data: { count: "1" }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: broken, namespace: alpha }
spec:
  replicas: -1
  selector: { matchLabels: { app: broken } }
  template:
    metadata: { labels: { app: broken } }
    spec: { containers: [{ name: c, image: busybox }] }
`;
    const err = await applyManifests(clients[0] as KubeClient, bad).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KubeError);
    expect(err).toMatchObject({
      type: 'Invalid',
      retryable: false,
      documentIndex: 7,
      field: 'spec.replicas',
      object: { kind: 'Deployment', namespace: 'alpha', name: 'broken' },
    });
    expect((err as KubeError).message).toMatch(
      /^apply Deployment alpha\/broken \(document 8\) on https:\/\/127\.0\.0\.1:\d+: .*spec\.replicas: Invalid value: -1/,
    );
    // Apply stops at the first failure; what came before it stays applied (and re-applying is safe).
    expect((await kubectl(clusters[0], ['delete', '-n', 'alpha', 'configmap', 'extra'])).code).toBe(0);
  });

  it('rejects a field the schema does not have, instead of dropping it', async () => {
    const typo = `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: typo, namespace: beta }\ndatta: { a: "1" }\n`;
    await expect(applyManifests(clients[1] as KubeClient, typo)).rejects.toMatchObject({
      type: 'Invalid',
      retryable: false,
      documentIndex: 0,
      field: 'datta',
    });
    const widget = `apiVersion: beta.example.com/v1\nkind: Widget\nmetadata: { name: huge, namespace: beta }\nspec: { size: huge }\n`;
    await expect(applyManifests(clients[1] as KubeClient, widget)).rejects.toMatchObject({
      type: 'Invalid',
      field: 'spec.size',
    });
    expect((await kubectl(clusters[1], ['get', '-n', 'beta', 'configmap', 'typo'])).code).not.toBe(0);
  });

  it('rejects an unknown kind before writing anything', async () => {
    const text = `apiVersion: v1\nkind: Namespace\nmetadata: { name: never }\n---\napiVersion: nowhere.example.com/v1\nkind: Gadget\nmetadata: { name: g }\n`;
    await expect(applyManifests(clients[2] as KubeClient, text)).rejects.toMatchObject({
      type: 'BadInput',
      documentIndex: 1,
      field: 'kind',
    });
    expect((await kubectl(clusters[2], ['get', 'namespace', 'never'])).code).not.toBe(0);
  });

  it('a token without rights gets a clear, non-retryable Forbidden naming the object', async () => {
    const cluster = clusters[2];
    const restricted = createKubeClient({
      server: cluster.server,
      caData: cluster.caData,
      token: cluster.restrictedToken,
    });
    const err = await applyManifests(restricted, release('delta')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KubeError);
    expect(err).toMatchObject({
      type: 'Forbidden',
      retryable: false,
      status: 403,
      documentIndex: 5,
      object: { kind: 'CustomResourceDefinition', name: 'widgets.delta.example.com' },
    });
    expect((err as KubeError).message).toContain(
      `User "${cluster.restrictedUser}" cannot patch resource "customresourcedefinitions"`,
    );
    await expect(readManifests(restricted, release('gamma'))).rejects.toMatchObject({
      type: 'Forbidden',
      retryable: false,
    });
    // The same token through kubectl: the refusal is the server's, not ours.
    const can = await kubectl(
      cluster,
      ['auth', 'can-i', 'create', 'configmaps', '-n', 'gamma'],
      `${cluster.name}-restricted`,
    );
    expect(can.stdout.trim()).toBe('no');
    expect((await kubectl(cluster, ['get', 'namespace', 'delta'])).code).not.toBe(0);
  });

  it('a wrong token is Unauthorized, also non-retryable', async () => {
    const cluster = clusters[0];
    const client = createKubeClient({ server: cluster.server, caData: cluster.caData, token: 'not-a-token' });
    await expect(applyManifests(client, release('alpha'))).rejects.toMatchObject({
      type: 'Unauthorized',
      retryable: false,
      status: 401,
    });
  });

  it('a conflicting field owner is reported unless force is asked for', async () => {
    const cluster = clusters[0];
    const scaled = await kubectl(cluster, ['scale', '-n', 'alpha', 'deployment/alpha-web', '--replicas=5']);
    expect(scaled.code).toBe(0);
    // kubectl scale is an update, so the next apply conflicts only when it changes that value.
    const changed = release('alpha').replace('replicas: 2', 'replicas: 3');
    await expect(applyManifests(clients[0] as KubeClient, changed)).rejects.toMatchObject({
      type: 'Conflict',
      retryable: false,
      documentIndex: 0,
    });
    const forced = await applyManifests(clients[0] as KubeClient, changed, { force: true });
    expect(forced.find((a) => a.object.kind === 'Deployment')?.live.spec).toMatchObject({ replicas: 3 });
  });

  it('deletes in reverse order and tolerates what is already gone', async () => {
    const cluster = clusters[1];
    const deleted = await deleteManifests(clients[1] as KubeClient, release('beta'));
    expect(deleted.map((d) => [d.object.kind, d.existed])).toEqual([
      ['ConfigMap', true],
      ['Service', true],
      ['Widget', true],
      ['Deployment', true],
      ['Namespace', true],
      ['CustomResourceDefinition', true],
    ]);
    for (const [kind, name] of [
      ['deployment', 'beta-web'],
      ['service', 'beta-web'],
      ['configmap', 'beta-settings'],
    ] as const) {
      expect((await kubectl(cluster, ['get', '-n', 'beta', kind, name])).stderr).toContain('not found');
    }
    // No namespace controller runs here, so the namespace stays Terminating.
    const ns = await kubectlJson<Item>(cluster, ['get', 'namespace', 'beta']);
    expect(ns.metadata.deletionTimestamp).toBeDefined();
    // The CRD's finalizer (inside kube-apiserver) removes it a moment later.
    await eventually(async () =>
      expect((await kubectl(cluster, ['get', 'crd', 'widgets.beta.example.com'])).stderr).toContain(
        'not found',
      ),
    );

    const again = await deleteManifests(clients[1] as KubeClient, release('beta'));
    expect(again.map((d) => [d.object.kind, d.existed])).toEqual([
      ['ConfigMap', false],
      ['Service', false],
      ['Widget', false],
      ['Deployment', false],
      ['Namespace', true], // still Terminating
      ['CustomResourceDefinition', false],
    ]);
    // The other clusters keep their releases.
    expect(Object.keys(await releaseObjects(clusters[0], 'alpha'))).toHaveLength(6);
    expect(Object.keys(await releaseObjects(clusters[2], 'gamma'))).toHaveLength(6);
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
