/**
 * The GKE adapter: CloudProvider on @google-cloud/container's v1 ClusterManagerClient (gRPC).
 *
 * Auth is google-auth-library's: Application Default Credentials with the cloud-platform scope
 * by default, or a given AuthClient, or a fixed access token (the sandbox's). The client's own
 * retries are off on every call (`retry: null`): throttling, 5xx and network errors surface as
 * DroverErrors and Temporal retries them, honouring the server's google.rpc.RetryInfo.
 *
 * GKE shapes stay here: a `location` is a region (regional cluster) or a zone (zonal cluster);
 * a pool's zones are its `locations`; GKE counts nodes per zone, drover in total (rule in
 * catalog.ts: `perZoneCount`); cluster labels are `resourceLabels`, node labels and taints
 * live in the pool's `config`. A CloudOperation's token is the GKE operation's full name
 * `projects/{p}/locations/{l}/operations/{op}`.
 */
import container, { type protos } from '@google-cloud/container';
import * as grpc from '@grpc/grpc-js';
import { type AuthClient, GoogleAuth, OAuth2Client } from 'google-auth-library';
import { DroverError, ErrorType } from '../../domain/errors.ts';
import type {
  Catalog,
  CloudCluster,
  CloudClusterStatus,
  CloudOperation,
  CloudProvider,
  ClusterAccess,
  ClusterSpec,
  NodePool,
  NodePoolSpec,
  OperationKind,
  ProviderExtras,
  Taint,
} from '../ports.ts';
import { GKE_MACHINE_TYPES, GKE_REGIONS, perZoneCount, regionOf, zoneCount } from './catalog.ts';

type ICluster = protos.google.container.v1.ICluster;
type INodePool = protos.google.container.v1.INodePool;
type IOperation = protos.google.container.v1.IOperation;
type INodeTaint = protos.google.container.v1.INodeTaint;

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

export interface GkeAdapterOptions {
  /** The Google Cloud project the clusters live in. */
  project: string;
  /** ClusterManager host; default container.googleapis.com. */
  endpoint?: string;
  /** Default 443. */
  port?: number;
  /** PEM of a CA to trust for the endpoint (the sandbox's); default: the system roots. */
  ca?: string;
  /**
   * An AuthClient from google-auth-library, or a fixed access token (the sandbox's).
   * Default: Application Default Credentials with the cloud-platform scope.
   */
  credentials?: AuthClient | { accessToken: string };
}

/** Every call: no client-side retry, so errors reach Temporal as they are. */
const CALL = { retry: null };

/** A token whose lifetime the adapter cannot know is assumed to live as long as Google's do. */
const TOKEN_LIFETIME_MS = 60 * 60 * 1000;

const TAINT_EFFECTS = {
  NoSchedule: 'NO_SCHEDULE',
  PreferNoSchedule: 'PREFER_NO_SCHEDULE',
  NoExecute: 'NO_EXECUTE',
} as const satisfies Record<Taint['effect'], string>;

const CLUSTER_STATUS: Record<string, CloudClusterStatus> = {
  PROVISIONING: 'creating',
  RUNNING: 'ready',
  RECONCILING: 'updating',
  STOPPING: 'deleting',
  ERROR: 'failed',
  // The API server answers but something is wrong (a node pool, a quota): usable.
  DEGRADED: 'ready',
};

const POOL_STATUS: Record<string, CloudClusterStatus> = {
  PROVISIONING: 'creating',
  RUNNING: 'ready',
  // Some nodes failed to come up; the pool serves with the others.
  RUNNING_WITH_ERROR: 'ready',
  RECONCILING: 'updating',
  STOPPING: 'deleting',
  ERROR: 'failed',
};

const OPERATION_KINDS: Record<string, OperationKind> = {
  CREATE_CLUSTER: 'create-cluster',
  DELETE_CLUSTER: 'delete-cluster',
  CREATE_NODE_POOL: 'create-node-pool',
  DELETE_NODE_POOL: 'delete-node-pool',
};

// --- errors -----------------------------------------------------------------------------------

interface GrpcError {
  code?: unknown;
  details?: unknown;
  message?: unknown;
  /** Decoded google.rpc.Status details (google-gax parses grpc-status-details-bin). */
  statusDetails?: unknown;
  /** ErrorInfo.reason, when the server sent one. */
  reason?: unknown;
}

const CODE_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k])) as Record<
  number,
  string
>;

