import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleOptionsAction,
  type ScheduleSpec,
  type ScheduleSummary,
} from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { durationMs } from '../domain/durations.ts';
import { DroverError, ErrorType } from '../domain/errors.ts';
import type { ScheduleKind } from '../domain/schedules.ts';
import {
  scheduledWorkflowId,
  type BackfillRequest,
  type OverlapPolicy,
  type ScheduleDefinition,
  type SchedulePolicy,
  type ScheduleTiming,
} from '../domain/schedules.ts';
import { CONTROL_TASK_QUEUE } from '../domain/task-queues.ts';

/**
 * drover schedules as Temporal Schedules. The schedule is the only copy: its spec, policies and
 * state are Temporal's; the definition as the user gave it rides in the action's arguments
 * (next to what the started workflow needs), so GET returns it exactly as written. A memo
 * marks the schedules drover's API manages; others (a site's discovery schedule) are not
 * listed here.
 */

const MARK = 'schedule';

const OVERLAP: Record<OverlapPolicy, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

const WORKFLOW_OF: Record<ScheduleKind, string> = {
  deploy: 'scheduledDeployWorkflow',
  maintenance: 'maintenanceWorkflow',
  discovery: 'discoverSiteWorkflow',
};
const KIND_OF = new Map(Object.entries(WORKFLOW_OF).map(([kind, type]) => [type, kind as ScheduleKind]));

const ms = (duration: string): number => durationMs(duration) ?? 0;

export const temporalSpec = (t: ScheduleTiming): ScheduleSpec => ({
  ...(t.cron ? { cronExpressions: t.cron } : {}),
  ...(t.intervals
    ? { intervals: t.intervals.map((i) => ({ every: ms(i.every), offset: i.offset ? ms(i.offset) : 0 })) }
    : {}),
  ...(t.timezone ? { timezone: t.timezone } : {}),
  ...(t.startAt ? { startAt: new Date(t.startAt) } : {}),
  ...(t.endAt ? { endAt: new Date(t.endAt) } : {}),
  ...(t.jitter ? { jitter: ms(t.jitter) } : {}),
});

const temporalPolicies = (p: SchedulePolicy) => ({
  overlap: OVERLAP[p.overlap],
  catchupWindow: ms(p.catchupWindow),
  pauseOnFailure: p.pauseOnFailure,
});

/** The workflow a schedule starts, with the schedule's definition beside its own input. */
export const temporalAction = (id: string, definition: ScheduleDefinition): ScheduleOptionsAction => {
  const schedule = { id, definition };
  const { action } = definition;
  const input =
    action.kind === 'deploy'
      ? { deployment: action.deployment, schedule }
      : action.kind === 'maintenance'
        ? { spec: action.maintenance, schedule }
        : { site: action.site, schedule };
  return {
    type: 'startWorkflow',
    workflowType: WORKFLOW_OF[action.kind],
    taskQueue: CONTROL_TASK_QUEUE,
    workflowId: scheduledWorkflowId(action.kind, id),
    args: [input],
    memo: {
      schedule: id,
      startedBy: `schedule:${id}`,
      ...(action.kind === 'deploy' ? { releaseId: action.deployment.releaseId } : {}),
    },
  };
};

export type ScheduleView = ScheduleDefinition & {
  id: string;
  kind: ScheduleKind;
  paused: boolean;
  note: string | null;
  nextRunTimes: string[];
  /** Runs it started, newest last (Temporal keeps the latest ten). */
  recentRuns: { runId: string; scheduledAt: string; startedAt: string }[];
  runningRuns: string[];
  counts: { started: number; missedCatchupWindow: number; skippedOverlap: number };
  createdAt: string;
  updatedAt: string | null;
  links: { self: string; runs: string };
};

const isOurs = (memo: Record<string, unknown> | undefined) => memo?.drover === MARK;

const definitionOf = (desc: ScheduleDescription): ScheduleDefinition => {
  const input = desc.action.args?.[0] as { schedule?: { definition?: ScheduleDefinition } } | undefined;
  const definition = input?.schedule?.definition;
  if (!definition) throw new Error(`schedule ${desc.scheduleId} carries no drover definition`);
  return definition;
};

