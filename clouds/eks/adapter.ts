/**
 * The EKS adapter: CloudProvider on @aws-sdk/client-eks, for one region (the location).
 *
 * EKS has no operation objects: a CloudOperation's token names the resource (cluster or node
 * group), and `getOperation` describes it: ACTIVE is done, a failed status is done with the
 * cloud's message, gone is done for a delete. Node groups are created separately from the
 * cluster, once it is ACTIVE; a cluster with node groups cannot be deleted (Conflict).
 * Cluster labels are EKS tags. `access()` mints the bearer token `aws eks get-token` makes: a
 * presigned STS GetCallerIdentity URL bound to the cluster name by the x-k8s-aws-id header.
 * The SDK never retries (maxAttempts 1): Temporal retries, honouring the server's Retry-After.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import {
  CreateClusterCommand,
  CreateNodegroupCommand,
  DeleteClusterCommand,
  DeleteNodegroupCommand,
  DescribeClusterCommand,
  DescribeClusterVersionsCommand,
  DescribeNodegroupCommand,
  EKSClient,
  ListClustersCommand,
  ListNodegroupsCommand,
} from '@aws-sdk/client-eks';
import type {
  AMITypes,
  Cluster,
  ClusterVersionInformation,
  CreateNodegroupRequest,
  EKSClientConfig,
  Nodegroup,
  TaintEffect,
} from '@aws-sdk/client-eks';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
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
import { EKS_MACHINE_TYPES, EKS_REGIONS, FALLBACK_VERSIONS, machineType } from './catalog.ts';

export type EksCredentials = NonNullable<EKSClientConfig['credentials']>;

export interface EksProviderOptions {
  /** The region this adapter serves: every location it accepts must be this one. */
  region: string;
  /** Endpoint override (the sandbox, moto); default: the region's EKS endpoint. */
  endpoint?: string;
  /** Explicit credentials; default: the AWS default chain (env, profile, SSO, web identity, IMDS…). */
  credentials?: EksCredentials;
  /** Page size for list calls (tests use a small one to exercise paging). */
  pageSize?: number;
  /** Clock for token signing and expiry; default: the system clock. */
  now?: () => Date;
}

/** A cluster token is valid for 15 minutes after signing; refresh a minute early. */
const TOKEN_LIFETIME_MS = 14 * 60_000;
/** As aws-iam-authenticator and `aws eks get-token` presign. */
const PRESIGN_EXPIRES_S = 60;
const TOKEN_PREFIX = 'k8s-aws-v1.';

/** What a CloudOperation's token holds: the resource to describe. */
interface OperationToken {
  resource: 'cluster' | 'nodegroup';
  cluster: string;
  nodegroup?: string;
  /** A node group's ARN carries a uuid: a same-named group created later is another one. */
  arn?: string;
}

const EFFECT_TO_EKS: Record<Taint['effect'], TaintEffect> = {
  NoSchedule: 'NO_SCHEDULE',
  PreferNoSchedule: 'PREFER_NO_SCHEDULE',
  NoExecute: 'NO_EXECUTE',
};
const EFFECT_FROM_EKS: Record<string, Taint['effect']> = {
  NO_SCHEDULE: 'NoSchedule',
  PREFER_NO_SCHEDULE: 'PreferNoSchedule',
  NO_EXECUTE: 'NoExecute',
};

const clusterStatus = (s: string | undefined): CloudClusterStatus => {
  switch (s) {
    case 'CREATING':
    case 'PENDING':
      return 'creating';
    case 'ACTIVE':
      return 'ready';
    case 'UPDATING':
      return 'updating';
    case 'DELETING':
      return 'deleting';
    case 'FAILED':
      return 'failed';
    default:
      return 'unknown';
  }
};

const nodegroupStatus = (s: string | undefined): CloudClusterStatus => {
  switch (s) {
    case 'CREATING':
      return 'creating';
    case 'ACTIVE':
      return 'ready';
    case 'UPDATING':
      return 'updating';
    case 'DELETING':
      return 'deleting';
    // DEGRADED: the group exists but EKS reports health issues that keep it from working.
    case 'CREATE_FAILED':
    case 'DELETE_FAILED':
    case 'DEGRADED':
      return 'failed';
    default:
      return 'unknown';
  }
};

