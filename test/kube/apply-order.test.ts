import { describe, expect, it } from '@jest/globals';
import {
  applyRank,
  orderForApply,
  orderForDelete,
  parseManifests,
  type Manifest,
  type Scope,
} from '../../kube/apply.ts';
import { KubeError } from '../../kube/errors.ts';

const doc = (apiVersion: string, kind: string, name: string, namespace?: string) =>
  `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: ${name}\n${namespace ? `  namespace: ${namespace}\n` : ''}`;

// What discovery would say; kinds it does not know count as namespaced.
const scopes: Record<string, Scope> = {
  ClusterRole: 'Cluster',
  Widget: 'Namespaced',
  ConfigMap: 'Namespaced',
  Deployment: 'Namespaced',
};
const scopeOf = (m: Manifest) => scopes[m.object.kind];
const names = (ms: readonly Manifest[]) => ms.map((m) => `${m.object.kind}/${m.object.metadata.name}`);

describe('parseManifests', () => {
  it('keeps every document with its position in the stream, empty documents counted', () => {
    const manifests = parseManifests(
      [
        '---',
        doc('v1', 'ConfigMap', 'a', 'ns'),
        '---',
        '# only a comment',
        '---',
        doc('v1', 'Namespace', 'ns'),
      ].join('\n'),
    );
    expect(manifests.map((m) => [m.index, m.object.kind])).toEqual([
      [0, 'ConfigMap'],
      [2, 'Namespace'],
    ]);
  });

  it('names the document and line of a YAML syntax error', () => {
    const text = [
      doc('v1', 'Namespace', 'ns'),
      '---',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x\ndata: {}\n',
    ].join('\n');
    const err = catchError(() => parseManifests(text));
    expect(err).toMatchObject({ type: 'BadInput', retryable: false, documentIndex: 1 });
    expect(err.message).toMatch(/^document 2: invalid YAML at line \d+, column \d+: /);
    // The unclosed `{` on line 9 is detected where the next key starts: line 10 of the stream.
    expect(err.field).toBe('line 10, column 1');
  });

  it.each([
    ['kind: ConfigMap\nmetadata: { name: x }', 'apiVersion'],
    ['apiVersion: v1\nmetadata: { name: x }', 'kind'],
    ['apiVersion: v1\nkind: ConfigMap', 'metadata'],
    ['apiVersion: v1\nkind: ConfigMap\nmetadata: { generateName: x- }', 'metadata.name'],
    ['apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x, namespace: "" }', 'metadata.namespace'],
    ['- just\n- a list', '(document)'],
  ])('rejects a document that is not an object to apply: %j → %s', (bad, field) => {
    const err = catchError(() => parseManifests(`${doc('v1', 'Namespace', 'ok')}---\n${bad}\n`));
    expect(err).toMatchObject({ type: 'BadInput', retryable: false, documentIndex: 1, field });
    expect(err.message).toContain(field);
  });

  it('rejects the same object twice, whatever its API version', () => {
    const err = catchError(() =>
      parseManifests(
        [doc('apps/v1', 'Deployment', 'web', 'a'), doc('apps/v1beta2', 'Deployment', 'web', 'a')].join(
          '---\n',
        ),
      ),
    );
    expect(err).toMatchObject({ type: 'BadInput', documentIndex: 1 });
    expect(err.message).toContain('already document 1');
  });

  it('accepts equal names in different namespaces or kinds', () => {
    expect(
      parseManifests(
        [
          doc('v1', 'ConfigMap', 'x', 'a'),
          doc('v1', 'ConfigMap', 'x', 'b'),
          doc('v1', 'Secret', 'x', 'a'),
        ].join('---\n'),
      ),
    ).toHaveLength(3);
  });
});

describe('ordering', () => {
  const release = parseManifests(
    [
      doc('apps/v1', 'Deployment', 'web', 'shop'),
      doc('example.com/v1', 'Widget', 'w', 'shop'),
      doc('rbac.authorization.k8s.io/v1', 'ClusterRole', 'reader'),
      doc('v1', 'ConfigMap', 'settings', 'shop'),
      doc('v1', 'Namespace', 'shop'),
      doc('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'widgets.example.com'),
      doc('v1', 'Namespace', 'other'),
      doc('unknown.io/v1', 'Gadget', 'g'),
    ].join('---\n'),
  );

  it('applies CRDs, then Namespaces, then cluster-scoped, then namespaced, keeping release order within each', () => {
    expect(names(orderForApply(release, scopeOf))).toEqual([
      'CustomResourceDefinition/widgets.example.com',
      'Namespace/shop',
      'Namespace/other',
      'ClusterRole/reader',
      'Deployment/web',
      'Widget/w',
      'ConfigMap/settings',
      'Gadget/g',
    ]);
  });

  it('deletes in exactly the reverse order', () => {
    expect(names(orderForDelete(release, scopeOf))).toEqual(names(orderForApply(release, scopeOf)).reverse());
  });

  it('ranks only the real CRD and Namespace kinds first, not look-alikes from other groups', () => {
    expect(
      applyRank({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition' }, 'Cluster'),
    ).toBe(0);
    expect(applyRank({ apiVersion: 'v1', kind: 'Namespace' }, 'Cluster')).toBe(1);
    expect(applyRank({ apiVersion: 'example.com/v1', kind: 'Namespace' }, 'Namespaced')).toBe(3);
    expect(applyRank({ apiVersion: 'example.com/v1', kind: 'CustomResourceDefinition' }, 'Cluster')).toBe(2);
  });

  it('does not reorder the input array', () => {
    const before = names(release);
    orderForApply(release, scopeOf);
    expect(names(release)).toEqual(before);
  });
});

function catchError(fn: () => unknown): KubeError {
  try {
    fn();
  } catch (err) {
    if (err instanceof KubeError) return err;
    throw err;
  }
  throw new Error('expected a KubeError, nothing was thrown');
}
