import type {
  Catalog,
  CloudCluster,
  CloudName,
  MachineType,
  NodePool,
  ProviderExtras,
  Taint,
} from '../clouds/ports.ts';
import { gkeZoneCount, isGkeZone, perZoneCount, regionOfLocation, translateRegion } from './cloud-regions.ts';
import { RUN_LABEL, type ClusterSpecRequest } from './cluster-specs.ts';
import { validateLabelKey, validateLabelValue } from './selectors.ts';
import { compareVersions, minorOf } from './versions.ts';

/**
 * Translating a cluster of one cloud into another cloud's model: the heart of a clone plan.
 * Pure and deterministic: the source cluster as its site describes it, the source cloud's
 * catalog (for the shapes of its machine types), the target cloud's catalog and what the user
 * said about the target give the whole target spec plus a warning for every choice that lost
 * something or had to be guessed. Workflow-safe.
 *
 * Target node pools keep the source's order (pool i of the plan is pool i of the source); a
 * pool the target needs besides (an AKS system pool) comes after them.
 */

export type PlanWarning = {
  /** The field of the plan the warning is about, e.g. `spec.nodePools.0.machineType`. */
  field: string;
  message: string;
};

/** What the user says about the target; everything else is translated from the source. */
export type CloneTarget = {
  /** Default: the source's name (made valid for the target), plus `nameSuffix`. */
  name?: string | undefined;
  nameSuffix?: string | undefined;
  /** Default: the source region's counterpart in the curated table. */
  location?: string | undefined;
  /** What the target cloud needs and the source cannot say (EKS roles and subnets, a GKE network). */
  extras?: ProviderExtras | undefined;
  /** Added to the translated cluster labels (and win over them). */
  labels?: Record<string, string> | undefined;
};

export type Translation = { spec: ClusterSpecRequest; warnings: PlanWarning[] };

/**
 * Placeholders stand where the target needs a value nobody gave: the plan shows what to fill
 * in, and a plan submitted with one left is refused with a 400 naming the field.
 */
export const PLACEHOLDER = '<required: ';
export const isPlaceholder = (value: unknown): boolean =>
  typeof value === 'string' && value.startsWith(PLACEHOLDER);
const placeholder = (what: string) => `${PLACEHOLDER}${what}>`;

/** Every placeholder left in a value, by its path (`spec.extras.eks.roleArn`). */
export const placeholdersIn = (value: unknown, path: string): string[] => {
  if (isPlaceholder(value)) return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => placeholdersIn(v, `${path}.${i}`));
  if (typeof value === 'object' && value !== null)
    return Object.entries(value).flatMap(([k, v]) => placeholdersIn(v, `${path}.${k}`));
  return [];
};

const GiB = 1024;
const shape = (m: Pick<MachineType, 'vcpu' | 'memoryMiB' | 'gpus' | 'arch'>) =>
  `${m.vcpu} vCPU, ${Math.round((m.memoryMiB / GiB) * 10) / 10} GiB${m.gpus > 0 ? `, ${m.gpus} GPU` : ''}, ${m.arch}`;

// --- versions ------------------------------------------------------------------------------------

/**
 * The target version: the source's minor if the target offers it, else the nearest newer one,
 * else the nearest older one. Returned as a minor ("1.33"): the create step resolves it to the
 * newest patch the target offers.
 */
export const chooseVersion = (
  sourceVersion: string,
  catalog: Pick<Catalog, 'cloud' | 'versions' | 'defaultVersion'>,
): { version: string; warning?: string } => {
  const offered = [...new Set(catalog.versions.map(minorOf).filter((m): m is string => m !== null))].sort(
    compareVersions,
  );
  const wanted = minorOf(sourceVersion);
  const fallback = minorOf(catalog.defaultVersion) ?? catalog.defaultVersion;
  if (wanted === null) {
    return {
      version: fallback,
      warning: `the source version '${sourceVersion}' is not a Kubernetes version drover can read; ${catalog.cloud}'s default ${fallback} is a guess`,
    };
  }
  if (offered.includes(wanted)) return { version: wanted };
  const newer = offered.find((m) => compareVersions(m, wanted) > 0);
  if (newer !== undefined) {
    return {
      version: newer,
      warning: `${catalog.cloud} does not offer Kubernetes ${wanted}; ${newer} is the nearest newer minor (an upgrade: check for removed APIs)`,
    };
  }
  const older = offered.at(-1);
  if (older !== undefined) {
    return {
      version: older,
      warning: `${catalog.cloud} offers nothing as new as Kubernetes ${wanted}; ${older} is the nearest older minor (a downgrade: workloads may use APIs it lacks)`,
    };
  }
  return { version: wanted, warning: `${catalog.cloud} lists no Kubernetes versions; ${wanted} is kept` };
};

