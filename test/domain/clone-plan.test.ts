/**
 * The clone translation over real cluster shapes, each written the way its cloud's
 * documentation builds it and as drover's adapter describes it, in every direction between
 * EKS, GKE and AKS; then the same properties over random clusters (fast-check). The catalogs
 * are the adapters' curated tables with version lists shaped like each cloud's real answer.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { AKS_REGIONS, machineTypesIn, normalizedZone } from '../../clouds/aks/catalog.ts';
import { EKS_MACHINE_TYPES, EKS_REGIONS } from '../../clouds/eks/catalog.ts';
import { GKE_MACHINE_TYPES, GKE_REGIONS } from '../../clouds/gke/catalog.ts';
import type { Catalog, CloudCluster, CloudName, MachineType, NodePool } from '../../clouds/ports.ts';
import {
  gkeRegionOf,
  homeRow,
  METRO_REGIONS,
  perZoneCount,
  translateRegion,
} from '../../domain/cloud-regions.ts';
import {
  chooseMachineType,
  chooseVersion,
  cloudClusterName,
  placeholdersIn,
  poolNameFor,
  translateCluster,
  type Translation,
} from '../../domain/clone-plan.ts';
import { checkClusterSpec, ClusterSpecRequest, RUN_LABEL } from '../../domain/cluster-specs.ts';

import { minorOf } from '../../domain/versions.ts';
// --- catalogs, as each adapter's catalog(location) answers ---------------------------------------

/** Kubernetes versions as each cloud lists them (EKS minors, GKE patches, AKS non-preview minors). */
const VERSIONS: Record<CloudName, { versions: string[]; defaultVersion: string }> = {
  eks: { versions: ['1.34', '1.33', '1.32', '1.31', '1.30', '1.29'], defaultVersion: '1.33' },
  gke: {
    versions: [
      '1.34.1-gke.1829001',
      '1.33.5-gke.1308000',
      '1.33.4-gke.1350000',
      '1.32.9-gke.1108000',
      '1.31.13-gke.1023000',
    ],
    defaultVersion: '1.33.5-gke.1308000',
  },
  aks: { versions: ['1.33', '1.32', '1.31'], defaultVersion: '1.32' },
};

const catalogs = new Map<string, Catalog>();
const catalogFor = (cloud: CloudName, location?: string): Catalog => {
  const key = `${cloud}/${location ?? ''}`;
  const hit = catalogs.get(key);
  if (hit) return hit;
  const made = buildCatalog(cloud, location);
  catalogs.set(key, made);
  return made;
};

const buildCatalog = (cloud: CloudName, location?: string): Catalog => {
  const region = location && cloud === 'gke' ? gkeRegionOf(location) : location;
  const machineTypes: MachineType[] =
    cloud === 'eks'
      ? [...EKS_MACHINE_TYPES]
      : cloud === 'gke'
        ? GKE_MACHINE_TYPES.filter((m) => !region || !m.regions || m.regions.includes(region)).map(
            ({ regions: _r, ...m }) => m,
          )
        : machineTypesIn(region);
  const regions =
    cloud === 'eks'
      ? EKS_REGIONS.map((r) => ({ name: r.name, zones: [...r.zones] }))
      : cloud === 'gke'
        ? GKE_REGIONS.map((r) => ({ name: r.name, zones: [...r.zones] }))
        : AKS_REGIONS.map((r) => ({ name: r.name, zones: r.zones.map((z) => normalizedZone(r.name, z)) }));
  return { cloud, ...VERSIONS[cloud], regions, machineTypes };
};

const typeOf = (cloud: CloudName, name: string) =>
  catalogFor(cloud).machineTypes.find((m) => m.name === name);

// --- real shapes -----------------------------------------------------------------------------------

const pool = (p: Partial<NodePool> & Pick<NodePool, 'name' | 'machineType' | 'count'>): NodePool => ({
  autoscaling: null,
  labels: {},
  taints: [],
  spot: false,
  diskGb: 100,
  zones: [],
  status: 'ready',
  ...p,
});

