import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { checkDeploymentRequest } from '../../activities/control/deploy-plans.ts';
import { createSiteStore } from '../../db/sites.ts';
import { DroverError, ErrorType } from '../../domain/errors.ts';
import { RunKind } from '../../domain/runs.ts';
import {
  BackfillRequest,
  CreateScheduleRequest,
  OverlapPolicy,
  PatchScheduleRequest,
  ScheduleAction,
  ScheduleId,
  SchedulePolicy,
  scheduledRunPrefixes,
  ScheduleTiming,
  type ScheduleDefinition,
} from '../../domain/schedules.ts';
import { ErrorBody } from '../errors.ts';
import { createScheduleService, scheduleView } from '../schedules.ts';
import { listRuns } from '../temporal-views.ts';
import { selectorFrom } from '../../domain/selectors.ts';
import type { AppDeps } from '../app.ts';

const Params = z.object({ id: ScheduleId });
const RunRef = z.object({ runId: z.string(), scheduledAt: z.string(), startedAt: z.string() });
const ScheduleView = z.object({
  id: ScheduleId,
  kind: z.enum(['deploy', 'maintenance', 'discovery']),
  description: z.string(),
  spec: ScheduleTiming,
  policy: SchedulePolicy,
  action: ScheduleAction,
  paused: z.boolean(),
  note: z.string().nullable(),
  nextRunTimes: z.array(z.string()),
  recentRuns: z.array(RunRef),
  runningRuns: z.array(z.string()),
  counts: z.object({ started: z.number(), missedCatchupWindow: z.number(), skippedOverlap: z.number() }),
  createdAt: z.string(),
  updatedAt: z.string().nullable(),
  links: z.object({ self: z.string(), runs: z.string() }),
  /** Its latest runs with their status, newest first (from the runs listing). */
  runs: z
    .array(
      z.object({
        id: z.string(),
        kind: z.string(),
        status: z.string(),
        startedAt: z.string().nullable(),
        closedAt: z.string().nullable(),
      }),
    )
    .optional(),
});
/** Optional: without a body the note says who did it. */
const Note = z
  .object({ note: z.string().max(500).optional() })
  .strict()
  .nullish();
const Accepted = z.object({
  scheduleId: z.string(),
  links: z.object({ self: z.string(), runs: z.string() }),
});
const Triggered = Accepted.extend({
  runId: z
    .string()
    .nullable()
    .describe('the run the trigger started; null if the schedule had not started it within 10 s'),
});

