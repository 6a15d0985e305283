import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { buildApp, type App } from '../../api/app.ts';
import { createTokenStore } from '../../api/auth.ts';
import type { Db } from '../../db/database.ts';
import { createSigningKeyStore } from '../../db/signing-keys.ts';
import {
  jwksDocument,
  publicJwk,
  signControlToken,
  type SigningKey,
} from '../../runtime/temporal-credentials.ts';
import type { DevCa } from '../../sandbox/dev-ca.ts';
import { buildDroverTemporal, writeTemporalAuthzConfig } from '../../sandbox/temporal-authz.ts';
import { repoRoot, testDataConverter } from './env.ts';
import { freePort, spawnGuarded, temporalServing, waitUntil } from './services.ts';

/**
 * A real Temporal server with authorization on (sandbox/temporal-authz.ts), on SQLite in `dir`,
 * on free ports. It trusts the signing keys of the JWKS at `jwksUri` (drover's API, or a file)
 * and re-reads it every `refreshSeconds`. Health checks need no token; everything else does.
 */
export type AuthorizedTemporal = { address: string; process: ChildProcess; stop: () => Promise<void> };

export const startAuthorizedTemporal = async (opts: {
  dir: string;
  jwksUri: string;
  refreshSeconds: number;
  logFile: string;
  /** The frontend's port, when a client must know it before the server starts. */
  grpcPort?: number;
  /** Who may call which Nexus endpoints (DROVER_NEXUS_CALLERS, tools/temporal-authz/nexus_callers.go). */
  nexusCallers?: string;
  /** Serve the frontend over TLS with this CA's server certificate (sandbox/dev-ca.ts). */
  tls?: DevCa;
  /** false: check no credential (the same server and storage, to measure what checking costs). */
  authorization?: boolean;
}): Promise<AuthorizedTemporal> => {
  const [free, http, internal, internalHttp, history, matching, worker, m0, m1, m2, m3, m4] =
    await Promise.all(Array.from({ length: 12 }, () => freePort()));
  const { configPath, address } = writeTemporalAuthzConfig({
    dir: opts.dir,
    jwksUri: opts.jwksUri,
    refreshSeconds: opts.refreshSeconds,
    tls: opts.tls,
    ...(opts.authorization === undefined ? {} : { authorization: opts.authorization }),
    ports: {
      grpc: opts.grpcPort ?? (free as number),
      http: http as number,
      internal: internal as number,
      internalHttp: internalHttp as number,
      history: history as number,
      matching: matching as number,
      worker: worker as number,
      membership: [m0, m1, m2, m3, m4] as [number, number, number, number, number],
    },
  });
  const child = spawnGuarded(buildDroverTemporal(repoRoot), ['--config', configPath], {
    logFile: opts.logFile,
    env: { ...process.env, ...(opts.nexusCallers ? { DROVER_NEXUS_CALLERS: opts.nexusCallers } : {}) },
  });
  let exited = false;
  child.once('exit', () => (exited = true));
  await waitUntil(
    'authorized temporal server',
    () => {
      if (exited) throw new Error(`drover-temporal exited; see ${opts.logFile}`);
      return temporalServing(address, opts.tls ? ['--tls-ca-path', opts.tls.caPath] : []);
    },
    90_000,
  );
  return {
    address,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
};

/**
 * The control plane on an authorizing Temporal, as a deployment runs it: the API (in this
 * process, listening, so the server can read its JWKS) holds the control plane's credential,
 * signed with its key from the database; the server starts once the API serves its keys; the
 * control namespace is registered.
 */
export const startControlPlane = async (opts: {
  db: Db;
  namespace: string;
  dir: string;
  logFile: string;
  refreshSeconds: number;
  nexusCallers?: string;
  tls?: DevCa;
}) => {
  const controlToken = signControlToken(await createSigningKeyStore(opts.db).controlKey(), {
    ttlSeconds: 3600,
  });
  const apiPort = await freePort();
  const temporalPort = await freePort();
  const control = Connection.lazy({
    address: `127.0.0.1:${temporalPort}`,
    apiKey: controlToken,
    tls: opts.tls ? { serverRootCACertificate: opts.tls.ca } : false,
  });
  const app: App = await buildApp({
    db: opts.db,
    temporal: new Client({
      connection: control,
      namespace: opts.namespace,
      dataConverter: testDataConverter(),
    }),
    siteOfflineAfterMs: 30_000,
    logger: false,
  });
  await app.listen({ host: '127.0.0.1', port: apiPort });
  const admin = (await createTokenStore(opts.db).ensureAdmin()) ?? '';
  const temporal = await startAuthorizedTemporal({
    dir: opts.dir,
    jwksUri: `http://127.0.0.1:${apiPort}/.well-known/jwks.json`,
    refreshSeconds: opts.refreshSeconds,
    logFile: opts.logFile,
    grpcPort: temporalPort,
    ...(opts.nexusCallers ? { nexusCallers: opts.nexusCallers } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
  });
  await registerNamespaces(control, [opts.namespace]);
  return {
    app,
    admin,
    control,
    controlToken,
    temporal,
    stop: async () => {
      await app.close();
      await control.close().catch(() => undefined);
      await temporal.stop();
    },
  };
};

/** Publishes these keys as the JWKS file the server reads (what drover's API serves in production). */
export const writeJwks = (path: string, keys: SigningKey[]): void =>
  writeFileSync(path, JSON.stringify(jwksDocument(keys.map((k) => ({ kid: k.kid, jwk: publicJwk(k) })))));

/**
 * Registers the namespaces with an admin connection and waits until each is served (a new
 * namespace is, once the frontend's namespace cache has it).
 */
export const registerNamespaces = async (admin: Connection, namespaces: string[]): Promise<void> => {
  for (const namespace of namespaces)
    await admin.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs('1 day'),
    });
  await waitUntil(
    'namespaces served',
    async () => {
      for (const namespace of namespaces) await admin.workflowService.describeNamespace({ namespace });
      return true;
    },
    60_000,
  );
};
