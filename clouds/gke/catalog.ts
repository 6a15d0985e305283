/**
 * Curated GKE data that the ClusterManager API does not serve: regions with their real zone
 * names, and a representative set of Compute Engine machine types (sizes from Google Cloud's
 * machine-family documentation). Kubernetes versions are not here: they come from the API
 * (GetServerConfig). Also the rule that turns drover's total node counts into GKE's per-zone
 * counts, in one place so the clone planner can list the rounding as a lossy choice.
 */
import type { MachineType } from '../ports.ts';

export const GKE_REGIONS: readonly { name: string; zones: string[] }[] = [
  { name: 'us-central1', zones: ['us-central1-a', 'us-central1-b', 'us-central1-c', 'us-central1-f'] },
  { name: 'us-east1', zones: ['us-east1-b', 'us-east1-c', 'us-east1-d'] },
  { name: 'us-east4', zones: ['us-east4-a', 'us-east4-b', 'us-east4-c'] },
  { name: 'us-west1', zones: ['us-west1-a', 'us-west1-b', 'us-west1-c'] },
  { name: 'europe-west1', zones: ['europe-west1-b', 'europe-west1-c', 'europe-west1-d'] },
  { name: 'europe-west3', zones: ['europe-west3-a', 'europe-west3-b', 'europe-west3-c'] },
  { name: 'europe-west4', zones: ['europe-west4-a', 'europe-west4-b', 'europe-west4-c'] },
  { name: 'asia-northeast1', zones: ['asia-northeast1-a', 'asia-northeast1-b', 'asia-northeast1-c'] },
  { name: 'asia-southeast1', zones: ['asia-southeast1-a', 'asia-southeast1-b', 'asia-southeast1-c'] },
  {
    name: 'australia-southeast1',
    zones: ['australia-southeast1-a', 'australia-southeast1-b', 'australia-southeast1-c'],
  },
];

const GiB = 1024;

/** `regions`: where the type is sold, when not in every curated region. */
export const GKE_MACHINE_TYPES: readonly (MachineType & { regions?: readonly string[] })[] = [
  {
    name: 'e2-medium',
    vcpu: 2,
    memoryMiB: 4 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'burstable',
    current: true,
  },
  {
    name: 'e2-standard-2',
    vcpu: 2,
    memoryMiB: 8 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'general',
    current: true,
  },
  {
    name: 'e2-standard-4',
    vcpu: 4,
    memoryMiB: 16 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'general',
    current: true,
  },
  {
    name: 'n2-standard-4',
    vcpu: 4,
    memoryMiB: 16 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'general',
    current: true,
  },
  {
    name: 'n2-standard-8',
    vcpu: 8,
    memoryMiB: 32 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'general',
    current: true,
  },
  {
    name: 'n4-standard-4',
    vcpu: 4,
    memoryMiB: 16 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'general',
    current: true,
  },
  {
    name: 'n1-standard-4',
    vcpu: 4,
    memoryMiB: 15 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'general',
    current: false,
  },
  {
    name: 'c2-standard-8',
    vcpu: 8,
    memoryMiB: 32 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'compute',
    current: true,
  },
  {
    name: 'c3-standard-8',
    vcpu: 8,
    memoryMiB: 32 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'compute',
    current: true,
  },
  {
    name: 'n2-highmem-4',
    vcpu: 4,
    memoryMiB: 32 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'memory',
    current: true,
  },
  {
    name: 'n2-highmem-8',
    vcpu: 8,
    memoryMiB: 64 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'memory',
    current: true,
  },
  {
    name: 't2a-standard-4',
    vcpu: 4,
    memoryMiB: 16 * GiB,
    arch: 'arm64',
    gpus: 0,
    family: 'general',
    current: true,
    regions: ['us-central1', 'europe-west4', 'asia-southeast1'],
  },
  {
    name: 'c4a-standard-4',
    vcpu: 4,
    memoryMiB: 16 * GiB,
    arch: 'arm64',
    gpus: 0,
    family: 'general',
    current: true,
    regions: ['us-central1', 'us-east1', 'us-east4', 'europe-west1', 'europe-west4', 'asia-southeast1'],
  },
  {
    name: 'g2-standard-4',
    vcpu: 4,
    memoryMiB: 16 * GiB,
    arch: 'amd64',
    gpus: 1,
    family: 'gpu',
    current: true,
    regions: [
      'us-central1',
      'us-east1',
      'us-east4',
      'us-west1',
      'europe-west1',
      'europe-west4',
      'asia-southeast1',
    ],
  },
  {
    name: 'a2-highgpu-1g',
    vcpu: 12,
    memoryMiB: 85 * GiB,
    arch: 'amd64',
    gpus: 1,
    family: 'gpu',
    current: true,
    regions: [
      'us-central1',
      'us-east1',
      'us-east4',
      'us-west1',
      'europe-west4',
      'asia-northeast1',
      'asia-southeast1',
    ],
  },
  {
    name: 'a3-highgpu-8g',
    vcpu: 208,
    memoryMiB: 1872 * GiB,
    arch: 'amd64',
    gpus: 8,
    family: 'gpu',
    current: true,
    regions: ['us-central1', 'us-east4', 'europe-west4', 'asia-northeast1'],
  },
];

/** GKE locations are regions (`us-central1`) or zones (`us-central1-a`). */
export const isZone = (location: string): boolean => /^[a-z]+-[a-z]+\d+-[a-z]$/.test(location);

export const regionOf = (location: string): string =>
  isZone(location) ? location.replace(/-[a-z]$/, '') : location;

/**
 * How many zones a pool spans: its own zones when given, else GKE's default for the
 * cluster's location: the zone itself for a zonal cluster, and the `clusterZones` of a
 * regional one (GKE picks three when the cluster names none).
 */
export const zoneCount = (
  location: string,
  poolZones: readonly string[],
  clusterZones: readonly string[] = [],
) => {
  if (poolZones.length > 0) return poolZones.length;
  if (isZone(location)) return Math.max(1, clusterZones.length);
  return clusterZones.length > 0 ? clusterZones.length : 3;
};

/**
 * GKE sizes a pool per zone. drover counts nodes in total, so a total that does not divide
 * by the zones is rounded UP (never fewer nodes than asked): 5 nodes over 3 zones is 2 per
 * zone, 6 in all. The same rule applies to the autoscaling minimum and maximum. `exact` is
 * false when the rounding changed the total: the clone planner lists it as a lossy choice.
 */
export const perZoneCount = (
  total: number,
  zones: number,
): { perZone: number; total: number; exact: boolean } => {
  const perZone = Math.ceil(total / Math.max(1, zones));
  return { perZone, total: perZone * Math.max(1, zones), exact: perZone * Math.max(1, zones) === total };
};
