/**
 * From a clouds file's `options` (JSON) to an adapter, one factory per cloud. Without explicit
 * credentials each adapter uses its cloud's own chain (AWS profile or environment, Google
 * application default credentials, Azure DefaultAzureCredential); the fixed-token forms exist
 * for the sandbox clouds. A CA is given as PEM (`ca`) or a file (`caFile`).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { CloudProviderFactory } from './accounts.ts';
import { createAksProvider, StaticTokenCredential } from './aks/adapter.ts';
import { createEksProvider } from './eks/adapter.ts';
import { createGkeProvider } from './gke/adapter.ts';
import type { CloudName } from './ports.ts';

const CaOptions = { ca: z.string().min(1).optional(), caFile: z.string().min(1).optional() };
const caOf = (o: { ca?: string | undefined; caFile?: string | undefined }): string | undefined =>
  o.ca ?? (o.caFile ? readFileSync(o.caFile, 'utf8') : undefined);

const EksOptions = z
  .object({
    region: z.string().min(1),
    endpoint: z.string().url().optional(),
    /** Static keys; default: the AWS default credential chain. */
    credentials: z
      .object({
        accessKeyId: z.string().min(1),
        secretAccessKey: z.string().min(1),
        sessionToken: z.string().min(1).optional(),
      })
      .optional(),
  })
  .strict();

const GkeOptions = z
  .object({
    project: z.string().min(1),
    /** host (or host:port) of ClusterManager; default container.googleapis.com. */
    endpoint: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    ...CaOptions,
    /** A fixed access token; default: application default credentials. */
    accessToken: z.string().min(1).optional(),
  })
  .strict();

const AksOptions = z
  .object({
    subscriptionId: z.string().min(1),
    resourceGroup: z.string().min(1),
    endpoint: z.string().url().optional(),
    ...CaOptions,
    /** A fixed bearer token (sandbox only); default: DefaultAzureCredential. */
    token: z.string().min(1).optional(),
    defaultLocation: z.string().min(1).optional(),
  })
  .strict();

const parse = <T extends z.ZodType>(cloud: CloudName, schema: T, options: unknown): z.infer<T> => {
  const parsed = schema.safeParse(options);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`${cloud} account options: ${problems}`);
  }
  return parsed.data;
};

export const cloudProviderFactories: Record<CloudName, CloudProviderFactory> = {
  eks: (options) => {
    const o = parse('eks', EksOptions, options);
    return createEksProvider({
      region: o.region,
      ...(o.endpoint ? { endpoint: o.endpoint } : {}),
      ...(o.credentials ? { credentials: o.credentials } : {}),
    });
  },
  gke: (options) => {
    const o = parse('gke', GkeOptions, options);
    const ca = caOf(o);
    return createGkeProvider({
      project: o.project,
      ...(o.endpoint ? { endpoint: o.endpoint } : {}),
      ...(o.port ? { port: o.port } : {}),
      ...(ca ? { ca } : {}),
      ...(o.accessToken ? { credentials: { accessToken: o.accessToken } } : {}),
    });
  },
  aks: (options) => {
    const o = parse('aks', AksOptions, options);
    const ca = caOf(o);
    return createAksProvider({
      subscriptionId: o.subscriptionId,
      resourceGroup: o.resourceGroup,
      ...(o.endpoint ? { endpoint: o.endpoint } : {}),
      ...(ca ? { ca } : {}),
      ...(o.token ? { credential: new StaticTokenCredential(o.token) } : {}),
      ...(o.defaultLocation ? { defaultLocation: o.defaultLocation } : {}),
    });
  },
};
