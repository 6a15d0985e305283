/**
 * Starts etcd and N real API servers, prints one JSON line describing them on stdout, and
 * keeps them up until SIGINT/SIGTERM. Used by `make up` and for poking at clusters by hand:
 *
 *   node sandbox/kube-env-cli.ts --clusters 3 --dir .drover/kube
 *   kubectl --kubeconfig .drover/kube/kubeconfig.yaml get ns   # or: .tools/bin/drover-kube kubectl …
 *
 * Progress goes to stderr so stdout stays machine-readable.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../runtime/logger.ts';
import { onShutdown } from '../runtime/shutdown.ts';
import { startKubeEnv } from './kube-env.ts';

const { values } = parseArgs({
  options: {
    clusters: { type: 'string', default: '3' },
    dir: { type: 'string', default: '.drover/kube' },
    'base-port': { type: 'string' },
    prefix: { type: 'string', default: 'cluster' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  process.stdout.write('usage: kube-env-cli [--clusters N] [--dir DIR] [--base-port PORT] [--prefix NAME]\n');
  process.exit(0);
}

const clusters = Number(values.clusters);
const basePort = values['base-port'] === undefined ? undefined : Number(values['base-port']);
if (!Number.isInteger(clusters) || clusters < 1 || (basePort !== undefined && !Number.isInteger(basePort))) {
  process.stderr.write('kube-env-cli: --clusters and --base-port take whole numbers\n');
  process.exit(2);
}

const started = Date.now();
const env = await startKubeEnv({
  clusters,
  baseDir: values.dir,
  basePort,
  namePrefix: values.prefix,
  log: (line) => process.stderr.write(`kube-env: ${line}\n`),
});
// Info-level lines would land on stdout after the JSON; only problems are worth printing.
onShutdown(createLogger('kube-env', 'warn'), () => env.stop());
process.stdout.write(
  JSON.stringify({
    startedInMs: Date.now() - started,
    baseDir: env.baseDir,
    kubeconfigPath: env.kubeconfigPath,
    etcd: env.etcd,
    clusters: env.clusters.map(({ kubeconfig: _k, caData: _c, ...rest }) => rest),
  }) + '\n',
);
process.stderr.write(`kube-env: ${env.clusters.length} API servers up; Ctrl-C stops them\n`);
// Signal handlers alone do not keep Node's event loop alive, and the children are unref'd.
setInterval(() => {}, 1 << 30);
