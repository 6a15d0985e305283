/**
 * The sandbox AKS: an HTTPS server speaking Azure Resource Manager's Microsoft.ContainerService
 * REST API the way @azure/arm-containerservice calls it — managed clusters (PUT/GET/DELETE,
 * list by resource group and by subscription with nextLink paging), agent pools under a cluster,
 * listClusterUserCredential (a base64 kubeconfig), the location's kubernetesVersions, and the
 * Azure-AsyncOperation status resources that long-running operations are polled through.
 * State, clock, faults and quota live in the shared SandboxCloud; this file is the ARM wire
 * format: resource shapes under `properties`, `{ error: { code, message } }` bodies with ARM's
 * status codes, a required `api-version` and a required bearer token.
 *
 * Fault injection: PUT cluster counts as createCluster, GET cluster and listClusterUserCredential
 * as describeCluster, DELETE cluster as deleteCluster, the two lists as listClusters, PUT/DELETE
 * agent pool as createNodePool/deleteNodePool, GET agent pool(s) as describeNodePool, operation
 * status as getOperation, kubernetesVersions as catalog.
 *
 * Deliberate simplifications: a PUT on an existing cluster or pool is accepted as an idempotent
 * update of its tags only (drover's adapter checks existence first, so create stays create);
 * cluster names are unique per location across resource groups (the engine keys clusters by
 * location and name); credentials are served once the cluster is ready.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { compareVersions } from '../../domain/versions.ts';
import { SandboxError, type SandboxCloud, type SandboxCluster, type SandboxNodePool } from './core.ts';
import { servingCert } from './tls.ts';

/** One Kubernetes minor as AKS's kubernetesVersions API lists it. */
export interface AksKubernetesVersion {
  version: string;
  patches: string[];
  isDefault?: boolean;
  isPreview?: boolean;
  /** KubernetesOfficial and/or AKSLongTermSupport. */
  supportPlan: string[];
}

/** What the sandbox's kubernetesVersions serves, shaped like AKS's list in 2025-2026. */
export const AKS_SANDBOX_VERSIONS: readonly AksKubernetesVersion[] = [
  { version: '1.34', patches: ['1.34.0'], isPreview: true, supportPlan: ['KubernetesOfficial'] },
  {
    version: '1.33',
    patches: ['1.33.0', '1.33.1', '1.33.2'],
    supportPlan: ['KubernetesOfficial', 'AKSLongTermSupport'],
  },
  { version: '1.32', patches: ['1.32.5', '1.32.6'], isDefault: true, supportPlan: ['KubernetesOfficial'] },
  { version: '1.31', patches: ['1.31.9', '1.31.10'], supportPlan: ['KubernetesOfficial'] },
  { version: '1.30', patches: ['1.30.13', '1.30.14'], supportPlan: ['AKSLongTermSupport'] },
];

/** Regions the sandbox accepts, and whether each has availability zones "1", "2", "3". */
export const AKS_SANDBOX_REGIONS: Readonly<Record<string, boolean>> = {
  eastus: true,
  eastus2: true,
  centralus: true,
  southcentralus: true,
  westus: false,
  westus2: true,
  westus3: true,
  northcentralus: false,
  canadacentral: true,
  brazilsouth: true,
  northeurope: true,
  westeurope: true,
  uksouth: true,
  francecentral: true,
  germanywestcentral: true,
  swedencentral: true,
  switzerlandnorth: true,
  southeastasia: true,
  eastasia: true,
  japaneast: true,
  koreacentral: true,
  centralindia: true,
  australiaeast: true,
};

export interface AksSandboxOptions {
  cloud: SandboxCloud;
  port?: number;
  host?: '127.0.0.1';
  /** Where the serving certificate is cached (default: a folder under the OS temp dir). */
  certDir?: string;
  /** When set, only this bearer token is accepted; otherwise any bearer token is. */
  token?: string;
  /** Items per list page before a nextLink (ARM pages at 100 or so; tests use less). */
  pageSize?: number;
  versions?: readonly AksKubernetesVersion[];
}

export interface AksSandbox {
  /** https://127.0.0.1:<port>: the ARM endpoint to give the SDK. */
  url: string;
  /** The PEM the client must trust. */
  ca: string;
  stop(): Promise<void>;
}

/** What the server keeps about a cluster beyond the engine's state (in SandboxCluster.spec). */
type ArmCluster = {
  subscriptionId: string;
  resourceGroup: string;
  tags: Record<string, string>;
  kubernetesVersion: string | undefined;
  currentKubernetesVersion: string;
  dnsPrefix: string;
  fqdn: string;
  identityType: string;
  /** The clusterUser's static token when no backing API server supplies one. */
  userToken: string;
  resourceUID: string;
  /** AKS-managed Azure AD: user credentials are a kubelogin (exec) or azure auth-provider login. */
  aad: boolean;
  tenantId: string;
};

/** An agent pool's normalized wire properties (in SandboxNodePool.spec). */
type ArmPool = { properties: Record<string, unknown> };

type OperationKind = 'create-cluster' | 'delete-cluster' | 'create-node-pool' | 'delete-node-pool';

interface OperationRecord {
  id: string;
  kind: OperationKind;
  subscriptionId: string;
  location: string;
  /** The very objects the operation is about: a same-named successor is a different resource. */
  cluster: SandboxCluster;
  pool: SandboxNodePool | undefined;
  started: number;
}

/** An ARM error response: status, `{ error: { code, message } }`, extra headers. */
class ArmError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

