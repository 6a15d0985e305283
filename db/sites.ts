import type { Db } from './database.ts';
import { DroverError, ErrorType } from '../domain/errors.ts';

export const DEFAULT_TENANT = 'default';

export type SiteRow = {
  name: string;
  description: string;
  created_at: Date;
  last_check_in_at: Date | null;
  sub_manager_version: string | null;
};

export const createSiteStore = (db: Db, tenant = DEFAULT_TENANT) => ({
  list: () =>
    db.query<SiteRow>(
      `SELECT name, description, created_at, last_check_in_at, sub_manager_version
         FROM sites WHERE tenant_id = $1 ORDER BY name`,
      [tenant],
    ),

  get: async (name: string): Promise<SiteRow | undefined> =>
    (
      await db.query<SiteRow>(
        `SELECT name, description, created_at, last_check_in_at, sub_manager_version
           FROM sites WHERE tenant_id = $1 AND name = $2`,
        [tenant, name],
      )
    )[0],

  create: async (name: string, description: string): Promise<SiteRow> => {
    const rows = await db.query<SiteRow>(
      `INSERT INTO sites (tenant_id, name, description) VALUES ($1, $2, $3)
       ON CONFLICT DO NOTHING
       RETURNING name, description, created_at, last_check_in_at, sub_manager_version`,
      [tenant, name, description],
    );
    const row = rows[0];
    if (!row)
      throw new DroverError(ErrorType.Conflict, `site '${name}' already exists`, { field: 'body.name' });
    return row;
  },

  /** Keeps an operator's description over the sub-manager's default one. */
  checkIn: async (name: string, description: string, version: string): Promise<void> => {
    await db.query(
      `INSERT INTO sites (tenant_id, name, description, last_check_in_at, sub_manager_version)
       VALUES ($1, $2, $3, now(), $4)
       ON CONFLICT (tenant_id, name) DO UPDATE
         SET last_check_in_at = now(),
             sub_manager_version = EXCLUDED.sub_manager_version,
             description = CASE WHEN sites.description = '' THEN EXCLUDED.description ELSE sites.description END`,
      [tenant, name, description, version],
    );
  },
});
