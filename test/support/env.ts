import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { openDatabase, openPglite, type Db } from '../../db/database.ts';
import { migrate } from '../../db/migrate.ts';
import { encryptedDataConverter, parseKeyring } from '../../runtime/payload-codec.ts';
import { spawnGuarded, waitUntil } from './services.ts';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const required = (name: string): string => {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is unset: run the tests through jest (global setup starts the services)`);
  return value;
};

export const temporalAddress = (): string => required('DROVER_TEST_TEMPORAL_ADDRESS');
export const postgresUrl = (): string => required('DROVER_TEST_POSTGRES_URL');
export const logDir = (): string => required('DROVER_TEST_LOG_DIR');

/** A short random suffix, so suites sharing one Temporal server never collide on names. */
export const uniq = (): string => randomBytes(4).toString('hex');

/** A new, empty database on the shared test Postgres server, migrated. */
export const freshPostgres = async (): Promise<{ db: Db; url: string }> => {
  const name = `t_${uniq()}`;
  const admin = new pg.Client({ connectionString: postgresUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = postgresUrl().replace('/postgres?', `/${name}?`);
  const db = await openDatabase(url);
  await migrate(db);
  return { db, url };
};

export const freshPglite = async (): Promise<Db> => {
  const db = await openPglite('memory');
  await migrate(db);
  return db;
};

/**
 * Each jest worker gets its own Temporal namespace (made by the global setup), so the control
 * workers of suites running side by side never pick up each other's workflows.
 */
export const testNamespace = (): string => `drover-test-${process.env.JEST_WORKER_ID ?? '1'}`;

/** The payload keyring every test client, worker and drover process shares (global setup writes it). */
export const payloadKeysPath = (): string => required('DROVER_TEST_PAYLOAD_KEYS');

let converter: DataConverter | undefined;
/** The encrypting converter drover's processes run with, from the shared test keyring. */
export const testDataConverter = (): DataConverter =>
  (converter ??= encryptedDataConverter(
    parseKeyring(readFileSync(payloadKeysPath(), 'utf8'), payloadKeysPath()),
  ));

export const temporalClient = async (): Promise<Client> =>
  new Client({
    connection: await Connection.connect({ address: temporalAddress() }),
    namespace: testNamespace(),
    dataConverter: testDataConverter(),
  });

/** Starts one of drover's own processes (`workers/main.ts`, `sub-manager/main.ts`, …). */
export const startDroverProcess = (entry: string, name: string, env: Record<string, string>): ChildProcess =>
  spawnGuarded(process.execPath, ['--disable-warning=ExperimentalWarning', join(repoRoot, entry)], {
    env: {
      ...process.env,
      DROVER_TEMPORAL_ADDRESS: temporalAddress(),
      DROVER_TEMPORAL_NAMESPACE: testNamespace(),
      DROVER_PAYLOAD_KEYS: payloadKeysPath(),
      DROVER_LOG_LEVEL: 'info',
      ...env,
    },
    logFile: join(logDir(), `${name}.log`),
    cwd: repoRoot,
  });

export const stopProcess = (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });

export { waitUntil };
