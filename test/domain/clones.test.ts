import { describe, expect, it } from '@jest/globals';
import { BulkCloneRequest, CloneRequest, requestFieldOf, type PlanProblem } from '../../domain/clones.ts';

const id = '8d3c1c2e-6a57-4a5e-9a1e-3f0b1d2c4e5f';
const target = { site: 'eu-dc1', account: 'gke-prod' };

const issues = (r: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }) =>
  (r.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);

describe('clone requests', () => {
  it('take a source and a target, or a plan, never both', () => {
    expect(CloneRequest.safeParse({ source: { clusterId: id }, target }).success).toBe(true);
    expect(issues(CloneRequest.safeParse({ source: { clusterId: id } }))).toEqual([
      'target: required (or submit plan)',
    ]);
    const plan = {
      source: {
        clusterId: id,
        name: 'a',
        site: 's',
        account: 'x',
        cloud: 'eks',
        location: 'us-east-1',
        version: '1.33',
      },
      target: { ...target, cloud: 'gke' },
      spec: {
        name: 'a',
        location: 'us-east4',
        nodePools: [{ name: 'p', machineType: 'e2-standard-2', count: 1 }],
      },
    };
    expect(CloneRequest.safeParse({ plan }).success).toBe(true);
    expect(issues(CloneRequest.safeParse({ plan, target }))).toEqual([
      'target: give either plan or target, not both',
    ]);
  });

  it('name the field that is wrong', () => {
    expect(issues(CloneRequest.safeParse({ source: { clusterId: 'nope' }, target }))[0]).toMatch(
      /^source\.clusterId/,
    );
    expect(
      issues(
        CloneRequest.safeParse({ source: { clusterId: id }, target, workloads: { includeSecrets: true } }),
      ),
    ).toEqual(['workloads.namespaces: name namespaces, a selector or both']);
    expect(issues(BulkCloneRequest.safeParse({ source: { selector: 'env in (prod' }, target }))[0]).toMatch(
      /^source\.selector: at position 12/,
    );
    expect(issues(BulkCloneRequest.safeParse({ source: {}, target }))).toEqual([
      'source: name clusterIds, a selector or sites',
    ]);
    expect(
      issues(BulkCloneRequest.safeParse({ source: { sites: ['a'] }, target: { ...target, name: 'x' } }))[0],
    ).toMatch(/^target: Unrecognized key/);
  });
});

describe('planning problems as request fields', () => {
  const p = (field: string, message = 'm'): PlanProblem => ({ field, message, type: 'BadInput' });

  it('names a submitted plan’s own field', () => {
    expect(requestFieldOf(p('items.0.spec.version'), { bulk: false, submittedPlans: true }).field).toBe(
      'body.plan.spec.version',
    );
    expect(
      requestFieldOf(p('items.12.spec.nodePools.0.machineType'), { bulk: true, submittedPlans: true }).field,
    ).toBe('body.plans.12.spec.nodePools.0.machineType');
  });

  it('names the request field that decides a plan drover made', () => {
    const single = { bulk: false, submittedPlans: false };
    const bulk = { bulk: true, submittedPlans: false };
    expect(requestFieldOf(p('items.0.spec.extras.eks.roleArn'), single).field).toBe(
      'body.target.extras.eks.roleArn',
    );
    expect(requestFieldOf(p('items.0.spec.name'), single).field).toBe('body.target.name');
    expect(requestFieldOf(p('items.3.spec.name', 'taken'), bulk)).toEqual({
      field: 'body.target.nameSuffix',
      message: 'taken (clone 3)',
    });
    expect(requestFieldOf(p('items.0.source'), single).field).toBe('body.source.clusterId');
    expect(requestFieldOf(p('items.0.target.account'), bulk).field).toBe('body.target.account');
    expect(requestFieldOf(p('items.0.spec.nodePools.0.machineType', 'pick one'), single)).toEqual({
      field: 'body.target',
      message: 'spec.nodePools.0.machineType: pick one — run with dryRun, edit the plan and submit it',
    });
  });
});
