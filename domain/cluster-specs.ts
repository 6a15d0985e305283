import { z } from 'zod';
import type { Catalog, CloudName, ClusterSpec, NodePoolSpec } from './clouds.ts';
import { ErrorType } from './errors.ts';
import { Labels } from './selectors.ts';

/**
 * Managed clusters as users ask for them: the request schema of `POST /v1/clusters:create`
 * (the API's validation and its OpenAPI), and the pure checks of a spec against a cloud's
 * catalog that the create workflow runs before anything is created. Workflow-safe.
 */

/** Cloud account names, as a site's clouds file declares them; part of a cluster's context. */
export const AccountName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be lowercase letters, digits and dashes (a DNS label)');

/**
 * A cluster name every cloud accepts: GKE's rule (lowercase, a letter first, at most 40) is
 * the narrowest; EKS and AKS allow more.
 */
export const CloudClusterName = z
  .string()
  .min(1)
  .max(40)
  .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'lowercase letters, digits and dashes, starting with a letter');

const Taint = z.object({
  key: z.string().min(1).max(253),
  value: z.string().max(63).default(''),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
});

export const NodePoolRequest = z
  .object({
    name: z
      .string()
      .min(1)
      .max(40)
      .regex(/^[a-z][a-z0-9-]*$/, 'lowercase letters, digits and dashes, starting with a letter'),
    machineType: z.string().min(1).max(100),
    count: z.number().int().min(0).max(1000),
    autoscaling: z
      .object({ min: z.number().int().min(0).max(1000), max: z.number().int().min(1).max(1000) })
      .nullable()
      .default(null),
    labels: Labels.default({}),
    taints: z.array(Taint).max(50).default([]),
    spot: z.boolean().default(false),
    diskGb: z.number().int().min(10).max(65_536).default(100),
    zones: z.array(z.string().min(1).max(63)).max(10).default([]),
    system: z.boolean().optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.autoscaling && p.autoscaling.min > p.autoscaling.max)
      ctx.addIssue({ code: 'custom', path: ['autoscaling', 'min'], message: 'min is above max' });
    if (p.autoscaling && (p.count < p.autoscaling.min || p.count > p.autoscaling.max))
      ctx.addIssue({
        code: 'custom',
        path: ['count'],
        message: 'count must lie within autoscaling min..max',
      });
  });

export const ClusterSpecRequest = z
  .object({
    name: CloudClusterName,
    /** Region (EKS, AKS, regional GKE) or zone (zonal GKE). */
    location: z.string().min(1).max(63),
    /** A version the cloud's catalog lists, or a minor of one ("1.33"); default: the cloud's default. */
    version: z.string().min(1).max(63).optional(),
    labels: Labels.default({}),
    nodePools: z
      .array(NodePoolRequest)
      .min(1)
      .max(50)
      .superRefine((pools, ctx) => {
        const seen = new Set<string>();
        pools.forEach((p, i) => {
          if (seen.has(p.name))
            ctx.addIssue({
              code: 'custom',
              path: [i, 'name'],
              message: `node pool '${p.name}' is listed twice`,
            });
          seen.add(p.name);
        });
      }),
    extras: z
      .object({
        eks: z
          .object({
            roleArn: z.string().min(1),
            subnetIds: z.array(z.string().min(1)).min(2),
            nodeRoleArn: z.string().min(1),
          })
          .optional(),
        gke: z
          .object({ project: z.string().min(1).optional(), network: z.string().min(1).optional() })
          .optional(),
        aks: z
          .object({ resourceGroup: z.string().min(1).optional(), dnsPrefix: z.string().min(1).optional() })
          .optional(),
      })
      .default({}),
  })
  .strict();
export type ClusterSpecRequest = z.infer<typeof ClusterSpecRequest>;

export const CreateClusterRequest = z.object({
  site: z.string().min(1).max(63),
  account: AccountName,
  spec: ClusterSpecRequest,
  dryRun: z.boolean().default(false),
});
export type CreateClusterRequest = z.infer<typeof CreateClusterRequest>;

/** One thing wrong with a request, by the field it is about (relative to the request body). */
export type SpecProblem = {
  field: string;
  message: string;
  /** BadInput for a spec the cloud cannot satisfy, Conflict for a name already taken. */
  type: typeof ErrorType.BadInput | typeof ErrorType.Conflict;
};

const zonesOf = (catalog: Catalog, location: string): string[] | undefined => {
  const region = catalog.regions.find((r) => r.name === location);
  if (region) return region.zones;
  // A zonal GKE cluster lives in one zone of a region.
  if (catalog.cloud === 'gke' && catalog.regions.some((r) => r.zones.includes(location))) return [location];
  return undefined;
};

/** A few of what the cloud offers, for a message. */
const some = (names: string[], max = 6): string =>
  names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')}, …`;

/**
 * The version the cloud will be asked for: one it lists, or a prefix of ones it lists (the
 * user named a minor, the cloud lists patches: the newest wins). Undefined when none matches.
 */