const cluster = (c: Partial<CloudCluster> & Pick<CloudCluster, 'cloud' | 'name' | 'location' | 'version'>) =>
  ({
    status: 'ready',
    endpoint: 'https://example.invalid',
    labels: {},
    nodePools: [],
    providerId: `${c.cloud}/${c.name}`,
    createdAt: '2026-01-01T00:00:00Z',
    ...c,
  }) satisfies CloudCluster;

const SHAPES: Record<string, CloudCluster> = {
  // EKS user guide, "Get started with Amazon EKS – AWS Management Console": a managed node group
  // of t3.medium, 20 GiB disks, min = max = desired = 2.
  'eks console quickstart': cluster({
    cloud: 'eks',
    name: 'my-cluster',
    location: 'us-west-2',
    version: '1.33',
    nodePools: [pool({ name: 'my-nodegroup', machineType: 't3.medium', count: 2, diskGb: 20 })],
  }),
  // eksctl's examples: a general group, a Graviton group, a GPU group and a tainted Spot group;
  // tags as eksctl and CloudFormation set them.
  'eksctl mixed node groups': cluster({
    cloud: 'eks',
    name: 'Cluster_1',
    location: 'us-east-1',
    version: '1.32',
    labels: {
      Environment: 'Production',
      team: 'payments',
      'alpha.eksctl.io/cluster-name': 'cluster-1',
      'aws:cloudformation:stack-name': 'eksctl-cluster-1-cluster',
      [RUN_LABEL]: 'create-abc',
    },
    nodePools: [
      pool({ name: 'ng-1', machineType: 'm5.large', count: 10, diskGb: 80 }),
      pool({
        name: 'ng-arm64',
        machineType: 'm7g.large',
        count: 3,
        autoscaling: { min: 1, max: 5 },
        labels: { role: 'worker', 'kubernetes.io/arch': 'arm64' },
      }),
      pool({
        name: 'ng_gpu',
        machineType: 'g5.xlarge',
        count: 1,
        autoscaling: { min: 0, max: 4 },
        labels: { accelerator: 'nvidia' },
        taints: [{ key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule' }],
      }),
      pool({
        name: 'spot-ng',
        machineType: 'c7i.xlarge',
        count: 2,
        autoscaling: { min: 0, max: 10 },
        spot: true,
        labels: { lifecycle: 'Ec2Spot' },
        taints: [{ key: 'spotInstance', value: 'true', effect: 'PreferNoSchedule' }],
      }),
    ],
  }),
  // GKE quickstart: `gcloud container clusters create hello-cluster --zone us-central1-c`:
  // three e2-medium nodes in one zone.
  'gke zonal quickstart': cluster({
    cloud: 'gke',
    name: 'hello-cluster',
    location: 'us-central1-c',
    version: '1.33.5-gke.1308000',
    nodePools: [pool({ name: 'default-pool', machineType: 'e2-medium', count: 3, zones: ['us-central1-c'] })],
  }),
  // GKE "Create a regional cluster": --num-nodes 1 per zone over three zones, autoscaling 1..3 per
  // zone; plus a Spot pool and a GPU pool (GKE adds the nvidia taint and accelerator label).
  'gke regional with spot and gpu': cluster({
    cloud: 'gke',
    name: 'my-regional-cluster',
    location: 'us-east4',
    version: '1.34.1-gke.1829001',
    labels: { env: 'prod', 'goog-k8s-cluster-name': 'my-regional-cluster' },
    nodePools: [
      pool({
        name: 'default-pool',
        machineType: 'e2-standard-4',
        count: 3,
        autoscaling: { min: 3, max: 9 },
        zones: ['us-east4-a', 'us-east4-b', 'us-east4-c'],
      }),
      pool({
        name: 'spot-pool',
        machineType: 'n2-standard-8',
        count: 6,
        autoscaling: { min: 0, max: 6 },
        spot: true,
        labels: { 'cloud.google.com/gke-spot': 'true' },
        zones: ['us-east4-a', 'us-east4-b', 'us-east4-c'],
      }),
      pool({
        name: 'gpu-pool',
        machineType: 'g2-standard-4',
        count: 1,
        labels: { 'cloud.google.com/gke-accelerator': 'nvidia-l4' },
        taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }],
        zones: ['us-east4-a'],
      }),
    ],
  }),
  // GKE "Arm workloads": a t2a pool over three zones of us-central1, which GKE taints for arm64.
  'gke arm': cluster({
    cloud: 'gke',
    name: 'arm-cluster',
    location: 'us-central1',
    version: '1.31.13-gke.1023000',
    nodePools: [
      pool({
        name: 'arm-pool',
        machineType: 't2a-standard-4',
        count: 3,
        taints: [{ key: 'kubernetes.io/arch', value: 'arm64', effect: 'NoSchedule' }],
        zones: ['us-central1-a', 'us-central1-b', 'us-central1-f'],
      }),
    ],
  }),
  // AKS quickstart: `az aks create --node-count 1`: one Standard_DS2_v2 system node (a previous
  // generation), 128 GB OS disk.
  'aks quickstart': cluster({
    cloud: 'aks',
    name: 'myAKSCluster',
    location: 'eastus',
    version: '1.32.6',
    labels: { Environment: 'Dev' },
    nodePools: [
      pool({ name: 'nodepool1', machineType: 'Standard_DS2_v2', count: 1, diskGb: 128, system: true }),
    ],
  }),
  // AKS "Create node pools", "Availability zones", "Spot node pools", "GPU node pools" and "Arm64":
  // a zonal system pool, a labelled autoscaling user pool, a Spot pool, a tainted GPU pool (NCv3,
  // being retired) and an Arm pool.
  'aks multi pool': cluster({
    cloud: 'aks',
    name: 'myAKSCluster2',
    location: 'westeurope',
    version: '1.33.2',
    labels: { CostCenter: '1234', 'drover.io/owner': 'platform' },
    nodePools: [
      pool({
        name: 'nodepool1',
        machineType: 'Standard_D4s_v5',
        count: 3,
        zones: ['westeurope-1', 'westeurope-2', 'westeurope-3'],
        system: true,
      }),
      pool({
        name: 'mynodepool',
        machineType: 'Standard_D8s_v5',
        count: 3,
        autoscaling: { min: 1, max: 5 },
        labels: { dept: 'IT', costcenter: '9999' },
        system: false,
      }),
      pool({
        name: 'spotnodepool',
        machineType: 'Standard_D4s_v5',
        count: 1,
        autoscaling: { min: 1, max: 3 },
        spot: true,
        system: false,
      }),
      pool({
        name: 'gpunp',
        machineType: 'Standard_NC6s_v3',
        count: 1,
        taints: [{ key: 'sku', value: 'gpu', effect: 'NoSchedule' }],
        system: false,
      }),
      pool({ name: 'armpool', machineType: 'Standard_D4ps_v5', count: 2, system: false }),
    ],
  }),
};

