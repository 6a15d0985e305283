import { resolve } from 'node:path';
import { openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import { controlWorkerConfig, embeddedDatabaseUrl, temporalConnection } from '../domain/config.ts';
import { createLogger } from '../runtime/logger.ts';
import { onShutdown } from '../runtime/shutdown.ts';
import { connectWorkerWithRetry, installWorkerRuntime, loadDataConverter } from '../runtime/temporal.ts';
import { createControlWorker } from './control-worker.ts';

const config = controlWorkerConfig(process.env);
const logger = createLogger('control-worker', config.DROVER_LOG_LEVEL);

const db = await openDatabase(config.DATABASE_URL ?? embeddedDatabaseUrl(resolve(config.DROVER_HOME)));
await migrate(db);
installWorkerRuntime(config.DROVER_LOG_LEVEL);
const temporal = temporalConnection(config);
const dataConverter = await loadDataConverter(temporal, { create: true });
const connection = await connectWorkerWithRetry(temporal, logger);
const worker = await createControlWorker({
  connection,
  namespace: temporal.namespace,
  dataConverter,
  db,
  discoveryIntervalSeconds: config.DROVER_DISCOVERY_INTERVAL_SECONDS,
  deployRuns: { shardSize: config.DROVER_DEPLOY_SHARD_SIZE },
});

onShutdown(logger, async () => {
  // shutdown() lets running activities finish; run() below resolves once it has.
  worker.shutdown();
});

logger.info({ taskQueue: worker.options.taskQueue, temporal: temporal.address }, 'control worker started');
await worker.run();
await connection.close();
await db.close();
logger.info('control worker stopped');
