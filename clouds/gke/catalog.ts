/**
 * Curated GKE data that the ClusterManager API does not serve: regions with their real zone
 * names, and a representative set of Compute Engine machine types (sizes from Google Cloud's
 * machine-family documentation). Kubernetes versions are not here: they come from the API
 * (GetServerConfig). The rule that turns drover's total node counts into GKE's per-zone counts
 * is re-exported from domain/cloud-regions.ts, its one place, which the clone planner shares.
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

/**
 * GKE's location and per-zone count rules live in domain/ (the clone planner needs them too);
 * re-exported here under the names the adapter has always used.
 */
export {
  gkeRegionOf as regionOf,
  gkeZoneCount as zoneCount,
  isGkeZone as isZone,
  perZoneCount,
} from '../../domain/cloud-regions.ts';
