import { describe, expect, it } from '@jest/globals';
import {
  JsonPatchOperation,
  Override,
  OverrideError,
  PatchError,
  ReleaseContent,
  applyJsonPatch,
  applyMergePatch,
  checkOverrides,
  renderForCluster,
  type ObjectIdentity,
} from '../../domain/releases.ts';

const deepFreeze = <T>(value: T): T => {
  if (typeof value === 'object' && value !== null) {
    for (const member of Object.values(value)) deepFreeze(member);
    Object.freeze(value);
  }
  return value;
};

const catchError = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
};

describe('applyMergePatch (RFC 7386)', () => {
  // RFC 7386 Appendix A, every row.
  const appendixA: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  it.each(appendixA)('%j patched with %j is %j', (target, patch, result) => {
    expect(applyMergePatch(deepFreeze(target), deepFreeze(patch))).toEqual(result);
  });

  it('works the example of section 3: null deletes, arrays are replaced whole', () => {
    const target = {
      title: 'Goodbye!',
      author: { givenName: 'John', familyName: 'Doe' },
      tags: ['example', 'sample'],
      content: 'This will be unchanged',
    };
    const patch = {
      title: 'Hello!',
      phoneNumber: '+01-123-456-7890',
      author: { familyName: null },
      tags: ['example'],
    };
    expect(applyMergePatch(deepFreeze(target), deepFreeze(patch))).toEqual({
      title: 'Hello!',
      author: { givenName: 'John' },
      tags: ['example'],
      content: 'This will be unchanged',
      phoneNumber: '+01-123-456-7890',
    });
  });

  it('copies what it takes from the patch, so later changes to the result leave the patch alone', () => {
    const patch = { spec: { list: [{ a: 1 }] } };
    const result = applyMergePatch({}, patch) as { spec: { list: { a: number }[] } };
    result.spec.list[0]!.a = 2;
    expect(patch.spec.list[0]!.a).toBe(1);
  });

  it('treats __proto__ as an ordinary member', () => {
    const patch = JSON.parse('{"__proto__": {"polluted": true}}') as unknown;
    const result = applyMergePatch({}, patch) as Record<string, unknown>;
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(Object.hasOwn(result, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('applyJsonPatch (RFC 6902)', () => {
  const ops = (list: unknown[]) => list.map((op) => JsonPatchOperation.parse(op));
  const apply = (doc: unknown, list: unknown[]) => applyJsonPatch(deepFreeze(doc), ops(list));

  // RFC 6902 Appendix A, the examples that succeed.
  it.each<[string, unknown, unknown[], unknown]>([
    [
      'A.1 add an object member',
      { foo: 'bar' },
      [{ op: 'add', path: '/baz', value: 'qux' }],
      { baz: 'qux', foo: 'bar' },
    ],
    [
      'A.2 add an array element',
      { foo: ['bar', 'baz'] },
      [{ op: 'add', path: '/foo/1', value: 'qux' }],
      { foo: ['bar', 'qux', 'baz'] },
    ],
    [
      'A.3 remove an object member',
      { baz: 'qux', foo: 'bar' },
      [{ op: 'remove', path: '/baz' }],
      { foo: 'bar' },
    ],
    [
      'A.4 remove an array element',
      { foo: ['bar', 'qux', 'baz'] },
      [{ op: 'remove', path: '/foo/1' }],
      { foo: ['bar', 'baz'] },
    ],
    [
      'A.5 replace a value',
      { baz: 'qux', foo: 'bar' },
      [{ op: 'replace', path: '/baz', value: 'boo' }],
      { baz: 'boo', foo: 'bar' },
    ],
    [
      'A.6 move a value',
      { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } },
      [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }],
      { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } },
    ],
    [
      'A.7 move an array element',
      { foo: ['all', 'grass', 'cows', 'eat'] },
      [{ op: 'move', from: '/foo/1', path: '/foo/3' }],
      { foo: ['all', 'cows', 'eat', 'grass'] },
    ],
    [
      'A.8 test, succeeding',
      { baz: 'qux', foo: ['a', 2, 'c'] },
      [
        { op: 'test', path: '/baz', value: 'qux' },
        { op: 'test', path: '/foo/1', value: 2 },
      ],
      { baz: 'qux', foo: ['a', 2, 'c'] },
    ],
    [
      'A.10 add a nested member object',
      { foo: 'bar' },
      [{ op: 'add', path: '/child', value: { grandchild: {} } }],
      { foo: 'bar', child: { grandchild: {} } },
    ],
    [
      'A.11 ignore unrecognized members of an operation',
      { foo: 'bar' },
      [{ op: 'add', path: '/baz', value: 'qux', xyz: 123 }],
      { foo: 'bar', baz: 'qux' },
    ],
    [
      'A.14 ~ escapes, ~01 being ~1',
      { '/': 9, '~1': 10 },
      [{ op: 'test', path: '/~01', value: 10 }],
      { '/': 9, '~1': 10 },
    ],
    [
      'A.16 add an array value at the end',
      { foo: ['bar'] },
      [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }],
      { foo: ['bar', ['abc', 'def']] },
    ],
    ['~1 is a slash in a key', { 'a/b': 1 }, [{ op: 'replace', path: '/a~1b', value: 2 }], { 'a/b': 2 }],
    ['~0 is a tilde in a key', {}, [{ op: 'add', path: '/m~0n', value: 1 }], { 'm~n': 1 }],
    [
      'copy copies deeply',
      { a: { b: [1] } },
      [
        { op: 'copy', from: '/a', path: '/c' },
        { op: 'add', path: '/c/b/-', value: 2 },
      ],
      { a: { b: [1] }, c: { b: [1, 2] } },
    ],
    ['add at the root replaces the document', { a: 1 }, [{ op: 'add', path: '', value: { b: 2 } }], { b: 2 }],
    [
      'test compares objects whatever the key order',
      { o: { x: 1, y: [1, { z: null }] } },
      [{ op: 'test', path: '/o', value: { y: [1, { z: null }], x: 1 } }],
      { o: { x: 1, y: [1, { z: null }] } },
    ],
  ])('%s', (_name, doc, list, result) => {
    const patched = apply(doc, list);
    expect(patched).toEqual(result);
  });

  it.each<[string, unknown, unknown[], number, string, RegExp]>([
    [
      'A.9 a failing test',
      { baz: 'qux' },
      [{ op: 'test', path: '/baz', value: 'bar' }],
      0,
      '/baz',
      /test failed: the value is "qux", not "bar"/,
    ],
    [
      'A.12 adding to a member that does not exist',
      { foo: 'bar' },
      [{ op: 'add', path: '/baz/bat', value: 'qux' }],
      0,
      '/baz/bat',
      /\/baz does not exist/,
    ],
    [
      'A.15 a string is not a number',
      { '/': 9, '~1': 10 },
      [{ op: 'test', path: '/~01', value: '10' }],
      0,
      '/~01',
      /test failed/,
    ],
    [
      'the failing operation is named by its index',
      { a: 1 },
      [
        { op: 'test', path: '/a', value: 1 },
        { op: 'remove', path: '/missing' },
      ],
      1,
      '/missing',
      /^jsonPatch\[1\] \(remove "\/missing"\): the path does not exist$/,
    ],
    [
      'replace of a missing member',
      { a: 1 },
      [{ op: 'replace', path: '/b', value: 2 }],
      0,
      '/b',
      /does not exist/,
    ],
    [
      'an index past the end',
      { a: [1] },
      [{ op: 'add', path: '/a/2', value: 2 }],
      0,
      '/a/2',
      /not an index of the array \(it has 1 items/,
    ],
    [
      'an index with a leading zero',
      { a: [1, 2] },
      [{ op: 'remove', path: '/a/01' }],
      0,
      '/a/01',
      /'01' is not an index/,
    ],
    ["'-' outside add", { a: [1] }, [{ op: 'remove', path: '/a/-' }], 0, '/a/-', /'-' is not an index/],
    [
      'a move into its own child',
      { a: { b: 1 } },
      [{ op: 'move', from: '/a', path: '/a/b/c' }],
      0,
      '/a/b/c',
      /into one of its own children/,
    ],
    [
      'copy from a missing member',
      { a: 1 },
      [{ op: 'copy', from: '/x', path: '/y' }],
      0,
      '/x',
      /\/x does not exist/,
    ],
    [
      'removing the whole document',
      { a: 1 },
      [{ op: 'remove', path: '' }],
      0,
      '',
      /cannot remove the whole document/,
    ],
    [
      'walking through a scalar',
      { a: 'text' },
      [{ op: 'add', path: '/a/b', value: 1 }],
      0,
      '/a/b',
      /not an object or array/,
    ],
  ])('%s throws a PatchError naming the operation and path', (_name, doc, list, op, path, message) => {
    const err = catchError(() => apply(doc, list));
    expect(err).toBeInstanceOf(PatchError);
    expect(err).toMatchObject({ op, path, type: 'BadInput' });
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(`jsonPatch[${op}]`);
  });

  it('keeps the key order on replace, so rendered objects read like their manifests', () => {
    const patched = apply({ a: 1, b: 2, c: 3 }, [{ op: 'replace', path: '/b', value: 9 }]);
    expect(Object.entries(patched as object)).toEqual([
      ['a', 1],
      ['b', 9],
      ['c', 3],
    ]);
  });

  it('leaves the input alone when a later operation fails (all or nothing)', () => {
    const doc = { a: 1 };
    expect(() =>
      applyJsonPatch(
        doc,
        ops([
          { op: 'add', path: '/b', value: 2 },
          { op: 'test', path: '/a', value: 2 },
        ]),
      ),
    ).toThrow(PatchError);
    expect(doc).toEqual({ a: 1 });
  });

  it('refuses malformed operations at the schema', () => {
    const issue = (op: unknown) => {
      const result = JsonPatchOperation.safeParse(op);
      expect(result.success).toBe(false);
      return result.error?.issues[0];
    };
    expect(issue({ op: 'add', path: '/a' })).toMatchObject({
      path: ['value'],
      message: 'this operation needs a value',
    });
    expect(issue({ op: 'frobnicate', path: '/a' })?.path).toEqual(['op']);
    expect(issue({ op: 'remove', path: 'a' })?.message).toMatch(/JSON pointer/);
    expect(issue({ op: 'remove', path: '/a~2' })?.message).toMatch(/JSON pointer/);
    expect(issue({ op: 'move', path: '/a' })?.path).toEqual(['from']);
    expect(JsonPatchOperation.safeParse({ op: 'add', path: '/a', value: null }).success).toBe(true);
  });
});

describe('Override schema', () => {
  it('needs exactly one of mergePatch and jsonPatch, and says which', () => {
    const neither = Override.safeParse({ selector: 'env=prod' });
    expect(neither.error?.issues[0]?.message).toMatch(/needs a mergePatch or a jsonPatch/);
    const both = Override.safeParse({ mergePatch: {}, jsonPatch: [{ op: 'remove', path: '/a' }] });
    expect(both.error?.issues[0]).toMatchObject({
      path: ['jsonPatch'],
      message: expect.stringMatching(/either mergePatch or jsonPatch, not both/),
    });
  });

  it('defaults the selector to everything and the overrides to none', () => {
    expect(Override.parse({ mergePatch: { a: 1 } }).selector).toBe('');
    expect(ReleaseContent.parse({ name: 'web', manifests: 'x' }).overrides).toEqual([]);
  });

  it('refuses unknown members, so a misspelt field is not silently ignored', () => {
    expect(Override.safeParse({ mergepatch: { a: 1 }, mergePatch: {} }).success).toBe(false);
    expect(Override.safeParse({ mergePatch: {}, target: { knd: 'ConfigMap' } }).success).toBe(false);
  });
});

type Obj = ObjectIdentity & Record<string, unknown>;
const configMap = (name: string, data: Record<string, string>, namespace = 'demo'): Obj => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data,
});
const deployment = (name: string, replicas: number): Obj => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: 'demo' },
  spec: { replicas, template: { spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } } },
});
const override = (o: unknown) => Override.parse(o);

