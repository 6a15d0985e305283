import type { Db } from './database.ts';
import { DEFAULT_TENANT } from './sites.ts';
import { DroverError, ErrorType } from '../domain/errors.ts';
import { TTL_LABEL, type DeployedRelease, type DriftCheck, type DriftStatus } from '../domain/maintenance.ts';
import type { ClusterRow } from './clusters.ts';

/** A run whose release is unknown (its memo said nothing, or Temporal no longer has it). */
export const UNKNOWN_RELEASE = '';

export type DriftRecord = {
  clusterId: string;
  releaseName: string;
  releaseId: string;
  deployRunId: string;
  check: DriftCheck;
};

export type DriftReportRow = {
  clusterId: string;
  clusterName: string;
  site: string;
  releaseName: string;
  releaseId: string;
  deployRunId: string;
  status: DriftStatus;
  checked: number;
  objects: DriftCheck['objects'];
  /** Differing objects not listed in `objects` (the check kept itself small). */
  omitted: number;
  error: string | null;
  checkedAt: string;
  checkRunId: string;
};

const encodeCursor = (parts: string[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');
const decodeCursor = (cursor: string, length: number, field: string): string[] => {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === length && value.every((v) => typeof v === 'string'))
      return value;
  } catch {
    // fall through
  }
  throw new DroverError(ErrorType.BadInput, `${field}: not a cursor this API returned`, { field });
};