const invalid = (message: string, code = 'InvalidParameter') => new ArmError(400, code, message);

const fromSandboxError = (err: SandboxError): ArmError => {
  switch (err.code) {
    case 'AlreadyExists':
      return new ArmError(409, 'Conflict', err.message);
    case 'ResourceInUse':
      return new ArmError(409, 'OperationNotAllowed', err.message);
    case 'NotFound':
      return new ArmError(404, 'ResourceNotFound', err.message);
    case 'Quota':
      return new ArmError(409, 'QuotaExceeded', err.message);
    case 'Throttled': {
      const seconds = err.retryAfterSeconds ?? 1;
      return new ArmError(
        429,
        'SubscriptionRequestsThrottled',
        `Number of requests for the subscription exceeded the limit. Please try again after '${seconds}' seconds.`,
        { 'Retry-After': String(seconds) },
      );
    }
    case 'Invalid':
      return invalid(err.message);
    case 'Internal':
      return new ArmError(500, 'InternalServerError', err.message);
  }
};

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const stringRecord = (v: unknown, field: string): Record<string, string> => {
  if (v === undefined || v === null) return {};
  if (!isRecord(v) || Object.values(v).some((x) => typeof x !== 'string'))
    throw invalid(`${field} must be an object of string values`);
  return v as Record<string, string>;
};

const optionalInt = (v: unknown, field: string, min: number, max: number): number | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw invalid(`${field} must be an integer between ${min} and ${max}, got ${JSON.stringify(v)}`);
  return v;
};

const CLUSTER_NAME = /^[a-zA-Z0-9](?:[-_a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$/;
const DNS_PREFIX = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]{0,52}[a-zA-Z0-9])?$/;
const LINUX_POOL_NAME = /^[a-z][a-z0-9]{0,11}$/;
const WINDOWS_POOL_NAME = /^[a-z][a-z0-9]{0,5}$/;
const TAINT = /^[^=:\s]+(?:=[^:\s]*)?:(?:NoSchedule|PreferNoSchedule|NoExecute)$/;
const TAG_NAME_FORBIDDEN = /[<>%&\\?/]|[\p{Cc}]/u;
const SPOT_KEY = 'kubernetes.azure.com/scalesetpriority';
/** AKS's AAD server application (the token audience) and the Azure CLI's client id, as AKS puts them in kubeconfigs. */
const AKS_AAD_SERVER_ID = '6dae42f8-4368-4678-94ff-3960e28e3630';
const AZURE_CLI_CLIENT_ID = '04b07795-8ddb-461a-bbee-02f9e1bf7b46';

/** Resolves a requested "1.33" or "1.33.2" to the patch the cluster runs. */
const resolveVersion = (versions: readonly AksKubernetesVersion[], requested: string | undefined): string => {
  const minor = requested
    ? versions.find((v) => v.version === requested || v.patches.includes(requested))
    : versions.find((v) => v.isDefault);
  if (!minor)
    throw invalid(
      `Version ${requested} is not supported in this region. Please use [az aks get-versions] command to get the supported version list in this region. For more information, please check https://aka.ms/supported-version-list`,
      'AgentPoolK8sVersionNotSupported',
    );
  if (requested && minor.version !== requested) return requested;
  return minor.patches[minor.patches.length - 1] ?? minor.version;
};

interface PoolContext {
  location: string;
  clusterVersion: string;
  versions: readonly AksKubernetesVersion[];
}

/**
 * Validates one agent pool's properties as AKS does and returns what the server keeps: the
 * request's fields with AKS's defaults filled in, plus the label and taint AKS adds to spot pools.
 */
