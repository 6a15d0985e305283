import { randomUUID } from 'node:crypto';
import type { Db, Queryable } from './database.ts';
import { DEFAULT_TENANT } from './sites.ts';
import { parseCloudContext } from '../domain/cluster-specs.ts';
import { DroverError, ErrorType, notFound } from '../domain/errors.ts';
import {
  clusterNameFromContext,
  compareRefs,
  type ClusterRef,
  type ClusterStatus,
  type DiscoveredCluster,
  type DiscoverySummary,
  type UnlistedAccount,
  type Provider,
} from '../domain/clusters.ts';
import type { Requirement, Selector } from '../domain/selectors.ts';

export type ClusterRow = {
  id: string;
  site: string;
  name: string;
  context: string;
  provider: Provider;
  location: string;
  kubernetes_version: string | null;
  endpoint: string | null;
  labels: Record<string, string>;
  status: ClusterStatus;
  status_message: string | null;
  origin: 'discovered' | 'registered';
  expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
  last_seen_at: Date | null;
};

const COLUMNS = `id, site, name, context, provider, location, kubernetes_version, endpoint, labels, status,
  status_message, origin, expires_at, created_at, updated_at, last_seen_at`;

/**
 * A label selector as a SQL condition over the jsonb `labels` column, with Kubernetes
 * semantics: `!=` and `notin` also match clusters that lack the key.
 */
export const selectorToSql = (selector: Selector, params: unknown[]): string => {
  const p = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const one = (r: Requirement): string => {
    const key = p(r.key);
    switch (r.operator) {
      case 'Equals':
      case 'In':
        return `(labels ->> ${key}) = ANY(${p(r.values)}::text[])`;
      case 'NotEquals':
      case 'NotIn':
        return `((labels ->> ${key}) IS NULL OR NOT ((labels ->> ${key}) = ANY(${p(r.values)}::text[])))`;
      case 'Exists':
        return `(labels ? ${key})`;
      case 'DoesNotExist':
        return `NOT (labels ? ${key})`;
    }
  };
  return selector.requirements.length === 0 ? 'TRUE' : selector.requirements.map(one).join(' AND ');
};

export type PlacementSpec = {
  clusterIds?: string[] | undefined;
  selector?: Selector | undefined;
  sites?: string[] | undefined;
};

export type ListFilter = {
  selector?: Selector | undefined;
  site?: string | undefined;
  provider?: Provider | undefined;
  status?: ClusterStatus | undefined;
};

/** Opaque keyset cursor: the (site, name, id) of the last row of the previous page. */
const encodeCursor = (row: Pick<ClusterRow, 'site' | 'name' | 'id'>) =>
  Buffer.from(JSON.stringify([row.site, row.name, row.id])).toString('base64url');
const decodeCursor = (cursor: string): [string, string, string] => {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 3 && value.every((v) => typeof v === 'string')) {
      return value as [string, string, string];
    }
  } catch {
    // fall through
  }
  throw new DroverError(ErrorType.BadInput, 'cursor is not one this API returned', {
    field: 'querystring.cursor',
  });
};