export const scheduleView = (desc: ScheduleDescription): ScheduleView => {
  const definition = definitionOf(desc);
  return {
    id: desc.scheduleId,
    kind: definition.action.kind,
    ...definition,
    paused: desc.state.paused,
    note: desc.state.note ?? null,
    nextRunTimes: desc.info.nextActionTimes.map((d) => d.toISOString()),
    recentRuns: desc.info.recentActions.map((a) => ({
      runId: a.action.workflow.workflowId,
      scheduledAt: a.scheduledAt.toISOString(),
      startedAt: a.takenAt.toISOString(),
    })),
    runningRuns: desc.info.runningActions.map((a) => a.workflow.workflowId),
    counts: {
      started: desc.info.numActionsTaken,
      missedCatchupWindow: desc.info.numActionsMissedCatchupWindow,
      skippedOverlap: desc.info.numActionsSkippedOverlap,
    },
    createdAt: desc.info.createdAt.toISOString(),
    updatedAt: desc.info.lastUpdatedAt?.toISOString() ?? null,
    links: { self: `/v1/schedules/${desc.scheduleId}`, runs: `/v1/runs?schedule=${desc.scheduleId}` },
  };
};

export type ScheduleListItem = {
  id: string;
  kind: ScheduleKind | null;
  paused: boolean;
  note: string | null;
  nextRunTime: string | null;
  lastRun: { runId: string; startedAt: string } | null;
};

const listItem = (s: ScheduleSummary): ScheduleListItem => {
  const last = s.info.recentActions.at(-1);
  return {
    id: s.scheduleId,
    kind: KIND_OF.get(s.action?.workflowType ?? '') ?? null,
    paused: s.state.paused,
    note: s.state.note ?? null,
    nextRunTime: s.info.nextActionTimes[0]?.toISOString() ?? null,
    lastRun: last ? { runId: last.action.workflow.workflowId, startedAt: last.takenAt.toISOString() } : null,
  };
};

const GRPC_INVALID_ARGUMENT = 3;

/**
 * A spec Temporal refused (a cron it cannot parse, an unknown time zone): the caller's mistake.
 * The client compiles cron expressions itself and throws a TypeError naming the bad field; the
 * server answers INVALID_ARGUMENT for the rest.
 */
const refusedSpec = (err: unknown, field: string): DroverError | undefined => {
  if (err instanceof TypeError)
    return new DroverError(ErrorType.BadInput, `${field}: ${err.message}`, { field });
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === GRPC_INVALID_ARGUMENT) {
      const details = (e as { details?: unknown }).details;
      const message = typeof details === 'string' && details ? details : (e as Error).message;
      return new DroverError(ErrorType.BadInput, `${field}: ${message}`, { field });
    }
  }
  return undefined;
};

const notFound = (id: string) =>
  new DroverError(ErrorType.NotFound, `schedule '${id}' not found`, { field: 'params.id' });