const EKS_EXTRAS = {
  eks: {
    roleArn: 'arn:aws:iam::111122223333:role/eks-cluster',
    subnetIds: ['subnet-0a', 'subnet-0b'],
    nodeRoleArn: 'arn:aws:iam::111122223333:role/eks-nodes',
  },
};

/** Translates with the catalog of the location it lands in, as the clone run does. */
const plan = (
  source: CloudCluster,
  to: CloudName,
  target: Parameters<typeof translateCluster>[0]['target'] = {},
) => {
  const sourceCatalog = catalogFor(source.cloud, source.location);
  const first = translateCluster({ source, sourceCatalog, targetCatalog: catalogFor(to), target });
  const targetCatalog = catalogFor(to, first.spec.location);
  return {
    translation: translateCluster({ source, sourceCatalog, targetCatalog, target }),
    sourceCatalog,
    targetCatalog,
  };
};

const warned = (t: Translation, field: string) => t.warnings.some((w) => w.field === field);

/** Every property the translation promises, for one source and one direction. */
const checkProperties = (source: CloudCluster, to: CloudName) => {
  const { translation: t, sourceCatalog, targetCatalog } = plan(source, to, { extras: EKS_EXTRAS });
  const { spec } = t;

  // The plan is a valid request and passes the very check the create run makes.
  expect(ClusterSpecRequest.safeParse(spec).error?.issues ?? []).toEqual([]);
  expect(placeholdersIn(spec, 'spec')).toEqual([]);
  // Where no region nearby is offered, the user must choose one: the location is all that is left.
  const choose = t.warnings.some((w) => w.field === 'spec.location' && /choose the region/.test(w.message));
  expect(checkClusterSpec(spec, targetCatalog).problems.map((p) => p.field)).toEqual(
    choose ? ['spec.location'] : [],
  );

  // The version rule.
  const wanted = minorOf(source.version) as string;
  const offered = [...new Set(targetCatalog.versions.map((v) => minorOf(v) as string))];
  const rank = (m: string) => Number(m.split('.')[1]);
  const expected = offered.includes(wanted)
    ? wanted
    : (offered.filter((m) => rank(m) > rank(wanted)).sort((a, b) => rank(a) - rank(b))[0] ??
      offered.sort((a, b) => rank(b) - rank(a)).find((m) => rank(m) < rank(wanted)));
  expect(spec.version).toBe(expected);
  expect(warned(t, 'spec.version')).toBe(spec.version !== wanted);

  // Never smaller, same architecture, GPUs kept: pool i of the plan is pool i of the source.
  source.nodePools.forEach((from, i) => {
    const into = spec.nodePools[i];
    if (!into) throw new Error(`pool ${i} was lost`);
    const field = `spec.nodePools.${i}`;
    const a = sourceCatalog.machineTypes.find((m) => m.name === from.machineType) as MachineType;
    const b = targetCatalog.machineTypes.find((m) => m.name === into.machineType);
    if (!b) throw new Error(`${into.machineType} is not a ${to} type`);
    expect(b.arch).toBe(a.arch);
    expect(b.vcpu).toBeGreaterThanOrEqual(a.vcpu);
    expect(b.memoryMiB).toBeGreaterThanOrEqual(a.memoryMiB);
    expect(b.gpus).toBeGreaterThanOrEqual(a.gpus);
    if (a.gpus === 0) expect(b.gpus).toBe(0);
    const sameShape =
      b.vcpu === a.vcpu && b.memoryMiB === a.memoryMiB && b.gpus === a.gpus && b.family === a.family;
    if (!sameShape || !a.current || a.gpus > 0) expect(warned(t, `${field}.machineType`)).toBe(true);

    expect(into.count).toBeGreaterThanOrEqual(from.count);
    if (into.count !== from.count) expect(warned(t, `${field}.count`)).toBe(true);
    expect(into.autoscaling === null).toBe(from.autoscaling === null);
    if (from.autoscaling && into.autoscaling) {
      expect(into.autoscaling.min).toBeGreaterThanOrEqual(from.autoscaling.min);
      expect(into.autoscaling.max).toBeGreaterThanOrEqual(from.autoscaling.max);
      if (into.autoscaling.min !== from.autoscaling.min || into.autoscaling.max !== from.autoscaling.max)
        expect(warned(t, `${field}.autoscaling`)).toBe(true);
    }
    expect(into.spot).toBe(from.spot);
    expect(into.diskGb).toBeGreaterThanOrEqual(from.diskGb);
    if (into.name !== from.name) expect(warned(t, `${field}.name`)).toBe(true);
    // Labels and taints: kept, or dropped with a warning.
    for (const [k, v] of Object.entries(from.labels)) {
      if (into.labels[k] !== v) expect(warned(t, `${field}.labels.${k}`)).toBe(true);
    }
    from.taints.forEach((taint, j) => {
      if (!into.taints.some((x) => x.key === taint.key && x.effect === taint.effect))
        expect(warned(t, `${field}.taints.${j}`)).toBe(true);
    });
    if (from.zones.length > 0 && into.zones.length !== from.zones.length)
      expect(warned(t, `${field}.zones`)).toBe(true);
  });
  if (spec.nodePools.length > source.nodePools.length)
    expect(warned(t, `spec.nodePools.${source.nodePools.length}`)).toBe(true);
  if (to === 'aks') expect(spec.nodePools.filter((p) => p.system)).toHaveLength(1);

  // Cluster labels: copied as they were, or with a warning (drover's own run label is never copied).
  expect(spec.labels).not.toHaveProperty(RUN_LABEL);
  for (const [k, v] of Object.entries(source.labels)) {
    if (k !== RUN_LABEL && spec.labels[k] !== v) expect(warned(t, `spec.labels.${k}`)).toBe(true);
  }

  // A region translated without a warning comes back to where it started.
  if (!warned(t, 'spec.location')) {
    const back = translateRegion(to, spec.location, source.cloud, []);
    expect(homeRow(source.cloud, back.region)?.metro).toBe(
      homeRow(source.cloud, gkeRegionOf(source.location))?.metro,
    );
  }
  return t;
};

