import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { isPollerAlive } from '../domain/sites.ts';
import { kindOfRunId, type Run, type RunStatus } from '../domain/runs.ts';
import { siteTaskQueue } from '../domain/task-queues.ts';

type Timestamp =
  { seconds?: { toNumber(): number } | number | null; nanos?: number | null } | null | undefined;

const toDate = (ts: Timestamp): Date | null => {
  if (!ts || ts.seconds === null || ts.seconds === undefined) return null;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : ts.seconds.toNumber();
  return new Date(seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6));
};
const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

export type SiteLiveness = {
  status: 'online' | 'offline';
  lastSeenAt: string | null;
  pollers: { identity: string; lastAccessAt: string | null }[];
};

/**
 * Liveness comes from Temporal itself: the pollers it has seen on the site's activity queue and
 * when each last polled. A worker long-polls continuously, so a gap longer than the server's
 * long-poll interval plus slack means the sub-manager is gone.
 */
export const siteLiveness = async (
  client: Client,
  site: string,
  offlineAfterMs: number,
  now = new Date(),
): Promise<SiteLiveness> => {
  const response = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: {
      name: siteTaskQueue(site),
      kind: proto.temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL,
    },
    taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
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

const { PendingActivityState } = proto.temporal.api.enums.v1;

/** A run as the API shows it: Temporal's view of the workflow, in drover's words. */
export const describeRun = async (client: Client, id: string): Promise<Run> => {
  const handle = client.workflow.getHandle(id);
  const desc = await handle.describe();
  const status = STATUS[desc.status.name] ?? 'running';
  const pending = (desc.raw.pendingActivities ?? []).map((a) => {
    const scheduled = a.state === PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED;
    const lastFailure = a.lastFailure?.message ?? null;
    return {
      activity: a.activityType?.name ?? 'unknown',
      state: scheduled ? (lastFailure ? ('retrying' as const) : ('waiting' as const)) : ('running' as const),
      attempt: a.attempt ?? 1,
      since: iso(toDate(scheduled ? a.scheduledTime : a.lastStartedTime)),
      lastFailure,
    };
  });
  const run: Run = {
    id,
    kind: kindOfRunId(id),
    status,
    startedAt: iso(desc.startTime),
    closedAt: iso(desc.closeTime ?? null),
    pending,
  };
  if (status === 'succeeded') {
    run.result = await handle.result();
  } else if (status !== 'running') {
    run.error = await handle.result().then(
      () => status,
      (err: unknown) => describeFailure(err),
    );
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
