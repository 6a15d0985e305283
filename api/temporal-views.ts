import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import proto from '@temporalio/proto';
import { DroverError, ErrorType } from '../domain/errors.ts';
import { isPollerAlive } from '../domain/sites.ts';
import { kindOfRunId, type PendingStep, type Run, type RunStatus } from '../domain/runs.ts';
import { siteNamespace } from '../domain/site-link.ts';
import { siteTaskQueue } from '../domain/task-queues.ts';

type Timestamp =
  { seconds?: { toNumber(): number } | number | null; nanos?: number | null } | null | undefined;

const toDate = (ts: Timestamp): Date | null => {
  if (!ts || ts.seconds === null || ts.seconds === undefined) return null;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : ts.seconds.toNumber();
  return new Date(seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6));
};
const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

const GRPC_NOT_FOUND = 5;

export type SiteLiveness = {
  status: 'online' | 'offline';
  lastSeenAt: string | null;
  pollers: { identity: string; lastAccessAt: string | null }[];
};

/**
 * Liveness comes from Temporal itself: the pollers it has seen on the site's activity queue, in
 * the site's own namespace, and when each last polled. A worker long-polls continuously, so a
 * gap longer than the server's long-poll interval plus slack means the sub-manager is gone.
 */
export const siteLiveness = async (
  client: Client,
  site: string,
  offlineAfterMs: number,
  now = new Date(),
): Promise<SiteLiveness> => {
  const response = await client.workflowService
    .describeTaskQueue({
      namespace: siteNamespace(client.options.namespace, site),
      taskQueue: {
        name: siteTaskQueue(site),
        kind: proto.temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL,
      },
      taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    })
    .catch((err: unknown) => {
      // A site whose namespace is not made yet (never enrolled, its sub-manager never up).
      if ((err as { code?: number }).code === GRPC_NOT_FOUND) return { pollers: [] };
      throw err;
    });
  const pollers = (response.pollers ?? []).map((p) => ({
    identity: p.identity ?? '',
    lastAccess: toDate(p.lastAccessTime as Timestamp),
  }));
  const lastSeen = pollers.reduce<Date | null>(
    (latest, p) => (p.lastAccess && (!latest || p.lastAccess > latest) ? p.lastAccess : latest),
    null,
  );
  return {
    status: isPollerAlive(lastSeen, now, offlineAfterMs) ? 'online' : 'offline',
    lastSeenAt: iso(lastSeen),
    pollers: pollers.map((p) => ({ identity: p.identity, lastAccessAt: iso(p.lastAccess) })),
  };
};

const STATUS: Record<string, RunStatus> = {
  RUNNING: 'running',
  COMPLETED: 'succeeded',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed-out',
  // A run that continued as new is still running under the same id.
  CONTINUED_AS_NEW: 'running',
};

const { PendingActivityState, PendingNexusOperationState } = proto.temporal.api.enums.v1;

/**
 * Kinds whose runs answer a `progress` query and, when they fail, carry their final progress
 * as the failure's first detail (the cluster workflows: which steps were done and undone).
 */
const PROGRESS_KINDS = ['create-cluster', 'delete-cluster', 'maintenance', 'clone', 'clone-cluster'];
const PROGRESS_QUERY_TIMEOUT_MS = 5_000;

/** A closed run is queried by replaying it on a worker: bounded, and absent if none answers. */
const queryProgress = async (client: Client, id: string): Promise<unknown> =>
  client.connection
    .withDeadline(Date.now() + PROGRESS_QUERY_TIMEOUT_MS, () =>
      client.workflow.getHandle(id).query('progress'),
    )
    .catch(() => undefined);

/**
 * A workflow's pending activities. `waiting`: scheduled, and no worker has claimed it (for a
 * site activity: the site is offline or cut off); `retrying`: the same after a failed attempt.
 */
