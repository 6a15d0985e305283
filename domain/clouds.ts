import { z } from 'zod';

/**
 * The normalized model of managed Kubernetes clusters that the cloud seam (clouds/ports.ts)
 * speaks, and that workflows, plans and API schemas share. Pure types: no cloud's enums or
 * shapes appear here; adapters translate to and from them.
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

/** How often a cloud account's long operations are worth polling. */
export const PollingPolicy = z.object({
  /** First wait after starting an operation. */
  initialMs: z.number().int().min(10).max(600_000),
  /** Waits grow by half each poll up to this. */
  maxMs: z.number().int().min(10).max(600_000),
});
export type PollingPolicy = z.infer<typeof PollingPolicy>;

/** Real clouds take minutes to create a cluster: no point asking every second. */
export const DEFAULT_POLLING: PollingPolicy = { initialMs: 5_000, maxMs: 60_000 };