export const scheduleRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const schedules = createScheduleService(deps.temporal);
    const sites = createSiteStore(deps.db);
    const links = (id: string) => ({ self: `/v1/schedules/${id}`, runs: `/v1/runs?schedule=${id}` });

    /** What the action names must exist and parse now; the placement itself resolves when it fires. */
    const checkAction = async (action: ScheduleDefinition['action'], prefix: string) => {
      switch (action.kind) {
        case 'deploy':
          await checkDeploymentRequest(deps.db, action.deployment, `${prefix}.deployment`);
          return;
        case 'maintenance':
          selectorFrom(
            action.maintenance.drift?.placement?.selector,
            `${prefix}.maintenance.drift.placement.selector`,
          );
          return;
        case 'discovery':
          if (!(await sites.get(action.site))) {
            throw new DroverError(ErrorType.NotFound, `site '${action.site}' not found`, {
              field: `${prefix}.site`,
            });
          }
      }
    };

    app.get(
      '/schedules',
      {
        schema: {
          summary: 'List schedules',
          description: 'Every schedule made through this API, by id, with its next time and last run.',
          tags: ['schedules'],
          querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(200) }),
          response: {
            200: z.object({
              items: z.array(
                z.object({
                  id: z.string(),
                  kind: z.string().nullable(),
                  paused: z.boolean(),
                  note: z.string().nullable(),
                  nextRunTime: z.string().nullable(),
                  lastRun: z.object({ runId: z.string(), startedAt: z.string() }).nullable(),
                }),
              ),
            }),
          },
        },
      },
      async (request) => ({ items: await schedules.list(request.query.limit) }),
    );

    app.post(
      '/schedules',
      {
        schema: {
          summary: 'Create a schedule: a Temporal Schedule that starts one kind of run from a stored spec',
          description: [
            'Kinds: `deploy` (a deployment request, planned afresh each time it fires), `maintenance`',
            '(drift, expired clusters, version report) and `discovery` (one site). Timing: `cron` and/or',
            '`intervals` (`{every: "15m", offset: "2m"}`), `timezone`, `startAt`/`endAt`, `jitter`. Policy:',
            '`overlap` (skip, buffer-one, buffer-all, cancel-other, terminate-other, allow-all),',
            '`catchupWindow`, `pauseOnFailure`. Runs it starts are `<kind>:<id>.scheduled-<time>`.',
          ].join(' '),
          tags: ['schedules'],
          body: CreateScheduleRequest,
          response: { 201: ScheduleView, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
        },
      },
      async (request, reply) => {
        const { id, paused, ...definition } = request.body;
        await checkAction(definition.action, 'body.action');
        const desc = await schedules.create({
          id,
          definition,
          paused,
          createdBy: request.principal?.name ?? 'unknown',
        });
        return reply.status(201).send(scheduleView(desc));
      },
    );

    app.get(
      '/schedules/:id',
      {
        schema: {
          summary: 'A schedule: its definition, state, next times and the runs it started',
          tags: ['schedules'],
          params: Params,
          response: { 200: ScheduleView, 404: ErrorBody },
        },
      },
      async (request) => {
        const view = scheduleView(await schedules.describe(request.params.id));
        const runs = await listRuns(deps.temporal, RunKind.options, {
          idPrefixes: scheduledRunPrefixes(view.id),
          limit: 20,
        });
        return { ...view, runs: runs.items };
      },
    );

    app.patch(
      '/schedules/:id',
      {
        schema: {
          summary: 'Change a schedule: replace its description, spec, policy or action',
          description: 'Runs already started are not touched. Pause state is kept.',
          tags: ['schedules'],
          params: Params,
          body: PatchScheduleRequest,
          response: { 200: ScheduleView, 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request) => {
        const patch = request.body;
        if (patch.action) await checkAction(patch.action, 'body.action');
        const desc = await schedules.update(request.params.id, (current) => ({
          description: patch.description ?? current.description,
          spec: patch.spec ?? current.spec,
          policy: patch.policy ?? current.policy,
          action: patch.action ?? current.action,
        }));
        return scheduleView(desc);
      },
    );

    app.delete(
      '/schedules/:id',
      {
        schema: {
          summary: 'Delete a schedule; runs it started go on',
          tags: ['schedules'],
          params: Params,
          response: { 204: z.null(), 404: ErrorBody },
        },
      },
      async (request, reply) => {
        await schedules.remove(request.params.id);
        return reply.status(204).send(null);
      },
    );

    const who = (request: { principal?: { name: string } | undefined }) =>
      request.principal?.name ?? 'unknown';

    app.post(
      '/schedules/:id/pause',
      {
        schema: {
          summary: 'Pause a schedule: it starts nothing until unpaused (a trigger still runs)',
          tags: ['schedules'],
          params: Params,
          body: Note,
          response: { 200: ScheduleView, 404: ErrorBody },
        },
      },
      async (request) =>
        scheduleView(
          await schedules.pause(request.params.id, request.body?.note ?? `paused by ${who(request)}`),
        ),
    );

    app.post(
      '/schedules/:id/unpause',
      {
        schema: {
          summary: 'Unpause a schedule',
          tags: ['schedules'],
          params: Params,
          body: Note,
          response: { 200: ScheduleView, 404: ErrorBody },
        },
      },
      async (request) =>
        scheduleView(
          await schedules.unpause(request.params.id, request.body?.note ?? `unpaused by ${who(request)}`),
        ),
    );

    app.post(
      '/schedules/:id/trigger',
      {
        schema: {
          summary: 'Start one run now, paused or not',
          description:
            'Answers with the id of the run it started once the schedule has started it. ' +
            'The overlap policy defaults to allow-all; with another, a trigger while a run is still ' +
            'running may be skipped (409).',
          tags: ['schedules'],
          params: Params,
          body: z.object({ overlap: OverlapPolicy.optional() }).strict().nullish(),
          response: { 202: Triggered, 404: ErrorBody, 409: ErrorBody },
        },
      },
      async (request, reply) => {
        const runId = await schedules.trigger(request.params.id, request.body?.overlap);
        return reply
          .status(202)
          .send({ scheduleId: request.params.id, runId, links: links(request.params.id) });
      },
    );

    app.post(
      '/schedules/:id/backfill',
      {
        schema: {
          summary: 'Run the times a schedule would have fired between start and end, now',
          tags: ['schedules'],
          params: Params,
          body: BackfillRequest,
          response: { 202: Accepted, 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request, reply) => {
        await schedules.backfill(request.params.id, request.body);
        return reply.status(202).send({ scheduleId: request.params.id, links: links(request.params.id) });
      },
    );
  };
