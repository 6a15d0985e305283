/**
 * Drift detection and repair on a real kube-apiserver. The changes behind drover's back are
 * made with kubectl (drover-kube kubectl), which shares no code with kube/.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseManifests, type Manifest } from '../../kube/apply.ts';
import { createKubeClient, type KubeClient } from '../../kube/client.ts';
import { deployToCluster } from '../../kube/deploy.ts';
import { checkAndRepairDrift, detectDrift, diffValues } from '../../kube/drift.ts';
import { startKubeEnv, type KubeCluster, type KubeEnv } from '../../sandbox/kube-env.ts';

const run = promisify(execFile);
const RELEASE_ID = 'rel-0123456789abcdef0123';

const RELEASE = `
apiVersion: v1
kind: Namespace
metadata: { name: drift }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: drift, labels: { tier: web } }
data: { color: blue, size: large }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: drift }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: registry.example/web:1.0
          resources: { limits: { cpu: "0.5", memory: 256Mi } }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: drift }
spec:
  selector: { app: web }
  ports: [{ port: 80, targetPort: 8080 }]
`;

let env: KubeEnv;
let cluster: KubeCluster;
let client: KubeClient;
let manifests: Manifest[];

const kubectl = async (args: string[]): Promise<string> => {
  const { stdout } = await run(env.binary, [
    'kubectl',
    '--kubeconfig',
    cluster.kubeconfigPath,
    '--context',
    cluster.name,
    ...args,
  ]);
  return stdout;
};

beforeAll(async () => {
  const base = await mkdtemp(join(tmpdir(), 'drover-kube-drift-'));
  env = await startKubeEnv({ clusters: 1, baseDir: base, namePrefix: 'drift' });
  cluster = env.clusters[0] as KubeCluster;
  client = createKubeClient({ kubeconfigPath: cluster.kubeconfigPath, context: cluster.name });
  manifests = parseManifests(RELEASE);
  await deployToCluster(client, manifests, { releaseId: RELEASE_ID });
}, 240_000);

afterAll(async () => {
  await env?.stop({ removeData: true });
}, 60_000);

describe('diffValues', () => {
  it('names each differing leaf, quoting keys that are no identifiers', () => {
    expect(
      diffValues(
        { metadata: { labels: { 'app.kubernetes.io/name': 'a', keep: 'x' } }, spec: { list: [1, 2], n: 1 } },
        { metadata: { labels: { 'app.kubernetes.io/name': 'b', keep: 'x' } }, spec: { list: [1, 3], n: 1 } },
      ),
    ).toEqual([
      { path: 'metadata.labels["app.kubernetes.io/name"]', live: '"a"', desired: '"b"' },
      { path: 'spec.list[1]', live: '2', desired: '3' },
    ]);
    expect(diffValues({ a: [1] }, { a: [1, 2] })).toEqual([{ path: 'a', live: '[1]', desired: '[1,2]' }]);
    expect(diffValues({}, { a: 1 })).toEqual([{ path: 'a', live: '(absent)', desired: '1' }]);
  });
});

describe('on a real API server', () => {
  it('finds nothing right after the deploy: defaulting and quantity forms are no drift', async () => {
    const found = await detectDrift(client, manifests, { releaseId: RELEASE_ID });
    expect(found).toEqual({ checked: 4, objects: [] });
  });

  it('ignores what other managers add, such as a label of their own', async () => {
    await kubectl(['label', 'configmap', 'settings', '-n', 'drift', 'owner=ops']);
    expect((await detectDrift(client, manifests, { releaseId: RELEASE_ID })).objects).toEqual([]);
  });

  it('reports fields changed or removed behind its back, and objects deleted, per object and field', async () => {
    await kubectl([
      'patch',
      'configmap',
      'settings',
      '-n',
      'drift',
      '--type=merge',
      '-p',
      '{"data":{"color":"red"}}',
    ]);
    await kubectl(['label', 'configmap', 'settings', '-n', 'drift', 'tier-']);
    await kubectl(['scale', 'deployment', 'web', '-n', 'drift', '--replicas=5']);
    await kubectl(['delete', 'service', 'web', '-n', 'drift']);

    const check = await checkAndRepairDrift(client, manifests, { releaseId: RELEASE_ID, repair: false });
    expect(check.status).toBe('drifted');
    expect(check.checked).toBe(4);
    const byKind = Object.fromEntries(check.objects.map((o) => [o.kind, o]));
    expect(byKind.ConfigMap).toMatchObject({
      namespace: 'drift',
      name: 'settings',
      state: 'drifted',
      fields: expect.arrayContaining([
        { path: 'data.color', live: '"red"', desired: '"blue"' },
        { path: 'metadata.labels.tier', live: '(absent)', desired: '"web"' },
      ]) as unknown,
    });
    expect(byKind.Deployment?.fields).toEqual([{ path: 'spec.replicas', live: '5', desired: '2' }]);
    expect(byKind.Service).toMatchObject({ name: 'web', state: 'missing' });
    expect(byKind.Namespace).toBeUndefined();
    // Reporting changed nothing.
    expect(
      await kubectl(['get', 'configmap', 'settings', '-n', 'drift', '-o', 'jsonpath={.data.color}']),
    ).toBe('red');
  });

  it('repairs under `repair`: the cluster holds the release again and a new check is clean', async () => {
    const check = await checkAndRepairDrift(client, manifests, { releaseId: RELEASE_ID, repair: true });
    expect(check.status).toBe('repaired');
    expect(check.objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Service']);
    expect(
      await kubectl(['get', 'configmap', 'settings', '-n', 'drift', '-o', 'jsonpath={.data.color}']),
    ).toBe('blue');
    expect(
      await kubectl(['get', 'deployment', 'web', '-n', 'drift', '-o', 'jsonpath={.spec.replicas}']),
    ).toBe('2');
    expect(await kubectl(['get', 'service', 'web', '-n', 'drift', '-o', 'name'])).toBe('service/web\n');
    // The other manager's label survives the repair.
    expect(
      await kubectl([
        'get',
        'configmap',
        'settings',
        '-n',
        'drift',
        '-o',
        'jsonpath={.metadata.labels.owner}',
      ]),
    ).toBe('ops');
    expect(await checkAndRepairDrift(client, manifests, { releaseId: RELEASE_ID, repair: false })).toEqual({
      status: 'in-sync',
      checked: 4,
      objects: [],
      error: null,
    });
  });

  it('names the fields of a Secret that drifted but never their values', async () => {
    const secretRelease = parseManifests(`
apiVersion: v1
kind: Secret
metadata: { name: db, namespace: drift }
stringData: { password: hunter2-original }
`);
    await deployToCluster(client, secretRelease, { releaseId: RELEASE_ID });
    const changed = Buffer.from('hunter2-changed').toString('base64');
    await kubectl([
      'patch',
      'secret',
      'db',
      '-n',
      'drift',
      '--type=merge',
      '-p',
      `{"data":{"password":"${changed}"}}`,
    ]);
    const check = await checkAndRepairDrift(client, secretRelease, { releaseId: RELEASE_ID, repair: false });
    expect(check.status).toBe('drifted');
    expect(check.objects[0]?.fields).toEqual([
      { path: 'data.password', live: '(secret value hidden)', desired: '(secret value hidden)' },
    ]);
    const text = JSON.stringify(check);
    for (const secret of [changed, Buffer.from('hunter2-original').toString('base64'), 'hunter2'])
      expect(text).not.toContain(secret);
  });
});