const validatePool = (name: string, raw: unknown, ctx: PoolContext): Record<string, unknown> => {
  if (!isRecord(raw)) throw invalid(`agent pool '${name}' must be an object`);
  const osType = raw.osType ?? 'Linux';
  if (osType !== 'Linux' && osType !== 'Windows')
    throw invalid(`agent pool '${name}': osType must be Linux or Windows`);
  if (osType === 'Linux' && !LINUX_POOL_NAME.test(name))
    throw invalid(
      `Agent pool name '${name}' is invalid: a Linux agent pool name must start with a lowercase letter, contain only lowercase letters and numbers, and be at most 12 characters long.`,
      'InvalidAgentPoolName',
    );
  if (osType === 'Windows' && !WINDOWS_POOL_NAME.test(name))
    throw invalid(
      `Agent pool name '${name}' is invalid: a Windows agent pool name must start with a lowercase letter, contain only lowercase letters and numbers, and be at most 6 characters long.`,
      'InvalidAgentPoolName',
    );
  const mode = raw.mode ?? 'User';
  if (mode !== 'System' && mode !== 'User')
    throw invalid(`agent pool '${name}': mode must be System or User`);
  if (mode === 'System' && osType === 'Windows')
    throw invalid(`agent pool '${name}': Windows agent pools cannot be System pools`);
  if (typeof raw.vmSize !== 'string' || !/^Standard_[A-Za-z0-9_]+$/.test(raw.vmSize))
    throw invalid(`agent pool '${name}': vmSize must be an Azure VM size such as Standard_D4s_v5`);

  const autoscale = raw.enableAutoScaling === true;
  const minCount = optionalInt(raw.minCount, `agent pool '${name}': minCount`, 0, 1000);
  const maxCount = optionalInt(raw.maxCount, `agent pool '${name}': maxCount`, 0, 1000);
  let count = optionalInt(raw.count, `agent pool '${name}': count`, 0, 1000) ?? 1;
  if (autoscale) {
    if (minCount === undefined || maxCount === undefined)
      throw invalid(
        `agent pool '${name}': minCount and maxCount are required when enableAutoScaling is true`,
      );
    if (minCount > maxCount)
      throw invalid(
        `agent pool '${name}': minCount (${minCount}) must be less than or equal to maxCount (${maxCount})`,
      );
    if (raw.count === undefined) count = minCount;
    if (count < minCount || count > maxCount)
      throw invalid(`agent pool '${name}': count (${count}) must be between minCount and maxCount`);
  } else if (minCount !== undefined || maxCount !== undefined) {
    throw invalid(`agent pool '${name}': minCount and maxCount require enableAutoScaling`);
  }
  if (mode === 'System' && (autoscale ? (minCount ?? 0) : count) < 1)
    throw invalid(`agent pool '${name}': a System agent pool needs at least one node`);

  const priority = raw.scaleSetPriority ?? 'Regular';
  if (priority !== 'Regular' && priority !== 'Spot')
    throw invalid(`agent pool '${name}': scaleSetPriority must be Regular or Spot`);
  if (priority === 'Spot' && mode === 'System')
    throw invalid(
      `agent pool '${name}': System agent pools cannot use Spot priority; use a User pool for spot nodes`,
    );

  const nodeLabels = stringRecord(raw.nodeLabels, `agent pool '${name}': nodeLabels`);
  const taints = raw.nodeTaints ?? [];
  if (!Array.isArray(taints) || taints.some((t) => typeof t !== 'string' || !TAINT.test(t)))
    throw invalid(
      `agent pool '${name}': nodeTaints must be strings like key=value:NoSchedule (effects NoSchedule, PreferNoSchedule, NoExecute)`,
    );
  const nodeTaints = [...(taints as string[])];
  if (priority === 'Spot') {
    nodeLabels[SPOT_KEY] = 'spot';
    const spotTaint = `${SPOT_KEY}=spot:NoSchedule`;
    if (!nodeTaints.includes(spotTaint)) nodeTaints.push(spotTaint);
  }

  const zones = raw.availabilityZones ?? [];
  if (!Array.isArray(zones) || zones.some((z) => z !== '1' && z !== '2' && z !== '3'))
    throw invalid(`agent pool '${name}': availabilityZones must be among "1", "2", "3"`);
  if (zones.length > 0 && !AKS_SANDBOX_REGIONS[ctx.location])
    throw invalid(
      `agent pool '${name}': availability zones are not supported in location '${ctx.location}'`,
      'AvailabilityZoneNotSupported',
    );

  const disk = optionalInt(raw.osDiskSizeGB, `agent pool '${name}': osDiskSizeGB`, 0, 2048);
  if (disk !== undefined && disk !== 0 && disk < 30)
    throw invalid(
      `agent pool '${name}': osDiskSizeGB must be 0 (the VM size's default) or between 30 and 2048`,
    );

  let orchestratorVersion = ctx.clusterVersion;
  if (typeof raw.orchestratorVersion === 'string' && raw.orchestratorVersion !== '') {
    orchestratorVersion = resolveVersion(ctx.versions, raw.orchestratorVersion);
    if (compareVersions(orchestratorVersion, ctx.clusterVersion) > 0)
      throw invalid(
        `agent pool '${name}': orchestratorVersion ${orchestratorVersion} cannot be greater than the control plane version ${ctx.clusterVersion}`,
      );
  }

  return {
    count,
    vmSize: raw.vmSize,
    osDiskSizeGB: disk || 128,
    osDiskType: 'Managed',
    kubeletDiskType: 'OS',
    maxPods: 250,
    type: 'VirtualMachineScaleSets',
    osType,
    osSKU: osType === 'Linux' ? 'Ubuntu' : 'Windows2022',
    mode,
    enableAutoScaling: autoscale,
    ...(autoscale ? { minCount, maxCount } : {}),
    orchestratorVersion:
      typeof raw.orchestratorVersion === 'string' ? raw.orchestratorVersion : orchestratorVersion,
    currentOrchestratorVersion: orchestratorVersion,
    scaleSetPriority: priority,
    ...(priority === 'Spot'
      ? {
          scaleSetEvictionPolicy: raw.scaleSetEvictionPolicy ?? 'Delete',
          spotMaxPrice: raw.spotMaxPrice ?? -1,
        }
      : {}),
    ...(zones.length > 0 ? { availabilityZones: zones } : {}),
    nodeLabels,
    nodeTaints,
    tags: stringRecord(raw.tags, `agent pool '${name}': tags`),
    enableNodePublicIP: false,
    nodeImageVersion: `AKSUbuntu-2204gen2containerd-202601.05.0`,
    upgradeSettings: { maxSurge: '10%' },
  };
};

const validateTags = (raw: unknown): Record<string, string> => {
  const tags = stringRecord(raw, 'tags');
  const bad = Object.keys(tags).filter((k) => TAG_NAME_FORBIDDEN.test(k) || k.length > 512);
  if (bad.length > 0)
    throw new ArmError(
      400,
      'InvalidTagNameCharacters',
      `The tag names '${bad.join(',')}' have reserved characters '<,>,%,&,\\,?,/' or control characters.`,
    );
  if (Object.keys(tags).length > 50) throw invalid('A resource can have at most 50 tags');
  const long = Object.entries(tags).find(([, v]) => v.length > 256);
  if (long) throw invalid(`The value of tag '${long[0]}' is longer than 256 characters`);
  return tags;
};

