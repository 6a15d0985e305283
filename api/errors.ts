import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DroverError, ErrorType } from '../domain/errors.ts';

export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    /** Where the input was wrong, e.g. `body.name` or `params.site`. */
    field: z.string().optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

const STATUS: Record<ErrorType, number> = {
  BadInput: 400,
  Invalid: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  InvalidState: 422,
  Throttled: 429,
  Unavailable: 503,
};

const send = (reply: FastifyReply, status: number, error: ErrorBody['error']) =>
  reply.status(status).send({ error });

/** Is this a failure to reach Temporal (gRPC UNAVAILABLE / DEADLINE_EXCEEDED)? */
const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;
const isTemporalUnavailable = (err: unknown): boolean => {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === GRPC_UNAVAILABLE || code === GRPC_DEADLINE_EXCEEDED) return true;
  }
  return false;
};

/** The one place where errors become HTTP statuses. Internals never reach the client. */
export const errorHandler = (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
  if (hasZodFastifySchemaValidationErrors(err)) {
    const first = err.validation[0];
    const path = first?.instancePath.replace(/^\//, '').replaceAll('/', '.') ?? '';
    const field = [err.validationContext, path].filter(Boolean).join('.');
    return send(reply, 400, {
      code: ErrorType.BadInput,
      message: `${field || 'request'}: ${first?.message ?? 'invalid'}`,
      field,
      details: {
        issues: err.validation.map((v) => ({
          field: [err.validationContext, v.instancePath.replace(/^\//, '').replaceAll('/', '.')]
            .filter(Boolean)
            .join('.'),
          message: v.message,
        })),
      },
    });
  }
  if (err instanceof DroverError) {
    return send(reply, STATUS[err.type], {
      code: err.type,
      message: err.message,
      ...(err.field ? { field: err.field } : {}),
      ...(err.details ? { details: err.details } : {}),
    });
  }
  if (err instanceof WorkflowNotFoundError) {
    return send(reply, 404, { code: ErrorType.NotFound, message: `run '${err.workflowId}' not found` });
  }
  // An update's validator refused it: the run's state forbids it (422) or the input is bad (400).
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    const type = err.cause.type as ErrorType | null;
    return send(reply, type && type in STATUS ? STATUS[type] : 422, {
      code: type ?? ErrorType.InvalidState,
      message: err.cause.message,
    });
  }
  if (err instanceof WorkflowExecutionAlreadyStartedError) {
    return send(reply, 409, { code: ErrorType.Conflict, message: `run '${err.workflowId}' already exists` });
  }
  // Fastify's own client errors (malformed JSON, wrong content type, body too large).
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return send(reply, err.statusCode, { code: ErrorType.BadInput, message: err.message });
  }
  if (isResponseSerializationError(err)) {
    request.log.error({ err, issues: err.cause.issues }, 'response failed its schema');
  } else if (isTemporalUnavailable(err)) {
    request.log.error({ err }, 'temporal unavailable');
    return send(reply, 503, {
      code: ErrorType.Unavailable,
      message: 'the workflow engine is not reachable; retry shortly',
    });
  } else {
    request.log.error({ err }, 'unhandled error');
  }
  return send(reply, 500, { code: 'Internal', message: `internal error (request ${request.id})` });
};
