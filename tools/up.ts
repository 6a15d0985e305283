import { mkdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { canConnect, openDatabase } from '../db/database.ts';
import { createSigningKeyStore } from '../db/signing-keys.ts';
import { embeddedDatabaseUrl } from '../domain/config.ts';
import { loadKeyring } from '../runtime/payload-codec.ts';
import { signControlToken } from '../runtime/temporal-credentials.ts';
import { ensureDevCa } from '../sandbox/dev-ca.ts';
import { buildDroverTemporal, portsFrom, writeTemporalAuthzConfig } from '../sandbox/temporal-authz.ts';
import { Supervisor, waitFor } from './supervisor.ts';

/**
 * `make up`: drover on the embedded default, every part a separate supervised process —
 * Temporal dev server, embedded database, API, control worker, and the sandbox sub-manager
 * of site `local`. State lives under DROVER_HOME, so a second `make up` picks up where the
 * first left off. Ctrl-C stops everything.
 *
 * `DROVER_UP_ISOLATED=1 make up`: the same on drover's Temporal server with authorization on
 * (tools/temporal-authz) and TLS from a local CA on every Temporal link: the API and the
 * control worker hold a credential the control plane signs with its own key, site `local` is
 * enrolled through the API and its sub-manager holds only the credential that returns.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const home = resolve(process.env.DROVER_HOME ?? `${root}/.drover`);
const apiHost = process.env.DROVER_API_HOST ?? '127.0.0.1';
const apiPort = Number(process.env.DROVER_API_PORT ?? 8080);
const temporalPort = Number(process.env.DROVER_TEMPORAL_PORT ?? 7233);
const temporalUiPort = Number(process.env.DROVER_TEMPORAL_UI_PORT ?? temporalPort + 1000);
const externalTemporal = process.env.DROVER_TEMPORAL_ADDRESS;
const temporalAddress = externalTemporal ?? `127.0.0.1:${temporalPort}`;
const externalDb = process.env.DATABASE_URL;
const temporalBin = process.env.DROVER_TEMPORAL_BIN ?? 'temporal';
const sandboxClusters = Number(process.env.DROVER_SANDBOX_CLUSTERS ?? 3);
const sandboxBasePort = Number(process.env.DROVER_SANDBOX_BASE_PORT ?? 16440);
/** EKS, GKE and AKS stand-ins offered to site `local` as cloud accounts; 0 turns them off. */
const sandboxClouds = process.env.DROVER_SANDBOX_CLOUDS !== '0';
const sandboxCloudsPort = Number(process.env.DROVER_SANDBOX_CLOUDS_BASE_PORT ?? 16480);
const node = process.execPath;
const isolated = process.env.DROVER_UP_ISOLATED === '1' && !externalTemporal;
const controlNamespace = process.env.DROVER_TEMPORAL_NAMESPACE ?? 'default';

await mkdir(`${home}/logs`, { recursive: true });
await mkdir(`${home}/run`, { recursive: true });

const portOpen = (host: string, port: number) =>
  new Promise<boolean>((done) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });

if (await portOpen(apiHost, apiPort)) {
  console.error(
    `port ${apiHost}:${apiPort} is taken: is drover already up? (set DROVER_API_PORT to use another)`,
  );
  process.exit(1);
}

const supervisor = new Supervisor();
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping drover…');
  await supervisor.stopAll();
  console.log('stopped.');
  process.exit(code);
};
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

// Every process encrypts Temporal payloads with this keyring; made here, before any of them
// starts, so the sub-manager finds it (it never makes keys of its own).
const payloadKeys = process.env.DROVER_PAYLOAD_KEYS ?? `${home}/payload-keys.json`;
await loadKeyring(payloadKeys, { create: true });

// Isolated: a local CA for TLS on every Temporal link, made (once) before anything dials.
const ca = isolated ? ensureDevCa(`${home}/ca`) : undefined;
const sharedEnv = {
  ...(ca ? { DROVER_TEMPORAL_TLS_CA: ca.caPath } : {}),
  DROVER_HOME: home,
  DROVER_PAYLOAD_KEYS: payloadKeys,
  DROVER_TEMPORAL_ADDRESS: temporalAddress,
  // The embedded Temporal answers idle polls every 20 s (below), so 45 s without a poll is a
  // dead sub-manager: sites show offline well within a minute.
  DROVER_SITE_OFFLINE_AFTER_SECONDS:
    process.env.DROVER_SITE_OFFLINE_AFTER_SECONDS ?? (externalTemporal ? undefined : '45'),
};
const nodeArgs = ['--disable-warning=ExperimentalWarning'];

/**
 * drover's Temporal server with authorization on, reading the JWKS the API serves. Started
 * after the API (whose keys it must find); registers the control namespace, then gives the
 * control plane's credential, signed with its key from the database.
 */