const CLOUDS: CloudName[] = ['eks', 'gke', 'aks'];

describe('clone translation over documented cluster shapes', () => {
  const cases = Object.entries(SHAPES).flatMap(([shape, source]) =>
    CLOUDS.filter((to) => to !== source.cloud).map((to) => [shape, source.cloud, to, source] as const),
  );

  it('covers every direction', () => {
    const directions = new Set(cases.map(([, from, to]) => `${from}→${to}`));
    expect([...directions].sort()).toEqual([
      'aks→eks',
      'aks→gke',
      'eks→aks',
      'eks→gke',
      'gke→aks',
      'gke→eks',
    ]);
  });

  it.each(cases)('%s: %s → %s keeps its promises', (_shape, _from, to, source) => {
    checkProperties(source, to);
  });

  it('translates the eksctl cluster to GKE as the documentation would', () => {
    const { translation: t } = plan(SHAPES['eksctl mixed node groups'] as CloudCluster, 'gke');
    expect(t.spec).toMatchObject({
      name: 'cluster-1',
      location: 'us-east4',
      version: '1.32',
      labels: {
        environment: 'production',
        team: 'payments',
        'alpha_eksctl_io_cluster-name': 'cluster-1',
      },
      extras: {},
    });
    expect(t.spec.nodePools.map((p) => [p.name, p.machineType, p.count, p.autoscaling])).toEqual([
      // 10 nodes over GKE's three default zones: 4 per zone.
      ['ng-1', 'e2-standard-2', 12, null],
      ['ng-arm64', 'c4a-standard-4', 3, { min: 3, max: 6 }],
      ['ng-gpu', 'g2-standard-4', 3, { min: 0, max: 6 }],
      ['spot-ng', 'e2-standard-4', 3, { min: 0, max: 12 }],
    ]);
    expect(t.spec.nodePools[1]?.labels).toEqual({ role: 'worker' });
    expect(t.spec.nodePools[2]?.taints).toEqual([
      { key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule' },
    ]);
    const fields = t.warnings.map((w) => w.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        'spec.name',
        'spec.labels.Environment',
        'spec.labels.aws:cloudformation:stack-name',
        'spec.nodePools.0.count',
        'spec.nodePools.1.machineType', // m7g.large 2/8 → c4a-standard-4 4/16: upsized
        'spec.nodePools.1.labels.kubernetes.io/arch',
        'spec.nodePools.2.name',
        'spec.nodePools.2.machineType', // GPU models not compared
        'spec.nodePools.3.machineType', // compute → general
      ]),
    );
    expect(fields).not.toContain('spec.location');
    expect(fields).not.toContain('spec.version');
  });

  it('gives AKS a system pool: a qualifying pool becomes it, else one is added', () => {
    const eks = plan(SHAPES['eks console quickstart'] as CloudCluster, 'aks').translation;
    expect(eks.spec.nodePools.map((p) => [p.name, p.system ?? false])).toEqual([['mynodegroup', true]]);
    expect(warned(eks, 'spec.nodePools.0.system')).toBe(true);

    const gpuOnly = cluster({
      cloud: 'gke',
      name: 'gpu-only',
      location: 'us-east4',
      version: '1.33.5-gke.1308000',
      nodePools: [
        pool({
          name: 'gpu',
          machineType: 'g2-standard-4',
          count: 1,
          taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }],
        }),
      ],
    });
    const added = plan(gpuOnly, 'aks').translation;
    expect(added.spec.nodePools.map((p) => [p.name, p.machineType, p.count, p.system ?? false])).toEqual([
      ['gpu', 'Standard_NC4as_T4_v3', 1, false],
      ['system', 'Standard_D2s_v5', 1, true],
    ]);
    expect(warned(added, 'spec.nodePools.1')).toBe(true);
  });

  it('leaves placeholders for what EKS needs and nobody gave, naming each field', () => {
    const { translation: t } = plan(SHAPES['aks quickstart'] as CloudCluster, 'eks');
    expect(placeholdersIn(t.spec, 'spec')).toEqual([
      'spec.extras.eks.roleArn',
      'spec.extras.eks.subnetIds.0',
      'spec.extras.eks.subnetIds.1',
      'spec.extras.eks.nodeRoleArn',
    ]);
    for (const f of ['spec.extras.eks.roleArn', 'spec.extras.eks.subnetIds', 'spec.extras.eks.nodeRoleArn'])
      expect(warned(t, f)).toBe(true);
    // The AKS quickstart's previous-generation DS2_v2 (2 vCPU, 7 GiB) needs an 8 GiB type on EKS.
    expect(t.spec.nodePools[0]).toMatchObject({ name: 'nodepool1', machineType: 'm5.large', diskGb: 128 });
    expect(t.spec.nodePools[0]).not.toHaveProperty('system');
  });

  it('keeps zones by position and warns where a region has fewer, or EKS cannot take them', () => {
    const multi = SHAPES['aks multi pool'] as CloudCluster;
    const gke = plan(multi, 'gke').translation;
    expect(gke.spec.location).toBe('europe-west4');
    expect(gke.spec.nodePools[0]?.zones).toEqual(['europe-west4-a', 'europe-west4-b', 'europe-west4-c']);
    const eks = plan(multi, 'eks', { extras: EKS_EXTRAS }).translation;
    expect(eks.spec.location).toBe('eu-central-1');
    expect(warned(eks, 'spec.location')).toBe(true); // no AWS region in the Netherlands
    expect(eks.spec.nodePools[0]?.zones).toEqual([]);
    expect(warned(eks, 'spec.nodePools.0.zones')).toBe(true);
  });

  it('honours an asked-for location and name', () => {
    const { translation: t } = plan(SHAPES['gke arm'] as CloudCluster, 'aks', {
      name: 'arm-copy',
      location: 'westus2',
      labels: { 'cloned-by': 'drover' },
    });
    expect(t.spec).toMatchObject({
      name: 'arm-copy',
      location: 'westus2',
      labels: { 'cloned-by': 'drover' },
    });
    expect(t.spec.nodePools[0]?.zones).toEqual(['westus2-1', 'westus2-2', 'westus2-3']);
    expect(t.spec.nodePools[0]?.machineType).toBe('Standard_D4ps_v5');
  });
});