describe('renderForCluster', () => {
  const objects = deepFreeze([
    configMap('settings', { tier: 'default' }),
    deployment('web', 1),
    configMap('other', {}, 'ops'),
  ]);
  const overrides = deepFreeze([
    override({ selector: 'env=prod', target: { kind: 'Deployment' }, mergePatch: { spec: { replicas: 3 } } }),
    override({
      selector: 'env=prod,region=eu',
      target: { kind: 'Deployment' },
      jsonPatch: [{ op: 'replace', path: '/spec/replicas', value: 5 }],
    }),
    override({
      selector: '',
      target: { kind: 'ConfigMap', namespace: 'demo' },
      mergePatch: { data: { cluster: 'all' } },
    }),
    override({ selector: 'gpu', target: { name: 'settings' }, mergePatch: { data: { tier: 'gpu' } } }),
    override({
      selector: 'env=prod',
      target: { apiVersion: 'v1', kind: 'ConfigMap', name: 'settings' },
      jsonPatch: [
        { op: 'test', path: '/data/cluster', value: 'all' },
        { op: 'add', path: '/data/prod', value: 'yes' },
      ],
    }),
  ]);

  const replicas = (rendered: Obj[]) => (rendered[1]!.spec as { replicas: number }).replicas;

  it('applies every override whose selector matches, in order, to the documents its target selects', () => {
    const rendered = renderForCluster(objects, overrides, {
      name: 'eu-1',
      labels: { env: 'prod', region: 'eu' },
    });
    expect(replicas(rendered)).toBe(5);
    // Override 4's test sees override 2's change: the overrides were applied in order.
    expect(rendered[0]!.data).toEqual({ tier: 'default', cluster: 'all', prod: 'yes' });
    expect(rendered[2]!.data).toEqual({});
  });

  it('skips overrides whose selector does not match', () => {
    const staging = renderForCluster(objects, overrides, {
      name: 'st-1',
      labels: { env: 'staging', gpu: '' },
    });
    expect(replicas(staging)).toBe(1);
    expect(staging[0]!.data).toEqual({ tier: 'gpu', cluster: 'all' });
    const usProd = renderForCluster(objects, overrides, {
      name: 'us-1',
      labels: { env: 'prod', region: 'us' },
    });
    expect(replicas(usProd)).toBe(3);
  });

  it('with no matching override gives the objects unchanged, as copies', () => {
    const rendered = renderForCluster(objects, overrides.slice(0, 2), { name: 'dev', labels: {} });
    expect(rendered).toEqual(objects);
    expect(rendered[0]).not.toBe(objects[0]);
  });

  it('is deterministic and leaves its inputs alone (they are frozen here)', () => {
    const cluster = { name: 'eu-1', labels: { env: 'prod', region: 'eu', gpu: 'a100' } };
    const first = renderForCluster(objects, overrides, cluster);
    const second = renderForCluster(objects, overrides, cluster);
    expect(JSON.stringify(second)).toBe(JSON.stringify(first));
  });

  it('names the override, object and cluster when a patch fails', () => {
    const failing = [
      override({
        selector: 'env=prod',
        target: { kind: 'Deployment' },
        jsonPatch: [{ op: 'remove', path: '/spec/paused' }],
      }),
    ];
    const err = catchError(() =>
      renderForCluster(objects, failing, { name: 'eu-1', labels: { env: 'prod' } }),
    );
    expect(err).toBeInstanceOf(OverrideError);
    expect(err).toMatchObject({
      override: 0,
      objectIndex: 1,
      object: { kind: 'Deployment', name: 'web', namespace: 'demo' },
    });
    expect((err as Error).message).toMatch(
      /^override 0 on Deployment demo\/web for cluster 'eu-1': jsonPatch\[0\] \(remove "\/spec\/paused"\)/,
    );
  });

  it('refuses an override that changes what identifies an object', () => {
    for (const patch of [
      { mergePatch: { metadata: { name: 'renamed' } } },
      { mergePatch: { metadata: { namespace: null } } },
      { jsonPatch: [{ op: 'replace', path: '/kind', value: 'Secret' }] },
      { jsonPatch: [{ op: 'replace', path: '', value: 'not an object' }] },
    ]) {
      const err = catchError(() => renderForCluster(objects, [override(patch)], { name: 'c', labels: {} }));
      expect(err).toBeInstanceOf(OverrideError);
    }
  });
});

