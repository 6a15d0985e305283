import { createPrivateKey, createPublicKey, randomBytes, type JsonWebKey } from 'node:crypto';
import type { Db, Queryable } from './database.ts';
import { DEFAULT_TENANT } from './sites.ts';
import { newSigningKey, publicJwk, type SigningKey } from '../runtime/temporal-credentials.ts';

type KeyRow = {
  kid: string;
  site: string | null;
  private_key_pem: string;
  public_jwk: JsonWebKey;
  created_at: Date;
};

const toKey = (row: KeyRow): SigningKey => {
  const privateKey = createPrivateKey(row.private_key_pem);
  return { kid: row.kid, privateKey, publicKey: createPublicKey(privateKey) };
};

/** The Temporal signing keys (migration 0007): one per enrolled site, one for the control plane. */
export const createSigningKeyStore = (db: Db, tenant = DEFAULT_TENANT) => {
  const insert = async (q: Queryable, site: string | null, prefix: string): Promise<SigningKey> => {
    const key = newSigningKey(`${prefix}-${randomBytes(6).toString('hex')}`);
    await q.query(
      `INSERT INTO temporal_signing_keys (kid, tenant_id, site, private_key_pem, public_jwk) VALUES ($1, $2, $3, $4, $5)`,
      [
        key.kid,
        tenant,
        site,
        key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
        JSON.stringify(publicJwk(key)),
      ],
    );
    return key;
  };
  return {
    /**
     * A new key for the site; its earlier keys are revoked in the same transaction, so a
     * re-enrolled site's old credential stops working as the new one starts.
     */
    rotateSite: (site: string): Promise<{ key: SigningKey; revoked: string[] }> =>
      db.transaction(async (tx) => {
        const revoked = await tx.query<{ kid: string }>(
          `UPDATE temporal_signing_keys SET revoked_at = now()
            WHERE tenant_id = $1 AND site = $2 AND revoked_at IS NULL RETURNING kid`,
          [tenant, site],
        );
        return { key: await insert(tx, site, `site-${site}`), revoked: revoked.map((r) => r.kid) };
      }),

    revokeSite: async (site: string): Promise<string[]> =>
      (
        await db.query<{ kid: string }>(
          `UPDATE temporal_signing_keys SET revoked_at = now()
            WHERE tenant_id = $1 AND site = $2 AND revoked_at IS NULL RETURNING kid`,
          [tenant, site],
        )
      ).map((r) => r.kid),

    /** The control plane's key, made on first use. */
    controlKey: async (): Promise<SigningKey> => {
      const rows = await db.query<KeyRow>(
        `SELECT kid, site, private_key_pem, public_jwk, created_at FROM temporal_signing_keys
          WHERE tenant_id = $1 AND site IS NULL AND revoked_at IS NULL ORDER BY created_at LIMIT 1`,
        [tenant],
      );
      return rows[0] ? toKey(rows[0]) : insert(db, null, 'control');
    },

    /** Every key not revoked, for the JWKS: only their public halves. */
    published: async (): Promise<{ kid: string; site: string | null; jwk: JsonWebKey }[]> =>
      (
        await db.query<KeyRow>(
          `SELECT kid, site, public_jwk FROM temporal_signing_keys
            WHERE tenant_id = $1 AND revoked_at IS NULL ORDER BY created_at`,
          [tenant],
        )
      ).map((r) => ({ kid: r.kid, site: r.site, jwk: r.public_jwk })),
  };
};
