/**
 * The AKS adapter: CloudProvider on @azure/arm-containerservice (Azure Resource Manager) with
 * @azure/identity. ARM shapes and enums stay here; callers see normalized clusters and pools.
 *
 * - Credentials: DefaultAzureCredential unless one is given. `StaticTokenCredential` (below)
 *   hands out a fixed bearer token and exists for the sandbox AKS only.
 * - Endpoint: `endpoint` points the SDK at another ARM (the sandbox); `ca` is a PEM the HTTPS
 *   client trusts instead of the public roots (the pipeline's `tlsOptions`), so TLS stays verified.
 * - No SDK retries (`retryOptions.maxRetries = 0`): throttling surfaces at once as Throttled with
 *   the server's Retry-After in `details.retryAfterMs`, and Temporal does the retrying.
 * - Long-running operations: create/delete start an ARM poller; its serialized state (URLs and
 *   status only, never a credential) is the CloudOperation token. `getOperation` restores the
 *   poller and polls exactly once.
 * - Resource group: the adapter's `resourceGroup`. describe/list/delete/access take no extras,
 *   so a create in another group (`extras.aks.resourceGroup`) could never be found, polled to
 *   ready or deleted again: it is refused as Invalid (one adapter, one group — an account each).
 * - Create semantics: ARM's PUT is create-or-update, so the adapter GETs first and fails with
 *   Conflict when the name is taken — drover's create never silently updates.
 * - System pools: AKS needs at least one System-mode pool. Pools with `system: true` are System;
 *   when a spec marks none, its first non-spot pool becomes System.
 * - Zones: AKS names zones "1", "2", "3" within a region; drover's normalized zone is
 *   "<region>-<n>" (e.g. "eastus-2"). Specs may use either; results use the normalized form.
 * - Labels ↔ tags: Azure tag names cannot contain '/', which Kubernetes-style label keys do
 *   ("drover.io/owner"); the adapter stores '/' as ':' (never valid in a label key) and reverses it.
 * - Node counts: with autoscaling, AKS requires min ≤ count ≤ max; the adapter clamps count.
 * - Spot: AKS adds the label and taint `kubernetes.azure.com/scalesetpriority=spot` to spot
 *   pools; the adapter hides them again so a pool reads back as it was specified.
 */
import {
  ContainerServiceClient,
  isRestError,
  restorePoller,
  type AgentPool,
  type ContainerServiceClientOptionalParams,
  type ManagedCluster,
  type ManagedClusterAgentPoolProfile,
  type RestError,
} from '@azure/arm-containerservice';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential } from '@azure/identity';
import { parse as parseYaml } from 'yaml';
import { DroverError, ErrorType } from '../../domain/errors.ts';
import { compareVersions } from '../../domain/versions.ts';
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
import { AKS_REGIONS, machineTypesIn, normalizedZone } from './catalog.ts';

const ARM_ENDPOINT = 'https://management.azure.com';
/** The AKS AAD server application: the audience of tokens for AAD-enabled clusters (as kubelogin uses). */
const AKS_AAD_SERVER_ID = '6dae42f8-4368-4678-94ff-3960e28e3630';
const SPOT_KEY = 'kubernetes.azure.com/scalesetpriority';
/** A static clusterUser token does not expire; drover re-reads it hourly anyway. */
const ACCESS_TTL_MS = 60 * 60 * 1000;

/**
 * A TokenCredential with one fixed bearer token. For the sandbox AKS only (which accepts any
 * bearer token, or the one it was started with); never use it against Azure.
 */
