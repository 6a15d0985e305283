import { z } from 'zod';
import type { CloudName } from './clouds.ts';

/**
 * Moving workloads from a cluster to its clone: what is taken (chosen namespaces, or objects a
 * label selector picks), what is stripped (everything the source's API server and controllers
 * wrote), and how cloud-specific references are mapped (storage classes, ingress classes,
 * annotations) through tables the user can edit in the plan. Pure and workflow-safe; the
 * reading and applying are in kube/migrate.ts, run by the two sites.
 *
 * Stripped objects travel from the source site to the target site through the workflow (the
 * only channel between sites), so an export is capped at MAX_EXPORT_BYTES: more is refused
 * with an error that says how to narrow it. Secrets stay behind unless asked for: they would
 * then sit in the workflow's history (encrypted, but readable to whoever holds the keys).
 */

/** What one export may carry through the workflow (Temporal refuses payloads over 2 MiB). */
export const MAX_EXPORT_BYTES = 1024 * 1024;

/** The kinds a migration takes, in the order they are listed. */
export const MIGRATED_KINDS = [
  { apiVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts' },
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps' },
  { apiVersion: 'v1', kind: 'Secret', plural: 'secrets' },
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim', plural: 'persistentvolumeclaims' },
  { apiVersion: 'v1', kind: 'Service', plural: 'services' },
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments' },
  { apiVersion: 'apps/v1', kind: 'StatefulSet', plural: 'statefulsets' },
  { apiVersion: 'apps/v1', kind: 'DaemonSet', plural: 'daemonsets' },
  { apiVersion: 'batch/v1', kind: 'CronJob', plural: 'cronjobs' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', plural: 'ingresses' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', plural: 'networkpolicies' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', plural: 'roles' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', plural: 'rolebindings' },
  { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', plural: 'horizontalpodautoscalers' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets' },
] as const;

/** Namespaces every cluster has of its own: never taken by a selector alone. */
export const SYSTEM_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease'];

const NamespaceName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name (a DNS label)');

/** Annotation rules: `from` is a key or a prefix ending in `*`; `to: null` drops it. */
export const AnnotationRule = z
  .object({
    from: z.string().min(1).max(317),
    to: z.string().min(1).max(317).nullable(),
    /** Replaces the value (a key whose values differ between clouds). */
    value: z.string().max(1024).optional(),
  })
  .strict();
export type AnnotationRule = z.infer<typeof AnnotationRule>;

export const MigrationMappings = z
  .object({
    storageClasses: z.record(z.string().min(1).max(253), z.string().min(1).max(253)).default({}),
    ingressClasses: z.record(z.string().min(1).max(253), z.string().min(1).max(253)).default({}),
    annotations: z.array(AnnotationRule).max(200).default([]),
  })
  .strict();
export type MigrationMappings = z.infer<typeof MigrationMappings>;

/** What a user asks to migrate. */
export const WorkloadRequest = z
  .object({
    namespaces: z.array(NamespaceName).max(100).default([]),
    /** A label selector over the objects (within `namespaces`, or all but the system ones). */
    selector: z.string().min(1).max(4096).optional(),
    includeSecrets: z.boolean().default(false),
    /** Default: the curated tables for the two clouds (see defaultMappings); given tables replace them. */
    mappings: MigrationMappings.optional(),
  })
  .strict()
  .refine((w) => w.namespaces.length > 0 || w.selector !== undefined, {
    message: 'name namespaces, a selector or both',
    path: ['namespaces'],
  });
export type WorkloadRequest = z.infer<typeof WorkloadRequest>;

/** The migration part of a plan: the request with its mapping tables filled in. */
export const WorkloadPlan = z
  .object({
    namespaces: z.array(NamespaceName).max(100),
    selector: z.string().min(1).max(4096).optional(),
    includeSecrets: z.boolean(),
    mappings: MigrationMappings,
  })
  .strict()
  .refine((w) => w.namespaces.length > 0 || w.selector !== undefined, {
    message: 'name namespaces, a selector or both',
    path: ['namespaces'],
  });
export type WorkloadPlan = z.infer<typeof WorkloadPlan>;

// --- the curated mapping tables --------------------------------------------------------------------

/**
 * Storage classes by tier, as each cloud names its own (EKS: the EBS CSI driver's gp3 and the
 * in-tree gp2, EFS; GKE: the Persistent Disk CSI classes and Filestore; AKS: the Azure Disk and
 * Azure Files CSI classes). The first name of a tier is the one a migration maps to.
 */
const STORAGE_TIERS: Record<CloudName, string[]>[] = [
  {
    eks: ['gp3', 'gp2'],
    gke: ['standard-rwo', 'standard'],
    aks: ['managed-csi', 'default', 'managed'],
  },
  {
    eks: ['io2', 'io1'],
    gke: ['premium-rwo'],
    aks: ['managed-csi-premium', 'managed-premium'],
  },
  {
    eks: ['efs-sc'],
    gke: ['standard-rwx', 'enterprise-rwx'],
    aks: ['azurefile-csi', 'azurefile', 'azurefile-csi-premium'],
  },
];

/** Each cloud's own ingress controller class. */
const INGRESS_CLASS: Record<CloudName, string> = {
  eks: 'alb',
  gke: 'gce',
  aks: 'webapprouting.kubernetes.azure.com',
};

/** How each cloud says "an internal load balancer" on a Service. */
const INTERNAL_LB: Record<CloudName, { key: string; value: string }> = {
  eks: { key: 'service.beta.kubernetes.io/aws-load-balancer-internal', value: 'true' },
  gke: { key: 'networking.gke.io/load-balancer-type', value: 'Internal' },
  aks: { key: 'service.beta.kubernetes.io/azure-load-balancer-internal', value: 'true' },
};

/** Annotations only their own cloud understands: dropped unless a rule maps them. */
const CLOUD_ANNOTATIONS: Record<CloudName, string[]> = {
  eks: [
    'service.beta.kubernetes.io/aws-load-balancer-*',
    'alb.ingress.kubernetes.io/*',
    'eks.amazonaws.com/*',
    'ebs.csi.aws.com/*',
  ],
  gke: [
    'cloud.google.com/*',
    'networking.gke.io/*',
    'iam.gke.io/*',
    'ingress.gcp.kubernetes.io/*',
    'ingress.kubernetes.io/*',
  ],
  aks: [
    'service.beta.kubernetes.io/azure-*',
    'azure.workload.identity/*',
    'kubernetes.azure.com/*',
    'appgw.ingress.kubernetes.io/*',
  ],
};

/** The curated tables for a move from one cloud to another; the plan shows them for editing. */
export const defaultMappings = (from: CloudName, to: CloudName): MigrationMappings => {
  if (from === to) return { storageClasses: {}, ingressClasses: {}, annotations: [] };
  const storageClasses: Record<string, string> = {};
  for (const tier of STORAGE_TIERS) {
    const into = tier[to][0];
    if (into) for (const name of tier[from]) storageClasses[name] = into;
  }
  return {
    storageClasses,
    ingressClasses: { [INGRESS_CLASS[from]]: INGRESS_CLASS[to] },
    annotations: [
      { from: INTERNAL_LB[from].key, to: INTERNAL_LB[to].key, value: INTERNAL_LB[to].value },
      ...CLOUD_ANNOTATIONS[from].map((prefix) => ({ from: prefix, to: null })),
    ],
  };
};

/** The migration part of a plan for a request: its tables, or the curated ones. */
export const planWorkloads = (request: WorkloadRequest, from: CloudName, to: CloudName): WorkloadPlan => ({
  namespaces: [...request.namespaces],
  ...(request.selector === undefined ? {} : { selector: request.selector }),
  includeSecrets: request.includeSecrets,
  mappings: request.mappings ?? defaultMappings(from, to),
});

// --- stripping and mapping ---------------------------------------------------------------------------

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Written by the source's API server: never carried to another cluster. */
const SERVER_METADATA = [
  'uid',
  'resourceVersion',
  'creationTimestamp',
  'generation',
  'managedFields',
  'ownerReferences',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'finalizers',
] as const;

/** Annotations written by tools and controllers of the source cluster. */
const SERVER_ANNOTATIONS = [
  'kubectl.kubernetes.io/last-applied-configuration',
  'deployment.kubernetes.io/revision',
  'pv.kubernetes.io/bind-completed',
  'pv.kubernetes.io/bound-by-controller',
  'volume.beta.kubernetes.io/storage-provisioner',
  'volume.kubernetes.io/storage-provisioner',
  'volume.kubernetes.io/selected-node',
];

/** An object the source's API server or controllers made for themselves: not migrated. */
export const isClusterOwned = (o: {
  kind: string;
  metadata: { name: string; namespace?: string };
  type?: unknown;
}): boolean =>
  (o.kind === 'ConfigMap' && o.metadata.name === 'kube-root-ca.crt') ||
  (o.kind === 'ServiceAccount' && o.metadata.name === 'default') ||
  (o.kind === 'Secret' && o.type === 'kubernetes.io/service-account-token') ||
  (o.kind === 'Service' && o.metadata.name === 'kubernetes' && o.metadata.namespace === 'default');

const matchRule = (rules: readonly AnnotationRule[], key: string): AnnotationRule | undefined =>
  rules.find((r) => r.from === key) ??
  rules.find((r) => r.from.endsWith('*') && key.startsWith(r.from.slice(0, -1)));

const stripMetadata = (metadata: Obj, rules: readonly AnnotationRule[], note: (m: string) => void): Obj => {
  const out: Obj = { ...metadata };
  for (const k of SERVER_METADATA) delete out[k];
  const annotations = isObj(out.annotations) ? (out.annotations as Record<string, string>) : undefined;
  if (annotations) {
    const mapped: Record<string, string> = {};
    for (const [key, value] of Object.entries(annotations)) {
      if (SERVER_ANNOTATIONS.includes(key)) continue;
      const rule = matchRule(rules, key);
      if (!rule) {
        mapped[key] = value;
      } else if (rule.to === null) {
        note(`annotation ${key} dropped`);
      } else {
        mapped[rule.to] = rule.value ?? value;
        note(`annotation ${key} → ${rule.to}${rule.value === undefined ? '' : `=${rule.value}`}`);
      }
    }
    if (Object.keys(mapped).length > 0) out.annotations = mapped;
    else delete out.annotations;
  }
  return out;
};

const mapClass = (
  table: Readonly<Record<string, string>>,
  value: unknown,
  what: string,
  note: (m: string) => void,
): unknown => {
  if (typeof value !== 'string') return value;
  const into = table[value];
  if (into === undefined || into === value) return value;
  note(`${what} ${value} → ${into}`);
  return into;
};

const stripClaim = (claim: Obj, mappings: MigrationMappings, note: (m: string) => void): Obj => {
  const spec = isObj(claim.spec) ? { ...claim.spec } : {};
  delete spec.volumeName;
  if ('storageClassName' in spec)
    spec.storageClassName = mapClass(mappings.storageClasses, spec.storageClassName, 'storage class', note);
  const out: Obj = { ...claim, spec };
  delete out.status;
  if (isObj(out.metadata)) out.metadata = stripMetadata(out.metadata, mappings.annotations, note);
  return out;
};

/**
 * An exported object as it is to be applied to another cluster: server-written metadata,
 * status and allocated addresses stripped; storage classes, ingress classes and annotations
 * mapped. `notes` say what was mapped or dropped.
 */
export const prepareForMigration = <
  T extends { apiVersion: string; kind: string; metadata: { name: string } },
>(
  object: T,
  mappings: MigrationMappings,
): { object: T; notes: string[] } => {
  const notes: string[] = [];
  const note = (m: string) => notes.push(m);
  const o: Obj = { ...(object as unknown as Obj) };
  delete o.status;
  o.metadata = stripMetadata(o.metadata as Obj, mappings.annotations, note);
  const spec = isObj(o.spec) ? { ...o.spec } : undefined;
  if (spec) o.spec = spec;

  switch (object.kind) {
    case 'Service':
      if (spec) {
        // Addresses the source cluster allocated; the target allocates its own.
        for (const k of ['clusterIP', 'clusterIPs', 'healthCheckNodePort']) delete spec[k];
        if (spec.loadBalancerIP !== undefined) {
          delete spec.loadBalancerIP;
          note('spec.loadBalancerIP dropped (an address of the source cloud)');
        }
      }
      break;
    case 'PersistentVolumeClaim':
      return {
        object: stripClaim(o, mappings, note) as unknown as T,
        notes: [...notes, 'data is not copied'],
      };
    case 'StatefulSet':
      if (spec && Array.isArray(spec.volumeClaimTemplates))
        spec.volumeClaimTemplates = (spec.volumeClaimTemplates as unknown[]).map((c) =>
          isObj(c) ? stripClaim(c, mappings, note) : c,
        );
      break;
    case 'Ingress':
      if (spec && 'ingressClassName' in spec)
        spec.ingressClassName = mapClass(
          mappings.ingressClasses,
          spec.ingressClassName,
          'ingress class',
          note,
        );
      if (isObj(o.metadata) && isObj(o.metadata.annotations)) {
        const a = o.metadata.annotations as Record<string, string>;
        const legacy = 'kubernetes.io/ingress.class';
        if (a[legacy] !== undefined)
          a[legacy] = mapClass(mappings.ingressClasses, a[legacy], 'ingress class', note) as string;
      }
      break;
  }
  // Pod templates: the creation time the API server writes as null.
  if (spec && isObj(spec.template) && isObj(spec.template.metadata)) {
    const { creationTimestamp: _c, ...rest } = spec.template.metadata;
    spec.template = { ...spec.template, metadata: rest };
  }
  if (object.kind === 'CronJob' && spec && isObj(spec.jobTemplate) && isObj(spec.jobTemplate.metadata)) {
    const { creationTimestamp: _c, ...rest } = spec.jobTemplate.metadata;
    spec.jobTemplate = { ...spec.jobTemplate, metadata: rest };
  }
  return { object: o as unknown as T, notes };
};

/** A namespace as a migration creates it: its labels and annotations, nothing the server wrote. */
export const prepareNamespace = <T extends { metadata: { name: string } }>(
  namespace: T,
  mappings: MigrationMappings,
): { apiVersion: 'v1'; kind: 'Namespace'; metadata: { name: string; [k: string]: unknown } } => {
  const metadata = stripMetadata(namespace.metadata, mappings.annotations, () => {});
  const labels = isObj(metadata.labels) ? { ...(metadata.labels as Record<string, string>) } : {};
  // Set by the API server on every namespace.
  delete labels['kubernetes.io/metadata.name'];
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: namespace.metadata.name,
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      ...(isObj(metadata.annotations) ? { annotations: metadata.annotations } : {}),
    },
  };
};

/** What a migration did, small enough for workflow history and the run's progress. */
export type MigrationReport = {
  objects: number;
  bytes: number;
  byKind: Record<string, number>;
  /** What was mapped or dropped, `Kind ns/name: note`, at most NOTES_KEPT. */
  notes: string[];
  notesOmitted: number;
};

export const NOTES_KEPT = 100;
