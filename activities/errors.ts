import { ApplicationFailure } from '@temporalio/common';
import { DroverError, NON_RETRYABLE_ERROR_TYPES } from '../domain/errors.ts';

/**
 * Classifies failures at the activity edge: a DroverError becomes an ApplicationFailure whose
 * `type` workflows branch on, non-retryable when no retry can fix it. A server that said when
 * to come back (`details.retryAfterMs`: Retry-After, a throttling error) is retried then, not
 * on the activity's own backoff.
 */
export const toFailure = (err: unknown): unknown => {
  if (err instanceof DroverError) {
    // Adapters put it in details; kube/'s KubeError carries it as a property.
    const retryAfterMs = err.details?.retryAfterMs ?? (err as { retryAfterMs?: unknown }).retryAfterMs;
    return ApplicationFailure.create({
      type: err.type,
      message: err.message,
      nonRetryable: NON_RETRYABLE_ERROR_TYPES.includes(err.type),
      details: err.field || err.details ? [{ field: err.field ?? null, ...(err.details ?? {}) }] : undefined,
      cause: err,
      ...(typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs) && retryAfterMs >= 0
        ? { nextRetryDelay: Math.ceil(retryAfterMs) }
        : {}),
    });
  }
  return err;
};

/** Wraps every method of an activity object with `toFailure`. */
export const classified = <T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  activities: T,
): T =>
  Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      async (...args: never[]) => {
        try {
          return await fn(...args);
        } catch (err) {
          throw toFailure(err);
        }
      },
    ]),
  ) as T;