const issues = (health: { issues?: { code?: string; message?: string }[] } | undefined): string | null => {
  const list = (health?.issues ?? []).map((i) => [i.code, i.message].filter(Boolean).join(': '));
  return list.length > 0 ? list.join('; ') : null;
};

const minor = (version: string) => Number(version.split('.')[1] ?? 0);
const major = (version: string) => Number(version.split('.')[0] ?? 0);

/** STS's regional endpoint host, in the region's partition. */
const stsHost = (region: string): string => {
  if (region.startsWith('cn-')) return `sts.${region}.amazonaws.com.cn`;
  return `sts.${region}.amazonaws.com`;
};

const invalid = (field: string, message: string) => new DroverError(ErrorType.Invalid, message, { field });

/** The EKS extras a cluster or node group needs; missing ones name the field. */
const eksExtras = (
  extras: ProviderExtras,
  need: { nodeRole: boolean },
): { roleArn: string; subnetIds: string[]; nodeRoleArn: string } => {
  const eks = extras.eks;
  if (!eks)
    throw invalid('extras.eks', 'EKS needs extras.eks: roleArn, subnetIds (two zones or more), nodeRoleArn');
  if (!eks.roleArn) throw invalid('extras.eks.roleArn', 'EKS needs extras.eks.roleArn: the cluster IAM role');
  if (!Array.isArray(eks.subnetIds) || new Set(eks.subnetIds).size < 2)
    throw invalid(
      'extras.eks.subnetIds',
      'EKS needs extras.eks.subnetIds: at least two subnets in different zones',
    );
  if (need.nodeRole && !eks.nodeRoleArn)
    throw invalid('extras.eks.nodeRoleArn', 'EKS node groups need extras.eks.nodeRoleArn: the node IAM role');
  return eks;
};

/** A NodePoolSpec as a CreateNodegroup request (validated: bad specs are Invalid). */
export const nodegroupRequest = (
  cluster: string,
  pool: NodePoolSpec,
  extras: ProviderExtras,
): CreateNodegroupRequest => {
  const eks = eksExtras(extras, { nodeRole: true });
  const field = (f: string) => `nodePools.${pool.name}.${f}`;
  if (!/^[0-9A-Za-z][A-Za-z0-9\-_]{0,62}$/.test(pool.name))
    throw invalid(field('name'), `node group name '${pool.name}' must be 1-63 letters, digits, - or _`);
  if (!pool.machineType) throw invalid(field('machineType'), 'a node group needs a machine type');
  if (!Number.isInteger(pool.count) || pool.count < 0)
    throw invalid(field('count'), 'count must be a non-negative integer');
  let scalingConfig: { minSize: number; maxSize: number; desiredSize: number };
  if (pool.autoscaling) {
    const { min, max } = pool.autoscaling;
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < 1 || min > max)
      throw invalid(field('autoscaling'), 'autoscaling needs 0 <= min <= max and max >= 1');
    scalingConfig = { minSize: min, maxSize: max, desiredSize: Math.min(max, Math.max(min, pool.count)) };
  } else {
    // EKS wants maxSize >= 1 even for an empty group.
    scalingConfig = { minSize: pool.count, maxSize: Math.max(pool.count, 1), desiredSize: pool.count };
  }
  if (!Number.isInteger(pool.diskGb) || pool.diskGb < 0)
    throw invalid(field('diskGb'), 'diskGb must be a non-negative integer');
  const known = machineType(pool.machineType);
  let amiType: AMITypes | undefined;
  if (known) {
    if (known.arch === 'arm64') amiType = known.gpus > 0 ? 'AL2023_ARM_64_NVIDIA' : 'AL2023_ARM_64_STANDARD';
    else amiType = known.gpus > 0 ? 'AL2023_x86_64_NVIDIA' : 'AL2023_x86_64_STANDARD';
  }
  return {
    clusterName: cluster,
    nodegroupName: pool.name,
    scalingConfig,
    instanceTypes: [pool.machineType],
    ...(amiType ? { amiType } : {}),
    // Subnets decide the zones of an EKS node group; `zones` cannot narrow them without EC2.
    subnets: eks.subnetIds,
    nodeRole: eks.nodeRoleArn,
    labels: pool.labels,
    taints: pool.taints.map((t) => {
      const effect = EFFECT_TO_EKS[t.effect] as TaintEffect | undefined;
      if (!effect) throw invalid(field('taints'), `unknown taint effect '${String(t.effect)}'`);
      return { key: t.key, value: t.value, effect };
    }),
    capacityType: pool.spot ? 'SPOT' : 'ON_DEMAND',
    ...(pool.diskGb > 0 ? { diskSize: pool.diskGb } : {}),
  };
};