describe('checkOverrides', () => {
  const objects = [configMap('settings', { a: '1' }), deployment('web', 1)];

  it('accepts overrides that apply, including one that builds on an earlier one', () => {
    expect(() =>
      checkOverrides(objects, [
        override({
          selector: 'env=prod',
          target: { kind: 'Deployment' },
          jsonPatch: [{ op: 'add', path: '/spec/paused', value: true }],
        }),
        // Fails on the Deployment as written, works after override 0: a cluster with both labels.
        override({
          selector: 'env=prod,canary',
          target: { kind: 'Deployment' },
          jsonPatch: [{ op: 'replace', path: '/spec/paused', value: false }],
        }),
      ]),
    ).not.toThrow();
  });

  it('refuses a patch that fails on an object it targets, naming both', () => {
    const err = catchError(() =>
      checkOverrides(objects, [
        override({ mergePatch: { metadata: { labels: { a: 'b' } } } }),
        override({ target: { kind: 'ConfigMap' }, jsonPatch: [{ op: 'test', path: '/data/a', value: '2' }] }),
      ]),
    );
    expect(err).toMatchObject({ override: 1, objectIndex: 0, details: { op: 0, path: '/data/a' } });
  });

  it('refuses a target that selects nothing', () => {
    const err = catchError(() =>
      checkOverrides(objects, [override({ target: { kind: 'Secret' }, mergePatch: {} })]),
    );
    expect(err).toBeInstanceOf(OverrideError);
    expect(err).toMatchObject({ override: 0, objectIndex: undefined });
    expect((err as Error).message).toMatch(/selects no object/);
  });
});
