import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Db, Queryable } from './database.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
// Arbitrary but fixed: serialises migrations when several replicas start at once.
const MIGRATION_LOCK_KEY = 4_242_001;

export type Migration = { version: string; sql: string };

export const loadMigrations = async (dir = MIGRATIONS_DIR): Promise<Migration[]> => {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  return Promise.all(
    files.map(async (f) => ({
      version: f.replace(/\.sql$/, ''),
      sql: await readFile(`${dir}/${f}`, 'utf8'),
    })),
  );
};

const appliedVersions = async (db: Queryable): Promise<Set<string> | undefined> => {
  try {
    const rows = await db.query<{ version: string }>('SELECT version FROM schema_migrations');
    return new Set(rows.map((r) => r.version));
  } catch {
    return undefined; // not created yet
  }
};

/**
 * Applies every migration not yet applied, in one transaction, and returns the versions it
 * applied. Safe to call from every process at start-up: the common case (nothing to do) is a
 * single read, and on Postgres concurrent callers queue on an advisory lock.
 */
export const migrate = async (db: Db, migrations?: Migration[]): Promise<string[]> => {
  const all = migrations ?? (await loadMigrations());
  const pending = (applied: Set<string> | undefined) => all.filter((m) => !applied?.has(m.version));
  if (pending(await appliedVersions(db)).length === 0) return [];

  const done: string[] = [];
  await db.transaction(async (tx) => {
    if (db.kind === 'postgres') await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.exec(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version text PRIMARY KEY,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    for (const m of pending(await appliedVersions(tx))) {
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version) VALUES ($1)', [m.version]);
      done.push(m.version);
    }
  });
  return done;
};
