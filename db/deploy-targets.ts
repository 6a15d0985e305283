import type { Db } from './database.ts';
import { DEFAULT_TENANT } from './sites.ts';
import type { DeployTarget, TargetProgress, TargetState } from '../domain/deployments.ts';

/** A stored target: its reference, where it sits in the run and how it ended. */
export type DeployTargetRow = {
  position: number;
  wave: number;
  target: DeployTarget;
  doneBefore: boolean;
  /**
   * The earlier run that touched this target (finished it, or died while applying it): its
   * snapshot holds the state from before the deployment, the one a rollback restores.
   */
  appliedBy: string | null;
  state: TargetState;
  attempts: number;
  lastError: string | null;
  changed: number | null;
};

export type TargetOutcome = {
  position: number;
  state: TargetState;
  attempts: number;
  lastError: string | null;
  changed: number | null;
};

type Row = {
  position: number;
  wave: number;
  cluster_id: string;
  name: string;
  site: string;
  context: string;
  labels: Record<string, string>;
  done_before: boolean;
  applied_by: string | null;
  state: TargetState;
  attempts: number;
  last_error: string | null;
  changed: number | null;
};

const toRow = (r: Row): DeployTargetRow => ({
  position: r.position,
  wave: r.wave,
  target: { id: r.cluster_id, name: r.name, site: r.site, context: r.context, labels: r.labels },
  doneBefore: r.done_before,
  appliedBy: r.applied_by,
  state: r.state,
  attempts: r.attempts,
  lastError: r.last_error,
  changed: r.changed,
});

/** Rows per INSERT or UPDATE statement: well under Postgres' 65,535 parameters. */
const BATCH = 500;

/**
 * The targets of deploy runs. The API writes a run's plan before starting it; shards read
 * their range and record outcomes; a successor run is planned from its predecessor's rows.
 */
export const createDeployTargetStore = (db: Db, tenant = DEFAULT_TENANT) => ({
  /**
   * Stores the planned waves in order; positions count from 0 across waves. `doneBefore` maps
   * each target an earlier run finished to that run's id.
   */
  async savePlan(
    runId: string,
    waves: readonly DeployTarget[][],
    doneBefore: ReadonlyMap<string, string>,
    snapshotRuns: ReadonlyMap<string, string> = new Map(),
  ) {
    const rows = waves.flatMap((wave, w) => wave.map((t) => ({ wave: w, t })));
    await db.transaction(async (tx) => {
      for (let start = 0; start < rows.length; start += BATCH) {
        const chunk = rows.slice(start, start + BATCH);
        const params: unknown[] = [runId, tenant];
        const values = chunk.map(({ wave, t }, i) => {
          params.push(
            start + i,
            wave,
            t.id,
            t.name,
            t.site,
            t.context,
            JSON.stringify(t.labels),
            doneBefore.has(t.id),
            doneBefore.get(t.id) ?? snapshotRuns.get(t.id) ?? null,
          );
          const b = 2 + i * 9;
          return `($1, $2, $${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}::jsonb, $${b + 8}, $${b + 9})`;
        });
        await tx.query(
          `INSERT INTO deploy_targets
             (run_id, tenant_id, position, wave, cluster_id, name, site, context, labels, done_before, applied_by)
           VALUES ${values.join(', ')}`,
          params,
        );
      }
    });
  },

  /** Targets at positions [from, to), in order. */
  async range(runId: string, from: number, to: number): Promise<DeployTargetRow[]> {
    const rows = await db.query<Row>(
      `SELECT position, wave, cluster_id, name, site, context, labels, done_before, applied_by, state, attempts, last_error, changed
         FROM deploy_targets
        WHERE tenant_id = $1 AND run_id = $2 AND position >= $3 AND position < $4
        ORDER BY position`,
      [tenant, runId, from, to],
    );
    return rows.map(toRow);
  },

  /** Every target of a run in order, each wave a list: what a successor is planned from. */
  async plan(runId: string): Promise<DeployTargetRow[]> {
    return this.range(runId, 0, 2 ** 31 - 1);
  },

  async recordOutcomes(runId: string, outcomes: readonly TargetOutcome[]): Promise<void> {
    for (let start = 0; start < outcomes.length; start += BATCH) {
      const chunk = outcomes.slice(start, start + BATCH);
      const params: unknown[] = [tenant, runId];
      const values = chunk.map((o, i) => {
        params.push(o.position, o.state, o.attempts, o.lastError, o.changed);
        const b = 2 + i * 5;
        return `($${b + 1}::int, $${b + 2}::text, $${b + 3}::int, $${b + 4}::text, $${b + 5}::int)`;
      });
      await db.query(
        `UPDATE deploy_targets AS d
            SET state = o.state, attempts = o.attempts, last_error = o.last_error, changed = o.changed,
                updated_at = now()
           FROM (VALUES ${values.join(', ')}) AS o (position, state, attempts, last_error, changed)
          WHERE d.tenant_id = $1 AND d.run_id = $2 AND d.position = o.position`,
        params,
      );
    }
  },

  /** Failed targets in [from, to) become skipped: a person chose to go on without them. */
  async skipFailed(runId: string, from: number, to: number): Promise<void> {
    await db.query(
      `UPDATE deploy_targets SET state = 'skipped', updated_at = now()
        WHERE tenant_id = $1 AND run_id = $2 AND position >= $3 AND position < $4 AND state = 'failed'`,
      [tenant, runId, from, to],
    );
  },

  /**
   * A page of a run's targets by position, optionally in one state and only inside (or only
   * outside) the positions [from, to).
   */
  async list(
    runId: string,
    filter: {
      state?: TargetState | undefined;
      positions?: { from: number; to: number; inside: boolean } | undefined;
    },
    page: { limit: number; after?: number | undefined },
  ): Promise<{ total: number; items: (TargetProgress & { position: number })[]; next: number | null }> {
    const params: unknown[] = [tenant, runId];
    let where = 'tenant_id = $1 AND run_id = $2';
    if (filter.state) {
      params.push(filter.state);
      where += ` AND state = $${params.length}`;
    }
    if (filter.positions) {
      const { from, to, inside } = filter.positions;
      params.push(from, to);
      const range = `position >= $${params.length - 1} AND position < $${params.length}`;
      where += inside ? ` AND ${range}` : ` AND NOT (${range})`;
    }
    const [count] = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM deploy_targets WHERE ${where}`,
      [...params],
    );
    params.push(page.after ?? -1, page.limit + 1);
    const rows = await db.query<Row>(
      `SELECT position, wave, cluster_id, name, site, context, labels, done_before, applied_by, state, attempts, last_error, changed
         FROM deploy_targets WHERE ${where} AND position > $${params.length - 1}
        ORDER BY position LIMIT $${params.length}`,
      params,
    );
    const items = rows.slice(0, page.limit).map((r) => ({
      position: r.position,
      id: r.cluster_id,
      name: r.name,
      site: r.site,
      wave: r.wave,
      state: r.state,
      attempts: r.attempts,
      lastError: r.last_error,
      changed: r.changed,
    }));
    return {
      total: count?.n ?? 0,
      items,
      next: rows.length > page.limit ? (items.at(-1)?.position ?? null) : null,
    };
  },
});

export type DeployTargetStore = ReturnType<typeof createDeployTargetStore>;