const startAuthorizingTemporal = async (apiUrl: string, databaseUrl: string): Promise<string> => {
  console.log('building drover-temporal (the first time takes minutes)…');
  const binary = buildDroverTemporal(root);
  const { configPath } = writeTemporalAuthzConfig({
    dir: `${home}/temporal-authz`,
    jwksUri: `${apiUrl}/.well-known/jwks.json`,
    refreshSeconds: 10,
    ports: portsFrom(temporalPort),
    tls: ca,
  });
  supervisor.add({
    name: 'temporal',
    command: binary,
    args: ['--config', configPath],
    env: { DROVER_NEXUS_CALLERS: `${controlNamespace}-site-*=${controlNamespace}` },
    logFile: `${home}/logs/temporal.log`,
    pidFile: `${home}/run/temporal.pid`,
  });
  await waitFor('temporal', () => portOpen('127.0.0.1', temporalPort), 90_000);
  const db = await openDatabase(databaseUrl);
  const token = signControlToken(await createSigningKeyStore(db).controlKey(), { ttlSeconds: 30 * 86_400 });
  await db.close();
  const connection = await Connection.connect({
    address: temporalAddress,
    apiKey: token,
    tls: { serverRootCACertificate: ca?.ca ?? Buffer.alloc(0) },
  });
  await connection.workflowService
    .registerNamespace({ namespace: controlNamespace, workflowExecutionRetentionPeriod: msToTs('7 days') })
    .catch((err: unknown) => {
      if ((err as { code?: number }).code !== 6) throw err; // a second `make up`: it exists
    });
  await waitFor('control namespace', async () =>
    connection.workflowService.describeNamespace({ namespace: controlNamespace }).then(
      () => true,
      () => false,
    ),
  );
  await connection.close();
  return token;
};

/** Site `local`'s credential, from its enrollment (each `make up` enrolls again: a new key). */
const enrollLocal = async (apiUrl: string): Promise<string> => {
  const admin = (await readFile(`${home}/admin.token`, 'utf8')).trim();
  const res = await fetch(`${apiUrl}/v1/sites/local/enroll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ description: 'sandbox site on this machine' }),
  });
  if (res.status !== 201) throw new Error(`enrolling site local: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { temporalToken: string }).temporalToken;
};

