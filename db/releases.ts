import { createHash } from 'node:crypto';
import type { Db } from './database.ts';
import { DEFAULT_TENANT } from './sites.ts';
import { DroverError, ErrorType, notFound } from '../domain/errors.ts';
import type { Override, ReleaseContent, ReleaseObjectRef } from '../domain/releases.ts';

export type ReleaseRow = {
  id: string;
  name: string;
  manifests: string;
  overrides: Override[];
  objects: ReleaseObjectRef[];
  object_count: number;
  created_at: Date;
};

/** A listing row: everything but the (possibly large) manifests and overrides. */
export type ReleaseSummaryRow = Pick<ReleaseRow, 'id' | 'name' | 'object_count' | 'created_at'> & {
  override_count: number;
};

/** JSON with object members sorted by key at every level and undefined members left out. */
const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const members = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
};

/**
 * A release's id: `rel-` and the first 20 hex digits (80 bits) of the SHA-256 of its canonical
 * content, so equal content always gets the same id and any change gets another.
 */
export const contentAddress = (content: Pick<ReleaseContent, 'name' | 'manifests' | 'overrides'>): string =>
  `rel-${createHash('sha256')
    .update(canonicalJson({ name: content.name, manifests: content.manifests, overrides: content.overrides }))
    .digest('hex')
    .slice(0, 20)}`;

/** Opaque keyset cursor: the created_at (as Postgres prints it, microseconds kept) and id of the last row. */
const encodeCursor = (createdAt: string, id: string) =>
  Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
const TIMESTAMP =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[ T]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?([+-]\d{2}(:\d{2}){0,2}|Z)?$/;
const decodeCursor = (cursor: string): [string, string] => {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      value.every((v) => typeof v === 'string') &&
      TIMESTAMP.test(value[0] as string)
    ) {
      return value as [string, string];
    }
  } catch {
    // fall through
  }
  throw new DroverError(ErrorType.BadInput, 'cursor is not one this API returned', {
    field: 'querystring.cursor',
  });
};

const COLUMNS = 'id, name, manifests, overrides, objects, object_count, created_at';

export const createReleaseStore = (db: Db, tenant = DEFAULT_TENANT) => ({
  /**
   * Stores a validated release under its content address. Idempotent: the same content again
   * (or concurrently) returns the stored release with `created: false`.
   */
  async create(
    release: ReleaseContent & { objects: ReleaseObjectRef[] },
  ): Promise<{ release: ReleaseRow; created: boolean }> {
    const id = contentAddress(release);
    const inserted = await db.query<ReleaseRow>(
      `INSERT INTO releases (id, tenant_id, name, manifests, overrides, objects, object_count)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO NOTHING
       RETURNING ${COLUMNS}`,
      [
        id,
        tenant,
        release.name,
        release.manifests,
        JSON.stringify(release.overrides),
        JSON.stringify(release.objects),
        release.objects.length,
      ],
    );
    if (inserted[0]) return { release: inserted[0], created: true };
    const existing = (
      await db.query<ReleaseRow>(`SELECT ${COLUMNS} FROM releases WHERE tenant_id = $1 AND id = $2`, [
        tenant,
        id,
      ])
    )[0];
    // Only reachable when another tenant stored identical content, as ids are global.
    if (!existing) throw new DroverError(ErrorType.Conflict, `release id ${id} is taken`);
    return { release: existing, created: false };
  },

  async get(id: string): Promise<ReleaseRow> {
    const row = (
      await db.query<ReleaseRow>(`SELECT ${COLUMNS} FROM releases WHERE tenant_id = $1 AND id = $2`, [
        tenant,
        id,
      ])
    )[0];
    if (!row) throw notFound('release', id);
    return row;
  },

  /** Newest first, paged by keyset; `name` keeps only releases of that name. */
  async list(page: { limit: number; cursor?: string | undefined; name?: string | undefined }) {
    const params: unknown[] = [tenant];
    let sql = `SELECT id, name, object_count, jsonb_array_length(overrides) AS override_count, created_at,
                      created_at::text AS created_key
                 FROM releases WHERE tenant_id = $1`;
    if (page.name !== undefined) sql += ` AND name = $${params.push(page.name)}`;
    if (page.cursor) {
      const [createdAt, id] = decodeCursor(page.cursor);
      sql += ` AND (created_at, id) < ($${params.push(createdAt)}::timestamptz, $${params.push(id)})`;
    }
    sql += ` ORDER BY created_at DESC, id DESC LIMIT $${params.push(page.limit + 1)}`;
    const rows = await db.query<ReleaseSummaryRow & { created_key: string }>(sql, params);
    const items = rows.slice(0, page.limit);
    const last = items[items.length - 1];
    return {
      items: items.map(({ created_key: _key, ...row }) => row),
      nextCursor: rows.length > page.limit && last ? encodeCursor(last.created_key, last.id) : null,
    };
  },
});

export type ReleaseStore = ReturnType<typeof createReleaseStore>;
