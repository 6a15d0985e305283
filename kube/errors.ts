/**
 * Every failure that leaves kube/ is a KubeError: classified once, here, at the edge, so
 * activities can turn it into an ApplicationFailure of the same `type` and workflows never
 * look at HTTP status codes.
 */
import { DroverError, ErrorType, NON_RETRYABLE_ERROR_TYPES } from '../domain/errors.ts';

/** Names the Kubernetes object a failure is about, as far as it is known. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string | undefined;
  name?: string | undefined;
}

export interface KubeErrorOptions {
  object?: ObjectRef | undefined;
  /** 0-based position of the document in the manifest stream. */
  documentIndex?: number | undefined;
  /** Offending field path (`spec.replicas`) or YAML position (`line 4, column 3`). */
  field?: string | undefined;
  retryAfterMs?: number | undefined;
  /** HTTP status, when the server answered. */
  status?: number | undefined;
  /** The server's Status.reason (`AlreadyExists`, `Invalid`, …). */
  reason?: string | undefined;
  cause?: unknown;
}

export class KubeError extends DroverError {
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly object: ObjectRef | undefined;
  readonly documentIndex: number | undefined;
  readonly status: number | undefined;
  readonly reason: string | undefined;

  constructor(type: ErrorType, message: string, options: KubeErrorOptions = {}) {
    super(type, message, {
      ...(options.field === undefined ? {} : { field: options.field }),
      cause: options.cause,
    });
    this.name = 'KubeError';
    this.retryable = !NON_RETRYABLE_ERROR_TYPES.includes(type);
    this.retryAfterMs = options.retryAfterMs;
    this.object = options.object;
    this.documentIndex = options.documentIndex;
    this.status = options.status;
    this.reason = options.reason;
  }
}

/** What the client raises for a non-2xx answer; classified into a KubeError by kube/. */
export class KubeHttpError extends Error {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;