export const createClusterStore = (db: Db, tenant = DEFAULT_TENANT) => {
  const where = (filter: ListFilter, params: unknown[]): string => {
    params.push(tenant);
    const parts = ['tenant_id = $1', 'deregistered_at IS NULL'];
    if (filter.site !== undefined) parts.push(`site = $${params.push(filter.site)}`);
    if (filter.provider !== undefined) parts.push(`provider = $${params.push(filter.provider)}`);
    if (filter.status !== undefined) parts.push(`status = $${params.push(filter.status)}`);
    if (filter.selector) parts.push(selectorToSql(filter.selector, params));
    return parts.join(' AND ');
  };

  const get = async (id: string, tx: Queryable = db): Promise<ClusterRow> => {
    const row = (
      await tx.query<ClusterRow>(
        `SELECT ${COLUMNS} FROM clusters WHERE tenant_id = $1 AND id = $2 AND deregistered_at IS NULL`,
        [tenant, id],
      )
    )[0];
    if (!row) throw notFound('cluster', id);
    return row;
  };

  /**
   * Resolves a target spec into the stable, sorted list every bulk run starts from. Vanished
   * clusters are never targets; explicitly named ids that do not exist are an error.
   */
  const resolveTargets = async (spec: PlacementSpec) => {
    const params: unknown[] = [];
    let sql = `SELECT id, name, site, context, labels FROM clusters WHERE ${where({ selector: spec.selector }, params)} AND status <> 'vanished'`;
    if (spec.sites !== undefined) sql += ` AND site = ANY($${params.push(spec.sites)}::text[])`;
    if (spec.clusterIds !== undefined) {
      const known = await db.query<{ id: string }>(
        `SELECT id FROM clusters WHERE tenant_id = $1 AND deregistered_at IS NULL AND id = ANY($2::uuid[])`,
        [tenant, spec.clusterIds],
      );
      const knownIds = new Set(known.map((k) => k.id));
      const missing = spec.clusterIds.filter((id) => !knownIds.has(id));
      if (missing.length > 0) {
        throw new DroverError(
          ErrorType.NotFound,
          `unknown cluster ids: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}`,
          { field: 'clusterIds', details: { missing } },
        );
      }
      sql += ` AND id = ANY($${params.push(spec.clusterIds)}::uuid[])`;
    }
    const rows = await db.query<ClusterRef & { labels: Record<string, string> }>(sql, params);
    return rows
      .map((r) => ({ id: r.id, name: r.name, site: r.site, context: r.context, labels: r.labels }))
      .sort(compareRefs);
  };

  return {
    get,

    async list(filter: ListFilter, page: { limit: number; cursor?: string | undefined }) {
      const params: unknown[] = [];
      let sql = `SELECT ${COLUMNS} FROM clusters WHERE ${where(filter, params)}`;
      if (page.cursor) {
        const [site, name, id] = decodeCursor(page.cursor);
        sql += ` AND (site, name, id) > ($${params.push(site)}, $${params.push(name)}, $${params.push(id)}::uuid)`;
      }
      sql += ` ORDER BY site, name, id LIMIT $${params.push(page.limit + 1)}`;
      const rows = await db.query<ClusterRow>(sql, params);
      const items = rows.slice(0, page.limit);
      const last = items[items.length - 1];
      return { items, nextCursor: rows.length > page.limit && last ? encodeCursor(last) : null };
    },

    /** Registers a cluster by site and context; revives one that was deregistered. */
    async register(input: {
      site: string;
      context: string;
      name?: string | undefined;
      labels?: Record<string, string> | undefined;
      expiresAt?: Date | null | undefined;
    }): Promise<ClusterRow> {
      return db.transaction(async (tx) => {
        const site = await tx.query('SELECT 1 FROM sites WHERE tenant_id = $1 AND name = $2', [
          tenant,
          input.site,
        ]);
        if (site.length === 0)
          throw new DroverError(ErrorType.NotFound, `site '${input.site}' not found`, { field: 'body.site' });
        const name = input.name ?? clusterNameFromContext(input.context);
        const existing = (
          await tx.query<{ id: string; deregistered_at: Date | null }>(
            'SELECT id, deregistered_at FROM clusters WHERE tenant_id = $1 AND site = $2 AND context = $3',
            [tenant, input.site, input.context],
          )
        )[0];
        if (existing && existing.deregistered_at === null) {
          throw new DroverError(
            ErrorType.Conflict,
            `context '${input.context}' of site '${input.site}' is already registered as cluster ${existing.id}`,
            {
              field: 'body.context',
              details: { clusterId: existing.id },
            },
          );
        }
        const clash = await tx.query(
          'SELECT id FROM clusters WHERE tenant_id = $1 AND site = $2 AND name = $3 AND deregistered_at IS NULL',
          [tenant, input.site, name],
        );
        if (clash.length > 0)
          throw new DroverError(
            ErrorType.Conflict,
            `site '${input.site}' already has a cluster named '${name}'`,
            { field: 'body.name' },
          );
        if (existing) {
          await tx.query(
            `UPDATE clusters SET deregistered_at = NULL, name = $2, labels = $3, expires_at = $4, origin = 'registered',
               status = 'pending', status_message = NULL, updated_at = now() WHERE id = $1`,
            [existing.id, name, JSON.stringify(input.labels ?? {}), input.expiresAt ?? null],
          );
          return get(existing.id, tx);
        }
        const id = randomUUID();
        await tx.query(
          `INSERT INTO clusters (id, tenant_id, site, name, context, provider, labels, status, origin, expires_at)
           VALUES ($1, $2, $3, $4, $5, 'kubeconfig', $6, 'pending', 'registered', $7)`,
          [
            id,
            tenant,
            input.site,
            name,
            input.context,
            JSON.stringify(input.labels ?? {}),
            input.expiresAt ?? null,
          ],
        );
        return get(id, tx);
      });
    },

    /** The live cluster of that name in the site, if any. */
    async findByName(site: string, name: string): Promise<ClusterRow | undefined> {
      return (
        await db.query<ClusterRow>(
          `SELECT ${COLUMNS} FROM clusters WHERE tenant_id = $1 AND site = $2 AND name = $3 AND deregistered_at IS NULL`,
          [tenant, site, name],
        )
      )[0];
    },

    /**
     * Records a cluster drover created in one of the site's cloud accounts, ready, as its cloud
     * described it. Idempotent by (site, context): a retried registration, or the row a
     * discovery added while the cluster was being created, becomes this one; a deregistered
     * tombstone is revived. Another cluster of the site holding the name is a Conflict.
     */
    async registerCreated(input: {
      site: string;
      context: string;
      name: string;
      provider: Provider;
      location: string;
      kubernetesVersion: string | null;
      endpoint: string | null;
      labels: Record<string, string>;
    }): Promise<ClusterRow> {
      return db.transaction(async (tx) => {
        const clash = await tx.query<{ id: string }>(
          `SELECT id FROM clusters
            WHERE tenant_id = $1 AND site = $2 AND name = $3 AND deregistered_at IS NULL AND context <> $4`,
          [tenant, input.site, input.name, input.context],
        );
        if (clash[0]) {
          throw new DroverError(
            ErrorType.Conflict,
            `site '${input.site}' already has a cluster named '${input.name}' (${clash[0].id})`,
            { field: 'spec.name', details: { clusterId: clash[0].id } },
          );
        }
        const values = [
          input.name,
          input.provider,
          input.location,
          input.kubernetesVersion,
          input.endpoint,
          JSON.stringify(input.labels),
        ];
        const existing = (
          await tx.query<{ id: string }>(
            'SELECT id FROM clusters WHERE tenant_id = $1 AND site = $2 AND context = $3',
            [tenant, input.site, input.context],
          )
        )[0];
        if (existing) {
          await tx.query(
            `UPDATE clusters SET name = $2, provider = $3, location = $4, kubernetes_version = $5, endpoint = $6,
               labels = $7, status = 'ready', status_message = NULL, origin = 'registered', deregistered_at = NULL,
               last_seen_at = now(), updated_at = now()
             WHERE id = $1`,
            [existing.id, ...values],
          );
          return get(existing.id, tx);
        }
        const id = randomUUID();
        await tx.query(
          `INSERT INTO clusters (id, tenant_id, site, context, name, provider, location, kubernetes_version, endpoint,
             labels, status, origin, last_seen_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'ready', 'registered', now())`,
          [id, tenant, input.site, input.context, ...values],
        );
        return get(id, tx);
      });
    },

    /** Labels merge like a JSON merge patch: a null value removes the label. */
    async patch(
      id: string,
      change: { labels?: Record<string, string | null> | undefined; expiresAt?: Date | null | undefined },
    ) {
      return db.transaction(async (tx) => {
        const row = await get(id, tx);
        const labels = { ...row.labels };
        for (const [k, v] of Object.entries(change.labels ?? {})) {
          if (v === null) delete labels[k];
          else labels[k] = v;
        }
        await tx.query(`UPDATE clusters SET labels = $2, expires_at = $3, updated_at = now() WHERE id = $1`, [
          id,
          JSON.stringify(labels),
          change.expiresAt === undefined ? row.expires_at : change.expiresAt,
        ]);
        return get(id, tx);
      });
    },

    async deregister(id: string): Promise<void> {
      const rows = await db.query(
        `UPDATE clusters SET deregistered_at = now(), updated_at = now()
          WHERE tenant_id = $1 AND id = $2 AND deregistered_at IS NULL RETURNING id`,
        [tenant, id],
      );
      if (rows.length === 0) throw notFound('cluster', id);
    },

    /**
     * Folds one site's discovery into the inventory: new contexts are added, known ones
     * refreshed, and clusters the site no longer lists are marked vanished, never deleted.
     * Deregistered clusters stay deregistered.
     */
    async applyDiscovery(
      site: string,
      seen: DiscoveredCluster[],
      unlisted: UnlistedAccount[] = [],
    ): Promise<DiscoverySummary> {
      return db.transaction(async (tx) => {
        await tx.query(`INSERT INTO sites (tenant_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
          tenant,
          site,
        ]);
        const known = await tx.query<{
          id: string;
          context: string;
          name: string;
          deregistered_at: Date | null;
          status: ClusterStatus;
        }>(
          'SELECT id, context, name, deregistered_at, status FROM clusters WHERE tenant_id = $1 AND site = $2',
          [tenant, site],
        );
        const byContext = new Map(known.map((k) => [k.context, k]));
        const takenNames = new Set(known.filter((k) => k.deregistered_at === null).map((k) => k.name));
        const summary: DiscoverySummary = {
          site,
          seen: seen.length,
          added: [],
          updated: 0,
          vanished: [],
          unreachable: [],
          unlisted,
        };
        for (const c of seen) {
          const status: ClusterStatus = c.reachable ? 'ready' : 'unreachable';
          if (!c.reachable) summary.unreachable.push(c.context);
          const row = byContext.get(c.context);
          if (row) {
            if (row.deregistered_at !== null) continue;
            await tx.query(
              `UPDATE clusters SET status = $2, status_message = $3, endpoint = $4, kubernetes_version = COALESCE($5, kubernetes_version),
                 provider = CASE WHEN origin = 'discovered' OR provider = 'kubeconfig' THEN $6 ELSE provider END,
                 location = CASE WHEN location = '' THEN $7 ELSE location END,
                 last_seen_at = CASE WHEN $8 THEN now() ELSE last_seen_at END, updated_at = now()
               WHERE id = $1`,
              [row.id, status, c.error, c.endpoint, c.kubernetesVersion, c.provider, c.location, c.reachable],
            );
            summary.updated++;
            continue;
          }
          let name = clusterNameFromContext(c.context);
          for (let n = 2; takenNames.has(name); n++) name = `${clusterNameFromContext(c.context)}-${n}`;
          takenNames.add(name);
          await tx.query(
            `INSERT INTO clusters (id, tenant_id, site, name, context, provider, location, kubernetes_version, endpoint,
               status, status_message, origin, last_seen_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'discovered', CASE WHEN $12 THEN now() END)`,
            [
              randomUUID(),
              tenant,
              site,
              name,
              c.context,
              c.provider,
              c.location,
              c.kubernetesVersion,
              c.endpoint,
              status,
              c.error,
              c.reachable,
            ],
          );
          summary.added.push(name);
        }
        const seenContexts = new Set(seen.map((c) => c.context));
        const notListed = new Set(unlisted.map((u) => u.account));
        for (const k of known) {
          if (k.deregistered_at !== null || seenContexts.has(k.context) || k.status === 'vanished') continue;
          // Unknown, not gone: its account could not be listed this time.
          const account = parseCloudContext(k.context)?.account;
          if (account !== undefined && notListed.has(account)) continue;
          await tx.query(
            `UPDATE clusters SET status = 'vanished', status_message = 'no longer listed by its site', updated_at = now() WHERE id = $1`,
            [k.id],
          );
          summary.vanished.push(k.name);
        }
        await tx.query('UPDATE sites SET last_discovery_at = now() WHERE tenant_id = $1 AND name = $2', [
          tenant,
          site,
        ]);
        return summary;
      });
    },

    /**
     * Resolves a target spec into the stable, sorted list every bulk run starts from. Vanished
     * clusters are never targets; explicitly named ids that do not exist are an error.
     */
    async placement(spec: PlacementSpec): Promise<ClusterRef[]> {
      return (await resolveTargets(spec)).map(({ labels: _labels, ...ref }) => ref);
    },

    /** Placement with each cluster's labels, which per-cluster overrides select on. */
    async placementWithLabels(
      spec: PlacementSpec,
    ): Promise<(ClusterRef & { labels: Record<string, string> })[]> {
      return resolveTargets(spec);
    },
  };
};

export type ClusterStore = ReturnType<typeof createClusterStore>;
