import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { newKeyring, serializeKeyring } from '../../runtime/payload-codec.ts';
import { startPostgres, startTemporal } from './services.ts';

/**
 * Starts the services every suite shares — one Temporal dev server, one PostgreSQL server —
 * and hands their addresses to the test workers through the environment.
 */
export default async function globalSetup(): Promise<void> {
  const logDir = fileURLToPath(new URL('../../.tools/test-logs/', import.meta.url));
  mkdirSync(logDir, { recursive: true });
  const [temporal, postgres] = await Promise.all([startTemporal(logDir), startPostgres(logDir)]);
  process.env.DROVER_TEST_TEMPORAL_ADDRESS = temporal.address;
  process.env.DROVER_TEST_POSTGRES_URL = postgres.url();
  process.env.DROVER_TEST_LOG_DIR = logDir;
  // One payload keyring for the whole run: every client, worker and drover process encrypts.
  const keys = `${logDir}payload-keys.json`;
  writeFileSync(keys, serializeKeyring(newKeyring()), { mode: 0o600 });
  process.env.DROVER_TEST_PAYLOAD_KEYS = keys;
  (globalThis as Record<string, unknown>).__droverServices = [temporal.process, postgres.process];
}
