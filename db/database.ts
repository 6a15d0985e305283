import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';

/**
 * The one database seam. Postgres in production, PGlite embedded; both speak the same SQL and
 * run the same migrations. `pglite://DIR` (or `pglite://memory`) opens PGlite in this process,
 * which only one process may do; several processes share an embedded PGlite through the
 * socket server in db/embedded-server.ts, reached with an ordinary postgres:// URL.
 */
export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction on one connection; rolls back if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface Queryable {
  query<R extends object = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

const PGLITE_SCHEME = 'pglite://';

export const openDatabase = async (url: string): Promise<Db> =>
  url.startsWith(PGLITE_SCHEME) ? openPglite(url.slice(PGLITE_SCHEME.length)) : openPostgres(url);

export const openPglite = async (dir: string): Promise<Db> => {
  const db = await PGlite.create(dir === 'memory' || dir === '' ? undefined : dir);
  return pgliteDb(db);
};

export const pgliteDb = (db: PGlite): Db => ({
  kind: 'pglite',
  query: async <R extends object>(sql: string, params?: unknown[]) => (await db.query<R>(sql, params)).rows,
  exec: async (sql: string) => {
    await db.exec(sql);
  },
  transaction: async <T>(fn: (tx: Queryable) => Promise<T>) =>
    db.transaction(async (tx) =>
      fn({
        query: async <R extends object>(sql: string, params?: unknown[]) =>
          (await tx.query<R>(sql, params)).rows,
        exec: async (sql: string) => {
          await tx.exec(sql);
        },
      }),
    ),
  close: async () => {
    await db.close();
  },
});

const openPostgres = async (url: string): Promise<Db> => {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', () => undefined);
  const query = async <R extends object>(sql: string, params?: unknown[]): Promise<R[]> =>
    (await pool.query<R & pg.QueryResultRow>(sql, params)).rows;
  return {
    kind: 'postgres',
    query,
    exec: async (sql: string) => {
      await pool.query(sql);
    },
    transaction: async <T>(fn: (tx: Queryable) => Promise<T>) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn({
          query: async <R extends object>(sql: string, params?: unknown[]) =>
            (await client.query<R & pg.QueryResultRow>(sql, params)).rows,
          exec: async (sql: string) => {
            await client.query(sql);
          },
        });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
};

/** True when a Postgres-protocol server answers at `url` (used to wait for one to start). */
export const canConnect = async (url: string): Promise<boolean> => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
};
