import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from '@temporalio/client';
import { buildApp, type App } from '../../api/app.ts';
import { createTokenStore } from '../../api/auth.ts';
import type { Db } from '../../db/database.ts';
import { contentAddress, createReleaseStore } from '../../db/releases.ts';
import { Override } from '../../domain/releases.ts';
import { freshPglite, freshPostgres, temporalClient, uniq } from '../support/env.ts';

let db: Db;
let temporal: Client;
let app: App;
let admin: string;
let viewer: string;

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  ({ db } = await freshPostgres());
  temporal = await temporalClient();
  app = await buildApp({ db, temporal, siteOfflineAfterMs: 45_000, logger: false });
  const tokens = createTokenStore(db);
  admin = (await tokens.ensureAdmin()) ?? '';
  viewer = (await tokens.create('release-viewer', 'viewer')).token;
});

afterAll(async () => {
  await app.close();
  await temporal.connection.close();
  await db.close();
});

type ErrorReply = {
  error: { code: string; message: string; field?: string; details?: Record<string, unknown> };
};
type ReleaseReply = {
  id: string;
  name: string;
  objects: { apiVersion: string; kind: string; namespace?: string; name: string }[];
  overrides: number;
  createdAt: string;
  created: boolean;
};

// Comments and odd spacing on purpose: the manifests endpoint must give back these exact bytes.
const MANIFESTS = `# the web tier
apiVersion: v1
kind: Namespace
metadata:
  name: web
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: web}
data:
  tier:   default
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: app
          image: nginx:1.27
`;

const OVERRIDES = [
  { selector: 'env=prod', target: { kind: 'Deployment' }, mergePatch: { spec: { replicas: 3 } } },
  {
    selector: 'region in (eu)',
    target: { kind: 'ConfigMap', name: 'settings' },
    jsonPatch: [
      { op: 'add', path: '/data/region', value: 'eu' },
      { op: 'remove', path: '/data/tier' },
    ],
  },
];

const post = (payload: unknown, token = admin) =>
  app.inject({ method: 'POST', url: '/v1/releases', headers: auth(token), payload: payload as object });

const expectBadInput = async (payload: unknown, field: string, message?: RegExp) => {
  const res = await post(payload);
  expect(res.statusCode).toBe(400);
  const body = res.json<ErrorReply>();
  expect(body.error).toMatchObject({ code: 'BadInput', field });
  if (message) expect(body.error.message).toMatch(message);
  return body.error;
};

const doc = (kind: string, name: string, extra = '') =>
  `apiVersion: v1\nkind: ${kind}\nmetadata:\n  name: ${name}\n  namespace: web\n${extra}`;

