/**
 * Real Kubernetes API servers for sandbox clusters: a ClusterBacking on the kube test
 * environment. Each sandbox cluster that becomes ready gets its own kube-apiserver on the
 * env's etcd, started empty, and loses it (data included) when the cluster is deleted.
 */
import { createHash } from 'node:crypto';
import type { KubeCluster, KubeEnv } from '../kube-env.ts';
import type { BackingAccess, ClusterBacking } from './core.ts';

/** A DNS label, what KubeEnv.addCluster accepts. */
const MAX_NAME_LENGTH = 63;

/**
 * The kube env cluster name for a sandbox key (`location/name`): `sb-` and the key with every
 * run of other characters than a-z0-9 turned into '-', so `us-east-1/my-cluster` gives
 * `sb-us-east-1-my-cluster`. When that is too long, or already `taken` (two keys can read the
 * same once '/' is a '-'), it is cut and ends in a hash of the key instead.
 */
export const backingClusterName = (key: string, taken: ReadonlySet<string> = new Set()): string => {
  const slug = key
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const readable = slug ? `sb-${slug}` : 'sb';
  if (readable.length <= MAX_NAME_LENGTH && !taken.has(readable)) return readable;
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 8);
  return `${readable.slice(0, MAX_NAME_LENGTH - hash.length - 1).replace(/-+$/, '')}-${hash}`;
};

/**
 * provision starts a fresh API server for the key and release removes it with its data.
 * Both are idempotent per key: SandboxCloud.settle may run concurrently for two requests and
 * provision the same cluster twice, and one started server must serve both.
 */
export const kubeEnvBacking = (env: KubeEnv): ClusterBacking => {
  const held = new Map<string, { name: string; started: Promise<KubeCluster> }>();

  const provision = async (key: string): Promise<BackingAccess> => {
    let entry = held.get(key);
    if (!entry) {
      const taken = new Set([...env.clusters.map((c) => c.name), ...[...held.values()].map((e) => e.name)]);
      const name = backingClusterName(key, taken);
      const started = env.addCluster(name, { fresh: true }).catch((err: unknown) => {
        // A failed start holds nothing; the next settle may try again.
        if (held.get(key) === entry) held.delete(key);
        throw err;
      });
      entry = { name, started };
      held.set(key, entry);
    }
    const cluster = await entry.started;
    return { server: cluster.server, caData: cluster.caData, token: cluster.adminToken };
  };

  const release = async (key: string): Promise<void> => {
    const entry = held.get(key);
    if (!entry) return;
    held.delete(key);
    try {
      await entry.started;
    } catch {
      return;
    }
    await env.removeCluster(entry.name, { removeData: true });
  };

  return { provision, release };
};
