import { mkdir, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { pgliteDb } from './database.ts';
import { migrate } from './migrate.ts';

/**
 * The embedded default database: PGlite persisted under DROVER_HOME/pgdata, served over the
 * Postgres wire protocol on a unix socket (DROVER_HOME/db/.s.PGSQL.5432) so that the API and
 * the control worker, separate processes, reach it exactly as they would reach Postgres.
 */
const home = resolve(process.env.DROVER_HOME ?? '.drover');
const socketDir = `${home}/db`;
const socketPath = `${socketDir}/.s.PGSQL.5432`;

await mkdir(socketDir, { recursive: true });
// A socket file left by a killed server would make listen() fail with EADDRINUSE.
await rm(socketPath, { force: true });

const pglite = await PGlite.create(`${home}/pgdata`);
const applied = await migrate(pgliteDb(pglite));
const server = new PGLiteSocketServer({ db: pglite, path: socketPath, maxConnections: 64 });
await server.start();
console.log(
  JSON.stringify({ msg: 'embedded database ready', socket: socketPath, migrationsApplied: applied }),
);

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(JSON.stringify({ msg: 'embedded database stopping', signal }));
  await server.stop();
  await pglite.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
