import { describe, expect, it } from '@jest/globals';
import type { Catalog } from '../../clouds/ports.ts';
import {
  checkClusterSpec,
  ClusterSpecRequest,
  cloudContext,
  parseCloudContext,
  resolveVersion,
} from '../../domain/cluster-specs.ts';
import { eksTokenUser } from '../../sandbox/clouds/token-webhook.ts';

const catalog = (cloud: Catalog['cloud'], versions: string[]): Catalog => ({
  cloud,
  versions,
  defaultVersion: versions[1] ?? versions[0] ?? '',
  regions: [
    { name: 'europe-west1', zones: ['europe-west1-b', 'europe-west1-c'] },
    { name: 'us-east1', zones: ['us-east1-b'] },
  ],
  machineTypes: [
    {
      name: 'e2-standard-4',
      vcpu: 4,
      memoryMiB: 16384,
      arch: 'amd64',
      gpus: 0,
      family: 'general',
      current: true,
    },
  ],
});

const request = (over: Record<string, unknown> = {}) =>
  ClusterSpecRequest.parse({
    name: 'demo',
    location: 'europe-west1',
    nodePools: [{ name: 'general', machineType: 'e2-standard-4', count: 3 }],
    ...over,
  });

describe('cluster specs against a catalog', () => {
  const gke = catalog('gke', ['1.34.1-gke.1', '1.33.5-gke.2', '1.33.4-gke.1']);

  it('fills in what the user left out and resolves a minor to its newest patch', () => {
    expect(checkClusterSpec(request(), gke)).toMatchObject({
      problems: [],
      spec: {
        version: '1.33.5-gke.2',
        labels: {},
        extras: {},
        nodePools: [
          { name: 'general', count: 3, autoscaling: null, spot: false, diskGb: 100, zones: [], taints: [] },
        ],
      },
    });
    expect(resolveVersion(gke, '1.33')).toBe('1.33.5-gke.2');
    expect(resolveVersion(gke, '1.33.4-gke.1')).toBe('1.33.4-gke.1');
    expect(resolveVersion(gke, '1.3')).toBeUndefined();
  });

  it('names every field the cloud cannot satisfy', () => {
    const { problems } = checkClusterSpec(
      request({
        version: '1.20',
        labels: { 'team.io/owner': 'x' },
        nodePools: [
          { name: 'general', machineType: 'n9-huge', count: 1, zones: ['europe-west1-b', 'us-east1-b'] },
        ],
      }),
      gke,
    );
    expect(problems.map((p) => p.field)).toEqual([
      'spec.version',
      'spec.labels.team.io/owner',
      'spec.nodePools.0.machineType',
      'spec.nodePools.0.zones.1',
    ]);
    expect(checkClusterSpec(request({ location: 'mars-1' }), gke).problems.map((p) => p.field)).toEqual([
      'spec.location',
    ]);
  });

  it('takes a GKE zone as a location, and applies each cloud its own rules', () => {
    expect(checkClusterSpec(request({ location: 'europe-west1-c' }), gke).problems).toEqual([]);
    const aks = { ...catalog('aks', ['1.33']), regions: [{ name: 'europe-west1', zones: [] }] };
    expect(checkClusterSpec(request({ location: 'europe-west1-c' }), aks).problems[0]?.field).toBe(
      'spec.location',
    );
    expect(checkClusterSpec(request(), aks).problems.map((p) => p.field)).toEqual([]);
    expect(
      checkClusterSpec(
        request({ nodePools: [{ name: 'general-purpose', machineType: 'e2-standard-4', count: 1 }] }),
        aks,
      ).problems[0]?.field,
    ).toBe('spec.nodePools.0.name');
    const eks = catalog('eks', ['1.33']);
    expect(checkClusterSpec(request(), eks).problems.map((p) => p.field)).toEqual(['spec.extras.eks']);
  });

  it('refuses at the schema what no cloud accepts', () => {
    expect(ClusterSpecRequest.safeParse({ ...request(), name: 'Demo_1' }).success).toBe(false);
    expect(
      ClusterSpecRequest.safeParse({
        ...request(),
        nodePools: [{ name: 'a', machineType: 'x', count: 5, autoscaling: { min: 1, max: 3 } }],
      }).success,
    ).toBe(false);
  });

  it('round-trips cloud contexts', () => {
    const context = cloudContext('prod-aws', 'eu-west-1', 'shop');
    expect(context).toBe('prod-aws/eu-west-1/shop');
    expect(parseCloudContext(context)).toEqual({ account: 'prod-aws', location: 'eu-west-1', name: 'shop' });
    expect(parseCloudContext('kind-dev')).toBeUndefined();
    expect(parseCloudContext('arn:aws:eks:eu-west-1:1:cluster/x')).toBeUndefined();
  });
});

describe('sandbox token webhook: EKS tokens', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');
  const token = (query: Record<string, string>, host = 'sts.us-east-1.amazonaws.com') =>
    `k8s-aws-v1.${Buffer.from(`https://${host}/?${new URLSearchParams(query).toString()}`).toString('base64url')}`;
  const good = {
    Action: 'GetCallerIdentity',
    Version: '2011-06-15',
    'X-Amz-Credential': 'AKIDEXAMPLE/20260301/us-east-1/sts/aws4_request',
    'X-Amz-Date': '20260301T115500Z',
    'X-Amz-Expires': '60',
    'X-Amz-SignedHeaders': 'host;x-k8s-aws-id',
    'X-Amz-Signature': 'abc123',
  };

  it('accepts a presigned GetCallerIdentity bound to a cluster, within 15 minutes', () => {
    expect(eksTokenUser(token(good), now)).toMatchObject({
      username: 'eks:AKIDEXAMPLE',
      groups: ['system:masters'],
    });
  });

  it('refuses what is not one', () => {
    expect(eksTokenUser(token({ ...good, 'X-Amz-Date': '20260301T113000Z' }), now)).toBe('expired');
    expect(eksTokenUser(token({ ...good, 'X-Amz-SignedHeaders': 'host' }), now)).toMatch(/x-k8s-aws-id/);
    expect(eksTokenUser(token({ ...good, Action: 'AssumeRole' }), now)).toMatch(/GetCallerIdentity/);
    expect(eksTokenUser(token(good, 'evil.example.com'), now)).toMatch(/not an STS host/);
    expect(eksTokenUser('k8s-aws-v1.!!!', now)).toBe('not a presigned URL');
  });
});