describe('uploading a release', () => {
  it('stores it under its content address: 201 with the objects, then 200 and the same id', async () => {
    const name = `web-${uniq()}`;
    const first = await post({ name, manifests: MANIFESTS, overrides: OVERRIDES });
    expect(first.statusCode).toBe(201);
    const created = first.json<ReleaseReply>();
    expect(created).toMatchObject({ name, overrides: 2, created: true });
    expect(created.id).toMatch(/^rel-[0-9a-f]{20}$/);
    expect(created.id).toBe(
      contentAddress({ name, manifests: MANIFESTS, overrides: Override.array().parse(OVERRIDES) }),
    );
    expect(created.objects).toEqual([
      { apiVersion: 'v1', kind: 'Namespace', name: 'web' },
      { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'web', name: 'settings' },
      { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'web', name: 'web' },
    ]);

    const again = await post({ name, manifests: MANIFESTS, overrides: OVERRIDES });
    expect(again.statusCode).toBe(200);
    expect(again.json<ReleaseReply>()).toEqual({ ...created, created: false });

    // Key order inside an override does not change the content, so not the id either.
    const reordered = OVERRIDES.map((o) => Object.fromEntries(Object.entries(o).reverse()));
    const same = await post({ overrides: reordered, manifests: MANIFESTS, name });
    expect(same.statusCode).toBe(200);
    expect(same.json<ReleaseReply>().id).toBe(created.id);
  });

  it('gives different content a different id: other overrides, other YAML, other name', async () => {
    const name = `web-${uniq()}`;
    const ids = new Set<string>();
    for (const payload of [
      { name, manifests: MANIFESTS, overrides: OVERRIDES },
      { name, manifests: MANIFESTS, overrides: OVERRIDES.slice(0, 1) },
      { name, manifests: MANIFESTS },
      { name, manifests: `${MANIFESTS}# one more comment\n` },
      { name: `${name}-b`, manifests: MANIFESTS },
    ]) {
      const res = await post(payload);
      expect(res.statusCode).toBe(201);
      ids.add(res.json<ReleaseReply>().id);
    }
    expect(ids.size).toBe(5);
  });

  it('stores concurrent uploads of the same content once', async () => {
    const name = `race-${uniq()}`;
    const replies = await Promise.all(Array.from({ length: 8 }, () => post({ name, manifests: MANIFESTS })));
    expect(replies.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(replies.map((r) => r.json<ReleaseReply>().id)).size).toBe(1);
    const rows = await db.query('SELECT id FROM releases WHERE name = $1', [name]);
    expect(rows).toHaveLength(1);
  });

  it('needs the operator role: a viewer gets 403', async () => {
    const res = await post({ name: 'by-viewer', manifests: MANIFESTS }, viewer);
    expect(res.statusCode).toBe(403);
    expect(res.json<ErrorReply>().error.message).toMatch(/needs 'operator'/);
  });
});

