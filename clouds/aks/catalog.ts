/**
 * Curated AKS catalog data: Azure regions with their availability zones, and a handful of VM
 * sizes with their shapes, from Azure's public documentation (region and zone list, VM size
 * pages). Kubernetes versions are not here: the adapter reads them from the AKS API
 * (`listKubernetesVersions`) because they change every few weeks.
 *
 * Zones: Azure names availability zones "1", "2", "3" within a region; drover's normalized zone
 * is "<region>-<n>" (e.g. "eastus-2") so that a zone string alone says where it is, like
 * GKE's "us-central1-a" and EKS's "us-east-1a". The adapter converts both ways.
 */
import type { MachineType } from '../ports.ts';

export interface AksRegion {
  name: string;
  /** Azure's zone numbers; empty where the region has no availability zones. */
  zones: string[];
}

const zonal = (name: string): AksRegion => ({ name, zones: ['1', '2', '3'] });

export const AKS_REGIONS: readonly AksRegion[] = [
  zonal('eastus'),
  zonal('eastus2'),
  zonal('centralus'),
  zonal('westus2'),
  zonal('westus3'),
  // West US and North Central US have no availability zones.
  { name: 'westus', zones: [] },
  { name: 'northcentralus', zones: [] },
  zonal('northeurope'),
  zonal('westeurope'),
  zonal('uksouth'),
  zonal('germanywestcentral'),
  zonal('southeastasia'),
  zonal('japaneast'),
  zonal('australiaeast'),
];

/** The normalized zone name drover uses: "<region>-<n>". */
export const normalizedZone = (region: string, zone: string): string => `${region}-${zone}`;

const GiB = 1024;

interface AksMachineType extends MachineType {
  /** Regions that offer it; absent = every region above. */
  regions?: readonly string[];
}

/** GPU sizes are offered in a subset of regions only. */
const GPU_REGIONS = ['eastus', 'eastus2', 'westus2', 'westus3', 'northeurope', 'westeurope', 'southeastasia'];
const A100_REGIONS = ['eastus', 'eastus2', 'westus2', 'westeurope', 'southeastasia'];

export const AKS_MACHINE_TYPES: readonly AksMachineType[] = [
  // General purpose (Dsv5 on Intel, Dpsv5 on Ampere Altra; DSv2 and Dsv3 are previous generations).
  {
    name: 'Standard_D2s_v5',
    vcpu: 2,
    memoryMiB: 8 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'general',
    current: true,
  },
  {
    name: 'Standard_D4s_v5',
    vcpu: 4,
    memoryMiB: 16 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'general',
    current: true,
  },
  {
    name: 'Standard_D8s_v5',
    vcpu: 8,
    memoryMiB: 32 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'general',
    current: true,
  },
  {
    name: 'Standard_D16s_v5',
    vcpu: 16,
    memoryMiB: 64 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'general',
    current: true,
  },
  {
    name: 'Standard_D4ps_v5',
    vcpu: 4,
    memoryMiB: 16 * GiB,
    arch: 'arm64',
    gpus: 0,
    family: 'general',
    current: true,
  },
  {
    name: 'Standard_D8ps_v5',
    vcpu: 8,
    memoryMiB: 32 * GiB,
    arch: 'arm64',
    gpus: 0,
    family: 'general',
    current: true,
  },
  {
    name: 'Standard_DS2_v2',
    vcpu: 2,
    memoryMiB: 7 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'general',
    current: false,
  },
  {
    name: 'Standard_D4s_v3',
    vcpu: 4,
    memoryMiB: 16 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'general',
    current: false,
  },
  // Compute optimized.
  {
    name: 'Standard_F4s_v2',
    vcpu: 4,
    memoryMiB: 8 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'compute',
    current: true,
  },
  {
    name: 'Standard_F8s_v2',
    vcpu: 8,
    memoryMiB: 16 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'compute',
    current: true,
  },
  // Memory optimized.
  {
    name: 'Standard_E4s_v5',
    vcpu: 4,
    memoryMiB: 32 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'memory',
    current: true,
  },
  {
    name: 'Standard_E8s_v5',
    vcpu: 8,
    memoryMiB: 64 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'memory',
    current: true,
  },
  {
    name: 'Standard_E4ps_v5',
    vcpu: 4,
    memoryMiB: 32 * GiB,
    arch: 'arm64',
    gpus: 0,
    family: 'memory',
    current: true,
  },
  // Burstable.
  {
    name: 'Standard_B2s',
    vcpu: 2,
    memoryMiB: 4 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'burstable',
    current: true,
  },
  {
    name: 'Standard_B4ms',
    vcpu: 4,
    memoryMiB: 16 * GiB,
    arch: 'amd64',
    gpus: 0,
    family: 'burstable',
    current: true,
  },
  // GPU: T4, V100 (NCv3, being retired), A100.
  {
    name: 'Standard_NC4as_T4_v3',
    vcpu: 4,
    memoryMiB: 28 * GiB,
    arch: 'amd64',
    gpus: 1,
    family: 'gpu',
    current: true,
    regions: GPU_REGIONS,
  },
  {
    name: 'Standard_NC6s_v3',
    vcpu: 6,
    memoryMiB: 112 * GiB,
    arch: 'amd64',
    gpus: 1,
    family: 'gpu',
    current: false,
    regions: GPU_REGIONS,
  },
  {
    name: 'Standard_NC24ads_A100_v4',
    vcpu: 24,
    memoryMiB: 220 * GiB,
    arch: 'amd64',
    gpus: 1,
    family: 'gpu',
    current: true,
    regions: A100_REGIONS,
  },
  {
    name: 'Standard_ND96asr_v4',
    vcpu: 96,
    memoryMiB: 900 * GiB,
    arch: 'amd64',
    gpus: 8,
    family: 'gpu',
    current: true,
    regions: A100_REGIONS,
  },
];

/** Machine types offered in `location`, or all of them when no location is given. */
export const machineTypesIn = (location?: string): MachineType[] =>
  AKS_MACHINE_TYPES.filter((m) => !location || !m.regions || m.regions.includes(location)).map(
    ({ regions: _regions, ...m }) => m,
  );