const provisioningState = (status: SandboxCluster['status']): string =>
  ({ creating: 'Creating', ready: 'Succeeded', deleting: 'Deleting', failed: 'Failed' })[status];

const arm = (c: SandboxCluster): ArmCluster => c.spec as ArmCluster;
const armPool = (p: SandboxNodePool): ArmPool => p.spec as ArmPool;

const readBody = async (req: IncomingMessage): Promise<unknown> => {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 4 * 1024 * 1024)
      throw new ArmError(413, 'RequestEntityTooLarge', 'The request body is too large.');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ArmError(
      400,
      'InvalidRequestContent',
      'The request content was invalid and could not be deserialized.',
    );
  }
};

const PROVIDER = 'providers/Microsoft\\.ContainerService';
const SEG = '([^/]+)';
const routes = {
  versions: new RegExp(`^/subscriptions/${SEG}/${PROVIDER}/locations/${SEG}/kubernetesVersions$`, 'i'),
  operation: new RegExp(`^/subscriptions/${SEG}/${PROVIDER}/locations/${SEG}/operations/${SEG}$`, 'i'),
  operationResult: new RegExp(
    `^/subscriptions/${SEG}/${PROVIDER}/locations/${SEG}/operationresults/${SEG}$`,
    'i',
  ),
  bySubscription: new RegExp(`^/subscriptions/${SEG}/${PROVIDER}/managedClusters$`, 'i'),
  byResourceGroup: new RegExp(
    `^/subscriptions/${SEG}/resourceGroups/${SEG}/${PROVIDER}/managedClusters$`,
    'i',
  ),
  cluster: new RegExp(
    `^/subscriptions/${SEG}/resourceGroups/${SEG}/${PROVIDER}/managedClusters/${SEG}$`,
    'i',
  ),
  credentials: new RegExp(
    `^/subscriptions/${SEG}/resourceGroups/${SEG}/${PROVIDER}/managedClusters/${SEG}/listClusterUserCredential$`,
    'i',
  ),
  pools: new RegExp(
    `^/subscriptions/${SEG}/resourceGroups/${SEG}/${PROVIDER}/managedClusters/${SEG}/agentPools$`,
    'i',
  ),
  pool: new RegExp(
    `^/subscriptions/${SEG}/resourceGroups/${SEG}/${PROVIDER}/managedClusters/${SEG}/agentPools/${SEG}$`,
    'i',
  ),
};

