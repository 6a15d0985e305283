/**
 * Sandbox GKE: a gRPC server (TLS, the sandbox certificate) implementing
 * google.container.v1.ClusterManager from the protos shipped with @google-cloud/container,
 * backed by the SandboxCloud state machine. It speaks what the official client speaks: v1
 * resource names (`projects/{p}/locations/{l}/clusters/{c}[/nodePools/{np}]`, operations
 * `projects/{p}/locations/{l}/operations/{op}`, legacy projectId/zone fields too), GKE
 * Operation objects whose status follows the resource they act on, and errors as gRPC status
 * codes with a google.rpc.Status in `grpc-status-details-bin` (ErrorInfo, and RetryInfo when
 * throttling, QuotaFailure for quota) the way Google's front ends send them.
 *
 * Served: ListClusters, GetCluster, CreateCluster, DeleteCluster, ListNodePools, GetNodePool,
 * CreateNodePool, DeleteNodePool, GetOperation, ListOperations, GetServerConfig. Every other
 * method answers UNIMPLEMENTED.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { protos } from '@google-cloud/container';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  SandboxError,
  type SandboxCloud,
  type SandboxCluster,
  type SandboxNodePool,
  type SandboxOp,
  type SandboxStatus,
} from './core.ts';
import { servingCert } from './tls.ts';

type V1 = typeof protos.google.container.v1;
type ICluster = protos.google.container.v1.ICluster;
type INodePool = protos.google.container.v1.INodePool;
type INodeConfig = protos.google.container.v1.INodeConfig;
type IOperation = protos.google.container.v1.IOperation;
type IServerConfig = protos.google.container.v1.IServerConfig;
type OperationType = keyof V1['Operation']['Type'];

/**
 * What GetServerConfig serves: GKE patch versions as GKE names them, newest first, and the
 * REGULAR channel's default. A snapshot in the shape of the real answer.
 */
export const GKE_SERVER_CONFIG = {
  defaultClusterVersion: '1.33.5-gke.1308000',
  validMasterVersions: [
    '1.34.1-gke.1829001',
    '1.34.0-gke.2201000',
    '1.33.5-gke.1308000',
    '1.33.4-gke.1350000',
    '1.32.9-gke.1108000',
    '1.32.8-gke.1134000',
    '1.31.13-gke.1023000',
    '1.31.12-gke.1265000',
  ],
  channels: { RAPID: '1.34.1-gke.1829001', REGULAR: '1.33.5-gke.1308000', STABLE: '1.32.9-gke.1108000' },
} as const;

/** Zones GKE picks for a regional cluster that names none (the real ones where known). */
const DEFAULT_ZONES: Record<string, string[]> = {
  'us-central1': ['us-central1-a', 'us-central1-b', 'us-central1-c'],
  'us-east1': ['us-east1-b', 'us-east1-c', 'us-east1-d'],
  'europe-west1': ['europe-west1-b', 'europe-west1-c', 'europe-west1-d'],
};

const API = 'https://container.googleapis.com/v1';
const NAME_RE = /^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/;
const LABEL_KEY_RE = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE_RE = /^[a-z0-9_-]{0,63}$/;
const REGION_RE = /^[a-z]+-[a-z]+\d+$/;
const ZONE_RE = /^([a-z]+-[a-z]+\d+)-[a-z]$/;
/** Done operations kept for GetOperation/ListOperations; older ones are forgotten. */
const KEPT_OPERATIONS = 2_000;

const Code = grpc.status;