// --- machine types -------------------------------------------------------------------------------

const bySize = (a: MachineType, b: MachineType) =>
  a.gpus - b.gpus || a.vcpu - b.vcpu || a.memoryMiB - b.memoryMiB || (a.name < b.name ? -1 : 1);

/**
 * The smallest current-generation general-purpose type (a GPU type for a GPU source) with at
 * least the source's vCPUs, memory and GPUs, on the same architecture. Where the target has
 * none, the search widens (previous generations, then any family) and says so.
 */
export const chooseMachineType = (
  source: MachineType,
  offered: readonly MachineType[],
): { type: MachineType | undefined; notes: string[] } => {
  const family = source.gpus > 0 ? 'gpu' : 'general';
  const fits = offered.filter(
    (m) =>
      m.arch === source.arch &&
      m.vcpu >= source.vcpu &&
      m.memoryMiB >= source.memoryMiB &&
      m.gpus >= source.gpus &&
      // A GPU is never given where none was asked for: it is not a larger general type.
      (source.gpus > 0 || m.gpus === 0),
  );
  const tiers: [string | null, (m: MachineType) => boolean][] = [
    [null, (m) => m.current && m.family === family],
    [
      `no current-generation ${family} type fits; a previous generation was chosen`,
      (m) => m.family === family,
    ],
    [`no ${family} type fits; another family was chosen`, (m) => m.current && m.family !== 'burstable'],
    [`no ${family} type fits; another family was chosen`, () => true],
  ];
  for (const [note, accept] of tiers) {
    const found = fits.filter(accept).sort(bySize)[0];
    if (!found) continue;
    const notes: string[] = [];
    if (note) notes.push(note);
    if (found.family !== source.family)
      notes.push(`no ${source.family} family match: ${found.family}-purpose '${found.name}' chosen`);
    if (found.vcpu > source.vcpu || found.memoryMiB > source.memoryMiB || found.gpus > source.gpus)
      notes.push(`upsized from ${shape(source)} to ${shape(found)}`);
    if (!source.current) notes.push(`the source type is a previous generation`);
    if (source.gpus > 0) notes.push('GPU models are not compared: check that the GPU suits the workload');
    return { type: found, notes };
  }
  return { type: undefined, notes: [`no ${source.arch} type with at least ${shape(source)} is offered`] };
};

// --- names and labels ----------------------------------------------------------------------------

const trimTo = (s: string, max: number, tail: RegExp) => s.slice(0, max).replace(tail, '');

/** A cluster name every cloud accepts (domain/cluster-specs.ts CloudClusterName). */
export const cloudClusterName = (name: string, suffix = ''): string => {
  const cleanSuffix = suffix.toLowerCase().replace(/[^-a-z0-9]+/g, '-');
  let base = name
    .toLowerCase()
    .replace(/[^-a-z0-9]+/g, '-')
    .replace(/^[^a-z]+/, '');
  base = trimTo(base, 40 - cleanSuffix.length, /-+$/);
  const joined = trimTo(`${base || 'cluster'}${cleanSuffix}`, 40, /-+$/);
  return /^[a-z]/.test(joined) ? joined : `c${joined}`.slice(0, 40);
};

/** A node pool name the target accepts: AKS's rule is lowercase letters and digits, at most 12. */
export const poolNameFor = (cloud: CloudName, name: string): string => {
  if (cloud === 'aks') {
    const s = name.toLowerCase().replace(/[^a-z0-9]+/g, '');
    const lettered = /^[a-z]/.test(s) ? s : `p${s}`;
    return lettered.slice(0, 12) || 'pool';
  }
  const s = name
    .toLowerCase()
    .replace(/[^-a-z0-9]+/g, '-')
    .replace(/^[^a-z]+/, '');
  return trimTo(s, 40, /-+$/) || 'pool';
};

