import { access } from 'node:fs/promises';
import { providerFromKubeconfig, type DiscoveredCluster } from '../domain/clusters.ts';
import { KubeClient, kubeConfigFor } from './client.ts';

const VERSION_TIMEOUT_MS = 5_000;

/**
 * What a site can see through its kubeconfig: every context, its server endpoint and the
 * Kubernetes version it reports. Only descriptions leave this function — never a token,
 * certificate or the kubeconfig itself.
 */
export const discoverKubeconfigClusters = async (kubeconfigPath: string): Promise<DiscoveredCluster[]> => {
  // A missing file is an error, not "no clusters": an empty answer would mark every cluster
  // of the site vanished.
  await access(kubeconfigPath);
  const kc = kubeConfigFor({ kubeconfigPath });
  const contexts = kc.getContexts();
  return Promise.all(
    contexts.map(async (ctx): Promise<DiscoveredCluster> => {
      const server = kc.getCluster(ctx.cluster)?.server ?? null;
      const { provider, location } = providerFromKubeconfig(ctx.name, server);
      const base = { context: ctx.name, provider, location, endpoint: server };
      try {
        const client = new KubeClient(kubeConfigFor({ kubeconfigPath, context: ctx.name }), {
          timeoutMs: VERSION_TIMEOUT_MS,
        });
        const version = await client.request<{ gitVersion?: string }>({
          method: 'GET',
          path: '/version',
          action: 'read version',
        });
        return { ...base, kubernetesVersion: version.gitVersion ?? null, reachable: true, error: null };
      } catch (err) {
        return {
          ...base,
          kubernetesVersion: null,
          reachable: false,
          error: err instanceof Error ? err.message : String(err),
        };
      }
    }),
  );
};