/** Temporal's calls on one schedule, with its errors in drover's words. */
export const createScheduleService = (temporal: Client) => {
  const handle = (id: string) => temporal.schedule.getHandle(id);

  const describe = async (id: string): Promise<ScheduleDescription> => {
    try {
      const desc = await handle(id).describe();
      if (!isOurs(desc.memo)) throw notFound(id);
      return desc;
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw notFound(id);
      throw err;
    }
  };

  /** Runs `op` on a schedule; one that vanished meanwhile is a 404. */
  const vanishedIs404 = async <T>(id: string, op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw notFound(id);
      throw err;
    }
  };
  /** Runs `op` on a drover schedule (others are a 404, as is one that vanished meanwhile). */
  const onSchedule = async <T>(id: string, op: () => Promise<T>): Promise<T> => {
    await describe(id);
    return vanishedIs404(id, op);
  };

  return {
    describe,

    async create(input: { id: string; definition: ScheduleDefinition; paused: boolean; createdBy: string }) {
      try {
        await temporal.schedule.create({
          scheduleId: input.id,
          spec: temporalSpec(input.definition.spec),
          action: temporalAction(input.id, input.definition),
          policies: temporalPolicies(input.definition.policy),
          memo: { drover: MARK, createdBy: input.createdBy },
          state: {
            paused: input.paused,
            ...(input.paused ? { note: `created paused by ${input.createdBy}` } : {}),
          },
        });
      } catch (err) {
        if (err instanceof ScheduleAlreadyRunning) {
          throw new DroverError(ErrorType.Conflict, `schedule '${input.id}' already exists`, {
            field: 'body.id',
          });
        }
        throw refusedSpec(err, 'body.spec') ?? err;
      }
      return describe(input.id);
    },

    async update(id: string, change: (current: ScheduleDefinition) => ScheduleDefinition) {
      await onSchedule(id, async () => {
        try {
          await handle(id).update((previous) => {
            const next = change(definitionOf(previous));
            return {
              ...previous,
              spec: temporalSpec(next.spec),
              action: temporalAction(id, next),
              policies: temporalPolicies(next.policy),
              state: {
                paused: previous.state.paused,
                ...(previous.state.note ? { note: previous.state.note } : {}),
              },
            };
          });
        } catch (err) {
          throw refusedSpec(err, 'body.spec') ?? err;
        }
      });
      return describe(id);
    },

    async remove(id: string) {
      await onSchedule(id, () => handle(id).delete());
    },

    async pause(id: string, note: string) {
      await onSchedule(id, () => handle(id).pause(note));
      return describe(id);
    },

    async unpause(id: string, note: string) {
      await onSchedule(id, () => handle(id).unpause(note));
      return describe(id);
    },

    /**
     * Starts one run now and answers with its id once the schedule has taken the action (read
     * from the schedule itself, which is consistent, not from the lagging run listing); null if
     * it has not within `waitMs`. Temporal names a scheduled run by the second it starts in, so
     * a trigger in the same second as the schedule's last action waits for the next second: two
     * quick triggers would otherwise share a run id and the second would be lost.
     */
    async trigger(id: string, overlap?: OverlapPolicy, waitMs = 10_000): Promise<string | null> {
      const before = (await describe(id)).info;
      const last = before.recentActions.at(-1);
      if (last) {
        const nextSecond = Math.floor(last.takenAt.getTime() / 1000) * 1000 + 1000;
        if (nextSecond > Date.now()) await sleep(nextSecond - Date.now());
      }
      // `before` came from describe: the schedule is drover's; only a vanishing is left to map.
      await vanishedIs404(id, () => handle(id).trigger(overlap ? OVERLAP[overlap] : undefined));
      const deadline = Date.now() + waitMs;
      for (;;) {
        const { info } = await describe(id);
        if (info.numActionsTaken > before.numActionsTaken)
          return info.recentActions.at(-1)?.action.workflow.workflowId ?? null;
        if (info.numActionsSkippedOverlap > before.numActionsSkippedOverlap)
          throw new DroverError(
            ErrorType.Conflict,
            `schedule '${id}': the trigger was skipped, a run is still running and the overlap policy is ${overlap ?? 'allow-all'}`,
            { field: 'body.overlap' },
          );
        if (Date.now() >= deadline) return null;
        await sleep(100);
      }
    },

    async backfill(id: string, request: BackfillRequest) {
      const desc = await describe(id);
      await onSchedule(id, () =>
        handle(id).backfill({
          start: new Date(request.start),
          end: new Date(request.end),
          overlap: request.overlap ? OVERLAP[request.overlap] : desc.policies.overlap,
        }),
      );
    },

    /** drover's schedules, by id. Temporal lists from its visibility store: a new one may lag a second. */
    async list(limit: number): Promise<ScheduleListItem[]> {
      const items: ScheduleListItem[] = [];
      for await (const summary of temporal.schedule.list({ pageSize: 200 })) {
        if (!isOurs(summary.memo)) continue;
        items.push(listItem(summary));
      }
      return items.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).slice(0, limit);
    },
  };
};

export type ScheduleService = ReturnType<typeof createScheduleService>;
