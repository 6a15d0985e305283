/**
 * The sandbox EKS: an HTTP server speaking the EKS control-plane API as @aws-sdk/client-eks
 * does (AWS restJson1: REST routes, JSON bodies, epoch-second timestamps, errors as a JSON
 * `message` with the error's name in `x-amzn-ErrorType`), backed by the shared SandboxCloud.
 *
 * One server is one region of one account, as an EKS endpoint is. It serves the cluster and
 * managed-node-group operations drover uses plus DescribeClusterVersions, whose answers move
 * with the sandbox clock (a version appears on its release date and leaves standard, then
 * extended, support on its published dates). Requests must carry a SigV4 Authorization header
 * scoped to this region and to `eks`; the signature itself is not checked, since that would
 * need the SDK's signer here and sandbox/ stays SDK-free.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SandboxError } from './core.ts';
import type { SandboxCloud, SandboxCluster, SandboxNodePool } from './core.ts';

/** One Kubernetes minor as EKS publishes it (dates from the EKS release calendar). */
export interface EksVersion {
  version: string;
  patch: string;
  platformVersion: string;
  releaseDate: string;
  endOfStandardSupport: string;
  endOfExtendedSupport: string;
}

export const EKS_VERSIONS: readonly EksVersion[] = [
  v('1.35', '1.35.0', 'eks.3', '2026-01-28', '2027-03-27', '2028-03-27'),
  v('1.34', '1.34.2', 'eks.13', '2025-10-06', '2026-12-02', '2027-12-02'),
  v('1.33', '1.33.5', 'eks.27', '2025-05-28', '2026-07-29', '2027-07-29'),
  v('1.32', '1.32.9', 'eks.34', '2025-01-25', '2026-03-23', '2027-03-23'),
  v('1.31', '1.31.13', 'eks.50', '2024-09-26', '2025-11-26', '2026-11-26'),
  v('1.30', '1.30.14', 'eks.58', '2024-05-23', '2025-07-23', '2026-07-23'),
  v('1.29', '1.29.15', 'eks.61', '2024-01-23', '2025-03-23', '2026-03-23'),
  v('1.28', '1.28.15', 'eks.56', '2023-09-26', '2024-11-26', '2025-11-26'),
];

function v(
  version: string,
  patch: string,
  platformVersion: string,
  releaseDate: string,
  endOfStandardSupport: string,
  endOfExtendedSupport: string,
): EksVersion {
  return { version, patch, platformVersion, releaseDate, endOfStandardSupport, endOfExtendedSupport };
}

type SupportStatus = 'STANDARD_SUPPORT' | 'EXTENDED_SUPPORT' | 'UNSUPPORTED';

const supportAt = (ver: EksVersion, now: number): SupportStatus | null => {
  if (now < Date.parse(ver.releaseDate)) return null; // not released yet
  if (now < Date.parse(ver.endOfStandardSupport)) return 'STANDARD_SUPPORT';
  if (now < Date.parse(ver.endOfExtendedSupport)) return 'EXTENDED_SUPPORT';
  return 'UNSUPPORTED';
};

/** Versions a new cluster may use at `now`, newest first. */
const creatableVersions = (now: number): EksVersion[] =>
  EKS_VERSIONS.filter((ver) => {
    const s = supportAt(ver, now);
    return s !== null && s !== 'UNSUPPORTED';
  });

/**
 * The sandbox makes the newest-but-one minor the default, so that tests can tell "the default"
 * from "the newest".
 */
const defaultVersion = (now: number): EksVersion | undefined => {
  const open = creatableVersions(now);
  return open[1] ?? open[0];
};

export interface EksSandboxOptions {
  cloud: SandboxCloud;
  port?: number;
  host?: '127.0.0.1';
  /** The region this endpoint serves; clusters live in the SandboxCloud location of that name. */
  region?: string;
  accountId?: string;
}

export interface EksSandbox {
  /** The endpoint to give the SDK (`endpoint` in the client config). */
  url: string;
  region: string;
  accountId: string;
  stop(): Promise<void>;
}