const toNodePool = (ng: Nodegroup): NodePool => {
  const scaling = ng.scalingConfig ?? {};
  const min = scaling.minSize ?? 0;
  const max = scaling.maxSize ?? 0;
  const count = scaling.desiredSize ?? min;
  // Fixed-size pools are written as min = desired = max (or 0/1/0 for empty ones).
  const fixed = min === max || (min === count && count === 0 && max === 1);
  return {
    name: ng.nodegroupName ?? '',
    machineType: ng.instanceTypes?.[0] ?? '',
    count,
    autoscaling: fixed ? null : { min, max },
    labels: ng.labels ?? {},
    taints: (ng.taints ?? []).map((t) => ({
      key: t.key ?? '',
      value: t.value ?? '',
      effect: EFFECT_FROM_EKS[t.effect ?? ''] ?? 'NoSchedule',
    })),
    spot: ng.capacityType === 'SPOT',
    diskGb: ng.diskSize ?? 20,
    zones: [],
    status: nodegroupStatus(ng.status),
  };
};

const retryAfterMs = (err: unknown): number | undefined => {
  const headers = (err as { $response?: { headers?: Record<string, string | undefined> } }).$response
    ?.headers;
  const raw = headers?.['retry-after'] ?? headers?.['Retry-After'];
  if (raw === undefined) return undefined;
  const secs = Number(raw);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
};

/** Classifies an SDK failure into a DroverError, once, at the edge. */
export const classify = (err: unknown): DroverError => {
  if (err instanceof DroverError) return err;
  const e = err as {
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const name = e.name ?? '';
  const message = e.message || name || String(err);
  const status = e.$metadata?.httpStatusCode;
  const make = (type: ErrorType, details?: Record<string, unknown>) =>
    new DroverError(type, message, { cause: err, details: { awsError: name, ...details } });
  switch (name) {
    case 'ResourceNotFoundException':
    case 'NotFoundException':
      return make(ErrorType.NotFound);
    case 'ResourceInUseException':
      return make(ErrorType.Conflict);
    // "The request is invalid given the state of the cluster": not ACTIVE yet, or busy.
    case 'InvalidRequestException':
    case 'InvalidStateException':
      return make(ErrorType.Conflict, { reason: 'state' });
    case 'ResourceLimitExceededException':
      return make(ErrorType.Conflict, { reason: 'quota' });
    case 'InvalidParameterException':
    case 'BadRequestException':
    case 'UnsupportedAvailabilityZoneException':
    case 'ValidationException':
    case 'SerializationException':
      return make(ErrorType.Invalid);
    case 'ThrottlingException':
    case 'TooManyRequestsException':
    case 'RequestLimitExceeded': {
      const after = retryAfterMs(err);
      return make(ErrorType.Throttled, after === undefined ? {} : { retryAfterMs: after });
    }
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
    case 'MissingAuthenticationTokenException':
    case 'ExpiredTokenException':
    case 'InvalidClientTokenId':
    case 'CredentialsProviderError':
      return make(ErrorType.Unauthorized);
    case 'AccessDeniedException':
      return make(ErrorType.Forbidden);
    case 'ServerException':
    case 'ServiceUnavailableException':
      return make(ErrorType.Unavailable);
  }
  if (status === 429) {
    const after = retryAfterMs(err);
    return make(ErrorType.Throttled, after === undefined ? {} : { retryAfterMs: after });
  }
  if (status === 401) return make(ErrorType.Unauthorized);
  if (status === 403) return make(ErrorType.Forbidden);
  if (status === 404) return make(ErrorType.NotFound);
  if (status === 409) return make(ErrorType.Conflict);
  if (status !== undefined && status >= 400 && status < 500) return make(ErrorType.Invalid);
  // 5xx, and no response at all (refused, reset, timed out) or one that could not be read.
  return make(ErrorType.Unavailable);
};

/** True when the endpoint does not serve the operation at all (an emulator), as opposed to an EKS error. */
const isUnservedOperation = (err: unknown): boolean => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return (
    e.name === 'UnknownOperationException' ||
    ((status === 404 || status === 501) &&
      e.name !== 'ResourceNotFoundException' &&
      e.name !== 'NotFoundException')
  );
};