export const pendingActivities = (
  desc: WorkflowExecutionDescription,
): (PendingStep & { activityId: string; claimable: boolean })[] =>
  (desc.raw.pendingActivities ?? []).map((a) => {
    const scheduled = a.state === PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED;
    const lastFailure = a.lastFailure?.message ?? null;
    const scheduledAt = toDate(a.scheduledTime);
    return {
      activityId: a.activityId ?? '',
      activity: a.activityType?.name ?? 'unknown',
      state: scheduled ? (lastFailure ? ('retrying' as const) : ('waiting' as const)) : ('running' as const),
      attempt: a.attempt ?? 1,
      since: iso(scheduled ? scheduledAt : toDate(a.lastStartedTime)),
      lastFailure,
      // Scheduled and due (not a retry still backing off): only a missing worker holds it.
      claimable: scheduled && scheduledAt !== null && scheduledAt.getTime() <= Date.now(),
    };
  });

/**
 * A workflow's steps in its sites (workflows/site-link.ts): one Nexus operation each, named
 * after the site activity. Until the site has taken a step (the operation has started) it is
 * `waiting` for the site, whatever attempts the link made to hand it over; once started it is
 * `running` in the site's namespace, which holds its own retries.
 */
export const pendingSiteSteps = (desc: WorkflowExecutionDescription): PendingStep[] =>
  (desc.raw.pendingNexusOperations ?? []).map((op) => {
    const started = op.state === PendingNexusOperationState.PENDING_NEXUS_OPERATION_STATE_STARTED;
    return {
      activity: op.operation ?? 'unknown',
      state: started ? ('running' as const) : ('waiting' as const),
      attempt: 1,
      since: iso(toDate(op.scheduledTime)),
      lastFailure: null,
    };
  });

/** A run as the API shows it: Temporal's view of the workflow, in drover's words. */
export const describeRun = async (client: Client, id: string): Promise<Run> => {
  const handle = client.workflow.getHandle(id);
  const desc = await handle.describe();
  const status = STATUS[desc.status.name] ?? 'running';
  const pending = [
    ...pendingActivities(desc).map(
      ({ activityId: _id, claimable: _claimable, ...step }): PendingStep => step,
    ),
    ...pendingSiteSteps(desc),
  ];
  const run: Run = {
    id,
    kind: kindOfRunId(id),
    status,
    startedAt: iso(desc.startTime),
    closedAt: iso(desc.closeTime ?? null),
    pending,
  };
  let failureProgress: unknown;
  if (status === 'succeeded') {
    run.result = await handle.result();
  } else if (status !== 'running') {
    run.error = await handle.result().then(
      () => status,
      (err: unknown) => {
        const cause = (err as { cause?: unknown }).cause;
        if (cause instanceof ApplicationFailure) failureProgress = cause.details?.[0];
        return describeFailure(err);
      },
    );
  }
  if (PROGRESS_KINDS.includes(run.kind)) {
    const progress =
      status === 'succeeded' ? run.result : (failureProgress ?? (await queryProgress(client, id)));
    if (progress !== undefined) run.progress = progress;
  }
  return run;
};

/** The innermost message is the one a user can act on. */
const describeFailure = (err: unknown): string => {
  const messages: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 6; e = e.cause, depth++) {
    messages.push(e.message);
  }
  return messages.filter(Boolean).join(': ') || String(err);
};

/** A run as a list shows it: no pending steps, no result. */
export type RunSummary = Pick<Run, 'id' | 'kind' | 'status' | 'startedAt' | 'closedAt'>;

const { WorkflowExecutionStatus: ExecStatus } = proto.temporal.api.enums.v1;

/** Temporal's execution status by its number, in drover's words. */
const STATUS_BY_CODE = new Map<number, RunStatus>([
  [ExecStatus.WORKFLOW_EXECUTION_STATUS_RUNNING, 'running'],
  [ExecStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED, 'succeeded'],
  [ExecStatus.WORKFLOW_EXECUTION_STATUS_FAILED, 'failed'],
  [ExecStatus.WORKFLOW_EXECUTION_STATUS_CANCELED, 'cancelled'],
  [ExecStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED, 'terminated'],
  [ExecStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT, 'timed-out'],
  [ExecStatus.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW, 'running'],
]);

