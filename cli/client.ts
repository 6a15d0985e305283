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
          ...headersOf(settings),
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
    if (!res.ok) throw apiErrorOf(settings, res, text);
    return (text ? (JSON.parse(text) as unknown) : undefined) as T;
  };

const headersOf = (settings: CliSettings): Record<string, string> =>
  settings.token ? { authorization: `Bearer ${settings.token}` } : {};

const apiErrorOf = (settings: CliSettings, res: Response, text: string): ApiError => {
  let error: { message?: string; field?: string } | undefined;
  try {
    error = (JSON.parse(text) as { error?: { message?: string; field?: string } }).error;
  } catch {
    error = undefined;
  }
  const hint =
    res.status === 401 ? ` (token from ${settings.source}; set DROVER_TOKEN or run 'drover login')` : '';
  return new ApiError(res.status, `${error?.message ?? res.statusText}${hint}`, error?.field);
};

/** One server-sent event: its name (`message` when the server gave none) and its data. */
export type ServerEvent = { event: string; data: string };

/**
 * Splits a server-sent event stream into events, as the EventSource spec reads it: lines end in
 * LF, CR or CRLF; `event:` names the event, `data:` lines join with LF, a blank line dispatches;
 * comments (`:`) and other fields are ignored.
 */
export async function* parseEventStream(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<ServerEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let pendingCr = false;
  for await (const chunk of chunks) {
    buffer += decoder.decode(chunk, { stream: true });
    if (pendingCr && buffer.startsWith('\n')) buffer = buffer.slice(1);
    pendingCr = false;
    for (;;) {
      const end = buffer.search(/[\r\n]/);
      if (end < 0) break;
      // A CR at the very end may be the first half of a CRLF split across chunks.
      if (buffer[end] === '\r' && end === buffer.length - 1) pendingCr = true;
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith('\r\n', end) ? 2 : 1));
      if (line === '') {
        if (data.length > 0) yield { event: event || 'message', data: data.join('\n') };
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
  }
}

/** Opens a server-sent event stream of the API; errors before it starts are ApiErrors. */
export const openEventStream = async (
  settings: CliSettings,
  path: string,
  fetchImpl: typeof fetch = fetch,
  signal?: AbortSignal,
): Promise<AsyncGenerator<ServerEvent>> => {
  let res: Response;
  try {
    res = await fetchImpl(`${settings.apiUrl}${path}`, {
      headers: { ...headersOf(settings), accept: 'text/event-stream' },
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    const cause = (err as Error).cause;
    const reason = cause instanceof Error ? cause.message : (err as Error).message;
    throw new ApiError(0, `cannot reach the drover API at ${settings.apiUrl}: ${reason}`);
  }
  if (!res.ok) throw apiErrorOf(settings, res, await res.text());
  if (!res.body) throw new ApiError(0, `the drover API at ${settings.apiUrl} sent no event stream`);
  return parseEventStream(res.body);
};