export const startAksSandbox = async (options: AksSandboxOptions): Promise<AksSandbox> => {
  const { cloud } = options;
  const host = options.host ?? '127.0.0.1';
  const pageSize = options.pageSize ?? 100;
  const versions = options.versions ?? AKS_SANDBOX_VERSIONS;
  const tls = await servingCert(options.certDir ?? join(tmpdir(), 'drover-sandbox-tls'), 'aks');
  const operations = new Map<string, OperationRecord>();
  let base = '';

  const clusterId = (sub: string, rg: string, name: string) =>
    `/subscriptions/${sub}/resourcegroups/${rg}/providers/Microsoft.ContainerService/managedClusters/${name}`;

  /** ARM resource group names are case-insensitive; cluster names are not reused across groups here. */
  const findCluster = (sub: string, rg: string, name: string): SandboxCluster | undefined =>
    cloud
      .list()
      .find(
        (c) =>
          c.name === name &&
          arm(c).subscriptionId === sub &&
          arm(c).resourceGroup.toLowerCase() === rg.toLowerCase(),
      );

  const clusterNotFound = (rg: string, name: string) =>
    new ArmError(
      404,
      'ResourceNotFound',
      `The Resource 'Microsoft.ContainerService/managedClusters/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );

  const mustFindCluster = (sub: string, rg: string, name: string): SandboxCluster => {
    const c = findCluster(sub, rg, name);
    if (!c) throw clusterNotFound(rg, name);
    return c;
  };

  /** The API server host clients reach: the backing server's once there is one. */
  const fqdnOf = (c: SandboxCluster): string => (c.access ? new URL(c.access.server).host : arm(c).fqdn);

  const renderPoolProperties = (p: SandboxNodePool): Record<string, unknown> => ({
    ...armPool(p).properties,
    provisioningState: provisioningState(p.status),
    powerState: { code: 'Running' },
  });

  const renderPool = (c: SandboxCluster, p: SandboxNodePool) => {
    const a = arm(c);
    return {
      id: `${clusterId(a.subscriptionId, a.resourceGroup, c.name)}/agentPools/${p.name}`,
      name: p.name,
      type: 'Microsoft.ContainerService/managedClusters/agentPools',
      properties: renderPoolProperties(p),
    };
  };

  const renderCluster = (c: SandboxCluster) => {
    const a = arm(c);
    return {
      id: clusterId(a.subscriptionId, a.resourceGroup, c.name),
      location: c.location,
      name: c.name,
      type: 'Microsoft.ContainerService/ManagedClusters',
      tags: a.tags,
      systemData: {
        createdBy: 'sandbox',
        createdByType: 'Application',
        createdAt: new Date(c.createdAt).toISOString(),
        lastModifiedBy: 'sandbox',
        lastModifiedByType: 'Application',
        lastModifiedAt: new Date(c.since).toISOString(),
      },
      sku: { name: 'Base', tier: 'Free' },
      identity: {
        type: a.identityType,
        principalId: createHash('sha256').update(`principal/${a.resourceUID}`).digest('hex').slice(0, 32),
        tenantId: '00000000-0000-0000-0000-000000000000',
      },
      properties: {
        provisioningState: provisioningState(c.status),
        powerState: { code: 'Running' },
        maxAgentPools: 100,
        ...(a.kubernetesVersion ? { kubernetesVersion: a.kubernetesVersion } : {}),
        currentKubernetesVersion: a.currentKubernetesVersion,
        dnsPrefix: a.dnsPrefix,
        fqdn: fqdnOf(c),
        azurePortalFqdn: a.fqdn.replace('.hcp.', '.portal.hcp.'),
        agentPoolProfiles: [...c.nodePools.values()].map((p) => ({
          name: p.name,
          ...renderPoolProperties(p),
        })),
        nodeResourceGroup: `MC_${a.resourceGroup}_${c.name}_${c.location}`,
        enableRBAC: true,
        supportPlan: 'KubernetesOfficial',
        disableLocalAccounts: false,
        ...(a.aad ? { aadProfile: { managed: true, enableAzureRBAC: false, tenantID: a.tenantId } } : {}),
        networkProfile: {
          networkPlugin: 'azure',
          networkPluginMode: 'overlay',
          podCidr: '10.244.0.0/16',
          serviceCidr: '10.0.0.0/16',
          dnsServiceIP: '10.0.0.10',
          outboundType: 'loadBalancer',
          loadBalancerSku: 'standard',
        },
        resourceUID: a.resourceUID,
      },
    };
  };

  const newOperation = (
    kind: OperationKind,
    cluster: SandboxCluster,
    pool?: SandboxNodePool,
  ): OperationRecord => {
    const record: OperationRecord = {
      id: randomUUID(),
      kind,
      subscriptionId: arm(cluster).subscriptionId,
      location: cluster.location,
      cluster,
      pool,
      started: cloud.clock.now(),
    };
    operations.set(record.id, record);
    return record;
  };

  const operationHeaders = (op: OperationRecord, apiVersion: string, withLocation: boolean) => {
    const prefix = `${base}/subscriptions/${op.subscriptionId}/providers/Microsoft.ContainerService/locations/${op.location}`;
    const query = `?api-version=${encodeURIComponent(apiVersion)}`;
    return {
      'Azure-AsyncOperation': `${prefix}/operations/${op.id}${query}`,
      ...(withLocation ? { Location: `${prefix}/operationresults/${op.id}${query}` } : {}),
    };
  };

  const isCurrent = (c: SandboxCluster) => cloud.find(c.location, c.name) === c;

  /** The operation's ARM status, from the state of the resources it is about. */
  const operationStatus = (
    op: OperationRecord,
  ): { status: string; error?: { code: string; message: string } } => {
    const c = op.cluster;
    switch (op.kind) {
      case 'create-cluster': {
        if (!isCurrent(c) || c.status === 'deleting')
          return {
            status: 'Canceled',
            error: { code: 'OperationCanceled', message: 'the cluster was deleted' },
          };
        if (c.status === 'failed')
          return {
            status: 'Failed',
            error: { code: 'ProvisioningFailed', message: c.failWith ?? 'cluster creation failed' },
          };
        if (c.status === 'creating' || [...c.nodePools.values()].some((p) => p.status === 'creating'))
          return { status: 'InProgress' };
        return { status: 'Succeeded' };
      }
      case 'delete-cluster':
        return isCurrent(c) ? { status: 'InProgress' } : { status: 'Succeeded' };
      case 'create-node-pool': {
        const p = op.pool;
        if (!p || !isCurrent(c) || c.nodePools.get(p.name) !== p || p.status === 'deleting')
          return {
            status: 'Canceled',
            error: { code: 'OperationCanceled', message: 'the agent pool was deleted' },
          };
        if (p.status === 'failed')
          return {
            status: 'Failed',
            error: { code: 'ProvisioningFailed', message: p.failWith ?? 'agent pool creation failed' },
          };
        return { status: p.status === 'creating' ? 'InProgress' : 'Succeeded' };
      }
      case 'delete-node-pool': {
        const p = op.pool;
        return p && isCurrent(c) && c.nodePools.get(p.name) === p
          ? { status: 'InProgress' }
          : { status: 'Succeeded' };
      }
    }
  };

  /** An AAD cluster's user, as AKS renders it for `format=exec` (kubelogin) or `azure`. */
  const aadUser = (a: ArmCluster, format: string | null) =>
    format === 'exec'
      ? {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1beta1',
            command: 'kubelogin',
            args: [
              'get-token',
              '--environment',
              'AzurePublicCloud',
              '--server-id',
              AKS_AAD_SERVER_ID,
              '--client-id',
              AZURE_CLI_CLIENT_ID,
              '--tenant-id',
              a.tenantId,
              '--login',
              'devicecode',
            ],
            env: null,
            interactiveMode: 'IfPossible',
            provideClusterInfo: false,
          },
        }
      : {
          'auth-provider': {
            name: 'azure',
            config: {
              'apiserver-id': AKS_AAD_SERVER_ID,
              'client-id': AZURE_CLI_CLIENT_ID,
              'config-mode': '1',
              environment: 'AzurePublicCloud',
              'tenant-id': a.tenantId,
            },
          },
        };

  const kubeconfig = (c: SandboxCluster, format: string | null): string => {
    const a = arm(c);
    const server = c.access?.server ?? `https://${a.fqdn}:443`;
    const user = `clusterUser_${a.resourceGroup}_${c.name}`;
    return stringify({
      apiVersion: 'v1',
      clusters: [
        {
          cluster: {
            'certificate-authority-data': Buffer.from(c.access?.caData ?? tls.ca).toString('base64'),
            server,
          },
          name: c.name,
        },
      ],
      contexts: [{ context: { cluster: c.name, user }, name: c.name }],
      'current-context': c.name,
      kind: 'Config',
      preferences: {},
      users: [{ name: user, user: a.aad ? aadUser(a, format) : { token: c.access?.token ?? a.userToken } }],
    });
  };

  const listPage = (url: URL, items: unknown[]) => {
    const skip = Number(url.searchParams.get('$skipToken') ?? '0');
    const start = Number.isInteger(skip) && skip > 0 ? skip : 0;
    const page = items.slice(start, start + pageSize);
    const next = start + pageSize;
    if (next >= items.length) return { value: page };
    // ARM's nextLink carries the api-version and an opaque $skipToken, unencoded.
    const apiVersion = encodeURIComponent(url.searchParams.get('api-version') ?? '');
    return { value: page, nextLink: `${base}${url.pathname}?api-version=${apiVersion}&$skipToken=${next}` };
  };

  type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

  const putCluster = async (
    sub: string,
    rg: string,
    name: string,
    body: unknown,
    apiVersion: string,
  ): Promise<Reply> => {
    const { failAsync } = await cloud.begin('createCluster', name);
    if (!CLUSTER_NAME.test(name))
      throw invalid(
        `Resource name '${name}' is invalid: use 1-63 letters, digits, underscores and hyphens, starting and ending with a letter or digit.`,
      );
    if (!isRecord(body)) throw new ArmError(400, 'InvalidRequestContent', 'The request content was invalid.');
    if (typeof body.location !== 'string' || body.location === '') throw invalid('location is required');
    const location = body.location.toLowerCase().replace(/\s+/g, '');
    if (!(location in AKS_SANDBOX_REGIONS))
      throw new ArmError(
        400,
        'LocationNotAvailableForResourceType',
        `The provided location '${body.location}' is not available for resource type 'Microsoft.ContainerService/managedClusters'. List of available regions for the resource type is '${Object.keys(AKS_SANDBOX_REGIONS).join(',')}'.`,
      );
    const tags = validateTags(body.tags);
    const existing = findCluster(sub, rg, name);
    if (existing) {
      if (existing.location !== location)
        throw new ArmError(
          409,
          'InvalidResourceLocation',
          `The resource '${name}' already exists in location '${existing.location}' in resource group '${rg}'. A resource with the same name cannot be created in location '${location}'.`,
        );
      if (existing.status === 'deleting')
        throw new ArmError(409, 'OperationNotAllowed', `Managed cluster '${name}' is being deleted.`);
      arm(existing).tags = tags;
      return { status: 200, body: renderCluster(existing) };
    }

    const props = isRecord(body.properties) ? body.properties : {};
    const requested =
      typeof props.kubernetesVersion === 'string' && props.kubernetesVersion !== ''
        ? props.kubernetesVersion
        : undefined;
    const current = resolveVersion(versions, requested);
    const dnsPrefix = props.dnsPrefix;
    if (typeof dnsPrefix !== 'string' || !DNS_PREFIX.test(dnsPrefix))
      throw invalid(
        'dnsPrefix is required: 1-54 letters, digits and hyphens, starting and ending with a letter or digit.',
      );
    const profiles = props.agentPoolProfiles;
    if (!Array.isArray(profiles) || profiles.length === 0)
      throw invalid('agentPoolProfiles must contain at least one agent pool.');
    const pools: { name: string; spec: ArmPool }[] = [];
    for (const raw of profiles) {
      const poolName = isRecord(raw) && typeof raw.name === 'string' ? raw.name : '';
      if (pools.some((p) => p.name === poolName))
        throw invalid(`agent pool name '${poolName}' appears more than once in agentPoolProfiles`);
      pools.push({
        name: poolName,
        spec: { properties: validatePool(poolName, raw, { location, clusterVersion: current, versions }) },
      });
    }
    if (!pools.some((p) => p.spec.properties.mode === 'System'))
      throw invalid(
        'A managed cluster must have at least one agent pool with mode System. Set mode: System on one of agentPoolProfiles.',
        'InvalidParameter',
      );
    const identity =
      isRecord(body.identity) && typeof body.identity.type === 'string'
        ? body.identity.type
        : 'SystemAssigned';
    const resourceUID = randomBytes(12).toString('hex');
    const spec: ArmCluster = {
      subscriptionId: sub,
      resourceGroup: rg,
      tags,
      kubernetesVersion: requested,
      currentKubernetesVersion: current,
      dnsPrefix,
      fqdn: `${dnsPrefix.toLowerCase()}-${resourceUID.slice(0, 8)}.hcp.${location}.azmk8s.io`,
      identityType: identity,
      userToken: randomBytes(32).toString('hex'),
      resourceUID,
      aad: isRecord(props.aadProfile) && props.aadProfile.managed === true,
      tenantId:
        isRecord(props.aadProfile) && typeof props.aadProfile.tenantID === 'string'
          ? props.aadProfile.tenantID
          : '00000000-0000-0000-0000-000000000000',
    };
    const cluster = cloud.createCluster(location, name, spec, pools, failAsync);
    const op = newOperation('create-cluster', cluster);
    return { status: 201, body: renderCluster(cluster), headers: operationHeaders(op, apiVersion, false) };
  };

  const deleteCluster = async (sub: string, rg: string, name: string, apiVersion: string): Promise<Reply> => {
    await cloud.begin('deleteCluster', name);
    const c = findCluster(sub, rg, name);
    if (!c) return { status: 204 };
    if (c.status === 'creating')
      throw new ArmError(
        409,
        'OperationNotAllowed',
        `Operation is not allowed because there's an in progress create managed cluster operation on '${name}'. Please wait for it to finish before deleting.`,
      );
    cloud.deleteCluster(c.location, c.name);
    const op = newOperation('delete-cluster', c);
    return { status: 202, headers: operationHeaders(op, apiVersion, true) };
  };

  const putPool = async (
    sub: string,
    rg: string,
    clusterName: string,
    poolName: string,
    body: unknown,
    apiVersion: string,
  ): Promise<Reply> => {
    const { failAsync } = await cloud.begin('createNodePool', clusterName);
    const c = mustFindCluster(sub, rg, clusterName);
    if (!isRecord(body)) throw new ArmError(400, 'InvalidRequestContent', 'The request content was invalid.');
    const properties = validatePool(poolName, isRecord(body.properties) ? body.properties : {}, {
      location: c.location,
      clusterVersion: arm(c).currentKubernetesVersion,
      versions,
    });
    const existing = c.nodePools.get(poolName);
    if (existing) {
      if (existing.status === 'deleting')
        throw new ArmError(409, 'OperationNotAllowed', `Agent pool '${poolName}' is being deleted.`);
      armPool(existing).properties.tags = properties.tags;
      return { status: 200, body: renderPool(c, existing) };
    }
    const spec: ArmPool = { properties };
    const pool = cloud.createNodePool(c.location, c.name, poolName, spec, failAsync);
    const op = newOperation('create-node-pool', c, pool);
    return { status: 201, body: renderPool(c, pool), headers: operationHeaders(op, apiVersion, false) };
  };

  const deletePool = async (
    sub: string,
    rg: string,
    clusterName: string,
    poolName: string,
    apiVersion: string,
  ): Promise<Reply> => {
    await cloud.begin('deleteNodePool', clusterName);
    const c = mustFindCluster(sub, rg, clusterName);
    const pool = c.nodePools.get(poolName);
    if (!pool) return { status: 204 };
    const otherSystem = [...c.nodePools.values()].some(
      (p) => p !== pool && p.status !== 'deleting' && armPool(p).properties.mode === 'System',
    );
    if (armPool(pool).properties.mode === 'System' && !otherSystem)
      throw new ArmError(
        400,
        'OperationNotAllowed',
        `Agent pool '${poolName}' is the last System agent pool of '${clusterName}' and cannot be deleted; a cluster must keep at least one System pool.`,
      );
    cloud.deleteNodePool(c.location, c.name, poolName);
    const op = newOperation('delete-node-pool', c, pool);
    return { status: 202, headers: operationHeaders(op, apiVersion, true) };
  };

  const kubernetesVersions = () => ({
    values: versions.map((v, i) => {
      const newer = versions[i - 1];
      return {
        version: v.version,
        capabilities: { supportPlan: v.supportPlan },
        ...(v.isDefault ? { isDefault: true } : {}),
        ...(v.isPreview ? { isPreview: true } : {}),
        patchVersions: Object.fromEntries(
          v.patches.map((p, j) => [p, { upgrades: [...v.patches.slice(j + 1), ...(newer?.patches ?? [])] }]),
        ),
      };
    }),
  });

  const route = async (req: IncomingMessage, url: URL): Promise<Reply> => {
    const method = req.method ?? 'GET';
    const apiVersion = url.searchParams.get('api-version');
    if (!apiVersion)
      throw new ArmError(
        400,
        'MissingApiVersionParameter',
        'The api-version query parameter (?api-version=) is required for all requests.',
      );
    if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(apiVersion))
      throw new ArmError(
        400,
        'InvalidApiVersionParameter',
        `The api-version '${apiVersion}' is invalid. The supported versions are dates like '2026-06-01'.`,
      );
    const auth = req.headers.authorization;
    if (!auth)
      throw new ArmError(
        401,
        'AuthenticationFailed',
        "Authentication failed. The 'Authorization' header is missing.",
      );
    const bearer = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
    if (!bearer || (options.token !== undefined && bearer !== options.token))
      throw new ArmError(401, 'InvalidAuthenticationToken', 'The access token is invalid.');

    const path = url.pathname.replace(/\/+$/, '');
    let m: RegExpExecArray | null;
    const allow = (...methods: string[]) => {
      if (!methods.includes(method))
        throw new ArmError(
          405,
          'MethodNotAllowed',
          `The requested resource does not support http method '${method}'.`,
        );
    };

    if ((m = routes.versions.exec(path))) {
      allow('GET');
      await cloud.begin('catalog');
      const location = (m[2] ?? '').toLowerCase();
      if (!(location in AKS_SANDBOX_REGIONS))
        throw new ArmError(
          404,
          'LocationNotFound',
          `The location '${location}' was not found for Microsoft.ContainerService.`,
        );
      return { status: 200, body: kubernetesVersions() };
    }
    if ((m = routes.operation.exec(path)) || (m = routes.operationResult.exec(path))) {
      allow('GET');
      const op = operations.get(m[3] ?? '');
      await cloud.begin('getOperation', op?.cluster.name);
      if (!op || op.subscriptionId !== m[1])
        throw new ArmError(404, 'NotFound', `Operation '${m[3]}' was not found.`);
      const status = operationStatus(op);
      if (routes.operation.test(path)) {
        const done = status.status !== 'InProgress';
        return {
          status: 200,
          body: {
            id: `/subscriptions/${op.subscriptionId}/providers/Microsoft.ContainerService/locations/${op.location}/operations/${op.id}`,
            name: op.id,
            status: status.status,
            startTime: new Date(op.started).toISOString(),
            ...(done ? { endTime: new Date(cloud.clock.now()).toISOString() } : {}),
            ...(status.error ? { error: status.error } : {}),
          },
        };
      }
      if (status.status === 'InProgress')
        return { status: 202, headers: operationHeaders(op, apiVersion, true) };
      if (status.status === 'Succeeded') return { status: 204 };
      throw new ArmError(
        400,
        status.error?.code ?? 'OperationFailed',
        status.error?.message ?? 'operation failed',
      );
    }
    if ((m = routes.bySubscription.exec(path))) {
      allow('GET');
      await cloud.begin('listClusters');
      const sub = m[1];
      return {
        status: 200,
        body: listPage(
          url,
          cloud
            .list()
            .filter((c) => arm(c).subscriptionId === sub)
            .map(renderCluster),
        ),
      };
    }
    if ((m = routes.byResourceGroup.exec(path))) {
      allow('GET');
      await cloud.begin('listClusters');
      const [, sub, rg] = m;
      const items = cloud
        .list()
        .filter(
          (c) => arm(c).subscriptionId === sub && arm(c).resourceGroup.toLowerCase() === rg?.toLowerCase(),
        )
        .map(renderCluster);
      return { status: 200, body: listPage(url, items) };
    }
    if ((m = routes.cluster.exec(path))) {
      const [, sub = '', rg = '', name = ''] = m;
      allow('GET', 'PUT', 'DELETE');
      if (method === 'PUT') return putCluster(sub, rg, name, await readBody(req), apiVersion);
      if (method === 'DELETE') return deleteCluster(sub, rg, name, apiVersion);
      await cloud.begin('describeCluster', name);
      return { status: 200, body: renderCluster(mustFindCluster(sub, rg, name)) };
    }
    if ((m = routes.credentials.exec(path))) {
      const [, sub = '', rg = '', name = ''] = m;
      allow('POST');
      await cloud.begin('describeCluster', name);
      const c = mustFindCluster(sub, rg, name);
      if (c.status !== 'ready')
        throw new ArmError(
          409,
          'OperationNotAllowed',
          `Managed cluster '${name}' is ${provisioningState(c.status)}; credentials are available once it has Succeeded.`,
        );
      return {
        status: 200,
        body: {
          kubeconfigs: [
            {
              name: 'clusterUser',
              value: Buffer.from(kubeconfig(c, url.searchParams.get('format'))).toString('base64'),
            },
          ],
        },
      };
    }
    if ((m = routes.pools.exec(path))) {
      const [, sub = '', rg = '', name = ''] = m;
      allow('GET');
      await cloud.begin('describeNodePool', name);
      const c = mustFindCluster(sub, rg, name);
      return {
        status: 200,
        body: listPage(
          url,
          [...c.nodePools.values()].map((p) => renderPool(c, p)),
        ),
      };
    }
    if ((m = routes.pool.exec(path))) {
      const [, sub = '', rg = '', name = '', poolName = ''] = m;
      allow('GET', 'PUT', 'DELETE');
      if (method === 'PUT') return putPool(sub, rg, name, poolName, await readBody(req), apiVersion);
      if (method === 'DELETE') return deletePool(sub, rg, name, poolName, apiVersion);
      await cloud.begin('describeNodePool', name);
      const c = mustFindCluster(sub, rg, name);
      const pool = c.nodePools.get(poolName);
      if (!pool)
        throw new ArmError(
          404,
          'NotFound',
          `Agent pool '${poolName}' was not found in managed cluster '${name}'.`,
        );
      return { status: 200, body: renderPool(c, pool) };
    }
    throw new ArmError(
      404,
      'InvalidResourceType',
      `No route for '${method} ${url.pathname}' in the sandbox AKS.`,
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', base);
    let reply: Reply;
    try {
      reply = await route(req, url);
    } catch (err) {
      const e =
        err instanceof ArmError
          ? err
          : err instanceof SandboxError
            ? fromSandboxError(err)
            : new ArmError(500, 'InternalServerError', err instanceof Error ? err.message : String(err));
      reply = { status: e.status, body: { error: { code: e.code, message: e.message } }, headers: e.headers };
    }
    const headers: Record<string, string> = {
      'x-ms-request-id': randomUUID(),
      'x-ms-correlation-request-id': req.headers['x-ms-client-request-id']?.toString() ?? randomUUID(),
      ...reply.headers,
    };
    if (reply.body === undefined) {
      res.writeHead(reply.status, headers).end();
    } else {
      res
        .writeHead(reply.status, { ...headers, 'Content-Type': 'application/json; charset=utf-8' })
        .end(JSON.stringify(reply.body));
    }
  };

  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
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
  base = `https://${host}:${port}`;

  return {
    url: base,
    ca: tls.ca,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
