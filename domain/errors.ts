/**
 * Failure types shared by activities, workflows and the API. Activities classify what went
 * wrong at the edge into one of these (as an ApplicationFailure `type`); workflows branch on
 * it and the API maps it to a status code in one place.
 */
export const ErrorType = {
  /** The caller sent something malformed; retrying cannot help. */
  BadInput: 'BadInput',
  /** The thing named does not exist. */
  NotFound: 'NotFound',
  /** It exists already, or someone else changed it first. */
  Conflict: 'Conflict',
  /** The credentials are valid but lack the right to do this. */
  Forbidden: 'Forbidden',
  /** The credentials were refused. */
  Unauthorized: 'Unauthorized',
  /** Well-formed but rejected by the server's validation (Kubernetes 422). */
  Invalid: 'Invalid',
  /** The current state forbids the operation (pausing a finished run, …). */
  InvalidState: 'InvalidState',
  /** The server asked us to slow down; retry after its delay. */
  Throttled: 'Throttled',
  /** Temporarily unreachable or failing; retry. */
  Unavailable: 'Unavailable',
} as const;

export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/** Failure types that no retry can fix. */
export const NON_RETRYABLE_ERROR_TYPES: readonly ErrorType[] = [
  ErrorType.BadInput,
  ErrorType.NotFound,
  ErrorType.Conflict,
  ErrorType.Forbidden,
  ErrorType.Unauthorized,
  ErrorType.Invalid,
  ErrorType.InvalidState,
];

/**
 * An error raised by drover's own code outside workflows (API, database, adapters). `field`
 * names the offending input where there is one, so the API can say which field is wrong.
 */
export class DroverError extends Error {
  readonly type: ErrorType;
  readonly field: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    type: ErrorType,
    message: string,
    options: { field?: string; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DroverError';
    this.type = type;
    this.field = options.field;
    this.details = options.details;
  }
}

export const notFound = (what: string, id: string): DroverError =>
  new DroverError(ErrorType.NotFound, `${what} '${id}' not found`);

/** Every distinct message of a failure chain, outermost first: what a target's lastError says. */
export const failureMessage = (err: unknown): string => {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.message && !parts.includes(e.message)) parts.push(e.message);
  }
  return parts.join(': ') || String(err);
};