export class EksProvider implements CloudProvider {
  readonly cloud = 'eks' as const;
  readonly region: string;
  readonly #client: EKSClient;
  readonly #credentials: EksCredentials;
  readonly #pageSize: number;
  readonly #now: () => Date;

  constructor(options: EksProviderOptions) {
    this.region = options.region;
    this.#credentials = options.credentials ?? fromNodeProviderChain();
    this.#pageSize = options.pageSize ?? 100;
    this.#now = options.now ?? (() => new Date());
    this.#client = new EKSClient({
      region: options.region,
      credentials: this.#credentials,
      maxAttempts: 1,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    });
  }

  /** Releases the SDK's sockets. */
  destroy(): void {
    this.#client.destroy();
  }

  async listClusters(location?: string): Promise<CloudCluster[]> {
    if (location !== undefined) this.#checkLocation(location);
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.#send((c) =>
        c.send(new ListClustersCommand({ maxResults: this.#pageSize, nextToken })),
      );
      names.push(...(out.clusters ?? []));
      nextToken = out.nextToken || undefined;
    } while (nextToken);
    const clusters: CloudCluster[] = [];
    for (const name of names) {
      const c = await this.describeCluster(this.region, name);
      if (c) clusters.push(c); // deleted since it was listed
    }
    return clusters;
  }

  async describeCluster(location: string, name: string): Promise<CloudCluster | null> {
    this.#checkLocation(location);
    const cluster = await this.#cluster(name);
    if (!cluster) return null;
    const pools: NodePool[] = [];
    for (const ng of await this.#nodegroupNames(name)) {
      const group = await this.#nodegroup(name, ng);
      if (group) pools.push(toNodePool(group));
    }
    return this.#toCluster(cluster, pools);
  }

  async createCluster(spec: ClusterSpec): Promise<CloudOperation> {
    this.#checkLocation(spec.location);
    const eks = eksExtras(spec.extras, { nodeRole: spec.nodePools.length > 0 });
    // Node groups come later (once ACTIVE), but a spec that cannot become one fails now.
    for (const pool of spec.nodePools) nodegroupRequest(spec.name, pool, spec.extras);
    const out = await this.#send((c) =>
      c.send(
        new CreateClusterCommand({
          name: spec.name,
          // EKS takes a minor ("1.33"); a patch ("1.33.5") asks for that minor's current patch.
          ...(spec.version ? { version: /^\d+\.\d+/.exec(spec.version)?.[0] ?? spec.version } : {}),
          roleArn: eks.roleArn,
          resourcesVpcConfig: {
            subnetIds: eks.subnetIds,
            endpointPublicAccess: true,
            endpointPrivateAccess: true,
          },
          tags: spec.labels,
          // The site's identity creates the cluster and is the one `access()` signs as.
          accessConfig: {
            authenticationMode: 'API_AND_CONFIG_MAP',
            bootstrapClusterCreatorAdminPermissions: true,
          },
        }),
      ),
    );
    return this.#clusterOperation('create-cluster', spec.name, out.cluster);
  }

  async deleteCluster(location: string, name: string): Promise<CloudOperation> {
    this.#checkLocation(location);
    try {
      await this.#send((c) => c.send(new DeleteClusterCommand({ name })));
    } catch (err) {
      if (err instanceof DroverError && err.type === ErrorType.NotFound)
        return {
          ...this.#operation('delete-cluster', name, { resource: 'cluster', cluster: name }),
          done: true,
        };
      throw err;
    }
    return this.#operation('delete-cluster', name, { resource: 'cluster', cluster: name });
  }

  async createNodePool(
    location: string,
    cluster: string,
    pool: NodePoolSpec,
    extras: ProviderExtras,
  ): Promise<CloudOperation> {
    this.#checkLocation(location);
    const out = await this.#send((c) =>
      c.send(new CreateNodegroupCommand(nodegroupRequest(cluster, pool, extras))),
    );
    const ng = out.nodegroup;
    const op = this.#operation('create-node-pool', cluster, {
      resource: 'nodegroup',
      cluster,
      nodegroup: pool.name,
      ...(ng?.nodegroupArn ? { arn: ng.nodegroupArn } : {}),
    });
    return ng ? this.#settleNodegroup(op, ng) : op;
  }

  async deleteNodePool(location: string, cluster: string, pool: string): Promise<CloudOperation> {
    this.#checkLocation(location);
    const token: OperationToken = { resource: 'nodegroup', cluster, nodegroup: pool };
    try {
      const out = await this.#send((c) =>
        c.send(new DeleteNodegroupCommand({ clusterName: cluster, nodegroupName: pool })),
      );
      if (out.nodegroup?.nodegroupArn) token.arn = out.nodegroup.nodegroupArn;
    } catch (err) {
      if (err instanceof DroverError && err.type === ErrorType.NotFound)
        return { ...this.#operation('delete-node-pool', cluster, token), done: true };
      throw err;
    }
    return this.#operation('delete-node-pool', cluster, token);
  }

  async getOperation(operation: CloudOperation): Promise<CloudOperation> {
    if (operation.done) return operation;
    const token = this.#parseToken(operation);
    if (token.resource === 'cluster') {
      const cluster = await this.#cluster(token.cluster);
      if (operation.kind === 'delete-cluster') {
        if (!cluster) return { ...operation, done: true, error: null };
        if (cluster.status === 'DELETING') return operation;
        return {
          ...operation,
          done: true,
          error: `cluster ${token.cluster} is ${cluster.status ?? 'UNKNOWN'}, not deleting`,
        };
      }
      if (!cluster) return { ...operation, done: true, error: `cluster ${token.cluster} no longer exists` };
      return this.#settleCluster(operation, cluster);
    }
    const group = await this.#nodegroup(token.cluster, token.nodegroup ?? '');
    const same =
      group && (!token.arn || !group.nodegroupArn || group.nodegroupArn === token.arn) ? group : null;
    if (operation.kind === 'delete-node-pool') {
      if (!same) return { ...operation, done: true, error: null };
      if (same.status === 'DELETING') return operation;
      const why = issues(same.health);
      return {
        ...operation,
        done: true,
        error: `node group ${token.nodegroup ?? ''} is ${same.status ?? 'UNKNOWN'}${why ? `: ${why}` : ''}`,
      };
    }
    if (!same)
      return { ...operation, done: true, error: `node group ${token.nodegroup ?? ''} no longer exists` };
    return this.#settleNodegroup(operation, same);
  }

  async catalog(location?: string): Promise<Catalog> {
    let versions: { version: string; isDefault: boolean }[];
    try {
      let nextToken: string | undefined;
      const infos: ClusterVersionInformation[] = [];
      do {
        const out = await this.#client.send(
          new DescribeClusterVersionsCommand({ maxResults: this.#pageSize, nextToken }),
        );
        infos.push(...(out.clusterVersions ?? []));
        nextToken = out.nextToken || undefined;
      } while (nextToken);
      versions = infos
        .filter((i) => i.clusterVersion && i.versionStatus !== 'UNSUPPORTED' && i.status !== 'unsupported')
        .map((i) => ({ version: i.clusterVersion ?? '', isDefault: i.defaultVersion === true }));
    } catch (err) {
      if (!isUnservedOperation(err)) throw classify(err);
      versions = FALLBACK_VERSIONS.versions.map((version) => ({
        version,
        isDefault: version === FALLBACK_VERSIONS.defaultVersion,
      }));
    }
    versions.sort((a, b) => major(b.version) - major(a.version) || minor(b.version) - minor(a.version));
    const first = versions[0];
    if (!first) throw new DroverError(ErrorType.Unavailable, 'EKS served no supported Kubernetes versions');
    return {
      cloud: 'eks',
      versions: versions.map((x) => x.version),
      defaultVersion: (versions.find((x) => x.isDefault) ?? first).version,
      regions: EKS_REGIONS.map((r) => ({ name: r.name, zones: [...r.zones] })),
      // The curated table does not vary by region; every listed type is sold in every listed region.
      machineTypes:
        location === undefined || EKS_REGIONS.some((r) => r.name === location) ? [...EKS_MACHINE_TYPES] : [],
    };
  }

  async access(location: string, name: string): Promise<ClusterAccess> {
    this.#checkLocation(location);
    const cluster = await this.#cluster(name);
    if (!cluster)
      throw new DroverError(ErrorType.NotFound, `EKS cluster '${name}' not found in ${this.region}`);
    if (!cluster.endpoint || (cluster.status !== 'ACTIVE' && cluster.status !== 'UPDATING'))
      throw new DroverError(ErrorType.Conflict, `EKS cluster '${name}' is ${cluster.status ?? 'not ready'}`, {
        details: { reason: 'state' },
      });
    const signedAt = this.#now();
    return {
      server: cluster.endpoint,
      caData: pemFrom(cluster.certificateAuthority?.data),
      token: await this.token(name, signedAt),
      expiresAt: new Date(signedAt.getTime() + TOKEN_LIFETIME_MS).toISOString(),
    };
  }

  /**
   * The EKS bearer token for `cluster`: `k8s-aws-v1.` + base64url (unpadded) of a presigned
   * STS GetCallerIdentity URL whose signed headers include `x-k8s-aws-id: <cluster>`, so the
   * token is good for that cluster only.
   */
  async token(cluster: string, signingDate: Date = this.#now()): Promise<string> {
    const hostname = stsHost(this.region);
    const signer = new SignatureV4({
      service: 'sts',
      region: this.region,
      credentials: this.#credentials,
      sha256: Sha256,
    });
    let signed: HttpRequest;
    try {
      signed = (await signer.presign(
        new HttpRequest({
          method: 'GET',
          protocol: 'https:',
          hostname,
          path: '/',
          query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
          headers: { host: hostname, 'x-k8s-aws-id': cluster },
        }),
        { expiresIn: PRESIGN_EXPIRES_S, signingDate },
      )) as HttpRequest;
    } catch (err) {
      throw classify(err);
    }
    const query = Object.entries(signed.query)
      .flatMap(([k, v]) =>
        Array.isArray(v) ? v.map((x) => [k, x] as const) : v === null ? [] : [[k, v] as const],
      )
      .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
      .join('&');
    const url = `https://${hostname}/?${query}`;
    return TOKEN_PREFIX + Buffer.from(url).toString('base64url');
  }

  #checkLocation(location: string): void {
    if (location !== this.region)
      throw new DroverError(
        ErrorType.Invalid,
        `this EKS adapter serves region ${this.region}, not '${location}'`,
        { field: 'location' },
      );
  }

  /** Every SDK call goes through here, so every failure leaves classified. */
  async #send<T>(call: (client: EKSClient) => Promise<T>): Promise<T> {
    try {
      return await call(this.#client);
    } catch (err) {
      throw classify(err);
    }
  }

  async #cluster(name: string): Promise<Cluster | null> {
    try {
      const out = await this.#send((c) => c.send(new DescribeClusterCommand({ name })));
      return out.cluster ?? null;
    } catch (err) {
      if (err instanceof DroverError && err.type === ErrorType.NotFound) return null;
      throw err;
    }
  }

  async #nodegroup(cluster: string, name: string): Promise<Nodegroup | null> {
    try {
      const out = await this.#send((c) =>
        c.send(new DescribeNodegroupCommand({ clusterName: cluster, nodegroupName: name })),
      );
      return out.nodegroup ?? null;
    } catch (err) {
      if (err instanceof DroverError && err.type === ErrorType.NotFound) return null;
      throw err;
    }
  }

  async #nodegroupNames(cluster: string): Promise<string[]> {
    const names: string[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const out = await this.#send((c) =>
          c.send(new ListNodegroupsCommand({ clusterName: cluster, maxResults: this.#pageSize, nextToken })),
        );
        names.push(...(out.nodegroups ?? []));
        nextToken = out.nextToken || undefined;
      } while (nextToken);
    } catch (err) {
      // The cluster went away between describing it and listing its groups.
      if (err instanceof DroverError && err.type === ErrorType.NotFound) return [];
      throw err;
    }
    return names;
  }

  #toCluster(c: Cluster, pools: NodePool[]): CloudCluster {
    const status = clusterStatus(c.status);
    return {
      cloud: 'eks',
      name: c.name ?? '',
      location: this.region,
      version: c.version ?? '',
      status,
      endpoint: status === 'creating' ? null : (c.endpoint ?? null),
      labels: c.tags ?? {},
      nodePools: pools,
      providerId: c.arn ?? '',
      createdAt: c.createdAt ? c.createdAt.toISOString() : null,
    };
  }

  #operation(kind: OperationKind, cluster: string, token: OperationToken): CloudOperation {
    return {
      cloud: 'eks',
      kind,
      location: this.region,
      cluster,
      ...(token.nodegroup !== undefined ? { nodePool: token.nodegroup } : {}),
      token: JSON.stringify(token),
      done: false,
      error: null,
    };
  }

  #clusterOperation(kind: OperationKind, name: string, cluster: Cluster | undefined): CloudOperation {
    const op = this.#operation(kind, name, { resource: 'cluster', cluster: name });
    return cluster ? this.#settleCluster(op, cluster) : op;
  }

  /** Where a create-cluster operation stands, given the cluster as described. */
  #settleCluster(op: CloudOperation, c: Cluster): CloudOperation {
    switch (c.status) {
      case 'ACTIVE':
      case 'UPDATING':
        return { ...op, done: true, error: null };
      case 'FAILED':
        return { ...op, done: true, error: issues(c.health) ?? `cluster ${op.cluster} creation failed` };
      case 'DELETING':
        return { ...op, done: true, error: `cluster ${op.cluster} is being deleted` };
      default:
        return op;
    }
  }

  /** Where a create-node-pool operation stands, given the node group as described. */
  #settleNodegroup(op: CloudOperation, ng: Nodegroup): CloudOperation {
    switch (ng.status) {
      case 'ACTIVE':
      case 'UPDATING':
        return { ...op, done: true, error: null };
      case 'CREATE_FAILED':
      case 'DEGRADED':
      case 'DELETE_FAILED':
        return {
          ...op,
          done: true,
          error:
            issues(ng.health) ??
            `node group ${op.nodePool ?? ''} ${ng.status === 'DEGRADED' ? 'is degraded' : 'failed'}`,
        };
      case 'DELETING':
        return { ...op, done: true, error: `node group ${op.nodePool ?? ''} is being deleted` };
      default:
        return op;
    }
  }

  #parseToken(op: CloudOperation): OperationToken {
    try {
      const t = JSON.parse(op.token) as Partial<OperationToken>;
      if ((t.resource === 'cluster' || t.resource === 'nodegroup') && typeof t.cluster === 'string')
        return t as OperationToken;
    } catch {
      // fall through
    }
    throw new DroverError(ErrorType.BadInput, `not an EKS operation token: ${op.token}`);
  }
}

/**
 * EKS serves the cluster CA as base64 of its PEM; ClusterAccess carries the PEM. Anything that
 * is not one (emulators fill in random text) gives '' rather than bytes no TLS stack can use.
 */
const pemFrom = (data: string | undefined): string => {
  const pem = Buffer.from(data ?? '', 'base64').toString('utf8');
  return pem.includes('-----BEGIN CERTIFICATE-----') ? pem : '';
};

/** Query-string escaping as SigV4 canonicalises it (encodeURIComponent leaves !'()* alone). */
const rfc3986 = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export const createEksProvider = (options: EksProviderOptions): EksProvider => new EksProvider(options);