/** An EKS-shaped error: rendered with its name in `x-amzn-ErrorType` and the message in the body. */
class EksError extends Error {
  readonly status: number;
  readonly type: string;
  readonly fields: Record<string, string>;
  readonly retryAfterSeconds: number | undefined;
  constructor(
    status: number,
    type: string,
    message: string,
    fields: Record<string, string | undefined> = {},
    retryAfterSeconds?: number,
  ) {
    super(message);
    this.status = status;
    this.type = type;
    this.fields = Object.fromEntries(
      Object.entries(fields).filter((e): e is [string, string] => e[1] !== undefined),
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

const invalid = (message: string, fields: Record<string, string | undefined> = {}) =>
  new EksError(400, 'InvalidParameterException', message, fields);

/** How EKS renders each of the core's error codes. */
const fromSandboxError = (err: SandboxError, fields: Record<string, string | undefined>): EksError => {
  switch (err.code) {
    case 'AlreadyExists':
    case 'ResourceInUse':
      return new EksError(409, 'ResourceInUseException', err.message, fields);
    case 'NotFound':
      return new EksError(404, 'ResourceNotFoundException', err.message, fields);
    case 'Quota':
      return new EksError(400, 'ResourceLimitExceededException', err.message, fields);
    case 'Throttled':
      return new EksError(429, 'ThrottlingException', err.message, {}, err.retryAfterSeconds ?? 1);
    case 'Invalid':
      return invalid(err.message, fields);
    case 'Internal':
      return new EksError(500, 'ServerException', err.message, fields);
  }
};

const NAME_PATTERN = /^[0-9A-Za-z][A-Za-z0-9\-_]*$/;
const ROLE_ARN_PATTERN = /^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/;
const TAINT_EFFECTS = ['NO_SCHEDULE', 'NO_EXECUTE', 'PREFER_NO_SCHEDULE'];
const CAPACITY_TYPES = ['ON_DEMAND', 'SPOT', 'CAPACITY_BLOCK'];
const MAX_PAGE = 100;

type Json = Record<string, unknown>;

const isRecord = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);
const stringArray = (x: unknown): string[] | null =>
  Array.isArray(x) && x.every((s) => typeof s === 'string') ? x : null;
const stringMap = (x: unknown): Record<string, string> | null =>
  isRecord(x) && Object.values(x).every((s) => typeof s === 'string') ? (x as Record<string, string>) : null;
const seconds = (ms: number) => ms / 1000;

/** Opaque pagination tokens: the last name served, so deletions between pages lose nothing. */
const encodeToken = (after: string) => Buffer.from(JSON.stringify({ after })).toString('base64url');
const decodeToken = (token: string): string => {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (isRecord(parsed) && typeof parsed.after === 'string') return parsed.after;
  } catch {
    // fall through
  }
  throw invalid('The nextToken provided is invalid.');
};

/**
 * One page of `items` in the order `compare` gives their keys. The cursor is the last key
 * served and the next page starts after it, so items deleted between pages lose nothing.
 */
const page = <T>(
  items: T[],
  key: (t: T) => string,
  compare: (a: string, b: string) => number,
  query: URLSearchParams,
): { items: T[]; nextToken?: string } => {
  const rawMax = query.get('maxResults');
  const max = rawMax === null ? MAX_PAGE : Number(rawMax);
  if (!Number.isInteger(max) || max < 1 || max > MAX_PAGE)
    throw invalid(`maxResults must be between 1 and ${MAX_PAGE}`);
  const token = query.get('nextToken');
  const after = token ? decodeToken(token) : null;
  const sorted = [...items].sort((a, b) => compare(key(a), key(b)));
  const rest = after === null ? sorted : sorted.filter((t) => compare(key(t), after) > 0);
  const chosen = rest.slice(0, max);
  const last = chosen[chosen.length - 1];
  return rest.length > max && last !== undefined
    ? { items: chosen, nextToken: encodeToken(key(last)) }
    : { items: chosen };
};

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const minor = (version: string) => Number(version.split('.')[1]);
const newestFirst = (a: string, b: string) => minor(b) - minor(a);

/** Starts the sandbox EKS endpoint on 127.0.0.1. */
export const startEksSandbox = async (options: EksSandboxOptions): Promise<EksSandbox> => {
  const { cloud } = options;
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '123456789012';
  const host = options.host ?? '127.0.0.1';
  const now = () => cloud.clock.now();

  const clusterArn = (name: string) => `arn:aws:eks:${region}:${accountId}:cluster/${name}`;

  const clusterStatus = (c: SandboxCluster) =>
    ({ creating: 'CREATING', ready: 'ACTIVE', deleting: 'DELETING', failed: 'FAILED' })[c.status];
  const poolStatus = (p: SandboxNodePool) =>
    ({ creating: 'CREATING', ready: 'ACTIVE', deleting: 'DELETING', failed: 'CREATE_FAILED' })[p.status];

  const renderCluster = (c: SandboxCluster): Json => {
    const s = recordOf(c);
    // A deleting cluster was ready unless it had failed (the core refuses to delete a creating one).
    const live = c.status === 'ready' || (c.status === 'deleting' && c.failWith === null);
    const ca =
      c.access?.caData ??
      `-----BEGIN CERTIFICATE-----\n${Buffer.from(`drover sandbox eks ${c.name}`).toString('base64')}\n-----END CERTIFICATE-----\n`;
    return {
      name: c.name,
      arn: clusterArn(c.name),
      createdAt: seconds(c.createdAt),
      version: s.version,
      ...(live ? { endpoint: c.access?.server ?? `https://127.0.0.1:1/${c.name}` } : {}),
      roleArn: s.roleArn,
      resourcesVpcConfig: {
        subnetIds: s.subnetIds,
        securityGroupIds: s.securityGroupIds,
        clusterSecurityGroupId: `sg-${s.hex.slice(0, 17)}`,
        vpcId: `vpc-${s.hex.slice(8, 25)}`,
        endpointPublicAccess: s.endpointPublicAccess,
        endpointPrivateAccess: s.endpointPrivateAccess,
        publicAccessCidrs: s.endpointPublicAccess ? ['0.0.0.0/0'] : [],
      },
      kubernetesNetworkConfig: { serviceIpv4Cidr: '10.100.0.0/16', ipFamily: 'ipv4' },
      logging: {
        clusterLogging: [
          { types: ['api', 'audit', 'authenticator', 'controllerManager', 'scheduler'], enabled: false },
        ],
      },
      ...(live
        ? {
            identity: {
              oidc: { issuer: `https://oidc.eks.${region}.amazonaws.com/id/${s.hex.toUpperCase()}` },
            },
            certificateAuthority: { data: Buffer.from(ca).toString('base64') },
          }
        : {}),
      status: clusterStatus(c),
      clientRequestToken: s.clientRequestToken,
      platformVersion: s.platformVersion,
      tags: s.tags,
      health: {
        issues:
          c.status === 'failed'
            ? [{ code: 'InternalFailure', message: c.failWith ?? 'failed', resourceIds: [] }]
            : [],
      },
      accessConfig: { authenticationMode: s.authenticationMode },
      upgradePolicy: { supportType: 'EXTENDED' },
    };
  };

  const renderNodegroup = (c: SandboxCluster, p: SandboxNodePool): Json => {
    const s = groupRecordOf(p);
    return {
      nodegroupName: p.name,
      nodegroupArn: `arn:aws:eks:${region}:${accountId}:nodegroup/${c.name}/${p.name}/${s.uuid}`,
      clusterName: c.name,
      version: s.version,
      releaseVersion: s.releaseVersion,
      createdAt: seconds(s.createdAt),
      modifiedAt: seconds(p.since),
      status: poolStatus(p),
      capacityType: s.capacityType,
      scalingConfig: s.scalingConfig,
      instanceTypes: s.instanceTypes,
      subnets: s.subnets,
      amiType: s.amiType,
      nodeRole: s.nodeRole,
      labels: s.labels,
      taints: s.taints,
      ...(p.status === 'ready'
        ? { resources: { autoScalingGroups: [{ name: `eks-${p.name}-${s.uuid}` }] } }
        : {}),
      diskSize: s.diskSize,
      health: {
        issues:
          p.status === 'failed'
            ? [{ code: 'NodeCreationFailure', message: p.failWith ?? 'failed', resourceIds: [] }]
            : [],
      },
      updateConfig: { maxUnavailable: 1 },
      tags: s.tags,
    };
  };

  const createCluster = async (body: Json): Promise<Json> => {
    const name = body.name;
    if (typeof name !== 'string' || !NAME_PATTERN.test(name) || name.length > 100)
      throw invalid(
        `Invalid cluster name: '${String(name)}'. Member must satisfy regular expression pattern: ${NAME_PATTERN.source}`,
      );
    const { failAsync } = await cloud.begin('createCluster', name);
    const token = typeof body.clientRequestToken === 'string' ? body.clientRequestToken : undefined;
    const existing = cloud.find(region, name);
    // Same name, same idempotency token: the retry of a create that succeeded.
    if (existing && token !== undefined && recordOf(existing).clientRequestToken === token)
      return { cluster: renderCluster(existing) };
    if (existing)
      throw new EksError(409, 'ResourceInUseException', `Cluster already exists with name: ${name}`, {
        clusterName: name,
      });
    const roleArn = body.roleArn;
    if (typeof roleArn !== 'string' || !ROLE_ARN_PATTERN.test(roleArn))
      throw invalid(`Invalid Role Arn: '${String(roleArn)}'`, { clusterName: name });
    const vpc = isRecord(body.resourcesVpcConfig) ? body.resourcesVpcConfig : {};
    const subnetIds = stringArray(vpc.subnetIds) ?? [];
    if (new Set(subnetIds).size < 2)
      throw invalid('Subnets specified must be in at least two different AZs', { clusterName: name });
    const now_ = now();
    const open = creatableVersions(now_);
    const requested = body.version;
    const ver = requested === undefined ? defaultVersion(now_) : open.find((o) => o.version === requested);
    if (!ver) throw invalid(`unsupported Kubernetes version ${String(requested)}`, { clusterName: name });
    const tags = body.tags === undefined ? {} : stringMap(body.tags);
    if (!tags) throw invalid('tags must map strings to strings', { clusterName: name });
    const access = isRecord(body.accessConfig) ? body.accessConfig : {};
    const record: ClusterRecord = {
      request: body,
      version: ver.version,
      platformVersion: ver.platformVersion,
      roleArn,
      subnetIds,
      securityGroupIds: stringArray(vpc.securityGroupIds) ?? [],
      endpointPublicAccess: vpc.endpointPublicAccess !== false,
      endpointPrivateAccess: vpc.endpointPrivateAccess === true,
      tags,
      clientRequestToken: token,
      authenticationMode:
        typeof access.authenticationMode === 'string' ? access.authenticationMode : 'CONFIG_MAP',
      hex: randomUUID().replaceAll('-', ''),
    };
    const cluster = cloud.createCluster(region, name, record as unknown as Json, [], failAsync);
    return { cluster: renderCluster(cluster) };
  };

  const deleteCluster = async (name: string): Promise<Json> => {
    await cloud.begin('deleteCluster', name);
    const c = cloud.get(region, name);
    if (c.status !== 'deleting' && c.nodePools.size > 0)
      throw new EksError(409, 'ResourceInUseException', 'Cluster has nodegroups attached', {
        clusterName: name,
      });
    return { cluster: renderCluster(cloud.deleteCluster(region, name, true)) };
  };

  const createNodegroup = async (clusterName: string, body: Json): Promise<Json> => {
    const name = body.nodegroupName;
    if (typeof name !== 'string' || !NAME_PATTERN.test(name) || name.length > 63)
      throw invalid(`Invalid nodegroup name: '${String(name)}'`, { clusterName });
    const { failAsync } = await cloud.begin('createNodePool', clusterName);
    const c = cloud.get(region, clusterName);
    if (c.nodePools.has(name))
      throw new EksError(
        409,
        'ResourceInUseException',
        `NodeGroup already exists with name ${name} and cluster name ${clusterName}`,
        { clusterName, nodegroupName: name },
      );
    if (c.status !== 'ready')
      throw new EksError(400, 'InvalidRequestException', `Cluster '${clusterName}' is not in ACTIVE status`, {
        clusterName,
      });
    const fields = { clusterName, nodegroupName: name };
    const nodeRole = body.nodeRole;
    if (typeof nodeRole !== 'string' || !ROLE_ARN_PATTERN.test(nodeRole))
      throw invalid(`Invalid Role Arn: '${String(nodeRole)}'`, fields);
    const subnets = stringArray(body.subnets) ?? [];
    if (subnets.length === 0) throw invalid('At least one subnet is required', fields);
    const scaling = isRecord(body.scalingConfig) ? body.scalingConfig : {};
    const minSize = scaling.minSize ?? 2;
    const maxSize = scaling.maxSize ?? 2;
    const desiredSize = scaling.desiredSize ?? minSize;
    const ints = [minSize, maxSize, desiredSize];
    if (!ints.every((n) => Number.isInteger(n) && (n as number) >= 0))
      throw invalid('scalingConfig sizes must be non-negative integers', fields);
    const [min, max, desired] = ints as [number, number, number];
    if (max < 1) throw invalid('Maxsize must be greater than or equal to 1', fields);
    if (min > max) throw invalid('Minimum capacity cannot be greater than maximum capacity', fields);
    if (desired < min || desired > max)
      throw invalid(
        'Desired capacity cannot be less than minimum capacity or greater than maximum capacity',
        fields,
      );
    const capacityType = body.capacityType ?? 'ON_DEMAND';
    if (typeof capacityType !== 'string' || !CAPACITY_TYPES.includes(capacityType))
      throw invalid(`Invalid capacityType: ${JSON.stringify(capacityType)}`, fields);
    const instanceTypes = body.instanceTypes === undefined ? ['t3.medium'] : stringArray(body.instanceTypes);
    if (!instanceTypes || instanceTypes.length === 0)
      throw invalid('instanceTypes must not be empty', fields);
    const labels = body.labels === undefined ? {} : stringMap(body.labels);
    if (!labels) throw invalid('labels must map strings to strings', fields);
    const rawTaints: unknown[] = Array.isArray(body.taints) ? body.taints : [];
    const taints = rawTaints.map((t) => {
      if (!isRecord(t) || typeof t.key !== 'string' || t.key === '' || typeof t.effect !== 'string')
        throw invalid('Each taint needs a key and an effect', fields);
      if (!TAINT_EFFECTS.includes(t.effect))
        throw invalid(
          `Invalid taint effect: '${t.effect}'. Valid values: ${TAINT_EFFECTS.join(', ')}`,
          fields,
        );
      return { key: t.key, ...(typeof t.value === 'string' ? { value: t.value } : {}), effect: t.effect };
    });
    if (taints.length > 50) throw invalid('At most 50 taints per node group', fields);
    const diskSize = body.diskSize ?? 20;
    if (!Number.isInteger(diskSize) || (diskSize as number) < 1)
      throw invalid('diskSize must be a positive integer', fields);
    const clusterRecord = recordOf(c);
    const ver = EKS_VERSIONS.find((e) => e.version === clusterRecord.version);
    const tags = body.tags === undefined ? {} : stringMap(body.tags);
    if (!tags) throw invalid('tags must map strings to strings', fields);
    const record: NodegroupRecord = {
      request: body,
      uuid: randomUUID(),
      createdAt: now(),
      version: clusterRecord.version,
      releaseVersion: `${ver?.patch ?? clusterRecord.version}-20251120`,
      capacityType,
      scalingConfig: { minSize: min, maxSize: max, desiredSize: desired },
      instanceTypes,
      subnets,
      amiType: typeof body.amiType === 'string' ? body.amiType : 'AL2023_x86_64_STANDARD',
      nodeRole,
      labels,
      taints,
      diskSize: diskSize as number,
      tags,
    };
    const pool = cloud.createNodePool(region, clusterName, name, record as unknown as Json, failAsync);
    return { nodegroup: renderNodegroup(c, pool) };
  };

  const describeClusterVersions = async (query: URLSearchParams): Promise<Json> => {
    await cloud.begin('catalog');
    const clusterType = query.get('clusterType') ?? 'eks';
    if (clusterType !== 'eks') throw invalid(`Unsupported clusterType: '${clusterType}'`);
    const now_ = now();
    const dflt = defaultVersion(now_);
    const wanted = query.getAll('clusterVersions').flatMap((x) => x.split(','));
    const includeAll = query.get('includeAll') === 'true';
    const defaultOnly = query.get('defaultOnly') === 'true';
    const versionStatus = query.get('versionStatus');
    const legacyStatus = query.get('status');
    const rows = EKS_VERSIONS.flatMap((ver) => {
      const support = supportAt(ver, now_);
      if (support === null) return [];
      if (support === 'UNSUPPORTED' && !includeAll && wanted.length === 0) return [];
      if (wanted.length > 0 && !wanted.includes(ver.version)) return [];
      if (defaultOnly && ver !== dflt) return [];
      if (versionStatus !== null && versionStatus !== support) return [];
      const legacy = support.toLowerCase().replace('_', '-');
      if (legacyStatus !== null && legacyStatus !== legacy) return [];
      return [
        {
          clusterVersion: ver.version,
          clusterType: 'eks',
          defaultPlatformVersion: ver.platformVersion,
          defaultVersion: ver === dflt,
          releaseDate: seconds(Date.parse(ver.releaseDate)),
          endOfStandardSupportDate: seconds(Date.parse(ver.endOfStandardSupport)),
          endOfExtendedSupportDate: seconds(Date.parse(ver.endOfExtendedSupport)),
          status: legacy,
          versionStatus: support,
          kubernetesPatchVersion: ver.patch,
        },
      ];
    });
    const { items, nextToken } = page(rows, (r) => r.clusterVersion, newestFirst, query);
    return { clusterVersions: items, ...(nextToken ? { nextToken } : {}) };
  };

  const route = async (method: string, path: string[], query: URLSearchParams, body: Json): Promise<Json> => {
    const [root, name, sub, ng, ...extra] = path;
    if (extra.length > 0) throw unknownOperation();
    if (root === 'cluster-versions' && name === undefined && method === 'GET')
      return describeClusterVersions(query);
    if (root !== 'clusters') throw unknownOperation();
    if (name === undefined) {
      if (method === 'POST') return createCluster(body);
      if (method === 'GET') {
        await cloud.begin('listClusters');
        const { items, nextToken } = page(cloud.list(region), (c) => c.name, byName, query);
        return { clusters: items.map((c) => c.name), ...(nextToken ? { nextToken } : {}) };
      }
      throw unknownOperation();
    }
    if (sub === undefined) {
      if (method === 'GET') {
        await cloud.begin('describeCluster', name);
        return { cluster: renderCluster(notFoundAsEks(() => cloud.get(region, name), name)) };
      }
      if (method === 'DELETE') return deleteCluster(name);
      throw unknownOperation();
    }
    if (sub !== 'node-groups') throw unknownOperation();
    if (ng === undefined) {
      if (method === 'POST') return createNodegroup(name, body);
      if (method === 'GET') {
        // ListNodegroups: faults and call counts treat it as part of describing pools.
        await cloud.begin('describeNodePool', name);
        const c = notFoundAsEks(() => cloud.get(region, name), name);
        const { items, nextToken } = page([...c.nodePools.keys()], (n) => n, byName, query);
        return { nodegroups: items, ...(nextToken ? { nextToken } : {}) };
      }
      throw unknownOperation();
    }
    if (method === 'GET') {
      await cloud.begin('describeNodePool', name);
      const c = notFoundAsEks(() => cloud.get(region, name), name);
      const p = c.nodePools.get(ng);
      if (!p) throw nodegroupNotFound(name, ng);
      return { nodegroup: renderNodegroup(c, p) };
    }
    if (method === 'DELETE') {
      await cloud.begin('deleteNodePool', name);
      const c = notFoundAsEks(() => cloud.get(region, name), name);
      if (!c.nodePools.has(ng)) throw nodegroupNotFound(name, ng);
      return { nodegroup: renderNodegroup(c, cloud.deleteNodePool(region, name, ng)) };
    }
    throw unknownOperation();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const path = url.pathname
      .split('/')
      .filter((s) => s !== '')
      .map((s) => {
        try {
          return decodeURIComponent(s);
        } catch {
          return s; // malformed escapes: routed as they are, and found nowhere
        }
      });
    const ids = { clusterName: path[0] === 'clusters' ? path[1] : undefined, nodegroupName: path[3] };
    try {
      checkAuthorization(req.headers.authorization, region);
      const raw = await readBody(req);
      let body: Json = {};
      if (raw.length > 0) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw);
        } catch {
          throw new EksError(400, 'SerializationException', 'Request body is not valid JSON');
        }
        if (!isRecord(parsed))
          throw new EksError(400, 'SerializationException', 'Request body must be a JSON object');
        body = parsed;
      }
      const out = await route(req.method ?? 'GET', path, url.searchParams, body);
      send(res, 200, out);
    } catch (err) {
      const e =
        err instanceof EksError
          ? err
          : err instanceof SandboxError
            ? fromSandboxError(err, ids)
            : new EksError(500, 'ServerException', `internal error: ${String(err)}`);
      const headers: Record<string, string> = { 'x-amzn-ErrorType': e.type };
      if (e.retryAfterSeconds !== undefined) headers['Retry-After'] = String(e.retryAfterSeconds);
      send(res, e.status, { ...e.fields, message: e.message }, headers);
    }
  };

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  // SDK clients keep idle connections for reuse without a deadline of their own; Node's 5 s
  // default would close one just as a client reuses it (ECONNRESET, an account then unlisted
  // for a discovery round). Cloud front ends keep idle connections far longer.
  server.keepAliveTimeout = 10 * 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    region,
    accountId,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
};

