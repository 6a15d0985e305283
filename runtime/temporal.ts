import { readFile } from 'node:fs/promises';
import { Connection, Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import type { TemporalConnectionConfig } from '../domain/config.ts';
import type { Logger } from './logger.ts';
import { encryptedDataConverter, loadKeyring } from './payload-codec.ts';

type TlsFiles = NonNullable<TemporalConnectionConfig['tls']>;

const loadTls = async (tls: TlsFiles | undefined) => {
  if (!tls) return undefined;
  const [ca, crt, key] = await Promise.all([
    tls.caPath ? readFile(tls.caPath) : undefined,
    tls.certPath ? readFile(tls.certPath) : undefined,
    tls.keyPath ? readFile(tls.keyPath) : undefined,
  ]);
  return {
    ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
    ...(ca ? { serverRootCACertificate: ca } : {}),
    ...(crt && key ? { clientCertPair: { crt, key } } : {}),
  };
};

/**
 * TLS as configured, and the bearer token if there is one. The SDK turns TLS on by itself when
 * given a token; drover keeps it to what DROVER_TEMPORAL_TLS_* say (on for any real deployment,
 * off for a server on this machine).
 */
const credentials = (config: TemporalConnectionConfig, tls: Awaited<ReturnType<typeof loadTls>>) => ({
  ...(tls ? { tls } : config.token ? { tls: false as const } : {}),
  ...(config.token ? { apiKey: config.token } : {}),
});

/**
 * The encrypting data converter of this process, from the keyring file. The control plane
 * (`create`) makes the keyring on its first start; a sub-manager is handed it.
 */
export const loadDataConverter = async (
  config: TemporalConnectionConfig,
  options: { create?: boolean } = {},
): Promise<DataConverter> => encryptedDataConverter(await loadKeyring(config.payloadKeys, options));

/**
 * A client that connects on first use, so the API starts (and reports not-ready) while
 * Temporal is still down instead of crashing.
 */
export const createTemporalClient = async (
  config: TemporalConnectionConfig,
  dataConverter: DataConverter,
): Promise<Client> => {
  const tls = await loadTls(config.tls);
  const connection = Connection.lazy({ address: config.address, ...credentials(config, tls) });
  return new Client({ connection, namespace: config.namespace, dataConverter });
};

/**
 * Workers need a live connection to start. Processes may come up before Temporal does
 * (compose, `make up`, a site whose link is down): wait for it with capped backoff.
 */
export const connectWorkerWithRetry = async (
  config: TemporalConnectionConfig,
  logger: Logger,
  signal?: AbortSignal,
): Promise<NativeConnection> => {
  const tls = await loadTls(config.tls);
  for (let attempt = 1, delay = 500; ; attempt++, delay = Math.min(delay * 2, 10_000)) {
    try {
      return await NativeConnection.connect({ address: config.address, ...credentials(config, tls) });
    } catch (err) {
      if (signal?.aborted) throw err;
      logger.warn(
        { attempt, retryInMs: delay, address: config.address, err: (err as Error).message },
        'temporal not reachable yet',
      );
      await new Promise((r) => setTimeout(r, delay));
    }
  }
};

/**
 * The SDK logs every workflow bundle and state change at INFO; keep its chatter at WARN
 * unless drover itself is asked to be verbose. Call once per process, before any worker.
 */
export const installWorkerRuntime = (droverLogLevel: string): void => {
  const verbose = droverLogLevel === 'debug' || droverLogLevel === 'trace';
  Runtime.install({ logger: new DefaultLogger(verbose ? 'DEBUG' : 'WARN') });
};