const uniqueName = (name: string, taken: Set<string>, max: number): string => {
  let candidate = name;
  for (let n = 2; taken.has(candidate); n++) {
    const suffix = String(n);
    candidate = `${name.slice(0, max - suffix.length)}${suffix}`;
  }
  taken.add(candidate);
  return candidate;
};

/** A Kubernetes label name part: at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends. */
const labelName = (s: string): string =>
  trimTo(s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, ''), 63, /[^A-Za-z0-9]+$/);

/** A valid Kubernetes label key for any key (undefined if nothing is left of it). */
const kubeLabelKey = (key: string): string | undefined => {
  if (validateLabelKey(key) === undefined) return key;
  const slash = key.indexOf('/');
  if (slash > 0) {
    const prefix = key.slice(0, slash);
    const name = labelName(key.slice(slash + 1).replace(/\//g, '_'));
    if (name && validateLabelKey(`${prefix}/${name}`) === undefined) return `${prefix}/${name}`;
  }
  return labelName(key.replace(/\//g, '_')) || undefined;
};

const kubeLabelValue = (value: string): string =>
  validateLabelValue(value) === undefined ? value : labelName(value);

/** GKE label rules: keys lowercase letters, digits, - and _, starting with a letter; at most 63. */
const gkeLabelKey = (key: string): string | undefined => {
  const s = key.toLowerCase().replace(/[^a-z0-9_-]+/g, '_');
  const lettered = /^[a-z]/.test(s) ? s : `l${s}`;
  return lettered.slice(0, 63) || undefined;
};
const gkeLabelValue = (value: string): string =>
  value
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '_')
    .slice(0, 63);

/** Keys the clouds set on their own resources: the target sets its own. */
const CLOUD_MANAGED_LABEL = /^(aws:|goog-|gke-|k8s-azure|aks-managed|kubernetes\.azure\.com)/;

/** The cluster labels (GKE resource labels, EKS and AKS tags) the target accepts. */
export const translateClusterLabels = (
  labels: Readonly<Record<string, string>>,
  to: CloudName,
  warn: (field: string, message: string) => void,
): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))) {
    // drover's own: the create step labels the clone with its own run.
    if (key === RUN_LABEL) continue;
    const field = `spec.labels.${key}`;
    if (CLOUD_MANAGED_LABEL.test(key)) {
      warn(field, `'${key}' is set by the source cloud itself; not copied`);
      continue;
    }
    let k = kubeLabelKey(key);
    let v = kubeLabelValue(value);
    if (k !== undefined && to === 'gke') {
      k = gkeLabelKey(k);
      v = gkeLabelValue(v);
    }
    if (k === undefined) {
      warn(field, `'${key}' cannot be made a valid ${to} label; not copied`);
      continue;
    }
    if (k in out) {
      warn(field, `'${key}' becomes '${k}', which another label already took; not copied`);
      continue;
    }
    if (k !== key || v !== value) warn(field, `'${key}=${value}' becomes '${k}=${v}' (${to} label rules)`);
    out[k] = v;
  }
  return out;
};

/** Node label and taint keys each cloud reserves for itself: the target sets its own. */
const RESERVED_NODE_KEY =
  /^([a-z0-9.-]*\.)?(kubernetes\.io|k8s\.io|kubernetes\.azure\.com|cloud\.google\.com|gke\.io|eks\.amazonaws\.com|karpenter\.sh)\//;

const translateNodeLabels = (
  labels: Readonly<Record<string, string>>,
  field: string,
  warn: (field: string, message: string) => void,
): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    if (RESERVED_NODE_KEY.test(key)) {
      warn(`${field}.${key}`, `'${key}' is reserved for the cloud or Kubernetes; not copied`);
      continue;
    }
    if (validateLabelKey(key) !== undefined || validateLabelValue(value) !== undefined) {
      warn(`${field}.${key}`, `'${key}=${value}' is not a valid node label; not copied`);
      continue;
    }
    out[key] = value;
  }
  return out;
};