describe('clone translation pieces', () => {
  it('chooses versions: same minor, else nearest newer, else nearest older', () => {
    const gke = catalogFor('gke');
    expect(chooseVersion('1.33', gke)).toEqual({ version: '1.33' });
    expect(chooseVersion('v1.33.9-eks-1234', gke)).toEqual({ version: '1.33' });
    expect(chooseVersion('1.30.2', gke).version).toBe('1.31');
    expect(chooseVersion('1.30.2', gke).warning).toMatch(/nearest newer/);
    expect(chooseVersion('1.36', gke).version).toBe('1.34');
    expect(chooseVersion('1.36', gke).warning).toMatch(/nearest older/);
    expect(chooseVersion('latest', gke)).toMatchObject({ version: '1.33' });
    expect(chooseVersion('latest', gke).warning).toMatch(/guess/);
  });

  it('never picks a smaller machine, another architecture or a GPU nobody asked for', () => {
    const t = (cloud: CloudName, name: string) => typeOf(cloud, name) as MachineType;
    expect(chooseMachineType(t('eks', 'm7i.large'), catalogFor('gke').machineTypes)).toMatchObject({
      type: { name: 'e2-standard-2' },
      notes: [],
    });
    // Memory-optimized 2 vCPU / 16 GiB: the smallest general type with 16 GiB, and a note why.
    const memory = chooseMachineType(t('eks', 'r7i.large'), catalogFor('aks').machineTypes);
    expect(memory.type?.name).toBe('Standard_D4s_v5');
    expect(memory.notes.join('; ')).toMatch(/no memory family match.*upsized/);
    // EKS has no 8-GPU arm64 type: nothing, and it says so.
    const armGpu: MachineType = { ...t('eks', 'p4d.24xlarge'), arch: 'arm64' };
    expect(chooseMachineType(armGpu, catalogFor('gke').machineTypes)).toMatchObject({ type: undefined });
  });

  it('makes names and labels the target accepts', () => {
    expect(cloudClusterName('My_Cluster.Prod')).toBe('my-cluster-prod');
    expect(cloudClusterName('9lives', '-gke')).toBe('lives-gke');
    expect(cloudClusterName('a'.repeat(60), '-copy')).toBe(`${'a'.repeat(35)}-copy`);
    expect(poolNameFor('aks', 'spot-pool-for-batch')).toBe('spotpoolforb');
    expect(poolNameFor('gke', 'ng_GPU')).toBe('ng-gpu');
  });

  it('rounds GKE per-zone counts up, never down', () => {
    expect(perZoneCount(10, 3)).toEqual({ perZone: 4, total: 12, exact: false });
  });
});

