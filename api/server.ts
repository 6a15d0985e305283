import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import { apiConfig, embeddedDatabaseUrl, temporalConnection } from '../domain/config.ts';
import { createLogger } from '../runtime/logger.ts';
import { onShutdown } from '../runtime/shutdown.ts';
import { createTemporalClient, loadDataConverter } from '../runtime/temporal.ts';
import { buildApp } from './app.ts';
import { createTokenStore } from './auth.ts';

const config = apiConfig(process.env);
const logger = createLogger('api', config.DROVER_LOG_LEVEL);
const home = resolve(config.DROVER_HOME);

const db = await openDatabase(config.DATABASE_URL ?? embeddedDatabaseUrl(home));
await migrate(db);

const created = await createTokenStore(db).ensureAdmin(config.DROVER_ADMIN_TOKEN);
if (created) {
  await mkdir(home, { recursive: true });
  await writeFile(`${home}/admin.token`, `${created}\n`, { mode: 0o600 });
  logger.info({ file: `${home}/admin.token` }, 'created the admin token');
}

const temporalConfig = temporalConnection(config);
const temporal = await createTemporalClient(
  temporalConfig,
  await loadDataConverter(temporalConfig, { create: true }),
);
const https =
  config.DROVER_API_TLS_CERT && config.DROVER_API_TLS_KEY
    ? { cert: await readFile(config.DROVER_API_TLS_CERT), key: await readFile(config.DROVER_API_TLS_KEY) }
    : undefined;
const app = await buildApp({
  https,
  db,
  temporal,
  siteOfflineAfterMs: config.DROVER_SITE_OFFLINE_AFTER_SECONDS * 1000,
  deployRuns: { shardSize: config.DROVER_DEPLOY_SHARD_SIZE },
  codecCorsOrigins: config.DROVER_CODEC_CORS_ORIGINS,
  logger,
});

onShutdown(logger, async () => {
  // close() stops accepting connections and waits for in-flight requests.
  await app.close();
  await temporal.connection.close();
  await db.close();
});

await app.listen({ host: config.DROVER_API_HOST, port: config.DROVER_API_PORT });