const translateTaints = (
  taints: readonly Taint[],
  field: string,
  warn: (field: string, message: string) => void,
): Taint[] =>
  taints.filter((t, i) => {
    if (!RESERVED_NODE_KEY.test(t.key)) return true;
    warn(`${field}.${i}`, `taint '${t.key}' is set by the source cloud itself; not copied`);
    return false;
  });

// --- zones ---------------------------------------------------------------------------------------

const zonesOfRegion = (catalog: Catalog, region: string): string[] =>
  catalog.regions.find((r) => r.name === region)?.zones ?? [];

/**
 * A pool's zones in the target region: the zone at the same position in the region's list as
 * the source zone had in its own, so a pool over three zones stays over three.
 */
const translateZones = (
  pool: NodePool,
  sourceRegionZones: readonly string[],
  to: CloudName,
  targetRegionZones: readonly string[],
  field: string,
  warn: (field: string, message: string) => void,
): string[] => {
  if (pool.zones.length === 0) return [];
  if (to === 'eks') {
    warn(
      field,
      `EKS node groups take their zones from the subnets in extras.eks.subnetIds; the source's zones (${pool.zones.join(', ')}) are not carried over`,
    );
    return [];
  }
  if (targetRegionZones.length === 0) {
    warn(field, `the target region has no availability zones; the pool was spread over ${pool.zones.length}`);
    return [];
  }
  const chosen: string[] = [];
  pool.zones.forEach((zone, i) => {
    const at = sourceRegionZones.indexOf(zone);
    const candidate = targetRegionZones[(at >= 0 ? at : i) % targetRegionZones.length];
    // Two source zones landing on one target zone: the next free one keeps the spread.
    const free = targetRegionZones.find((z) => !chosen.includes(z));
    const pick = candidate !== undefined && !chosen.includes(candidate) ? candidate : free;
    if (pick !== undefined) chosen.push(pick);
  });
  if (chosen.length < pool.zones.length)
    warn(
      field,
      `the source spread the pool over ${pool.zones.length} zones; the target region has ${targetRegionZones.length}`,
    );
  return chosen;
};

// --- the translation ----------------------------------------------------------------------------

const DEFAULT_DISK_GB = 100;
/** Smallest disk each cloud takes for a node (AKS: its OS disk minimum). */
const MIN_DISK_GB: Record<CloudName, number> = { eks: 20, gke: 10, aks: 30 };
/** AKS system pools need at least this machine. */
const AKS_SYSTEM_MIN = { vcpu: 2, memoryMiB: 4 * GiB };

/** The target location: as asked, or the source region's counterpart in the curated table. */
export const chooseLocation = (
  source: Pick<CloudCluster, 'cloud' | 'location'>,
  to: CloudName,
  offered: readonly string[],
  asked?: string,
): { location: string; warning?: string } => {
  if (asked !== undefined) {
    return offered.length === 0 || offered.includes(regionOfLocation(to, asked))
      ? { location: asked }
      : { location: asked, warning: `${to} does not list '${asked}' among its regions` };
  }
  const choice = translateRegion(source.cloud, regionOfLocation(source.cloud, source.location), to, offered);
  return choice.warning ? { location: choice.region, warning: choice.warning } : { location: choice.region };
};

type Input = {
  source: CloudCluster;
  /** The source cloud's catalog: the shapes of the source's machine types. */
  sourceCatalog: Catalog;
  /** The target cloud's catalog, for the target location where known. */
  targetCatalog: Catalog;
  target?: CloneTarget;
};

