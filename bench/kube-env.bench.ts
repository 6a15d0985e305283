/**
 * Measures the kube test environment: drover-kube build time (warm always; cold with --cold,
 * which builds in empty Go caches and downloads every module again, several minutes), start
 * time for 3 and 10 API servers, and resident memory per server.
 *
 *   node bench/kube-env.bench.ts [--cold] [--sizes 3,10] [--settle-ms 10000]
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { buildKubeBinary, residentBytes, startKubeEnv } from '../sandbox/kube-env.ts';

const { values } = parseArgs({
  options: {
    cold: { type: 'boolean', default: false },
    sizes: { type: 'string', default: '3,10' },
    'settle-ms': { type: 'string', default: '10000' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const settleMs = Number(values['settle-ms']);
const run = promisify(execFile);
const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
const seconds = (ms: number) => (ms / 1000).toFixed(1);
const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);

const results: Record<string, unknown> = {};

if (values.cold) {
  // Separate caches, so the machine's own stay warm and the measurement stays cold.
  const scratch = await mkdtemp(join(tmpdir(), 'drover-kube-cold-'));
  const env = {
    ...process.env,
    GOCACHE: join(scratch, 'gocache'),
    GOMODCACHE: join(scratch, 'gomodcache'),
    DROVER_KUBE_CACHE_DIR: join(scratch, 'out'),
  };
  progress('cold build in empty Go caches (module download included); this takes minutes');
  const started = Date.now();
  await run(fileURLToPath(new URL('../tools/build-kube-testenv.sh', import.meta.url)), [], {
    env,
    maxBuffer: 64 * 2 ** 20,
  });
  results.coldBuildSeconds = Number(seconds(Date.now() - started));
  await run('go', ['clean', '-modcache'], { env }); // module files are read-only; rm alone fails
  await rm(scratch, { recursive: true, force: true });
}

{
  const started = Date.now();
  await buildKubeBinary();
  results.warmBuildMs = Date.now() - started;
}

for (const clusters of sizes) {
  const baseDir = await mkdtemp(join(tmpdir(), `drover-kube-bench-${clusters}-`));
  progress(`starting ${clusters} API servers`);
  const started = Date.now();
  const env = await startKubeEnv({ clusters, baseDir });
  const startSeconds = Number(seconds(Date.now() - started));
  const atReady = env.clusters.map((c) => residentBytes(c.pid));
  await new Promise((r) => setTimeout(r, settleMs));
  const settled = env.clusters.map((c) => residentBytes(c.pid));
  const etcd = residentBytes(env.etcd.pid);
  await env.stop({ removeData: true });
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  results[`start${clusters}`] = {
    startSeconds,
    apiServerRssMiBAtReady: { avg: mib(avg(atReady)), max: mib(Math.max(...atReady)) },
    [`apiServerRssMiBAfter${settleMs}ms`]: { avg: mib(avg(settled)), max: mib(Math.max(...settled)) },
    etcdRssMiB: mib(etcd),
    totalRssMiB: mib(settled.reduce((a, b) => a + b, 0) + etcd),
  };
}

process.stdout.write(JSON.stringify(results, null, 2) + '\n');