describe('upload validation: 400 naming the field, and nothing stored', () => {
  let before: number;
  beforeAll(async () => {
    before = (await db.query('SELECT id FROM releases')).length;
  });

  it('the body shape', async () => {
    await expectBadInput({ manifests: MANIFESTS }, 'body.name');
    await expectBadInput({ name: 'Not OK!', manifests: MANIFESTS }, 'body.name');
    await expectBadInput({ name: 'x', manifests: '' }, 'body.manifests');
    await expectBadInput({ name: 'x', manifests: MANIFESTS, extra: 1 }, 'body');
  });

  it('YAML that does not parse names the document and the line', async () => {
    const error = await expectBadInput(
      { name: 'x', manifests: `${doc('ConfigMap', 'a')}---\n${doc('ConfigMap', 'b')}data: [unclosed\n` },
      'body.manifests[1]',
      /document 2: invalid YAML at line \d+/,
    );
    expect(error.details).toMatchObject({ document: 1, line: expect.any(Number) });
  });

  it('a document without apiVersion, kind or metadata.name', async () => {
    const three = (bad: string) => [doc('ConfigMap', 'a'), doc('ConfigMap', 'b'), bad].join('---\n');
    await expectBadInput(
      { name: 'x', manifests: three('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: web\n') },
      'body.manifests[2].metadata.name',
      /metadata.name is missing/,
    );
    await expectBadInput(
      { name: 'x', manifests: three('kind: ConfigMap\nmetadata: {name: c}\n') },
      'body.manifests[2].apiVersion',
    );
    await expectBadInput(
      { name: 'x', manifests: three('apiVersion: v1\nmetadata: {name: c}\n') },
      'body.manifests[2].kind',
    );
    await expectBadInput({ name: 'x', manifests: three('- a list\n') }, 'body.manifests[2]', /not a mapping/);
  });

  it('the same object twice (same group, kind, namespace and name)', async () => {
    await expectBadInput(
      {
        name: 'x',
        manifests: [doc('ConfigMap', 'a'), doc('Secret', 'a'), doc('ConfigMap', 'a')].join('---\n'),
      },
      'body.manifests[2]',
      /already document 1/,
    );
  });

  it('no objects at all', async () => {
    await expectBadInput(
      { name: 'x', manifests: '# nothing\n---\n' },
      'body.manifests',
      /no Kubernetes object/,
    );
  });

  it('more than 1,000 documents', async () => {
    const many = Array.from({ length: 1001 }, (_, i) => doc('ConfigMap', `c${i}`)).join('---\n');
    await expectBadInput({ name: 'x', manifests: many }, 'body.manifests', /1001 objects; at most 1000/);
  });

  it('more than 2 MiB of YAML; a body far over that is refused before it is read (413)', async () => {
    const big = `${doc('ConfigMap', 'a')}# ${'x'.repeat(2 * 1024 * 1024)}\n`;
    await expectBadInput({ name: 'x', manifests: big }, 'body.manifests', /at most 2097152/);
    const huge = await post({
      name: 'x',
      manifests: `${doc('ConfigMap', 'a')}# ${'x'.repeat(5 * 1024 * 1024)}\n`,
    });
    expect(huge.statusCode).toBe(413);
  });

  it('a selector that does not parse, with the position', async () => {
    const error = await expectBadInput(
      {
        name: 'x',
        manifests: MANIFESTS,
        overrides: [OVERRIDES[0], { selector: 'env in (prod', mergePatch: {} }],
      },
      'body.overrides[1].selector',
      /at position 12/,
    );
    expect(error.details).toEqual({ position: 12 });
  });

  it('an override with both or neither kind of patch', async () => {
    await expectBadInput(
      { name: 'x', manifests: MANIFESTS, overrides: [{ selector: 'env=prod' }] },
      'body.overrides[0]',
      /needs a mergePatch or a jsonPatch/,
    );
    await expectBadInput(
      {
        name: 'x',
        manifests: MANIFESTS,
        overrides: [OVERRIDES[0], { mergePatch: {}, jsonPatch: [{ op: 'remove', path: '/a' }] }],
      },
      'body.overrides[1].jsonPatch',
      /either mergePatch or jsonPatch, not both/,
    );
  });

  it('malformed JSON patch operations', async () => {
    const withOps = (jsonPatch: unknown[]) => ({
      name: 'x',
      manifests: MANIFESTS,
      overrides: [{ jsonPatch }],
    });
    await expectBadInput(
      withOps([
        { op: 'remove', path: '/a' },
        { op: 'frob', path: '/a' },
      ]),
      'body.overrides[0].jsonPatch[1].op',
    );
    await expectBadInput(
      withOps([{ op: 'add', path: 'spec', value: 1 }]),
      'body.overrides[0].jsonPatch[0].path',
      /JSON pointer/,
    );
    await expectBadInput(
      withOps([{ op: 'replace', path: '/spec' }]),
      'body.overrides[0].jsonPatch[0].value',
      /needs a value/,
    );
    await expectBadInput(withOps([{ op: 'copy', path: '/spec' }]), 'body.overrides[0].jsonPatch[0].from');
    await expectBadInput(withOps([]), 'body.overrides[0].jsonPatch');
  });

  it('an override that cannot apply to a document it targets, naming the document', async () => {
    const error = await expectBadInput(
      {
        name: 'x',
        manifests: MANIFESTS,
        overrides: [
          OVERRIDES[0],
          {
            selector: 'env=prod',
            target: { kind: 'Deployment' },
            jsonPatch: [{ op: 'test', path: '/spec/replicas', value: 2 }],
          },
        ],
      },
      'body.overrides[1]',
      /Deployment web\/web.*jsonPatch\[0\] \(test "\/spec\/replicas"\): test failed/,
    );
    expect(error.details).toEqual({
      override: 1,
      document: 2,
      object: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'web', name: 'web' },
      op: 0,
      path: '/spec/replicas',
    });
    await expectBadInput(
      {
        name: 'x',
        manifests: MANIFESTS,
        overrides: [{ target: { kind: 'ConfigMap' }, mergePatch: { metadata: { name: 'other' } } }],
      },
      'body.overrides[0]',
      /must not change apiVersion, kind, metadata.name or metadata.namespace/,
    );
  });

  it('an override whose target selects no document', async () => {
    await expectBadInput(
      { name: 'x', manifests: MANIFESTS, overrides: [{ target: { kind: 'Secret' }, mergePatch: {} }] },
      'body.overrides[0].target',
      /selects no object/,
    );
  });

  it('stored none of them', async () => {
    expect(await db.query('SELECT id FROM releases')).toHaveLength(before);
  });
});

