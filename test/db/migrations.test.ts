import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { canConnect, openDatabase, openPglite, type Db } from '../../db/database.ts';
import { loadMigrations, migrate } from '../../db/migrate.ts';
import { createTokenStore } from '../../api/auth.ts';
import {
  freshPostgres,
  postgresUrl,
  startDroverProcess,
  stopProcess,
  uniq,
  waitUntil,
} from '../support/env.ts';

const opened: Db[] = [];
afterAll(async () => {
  await Promise.all(opened.map((db) => db.close()));
});

const createEmptyPostgres = async (): Promise<string> => {
  const name = `m_${uniq()}`;
  const admin = new pg.Client({ connectionString: postgresUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return postgresUrl().replace('/postgres?', `/${name}?`);
};

const tables = async (db: Db) =>
  (
    await db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
    )
  ).map((r) => r.table_name);

const backends: [string, () => Promise<Db>][] = [
  ['postgres', async () => openDatabase(await createEmptyPostgres())],
  ['pglite', () => openPglite('memory')],
];

describe.each(backends)('migrations on %s', (_kind, open) => {
  it('apply once, then find nothing to do', async () => {
    const db = await open();
    opened.push(db);
    const all = (await loadMigrations()).map((m) => m.version);
    expect(all.length).toBeGreaterThan(0);
    expect(await migrate(db)).toEqual(all);
    expect(await migrate(db)).toEqual([]);
    expect(await tables(db)).toEqual(
      expect.arrayContaining(['api_tokens', 'schema_migrations', 'sites', 'tenants']),
    );
    expect(await db.query('SELECT id FROM tenants')).toEqual([{ id: 'default' }]);
  });

  it('roll a failing migration back whole', async () => {
    const db = await open();
    opened.push(db);
    await expect(
      migrate(db, [
        { version: '0001_ok', sql: 'CREATE TABLE a (x int);' },
        { version: '0002_broken', sql: 'CREATE TABLE b (x int); SELECT * FROM no_such_table;' },
      ]),
    ).rejects.toThrow(/no_such_table/);
    expect(await tables(db)).toEqual([]);
  });

  it('store tokens hashed, never in clear', async () => {
    const db = await open();
    opened.push(db);
    await migrate(db);
    const tokens = createTokenStore(db);
    const created = await tokens.ensureAdmin();
    expect(created).toMatch(/^drv_/);
    expect(await tokens.ensureAdmin()).toBeUndefined();
    const rows = await db.query<{ token_hash: string }>('SELECT token_hash FROM api_tokens');
    expect(rows).toHaveLength(1);
    expect(rows[0]?.token_hash).not.toContain(created);
    expect((await tokens.authenticate(created ?? ''))?.role).toBe('admin');
    expect(await tokens.authenticate('drv_wrong')).toBeUndefined();
  });
});

describe('migrations on postgres', () => {
  it('serialise replicas that start together', async () => {
    const url = await createEmptyPostgres();
    const dbs = await Promise.all([openDatabase(url), openDatabase(url), openDatabase(url)]);
    opened.push(...dbs);
    const results = await Promise.all(dbs.map((db) => migrate(db)));
    expect(results.flat().sort()).toEqual((await loadMigrations()).map((m) => m.version));
  });
});

describe('the embedded database server', () => {
  it('serves PGlite to several clients over the Postgres protocol and keeps data across restarts', async () => {
    const home = mkdtempSync(join(tmpdir(), 'drover-home-'));
    const url = `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(`${home}/db`)}`;
    const start = async () => {
      const child = startDroverProcess('db/embedded-server.ts', `embedded-db-${uniq()}`, {
        DROVER_HOME: home,
      });
      await waitUntil('embedded database', () => canConnect(url), 30_000);
      return child;
    };
    let server = await start();
    const a = await openDatabase(url);
    const b = await openDatabase(url);
    await a.query(`INSERT INTO sites (tenant_id, name) VALUES ('default', 'kept')`);
    const [fromA, fromB] = await Promise.all([
      a.query('SELECT name FROM sites'),
      b.query('SELECT name FROM sites'),
    ]);
    expect(fromA).toEqual([{ name: 'kept' }]);
    expect(fromB).toEqual([{ name: 'kept' }]);
    await Promise.all([a.close(), b.close()]);
    await stopProcess(server);

    server = await start();
    const c = await openDatabase(url);
    expect(await c.query('SELECT name FROM sites')).toEqual([{ name: 'kept' }]);
    expect(await migrate(c)).toEqual([]);
    await c.close();
    await stopProcess(server);
  }, 90_000);
});

// Keeps freshPostgres exercised here too: the helper other suites rely on must migrate.
it('freshPostgres gives a migrated database', async () => {
  const { db } = await freshPostgres();
  opened.push(db);
  expect(await migrate(db)).toEqual([]);
});
