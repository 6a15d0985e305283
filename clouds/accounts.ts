/**
 * A site's cloud accounts: which clouds its sub-manager may create clusters in, and how to
 * reach each (the adapter's options: region defaults, endpoints, where credentials come from).
 * Read from the site's clouds file (`$DROVER_CLOUDS_FILE`, default
 * `$DROVER_SITE_STATE_DIR/clouds.json`) inside the sub-manager only; nothing here leaves it.
 *
 * The file is a JSON list:
 *   [{ "name": "prod-aws", "cloud": "eks", "options": { "region": "eu-west-1" } }, …]
 * `options` go to the cloud's adapter factory as they are; `polling` says how often its long
 * operations are worth polling (the sandbox finishes in seconds, real clouds in minutes).
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { AccountName } from '../domain/cluster-specs.ts';
import { DEFAULT_POLLING, PollingPolicy } from '../domain/clouds.ts';
import { DroverError, ErrorType } from '../domain/errors.ts';
import type { CloudName, CloudProvider } from './ports.ts';

export { DEFAULT_POLLING, PollingPolicy } from '../domain/clouds.ts';

export const CloudAccountConfig = z.object({
  name: AccountName,
  cloud: z.enum(['eks', 'gke', 'aks']),
  options: z.record(z.string(), z.unknown()).default({}),
  polling: PollingPolicy.optional(),
});
export type CloudAccountConfig = z.infer<typeof CloudAccountConfig>;

export const CloudAccountsFile = z.array(CloudAccountConfig).superRefine((accounts, ctx) => {
  const seen = new Set<string>();
  accounts.forEach((a, i) => {
    if (seen.has(a.name))
      ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `account '${a.name}' is listed twice` });
    seen.add(a.name);
  });
});

/** Builds one cloud's adapter from an account's options. */
export type CloudProviderFactory = (options: Record<string, unknown>) => CloudProvider;

export interface CloudAccount {
  name: string;
  cloud: CloudName;
  provider: CloudProvider;
  polling: PollingPolicy;
}

export interface CloudAccounts {
  names(): string[];
  /** The account, or NotFound naming the `account` field. */
  get(name: string): CloudAccount;
  has(name: string): boolean;
}

/** Accounts from configurations; adapters are built on first use, once. */
export const createCloudAccounts = (
  configs: CloudAccountConfig[],
  factories: Partial<Record<CloudName, CloudProviderFactory>>,
): CloudAccounts => {
  const built = new Map<string, CloudAccount>();
  const byName = new Map(configs.map((c) => [c.name, c]));
  return {
    names: () => [...byName.keys()].sort(),
    has: (name) => byName.has(name),
    get(name) {
      const existing = built.get(name);
      if (existing) return existing;
      const config = byName.get(name);
      if (!config) {
        throw new DroverError(
          ErrorType.NotFound,
          `this site has no cloud account '${name}' (has: ${[...byName.keys()].join(', ') || 'none'})`,
          { field: 'account' },
        );
      }
      const factory = factories[config.cloud];
      if (!factory) {
        throw new DroverError(
          ErrorType.BadInput,
          `this sub-manager has no adapter for ${config.cloud} (account '${name}')`,
          { field: 'account' },
        );
      }
      const account: CloudAccount = {
        name,
        cloud: config.cloud,
        provider: factory(config.options),
        polling: config.polling ?? DEFAULT_POLLING,
      };
      built.set(name, account);
      return account;
    },
  };
};

/** Accounts from a clouds file; a missing file means none, a malformed one is an error. */
export const readCloudAccountsFile = async (path: string): Promise<CloudAccountConfig[]> => {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // V8 quotes the text around the error, which in this file may be a secret: say no more.
    throw new Error(`${path}: not valid JSON`);
  }
  const parsed = CloudAccountsFile.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`${path}: not a clouds file: ${problems}`);
  }
  return parsed.data;
};