/** drover's status as a value of Temporal's `ExecutionStatus` search attribute. */
const VISIBILITY_STATUS: Record<RunStatus, string> = {
  running: 'Running',
  succeeded: 'Completed',
  failed: 'Failed',
  cancelled: 'Canceled',
  terminated: 'Terminated',
  'timed-out': 'TimedOut',
};

const badCursor = (cause?: unknown) =>
  new DroverError(ErrorType.BadInput, 'query.cursor: not a cursor this API returned', {
    field: 'query.cursor',
    ...(cause ? { cause } : {}),
  });

const encodeCursor = (token: Uint8Array | null | undefined): string | null =>
  token && token.length > 0 ? Buffer.from(token).toString('base64url') : null;

const decodeCursor = (cursor: string | undefined): Uint8Array | undefined => {
  if (cursor === undefined || cursor === '') return undefined;
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw badCursor();
  const token = Buffer.from(cursor, 'base64url');
  // Temporal's visibility stores write their page tokens as JSON objects; anything else (a
  // truncated or mistyped cursor) would only earn a retried, opaque failure from the server.
  let parsed: unknown;
  try {
    parsed = JSON.parse(token.toString('utf8'));
  } catch {
    throw badCursor();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw badCursor();
  return token;
};

const GRPC_UNKNOWN = 2;
const GRPC_INVALID_ARGUMENT = 3;

/**
 * Runs from Temporal's visibility store, newest first: only drover's kinds (workflow ids
 * `<kind>:…`), never internal workflows such as `release:…`. A run that continued as new is
 * listed once, by its current execution. The cursor is Temporal's page token, base64url.
 */
export const listRuns = async (
  client: Client,
  kinds: readonly string[],
  filter: {
    kind?: string | undefined;
    status?: RunStatus | undefined;
    limit: number;
    cursor?: string | undefined;
    /** Only runs whose id starts with one of these (a schedule's runs); made of validated ids only. */
    idPrefixes?: readonly string[] | undefined;
  },
): Promise<{ items: RunSummary[]; nextCursor: string | null }> => {
  // Kinds and statuses come from closed enums, so nothing a caller typed reaches the query.
  const prefixes = (
    filter.idPrefixes
      ? filter.idPrefixes.filter((p) => !filter.kind || p.startsWith(`${filter.kind}:`))
      : (filter.kind ? [filter.kind] : kinds).map((k) => `${k}:`)
  ).map((p) => `WorkflowId STARTS_WITH '${p}'`);
  // A kind the prefixes exclude: nothing can match.
  if (prefixes.length === 0) return { items: [], nextCursor: null };
  const query = [
    `(${prefixes.join(' OR ')})`,
    // A deploy run's shards are parts of it, not runs of their own.
    `WorkflowType != 'deployShardWorkflow'`,
    filter.status
      ? `ExecutionStatus = '${VISIBILITY_STATUS[filter.status]}'`
      : `ExecutionStatus != 'ContinuedAsNew'`,
  ].join(' AND ');
  const nextPageToken = decodeCursor(filter.cursor);
  let response;
  try {
    response = await client.workflowService.listWorkflowExecutions({
      namespace: client.options.namespace,
      query,
      pageSize: filter.limit,
      ...(nextPageToken ? { nextPageToken } : {}),
    });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    // With a token, these mean the server could not make sense of it.
    if (nextPageToken && (code === GRPC_INVALID_ARGUMENT || code === GRPC_UNKNOWN)) {
      throw badCursor(err);
    }
    throw err;
  }
  const items = (response.executions ?? []).map((e) => {
    const id = e.execution?.workflowId ?? '';
    return {
      id,
      kind: kindOfRunId(id),
      status: STATUS_BY_CODE.get(e.status ?? 0) ?? 'running',
      startedAt: iso(toDate(e.startTime)),
      closedAt: iso(toDate(e.closeTime)),
    };
  });
  return { items, nextCursor: encodeCursor(response.nextPageToken) };
};
