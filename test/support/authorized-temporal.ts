import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { stringify } from 'yaml';
import { jwksDocument, publicJwk, type SigningKey } from '../../runtime/temporal-credentials.ts';
import type { DevCa } from '../../sandbox/dev-ca.ts';
import { freePort, spawnGuarded, temporalServing, waitUntil } from './services.ts';

/**
 * A real Temporal server with authorization on (tools/temporal-authz: the server's own JWT
 * claim mapper and default authorizer), on SQLite in `dir`. It trusts the signing keys of the
 * JWKS at `jwksUri` (drover's API, or a file) and re-reads it every `refreshSeconds`. Health
 * checks need no token; everything else does.
 */
export type AuthorizedTemporal = { address: string; process: ChildProcess; stop: () => Promise<void> };

export const droverTemporalBinary = (): string => {
  const built = spawnSync('tools/build-go-tool.sh', ['temporal-authz', 'drover-temporal'], {
    encoding: 'utf8',
  });
  if (built.status !== 0) throw new Error(`building drover-temporal failed: ${built.stderr}`);
  return built.stdout.trim().split('\n').pop() ?? '';
};

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
  mkdirSync(opts.dir, { recursive: true });
  const [free, http, internal, internalHttp, history, matching, worker, ...membership] = await Promise.all(
    Array.from({ length: 12 }, () => freePort()),
  );
  const grpc = opts.grpcPort ?? free;
  const service = (grpcPort: number | undefined, membershipPort: number | undefined, extra = {}) => ({
    rpc: { grpcPort, membershipPort, bindOnIP: '127.0.0.1', ...extra },
  });
  const sqlite = {
    pluginName: 'sqlite',
    databaseName: join(opts.dir, 'temporal.db'),
    connectAddr: 'localhost',
    connectProtocol: 'tcp',
    connectAttributes: { mode: 'rwc', _journal_mode: 'WAL' },
    maxConns: 1,
    maxIdleConns: 1,
    maxConnLifetime: '1h',
  };
  const config = {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'sqlite',
      visibilityStore: 'sqlite',
      numHistoryShards: 1,
      datastores: { sqlite: { sql: sqlite } },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' },
      ...(opts.tls
        ? {
            tls: {
              frontend: {
                server: { certFile: opts.tls.certPath, keyFile: opts.tls.keyPath, requireClientAuth: false },
                client: { rootCaFiles: [opts.tls.caPath], serverName: '127.0.0.1' },
              },
              // Between the server's own services too: its calls to the internal frontend
              // (Nexus dispatch among them) use the internode settings.
              internode: {
                server: { certFile: opts.tls.certPath, keyFile: opts.tls.keyPath, requireClientAuth: false },
                client: { rootCaFiles: [opts.tls.caPath], serverName: '127.0.0.1' },
              },
            },
          }
        : {}),
      ...(opts.authorization === false
        ? {}
        : {
            authorization: {
              authorizer: 'default',
              claimMapper: 'default',
              permissionsClaimName: 'permissions',
              jwtKeyProvider: {
                keySourceURIs: [opts.jwksUri],
                refreshInterval: `${opts.refreshSeconds}s`,
              },
            },
          }),
    },
    services: {
      frontend: service(grpc, membership[0], { httpPort: http }),
      // The server calls Nexus endpoints through the internal frontend's HTTP port.
      'internal-frontend': service(internal, membership[1], { httpPort: internalHttp }),
      history: service(history, membership[2]),
      matching: service(matching, membership[3]),
      worker: service(worker, membership[4]),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `127.0.0.1:${grpc}`,
          httpAddress: `127.0.0.1:${http}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    namespaceDefaults: { archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } } },
  };
  const configPath = join(opts.dir, 'temporal.yaml');
  writeFileSync(configPath, stringify(config));
  const child = spawnGuarded(droverTemporalBinary(), ['--config', configPath], {
    logFile: opts.logFile,
    env: { ...process.env, ...(opts.nexusCallers ? { DROVER_NEXUS_CALLERS: opts.nexusCallers } : {}) },
  });
  const address = `127.0.0.1:${grpc}`;
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