describe('the region table', () => {
  it('has a home row for every region the curated catalogs list', () => {
    for (const r of EKS_REGIONS) expect(homeRow('eks', r.name)?.metro).toBeDefined();
    for (const r of GKE_REGIONS) expect(homeRow('gke', r.name)?.metro).toBeDefined();
    for (const r of AKS_REGIONS) expect(homeRow('aks', r.name)?.metro).toBeDefined();
  });

  it('is one-to-one where it says it is exact: there and back lands where it started', () => {
    for (const row of METRO_REGIONS) {
      for (const from of CLOUDS) {
        for (const to of CLOUDS) {
          const cell = row[from];
          if (typeof cell !== 'string' || homeRow(from, cell) !== row) continue;
          const there = translateRegion(from, cell, to, []);
          if (there.warning) continue;
          const back = translateRegion(to, there.region, from, []).region;
          expect(homeRow(from, back)?.metro).toBe(row.metro);
        }
      }
    }
    expect(translateRegion('eks', 'us-east-1', 'gke', [])).toEqual({ region: 'us-east4' });
    expect(translateRegion('gke', 'us-east4', 'aks', [])).toEqual({ region: 'eastus' });
    expect(translateRegion('aks', 'eastus', 'eks', [])).toEqual({ region: 'us-east-1' });
  });

  it('falls back to a neighbour the target offers, with a warning', () => {
    // eu-west-3 (Paris) → GKE europe-west9, which the curated GKE catalog does not list.
    const choice = translateRegion(
      'eks',
      'eu-west-3',
      'gke',
      GKE_REGIONS.map((r) => r.name),
    );
    expect(choice.region).toBe('europe-west1');
    expect(choice.warning).toMatch(/not offered/);
    expect(translateRegion('eks', 'mars-1', 'gke', ['us-central1']).warning).toMatch(/guess/);
  });
});