export const translateCluster = ({
  source,
  sourceCatalog,
  targetCatalog,
  target = {},
}: Input): Translation => {
  const warnings: PlanWarning[] = [];
  const warn = (field: string, message: string) => warnings.push({ field, message });
  const from = source.cloud;
  const to = targetCatalog.cloud;

  const name = target.name ?? cloudClusterName(source.name, target.nameSuffix);
  if (target.name === undefined && name !== `${source.name}${target.nameSuffix ?? ''}`)
    warn(
      'spec.name',
      `'${source.name}${target.nameSuffix ?? ''}' becomes '${name}' (cluster names every cloud accepts)`,
    );

  const sourceRegion = regionOfLocation(from, source.location);
  const where = chooseLocation(
    source,
    to,
    targetCatalog.regions.map((r) => r.name),
    target.location,
  );
  const location = where.location;
  if (where.warning) warn('spec.location', where.warning);
  const targetRegion = regionOfLocation(to, location);
  const sourceZones = zonesOfRegion(sourceCatalog, sourceRegion);
  // A zonal GKE cluster's pools live in its one zone.
  const targetZones =
    to === 'gke' && isGkeZone(location) ? [location] : zonesOfRegion(targetCatalog, targetRegion);

  const version = chooseVersion(source.version, targetCatalog);
  if (version.warning) warn('spec.version', version.warning);

  const labels = {
    ...translateClusterLabels(source.labels, to, warn),
    ...(target.labels ?? {}),
  };

  const takenNames = new Set<string>();
  const maxPoolName = to === 'aks' ? 12 : 40;
  const pools: ClusterSpecRequest['nodePools'] = source.nodePools.map((pool, i) => {
    const field = `spec.nodePools.${i}`;
    const poolName = uniqueName(poolNameFor(to, pool.name), takenNames, maxPoolName);
    if (poolName !== pool.name)
      warn(`${field}.name`, `'${pool.name}' becomes '${poolName}' (${to} node pool name rules)`);

    const sourceType = sourceCatalog.machineTypes.find((m) => m.name === pool.machineType);
    let machineType: string;
    if (!sourceType) {
      machineType = placeholder(`a ${to} machine type for '${pool.machineType}'`);
      warn(
        `${field}.machineType`,
        `'${pool.machineType}' is not in the ${from} catalog, so its size is unknown: choose a ${to} machine type`,
      );
    } else {
      const chosen = chooseMachineType(sourceType, targetCatalog.machineTypes);
      if (chosen.type) {
        machineType = chosen.type.name;
        if (chosen.notes.length > 0)
          warn(
            `${field}.machineType`,
            `'${pool.machineType}' → '${machineType}': ${chosen.notes.join('; ')}`,
          );
      } else {
        machineType = placeholder(`a ${to} machine type with at least ${shape(sourceType)}`);
        warn(`${field}.machineType`, `'${pool.machineType}': ${chosen.notes.join('; ')}: choose one`);
      }
    }

    const zones = translateZones(pool, sourceZones, to, targetZones, `${field}.zones`, warn);
    let count = pool.count;
    let autoscaling = pool.autoscaling ? { ...pool.autoscaling } : null;
    if (to === 'gke') {
      // GKE sizes pools per zone: totals that do not divide are rounded up, never down.
      const n = gkeZoneCount(location, zones);
      const c = perZoneCount(count, n);
      if (!c.exact)
        warn(`${field}.count`, `GKE counts nodes per zone: ${count} over ${n} zones becomes ${c.total}`);
      count = c.total;
      if (autoscaling) {
        const min = perZoneCount(autoscaling.min, n);
        const max = perZoneCount(autoscaling.max, n);
        if (!min.exact || !max.exact)
          warn(
            `${field}.autoscaling`,
            `GKE counts nodes per zone: autoscaling ${autoscaling.min}..${autoscaling.max} over ${n} zones becomes ${min.total}..${max.total}`,
          );
        autoscaling = { min: min.total, max: max.total };
      }
    }

    if (autoscaling && count < autoscaling.min) {
      warn(`${field}.count`, `${count} nodes is below the autoscaling minimum; raised to ${autoscaling.min}`);
      count = autoscaling.min;
    }
    if (autoscaling && count > autoscaling.max) {
      warn(
        `${field}.autoscaling`,
        `the autoscaling maximum ${autoscaling.max} is below the ${count} nodes; raised`,
      );
      autoscaling = { ...autoscaling, max: count };
    }

    let diskGb = pool.diskGb;
    if (diskGb <= 0) {
      diskGb = DEFAULT_DISK_GB;
      warn(`${field}.diskGb`, `the source does not say its disk size; ${DEFAULT_DISK_GB} GB is a guess`);
    } else if (diskGb < MIN_DISK_GB[to]) {
      warn(`${field}.diskGb`, `${to} nodes need at least ${MIN_DISK_GB[to]} GB of disk; ${diskGb} GB raised`);
      diskGb = MIN_DISK_GB[to];
    }

    return {
      name: poolName,
      machineType,
      count,
      autoscaling,
      labels: translateNodeLabels(pool.labels, `${field}.labels`, warn),
      taints: translateTaints(pool.taints, `${field}.taints`, warn),
      spot: pool.spot,
      diskGb,
      zones,
      ...(to === 'aks' && pool.system ? { system: true } : {}),
    };
  });

  if (to === 'aks') addAksSystemPool(pools, targetCatalog, takenNames, warn);

  const extras = translateExtras(to, target.extras, warn);
  return {
    spec: { name, location, version: version.version, labels, nodePools: pools, extras },
    warnings,
  };
};

