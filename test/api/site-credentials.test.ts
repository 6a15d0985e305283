import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { createTokenStore } from '../../api/auth.ts';
import type { Enrollment } from '../../domain/sites.ts';
import { startApi, type ApiHarness } from '../support/drover.ts';
import { siteNamespace } from '../../domain/site-link.ts';
import { testNamespace, uniq } from '../support/env.ts';

/**
 * Enrollment hands a site a Temporal credential for its own namespace, signed by a key whose
 * public half the JWKS lists; revocation takes the key off the list. (What the Temporal server
 * then does with such credentials is test/e2e/site-isolation.test.ts.)
 */
let api: ApiHarness;
let operator: string;
const site = `enr-${uniq()}`;

type Jwks = { keys: (JsonWebKey & { kid: string })[] };

const jwks = async () => {
  const res = await api.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
  expect(res.statusCode).toBe(200);
  return res.json<Jwks>();
};

/** The token's claims, after checking its ES256 signature against the JWKS. */
const verified = (token: string, set: Jwks) => {
  const [header, body, signature] = token.split('.') as [string, string, string];
  const { kid, alg } = JSON.parse(Buffer.from(header, 'base64url').toString()) as {
    kid: string;
    alg: string;
  };
  expect(alg).toBe('ES256');
  const jwk = set.keys.find((k) => k.kid === kid);
  if (!jwk) return undefined;
  const ok = verify(
    'sha256',
    Buffer.from(`${header}.${body}`),
    { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' },
    Buffer.from(signature, 'base64url'),
  );
  expect(ok).toBe(true);
  return JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
};

beforeAll(async () => {
  api = await startApi();
  operator = (await createTokenStore(api.db).create('an-operator', 'operator')).token;
});
afterAll(async () => api?.close());

describe('site enrollment and revocation', () => {
  let first: Enrollment;

  it('enrolls a new site: its namespace exists and its credential grants that namespace only', async () => {
    const res = await api.call<Enrollment>('POST', `/v1/sites/${site}/enroll`, { description: 'edge' });
    expect(res.status).toBe(201);
    first = res.body;
    expect(first).toMatchObject({
      site,
      namespace: siteNamespace(testNamespace(), site),
      taskQueue: `site.${site}`,
      revokedKeys: [],
    });
    const claims = verified(first.temporalToken, await jwks());
    expect(claims).toMatchObject({
      sub: `site:${site}`,
      iss: 'drover',
      permissions: [`${siteNamespace(testNamespace(), site)}:write`],
    });
    expect(Number(claims?.exp) * 1000).toBeCloseTo(Date.parse(first.expiresAt), -4);
    // The namespace is real, in the Temporal server drover talks to.
    const ns = await api.temporal.workflowService.describeNamespace({ namespace: first.namespace });
    expect(ns.namespaceInfo?.name).toBe(first.namespace);
    // The site is in the inventory, with its description.
    expect((await api.call<{ description: string }>('GET', `/v1/sites/${site}`)).body.description).toBe(
      'edge',
    );
    // The JWKS lists the control plane's key too, and never a private part.
    const set = await jwks();
    expect(set.keys.some((k) => k.kid.startsWith('control-'))).toBe(true);
    for (const k of set.keys) expect(k).not.toHaveProperty('d');
  });

  it('rotates on a second enrollment: the earlier key is revoked', async () => {
    const res = await api.call<Enrollment>('POST', `/v1/sites/${site}/enroll`, { ttlDays: 1 });
    expect(res.status).toBe(201);
    expect(res.body.revokedKeys).toEqual([first.keyId]);
    const set = await jwks();
    expect(verified(first.temporalToken, set)).toBeUndefined();
    expect(verified(res.body.temporalToken, set)).toMatchObject({
      permissions: [`${siteNamespace(testNamespace(), site)}:write`],
    });
    first = res.body;
  });

  it('revokes: the key leaves the JWKS, and the site is otherwise kept', async () => {
    const res = await api.call<{ revokedKeys: string[] }>('POST', `/v1/sites/${site}/revoke`);
    expect(res.status).toBe(200);
    expect(res.body.revokedKeys).toEqual([first.keyId]);
    expect((await jwks()).keys.map((k) => k.kid)).not.toContain(first.keyId);
    expect((await api.call('GET', `/v1/sites/${site}`)).status).toBe(200);
    // Revoking again revokes nothing more.
    expect(
      (await api.call<{ revokedKeys: string[] }>('POST', `/v1/sites/${site}/revoke`)).body.revokedKeys,
    ).toEqual([]);
  });

  it('answers bad input and unknown sites with the field or the name, and admins only', async () => {
    const bad = await api.call<{ error: { field: string } }>('POST', '/v1/sites/Not_A_Name/enroll', {});
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('params.site');
    const ttl = await api.call<{ error: { field: string } }>('POST', `/v1/sites/${site}/enroll`, {
      ttlDays: 0,
    });
    expect(ttl.status).toBe(400);
    expect(ttl.body.error.field).toBe('body.ttlDays');
    expect((await api.call('POST', `/v1/sites/nope-${uniq()}/revoke`)).status).toBe(404);
    const asOperator = await api.app.inject({
      method: 'POST',
      url: `/v1/sites/${site}/enroll`,
      headers: { authorization: `Bearer ${operator}` },
      payload: {},
    });
    expect(asOperator.statusCode).toBe(403);
  });
});
