/**
 * The three sandbox clouds together, as `make up` runs them and as end-to-end tests use them:
 * EKS, GKE and AKS stand-ins on their real wire protocols, each offered as one cloud account
 * (`sandbox-eks`, `sandbox-gke`, `sandbox-aks`). With `backing` on, clusters they create get
 * real kube-apiservers, started with the first cluster that becomes ready, that accept the
 * adapters' own tokens (through the sandbox token webhook), so what the sandbox creates can be
 * deployed to. State is in memory.
 */
import { join } from 'node:path';
import type { CloudAccountConfig } from '../../clouds/accounts.ts';
import type { CloudName } from '../../domain/clouds.ts';
import { startKubeEnv, type KubeEnv } from '../kube-env.ts';
import { startAksSandbox } from './aks.ts';
import { kubeEnvBacking } from './backing.ts';
import { SandboxCloud, type ClusterBacking } from './core.ts';
import { startEksSandbox } from './eks.ts';
import { startGkeSandbox } from './gke.ts';
import { startTokenWebhook } from './token-webhook.ts';

export type SandboxCloudsOptions = {
  /** Where certificates, the webhook's files and the backing API servers live. */
  dir: string;
  /** Which clouds to start; all three by default. */
  clouds?: readonly CloudName[];
  /** EKS listens on it, GKE on the next port, AKS on the one after; free ports when left out. */
  basePort?: number;
  /** How long a cluster takes to create; node pools and deletes take `nodePoolMs`/`deleteMs`. */
  createMs?: number;
  nodePoolMs?: number;
  deleteMs?: number;
  /** Give ready clusters real API servers (default true). */
  backing?: boolean;
  /** How the adapters poll the sandbox's operations. */
  polling?: { initialMs: number; maxMs: number };
  /** The GKE project, the AKS resource group and the names in the sandbox credentials. */
  name?: string;
  log?: (line: string) => void;
};

export type SandboxClouds = {
  /** One account per cloud started, in the form a sub-manager's clouds file holds. */
  accounts: CloudAccountConfig[];
  account: (cloud: CloudName) => CloudAccountConfig;
  engine: (cloud: CloudName) => SandboxCloud;
  /** The sandbox credentials the accounts hold: what a leak check looks for. */
  secrets: string[];
  /** Each cloud's address, for a log line. */
  endpoints: string;
  stop: () => Promise<void>;
};

const ALL: readonly CloudName[] = ['eks', 'gke', 'aks'];

/**
 * Backing for sandbox clusters: one kube env for every cloud's clusters behind the token
 * webhook, started when the first sandbox cluster becomes ready (an idle sandbox pays
 * nothing). Keys are prefixed by cloud: locations may repeat.
 */
const lazyBacking = async (
  dir: string,
  log: ((line: string) => void) | undefined,
  gkeToken: string,
  stops: (() => Promise<void>)[],
): Promise<(cloud: CloudName) => ClusterBacking> => {
  const webhook = await startTokenWebhook({ dir: join(dir, 'webhook'), tokens: [gkeToken] });
  stops.push(() => webhook.stop());
  let kube: Promise<KubeEnv> | undefined;
  let shared: Promise<ClusterBacking> | undefined;
  stops.push(async () => {
    await (await kube?.catch(() => undefined))?.stop({ removeData: true });
  });
  const sharedBacking = () =>
    (shared ??= (kube = startKubeEnv({
      clusters: 1,
      baseDir: join(dir, 'kube'),
      namePrefix: 'clouds',
      apiServerArgs: webhook.apiServerArgs(),
      ...(log ? { log: (line: string) => log(`kube-env: ${line}`) } : {}),
    }))
      .then(kubeEnvBacking)
      .catch((err: unknown) => {
        shared = undefined;
        kube = undefined;
        throw err;
      }));
  return (cloud) => ({
    provision: async (key) => (await sharedBacking()).provision(`${cloud}/${key}`),
    release: async (key) => (await sharedBacking()).release(`${cloud}/${key}`),
  });
};

export const startSandboxClouds = async (options: SandboxCloudsOptions): Promise<SandboxClouds> => {
  const wanted = new Set(options.clouds ?? ALL);
  const name = options.name ?? 'drover-sandbox';
  const createMs = options.createMs ?? 20_000;
  const polling = options.polling ?? { initialMs: 1_000, maxMs: 5_000 };
  const port = (offset: number) => (options.basePort ? options.basePort + offset : undefined);
  const gkeToken = `ya29.${name}`;
  const aksToken = `${name}-aks`;
  const awsSecret = `${name}-secret`;
  const stops: (() => Promise<void>)[] = [];
  // The clouds first, then the API servers behind them, then the webhook they call.
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };

  try {
    const backingFor =
      options.backing === false
        ? () => undefined
        : await lazyBacking(options.dir, options.log, gkeToken, stops);
    const engines = new Map<CloudName, SandboxCloud>();
    const engine = (cloud: CloudName) => {
      const backing = backingFor(cloud);
      const made = new SandboxCloud({
        createDelayMs: createMs,
        nodePoolDelayMs: options.nodePoolMs ?? createMs / 2,
        deleteDelayMs: options.deleteMs ?? createMs / 2,
        ...(backing ? { backing } : {}),
      });
      engines.set(cloud, made);
      return made;
    };
    const accounts: CloudAccountConfig[] = [];
    const endpoints: string[] = [];
    if (wanted.has('eks')) {
      const eks = await startEksSandbox({ cloud: engine('eks'), port: port(0), region: 'us-east-1' });
      stops.push(() => eks.stop());
      endpoints.push(`EKS ${eks.url} (${eks.region})`);
      accounts.push({
        name: 'sandbox-eks',
        cloud: 'eks',
        options: {
          region: eks.region,
          endpoint: eks.url,
          credentials: { accessKeyId: 'AKIDDROVERSANDBOX', secretAccessKey: awsSecret },
        },
        polling,
      });
    }
    if (wanted.has('gke')) {
      const gke = await startGkeSandbox({
        cloud: engine('gke'),
        port: port(1),
        certDir: join(options.dir, 'gke'),
        projects: [name],
        tokens: [gkeToken],
      });
      stops.push(() => gke.stop());
      endpoints.push(`GKE ${gke.endpoint}`);
      accounts.push({
        name: 'sandbox-gke',
        cloud: 'gke',
        options: { project: name, endpoint: gke.host, port: gke.port, ca: gke.ca, accessToken: gkeToken },
        polling,
      });
    }
    if (wanted.has('aks')) {
      const aks = await startAksSandbox({
        cloud: engine('aks'),
        port: port(2),
        certDir: join(options.dir, 'aks'),
        token: aksToken,
      });
      stops.push(() => aks.stop());
      endpoints.push(`AKS ${aks.url}`);
      accounts.push({
        name: 'sandbox-aks',
        cloud: 'aks',
        options: {
          subscriptionId: '00000000-0000-4000-8000-000000d20ee0',
          resourceGroup: name,
          endpoint: aks.url,
          ca: aks.ca,
          token: aksToken,
        },
        polling,
      });
    }
    const pick = <T>(map: Map<CloudName, T>, cloud: CloudName): T => {
      const found = map.get(cloud);
      if (found === undefined) throw new Error(`the sandbox ${cloud} was not started`);
      return found;
    };
    const byCloud = new Map(accounts.map((a) => [a.cloud, a]));
    return {
      accounts,
      account: (cloud) => pick(byCloud, cloud),
      engine: (cloud) => pick(engines, cloud),
      secrets: [gkeToken, aksToken, awsSecret],
      endpoints: endpoints.join(', '),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
};
