import { z } from 'zod';
import { SiteName } from './sites.ts';

/**
 * Every setting drover reads, in one place, so README's table and the code cannot drift.
 * Pure: callers pass the environment in, which keeps this testable and workflow-safe.
 */
type Env = Record<string, string | undefined>;

const port = z.coerce.number().int().min(1).max(65535);
const optionalPath = z.string().min(1).optional();

const common = {
  DROVER_HOME: z.string().min(1).default('.drover'),
  DROVER_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DROVER_TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  DROVER_TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  DROVER_TEMPORAL_TLS_CA: optionalPath,
  DROVER_TEMPORAL_TLS_CERT: optionalPath,
  DROVER_TEMPORAL_TLS_KEY: optionalPath,
  DROVER_TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** A bearer token (JWT) for a Temporal server with authorization on; see docs/trust-boundaries.md. */
  DROVER_TEMPORAL_TOKEN: z.string().min(1).optional(),
  /**
   * The payload keyring (JSON: active key id and base64 AES-256 keys) every Temporal client and
   * worker encrypts with; default DROVER_HOME/payload-keys.json, which the API and control
   * worker create on first start. A sub-manager must be given it.
   */
  DROVER_PAYLOAD_KEYS: optionalPath,
};

const database = {
  /** Unset: the embedded PGlite that `make up` serves on a unix socket under DROVER_HOME. */
  DATABASE_URL: z.string().min(1).optional(),
};

const ApiEnv = z
  .object({
    ...common,
    ...database,
    DROVER_API_HOST: z.string().min(1).default('127.0.0.1'),
    DROVER_API_PORT: port.default(8080),
    /** Serve HTTPS with this certificate and key (PEM files); both or neither. */
    DROVER_API_TLS_CERT: optionalPath,
    DROVER_API_TLS_KEY: optionalPath,
    /** Fixes the admin token instead of generating one on first start (compose, tests). */
    DROVER_ADMIN_TOKEN: z.string().min(16).optional(),
    DROVER_SITE_OFFLINE_AFTER_SECONDS: z.coerce.number().positive().default(75),
    /** Targets per shard (child workflow) of a deploy run; Temporal advises ≤ 500 in flight per workflow. */
    DROVER_DEPLOY_SHARD_SIZE: z.coerce.number().int().min(1).max(500).default(500),
    /** Comma-separated browser origins (the Temporal UI) allowed to call /v1/codec. */
    DROVER_CODEC_CORS_ORIGINS: z
      .string()
      .default('http://127.0.0.1:8233,http://localhost:8233')
      .transform((s) =>
        s
          .split(',')
          .map((o) => o.trim())
          .filter(Boolean),
      ),
  })
  .refine((c) => !c.DROVER_API_TLS_CERT === !c.DROVER_API_TLS_KEY, {
    message: 'set both DROVER_API_TLS_CERT and DROVER_API_TLS_KEY, or neither',
    path: ['DROVER_API_TLS_KEY'],
  });

const ControlWorkerEnv = z.object({
  ...common,
  ...database,
  /** How often each site's clusters are rediscovered (a Temporal Schedule per site). */
  DROVER_DISCOVERY_INTERVAL_SECONDS: z.coerce.number().int().min(10).default(600),
  /** Targets per shard of the rollouts schedules start (the API's setting of the same name). */
  DROVER_DEPLOY_SHARD_SIZE: z.coerce.number().int().min(1).max(500).default(500),
});

const SubManagerEnv = z.object({
  ...common,
  DROVER_SITE: SiteName,
  DROVER_SITE_DESCRIPTION: z.string().default(''),
  /** Where this site's cluster credentials live; read only inside this process. */
  DROVER_KUBECONFIG: optionalPath,
  /** Per-run snapshots of what this site changed, for rollback; default DROVER_HOME/sites/SITE. */
  DROVER_SITE_STATE_DIR: optionalPath,
  /** This site's cloud accounts (JSON list of {name, cloud, options}); default DROVER_SITE_STATE_DIR/clouds.json. */
  DROVER_CLOUDS_FILE: optionalPath,
  /**
   * Site activities this sub-manager runs at once. As high as a run's maxParallel (≤ 500), so
   * targets of a healthy site never sit on its queue waiting for a slot, which a run's
   * siteDeadlineSeconds would count as the site being unreachable.
   */
  DROVER_SITE_CONCURRENCY: z.coerce.number().int().min(1).max(2000).default(500),
});

export type TemporalConnectionConfig = {
  address: string;
  namespace: string;
  /** The payload keyring file. */
  payloadKeys: string;
  /** Sent as `authorization: Bearer …` on every call. */
  token?: string;
  tls?: { caPath?: string; certPath?: string; keyPath?: string; serverName?: string };
};

export type ApiConfig = z.infer<typeof ApiEnv>;
export type ControlWorkerConfig = z.infer<typeof ControlWorkerEnv>;
export type SubManagerConfig = z.infer<typeof SubManagerEnv>;

const parse = <T extends z.ZodType>(schema: T, env: Env): z.infer<T> => {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${problems}`);
  }
  return parsed.data;
};

export const apiConfig = (env: Env): ApiConfig => parse(ApiEnv, env);
export const controlWorkerConfig = (env: Env): ControlWorkerConfig => parse(ControlWorkerEnv, env);
export const subManagerConfig = (env: Env): SubManagerConfig => parse(SubManagerEnv, env);

export const temporalConnection = (c: z.infer<z.ZodObject<typeof common>>): TemporalConnectionConfig => {
  const anyTls =
    c.DROVER_TEMPORAL_TLS_CA ?? c.DROVER_TEMPORAL_TLS_CERT ?? c.DROVER_TEMPORAL_TLS_SERVER_NAME ?? undefined;
  return {
    address: c.DROVER_TEMPORAL_ADDRESS,
    namespace: c.DROVER_TEMPORAL_NAMESPACE,
    payloadKeys: c.DROVER_PAYLOAD_KEYS ?? `${c.DROVER_HOME}/payload-keys.json`,
    ...(c.DROVER_TEMPORAL_TOKEN ? { token: c.DROVER_TEMPORAL_TOKEN } : {}),
    ...(anyTls === undefined
      ? {}
      : {
          tls: {
            ...(c.DROVER_TEMPORAL_TLS_CA ? { caPath: c.DROVER_TEMPORAL_TLS_CA } : {}),
            ...(c.DROVER_TEMPORAL_TLS_CERT ? { certPath: c.DROVER_TEMPORAL_TLS_CERT } : {}),
            ...(c.DROVER_TEMPORAL_TLS_KEY ? { keyPath: c.DROVER_TEMPORAL_TLS_KEY } : {}),
            ...(c.DROVER_TEMPORAL_TLS_SERVER_NAME ? { serverName: c.DROVER_TEMPORAL_TLS_SERVER_NAME } : {}),
          },
        }),
  };
};

/** The embedded database's socket directory, used when DATABASE_URL is unset. */
export const embeddedDatabaseUrl = (absoluteHome: string): string =>
  `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(`${absoluteHome}/db`)}`;