/** The database side of maintenance: what is deployed where, drift reports, clusters that expire. */
export const createMaintenanceStore = (db: Db, tenant = DEFAULT_TENANT) => ({
  /** Deploy runs with succeeded targets whose release this table does not know yet. */
  async runsWithoutRelease(limit: number): Promise<string[]> {
    const rows = await db.query<{ run_id: string }>(
      `SELECT DISTINCT t.run_id FROM deploy_targets t
        WHERE t.tenant_id = $1 AND t.state = 'succeeded'
          AND NOT EXISTS (SELECT 1 FROM deploy_runs d WHERE d.run_id = t.run_id)
        LIMIT $2`,
      [tenant, limit],
    );
    return rows.map((r) => r.run_id);
  },

  async recordRunReleases(runs: readonly { runId: string; releaseId: string }[]): Promise<void> {
    if (runs.length === 0) return;
    const params: unknown[] = [tenant];
    const values = runs.map((r) => `($1, $${params.push(r.runId)}, $${params.push(r.releaseId)})`);
    await db.query(
      `INSERT INTO deploy_runs (tenant_id, run_id, release_id) VALUES ${values.join(', ')}
       ON CONFLICT (run_id) DO NOTHING`,
      params,
    );
  },

  /**
   * One page of what is deployed where: per live cluster and release name, the release of the
   * latest succeeded deploy (a rolled-back target no longer counts, so the one before does).
   * The cluster's name and labels are those the deploy rendered the release with.
   */
  async deployedReleases(filter: {
    clusterIds?: readonly string[] | undefined;
    after?: string | undefined;
    limit: number;
  }): Promise<{ items: DeployedRelease[]; next: string | null }> {
    const params: unknown[] = [tenant];
    let where = `t.tenant_id = $1 AND t.state = 'succeeded'`;
    if (filter.clusterIds) where += ` AND t.cluster_id = ANY($${params.push(filter.clusterIds)}::uuid[])`;
    let after = '';
    if (filter.after) {
      const [cluster, release] = decodeCursor(filter.after, 2, 'cursor');
      where += ` AND t.cluster_id >= $${params.push(cluster)}::uuid`;
      after = `WHERE (x.cluster_id, x.release_name) > ($${params.push(cluster)}::uuid, $${params.push(release)})`;
    }
    const rows = await db.query<{
      cluster_id: string;
      name: string;
      site: string;
      context: string;
      labels: Record<string, string>;
      release_id: string;
      release_name: string;
      run_id: string;
      updated_at: Date;
    }>(
      `SELECT * FROM (
         SELECT DISTINCT ON (t.cluster_id, r.name)
                t.cluster_id, t.name, c.site, c.context, t.labels, d.release_id, r.name AS release_name,
                t.run_id, t.updated_at
           FROM deploy_targets t
           JOIN deploy_runs d ON d.run_id = t.run_id
           JOIN releases r ON r.id = d.release_id
           JOIN clusters c ON c.id = t.cluster_id AND c.deregistered_at IS NULL AND c.status <> 'vanished'
          WHERE ${where}
          ORDER BY t.cluster_id, r.name, t.updated_at DESC
       ) x ${after}
       ORDER BY x.cluster_id, x.release_name
       LIMIT $${params.push(filter.limit + 1)}`,
      params,
    );
    const items = rows.slice(0, filter.limit).map((r): DeployedRelease => ({
      target: { id: r.cluster_id, name: r.name, site: r.site, context: r.context, labels: r.labels },
      releaseId: r.release_id,
      releaseName: r.release_name,
      runId: r.run_id,
      deployedAt: r.updated_at.toISOString(),
    }));
    const last = items.at(-1);
    return {
      items,
      next: rows.length > filter.limit && last ? encodeCursor([last.target.id, last.releaseName]) : null,
    };
  },

  /** Keeps the latest check of each (cluster, release name). */
  async recordDriftChecks(checkRunId: string, records: readonly DriftRecord[]): Promise<void> {
    if (records.length === 0) return;
    const params: unknown[] = [tenant, checkRunId];
    const values = records.map(
      (r) =>
        `($1, $${params.push(r.clusterId)}::uuid, $${params.push(r.releaseName)}, $${params.push(r.releaseId)},
          $${params.push(r.deployRunId)}, $${params.push(r.check.status)}, $${params.push(r.check.checked)}::int,
          $${params.push(JSON.stringify(r.check.objects))}::jsonb, $${params.push(r.check.omitted ?? 0)}::int,
          $${params.push(r.check.error)}, now(), $2)`,
    );
    await db.query(
      `INSERT INTO drift_reports (tenant_id, cluster_id, release_name, release_id, deploy_run_id, status, checked,
         objects, omitted, error, checked_at, check_run_id)
       VALUES ${values.join(', ')}
       ON CONFLICT (tenant_id, cluster_id, release_name) DO UPDATE SET
         release_id = EXCLUDED.release_id, deploy_run_id = EXCLUDED.deploy_run_id, status = EXCLUDED.status,
         checked = EXCLUDED.checked, objects = EXCLUDED.objects, omitted = EXCLUDED.omitted, error = EXCLUDED.error,
         checked_at = EXCLUDED.checked_at, check_run_id = EXCLUDED.check_run_id`,
      params,
    );
  },

  /** The latest drift checks of live clusters, by cluster site, name and release name. */
  async listDrift(
    filter: { status?: DriftStatus | undefined; site?: string | undefined; clusterId?: string | undefined },
    page: { limit: number; cursor?: string | undefined },
  ): Promise<{ items: DriftReportRow[]; nextCursor: string | null }> {
    const params: unknown[] = [tenant];
    const where = ['d.tenant_id = $1', 'c.deregistered_at IS NULL'];
    if (filter.status) where.push(`d.status = $${params.push(filter.status)}`);
    if (filter.site) where.push(`c.site = $${params.push(filter.site)}`);
    if (filter.clusterId) where.push(`d.cluster_id = $${params.push(filter.clusterId)}::uuid`);
    if (page.cursor) {
      const [site, name, release] = decodeCursor(page.cursor, 3, 'querystring.cursor');
      where.push(
        `(c.site, c.name, d.release_name) > ($${params.push(site)}, $${params.push(name)}, $${params.push(release)})`,
      );
    }
    const rows = await db.query<{
      cluster_id: string;
      cluster_name: string;
      site: string;
      release_name: string;
      release_id: string;
      deploy_run_id: string;
      status: DriftStatus;
      checked: number;
      objects: DriftCheck['objects'];
      omitted: number;
      error: string | null;
      checked_at: Date;
      check_run_id: string;
    }>(
      `SELECT d.cluster_id, c.name AS cluster_name, c.site, d.release_name, d.release_id, d.deploy_run_id, d.status,
              d.checked, d.objects, d.omitted, d.error, d.checked_at, d.check_run_id
         FROM drift_reports d JOIN clusters c ON c.id = d.cluster_id
        WHERE ${where.join(' AND ')}
        ORDER BY c.site, c.name, d.release_name
        LIMIT $${params.push(page.limit + 1)}`,
      params,
    );
    const items = rows.slice(0, page.limit).map((r): DriftReportRow => ({
      clusterId: r.cluster_id,
      clusterName: r.cluster_name,
      site: r.site,
      releaseName: r.release_name,
      releaseId: r.release_id,
      deployRunId: r.deploy_run_id,
      status: r.status,
      checked: r.checked,
      objects: r.objects,
      omitted: r.omitted,
      error: r.error,
      checkedAt: r.checked_at.toISOString(),
      checkRunId: r.check_run_id,
    }));
    const last = items.at(-1);
    return {
      items,
      nextCursor:
        rows.length > page.limit && last
          ? encodeCursor([last.site, last.clusterName, last.releaseName])
          : null,
    };
  },

  /** Live clusters that carry an expiry (the `expiresAt` field or the TTL label). */
  async clustersWithExpiry(limit: number): Promise<ClusterRow[]> {
    return db.query<ClusterRow>(
      `SELECT id, site, name, context, provider, location, kubernetes_version, endpoint, labels, status,
              status_message, origin, expires_at, created_at, updated_at, last_seen_at
         FROM clusters
        WHERE tenant_id = $1 AND deregistered_at IS NULL AND (expires_at IS NOT NULL OR labels ? $2)
        ORDER BY site, name, id
        LIMIT $3`,
      [tenant, TTL_LABEL, limit],
    );
  },
});

export type MaintenanceStore = ReturnType<typeof createMaintenanceStore>;
