import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Db } from '../db/database.ts';
import { DEFAULT_TENANT } from '../db/sites.ts';
import { DroverError, ErrorType } from '../domain/errors.ts';

export const Role = z.enum(['viewer', 'operator', 'admin']);
export type Role = z.infer<typeof Role>;

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
export const ADMIN_TOKEN_NAME = 'admin';

/** Tokens are 256 random bits, so a plain SHA-256 is enough to keep them unusable at rest. */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');
export const generateToken = (): string => `drv_${randomBytes(32).toString('base64url')}`;

export type Principal = { tokenId: string; name: string; role: Role; tenant: string };

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** The least role a route needs; /v1 routes without one need `viewer` for GET, else `operator`. */
    role?: Role;
  }
}

export const createTokenStore = (db: Db, tenant = DEFAULT_TENANT) => ({
  async authenticate(token: string): Promise<Principal | undefined> {
    const rows = await db.query<{ id: string; name: string; role: Role; tenant_id: string }>(
      `UPDATE api_tokens SET last_used_at = now()
        WHERE token_hash = $1 AND revoked_at IS NULL
        RETURNING id, name, role, tenant_id`,
      [hashToken(token)],
    );
    const row = rows[0];
    return row && { tokenId: row.id, name: row.name, role: row.role, tenant: row.tenant_id };
  },

  async create(name: string, role: Role, token = generateToken()) {
    const id = randomUUID();
    const rows = await db.query<{ id: string; created_at: Date }>(
      `INSERT INTO api_tokens (id, tenant_id, name, role, token_hash) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT DO NOTHING RETURNING id, created_at`,
      [id, tenant, name, role, hashToken(token)],
    );
    if (!rows[0])
      throw new DroverError(ErrorType.Conflict, `a token named '${name}' already exists`, {
        field: 'body.name',
      });
    return { id, name, role, token, createdAt: rows[0].created_at };
  },

  list: () =>
    db.query<{
      id: string;
      name: string;
      role: Role;
      created_at: Date;
      last_used_at: Date | null;
      revoked_at: Date | null;
    }>(
      `SELECT id, name, role, created_at, last_used_at, revoked_at FROM api_tokens WHERE tenant_id = $1 ORDER BY name`,
      [tenant],
    ),

  async revoke(id: string): Promise<boolean> {
    const rows = await db.query(
      `UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND tenant_id = $2 AND revoked_at IS NULL RETURNING id`,
      [id, tenant],
    );
    return rows.length > 0;
  },

  /**
   * Makes sure an admin token exists. With `fixed` (DROVER_ADMIN_TOKEN) that token is the admin
   * token; otherwise one is generated on first start. Returns the token only when it was just
   * created, since afterwards only its hash is known.
   */
  async ensureAdmin(fixed?: string): Promise<string | undefined> {
    if (fixed !== undefined) {
      await db.query(
        `INSERT INTO api_tokens (id, tenant_id, name, role, token_hash) VALUES ($1, $2, $3, 'admin', $4)
         ON CONFLICT (tenant_id, name) DO UPDATE SET token_hash = EXCLUDED.token_hash, revoked_at = NULL, role = 'admin'`,
        [randomUUID(), tenant, ADMIN_TOKEN_NAME, hashToken(fixed)],
      );
      return undefined;
    }
    const token = generateToken();
    // ON CONFLICT makes two replicas starting together agree on one token.
    const rows = await db.query(
      `INSERT INTO api_tokens (id, tenant_id, name, role, token_hash) VALUES ($1, $2, $3, 'admin', $4)
       ON CONFLICT (tenant_id, name) DO NOTHING RETURNING id`,
      [randomUUID(), tenant, ADMIN_TOKEN_NAME, hashToken(token)],
    );
    return rows.length > 0 ? token : undefined;
  },
});

export type TokenStore = ReturnType<typeof createTokenStore>;

const bearer = (header: string | undefined): string | undefined => {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
};

/** onRequest hook for /v1: who is calling, and may they? */
export const authenticate =
  (tokens: TokenStore) =>
  async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const token = bearer(request.headers.authorization);
    if (!token) {
      void reply.header('www-authenticate', 'Bearer realm="drover"');
      throw new DroverError(ErrorType.Unauthorized, 'missing bearer token (Authorization: Bearer <token>)');
    }
    const principal = await tokens.authenticate(token);
    if (!principal) {
      void reply.header('www-authenticate', 'Bearer realm="drover", error="invalid_token"');
      throw new DroverError(ErrorType.Unauthorized, 'invalid or revoked token');
    }
    request.principal = principal;
    const needed = request.routeOptions.config.role ?? (request.method === 'GET' ? 'viewer' : 'operator');
    if (RANK[principal.role] < RANK[needed]) {
      throw new DroverError(
        ErrorType.Forbidden,
        `token '${principal.name}' has role '${principal.role}'; this needs '${needed}'`,
      );
    }
  };