// --- properties over random clusters ---------------------------------------------------------------

const SOURCE_REGIONS: Record<CloudName, string[]> = {
  eks: EKS_REGIONS.map((r) => r.name),
  gke: GKE_REGIONS.map((r) => r.name),
  aks: AKS_REGIONS.map((r) => r.name),
};

const randomCluster = (cloud: CloudName) =>
  fc.constantFrom(...SOURCE_REGIONS[cloud]).chain((location) => {
    const catalog = catalogFor(cloud, location);
    const zones = catalog.regions.find((r) => r.name === location)?.zones ?? [];
    const poolArb = fc
      .record({
        name: fc.stringMatching(/^[a-z][a-z0-9_-]{0,20}$/),
        machineType: fc.constantFrom(...catalog.machineTypes.map((m) => m.name)),
        count: fc.integer({ min: 0, max: 30 }),
        scale: fc.option(fc.tuple(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 40 }))),
        spot: fc.boolean(),
        diskGb: fc.constantFrom(0, 20, 50, 100, 512),
        zoneCount: fc.integer({ min: 0, max: cloud === 'eks' ? 0 : zones.length }),
        labels: fc.dictionary(
          fc.constantFrom('team', 'tier', 'k8s.io/x', 'app.example.com/role'),
          fc.constantFrom('a', 'b-1'),
        ),
        tainted: fc.boolean(),
      })
      .map((p) => {
        const autoscaling = p.scale
          ? { min: Math.min(p.scale[0], p.count), max: Math.max(p.scale[0], p.count, p.scale[1], 1) }
          : null;
        return pool({
          name: p.name,
          machineType: p.machineType,
          count: p.count,
          autoscaling,
          spot: p.spot,
          diskGb: p.diskGb,
          zones: zones.slice(0, p.zoneCount),
          labels: p.labels,
          taints: p.tainted ? [{ key: 'dedicated', value: 'batch', effect: 'NoSchedule' }] : [],
          ...(cloud === 'aks' ? { system: false } : {}),
        });
      });
    return fc
      .record({
        name: fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,50}$/),
        minor: fc.integer({ min: 27, max: 36 }),
        labels: fc.dictionary(
          fc.constantFrom('team', 'Owner', 'drover.io/tier', 'cost center', 'aws:created-by'),
          fc.constantFrom('Payments', 'a', 'x y', ''),
        ),
        pools: fc.uniqueArray(poolArb, { minLength: 1, maxLength: 4, selector: (p) => p.name }),
      })
      .map((c) =>
        cluster({
          cloud,
          name: c.name,
          location,
          version: `1.${c.minor}.3`,
          labels: c.labels,
          nodePools: c.pools,
        }),
      );
  });

describe('clone translation properties (random clusters)', () => {
  it.each([
    ['eks', 'gke'],
    ['eks', 'aks'],
    ['gke', 'eks'],
    ['gke', 'aks'],
    ['aks', 'eks'],
    ['aks', 'gke'],
  ] as const)(
    '%s → %s: never smaller, same architecture, the version rule, warnings for what changed',
    (from, to) => {
      fc.assert(
        fc.property(randomCluster(from), (source) => {
          // A type nobody can match (arm64 with 8 GPUs) is left to the user; the rest must hold.
          const t = plan(source, to, { extras: EKS_EXTRAS }).translation;
          if (placeholdersIn(t.spec, 'spec').length > 0) {
            expect(t.warnings.some((w) => /machineType$/.test(w.field))).toBe(true);
            return;
          }
          checkProperties(source, to);
        }),
        { numRuns: 100, seed: 7 },
      );
    },
  );
});
