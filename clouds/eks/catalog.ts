/**
 * Curated EKS/EC2 data that the EKS API does not serve: regions with their availability
 * zones, and a handful of EC2 instance types with their sizes (from the EC2 instance-type
 * documentation). Kubernetes versions come from DescribeClusterVersions, not from here; the
 * short list below is used only against endpoints that do not serve that operation.
 */
import type { MachineType } from '../ports.ts';

export const EKS_REGIONS: { name: string; zones: string[] }[] = [
  {
    name: 'us-east-1',
    zones: ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d', 'us-east-1e', 'us-east-1f'],
  },
  { name: 'us-east-2', zones: ['us-east-2a', 'us-east-2b', 'us-east-2c'] },
  { name: 'us-west-2', zones: ['us-west-2a', 'us-west-2b', 'us-west-2c', 'us-west-2d'] },
  { name: 'ca-central-1', zones: ['ca-central-1a', 'ca-central-1b', 'ca-central-1d'] },
  { name: 'eu-west-1', zones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'] },
  { name: 'eu-west-2', zones: ['eu-west-2a', 'eu-west-2b', 'eu-west-2c'] },
  { name: 'eu-central-1', zones: ['eu-central-1a', 'eu-central-1b', 'eu-central-1c'] },
  { name: 'ap-northeast-1', zones: ['ap-northeast-1a', 'ap-northeast-1c', 'ap-northeast-1d'] },
  { name: 'ap-southeast-1', zones: ['ap-southeast-1a', 'ap-southeast-1b', 'ap-southeast-1c'] },
  { name: 'ap-south-1', zones: ['ap-south-1a', 'ap-south-1b', 'ap-south-1c'] },
  { name: 'sa-east-1', zones: ['sa-east-1a', 'sa-east-1b', 'sa-east-1c'] },
];

const GiB = 1024;

const m = (
  name: string,
  vcpu: number,
  memoryGiB: number,
  family: MachineType['family'],
  arch: MachineType['arch'] = 'amd64',
  gpus = 0,
  current = true,
): MachineType => ({ name, vcpu, memoryMiB: Math.round(memoryGiB * GiB), arch, gpus, family, current });

export const EKS_MACHINE_TYPES: MachineType[] = [
  // General purpose
  m('m7i.large', 2, 8, 'general'),
  m('m7i.xlarge', 4, 16, 'general'),
  m('m7i.2xlarge', 8, 32, 'general'),
  m('m7g.large', 2, 8, 'general', 'arm64'),
  m('m7g.xlarge', 4, 16, 'general', 'arm64'),
  m('m6i.xlarge', 4, 16, 'general'),
  m('m5.large', 2, 8, 'general'),
  m('m3.large', 2, 7.5, 'general', 'amd64', 0, false),
  // Burstable
  m('t3.medium', 2, 4, 'burstable'),
  m('t3.large', 2, 8, 'burstable'),
  m('t4g.medium', 2, 4, 'burstable', 'arm64'),
  // Compute optimized
  m('c7i.large', 2, 4, 'compute'),
  m('c7i.xlarge', 4, 8, 'compute'),
  m('c7g.xlarge', 4, 8, 'compute', 'arm64'),
  m('c6i.2xlarge', 8, 16, 'compute'),
  // Memory optimized
  m('r7i.large', 2, 16, 'memory'),
  m('r7i.xlarge', 4, 32, 'memory'),
  m('r7g.xlarge', 4, 32, 'memory', 'arm64'),
  // Accelerated (NVIDIA)
  m('g5.xlarge', 4, 16, 'gpu', 'amd64', 1),
  m('g5.12xlarge', 48, 192, 'gpu', 'amd64', 4),
  m('g6.xlarge', 4, 16, 'gpu', 'amd64', 1),
  m('g5g.xlarge', 4, 8, 'gpu', 'arm64', 1),
  m('p4d.24xlarge', 96, 1152, 'gpu', 'amd64', 8),
];

export const machineType = (name: string): MachineType | undefined =>
  EKS_MACHINE_TYPES.find((t) => t.name === name);

/**
 * Minors EKS supported when this table was written, newest first, the default second: only
 * for EKS-compatible endpoints that lack DescribeClusterVersions (moto, older emulators).
 */
export const FALLBACK_VERSIONS = {
  versions: ['1.34', '1.33', '1.32', '1.31', '1.30', '1.29'],
  defaultVersion: '1.33',
};