export class StaticTokenCredential implements TokenCredential {
  readonly #token: string;
  constructor(token = 'drover-sandbox-token') {
    this.#token = token;
  }
  async getToken(): Promise<AccessToken> {
    return { token: this.#token, expiresOnTimestamp: Date.now() + ACCESS_TTL_MS, tokenType: 'Bearer' };
  }
}

export interface AksProviderOptions {
  subscriptionId: string;
  /** The resource group clusters live in (`extras.aks.resourceGroup` may only repeat it). */
  resourceGroup: string;
  /** ARM endpoint; default https://management.azure.com. The sandbox's URL in tests. */
  endpoint?: string;
  /** PEM CA to trust for `endpoint` (the sandbox's self-signed certificate). */
  ca?: string;
  /** Default: DefaultAzureCredential. */
  credential?: TokenCredential;
  /** The location whose Kubernetes versions `catalog()` lists when it is given none. */
  defaultLocation?: string;
  /** ARM api-version; default: the SDK's own. */
  apiVersion?: string;
}

/** The part of an ARM poller (core-lro's PollerLike) the adapter uses. Never await the poller itself. */
interface ArmPoller {
  readonly isDone: boolean;
  readonly operationState: { status: string; error?: Error } | undefined;
  poll(): Promise<unknown>;
  serialize(): Promise<string>;
  submitted(): Promise<void>;
}

const retryAfterMs = (err: RestError): number | undefined => {
  const headers = err.response?.headers;
  if (!headers) return undefined;
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const ms = Number(headers.get(name));
    if (headers.get(name) && Number.isFinite(ms)) return ms;
  }
  const value = headers.get('retry-after');
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
};

const isQuota = (code: string, message: string): boolean =>
  /quota/i.test(code) || (code === 'OperationNotAllowed' && /quota/i.test(message));

