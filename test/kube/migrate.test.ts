/**
 * Workload migration between two real kube-apiservers: export from the source (stripped,
 * mapped), import into the target by server-side apply. kubectl, which shares no code with
 * kube/, says what is on each cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DroverError } from '../../domain/errors.ts';
import {
  defaultMappings,
  planWorkloads,
  prepareForMigration,
  WorkloadRequest,
} from '../../domain/workload-migration.ts';
import { applyManifests } from '../../kube/apply.ts';
import { createKubeClient, type KubeClient } from '../../kube/client.ts';
import { exportWorkloads, importWorkloads } from '../../kube/migrate.ts';
import { startKubeEnv, type KubeCluster, type KubeEnv } from '../../sandbox/kube-env.ts';

const run = promisify(execFile);

const WORKLOADS = `
apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { team: payments } }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: shop-config, namespace: shop, labels: { app: shop } }
data: { mode: live }
---
apiVersion: v1
kind: Secret
metadata: { name: shop-db, namespace: shop, labels: { app: shop } }
stringData: { password: s3cret }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop, labels: { app: shop } }
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
  labels: { app: shop }
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-internal: "true"
    service.beta.kubernetes.io/aws-load-balancer-type: nlb
    team.example.com/owner: payments
spec:
  clusterIP: 10.96.7.7
  selector: { app: web }
  ports: [{ port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: data, namespace: shop, labels: { app: shop } }
spec:
  storageClassName: gp2
  accessModes: [ReadWriteOnce]
  resources: { requests: { storage: 1Gi } }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
  labels: { app: shop }
  annotations: { alb.ingress.kubernetes.io/scheme: internet-facing }
spec:
  ingressClassName: alb
  defaultBackend: { service: { name: web, port: { number: 80 } } }
---
apiVersion: v1
kind: Namespace
metadata: { name: other }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: tagged, namespace: other, labels: { migrate: "yes" } }
data: { a: "1" }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: untagged, namespace: other }
data: { b: "2" }
`;

let env: KubeEnv;
let source: KubeCluster;
let target: KubeCluster;
let sourceClient: KubeClient;
let targetClient: KubeClient;

type Json = {
  metadata: {
    uid: string;
    annotations?: Record<string, string>;
    managedFields?: { manager: string }[];
    labels?: Record<string, string>;
  };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};

const kubectl = async (cluster: KubeCluster, args: string[]): Promise<{ code: number; stdout: string }> => {
  try {
    const { stdout } = await run(env.binary, [
      'kubectl',
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--context',
      cluster.name,
      ...args,
    ]);
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '' };
  }
};
const get = async (cluster: KubeCluster, args: string[]): Promise<Json> => {
  const r = await kubectl(cluster, ['get', ...args, '-o', 'json', '--show-managed-fields']);
  if (r.code !== 0) throw new Error(`kubectl get ${args.join(' ')} failed`);
  return JSON.parse(r.stdout) as Json;
};
const exists = async (cluster: KubeCluster, args: string[]) =>
  (await kubectl(cluster, ['get', ...args])).code === 0;

beforeAll(async () => {
  const base = await mkdtemp(join(tmpdir(), 'drover-kube-migrate-'));
  env = await startKubeEnv({ clusters: 2, baseDir: base, namePrefix: 'migrate' });
  [source, target] = env.clusters as [KubeCluster, KubeCluster];
  sourceClient = createKubeClient({ kubeconfigPath: source.kubeconfigPath, context: source.name });
  targetClient = createKubeClient({ server: target.server, caData: target.caData, token: target.adminToken });
  // As a person would have made them: client-side kubectl (last-applied annotation and all).
  await applyManifests(sourceClient, WORKLOADS, { fieldManager: 'kubectl-client-side-apply' });
  const annotate = await kubectl(source, [
    'annotate',
    '-n',
    'shop',
    'configmap',
    'shop-config',
    'kubectl.kubernetes.io/last-applied-configuration={"x":1}',
  ]);
  expect(annotate.code).toBe(0);
}, 120_000);

afterAll(async () => {
  await env?.stop({ removeData: true });
}, 60_000);

describe('workload migration between two API servers', () => {
  it('exports a namespace stripped and mapped, and the target gets it by server-side apply', async () => {
    const plan = planWorkloads(WorkloadRequest.parse({ namespaces: ['shop'] }), 'eks', 'gke');
    const exported = await exportWorkloads(sourceClient, plan);
    expect(exported.report.byKind).toEqual({
      Namespace: 1,
      ConfigMap: 1,
      PersistentVolumeClaim: 1,
      Service: 1,
      Deployment: 1,
      Ingress: 1,
    });
    // Secrets stay behind unless asked for; the API server's own objects always do.
    const names = exported.objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(names).not.toContain('Secret/shop-db');
    expect(names).not.toContain('ConfigMap/kube-root-ca.crt');
    expect(names).not.toContain('ServiceAccount/default');
    expect(names[0]).toBe('Namespace/shop');
    const text = JSON.stringify(exported.objects);
    for (const stripped of [
      '"uid"',
      '"resourceVersion"',
      '"managedFields"',
      '"creationTimestamp"',
      '"status"',
      '"clusterIP"',
      '"clusterIPs"',
      'last-applied-configuration',
      '"generation"',
      'kubernetes.io/metadata.name',
    ])
      expect(text).not.toContain(stripped);
    expect(exported.report.notes).toEqual(
      expect.arrayContaining([
        'PersistentVolumeClaim shop/data: storage class gp2 → standard-rwo',
        'Ingress shop/web: ingress class alb → gce',
        'Ingress shop/web: annotation alb.ingress.kubernetes.io/scheme dropped',
        'Service shop/web: annotation service.beta.kubernetes.io/aws-load-balancer-internal → networking.gke.io/load-balancer-type=Internal',
        'Service shop/web: annotation service.beta.kubernetes.io/aws-load-balancer-type dropped',
      ]),
    );

    const result = await importWorkloads(targetClient, exported.objects);
    expect(result.applied).toBe(exported.objects.length);

    const [srcService, service] = await Promise.all([
      get(source, ['-n', 'shop', 'service', 'web']),
      get(target, ['-n', 'shop', 'service', 'web']),
    ]);
    expect(service.metadata.uid).not.toBe(srcService.metadata.uid);
    // The target allocated its own address; the source's was not carried over.
    expect(srcService.spec?.clusterIP).toBe('10.96.7.7');
    expect(service.spec?.clusterIP).not.toBe('10.96.7.7');
    expect(service.metadata.annotations).toEqual({
      'networking.gke.io/load-balancer-type': 'Internal',
      'team.example.com/owner': 'payments',
    });
    expect((await get(target, ['-n', 'shop', 'pvc', 'data'])).spec?.storageClassName).toBe('standard-rwo');
    expect((await get(target, ['-n', 'shop', 'ingress', 'web'])).spec?.ingressClassName).toBe('gce');
    const config = await get(target, ['-n', 'shop', 'configmap', 'shop-config']);
    expect(config.data).toEqual({ mode: 'live' });
    expect(config.metadata.annotations).toBeUndefined();
    expect(config.metadata.managedFields?.map((m) => m.manager)).toEqual(['drover']);
    expect((await get(target, ['namespace', 'shop'])).metadata.labels).toMatchObject({ team: 'payments' });
    expect(await exists(target, ['-n', 'shop', 'deployment', 'web'])).toBe(true);
    expect(await exists(target, ['-n', 'shop', 'secret', 'shop-db'])).toBe(false);

    // Again: the same objects, nothing new.
    expect((await importWorkloads(targetClient, exported.objects)).applied).toBe(exported.objects.length);
  }, 60_000);

  it('takes what a selector picks from every namespace but the system ones, secrets when asked', async () => {
    const plan = planWorkloads(
      WorkloadRequest.parse({ selector: 'migrate=yes,app!=shop', includeSecrets: true }),
      'eks',
      'aks',
    );
    const exported = await exportWorkloads(sourceClient, plan);
    expect(exported.objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`)).toEqual(
      ['Namespace//other', 'ConfigMap/other/tagged'],
    );
    const withSecrets = await exportWorkloads(
      sourceClient,
      planWorkloads(WorkloadRequest.parse({ selector: 'app=shop', includeSecrets: true }), 'eks', 'aks'),
    );
    expect(withSecrets.objects.map((o) => o.kind)).toContain('Secret');
  }, 60_000);

  it('refuses an export over the size cap, naming what to narrow', async () => {
    const plan = planWorkloads(WorkloadRequest.parse({ namespaces: ['shop'] }), 'eks', 'gke');
    const err = await exportWorkloads(sourceClient, plan, { maxBytes: 1024 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DroverError);
    expect(err).toMatchObject({ type: 'BadInput', field: 'workloads' });
    expect((err as Error).message).toMatch(/KiB once stripped, over the 1 KiB a clone carries between sites/);
    const missing = await exportWorkloads(
      sourceClient,
      planWorkloads(WorkloadRequest.parse({ namespaces: ['nope'] }), 'eks', 'gke'),
    ).catch((e: unknown) => e);
    expect(missing).toMatchObject({ type: 'BadInput', field: 'workloads.namespaces' });
  }, 60_000);
});

describe('preparing one object', () => {
  it('maps storage classes inside StatefulSet claim templates and strips pod template timestamps', () => {
    const { object, notes } = prepareForMigration(
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'db', namespace: 'shop', uid: 'u', ownerReferences: [{ uid: 'x' }] },
        spec: {
          template: { metadata: { creationTimestamp: null, labels: { app: 'db' } } },
          volumeClaimTemplates: [
            {
              metadata: { name: 'data' },
              spec: { storageClassName: 'managed-csi' },
              status: { phase: 'Pending' },
            },
          ],
        },
        status: { replicas: 1 },
      },
      defaultMappings('aks', 'eks'),
    );
    expect(object).toEqual({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: 'shop' },
      spec: {
        template: { metadata: { labels: { app: 'db' } } },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { storageClassName: 'gp3' } }],
      },
    });
    expect(notes).toEqual(['storage class managed-csi → gp3']);
  });
});
