import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Where the CLI finds the API and its token: flags, then environment, then files. */
export type CliSettings = { apiUrl: string; token: string | undefined; source: string };

export const configPath = (env: NodeJS.ProcessEnv = process.env): string =>
  env.DROVER_CONFIG ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'drover', 'config.json');

const readJson = async (path: string): Promise<Record<string, unknown> | undefined> => {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
};

export const resolveSettings = async (
  flags: { apiUrl?: string; token?: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<CliSettings> => {
  const file = await readJson(configPath(env));
  const fileStr = (k: string) => (typeof file?.[k] === 'string' ? file[k] : undefined);
  const apiUrl = flags.apiUrl ?? env.DROVER_API_URL ?? fileStr('apiUrl') ?? 'http://127.0.0.1:8080';
  let token = flags.token ?? env.DROVER_TOKEN ?? fileStr('token');
  let source = flags.token ? '--token' : env.DROVER_TOKEN ? 'DROVER_TOKEN' : token ? configPath(env) : 'none';
  if (!token) {
    // The local embedded setup writes its admin token here; handy on the machine that runs it.
    const tokenFile = join(resolve(env.DROVER_HOME ?? '.drover'), 'admin.token');
    token = (await readFile(tokenFile, 'utf8').catch(() => undefined))?.trim() || undefined;
    if (token) source = tokenFile;
  }
  return { apiUrl: apiUrl.replace(/\/+$/, ''), token, source };
};

export class ApiError extends Error {
  readonly status: number;
  readonly field: string | undefined;
  constructor(status: number, message: string, field?: string) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

export type ApiClient = <T>(method: string, path: string, body?: unknown) => Promise<T>;

export const createApiClient =
  (settings: CliSettings, fetchImpl: typeof fetch = fetch): ApiClient =>
  async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let res: Response;
    try {
      res = await fetchImpl(`${settings.apiUrl}${path}`, {
        method,
        headers: {
          ...(settings.token ? { authorization: `Bearer ${settings.token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      const cause = (err as Error).cause;
      const reason = cause instanceof Error ? cause.message : (err as Error).message;
      throw new ApiError(0, `cannot reach the drover API at ${settings.apiUrl}: ${reason}`);
    }
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const error = (json as { error?: { message?: string; field?: string } } | undefined)?.error;
      const hint =
        res.status === 401 ? ` (token from ${settings.source}; set DROVER_TOKEN or run 'drover login')` : '';
      throw new ApiError(res.status, `${error?.message ?? res.statusText}${hint}`, error?.field);
    }
    return json as T;
  };
