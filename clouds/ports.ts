/**
 * The cloud seam: what drover needs from a managed-Kubernetes provider, in normalized types.
 * One adapter per cloud (`eks/`, `gke/`, `aks/`) implements it on the official SDK; provider
 * enums and shapes never leave the adapter. Adapters run in sub-managers only, where the
 * site's credentials live.
 *
 * Every method is idempotent and returns quickly: long work (create, delete) starts an
 * operation and returns a serializable `CloudOperation` that a workflow polls with durable
 * timers through `getOperation`. Errors are DroverErrors (domain/errors.ts) classified by the
 * adapter: NotFound, Conflict (already exists, or the cluster still has node pools), Invalid
 * (a spec the cloud rejects), Throttled (retry after `details.retryAfterMs`), Unavailable,
 * Unauthorized, Forbidden, and `quota` as Conflict with `details.reason = 'quota'`.
 */

import type {
  Catalog,
  CloudCluster,
  CloudName,
  CloudOperation,
  ClusterAccess,
  ClusterSpec,
  NodePoolSpec,
  ProviderExtras,
} from '../domain/clouds.ts';

export type {
  CloudName,
  CloudClusterStatus,
  Architecture,
  Taint,
  NodePoolSpec,
  NodePool,
  ProviderExtras,
  ClusterSpec,
  CloudCluster,
  OperationKind,
  CloudOperation,
  MachineType,
  Catalog,
  ClusterAccess,
} from '../domain/clouds.ts';

export interface CloudProvider {
  readonly cloud: CloudName;
  listClusters(location?: string): Promise<CloudCluster[]>;
  /** null when there is no such cluster. */
  describeCluster(location: string, name: string): Promise<CloudCluster | null>;
  /**
   * Starts creating the cluster, with its node pools inline where the cloud allows it (GKE,
   * AKS). EKS creates node groups separately: callers add every pool of the spec that
   * `describeCluster` does not show once the cluster is ready, which is right on every cloud.
   * Creating a cluster that exists with the same name fails with Conflict.
   */
  createCluster(spec: ClusterSpec): Promise<CloudOperation>;
  /** Deleting a cluster that is already gone returns a done operation, not an error. */
  deleteCluster(location: string, name: string): Promise<CloudOperation>;
  createNodePool(
    location: string,
    cluster: string,
    pool: NodePoolSpec,
    extras: ProviderExtras,
  ): Promise<CloudOperation>;
  deleteNodePool(location: string, cluster: string, pool: string): Promise<CloudOperation>;
  /** Polls once; never blocks until the operation finishes. */
  getOperation(operation: CloudOperation): Promise<CloudOperation>;
  catalog(location?: string): Promise<Catalog>;
  access(location: string, name: string): Promise<ClusterAccess>;
}