/** An int64 as protobufjs decodes it: a number, a decimal string or a Long. */
const int64 = (v: unknown): number => {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  if (typeof v === 'object' && 'toNumber' in v && typeof v.toNumber === 'function')
    return Number((v as { toNumber(): unknown }).toNumber());
  return Number.NaN;
};

/** RetryInfo.retry_delay in milliseconds, when the server sent one. */
const retryDelayMs = (details: unknown): number | undefined => {
  if (!Array.isArray(details)) return undefined;
  for (const d of details as unknown[]) {
    if (typeof d !== 'object' || d === null || !('retryDelay' in d)) continue;
    const delay = (d as { retryDelay?: { seconds?: unknown; nanos?: unknown } | null }).retryDelay;
    if (!delay) continue;
    const seconds = int64(delay.seconds);
    const nanos = Number(delay.nanos ?? 0);
    if (Number.isFinite(seconds) && Number.isFinite(nanos)) return seconds * 1000 + Math.round(nanos / 1e6);
  }
  return undefined;
};

/** Classifies a ClusterManager failure (a gRPC status, as google-gax hands it) as a DroverError. */
export const gkeError = (err: unknown, what: string): DroverError => {
  if (err instanceof DroverError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as GrpcError;
  const code = typeof e.code === 'number' ? e.code : undefined;
  const text =
    typeof e.details === 'string' && e.details
      ? e.details
      : typeof e.message === 'string'
        ? e.message
        : String(err);
  const codeName = code === undefined ? 'UNKNOWN' : (CODE_NAMES[code] ?? String(code));
  const message = `GKE ${what}: ${text}`;
  const make = (type: ErrorType, details: Record<string, unknown> = {}) =>
    new DroverError(type, message, { details: { code: codeName, ...details }, cause: err });
  switch (code) {
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.OUT_OF_RANGE:
      return make(ErrorType.Invalid);
    case grpc.status.NOT_FOUND:
      return make(ErrorType.NotFound);
    case grpc.status.ALREADY_EXISTS:
      return make(ErrorType.Conflict, { reason: 'exists' });
    case grpc.status.FAILED_PRECONDITION:
      // GKE runs one operation at a time per cluster: the next one waits for it.
      return make(ErrorType.Conflict, { reason: 'busy' });
    case grpc.status.RESOURCE_EXHAUSTED: {
      const retryAfterMs = retryDelayMs(e.statusDetails);
      if (retryAfterMs !== undefined || e.reason === 'RATE_LIMIT_EXCEEDED')
        return make(ErrorType.Throttled, retryAfterMs === undefined ? {} : { retryAfterMs });
      return make(ErrorType.Conflict, { reason: 'quota' });
    }
    case grpc.status.UNAUTHENTICATED:
      return make(ErrorType.Unauthorized);
    case grpc.status.PERMISSION_DENIED:
      return make(ErrorType.Forbidden);
    default:
      // Credentials that cannot be had fail inside the call-credentials plugin, before any request.
      if (/Could not load the default credentials|invalid_grant|unauthorized_client/i.test(text))
        return make(ErrorType.Unauthorized);
      // UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED, ABORTED, UNKNOWN, network: worth retrying.
      return make(ErrorType.Unavailable);
  }
};

const isCode = (err: unknown, code: grpc.status) =>
  typeof err === 'object' && err !== null && (err as GrpcError).code === code;

// --- shapes -----------------------------------------------------------------------------------

const toTaint = (t: INodeTaint): Taint | null => {
  const effect = (Object.keys(TAINT_EFFECTS) as Taint['effect'][]).find((k) => TAINT_EFFECTS[k] === t.effect);
  return effect && t.key ? { key: t.key, value: t.value ?? '', effect } : null;
};

const toNodePool = (p: INodePool, cluster: ICluster): NodePool => {
  const config = p.config ?? {};
  const zones = p.locations?.length ? p.locations : (cluster.locations ?? []);
  const n = Math.max(1, zones.length);
  const a = p.autoscaling;
  return {
    name: p.name ?? '',
    machineType: config.machineType ?? '',
    count: (p.initialNodeCount ?? 0) * n,
    autoscaling: a?.enabled
      ? a.totalMaxNodeCount
        ? { min: a.totalMinNodeCount ?? 0, max: a.totalMaxNodeCount }
        : { min: (a.minNodeCount ?? 0) * n, max: (a.maxNodeCount ?? 0) * n }
      : null,
    labels: { ...(config.labels ?? {}) },
    taints: (config.taints ?? []).map(toTaint).filter((t): t is Taint => t !== null),
    spot: Boolean(config.spot) || Boolean(config.preemptible),
    diskGb: config.diskSizeGb ?? 0,
    zones: [...zones],
    status: POOL_STATUS[String(p.status)] ?? 'unknown',
  };
};

const toCluster = (c: ICluster, location: string): CloudCluster => {
  const status = CLUSTER_STATUS[String(c.status)] ?? 'unknown';
  return {
    cloud: 'gke',
    name: c.name ?? '',
    location: c.location || location,
    version: c.currentMasterVersion || c.initialClusterVersion || '',
    status,
    endpoint: status === 'ready' && c.endpoint ? `https://${c.endpoint}` : null,
    labels: { ...(c.resourceLabels ?? {}) },
    nodePools: (c.nodePools ?? []).map((p) => toNodePool(p, c)),
    providerId: c.selfLink ?? '',
    createdAt: c.createTime || null,
  };
};

/** The GKE node pool for a normalized one; `zones`: how many zones it will span. */
export const toGkeNodePool = (pool: NodePoolSpec, zones: number): INodePool => ({
  name: pool.name,
  initialNodeCount: perZoneCount(pool.count, zones).perZone,
  ...(pool.zones.length > 0 ? { locations: pool.zones } : {}),
  autoscaling: pool.autoscaling
    ? {
        enabled: true,
        minNodeCount: perZoneCount(pool.autoscaling.min, zones).perZone,
        maxNodeCount: perZoneCount(pool.autoscaling.max, zones).perZone,
      }
    : { enabled: false },
  config: {
    machineType: pool.machineType,
    diskSizeGb: pool.diskGb,
    labels: pool.labels,
    taints: pool.taints.map((t) => ({ key: t.key, value: t.value, effect: TAINT_EFFECTS[t.effect] })),
    spot: pool.spot,
    oauthScopes: [CLOUD_PLATFORM_SCOPE],
  },
  management: { autoUpgrade: true, autoRepair: true },
});

// --- the adapter --------------------------------------------------------------------------------

export class GkeProvider implements CloudProvider {
  readonly cloud = 'gke' as const;
  readonly #project: string;
  readonly #auth: GoogleAuth;
  readonly #client: InstanceType<typeof container.v1.ClusterManagerClient>;

  constructor(options: GkeAdapterOptions) {
    if (!options.project)
      throw new DroverError(ErrorType.BadInput, 'GKE: a project is required', { field: 'project' });
    this.#project = options.project;
    const credentials = options.credentials;
    const authClient =
      credentials === undefined
        ? undefined
        : 'accessToken' in credentials
          ? fixedToken(credentials.accessToken)
          : credentials;
    this.#auth = new GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE], ...(authClient ? { authClient } : {}) });
    // google-gax uses `sslCreds` as the whole channel credential, so a custom CA has to carry
    // the per-call OAuth credentials itself.
    const sslCreds = options.ca
      ? grpc.credentials.combineChannelCredentials(
          grpc.credentials.createSsl(Buffer.from(options.ca)),
          grpc.credentials.createFromMetadataGenerator((params, callback) => {
            this.#auth.getRequestHeaders(params.service_url).then(
              (headers) => {
                const metadata = new grpc.Metadata();
                headers.forEach((value, key) => metadata.set(key, value));
                callback(null, metadata);
              },
              (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
            );
          }),
        )
      : undefined;
    const { host, port } = hostAndPort(options.endpoint, options.port);
    this.#client = new container.v1.ClusterManagerClient({
      auth: this.#auth,
      ...(host ? { apiEndpoint: host } : {}),
      ...(port ? { port } : {}),
      ...(sslCreds ? { sslCreds } : {}),
    });
  }

  /** Closes the gRPC channel. */
  async close(): Promise<void> {
    await this.#client.close();
  }

  #parent(location: string): string {
    return `projects/${this.#project}/locations/${location}`;
  }

  #clusterName(location: string, name: string): string {
    return `${this.#parent(location)}/clusters/${name}`;
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw gkeError(err, what);
    }
  }

  #checkExtras(extras: ProviderExtras): void {
    const project = extras.gke?.project;
    if (project && project !== this.#project)
      throw new DroverError(
        ErrorType.Invalid,
        `GKE: this adapter manages project '${this.#project}', not '${project}' (one adapter per project)`,
        { field: 'extras.gke.project' },
      );
  }

  #operation(
    op: IOperation,
    location: string,
    kind: OperationKind,
    cluster: string,
    nodePool?: string,
  ): CloudOperation {
    const opLocation = op.location || location;
    const done = String(op.status) === 'DONE';
    const failed = done && op.error && (op.error.code ?? 0) !== 0;
    return {
      cloud: 'gke',
      kind: OPERATION_KINDS[String(op.operationType)] ?? kind,
      location,
      cluster,
      ...(nodePool === undefined ? {} : { nodePool }),
      token: `${this.#parent(opLocation)}/operations/${op.name ?? ''}`,
      done,
      error: failed
        ? op.error?.message || op.statusMessage || `operation failed (code ${op.error?.code})`
        : null,
    };
  }

  #gone(location: string, kind: OperationKind, cluster: string, nodePool?: string): CloudOperation {
    return {
      cloud: 'gke',
      kind,
      location,
      cluster,
      ...(nodePool === undefined ? {} : { nodePool }),
      token: '',
      done: true,
      error: null,
    };
  }

  /** The running operation of `type` on `target` (a deletion someone already started). */
  async #running(location: string, type: string, target: string): Promise<IOperation | undefined> {
    const [list] = await this.#call('list operations', () =>
      this.#client.listOperations({ parent: this.#parent(location) }, CALL),
    );
    return (list.operations ?? []).find(
      (op) =>
        String(op.operationType) === type &&
        String(op.status) !== 'DONE' &&
        op.targetLink?.endsWith(`/${target}`),
    );
  }

  async listClusters(location?: string): Promise<CloudCluster[]> {
    const [response] = await this.#call('list clusters', () =>
      this.#client.listClusters({ parent: this.#parent(location ?? '-') }, CALL),
    );
    return (response.clusters ?? []).map((c) => toCluster(c, location ?? ''));
  }

  async describeCluster(location: string, name: string): Promise<CloudCluster | null> {
    const cluster = await this.#getCluster(location, name);
    return cluster ? toCluster(cluster, location) : null;
  }

  async #getCluster(location: string, name: string): Promise<ICluster | null> {
    try {
      const [cluster] = await this.#client.getCluster({ name: this.#clusterName(location, name) }, CALL);
      return cluster;
    } catch (err) {
      if (isCode(err, grpc.status.NOT_FOUND)) return null;
      throw gkeError(err, `get cluster ${name}`);
    }
  }

  async createCluster(spec: ClusterSpec): Promise<CloudOperation> {
    this.#checkExtras(spec.extras);
    const cluster: ICluster = {
      name: spec.name,
      initialClusterVersion: spec.version,
      resourceLabels: spec.labels,
      ...(spec.extras.gke?.network ? { network: spec.extras.gke.network } : {}),
      nodePools: spec.nodePools.map((p) => toGkeNodePool(p, zoneCount(spec.location, p.zones))),
    };
    const [op] = await this.#call(`create cluster ${spec.name}`, () =>
      this.#client.createCluster({ parent: this.#parent(spec.location), cluster }, CALL),
    );
    return this.#operation(op, spec.location, 'create-cluster', spec.name);
  }

  async deleteCluster(location: string, name: string): Promise<CloudOperation> {
    try {
      const [op] = await this.#client.deleteCluster({ name: this.#clusterName(location, name) }, CALL);
      return this.#operation(op, location, 'delete-cluster', name);
    } catch (err) {
      if (isCode(err, grpc.status.NOT_FOUND)) return this.#gone(location, 'delete-cluster', name);
      if (isCode(err, grpc.status.FAILED_PRECONDITION)) {
        // Deleting what is already being deleted: follow the deletion under way.
        const running = await this.#running(location, 'DELETE_CLUSTER', `clusters/${name}`);
        if (running) return this.#operation(running, location, 'delete-cluster', name);
      }
      throw gkeError(err, `delete cluster ${name}`);
    }
  }

  async createNodePool(
    location: string,
    cluster: string,
    pool: NodePoolSpec,
    extras: ProviderExtras,
  ): Promise<CloudOperation> {
    this.#checkExtras(extras);
    let clusterZones: string[] = [];
    if (pool.zones.length === 0) {
      // A pool without zones spans the cluster's: the per-zone count depends on how many.
      const current = await this.#getCluster(location, cluster);
      if (!current)
        throw new DroverError(ErrorType.NotFound, `GKE: cluster '${cluster}' not found in ${location}`);
      clusterZones = current.locations ?? [];
    }
    const nodePool = toGkeNodePool(pool, zoneCount(location, pool.zones, clusterZones));
    const [op] = await this.#call(`create node pool ${pool.name} in ${cluster}`, () =>
      this.#client.createNodePool({ parent: this.#clusterName(location, cluster), nodePool }, CALL),
    );
    return this.#operation(op, location, 'create-node-pool', cluster, pool.name);
  }

  async deleteNodePool(location: string, cluster: string, pool: string): Promise<CloudOperation> {
    const name = `${this.#clusterName(location, cluster)}/nodePools/${pool}`;
    try {
      const [op] = await this.#client.deleteNodePool({ name }, CALL);
      return this.#operation(op, location, 'delete-node-pool', cluster, pool);
    } catch (err) {
      if (isCode(err, grpc.status.NOT_FOUND)) return this.#gone(location, 'delete-node-pool', cluster, pool);
      if (isCode(err, grpc.status.FAILED_PRECONDITION)) {
        const running = await this.#running(
          location,
          'DELETE_NODE_POOL',
          `clusters/${cluster}/nodePools/${pool}`,
        );
        if (running) return this.#operation(running, location, 'delete-node-pool', cluster, pool);
      }
      throw gkeError(err, `delete node pool ${pool} of ${cluster}`);
    }
  }

  async getOperation(operation: CloudOperation): Promise<CloudOperation> {
    if (!operation.token) return operation;
    const [op] = await this.#call(`get operation ${operation.token}`, () =>
      this.#client.getOperation({ name: operation.token }, CALL),
    );
    const polled = this.#operation(
      op,
      operation.location,
      operation.kind,
      operation.cluster,
      operation.nodePool,
    );
    return { ...polled, kind: operation.kind, token: operation.token };
  }

  async catalog(location?: string): Promise<Catalog> {
    const where = location ?? GKE_REGIONS[0]?.name ?? 'us-central1';
    const [config] = await this.#call('get server config', () =>
      this.#client.getServerConfig({ name: this.#parent(where) }, CALL),
    );
    const versions = config.validMasterVersions ?? [];
    const region = regionOf(where);
    return {
      cloud: 'gke',
      versions,
      defaultVersion: config.defaultClusterVersion || versions[0] || '',
      regions: GKE_REGIONS.map((r) => ({ name: r.name, zones: [...r.zones] })),
      machineTypes: GKE_MACHINE_TYPES.filter(
        (m) => location === undefined || !m.regions || m.regions.includes(region),
      ).map(({ regions: _regions, ...m }) => m),
    };
  }

  async access(location: string, name: string): Promise<ClusterAccess> {
    const cluster = await this.#getCluster(location, name);
    if (!cluster)
      throw new DroverError(ErrorType.NotFound, `GKE: cluster '${name}' not found in ${location}`);
    // A cluster being upgraded (RECONCILING) or DEGRADED still serves its API.
    if (['PROVISIONING', 'STOPPING', 'ERROR'].includes(String(cluster.status)) || !cluster.endpoint)
      throw new DroverError(
        ErrorType.InvalidState,
        `GKE: cluster '${name}' is ${String(cluster.status)}: its API server is not reachable`,
      );
    // GKE clients authenticate to the Kubernetes API with the caller's own Google access token.
    const token = await this.#call('get access token', () => this.#auth.getAccessToken());
    if (!token) throw new DroverError(ErrorType.Unauthorized, 'GKE: the credentials gave no access token');
    const client = await this.#auth.getClient();
    const expiry = client.credentials.expiry_date;
    return {
      server: `https://${cluster.endpoint}`,
      // GKE sends base64 of the PEM; drover's ClusterAccess carries the PEM itself.
      caData: Buffer.from(cluster.masterAuth?.clusterCaCertificate ?? '', 'base64').toString('utf8'),
      token,
      expiresAt: new Date(
        typeof expiry === 'number' && expiry > Date.now() ? expiry : Date.now() + TOKEN_LIFETIME_MS,
      ).toISOString(),
    };
  }
}

/** `host`, `host:port` or `https://host[:port]` → what the client takes apart. */
const hostAndPort = (endpoint: string | undefined, port: number | undefined) => {
  const bare = (endpoint ?? '').replace(/^https?:\/\//, '').replace(/\/+$/, '');
  const m = /^(.*):(\d+)$/.exec(bare);
  if (m && !/^[^[]*:.*:/.test(bare)) return { host: m[1], port: port ?? Number(m[2]) };
  return { host: bare || undefined, port };
};

/** An AuthClient that always presents the same access token (the sandbox's). */
const fixedToken = (accessToken: string): OAuth2Client => {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: accessToken, token_type: 'Bearer' });
  return client;
};

export const createGkeProvider = (options: GkeAdapterOptions): GkeProvider => new GkeProvider(options);