try {
  if (!externalTemporal && !isolated) {
    supervisor.add({
      name: 'temporal',
      command: temporalBin,
      args: [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(temporalPort),
        '--ui-port',
        String(temporalUiPort),
        '--db-filename',
        `${home}/temporal.db`,
        '--sqlite-pragma',
        'journal_mode=WAL',
        '--dynamic-config-value',
        'matching.longPollExpirationInterval="20s"',
        '--log-level',
        'warn',
      ],
      logFile: `${home}/logs/temporal.log`,
      pidFile: `${home}/run/temporal.pid`,
    });
    await waitFor('temporal', () => portOpen('127.0.0.1', temporalPort), 90_000);
  }

  if (!externalDb) {
    supervisor.add({
      name: 'database',
      command: node,
      args: [...nodeArgs, `${root}/db/embedded-server.ts`],
      env: sharedEnv,
      logFile: `${home}/logs/database.log`,
      pidFile: `${home}/run/database.pid`,
    });
    await waitFor('embedded database', () => canConnect(embeddedDatabaseUrl(home)), 60_000);
  }

  const apiUrl = `http://${apiHost}:${apiPort}`;
  let controlToken: string | undefined;
  if (isolated) {
    // The API first, without a Temporal credential yet: the server reads its keys from it. It
    // is started again below, with the control plane's credential.
    const bootstrap = supervisor.add({
      name: 'api-keys',
      command: node,
      args: [...nodeArgs, `${root}/api/server.ts`],
      env: { ...sharedEnv, DROVER_API_HOST: apiHost, DROVER_API_PORT: String(apiPort) },
      logFile: `${home}/logs/api-keys.log`,
      pidFile: `${home}/run/api-keys.pid`,
    });
    await waitFor(
      'api keys',
      async () => (await fetch(`${apiUrl}/.well-known/jwks.json`).catch(() => null))?.ok === true,
      90_000,
    );
    controlToken = await startAuthorizingTemporal(apiUrl, externalDb ?? embeddedDatabaseUrl(home));
    await bootstrap.stop();
  }
  const controlEnv = { ...sharedEnv, ...(controlToken ? { DROVER_TEMPORAL_TOKEN: controlToken } : {}) };
  supervisor.add({
    name: 'api',
    command: node,
    args: [...nodeArgs, `${root}/api/server.ts`],
    env: { ...controlEnv, DROVER_API_HOST: apiHost, DROVER_API_PORT: String(apiPort) },
    logFile: `${home}/logs/api.log`,
    pidFile: `${home}/run/api.pid`,
    echo: process.env.DROVER_UP_QUIET !== '1',
  });
  supervisor.add({
    name: 'control-worker',
    command: node,
    args: [...nodeArgs, `${root}/workers/main.ts`],
    env: controlEnv,
    logFile: `${home}/logs/control-worker.log`,
    pidFile: `${home}/run/control-worker.pid`,
  });
  // Site `local`'s clusters: real API servers whose kubeconfig only its sub-manager reads.
  let localKubeconfig: string | undefined;
  if (sandboxClusters > 0) {
    const kube = supervisor.add({
      name: 'sandbox-kube',
      command: node,
      args: [
        ...nodeArgs,
        `${root}/sandbox/kube-env-cli.ts`,
        '--clusters',
        String(sandboxClusters),
        '--dir',
        `${home}/sandbox/kube`,
        '--base-port',
        String(sandboxBasePort),
        '--prefix',
        'local',
      ],
      logFile: `${home}/logs/sandbox-kube.log`,
      pidFile: `${home}/run/sandbox-kube.pid`,
      // Its JSON line names tokens: keep it in the log file, off the terminal.
      echo: false,
    });
    console.log(`starting ${sandboxClusters} sandbox Kubernetes API servers for site local (a few seconds)…`);
    await kube.waitForLine(/API servers up/, 300_000);
    localKubeconfig = `${home}/sandbox/kube/kubeconfig.yaml`;
  }

  // Site `local`'s cloud accounts: sandbox EKS, GKE and AKS, written to a clouds file only
  // its sub-manager reads.
  let localClouds: string | undefined;
  if (sandboxClouds) {
    const cloudsFile = `${home}/sandbox/clouds/clouds.json`;
    const clouds = supervisor.add({
      name: 'sandbox-clouds',
      command: node,
      args: [
        ...nodeArgs,
        `${root}/sandbox/clouds/main.ts`,
        '--dir',
        `${home}/sandbox/clouds`,
        '--clouds-file',
        cloudsFile,
        '--base-port',
        String(sandboxCloudsPort),
      ],
      env: sharedEnv,
      logFile: `${home}/logs/sandbox-clouds.log`,
      pidFile: `${home}/run/sandbox-clouds.pid`,
      echo: false,
    });
    await clouds.waitForLine(/sandbox clouds up/, 60_000);
    localClouds = cloudsFile;
  }

  await waitFor('api', async () => (await fetch(`${apiUrl}/readyz`).catch(() => null))?.ok === true, 90_000);
  const siteToken = isolated ? await enrollLocal(apiUrl) : undefined;
  supervisor.add({
    name: 'site/local',
    command: node,
    args: [...nodeArgs, `${root}/sub-manager/main.ts`],
    env: {
      ...sharedEnv,
      ...(siteToken ? { DROVER_TEMPORAL_TOKEN: siteToken } : {}),
      DROVER_SITE: 'local',
      DROVER_SITE_DESCRIPTION: 'sandbox site on this machine',
      ...(localKubeconfig ? { DROVER_KUBECONFIG: localKubeconfig } : {}),
      ...(localClouds ? { DROVER_CLOUDS_FILE: localClouds } : {}),
    },
    logFile: `${home}/logs/sub-manager-local.log`,
    pidFile: `${home}/run/sub-manager-local.pid`,
  });

  const token = (
    await readFile(`${home}/admin.token`, 'utf8').catch(() => '(set by DROVER_ADMIN_TOKEN)')
  ).trim();
  console.log(
    [
      '',
      'drover is up.',
      `  API          ${apiUrl}`,
      `  API docs     ${apiUrl}/docs`,
      externalTemporal
        ? `  Temporal     ${externalTemporal}`
        : isolated
          ? `  Temporal     ${temporalAddress} (authorization on, TLS: CA ${ca?.caPath}); site local holds only its enrollment's credential`
          : `  Temporal UI  http://127.0.0.1:${temporalUiPort}`,
      `  admin token  ${token}   (also in ${home}/admin.token)`,
      `  logs         ${home}/logs/`,
      ...(localKubeconfig
        ? [
            `  site local   ${sandboxClusters} clusters (kubeconfig for the sub-manager only: ${localKubeconfig})`,
          ]
        : []),
      ...(localClouds
        ? [
            '  site local   cloud accounts sandbox-eks, sandbox-gke, sandbox-aks (local stand-ins; see README: Managed clusters)',
          ]
        : []),
      '',
      `  try: curl -H "Authorization: Bearer $(cat ${home}/admin.token)" ${apiUrl}/v1/sites`,
      '',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
} catch (err) {
  console.error(`drover failed to start: ${(err as Error).message} (see ${home}/logs/)`);
  await stop(1);
}
