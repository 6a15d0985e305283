import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { DevCa } from './dev-ca.ts';

/** The ports one drover-temporal server listens on (all on 127.0.0.1). */
export type TemporalAuthzPorts = {
  grpc: number;
  http: number;
  internal: number;
  internalHttp: number;
  history: number;
  matching: number;
  worker: number;
  membership: [number, number, number, number, number];
};

/** Ports next to a frontend port, for a server whose port is chosen (`make up`). */
export const portsFrom = (grpc: number): TemporalAuthzPorts => ({
  grpc,
  http: grpc + 10,
  internal: grpc + 11,
  internalHttp: grpc + 12,
  history: grpc + 13,
  matching: grpc + 14,
  worker: grpc + 15,
  membership: [grpc + 20, grpc + 21, grpc + 22, grpc + 23, grpc + 24],
});

/**
 * The configuration of drover's Temporal server with authorization on (tools/temporal-authz:
 * the server's own JWT claim mapper and default authorizer), on SQLite in `dir`: it trusts the
 * signing keys of the JWKS at `jwksUri` (drover's API, or a file) and re-reads it every
 * `refreshSeconds`; with `tls`, its frontend and its internal traffic use that CA's certificate.
 * Health checks need no token; everything else does. Written to `dir/temporal.yaml`.
 */
export const writeTemporalAuthzConfig = (opts: {
  dir: string;
  jwksUri: string;
  refreshSeconds: number;
  ports: TemporalAuthzPorts;
  tls?: DevCa | undefined;
  /** false: check no credential (the same server and storage, to measure what checking costs). */
  authorization?: boolean;
}): { configPath: string; address: string } => {
  mkdirSync(opts.dir, { recursive: true });
  const { grpc, http, internal, internalHttp, history, matching, worker, membership } = opts.ports;
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
  return { configPath, address: `127.0.0.1:${grpc}` };
};

/** Builds drover-temporal from tools/temporal-authz if its source changed (cached in `.tools/`); its path. */
export const buildDroverTemporal = (root: string): string => {
  const built = spawnSync(join(root, 'tools/build-go-tool.sh'), ['temporal-authz', 'drover-temporal'], {
    cwd: root,
    encoding: 'utf8',
  });
  if (built.status !== 0) throw new Error(`building drover-temporal failed: ${built.stderr}`);
  return built.stdout.trim().split('\n').pop() ?? '';
};
