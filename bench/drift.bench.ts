/**
 * Measures a drift check and a repair on one real API server: a release of N ConfigMaps and a
 * Deployment is deployed, then checked (median of several rounds) while in sync and after M
 * objects were changed behind drover's back, and repaired.
 *
 *   node bench/drift.bench.ts [--objects 50] [--changed 10] [--rounds 5]
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { parseManifests } from '../kube/apply.ts';
import { createKubeClient } from '../kube/client.ts';
import { deployToCluster } from '../kube/deploy.ts';
import { checkAndRepairDrift, detectDrift } from '../kube/drift.ts';
import { startKubeEnv } from '../sandbox/kube-env.ts';

const { values } = parseArgs({
  options: {
    objects: { type: 'string', default: '50' },
    changed: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '5' },
  },
});
const objects = Number(values.objects);
const changed = Math.min(objects, Number(values.changed));
const rounds = Number(values.rounds);
const run = promisify(execFile);

const release = [
  'apiVersion: v1\nkind: Namespace\nmetadata: { name: bench-drift }',
  ...Array.from(
    { length: objects },
    (_, i) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cm-${i}, namespace: bench-drift }\ndata: { color: blue, index: "${i}" }`,
  ),
  'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web, namespace: bench-drift }\nspec:\n  replicas: 2\n  selector: { matchLabels: { app: web } }\n  template:\n    metadata: { labels: { app: web } }\n    spec: { containers: [{ name: web, image: registry.example/web:1.0 }] }',
].join('\n---\n');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const time = async <T>(work: () => Promise<T>): Promise<[number, T]> => {
  const start = performance.now();
  const result = await work();
  return [performance.now() - start, result];
};

const base = await mkdtemp(join(tmpdir(), 'drover-drift-bench-'));
const env = await startKubeEnv({ clusters: 1, baseDir: base, namePrefix: 'driftb' });
try {
  const cluster = env.clusters[0];
  if (!cluster) throw new Error('no cluster');
  const client = createKubeClient({ kubeconfigPath: cluster.kubeconfigPath, context: cluster.name });
  const manifests = parseManifests(release);
  const releaseId = 'rel-00000000000000000bench';
  await deployToCluster(client, manifests, { releaseId });
  const kubectl = (args: string[]) =>
    run(env.binary, ['kubectl', '--kubeconfig', cluster.kubeconfigPath, '--context', cluster.name, ...args]);

  const inSync: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const [ms, found] = await time(() => detectDrift(client, manifests, { releaseId }));
    if (found.objects.length !== 0) throw new Error('drift right after the deploy');
    inSync.push(ms);
  }
  const drifted: number[] = [];
  const repaired: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < changed; i++) {
      await kubectl([
        'patch',
        'configmap',
        `cm-${i}`,
        '-n',
        'bench-drift',
        '--type=merge',
        '-p',
        '{"data":{"color":"red"}}',
      ]);
    }
    const [msCheck, found] = await time(() => detectDrift(client, manifests, { releaseId }));
    if (found.objects.length !== changed)
      throw new Error(`found ${found.objects.length}, changed ${changed}`);
    drifted.push(msCheck);
    const [msRepair, check] = await time(() =>
      checkAndRepairDrift(client, manifests, { releaseId, repair: true }),
    );
    if (check.status !== 'repaired') throw new Error(`repair ended ${check.status}`);
    repaired.push(msRepair);
  }
  console.log(
    JSON.stringify(
      {
        objects: manifests.length,
        changed,
        rounds,
        checkInSyncMs: Math.round(median(inSync)),
        checkWithDriftMs: Math.round(median(drifted)),
        repairAndRecheckMs: Math.round(median(repaired)),
      },
      null,
      2,
    ),
  );
} finally {
  await env.stop({ removeData: true });
  await rm(base, { recursive: true, force: true });
}