/** Classifies whatever the SDK threw into a DroverError. */
export const toDroverError = (err: unknown, context: string): DroverError => {
  if (err instanceof DroverError) return err;
  if (isRestError(err)) {
    const status = err.statusCode;
    const code = err.code ?? '';
    const message = `${context}: ${code ? `${code}: ` : ''}${err.message}`;
    const details: Record<string, unknown> = { status, code };
    if (isQuota(code, err.message))
      return new DroverError(ErrorType.Conflict, message, {
        details: { ...details, reason: 'quota' },
        cause: err,
      });
    if (status === undefined) return new DroverError(ErrorType.Unavailable, message, { details, cause: err });
    if (status === 429) {
      const after = retryAfterMs(err);
      return new DroverError(ErrorType.Throttled, message, {
        details: after === undefined ? details : { ...details, retryAfterMs: after },
        cause: err,
      });
    }
    if (status >= 500) return new DroverError(ErrorType.Unavailable, message, { details, cause: err });
    const type =
      status === 401
        ? ErrorType.Unauthorized
        : status === 403
          ? ErrorType.Forbidden
          : status === 404
            ? ErrorType.NotFound
            : status === 409 || status === 412
              ? ErrorType.Conflict
              : ErrorType.Invalid;
    return new DroverError(type, message, { details, cause: err });
  }
  const name = err instanceof Error ? err.name : '';
  if (['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError'].includes(name))
    return new DroverError(ErrorType.Unauthorized, `${context}: ${(err as Error).message}`, { cause: err });
  return new DroverError(
    ErrorType.Unavailable,
    `${context}: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  );
};

const normalizeLocation = (location: string | undefined): string =>
  (location ?? '').toLowerCase().replace(/\s+/g, '');

const clusterStatus = (state: string | undefined, power: string | undefined): CloudClusterStatus => {
  switch (state) {
    case undefined:
      return 'unknown';
    case 'Creating':
      return 'creating';
    case 'Succeeded':
      // A stopped cluster has no API server to reach; drover has no "stopped" state.
      return power === 'Stopped' ? 'unknown' : 'ready';
    case 'Deleting':
      return 'deleting';
    case 'Failed':
    case 'Canceled':
      return 'failed';
    default:
      // Updating, Upgrading, Scaling, Starting, Stopping, Canceling, RotatingClusterCertificates…
      return 'updating';
  }
};

const encodeTagKey = (key: string) => key.replace('/', ':');
const decodeTagKey = (key: string) =>
  key.split(':').length === 2 && !key.includes('/') ? key.replace(':', '/') : key;

const formatTaint = (t: Taint): string => `${t.key}${t.value === '' ? '' : `=${t.value}`}:${t.effect}`;

const parseTaint = (text: string): Taint | null => {
  const m = /^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$/.exec(text);
  if (!m?.[1]) return null;
  return { key: m[1], value: m[2] ?? '', effect: m[3] as Taint['effect'] };
};

/** "eastus-2" or "2" → "2", checked against the region's zones where the catalog knows them. */
const azureZone = (zone: string, location: string, field: string): string => {
  const n = /^[0-9]+$/.test(zone)
    ? zone
    : zone.startsWith(`${location}-`)
      ? zone.slice(location.length + 1)
      : null;
  const region = AKS_REGIONS.find((r) => r.name === location);
  if (n === null || !/^[0-9]+$/.test(n) || (region && !region.zones.includes(n))) {
    const valid = region?.zones.map((z) => normalizedZone(location, z)).join(', ') || 'none';
    throw new DroverError(
      ErrorType.Invalid,
      `zone '${zone}' is not a zone of ${location} (zones: ${valid})`,
      {
        field,
      },
    );
  }
  return n;
};

const dnsPrefixFor = (name: string): string =>
  name
    .replace(/[^a-zA-Z0-9-]/g, '-')
    .slice(0, 54)
    .replace(/^-+|-+$/g, '') || 'aks';

type PoolShape = Pick<
  ManagedClusterAgentPoolProfile,
  | 'count'
  | 'vmSize'
  | 'osDiskSizeGB'
  | 'mode'
  | 'enableAutoScaling'
  | 'minCount'
  | 'maxCount'
  | 'nodeLabels'
  | 'nodeTaints'
  | 'scaleSetPriority'
  | 'scaleSetEvictionPolicy'
  | 'spotMaxPrice'
  | 'availabilityZones'
  | 'osType'
  | 'provisioningState'
>;

const toPoolShape = (pool: NodePoolSpec, location: string, system: boolean, field: string): PoolShape => {
  const { autoscaling } = pool;
  const count = autoscaling ? Math.min(autoscaling.max, Math.max(autoscaling.min, pool.count)) : pool.count;
  const zones = pool.zones.map((z, i) => azureZone(z, location, `${field}.zones[${i}]`));
  return {
    vmSize: pool.machineType,
    count,
    osType: 'Linux',
    mode: system ? 'System' : 'User',
    enableAutoScaling: autoscaling !== null,
    ...(autoscaling ? { minCount: autoscaling.min, maxCount: autoscaling.max } : {}),
    nodeLabels: { ...pool.labels },
    nodeTaints: pool.taints.map(formatTaint),
    ...(pool.spot ? { scaleSetPriority: 'Spot', scaleSetEvictionPolicy: 'Delete', spotMaxPrice: -1 } : {}),
    ...(pool.diskGb > 0 ? { osDiskSizeGB: pool.diskGb } : {}),
    ...(zones.length > 0 ? { availabilityZones: zones } : {}),
  };
};

const toNodePool = (name: string, p: PoolShape, location: string): NodePool => {
  const spot = p.scaleSetPriority === 'Spot';
  const labels = { ...(p.nodeLabels ?? {}) };
  if (spot) delete labels[SPOT_KEY];
  const taints = (p.nodeTaints ?? [])
    .map(parseTaint)
    .filter((t): t is Taint => t !== null && !(spot && t.key === SPOT_KEY));
  return {
    name,
    machineType: p.vmSize ?? '',
    count: p.count ?? 0,
    autoscaling: p.enableAutoScaling ? { min: p.minCount ?? 0, max: p.maxCount ?? p.count ?? 0 } : null,
    labels,
    taints,
    spot,
    diskGb: p.osDiskSizeGB ?? 0,
    zones: (p.availabilityZones ?? []).map((z) => normalizedZone(location, z)),
    system: p.mode === 'System',
    status: clusterStatus(p.provisioningState, undefined),
  };
};

const endpointOf = (fqdn: string): string => (fqdn.includes(':') ? `https://${fqdn}` : `https://${fqdn}:443`);

const toCluster = (mc: ManagedCluster): CloudCluster => {
  const location = normalizeLocation(mc.location);
  const status = clusterStatus(mc.provisioningState, mc.powerState?.code);
  const fqdn = mc.fqdn ?? mc.privateFqdn;
  return {
    cloud: 'aks',
    name: mc.name ?? '',
    location,
    version: mc.currentKubernetesVersion ?? mc.kubernetesVersion ?? '',
    status,
    endpoint: status === 'ready' && fqdn ? endpointOf(fqdn) : null,
    labels: Object.fromEntries(Object.entries(mc.tags ?? {}).map(([k, v]) => [decodeTagKey(k), v])),
    nodePools: (mc.agentPoolProfiles ?? []).map((p) => toNodePool(p.name, p, location)),
    providerId: mc.id ?? '',
    createdAt: mc.systemData?.createdAt?.toISOString() ?? null,
  };
};

/** "The long-running operation has failed. Code. message" (core-lro) → "Code: message". */
const operationErrorMessage = (status: string, error: Error | undefined): string => {
  if (!error) return `operation ${status}`;
  const m = /^The long-running operation has failed\. ([^.\s]+)\. ([\s\S]*)$/.exec(error.message);
  return m ? `${m[1]}: ${m[2]}` : error.message;
};

interface KubeconfigUser {
  token?: string;
  exec?: { args?: string[] };
  'auth-provider'?: { name?: string; config?: Record<string, string> };
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const named = (list: unknown, name: unknown): Record<string, unknown> | undefined => {
  if (!Array.isArray(list)) return undefined;
  const hit: unknown =
    list.find((e) => isRecord(e) && e.name === name) ?? (name === undefined ? list[0] : undefined);
  return isRecord(hit) ? hit : undefined;
};

export class AksProvider implements CloudProvider {
  readonly cloud = 'aks' as const;
  readonly #client: ContainerServiceClient;
  readonly #credential: TokenCredential;
  readonly #resourceGroup: string;
  readonly #endpoint: string;
  readonly #defaultLocation: string;

  constructor(options: AksProviderOptions) {
    this.#credential = options.credential ?? new DefaultAzureCredential();
    this.#resourceGroup = options.resourceGroup;
    this.#endpoint = (options.endpoint ?? ARM_ENDPOINT).replace(/\/+$/, '');
    this.#defaultLocation = options.defaultLocation ?? 'eastus';
    const clientOptions: ContainerServiceClientOptionalParams = {
      endpoint: this.#endpoint,
      retryOptions: { maxRetries: 0 },
      userAgentOptions: { userAgentPrefix: 'drover' },
      ...(options.ca ? { tlsOptions: { ca: options.ca } } : {}),
      ...(options.apiVersion ? { apiVersion: options.apiVersion } : {}),
    };
    this.#client = new ContainerServiceClient(this.#credential, options.subscriptionId, clientOptions);
  }

  async listClusters(location?: string): Promise<CloudCluster[]> {
    const out: CloudCluster[] = [];
    try {
      for await (const mc of this.#client.managedClusters.listByResourceGroup(this.#resourceGroup)) {
        const cluster = toCluster(mc);
        if (!location || cluster.location === normalizeLocation(location)) out.push(cluster);
      }
    } catch (err) {
      throw toDroverError(err, `listing AKS clusters in resource group '${this.#resourceGroup}'`);
    }
    return out;
  }

  async describeCluster(location: string, name: string): Promise<CloudCluster | null> {
    const mc = await this.#get(this.#resourceGroup, name);
    if (!mc || normalizeLocation(mc.location) !== normalizeLocation(location)) return null;
    return toCluster(mc);
  }

  async createCluster(spec: ClusterSpec): Promise<CloudOperation> {
    const resourceGroup = this.#groupOf(spec.extras);
    const location = normalizeLocation(spec.location);
    const systemIndex = spec.nodePools.some((p) => p.system)
      ? -1
      : Math.max(
          0,
          spec.nodePools.findIndex((p) => !p.spot),
        );
    const body: ManagedCluster = {
      location,
      tags: Object.fromEntries(Object.entries(spec.labels).map(([k, v]) => [encodeTagKey(k), v])),
      identity: { type: 'SystemAssigned' },
      ...(spec.version ? { kubernetesVersion: spec.version } : {}),
      dnsPrefix: spec.extras.aks?.dnsPrefix ?? dnsPrefixFor(spec.name),
      enableRbac: true,
      agentPoolProfiles: spec.nodePools.map((p, i) => ({
        name: p.name,
        ...toPoolShape(p, location, p.system === true || i === systemIndex, `nodePools[${i}]`),
      })),
    };
    const existing = await this.#get(resourceGroup, spec.name);
    if (existing)
      throw new DroverError(
        ErrorType.Conflict,
        `AKS cluster '${spec.name}' already exists in resource group '${resourceGroup}' (${existing.location})`,
        { details: { providerId: existing.id } },
      );
    const context = `creating AKS cluster '${spec.name}'`;
    const started = this.#start(context, () => ({
      poller: this.#client.managedClusters.createOrUpdate(resourceGroup, spec.name, body),
    }));
    return this.#operation(await started, { kind: 'create-cluster', location, cluster: spec.name });
  }

  async deleteCluster(location: string, name: string): Promise<CloudOperation> {
    const base = { kind: 'delete-cluster' as const, location: normalizeLocation(location), cluster: name };
    const mc = await this.#get(this.#resourceGroup, name);
    if (!mc || normalizeLocation(mc.location) !== base.location) return this.#done(base);
    const started = this.#start(`deleting AKS cluster '${name}'`, () => ({
      poller: this.#client.managedClusters.delete(this.#resourceGroup, name),
    }));
    return this.#operation(await started, base);
  }

  async createNodePool(
    location: string,
    cluster: string,
    pool: NodePoolSpec,
    extras: ProviderExtras,
  ): Promise<CloudOperation> {
    const resourceGroup = this.#groupOf(extras);
    const base = {
      kind: 'create-node-pool' as const,
      location: normalizeLocation(location),
      cluster,
      nodePool: pool.name,
    };
    const body: AgentPool = toPoolShape(pool, base.location, pool.system === true, 'pool');
    const context = `creating node pool '${pool.name}' in AKS cluster '${cluster}'`;
    try {
      await this.#client.agentPools.get(resourceGroup, cluster, pool.name);
      throw new DroverError(
        ErrorType.Conflict,
        `node pool '${pool.name}' already exists in AKS cluster '${cluster}'`,
      );
    } catch (err) {
      if (!(isRestError(err) && err.statusCode === 404)) throw toDroverError(err, context);
    }
    const started = this.#start(context, () => ({
      poller: this.#client.agentPools.createOrUpdate(resourceGroup, cluster, pool.name, body),
    }));
    return this.#operation(await started, base);
  }

  async deleteNodePool(location: string, cluster: string, pool: string): Promise<CloudOperation> {
    const base = {
      kind: 'delete-node-pool' as const,
      location: normalizeLocation(location),
      cluster,
      nodePool: pool,
    };
    const started = this.#start(`deleting node pool '${pool}' of AKS cluster '${cluster}'`, () => ({
      poller: this.#client.agentPools.delete(this.#resourceGroup, cluster, pool),
    }));
    return this.#operation(await started, base);
  }

  async getOperation(operation: CloudOperation): Promise<CloudOperation> {
    if (operation.done) return operation;
    const context = `polling ${operation.kind} of AKS cluster '${operation.cluster}'`;
    this.#checkToken(operation.token);
    const client = this.#client;
    const token = operation.token;
    // Wrapped in an object so the poller, a thenable, is never adopted by an await (that would poll until done).
    const restore = (): { poller: ArmPoller } => {
      switch (operation.kind) {
        case 'create-cluster':
          return { poller: restorePoller(client, token, client.managedClusters.createOrUpdate) };
        case 'delete-cluster':
          return { poller: restorePoller(client, token, client.managedClusters.delete) };
        case 'create-node-pool':
          return { poller: restorePoller(client, token, client.agentPools.createOrUpdate) };
        case 'delete-node-pool':
          return { poller: restorePoller(client, token, client.agentPools.delete) };
      }
    };
    let poller: ArmPoller;
    try {
      ({ poller } = restore());
    } catch (err) {
      throw new DroverError(ErrorType.BadInput, `${context}: not an AKS operation token`, { cause: err });
    }
    try {
      await poller.poll();
    } catch (err) {
      // A failed or canceled operation rejects the poll with a plain Error; a RestError is the poll itself failing.
      if (isRestError(err) || !['failed', 'canceled'].includes(poller.operationState?.status ?? ''))
        throw toDroverError(err, context);
    }
    return this.#operation({ poller }, operation);
  }

  async catalog(location?: string): Promise<Catalog> {
    const where = normalizeLocation(location ?? this.#defaultLocation);
    let values;
    try {
      values = (await this.#client.managedClusters.listKubernetesVersions(where)).values ?? [];
    } catch (err) {
      throw toDroverError(err, `listing AKS Kubernetes versions in ${where}`);
    }
    // Preview minors and those offered only under the LTS (Premium) plan are not what drover creates.
    const usable = values.filter(
      (v) =>
        v.version &&
        !v.isPreview &&
        (v.capabilities?.supportPlan ?? ['KubernetesOfficial']).includes('KubernetesOfficial'),
    );
    const versions = usable.map((v) => v.version ?? '').sort((a, b) => compareVersions(b, a));
    const defaultVersion = usable.find((v) => v.isDefault)?.version ?? versions[0];
    if (!defaultVersion)
      throw new DroverError(ErrorType.Unavailable, `AKS lists no Kubernetes versions in ${where}`);
    return {
      cloud: 'aks',
      versions,
      defaultVersion,
      regions: AKS_REGIONS.map((r) => ({
        name: r.name,
        zones: r.zones.map((z) => normalizedZone(r.name, z)),
      })),
      machineTypes: machineTypesIn(location === undefined ? undefined : where),
    };
  }

  async access(_location: string, name: string): Promise<ClusterAccess> {
    const context = `reading credentials of AKS cluster '${name}'`;
    let kubeconfig: string;
    try {
      const result = await this.#client.managedClusters.listClusterUserCredentials(
        this.#resourceGroup,
        name,
        {
          format: 'exec',
        },
      );
      const entry = result.kubeconfigs?.find((k) => k.name === 'clusterUser') ?? result.kubeconfigs?.[0];
      if (!entry?.value)
        throw new DroverError(ErrorType.Unavailable, `${context}: AKS returned no kubeconfig`);
      kubeconfig = Buffer.from(entry.value).toString('utf8');
    } catch (err) {
      throw toDroverError(err, context);
    }
    let doc: unknown;
    try {
      doc = parseYaml(kubeconfig);
    } catch {
      // The parser quotes the offending line, which may hold the token: never pass its message on.
      throw new DroverError(ErrorType.Unavailable, `${context}: AKS returned a kubeconfig that is not YAML`);
    }
    if (!isRecord(doc))
      throw new DroverError(ErrorType.Unavailable, `${context}: the kubeconfig is not a mapping`);
    const ctx = named(doc.contexts, doc['current-context'])?.context;
    const clusterEntry = named(doc.clusters, isRecord(ctx) ? ctx.cluster : undefined)?.cluster;
    const userEntry = named(doc.users, isRecord(ctx) ? ctx.user : undefined)?.user;
    if (!isRecord(clusterEntry) || typeof clusterEntry.server !== 'string' || !isRecord(userEntry))
      throw new DroverError(
        ErrorType.Unavailable,
        `${context}: the kubeconfig has no cluster server or user`,
      );
    const ca = clusterEntry['certificate-authority-data'];
    const caData = typeof ca === 'string' ? Buffer.from(ca, 'base64').toString('utf8') : '';
    const user = userEntry as KubeconfigUser;
    if (typeof user.token === 'string' && user.token !== '')
      return {
        server: clusterEntry.server,
        caData,
        token: user.token,
        expiresAt: new Date(Date.now() + ACCESS_TTL_MS).toISOString(),
      };
    // An AAD-enabled cluster: its kubeconfig runs kubelogin; get the same token from our credential.
    const args = user.exec?.args ?? [];
    const serverIdAt = args.indexOf('--server-id');
    const serverId =
      (serverIdAt >= 0 ? args[serverIdAt + 1] : undefined) ??
      user['auth-provider']?.config?.['apiserver-id'] ??
      AKS_AAD_SERVER_ID;
    if (!user.exec && !user['auth-provider'])
      throw new DroverError(
        ErrorType.Unauthorized,
        `${context}: the kubeconfig user has neither a token nor AAD login`,
      );
    let token: AccessToken | null;
    try {
      token = await this.#credential.getToken(`${serverId}/.default`);
    } catch (err) {
      throw toDroverError(err, `${context}: getting an AAD token for the cluster`);
    }
    if (!token) throw new DroverError(ErrorType.Unauthorized, `${context}: no AAD token for the cluster`);
    return {
      server: clusterEntry.server,
      caData,
      token: token.token,
      expiresAt: new Date(token.expiresOnTimestamp).toISOString(),
    };
  }

  /** The adapter's resource group; another one in the extras is Invalid (see the header). */
  #groupOf(extras: ProviderExtras): string {
    const asked = extras.aks?.resourceGroup;
    if (asked !== undefined && asked !== this.#resourceGroup)
      throw new DroverError(
        ErrorType.Invalid,
        `this AKS account manages resource group '${this.#resourceGroup}', not '${asked}' (one account per group)`,
        { field: 'extras.aks.resourceGroup' },
      );
    return this.#resourceGroup;
  }

  /** GET a cluster; null when ARM says 404. */
  async #get(resourceGroup: string, name: string): Promise<ManagedCluster | null> {
    try {
      return await this.#client.managedClusters.get(resourceGroup, name);
    } catch (err) {
      if (isRestError(err) && err.statusCode === 404) return null;
      throw toDroverError(err, `reading AKS cluster '${name}'`);
    }
  }

  /** Sends an LRO's initial request and waits for its answer only (not for the operation). */
  async #start(context: string, begin: () => { poller: ArmPoller }): Promise<{ poller: ArmPoller }> {
    const started = begin();
    try {
      await started.poller.submitted();
    } catch (err) {
      throw toDroverError(err, context);
    }
    return started;
  }

  async #operation(
    { poller }: { poller: ArmPoller },
    base: Pick<CloudOperation, 'kind' | 'location' | 'cluster' | 'nodePool'>,
  ): Promise<CloudOperation> {
    const state = poller.operationState;
    if (poller.isDone) {
      const status = state?.status ?? 'succeeded';
      return this.#done(base, status === 'succeeded' ? null : operationErrorMessage(status, state?.error));
    }
    return { ...this.#done(base), token: await poller.serialize(), done: false };
  }

  #done(
    base: { kind: OperationKind; location: string; cluster: string; nodePool?: string | undefined },
    error: string | null = null,
  ): CloudOperation {
    return {
      cloud: 'aks',
      kind: base.kind,
      location: base.location,
      cluster: base.cluster,
      ...(base.nodePool === undefined ? {} : { nodePool: base.nodePool }),
      token: '',
      done: true,
      error,
    };
  }

  /** A token's polling URLs must point at this adapter's ARM: the bearer token goes wherever they say. */
  #checkToken(token: string): void {
    let urls: unknown[];
    try {
      const parsed = JSON.parse(token) as { state?: { config?: Record<string, unknown> } };
      const config = parsed.state?.config ?? {};
      urls = [config.operationLocation, config.resourceLocation, config.initialRequestUrl];
    } catch {
      throw new DroverError(ErrorType.BadInput, 'not an AKS operation token');
    }
    const origin = new URL(this.#endpoint).origin;
    for (const url of urls) {
      if (url === undefined) continue;
      if (typeof url !== 'string' || new URL(url, origin).origin !== origin)
        throw new DroverError(ErrorType.BadInput, `AKS operation token points outside ${origin}`);
    }
  }
}

export const createAksProvider = (options: AksProviderOptions): AksProvider => new AksProvider(options);