describe('reading releases', () => {
  let id: string;
  beforeAll(async () => {
    id = (
      await post({ name: `read-${uniq()}`, manifests: MANIFESTS, overrides: OVERRIDES })
    ).json<ReleaseReply>().id;
  });

  it('GET /v1/releases/:id gives the metadata and objects, to a viewer too', async () => {
    const res = await app.inject({ method: 'GET', url: `/v1/releases/${id}`, headers: auth(viewer) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      id,
      overrides: 2,
      objects: expect.arrayContaining([expect.objectContaining({ kind: 'Deployment' })]),
    });
  });

  it('404 for an unknown id, 400 for a malformed one', async () => {
    const unknown = await app.inject({
      method: 'GET',
      url: '/v1/releases/rel-00000000000000000000',
      headers: auth(admin),
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({
      error: { code: 'NotFound', message: "release 'rel-00000000000000000000' not found" },
    });
    for (const url of [
      '/v1/releases/rel-00000000000000000000/manifests',
      '/v1/releases/rel-00000000000000000000/overrides',
    ]) {
      expect((await app.inject({ method: 'GET', url, headers: auth(admin) })).statusCode).toBe(404);
    }
    const malformed = await app.inject({ method: 'GET', url: '/v1/releases/nope', headers: auth(admin) });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json()).toMatchObject({ error: { field: 'params.id' } });
  });

  it('GET …/manifests gives back the exact YAML', async () => {
    const res = await app.inject({
      method: 'GET',
      url: `/v1/releases/${id}/manifests`,
      headers: auth(viewer),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/yaml/);
    expect(res.body).toBe(MANIFESTS);
  });

  it('GET …/overrides gives the overrides in order', async () => {
    const res = await app.inject({
      method: 'GET',
      url: `/v1/releases/${id}/overrides`,
      headers: auth(viewer),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ items: OVERRIDES });
  });

  it('POST …/render applies the overrides whose selector matches the labels, and only those', async () => {
    type Rendered = {
      objects: { kind: string; data?: Record<string, string>; spec?: { replicas: number } }[];
    };
    const render = async (labels: Record<string, string>) => {
      const res = await app.inject({
        method: 'POST',
        url: `/v1/releases/${id}/render`,
        headers: auth(viewer),
        payload: { clusterName: 'c1', labels },
      });
      expect(res.statusCode).toBe(200);
      const objects = res.json<Rendered>().objects;
      return {
        replicas: objects.find((o) => o.kind === 'Deployment')?.spec?.replicas,
        data: objects.find((o) => o.kind === 'ConfigMap')?.data,
      };
    };
    expect(await render({})).toEqual({ replicas: 1, data: { tier: 'default' } });
    expect(await render({ env: 'prod' })).toEqual({ replicas: 3, data: { tier: 'default' } });
    expect(await render({ env: 'prod', region: 'eu' })).toEqual({ replicas: 3, data: { region: 'eu' } });
    expect(await render({ env: 'staging', region: 'eu' })).toEqual({ replicas: 1, data: { region: 'eu' } });
  });

  it('render answers 400 naming the override when the overrides that meet on these labels clash', async () => {
    // Each override applies to the ConfigMap as written, so the upload is accepted; together
    // (env=prod and region=eu) the second replaces what the first removed.
    const clashing = await post({
      name: `clash-${uniq()}`,
      manifests: MANIFESTS,
      overrides: [
        {
          selector: 'env=prod',
          target: { kind: 'ConfigMap' },
          jsonPatch: [{ op: 'remove', path: '/data/tier' }],
        },
        {
          selector: 'region=eu',
          target: { kind: 'ConfigMap' },
          jsonPatch: [{ op: 'replace', path: '/data/tier', value: 'eu' }],
        },
      ],
    });
    expect(clashing.statusCode).toBe(201);
    const render = (labels: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url: `/v1/releases/${clashing.json<ReleaseReply>().id}/render`,
        headers: auth(viewer),
        payload: { clusterName: 'eu-prod-1', labels },
      });
    expect((await render({ region: 'eu' })).statusCode).toBe(200);
    const res = await render({ env: 'prod', region: 'eu' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      error: {
        field: 'body.labels',
        message: expect.stringMatching(/override 1 on ConfigMap web\/settings for cluster 'eu-prod-1'/),
        details: { override: 1, document: 1, op: 0, path: '/data/tier' },
      },
    });
  });

  it('render refuses bad labels and a missing cluster name', async () => {
    const bad = await app.inject({
      method: 'POST',
      url: `/v1/releases/${id}/render`,
      headers: auth(admin),
      payload: { clusterName: 'c1', labels: { 'bad key!': 'x' } },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { field: expect.stringMatching(/^body\.labels/) } });
    const missing = await app.inject({
      method: 'POST',
      url: `/v1/releases/${id}/render`,
      headers: auth(admin),
      payload: { labels: {} },
    });
    expect(missing.json()).toMatchObject({ error: { field: 'body.clusterName' } });
  });

  it('lists newest first, page by page, and refuses a cursor it did not give', async () => {
    const name = `page-${uniq()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await post({ name, manifests: `${MANIFESTS}# ${i}\n` })).json<ReleaseReply>().id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    type Page = {
      items: { id: string; objectCount: number; overrides: number }[];
      nextCursor: string | null;
    };
    do {
      const res: { statusCode: number; json: <T>() => T } = await app.inject({
        method: 'GET',
        url: `/v1/releases?name=${name}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        headers: auth(viewer),
      });
      expect(res.statusCode).toBe(200);
      const page = res.json<Page>();
      expect(page.items.length).toBeLessThanOrEqual(2);
      for (const item of page.items) expect(item).toMatchObject({ objectCount: 3, overrides: 0 });
      seen.push(...page.items.map((r) => r.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());

    for (const bad of ['nonsense', Buffer.from('["x","y"]').toString('base64url')]) {
      const res = await app.inject({
        method: 'GET',
        url: `/v1/releases?cursor=${bad}`,
        headers: auth(admin),
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: { field: 'querystring.cursor' } });
    }
  });
});

describe('release store on PGlite', () => {
  it('is idempotent on content and pages through rows created in the same microsecond', async () => {
    const lite = await freshPglite();
    try {
      const store = createReleaseStore(lite);
      const release = {
        name: 'web',
        manifests: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n',
        overrides: [],
        objects: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'a' }],
      };
      const first = await store.create(release);
      const second = await store.create(release);
      expect(first.created).toBe(true);
      expect(second).toEqual({ release: first.release, created: false });
      expect(await store.get(first.release.id)).toEqual(first.release);
      await expect(store.get('rel-ffffffffffffffffffff')).rejects.toMatchObject({ type: 'NotFound' });

      // Ties on created_at are broken by id; microseconds are kept in the cursor.
      await lite.query(
        `INSERT INTO releases (id, tenant_id, name, manifests, objects, object_count, created_at)
         SELECT 'rel-tie-' || i, 'default', 'tie', '', '[]', 0, '2030-01-01 00:00:00.000001+00'::timestamptz + (i / 3) * interval '1 microsecond'
           FROM generate_series(0, 8) AS i`,
      );
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.list({ limit: 2, cursor, name: 'tie' });
        seen.push(...page.items.map((r) => r.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen).toEqual([8, 7, 6, 5, 4, 3, 2, 1, 0].map((i) => `rel-tie-${i}`));
    } finally {
      await lite.close();
    }
  });
});