/** A gRPC error in GKE's words; `details` become the google.rpc.Status details. */
class GkeError extends Error {
  readonly code: grpc.status;
  readonly details: Buffer[];
  constructor(code: grpc.status, message: string, details: Buffer[] = []) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

// --- google.rpc.Status in protobuf wire format (grpc-status-details-bin) -----------------
// Three tiny messages; encoding them by hand keeps the sandbox free of a protobuf runtime.

const varint = (n: number): Buffer => {
  const bytes: number[] = [];
  let v = n;
  while (v > 0x7f) {
    bytes.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  bytes.push(v);
  return Buffer.from(bytes);
};
const tag = (field: number, wire: number) => varint(field * 8 + wire);
const intField = (field: number, n: number) => Buffer.concat([tag(field, 0), varint(n)]);
const bytesField = (field: number, b: Buffer) => Buffer.concat([tag(field, 2), varint(b.length), b]);
const stringField = (field: number, s: string) => bytesField(field, Buffer.from(s, 'utf8'));
const any = (type: string, value: Buffer) =>
  Buffer.concat([stringField(1, `type.googleapis.com/${type}`), bytesField(2, value)]);

const errorInfo = (reason: string, metadata: Record<string, string>) =>
  any(
    'google.rpc.ErrorInfo',
    Buffer.concat([
      stringField(1, reason),
      stringField(2, 'googleapis.com'),
      ...Object.entries(metadata).map(([k, v]) =>
        bytesField(3, Buffer.concat([stringField(1, k), stringField(2, v)])),
      ),
    ]),
  );
const retryInfo = (seconds: number) =>
  any('google.rpc.RetryInfo', bytesField(1, intField(1, Math.max(0, Math.round(seconds)))));
const quotaFailure = (subject: string, description: string) =>
  any(
    'google.rpc.QuotaFailure',
    bytesField(1, Buffer.concat([stringField(1, subject), stringField(2, description)])),
  );
const rpcStatus = (code: number, message: string, details: Buffer[]) =>
  Buffer.concat([intField(1, code), stringField(2, message), ...details.map((d) => bytesField(3, d))]);

// --- names -------------------------------------------------------------------------------

interface Parent {
  project: string;
  location: string;
}

const invalid = (message: string) => new GkeError(Code.INVALID_ARGUMENT, message);

const parseLocation = (project: string, location: string): Parent => {
  if (!project) throw invalid('Project id must be specified.');
  if (location !== '-' && !REGION_RE.test(location) && !ZONE_RE.test(location))
    throw invalid(`Location "${location}" is not a valid GCP region or zone.`);
  return { project, location };
};

/** `projects/p/locations/l[/clusters/c[/nodePools/np]]`, or the legacy fields. */
const parseName = (
  name: string | null | undefined,
  legacy: {
    projectId?: string | null;
    zone?: string | null;
    clusterId?: string | null;
    nodePoolId?: string | null;
  },
  depth: 'location' | 'cluster' | 'nodePool',
): Parent & { cluster: string; nodePool: string } => {
  if (name) {
    const m = /^projects\/([^/]+)\/locations\/([^/]+)(?:\/clusters\/([^/]+)(?:\/nodePools\/([^/]+))?)?$/.exec(
      name,
    );
    const want = { location: 3, cluster: 4, nodePool: 5 }[depth];
    if (!m || m.filter((x) => x !== undefined).length !== want)
      throw invalid(`Invalid resource name "${name}".`);
    return { ...parseLocation(m[1] ?? '', m[2] ?? ''), cluster: m[3] ?? '', nodePool: m[4] ?? '' };
  }
  const parsed = {
    ...parseLocation(legacy.projectId ?? '', legacy.zone ?? ''),
    cluster: legacy.clusterId ?? '',
    nodePool: legacy.nodePoolId ?? '',
  };
  if (depth !== 'location' && !parsed.cluster) throw invalid('Cluster id must be specified.');
  if (depth === 'nodePool' && !parsed.nodePool) throw invalid('Node pool id must be specified.');
  return parsed;
};

const clusterPath = (p: Parent, cluster: string) =>
  `projects/${p.project}/locations/${p.location}/clusters/${cluster}`;
const poolPath = (p: Parent, cluster: string, pool: string) => `${clusterPath(p, cluster)}/nodePools/${pool}`;

const regionOf = (location: string) => ZONE_RE.exec(location)?.[1] ?? location;

const defaultZones = (location: string): string[] => {
  if (ZONE_RE.test(location)) return [location];
  return DEFAULT_ZONES[location] ?? ['a', 'b', 'c'].map((z) => `${location}-${z}`);
};

/** `1.33` → its newest patch; `latest`/empty → newest; `-` → the default; else exact. */
const resolveVersion = (asked: string | null | undefined): string => {
  const versions: readonly string[] = GKE_SERVER_CONFIG.validMasterVersions;
  if (!asked || asked === 'latest') return versions[0] ?? GKE_SERVER_CONFIG.defaultClusterVersion;
  if (asked === '-') return GKE_SERVER_CONFIG.defaultClusterVersion;
  const found = versions.find((v) => v === asked || v.startsWith(`${asked}.`) || v.startsWith(`${asked}-`));
  if (!found) throw invalid(`Master version "${asked}" is unsupported.`);
  return found;
};

// --- what the sandbox keeps in SandboxCloud's spec records -----------------------------

interface ClusterRecord {
  project: string;
  description: string;
  resourceLabels: Record<string, string>;
  locations: string[];
  network: string;
  subnetwork: string;
  version: string;
  id: string;
}

interface PoolRecord {
  config: INodeConfig;
  initialNodeCount: number;
  locations: string[];
  autoscaling: protos.google.container.v1.INodePoolAutoscaling | null;
  version: string;
}

interface GkeOperationRecord {
  name: string;
  project: string;
  location: string;
  type: OperationType;
  cluster: string;
  /** The SandboxCluster's serial, so a recreated cluster of the same name is not confused. */
  serial: number;
  nodePool: string;
  startTime: string;
  endTime: string;
  done: boolean;
  error: { code: number; message: string } | null;
}

const clusterRecord = (c: SandboxCluster) => c.spec as unknown as ClusterRecord;
const poolRecord = (p: SandboxNodePool) => p.spec as unknown as PoolRecord;

export interface GkeSandboxOptions {
  cloud: SandboxCloud;
  /** 0 (default) picks a free port. */
  port?: number;
  host?: '127.0.0.1';
  /** Where the serving certificate is made and cached (default: the OS temp dir). */
  certDir?: string;
  /** Projects that exist and the caller may use; any other answers PERMISSION_DENIED. Default: all. */
  projects?: string[];
  /** Bearer tokens accepted; any other answers UNAUTHENTICATED. Default: any non-empty token. */
  tokens?: string[];
}

export interface GkeSandbox {
  host: string;
  port: number;
  /** `host:port`, what the client library takes as apiEndpoint + port. */
  endpoint: string;
  /** PEM of the CA clients must trust. */
  ca: string;
  stop(): Promise<void>;
}

type Handler = (request: never, metadata: grpc.Metadata) => Promise<object>;

const loadService = (): grpc.ServiceDefinition => {
  const require = createRequire(import.meta.url);
  const containerMain = require.resolve('@google-cloud/container');
  const gaxMain = createRequire(containerMain).resolve('google-gax');
  const definition = protoLoader.loadSync('google/container/v1/cluster_service.proto', {
    includeDirs: [join(dirname(containerMain), '..', 'protos'), join(dirname(gaxMain), '..', 'protos')],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const service = definition['google.container.v1.ClusterManager'];
  if (!service || !('GetCluster' in service))
    throw new Error('google.container.v1.ClusterManager not in the protos');
  return service;
};

export const startGkeSandbox = async (options: GkeSandboxOptions): Promise<GkeSandbox> => {
  const { cloud } = options;
  const host = options.host ?? '127.0.0.1';
  const cert = await servingCert(options.certDir ?? join(tmpdir(), 'drover-sandbox-tls'), 'gke-sandbox');
  const operations = new Map<string, GkeOperationRecord>();
  let opSerial = 0;

  const now = () => new Date(cloud.clock.now()).toISOString();

  // --- operations follow the resource they act on -------------------------------------

  const finish = (op: GkeOperationRecord, error: GkeOperationRecord['error']) => {
    op.done = true;
    op.endTime = now();
    op.error = error;
  };

  /** Settles an operation from its resource's state; called after every `begin`. */
  const refresh = (op: GkeOperationRecord) => {
    if (op.done) return;
    const found = cloud.find(op.location, op.cluster);
    const c = found && found.serial === op.serial ? found : undefined;
    const pool = op.nodePool ? c?.nodePools.get(op.nodePool) : undefined;
    switch (op.type) {
      case 'CREATE_CLUSTER':
        if (!c) finish(op, { code: Code.ABORTED, message: `Cluster "${op.cluster}" was deleted.` });
        else if (c.status === 'failed') finish(op, { code: Code.INTERNAL, message: c.failWith ?? 'failed' });
        else if (c.status === 'ready' && ![...c.nodePools.values()].some((p) => p.status === 'creating'))
          finish(op, null);
        return;
      case 'DELETE_CLUSTER':
        if (!c) finish(op, null);
        return;
      case 'CREATE_NODE_POOL':
        if (!pool || pool.status === 'deleting')
          finish(op, { code: Code.ABORTED, message: `Node pool "${op.nodePool}" was deleted.` });
        else if (pool.status === 'failed')
          finish(op, { code: Code.INTERNAL, message: pool.failWith ?? 'failed' });
        else if (pool.status === 'ready') finish(op, null);
        return;
      case 'DELETE_NODE_POOL':
        if (!pool) finish(op, null);
        return;
      default:
        return;
    }
  };

  const sweep = () => {
    for (const op of operations.values()) refresh(op);
    const done = [...operations.values()].filter((op) => op.done);
    for (const op of done.slice(0, Math.max(0, done.length - KEPT_OPERATIONS))) operations.delete(op.name);
  };

  const startOperation = (
    parent: Parent,
    type: OperationType,
    cluster: SandboxCluster,
    nodePool = '',
  ): GkeOperationRecord => {
    const startTime = now();
    const name = `operation-${cloud.clock.now()}-${(++opSerial).toString(16).padStart(8, '0')}`;
    const op: GkeOperationRecord = {
      name,
      project: parent.project,
      location: parent.location,
      type,
      cluster: cluster.name,
      serial: cluster.serial,
      nodePool,
      startTime,
      endTime: '',
      done: false,
      error: null,
    };
    operations.set(name, op);
    return op;
  };

  /** The running operation that makes a cluster busy, if any. */
  const runningOn = (c: SandboxCluster) =>
    [...operations.values()].find((op) => !op.done && op.cluster === c.name && op.serial === c.serial);

  const renderOperation = (op: GkeOperationRecord): IOperation => {
    const target = op.nodePool ? poolPath(op, op.cluster, op.nodePool) : clusterPath(op, op.cluster);
    return {
      name: op.name,
      zone: op.location,
      location: op.location,
      operationType: op.type,
      status: op.done ? 'DONE' : 'RUNNING',
      detail: '',
      statusMessage: op.error?.message ?? '',
      selfLink: `${API}/projects/${op.project}/locations/${op.location}/operations/${op.name}`,
      targetLink: `${API}/${target}`,
      startTime: op.startTime,
      endTime: op.endTime,
      error: op.error ? { code: op.error.code, message: op.error.message, details: [] } : null,
    };
  };

  // --- rendering resources ---------------------------------------------------------------

  const poolStatus: Record<SandboxStatus, keyof V1['NodePool']['Status']> = {
    creating: 'PROVISIONING',
    ready: 'RUNNING',
    deleting: 'STOPPING',
    failed: 'ERROR',
  };
  const clusterStatus: Record<SandboxStatus, keyof V1['Cluster']['Status']> = {
    creating: 'PROVISIONING',
    ready: 'RUNNING',
    deleting: 'STOPPING',
    failed: 'ERROR',
  };

  const renderPool = (parent: Parent, c: SandboxCluster, p: SandboxNodePool): INodePool => {
    const r = poolRecord(p);
    const path = poolPath(parent, c.name, p.name);
    return {
      name: p.name,
      config: r.config,
      initialNodeCount: r.initialNodeCount,
      locations: r.locations,
      autoscaling: r.autoscaling ?? { enabled: false },
      management: { autoUpgrade: true, autoRepair: true },
      maxPodsConstraint: { maxPodsPerNode: '110' },
      podIpv4CidrSize: 24,
      selfLink: `${API}/${path}`,
      version: r.version,
      instanceGroupUrls:
        p.status === 'ready'
          ? r.locations.map(
              (z) =>
                `https://www.googleapis.com/compute/v1/projects/${parent.project}/zones/${z}/instanceGroupManagers/gke-${c.name}-${p.name}-grp`,
            )
          : [],
      status: poolStatus[p.status],
      statusMessage: p.status === 'failed' ? (p.failWith ?? '') : '',
      etag: createHash('sha1').update(`${path}:${p.status}:${p.since}`).digest('hex').slice(0, 16),
    };
  };

  const renderCluster = (c: SandboxCluster): ICluster => {
    const r = clusterRecord(c);
    const parent = { project: r.project, location: c.location };
    const path = clusterPath(parent, c.name);
    const running = c.status === 'ready';
    const pools = [...c.nodePools.values()];
    // GKE reports the API server as a bare address; a backed cluster gets its real server's.
    const endpoint = c.access ? new URL(c.access.server).host : `127.0.1.${(c.serial % 250) + 1}`;
    return {
      name: c.name,
      description: r.description,
      id: r.id,
      selfLink: `${API}/${path}`,
      location: c.location,
      zone: c.location,
      locations: r.locations,
      resourceLabels: r.resourceLabels,
      labelFingerprint: createHash('sha1').update(JSON.stringify(r.resourceLabels)).digest('hex').slice(0, 8),
      network: r.network,
      subnetwork: r.subnetwork,
      clusterIpv4Cidr: '10.4.0.0/14',
      servicesIpv4Cidr: '34.118.224.0/20',
      initialClusterVersion: r.version,
      currentMasterVersion: r.version,
      currentNodeVersion: r.version,
      releaseChannel: { channel: 'REGULAR' },
      createTime: new Date(c.createdAt).toISOString(),
      status: clusterStatus[c.status],
      statusMessage: c.status === 'failed' ? (c.failWith ?? '') : '',
      conditions: c.status === 'failed' ? [{ message: c.failWith ?? '', canonicalCode: 'INTERNAL' }] : [],
      endpoint: running ? endpoint : '',
      // GKE hands out the cluster CA as base64 of its PEM.
      masterAuth: running
        ? { clusterCaCertificate: Buffer.from(c.access?.caData ?? cert.ca).toString('base64') }
        : {},
      currentNodeCount: running
        ? pools.reduce((n, p) => n + poolRecord(p).initialNodeCount * poolRecord(p).locations.length, 0)
        : 0,
      nodePools: pools.map((p) => renderPool(parent, c, p)),
      etag: createHash('sha1').update(`${path}:${c.status}:${c.since}`).digest('hex').slice(0, 16),
    };
  };

  // --- validation --------------------------------------------------------------------------

  const checkZones = (location: string, zones: string[], what: string) => {
    for (const z of zones) {
      if (regionOf(z) !== regionOf(location) || !ZONE_RE.test(z))
        throw invalid(`${what}: zone "${z}" is not in region "${regionOf(location)}".`);
    }
  };

  const poolFrom = (location: string, np: INodePool, clusterZones: string[], version: string) => {
    const name = np.name ?? '';
    if (!NAME_RE.test(name))
      throw invalid(`Node pool name "${name}" is invalid: it must match ${NAME_RE.source}.`);
    const count = np.initialNodeCount ?? 0;
    const autoscaling = np.autoscaling?.enabled ? np.autoscaling : null;
    if (count < 0) throw invalid(`Node pool "${name}": initial_node_count must be non-negative.`);
    if (count === 0 && !autoscaling)
      throw invalid(`Node pool "${name}": initial_node_count must be greater than zero.`);
    if (autoscaling && (autoscaling.minNodeCount ?? 0) > (autoscaling.maxNodeCount ?? 0))
      throw invalid(`Node pool "${name}": autoscaling min_node_count must not exceed max_node_count.`);
    const locations = np.locations?.length ? np.locations : clusterZones;
    checkZones(location, locations, `Node pool "${name}"`);
    const config: INodeConfig = { ...(np.config ?? {}) };
    const machineType = config.machineType || 'e2-medium';
    if (!/^[a-z][a-z0-9]*-[a-z0-9-]+$/.test(machineType))
      throw invalid(`Invalid machine type "${machineType}".`);
    for (const t of config.taints ?? []) {
      if (!t.key || !t.effect || t.effect === 'EFFECT_UNSPECIFIED')
        throw invalid(`Node pool "${name}": taints need a key and an effect.`);
    }
    const record: PoolRecord = {
      config: {
        machineType,
        diskSizeGb: config.diskSizeGb || 100,
        diskType: config.diskType || 'pd-balanced',
        imageType: config.imageType || 'COS_CONTAINERD',
        labels: config.labels ?? {},
        taints: (config.taints ?? []).map((t) => ({ key: t.key, value: t.value ?? '', effect: t.effect })),
        spot: config.spot ?? false,
        preemptible: config.preemptible ?? false,
        oauthScopes: config.oauthScopes?.length
          ? config.oauthScopes
          : ['https://www.googleapis.com/auth/cloud-platform'],
        serviceAccount: config.serviceAccount || 'default',
        metadata: { 'disable-legacy-endpoints': 'true', ...(config.metadata ?? {}) },
      },
      initialNodeCount: count,
      locations,
      autoscaling: autoscaling
        ? {
            enabled: true,
            minNodeCount: autoscaling.minNodeCount ?? 0,
            maxNodeCount: autoscaling.maxNodeCount ?? 0,
            totalMinNodeCount: autoscaling.totalMinNodeCount ?? 0,
            totalMaxNodeCount: autoscaling.totalMaxNodeCount ?? 0,
            locationPolicy: autoscaling.locationPolicy ?? 'BALANCED',
          }
        : null,
      version,
    };
    return { name, spec: record as unknown as Record<string, unknown> };
  };

  // --- handlers ------------------------------------------------------------------------------

  const allowedProject = (project: string) => {
    if (options.projects && !options.projects.includes(project))
      throw new GkeError(
        Code.PERMISSION_DENIED,
        `Permission denied on resource project ${project} (or it may not exist).`,
        [
          errorInfo('IAM_PERMISSION_DENIED', {
            service: 'container.googleapis.com',
            resource: `projects/${project}`,
          }),
        ],
      );
  };

  /** Counts the call, settles the clock and the operations, throws injected faults. */
  const begin = async (op: SandboxOp, parent: Parent, cluster?: string) => {
    allowedProject(parent.project);
    const result = await cloud.begin(op, cluster);
    sweep();
    return result;
  };

  const mine = (c: SandboxCluster | undefined, project: string): c is SandboxCluster =>
    c !== undefined && clusterRecord(c).project === project;

  const getCluster = (p: Parent, name: string): SandboxCluster => {
    const c = cloud.find(p.location, name);
    if (!mine(c, p.project)) throw new GkeError(Code.NOT_FOUND, `Not found: ${clusterPath(p, name)}.`);
    return c;
  };

  const busy = (c: SandboxCluster) => {
    const op = runningOn(c);
    if (op)
      throw new GkeError(
        Code.FAILED_PRECONDITION,
        `Cluster is running incompatible operation ${op.name}. Please wait and try again once it is done.`,
      );
  };

  const handlers: Record<string, Handler> = {
    ListClusters: async (req: protos.google.container.v1.IListClustersRequest) => {
      const p = parseName(req.parent, req, 'location');
      await begin('listClusters', p);
      const clusters = cloud
        .list(p.location === '-' ? undefined : p.location)
        .filter((c) => mine(c, p.project))
        .map(renderCluster);
      return { clusters, missingZones: [] };
    },

    GetCluster: async (req: protos.google.container.v1.IGetClusterRequest) => {
      const p = parseName(req.name, req, 'cluster');
      await begin('describeCluster', p, p.cluster);
      return renderCluster(getCluster(p, p.cluster));
    },

    CreateCluster: async (req: protos.google.container.v1.ICreateClusterRequest) => {
      const p = parseName(req.parent, req, 'location');
      const cluster = req.cluster ?? {};
      const name = cluster.name ?? '';
      const { failAsync } = await begin('createCluster', p, name);
      if (p.location === '-') throw invalid('A cluster needs a region or a zone, not "-".');
      if (!NAME_RE.test(name))
        throw invalid(
          `Cluster name "${name}" is invalid: it must match ${NAME_RE.source} (at most 40 characters).`,
        );
      for (const [k, v] of Object.entries(cluster.resourceLabels ?? {})) {
        if (!LABEL_KEY_RE.test(k) || !LABEL_VALUE_RE.test(v))
          throw invalid(
            `Invalid resource label "${k}": "${v}". Keys start with a lowercase letter; keys and values use lowercase letters, digits, "_" and "-", at most 63 characters.`,
          );
      }
      const version = resolveVersion(cluster.initialClusterVersion);
      const zones = cluster.locations?.length ? cluster.locations : defaultZones(p.location);
      checkZones(p.location, zones, `Cluster "${name}"`);
      const requested = cluster.nodePools?.length
        ? cluster.nodePools
        : (cluster.initialNodeCount ?? 0) > 0
          ? [{ name: 'default-pool', config: cluster.nodeConfig, initialNodeCount: cluster.initialNodeCount }]
          : [];
      if (requested.length === 0) throw invalid('Cluster.node_pools must have at least one node pool.');
      const pools = requested.map((np) => poolFrom(p.location, np, zones, version));
      const names = pools.map((x) => x.name);
      const dup = names.find((n, i) => names.indexOf(n) !== i);
      if (dup) throw invalid(`Node pool "${dup}" is named twice.`);
      const record: ClusterRecord = {
        project: p.project,
        description: cluster.description ?? '',
        resourceLabels: cluster.resourceLabels ?? {},
        locations: zones,
        network: cluster.network || 'default',
        subnetwork: cluster.subnetwork || 'default',
        version,
        id: createHash('sha256')
          .update(`${clusterPath(p, name)}:${cloud.clock.now()}`)
          .digest('hex')
          .slice(0, 32),
      };
      try {
        const created = cloud.createCluster(
          p.location,
          name,
          record as unknown as Record<string, unknown>,
          pools,
          failAsync,
        );
        return renderOperation(startOperation(p, 'CREATE_CLUSTER', created));
      } catch (err) {
        if (err instanceof SandboxError && err.code === 'AlreadyExists')
          throw new GkeError(Code.ALREADY_EXISTS, `Already exists: ${clusterPath(p, name)}.`);
        throw err;
      }
    },

    DeleteCluster: async (req: protos.google.container.v1.IDeleteClusterRequest) => {
      const p = parseName(req.name, req, 'cluster');
      await begin('deleteCluster', p, p.cluster);
      const c = getCluster(p, p.cluster);
      busy(c);
      cloud.deleteCluster(p.location, p.cluster);
      return renderOperation(startOperation(p, 'DELETE_CLUSTER', c));
    },

    ListNodePools: async (req: protos.google.container.v1.IListNodePoolsRequest) => {
      const p = parseName(req.parent, req, 'cluster');
      await begin('describeNodePool', p, p.cluster);
      const c = getCluster(p, p.cluster);
      return { nodePools: [...c.nodePools.values()].map((np) => renderPool(p, c, np)) };
    },

    GetNodePool: async (req: protos.google.container.v1.IGetNodePoolRequest) => {
      const p = parseName(req.name, req, 'nodePool');
      await begin('describeNodePool', p, p.cluster);
      const c = getCluster(p, p.cluster);
      const np = c.nodePools.get(p.nodePool);
      if (!np) throw new GkeError(Code.NOT_FOUND, `Not found: ${poolPath(p, p.cluster, p.nodePool)}.`);
      return renderPool(p, c, np);
    },

    CreateNodePool: async (req: protos.google.container.v1.ICreateNodePoolRequest) => {
      const p = parseName(req.parent, req, 'cluster');
      const { failAsync } = await begin('createNodePool', p, p.cluster);
      const c = getCluster(p, p.cluster);
      const pool = poolFrom(
        p.location,
        req.nodePool ?? {},
        clusterRecord(c).locations,
        clusterRecord(c).version,
      );
      if (c.nodePools.has(pool.name))
        throw new GkeError(Code.ALREADY_EXISTS, `Already exists: ${poolPath(p, p.cluster, pool.name)}.`);
      busy(c);
      cloud.createNodePool(p.location, p.cluster, pool.name, pool.spec, failAsync);
      return renderOperation(startOperation(p, 'CREATE_NODE_POOL', c, pool.name));
    },

    DeleteNodePool: async (req: protos.google.container.v1.IDeleteNodePoolRequest) => {
      const p = parseName(req.name, req, 'nodePool');
      await begin('deleteNodePool', p, p.cluster);
      const c = getCluster(p, p.cluster);
      if (!c.nodePools.has(p.nodePool))
        throw new GkeError(Code.NOT_FOUND, `Not found: ${poolPath(p, p.cluster, p.nodePool)}.`);
      busy(c);
      cloud.deleteNodePool(p.location, p.cluster, p.nodePool);
      return renderOperation(startOperation(p, 'DELETE_NODE_POOL', c, p.nodePool));
    },

    GetOperation: async (req: protos.google.container.v1.IGetOperationRequest) => {
      let p: Parent;
      let opName: string;
      if (req.name) {
        const m = /^projects\/([^/]+)\/locations\/([^/]+)\/operations\/([^/]+)$/.exec(req.name);
        if (!m) throw invalid(`Invalid resource name "${req.name}".`);
        p = parseLocation(m[1] ?? '', m[2] ?? '');
        opName = m[3] ?? '';
      } else {
        p = parseLocation(req.projectId ?? '', req.zone ?? '');
        opName = req.operationId ?? '';
      }
      const known = operations.get(opName);
      await begin('getOperation', p, known?.cluster);
      const op = operations.get(opName);
      if (!op || op.project !== p.project || op.location !== p.location)
        throw new GkeError(
          Code.NOT_FOUND,
          `Not found: projects/${p.project}/locations/${p.location}/operations/${opName}.`,
        );
      return renderOperation(op);
    },

    ListOperations: async (req: protos.google.container.v1.IListOperationsRequest) => {
      const p = parseName(req.parent, req, 'location');
      await begin('getOperation', p);
      const ops = [...operations.values()].filter(
        (op) => op.project === p.project && (p.location === '-' || op.location === p.location),
      );
      return { operations: ops.map(renderOperation), missingZones: [] };
    },

    GetServerConfig: async (
      req: protos.google.container.v1.IGetServerConfigRequest,
    ): Promise<IServerConfig> => {
      const p = parseName(req.name, req, 'location');
      await begin('catalog', p);
      const versions = [...GKE_SERVER_CONFIG.validMasterVersions];
      const channel = (name: keyof typeof GKE_SERVER_CONFIG.channels, minMinor: number) => ({
        channel: name,
        defaultVersion: GKE_SERVER_CONFIG.channels[name],
        validVersions: versions.filter((v) => Number(v.split('.')[1]) >= minMinor),
      });
      return {
        defaultClusterVersion: GKE_SERVER_CONFIG.defaultClusterVersion,
        validMasterVersions: versions,
        validNodeVersions: versions,
        defaultImageType: 'COS_CONTAINERD',
        validImageTypes: ['COS_CONTAINERD', 'UBUNTU_CONTAINERD', 'WINDOWS_LTSC_CONTAINERD'],
        channels: [channel('RAPID', 33), channel('REGULAR', 32), channel('STABLE', 31)],
      };
    },
  };

  // --- errors in Google's wire format ------------------------------------------------------

  const toGkeError = (err: unknown): GkeError => {
    if (err instanceof GkeError) return err;
    if (!(err instanceof SandboxError)) return new GkeError(Code.INTERNAL, `Internal error: ${String(err)}`);
    switch (err.code) {
      case 'AlreadyExists':
        return new GkeError(Code.ALREADY_EXISTS, `Already exists: ${err.message}`);
      case 'NotFound':
        return new GkeError(Code.NOT_FOUND, `Not found: ${err.message}`);
      case 'ResourceInUse':
        return new GkeError(Code.FAILED_PRECONDITION, err.message);
      case 'Invalid':
        return new GkeError(Code.INVALID_ARGUMENT, err.message);
      case 'Quota':
        return new GkeError(
          Code.RESOURCE_EXHAUSTED,
          `Insufficient quota to satisfy the request: ${err.message}`,
          [
            errorInfo('RESOURCE_QUOTA_EXCEEDED', { service: 'container.googleapis.com' }),
            quotaFailure('clusters', err.message),
          ],
        );
      case 'Throttled':
        return new GkeError(
          Code.RESOURCE_EXHAUSTED,
          "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service 'container.googleapis.com'.",
          [
            errorInfo('RATE_LIMIT_EXCEEDED', {
              service: 'container.googleapis.com',
              quota_metric: 'container.googleapis.com/requests',
            }),
            retryInfo(err.retryAfterSeconds ?? 1),
          ],
        );
      case 'Internal':
        // What Google's front end answers when a backend fails: retryable, so the client's own
        // retry layer would kick in here unless it is turned off.
        return new GkeError(Code.UNAVAILABLE, `The service is currently unavailable: ${err.message}`);
    }
  };

  const reply = (error: GkeError): grpc.ServerErrorResponse => {
    const metadata = new grpc.Metadata();
    metadata.set('grpc-status-details-bin', rpcStatus(error.code, error.message, error.details));
    return Object.assign(new Error(error.message), { code: error.code, details: error.message, metadata });
  };

  const authenticate = (metadata: grpc.Metadata) => {
    const header = metadata.get('authorization')[0];
    const token = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header)?.[1] : undefined;
    if (!token || (options.tokens && !options.tokens.includes(token)))
      throw new GkeError(
        Code.UNAUTHENTICATED,
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
        [
          errorInfo(token ? 'ACCESS_TOKEN_TYPE_UNSUPPORTED' : 'CREDENTIALS_MISSING', {
            service: 'container.googleapis.com',
          }),
        ],
      );
  };

  const service = loadService();
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of Object.keys(service)) {
    const handler = handlers[method];
    const unary: grpc.handleUnaryCall<unknown, object> = (call, callback) => {
      const run = async () => {
        authenticate(call.metadata);
        if (!handler)
          throw new GkeError(Code.UNIMPLEMENTED, `Method ${method} is not served by the GKE sandbox.`);
        return handler(call.request as never, call.metadata);
      };
      run().then(
        (response) => callback(null, response),
        (err: unknown) => callback(reply(toGkeError(err))),
      );
    };
    implementation[method] = unary;
  }

  const server = new grpc.Server();
  server.addService(service, implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${host}:${options.port ?? 0}`,
      grpc.ServerCredentials.createSsl(
        null,
        [{ private_key: Buffer.from(cert.key), cert_chain: Buffer.from(cert.cert) }],
        false,
      ),
      (err, bound) => (err ? reject(err) : resolve(bound)),
    ),
  );

  return {
    host,
    port,
    endpoint: `${host}:${port}`,
    ca: cert.ca,
    stop: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        // Open client channels would hold a graceful shutdown; the sandbox owes them nothing.
        setTimeout(() => server.forceShutdown(), 1_000).unref();
      }),
  };
};