/** What the sandbox keeps of a cluster (SandboxCluster.spec). */
interface ClusterRecord {
  request: Json;
  version: string;
  platformVersion: string;
  roleArn: string;
  subnetIds: string[];
  securityGroupIds: string[];
  endpointPublicAccess: boolean;
  endpointPrivateAccess: boolean;
  tags: Record<string, string>;
  clientRequestToken: string | undefined;
  authenticationMode: string;
  /** Random hex from which the OIDC issuer, VPC and security group ids derive. */
  hex: string;
}

// The core keeps `spec` untyped; this server alone writes it, always with these shapes.
const recordOf = (c: SandboxCluster) => c.spec as unknown as ClusterRecord;
const groupRecordOf = (p: SandboxNodePool) => p.spec as unknown as NodegroupRecord;

/** What the sandbox keeps of a node group (SandboxNodePool.spec). */
interface NodegroupRecord {
  request: Json;
  uuid: string;
  createdAt: number;
  version: string;
  releaseVersion: string;
  capacityType: string;
  scalingConfig: { minSize: number; maxSize: number; desiredSize: number };
  instanceTypes: string[];
  subnets: string[];
  amiType: string;
  nodeRole: string;
  labels: Record<string, string>;
  taints: { key: string; value?: string; effect: string }[];
  diskSize: number;
  tags: Record<string, string>;
}

