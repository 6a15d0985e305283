/**
 * The sandbox clouds of `make up`: EKS, GKE and AKS stand-ins on fixed local ports, and the
 * clouds file that offers them to a site's sub-manager as three accounts (`sandbox-eks`,
 * `sandbox-gke`, `sandbox-aks`). Clusters they create get real kube-apiservers, started on
 * first use, that accept the adapters' own tokens (through the sandbox token webhook), so what
 * the sandbox creates can be deployed to. State is in memory: a restart forgets the clusters
 * (discovery then marks them vanished).
 *
 *   node sandbox/clouds/main.ts --dir .drover/sandbox/clouds --clouds-file .drover/sandbox/clouds/clouds.json
 *
 * Prints `sandbox clouds up` once serving; SIGINT/SIGTERM stops everything.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../../runtime/logger.ts';
import { onShutdown } from '../../runtime/shutdown.ts';
import { startSandboxClouds } from './fleet.ts';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: '.drover/sandbox/clouds' },
    'clouds-file': { type: 'string' },
    'base-port': { type: 'string', default: '16480' },
    'create-seconds': { type: 'string', default: '20' },
    backing: { type: 'boolean', default: true },
  },
});

const dir = resolve(values.dir);
const cloudsFile = resolve(values['clouds-file'] ?? join(dir, 'clouds.json'));
await mkdir(dir, { recursive: true });
const log = (line: string) => process.stderr.write(`sandbox-clouds: ${line}\n`);

const clouds = await startSandboxClouds({
  dir,
  basePort: Number(values['base-port']),
  createMs: Number(values['create-seconds']) * 1000,
  backing: values.backing,
  log,
});
// Sandbox credentials only, but credentials all the same: readable by this user alone.
await writeFile(cloudsFile, `${JSON.stringify(clouds.accounts, null, 2)}\n`, { mode: 0o600 });

onShutdown(createLogger('sandbox-clouds', 'warn'), clouds.stop);
log(`${clouds.endpoints}; accounts in ${cloudsFile}`);
process.stdout.write('sandbox clouds up\n');
// Signal handlers alone do not keep Node's event loop alive.
setInterval(() => {}, 1 << 30);