/**
 * AKS needs a System-mode pool with at least one always-on node of at least 2 vCPU and 4 GiB
 * and no taint keeping its add-ons off. A source pool that qualifies becomes it; otherwise a
 * small one is added.
 */
const addAksSystemPool = (
  pools: ClusterSpecRequest['nodePools'],
  catalog: Catalog,
  takenNames: Set<string>,
  warn: (field: string, message: string) => void,
) => {
  if (pools.some((p) => p.system)) return;
  const big = (name: string) => {
    const m = catalog.machineTypes.find((t) => t.name === name);
    return m !== undefined && m.vcpu >= AKS_SYSTEM_MIN.vcpu && m.memoryMiB >= AKS_SYSTEM_MIN.memoryMiB;
  };
  const candidate = pools.findIndex(
    (p) =>
      !p.spot &&
      p.count >= 1 &&
      (p.autoscaling?.min ?? 1) >= 1 &&
      !p.taints.some((t) => t.effect !== 'PreferNoSchedule') &&
      big(p.machineType),
  );
  const chosen = pools[candidate];
  if (chosen) {
    chosen.system = true;
    warn(
      `spec.nodePools.${candidate}.system`,
      `AKS needs a system pool: '${chosen.name}' becomes it and will also run AKS's add-ons`,
    );
    return;
  }
  const type = catalog.machineTypes
    .filter(
      (m) =>
        m.current &&
        m.family === 'general' &&
        m.arch === 'amd64' &&
        m.gpus === 0 &&
        m.vcpu >= AKS_SYSTEM_MIN.vcpu &&
        m.memoryMiB >= AKS_SYSTEM_MIN.memoryMiB,
    )
    .sort(bySize)[0];
  const name = uniqueName('system', takenNames, 12);
  pools.push({
    name,
    machineType: type?.name ?? placeholder('an AKS machine type of at least 2 vCPU and 4 GiB'),
    count: 1,
    autoscaling: null,
    labels: {},
    taints: [],
    spot: false,
    diskGb: DEFAULT_DISK_GB,
    zones: [],
    system: true,
  });
  warn(
    `spec.nodePools.${pools.length - 1}`,
    `AKS needs a system pool and no source pool can be one (spot, tainted, empty or too small): '${name}' with one ${type?.name ?? '?'} node was added`,
  );
};

const translateExtras = (
  to: CloudName,
  given: ProviderExtras | undefined,
  warn: (field: string, message: string) => void,
): ClusterSpecRequest['extras'] => {
  const extras: ClusterSpecRequest['extras'] = {};
  if (to === 'eks') {
    const eks = given?.eks;
    const roleArn = eks?.roleArn || placeholder('the EKS cluster IAM role ARN');
    const subnetIds =
      eks && eks.subnetIds.length >= 2
        ? [...eks.subnetIds]
        : [placeholder('a subnet id'), placeholder('a subnet id in another zone')];
    const nodeRoleArn = eks?.nodeRoleArn || placeholder('the EKS node IAM role ARN');
    if (!eks?.roleArn) warn('spec.extras.eks.roleArn', 'EKS needs the cluster IAM role: fill it in');
    if (!(eks && eks.subnetIds.length >= 2))
      warn('spec.extras.eks.subnetIds', 'EKS needs at least two subnets in different zones: fill them in');
    if (!eks?.nodeRoleArn)
      warn('spec.extras.eks.nodeRoleArn', 'EKS node groups need the node IAM role: fill it in');
    extras.eks = { roleArn, subnetIds, nodeRoleArn };
  }
  if (to === 'gke' && given?.gke) extras.gke = { ...given.gke };
  if (to === 'aks' && given?.aks) extras.aks = { ...given.aks };
  return extras;
};