const unknownOperation = () => new EksError(404, 'UnknownOperationException', 'Unknown operation');

const nodegroupNotFound = (clusterName: string, nodegroupName: string) =>
  new EksError(404, 'ResourceNotFoundException', `No node group found for name: ${nodegroupName}.`, {
    clusterName,
    nodegroupName,
  });

/** The core's NotFound, worded as EKS words it. */
const notFoundAsEks = (get: () => SandboxCluster, name: string): SandboxCluster => {
  try {
    return get();
  } catch (err) {
    if (err instanceof SandboxError && err.code === 'NotFound')
      throw new EksError(404, 'ResourceNotFoundException', `No cluster found for name: ${name}.`, {
        clusterName: name,
      });
    throw err;
  }
};

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=[0-9a-f]{64}$/;

const checkAuthorization = (header: string | undefined, region: string): void => {
  const m = header === undefined ? null : AUTHORIZATION.exec(header);
  if (!m)
    throw new EksError(
      403,
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
    );
  const [, , , scopeRegion, service, signed] = m;
  if (scopeRegion !== region)
    throw new EksError(
      403,
      'InvalidSignatureException',
      `Credential should be scoped to a valid region, not '${scopeRegion}'.`,
    );
  if (service !== 'eks')
    throw new EksError(
      403,
      'InvalidSignatureException',
      `Credential should be scoped to correct service: 'eks'.`,
    );
  if (!signed?.split(';').includes('host'))
    throw new EksError(403, 'InvalidSignatureException', "'Host' must be a signed header.");
};

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

const send = (
  res: ServerResponse,
  status: number,
  body: Json,
  headers: Record<string, string> = {},
): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'x-amzn-RequestId': randomUUID(),
    ...headers,
  });
  res.end(text);
};