  constructor(
    status: number,
    body: unknown,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    what: string,
  ) {
    super(`${what}: HTTP ${status}`);
    this.name = 'KubeHttpError';
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/** What was being done when the error happened, used to name it in the message. */
export interface KubeErrorContext {
  /** `apply`, `read`, `delete`, `discover`, … */
  action: string;
  object?: ObjectRef | undefined;
  documentIndex?: number | undefined;
  /** Server URL, so a failure in a fleet-wide run says which cluster. */
  server?: string | undefined;
}

/** Kubernetes `Status` object, the body of most error answers. */
interface StatusBody {
  kind?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    retryAfterSeconds?: number;
    causes?: { reason?: string; message?: string; field?: string }[];
  };
}

// Errors with these codes come from the network or the TLS handshake, not the server.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Classifies what a Kubernetes call threw. Errors that are neither an HTTP answer nor a
 * network failure are bugs and come back unchanged, so they are not retried forever.
 */
export const classifyKubeError = (err: unknown, ctx: KubeErrorContext): unknown => {
  if (err instanceof KubeError) return err;
  const http = httpShape(err);
  if (http) return fromHttp(http, ctx, err);
  const code = errorCode(err);
  if (code && TLS_CODES.has(code)) {
    return new KubeError(
      ErrorType.Unauthorized,
      describe(ctx, `TLS verification of the server failed (${code}): ${(err as Error).message}`),
      {
        object: ctx.object,
        documentIndex: ctx.documentIndex,
        cause: err,
      },
    );
  }
  if ((code && NETWORK_CODES.has(code)) || isTimeout(err)) {
    return new KubeError(
      ErrorType.Unavailable,
      describe(ctx, `cannot reach the API server (${code ?? 'timeout'}): ${(err as Error).message}`),
      {
        object: ctx.object,
        documentIndex: ctx.documentIndex,
        cause: err,
      },
    );
  }
  return err;
};

/** Runs `fn`, turning whatever it throws into a KubeError where possible. */
export const withKubeErrors = async <T>(ctx: KubeErrorContext, fn: () => Promise<T>): Promise<T> => {
  try {
    return await fn();
  } catch (err) {
    throw classifyKubeError(err, ctx);
  }
};

/** `ConfigMap demo/settings (document 3)` — the way every message names its object. */
export const describeObject = (object: ObjectRef | undefined, documentIndex?: number): string => {
  const parts: string[] = [];
  if (object) {
    const name =
      object.name === undefined
        ? ''
        : object.namespace
          ? ` ${object.namespace}/${object.name}`
          : ` ${object.name}`;
    parts.push(`${object.kind}${name}`);
  }
  if (documentIndex !== undefined) parts.push(`(document ${documentIndex + 1})`);
  return parts.join(' ');
};

const describe = (ctx: KubeErrorContext, detail: string): string => {
  const what = describeObject(ctx.object, ctx.documentIndex);
  const where = ctx.server ? ` on ${ctx.server}` : '';
  return `${ctx.action}${what ? ` ${what}` : ''}${where}: ${detail}`;
};

interface HttpShape {
  status: number;
  body: unknown;
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

// KubeHttpError from our client, or ApiException from @kubernetes/client-node's generated APIs.
const httpShape = (err: unknown): HttpShape | undefined => {
  if (err instanceof KubeHttpError) return err;
  if (
    typeof err === 'object' &&
    err !== null &&
    'code' in err &&
    typeof err.code === 'number' &&
    'body' in err
  ) {
    const headers =
      'headers' in err && typeof err.headers === 'object' && err.headers !== null
        ? (err.headers as HttpShape['headers'])
        : {};
    return { status: err.code, body: err.body, headers };
  }
  return undefined;
};

const fromHttp = (http: HttpShape, ctx: KubeErrorContext, cause: unknown): KubeError => {
  const status = parseStatus(http.body);
  const serverMessage =
    status?.message ??
    (typeof http.body === 'string' && http.body ? http.body.slice(0, 500) : `HTTP ${http.status}`);
  const type = isTypedPatchError(http.status, serverMessage) ? ErrorType.Invalid : typeForStatus(http.status);
  const field = fieldOf(status);
  const retryAfterMs =
    type === ErrorType.Throttled || type === ErrorType.Unavailable
      ? retryAfter(http.headers, status)
      : undefined;
  return new KubeError(type, describe(ctx, serverMessage), {
    object: ctx.object,
    documentIndex: ctx.documentIndex,
    field,
    retryAfterMs,
    status: http.status,
    reason: status?.reason,
    cause,
  });
};

const typeForStatus = (status: number): ErrorType => {
  if (status === 401) return ErrorType.Unauthorized;
  if (status === 403) return ErrorType.Forbidden;
  if (status === 404) return ErrorType.NotFound;
  // 410 Gone is an expired resourceVersion or continue token: the caller must start over.
  if (status === 409 || status === 410) return ErrorType.Conflict;
  if (status === 422) return ErrorType.Invalid;
  if (status === 429) return ErrorType.Throttled;
  if (status >= 500 || status === 408) return ErrorType.Unavailable;
  return ErrorType.BadInput;
};

/**
 * Server-side apply answers 500 when the applied object does not fit the kind's schema (a
 * field the schema lacks, a number where a string belongs, duplicate list keys); that is bad
 * input, and retrying would loop forever (kubernetes/kubernetes#122480, #139253).
 */
const isTypedPatchError = (status: number, message: string): boolean =>
  status === 500 && message.startsWith('failed to create typed patch object');

const parseStatus = (body: unknown): StatusBody | undefined => {
  let value = body;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (typeof value === 'object' && value !== null && (value as StatusBody).kind === 'Status') return value;
  return undefined;
};

/**
 * The field the server complained about: 422 answers list causes with field paths; strict
 * field validation (400) only names unknown fields inside its message.
 */
const fieldOf = (status: StatusBody | undefined): string | undefined => {
  const fields = (status?.details?.causes ?? []).map((c) => c.field).filter((f): f is string => !!f);
  if (fields.length > 0) return [...new Set(fields)].join(', ');
  // failed to create typed patch object (demo/x; /v1, Kind=ConfigMap): .data.a: expected string, …
  const typed = status?.message
    ? /^failed to create typed patch object \(.*?\): \.([^:\s]+):/.exec(status.message)?.[1]
    : undefined;
  if (typed) return typed;
  const unknown = status?.message
    ? [...status.message.matchAll(/unknown field "([^"]+)"/g)].map((m) => m[1])
    : [];
  if (unknown.length > 0) return unknown.join(', ');
  const duplicate = status?.message
    ? [...status.message.matchAll(/duplicate field "([^"]+)"/g)].map((m) => m[1])
    : [];
  return duplicate.length > 0 ? duplicate.join(', ') : undefined;
};

/** Retry-After in seconds or as an HTTP date; else the Status' retryAfterSeconds. */
const retryAfter = (headers: HttpShape['headers'], status: StatusBody | undefined): number | undefined => {
  const raw = headerValue(headers, 'retry-after');
  if (raw !== undefined) {
    const seconds = Number(raw);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(raw);
    if (!Number.isNaN(date)) return Math.max(0, date - Date.now());
  }
  const fromBody = status?.details?.retryAfterSeconds;
  return typeof fromBody === 'number' ? fromBody * 1000 : undefined;
};

const headerValue = (headers: HttpShape['headers'], name: string): string | undefined => {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
};

const errorCode = (err: unknown): string | undefined => {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
};

// AbortError is left out on purpose: an abort is the caller cancelling, not the server failing.
const isTimeout = (err: unknown): boolean => err instanceof Error && err.name === 'TimeoutError';
