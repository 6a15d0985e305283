import { resolve } from 'node:path';
import { Client, WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/client';
import { createSiteActivities, defaultSiteIdentity } from '../activities/site/index.ts';
import { createCloudAccounts, readCloudAccountsFile } from '../clouds/accounts.ts';
import { cloudProviderFactories } from '../clouds/factories.ts';
import { subManagerConfig, temporalConnection } from '../domain/config.ts';
import { runIdFor } from '../domain/runs.ts';
import { siteNamespace } from '../domain/site-link.ts';
import { CONTROL_TASK_QUEUE, siteTaskQueue } from '../domain/task-queues.ts';
import { createLogger } from '../runtime/logger.ts';
import { onShutdown } from '../runtime/shutdown.ts';
import { connectWorkerWithRetry, installWorkerRuntime, loadDataConverter } from '../runtime/temporal.ts';
import { ensureSiteLink } from '../runtime/site-link.ts';
import { DROVER_VERSION } from '../runtime/version.ts';
import { createSiteWorker } from '../workers/site-worker.ts';

/**
 * The sub-manager: a worker inside a site. It only ever dials out to Temporal, polls its
 * site's queue in its site's own namespace and keeps the site's credentials to itself.
 */
/** gRPC status of a call the credential does not allow. */
const PERMISSION_DENIED = 7;

const config = subManagerConfig(process.env);
const site = config.DROVER_SITE;
const logger = createLogger('sub-manager', config.DROVER_LOG_LEVEL).child({ site });
installWorkerRuntime(config.DROVER_LOG_LEVEL);
const temporal = temporalConnection(config);
const identity = defaultSiteIdentity(site);

// The site is handed its payload keys, like its Temporal credential; it never makes its own.
const dataConverter = await loadDataConverter(temporal);
const connection = await connectWorkerWithRetry(temporal, logger);
// The control namespace, only for announcing the site on a setup without authorization.
const control = new Client({ connection, namespace: temporal.namespace, dataConverter });
const namespace = siteNamespace(temporal.namespace, site);
// Enrollment made the site's namespace and endpoint; a setup without authorization (the
// embedded default) has no enrollment, so the site makes them. With a site credential it only
// finds what enrollment made (making them is refused to it).
await ensureSiteLink(control.connection, temporal.namespace, site).catch((err: unknown) =>
  logger.debug({ err: (err as Error).message }, 'site link not made here (enrollment makes it)'),
);
const client = new Client({ connection, namespace, dataConverter });
const stateDir = resolve(config.DROVER_SITE_STATE_DIR ?? `${config.DROVER_HOME}/sites/${site}`);
// Cloud accounts and their credentials stay in this process; workflows only ever name them.
const cloudsFile = resolve(config.DROVER_CLOUDS_FILE ?? `${stateDir}/clouds.json`);
const cloudAccounts = await readCloudAccountsFile(cloudsFile);
const clouds = createCloudAccounts(cloudAccounts, cloudProviderFactories);
const worker = await createSiteWorker({
  connection,
  controlNamespace: temporal.namespace,
  site,
  dataConverter,
  identity,
  maxConcurrentActivityTaskExecutions: config.DROVER_SITE_CONCURRENCY,
  activities: createSiteActivities({
    site,
    identity,
    version: DROVER_VERSION,
    kubeconfigPath: config.DROVER_KUBECONFIG && resolve(config.DROVER_KUBECONFIG),
    stateDir,
    clouds,
    temporal: client,
  }),
});

onShutdown(logger, async () => {
  worker.shutdown();
});

// Announce the site through Temporal (the site has no path to the database). If an earlier
// check-in is still waiting for the control worker, join it instead of piling up another.
// With a site credential the control namespace is out of reach: enrollment started the
// check-in, which waits for this site's first answer.
await control.workflow
  .start('siteCheckInWorkflow', {
    taskQueue: CONTROL_TASK_QUEUE,
    workflowId: runIdFor('site-check-in', site),
    args: [{ site, description: config.DROVER_SITE_DESCRIPTION, version: DROVER_VERSION }],
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
  })
  .catch((err: unknown) =>
    (err as { cause?: { code?: number } }).cause?.code === PERMISSION_DENIED
      ? logger.info('site check-in is the control plane’s (enrollment started it)')
      : logger.warn({ err }, 'site check-in could not be started'),
  );

logger.info(
  { namespace, taskQueue: siteTaskQueue(site), identity, temporal: temporal.address, clouds: clouds.names() },
  'sub-manager started',
);
await worker.run();
await connection.close();
logger.info('sub-manager stopped');