export const resolveVersion = (catalog: Catalog, wanted: string | undefined): string | undefined => {
  if (wanted === undefined) return catalog.defaultVersion;
  if (catalog.versions.includes(wanted)) return wanted;
  // Versions are newest first, so the first match is the newest patch of that minor.
  return catalog.versions.find((v) => v.startsWith(`${wanted}.`) || v.startsWith(`${wanted}-`));
};

/** Labels each cloud stores on its clusters: GKE's rules are the strict ones. */
const cloudLabelProblem = (cloud: CloudName, key: string, value: string): string | undefined => {
  if (cloud === 'gke') {
    if (!/^[a-z][a-z0-9_-]{0,62}$/.test(key))
      return 'GKE label keys are lowercase letters, digits, - and _, starting with a letter, at most 63';
    if (!/^[a-z0-9_-]{0,63}$/.test(value))
      return 'GKE label values are lowercase letters, digits, - and _, at most 63';
  }
  // The AKS adapter stores '/' (common in label keys) as ':'; these it cannot.
  if (cloud === 'aks' && /[<>%&\\?]/.test(key)) return 'Azure tag names cannot contain < > % & \\ ?';
  return undefined;
};

/** Node pool names each cloud accepts beyond the common rule. */
const poolNameProblem = (cloud: CloudName, name: string): string | undefined => {
  if (cloud === 'aks' && !/^[a-z][a-z0-9]{0,11}$/.test(name))
    return 'AKS node pool names are lowercase letters and digits, starting with a letter, at most 12';
  return undefined;
};

/**
 * Checks a request against the cloud's catalog: the location, version, machine types and zones
 * must be ones the cloud offers, and names and labels ones it accepts. Returns the spec as the
 * cloud will be asked for it (version resolved, pools completed) and every problem found.
 */
export const checkClusterSpec = (
  request: ClusterSpecRequest,
  catalog: Catalog,
): { spec: ClusterSpec; problems: SpecProblem[] } => {
  const problems: SpecProblem[] = [];
  const bad = (field: string, message: string) => problems.push({ field, message, type: ErrorType.BadInput });
  const cloud = catalog.cloud;

  const zones = zonesOf(catalog, request.location);
  if (!zones) {
    bad(
      'spec.location',
      `'${request.location}' is not a ${cloud} location (try ${some(catalog.regions.map((r) => r.name))})`,
    );
  }
  const version = resolveVersion(catalog, request.version);
  if (version === undefined) {
    bad(
      'spec.version',
      `${cloud} does not offer Kubernetes '${request.version ?? ''}' (offers ${some(catalog.versions)})`,
    );
  }
  for (const [key, value] of Object.entries(request.labels)) {
    const problem = cloudLabelProblem(cloud, key, value);
    if (problem) bad(`spec.labels.${key}`, problem);
  }
  const machineTypes = new Set(catalog.machineTypes.map((m) => m.name));
  const pools: NodePoolSpec[] = request.nodePools.map((p, i) => {
    const nameProblem = poolNameProblem(cloud, p.name);
    if (nameProblem) bad(`spec.nodePools.${i}.name`, nameProblem);
    if (!machineTypes.has(p.machineType)) {
      bad(
        `spec.nodePools.${i}.machineType`,
        `'${p.machineType}' is not a ${cloud} machine type offered in ${request.location}`,
      );
    }
    p.zones.forEach((z, j) => {
      if (zones && !zones.includes(z))
        bad(
          `spec.nodePools.${i}.zones.${j}`,
          `'${z}' is not a zone of ${request.location} (${zones.join(', ')})`,
        );
    });
    return {
      name: p.name,
      machineType: p.machineType,
      count: p.count,
      autoscaling: p.autoscaling,
      labels: p.labels,
      taints: p.taints,
      spot: p.spot,
      diskGb: p.diskGb,
      zones: p.zones,
      ...(p.system === undefined ? {} : { system: p.system }),
    };
  });
  if (cloud === 'eks' && !request.extras.eks)
    bad('spec.extras.eks', 'EKS needs a cluster role, a node role and at least two subnets');
  return {
    spec: {
      name: request.name,
      location: request.location,
      version: version ?? request.version ?? '',
      labels: request.labels,
      nodePools: pools,
      extras: request.extras,
    },
    problems,
  };
};

/**
 * How a site knows a cluster it created in one of its cloud accounts: `<account>/<location>/<name>`,
 * stored in the inventory as the cluster's context. The site resolves it through the account's
 * adapter (`access`) into short-lived credentials; nothing else is stored.
 */
export const cloudContext = (account: string, location: string, name: string): string =>
  `${account}/${location}/${name}`;

export const parseCloudContext = (
  context: string,
): { account: string; location: string; name: string } | undefined => {
  const m = /^([a-z0-9][-a-z0-9]*)\/([^/]+)\/([^/]+)$/.exec(context);
  return m?.[1] && m[2] && m[3] ? { account: m[1], location: m[2], name: m[3] } : undefined;
};

/** The label a created cluster carries in its cloud: which run made it, so only it is ever undone. */
export const RUN_LABEL = 'drover-run';
