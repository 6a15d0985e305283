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

export type CloudName = 'eks' | 'gke' | 'aks';

export type CloudClusterStatus = 'creating' | 'ready' | 'updating' | 'deleting' | 'failed' | 'unknown';

export type Architecture = 'amd64' | 'arm64';

export interface Taint {
  key: string;
  value: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface NodePoolSpec {
  /** Unique within its cluster. */
  name: string;
  machineType: string;
  /** Total nodes (GKE counts per zone internally; the adapter converts). */
  count: number;
  autoscaling: { min: number; max: number } | null;
  labels: Record<string, string>;
  taints: Taint[];
  spot: boolean;
  diskGb: number;
  /** Zones the pool spans; empty = the cloud's default for the location. */
  zones: string[];
  /** AKS: a system pool (AKS requires at least one); ignored elsewhere. */
  system?: boolean;
}

export interface NodePool extends NodePoolSpec {
  status: CloudClusterStatus;
}

/** What each cloud requires besides the common spec; adapters validate what they need. */
export interface ProviderExtras {
  /** EKS: the cluster IAM role and at least two subnets in different zones. */
  eks?: { roleArn: string; subnetIds: string[]; nodeRoleArn: string };
  /** GKE: the project the cluster lives in (default: the adapter's project). */
  gke?: { project?: string; network?: string };
  /** AKS: the resource group (default: the adapter's). */
  aks?: { resourceGroup?: string; dnsPrefix?: string };
}

export interface ClusterSpec {
  name: string;
  /** Region (EKS, AKS, regional GKE) or zone (zonal GKE). */
  location: string;
  /** Kubernetes minor or patch version as the cloud names it, e.g. "1.33". */
  version: string;
  labels: Record<string, string>;
  nodePools: NodePoolSpec[];
  extras: ProviderExtras;
}

export interface CloudCluster {
  cloud: CloudName;
  name: string;
  location: string;
  version: string;
  status: CloudClusterStatus;
  /** https URL of the Kubernetes API; null until the cluster is ready. */
  endpoint: string | null;
  labels: Record<string, string>;
  nodePools: NodePool[];
  /** The cloud's own id (ARN, selfLink, ARM id). */
  providerId: string;
  createdAt: string | null;
}

export type OperationKind = 'create-cluster' | 'delete-cluster' | 'create-node-pool' | 'delete-node-pool';

/**
 * A long-running cloud operation, serializable into workflow history. `token` is opaque and
 * adapter-specific (a GKE operation name, an Azure poller state, an EKS resource to describe);
 * it never holds a credential.
 */
export interface CloudOperation {
  cloud: CloudName;
  kind: OperationKind;
  location: string;
  cluster: string;
  nodePool?: string;
  token: string;
  done: boolean;
  /** Set when done and failed: the cloud's own message. */
  error: string | null;
}

export interface MachineType {
  name: string;
  vcpu: number;
  memoryMiB: number;
  arch: Architecture;
  gpus: number;
  /** General purpose, compute, memory, GPU…; the translation prefers `general`. */
  family: 'general' | 'compute' | 'memory' | 'gpu' | 'burstable' | 'other';
  /** False for previous generations the cloud still sells. */
  current: boolean;
}

export interface Catalog {
  cloud: CloudName;
  /** Supported Kubernetes versions, newest first. */
  versions: string[];
  defaultVersion: string;
  regions: { name: string; zones: string[] }[];
  /** Machine types offered in the location asked for (or everywhere when none was). */
  machineTypes: MachineType[];
}

/** Short-lived access to a cluster's Kubernetes API: used inside the site, never stored. */
export interface ClusterAccess {
  server: string;
  caData: string;
  token: string;
  /** ISO time after which the token must be fetched again. */
  expiresAt: string;
}

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
