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
import type { CloudAccountConfig } from '../../clouds/accounts.ts';
import { createLogger } from '../../runtime/logger.ts';
import { onShutdown } from '../../runtime/shutdown.ts';
import { startKubeEnv, type KubeEnv } from '../kube-env.ts';
import { startAksSandbox } from './aks.ts';
import { kubeEnvBacking } from './backing.ts';
import { SandboxCloud, type ClusterBacking } from './core.ts';
import { startEksSandbox } from './eks.ts';
import { startGkeSandbox } from './gke.ts';
import { startTokenWebhook } from './token-webhook.ts';

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
const basePort = Number(values['base-port']);
const createMs = Number(values['create-seconds']) * 1000;
await mkdir(dir, { recursive: true });
const log = (line: string) => process.stderr.write(`sandbox-clouds: ${line}\n`);

const gkeToken = 'ya29.drover-sandbox';
const aksToken = 'drover-sandbox-aks';
const webhook = await startTokenWebhook({ dir: join(dir, 'webhook'), tokens: [gkeToken] });

/**
 * One kube env for every cloud's clusters, started when the first sandbox cluster becomes
 * ready (an idle `make up` pays nothing). Keys are prefixed by cloud: locations may repeat.
 */
let kube: Promise<KubeEnv> | undefined;
let shared: Promise<ClusterBacking> | undefined;
const sharedBacking = () =>
  (shared ??= (kube = startKubeEnv({
    clusters: 1,
    baseDir: join(dir, 'kube'),
    namePrefix: 'clouds',
    apiServerArgs: webhook.apiServerArgs(),
    log: (line) => log(`kube-env: ${line}`),
  }))
    .then(kubeEnvBacking)
    .catch((err: unknown) => {
      shared = undefined;
      kube = undefined;
      throw err;
    }));
const backingFor = (cloud: string): ClusterBacking => ({
  provision: async (key) => (await sharedBacking()).provision(`${cloud}/${key}`),
  release: async (key) => (await sharedBacking()).release(`${cloud}/${key}`),
});
const engine = (cloud: string) =>
  new SandboxCloud({
    createDelayMs: createMs,
    nodePoolDelayMs: createMs / 2,
    deleteDelayMs: createMs / 2,
    ...(values.backing ? { backing: backingFor(cloud) } : {}),
  });

// The sandboxes finish in seconds: poll every second or two, not every minute.
const polling = { initialMs: 1_000, maxMs: 5_000 };
const eks = await startEksSandbox({ cloud: engine('eks'), port: basePort, region: 'us-east-1' });
const gke = await startGkeSandbox({
  cloud: engine('gke'),
  port: basePort + 1,
  certDir: join(dir, 'gke'),
  projects: ['drover-sandbox'],
  tokens: [gkeToken],
});
const aks = await startAksSandbox({
  cloud: engine('aks'),
  port: basePort + 2,
  certDir: join(dir, 'aks'),
  token: aksToken,
});

const accounts: CloudAccountConfig[] = [
  {
    name: 'sandbox-eks',
    cloud: 'eks',
    options: {
      region: eks.region,
      endpoint: eks.url,
      credentials: { accessKeyId: 'AKIDDROVERSANDBOX', secretAccessKey: 'drover-sandbox-secret' },
    },
    polling,
  },
  {
    name: 'sandbox-gke',
    cloud: 'gke',
    options: {
      project: 'drover-sandbox',
      endpoint: gke.host,
      port: gke.port,
      ca: gke.ca,
      accessToken: gkeToken,
    },
    polling,
  },
  {
    name: 'sandbox-aks',
    cloud: 'aks',
    options: {
      subscriptionId: '00000000-0000-4000-8000-000000d20ee0',
      resourceGroup: 'drover-sandbox',
      endpoint: aks.url,
      ca: aks.ca,
      token: aksToken,
    },
    polling,
  },
];
// Sandbox credentials only, but credentials all the same: readable by this user alone.
await writeFile(cloudsFile, `${JSON.stringify(accounts, null, 2)}\n`, { mode: 0o600 });

onShutdown(createLogger('sandbox-clouds', 'warn'), async () => {
  await Promise.allSettled([eks.stop(), gke.stop(), aks.stop(), webhook.stop()]);
  await (await kube?.catch(() => undefined))?.stop();
});
log(`EKS ${eks.url} (us-east-1), GKE ${gke.endpoint}, AKS ${aks.url}; accounts in ${cloudsFile}`);
process.stdout.write('sandbox clouds up\n');
// Signal handlers alone do not keep Node's event loop alive.
setInterval(() => {}, 1 << 30);
