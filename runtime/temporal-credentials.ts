import { generateKeyPairSync, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { siteNamespace } from '../domain/site-link.ts';

/**
 * Credentials for a Temporal server that runs with authorization on (its JWT claim mapper and
 * default authorizer): the control plane signs a short JWT per caller with a key only it
 * holds, and publishes the public halves as a JWKS document that the server re-reads every
 * refresh interval. A token's `permissions` name the namespaces and roles it grants
 * (`drover-site-eu-dc1:write` for site eu-dc1 of control namespace `drover`), so a site's token reaches its own namespace and nothing else.
 * Revoking a site drops its key from the JWKS: every token it signed is refused once the
 * server has re-read the document, whatever the token's expiry.
 */
export type SigningKey = { kid: string; privateKey: KeyObject; publicKey: KeyObject };

/** A new ES256 (P-256) key; the kid names its holder so the JWKS reads as a list of who may call. */
export const newSigningKey = (kid: string): SigningKey => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, privateKey, publicKey };
};

export type TemporalRole = 'read' | 'write' | 'worker' | 'admin';
/** `temporal-system` is the server's name for cluster-wide rights (namespace registration). */
export type TemporalPermission = `${string}:${TemporalRole}`;

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

export const signTemporalToken = (
  key: SigningKey,
  claims: { subject: string; permissions: TemporalPermission[]; ttlSeconds?: number; now?: Date },
): string => {
  const iat = Math.floor((claims.now ?? new Date()).getTime() / 1000);
  const header = { alg: 'ES256', typ: 'JWT', kid: key.kid };
  const body = {
    sub: claims.subject,
    iss: 'drover',
    iat,
    ...(claims.ttlSeconds ? { exp: iat + claims.ttlSeconds } : {}),
    permissions: claims.permissions,
  };
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(body))}`;
  // JWS wants the raw r||s signature, not node's default DER encoding.
  const signature = sign('sha256', Buffer.from(signingInput), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${signingInput}.${b64url(signature)}`;
};

/** A key's public half as a JWK (what the database keeps and the JWKS lists). */
export const publicJwk = (key: Pick<SigningKey, 'publicKey'>): JsonWebKey =>
  key.publicKey.export({ format: 'jwk' });

/** The JWKS document of the keys whose tokens the Temporal server should accept. */
export const jwksDocument = (keys: { kid: string; jwk: JsonWebKey }[]): { keys: JsonWebKey[] } => ({
  keys: keys.map((k) => ({ ...k.jwk, kid: k.kid, use: 'sig', alg: 'ES256' })),
});

/** What a site's token grants: worker rights (the server's `write`) in its own namespace only. */
export const sitePermissions = (controlNamespace: string, site: string): TemporalPermission[] => [
  `${siteNamespace(controlNamespace, site)}:write`,
];

/** A site's credential: worker rights in its own namespace, signed by the site's key. */
export const signSiteToken = (
  key: SigningKey,
  site: { controlNamespace: string; name: string },
  options: { ttlSeconds: number; now?: Date },
): string =>
  signTemporalToken(key, {
    subject: `site:${site.name}`,
    permissions: sitePermissions(site.controlNamespace, site.name),
    ...options,
  });

/** The control plane's credential: cluster-wide rights (it registers namespaces and endpoints). */
export const signControlToken = (key: SigningKey, options: { ttlSeconds: number; now?: Date }): string =>
  signTemporalToken(key, { subject: 'drover-control', permissions: ['temporal-system:admin'], ...options });
