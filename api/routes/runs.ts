import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { WorkflowNotFoundError } from '@temporalio/client';
import { Run, RunId, RunKind, RunStatus, kindOfRunId } from '../../domain/runs.ts';
import { DroverError, ErrorType } from '../../domain/errors.ts';
import { ErrorBody } from '../errors.ts';
import { liveDeployProgress, liveDeployView } from '../deploy-runs.ts';
import { createDeployTargetStore } from '../../db/deploy-targets.ts';
import { TargetState, type TargetProgress } from '../../domain/deployments.ts';
import { startSuccessorRun } from '../run-successor.ts';
import { describeRun, listRuns } from '../temporal-views.ts';
import { ScheduleId, scheduledRunPrefixes } from '../../domain/schedules.ts';
import type { AppDeps } from '../app.ts';

const Params = z.object({ id: RunId });
const RunViewSchema = Run.extend({ progress: z.unknown().optional() });
type RunView = z.infer<typeof RunViewSchema>;
const RunSummary = Run.pick({ id: true, kind: true, status: true, startedAt: true, closedAt: true });
/** How often an event stream looks at its run, and how often it proves it is alive. */
const POLL_MS = 1_000;
const HEARTBEAT_MS = 15_000;
/** Kinds of run that speak the control protocol (progress query, pause/resume/rollback updates). */
const CONTROLLED_KINDS = ['deploy', 'clone'];

export const runRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const targetStore = createDeployTargetStore(deps.db);
    /** What GET /v1/runs/:id shows: Temporal's view, plus live progress for controlled kinds. */
    const runView = async (id: string): Promise<RunView> => {
      const run = await describeRun(deps.temporal, id);
      if (CONTROLLED_KINDS.includes(run.kind)) {
        if (run.status !== 'running') return { ...run, progress: run.result ?? run.progress };
        // The shard at work holds the targets' activities: what waits on which site, since when.
        const live = await liveDeployView(
          deps.temporal,
          run.id,
          await deps.temporal.workflow.getHandle(run.id).query('progress'),
        );
        return { ...run, pending: [...run.pending, ...live.pending], progress: live.progress };
      }
      return run;
    };

    app.get(
      '/runs',
      {
        schema: {
          summary: 'List runs, newest first, from the workflow engine',
          description:
            'Every kind of run drover starts (ping, discovery, deploy, site-check-in). Page with `nextCursor`.',
          tags: ['runs'],
          querystring: z.object({
            kind: RunKind.optional().describe('only runs of this kind'),
            status: RunStatus.optional().describe('only runs in this status'),
            limit: z.coerce.number().int().min(1).max(1000).default(50),
            cursor: z.string().max(4096).optional().describe('`nextCursor` of the previous page'),
            schedule: ScheduleId.optional().describe('only runs this schedule started'),
          }),
          response: {
            200: z.object({ items: z.array(RunSummary), nextCursor: z.string().nullable() }),
            400: ErrorBody,
          },
        },
      },
      async (request) =>
        listRuns(deps.temporal, RunKind.options, {
          ...request.query,
          idPrefixes: request.query.schedule ? scheduledRunPrefixes(request.query.schedule) : undefined,
        }),
    );

    app.get(
      '/runs/:id',
      {
        schema: {
          summary: 'A run: status, progress, what it is waiting for, and its result or error',
          tags: ['runs'],
          params: Params,
          response: { 200: RunViewSchema, 404: ErrorBody },
        },
      },
      async (request) => runView(request.params.id),
    );

    /** Open event streams, so a closing server ends them instead of waiting for their clients. */
    const streams = new Set<() => void>();
    app.addHook('preClose', async () => {
      for (const stop of streams) stop();
    });

    app.get(
      '/runs/:id/events',
      {
        schema: {
          summary: 'Follow a run: a server-sent event stream of its state',
          description: [
            '`event: progress` carries what GET /v1/runs/{id} returns, first at once and then whenever it changes;',
            '`event: end` says the run has closed, and the stream ends. A `: keep-alive` comment comes every',
            `${HEARTBEAT_MS / 1000} s. A deploy run stays open after it succeeded, for its rollback window.`,
          ].join(' '),
          tags: ['runs'],
          produces: ['text/event-stream'],
          params: Params,
          response: { 404: ErrorBody },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        // Before the stream starts, so an unknown run is an ordinary 404.
        let view = await runView(id);

        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        let open = true;
        let wake = () => {};
        const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
        const stop = () => {
          open = false;
          clearInterval(heartbeat);
          streams.delete(stop);
          wake();
        };
        streams.add(stop);
        // Either closes when the client goes away: stop polling.
        request.raw.on('close', stop);
        res.on('close', stop);
        const send = (event: string, json: string) => {
          if (open) res.write(`event: ${event}\ndata: ${json}\n\n`);
        };
        const pause = (ms: number) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, ms);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });

        let last = JSON.stringify(view);
        send('progress', last);
        try {
          while (open && view.status === 'running') {
            await pause(POLL_MS);
            if (!open) break;
            try {
              view = await runView(id);
            } catch (err) {
              if (err instanceof WorkflowNotFoundError) {
                // Gone (past retention, or the namespace was reset): nothing more will come.
                send('end', JSON.stringify({ id, status: null, reason: 'the run no longer exists' }));
                return;
              }
              request.log.warn({ err, runId: id }, 'run event stream: poll failed');
              send('error', JSON.stringify({ message: 'could not read the run; retrying' }));
              continue;
            }
            const json = JSON.stringify(view);
            if (json !== last) {
              last = json;
              send('progress', json);
            }
          }
          if (open) send('end', JSON.stringify({ id, status: view.status }));
        } finally {
          stop();
          res.end();
        }
      },
    );

    app.get(
      '/runs/:id/targets',
      {
        schema: {
          summary: "A deploy run's targets, one page at a time, in plan order",
          description:
            'Every target with its wave, state, attempts and last error. The shard at work shows live states (`waiting` for a target queued on a site no sub-manager serves), also when filtered by `state`; the others as they ended (or pending, if not started).',
          tags: ['runs'],
          params: Params,
          querystring: z.object({
            state: TargetState.optional(),
            limit: z.coerce.number().int().min(1).max(1000).default(100),
            cursor: z
              .string()
              .regex(/^\d{1,10}$/, 'not a cursor this API returned')
              .optional(),
          }),
          response: {
            200: z.object({
              total: z.number(),
              items: z.array(z.object({ position: z.number() }).passthrough()),
              nextCursor: z.string().nullable(),
            }),
            404: ErrorBody,
          },
        },
      },
      async (request) => {
        const { id } = request.params;
        if (kindOfRunId(id) !== 'deploy') {
          throw new DroverError(ErrorType.BadInput, `runs of kind '${kindOfRunId(id)}' have no targets`, {
            field: 'params.id',
          });
        }
        const run = await describeRun(deps.temporal, id);
        const { state, limit } = request.query;
        const after = request.query.cursor === undefined ? -1 : Number(request.query.cursor);
        const view =
          run.status === 'running'
            ? await liveDeployView(
                deps.temporal,
                id,
                await deps.temporal.workflow.getHandle(id).query('progress'),
              )
            : null;
        const live = new Map(
          ((view?.progress as { targets?: TargetProgress[] } | undefined)?.targets ?? []).map((t) => [
            t.id,
            t,
          ]),
        );
        const withLive = <T extends TargetProgress & { position: number }>(t: T): T => ({
          ...t,
          ...live.get(t.id),
          position: t.position,
        });
        const shard = view?.activeShard;
        if (!state || !shard) {
          const page = await targetStore.list(id, { state }, { limit, after });
          return {
            total: page.total,
            items: page.items.map(withLive),
            nextCursor: page.next === null ? null : String(page.next),
          };
        }
        // The shard at work writes its targets' states when it ends: until then the database
        // holds them as they were, so they are filtered by their live state instead.
        const outside = await targetStore.list(
          id,
          { state, positions: { ...shard, inside: false } },
          { limit, after },
        );
        const inside = (
          await targetStore.list(
            id,
            { positions: { ...shard, inside: true } },
            { limit: shard.to - shard.from },
          )
        ).items
          .map(withLive)
          .filter((t) => t.state === state);
        const merged = [...outside.items, ...inside.filter((t) => t.position > after)].sort(
          (a, b) => a.position - b.position,
        );
        const items = merged.slice(0, limit);
        const more = merged.length > limit || outside.next !== null;
        return {
          total: outside.total + inside.length,
          items,
          nextCursor: more ? String(items.at(-1)?.position ?? after) : null,
        };
      },
    );

    const control = (name: string, update: string, summary: string, body?: z.ZodType) =>
      app.post(
        `/runs/:id/${name}`,
        {
          schema: {
            summary,
            tags: ['runs'],
            params: Params,
            ...(body ? { body } : {}),
            response: {
              200: z.object({ progress: z.unknown() }),
              202: z.object({
                successor: z.object({ runId: z.string(), alreadyDone: z.number(), remaining: z.number() }),
              }),
              404: ErrorBody,
              409: ErrorBody,
              422: ErrorBody,
            },
          },
        },
        async (request, reply) => {
          const { id } = request.params;
          if (!CONTROLLED_KINDS.includes(kindOfRunId(id))) {
            throw new DroverError(
              ErrorType.InvalidState,
              `runs of kind '${kindOfRunId(id)}' cannot be ${name}d`,
            );
          }
          const handle = deps.temporal.workflow.getHandle(id);
          const { status } = await handle.describe();
          if (status.name !== 'RUNNING') {
            if (name === 'resume' && kindOfRunId(id) === 'deploy') {
              // A run that died cannot be resumed in place: a successor takes over.
              const successor = await startSuccessorRun(deps, id, request.principal?.name ?? 'unknown');
              deps.metrics.runsStarted.inc({ kind: 'deploy' });
              return reply.status(202).send({ successor });
            }
            throw new DroverError(
              ErrorType.InvalidState,
              `run '${id}' is ${status.name.toLowerCase()}; it cannot be ${name}d`,
            );
          }
          const progress = body
            ? await handle.executeUpdate(update, { args: [request.body] })
            : await handle.executeUpdate(update);
          return reply.status(200).send({ progress: await liveDeployProgress(deps.temporal, id, progress) });
        },
      );

    control('pause', 'pause', 'Pause a run: no new targets start; running ones finish');
    control(
      'resume',
      'resume',
      'Resume a paused run, retrying its failed targets or skipping them. A run that died (terminated, failed) is resumed by a successor run (202) that skips every cluster it finished.',
      z.object({ failed: z.enum(['retry', 'skip']).default('retry') }),
    );
    control(
      'rollback',
      'rollback',
      'Roll back every cluster the run touched to its snapshot, in reverse wave order',
    );
    control(
      'concurrency',
      'setConcurrency',
      'Change how many targets run at once',
      z.object({ maxParallel: z.number().int().min(1).max(500) }),
    );

    app.post(
      '/runs/:id/cancel',
      {
        schema: {
          summary: 'Cancel a run: nothing new starts; what runs settles',
          tags: ['runs'],
          params: Params,
          response: { 202: z.object({ runId: z.string() }), 404: ErrorBody },
        },
      },
      async (request, reply) => {
        await deps.temporal.workflow.getHandle(request.params.id).cancel();
        return reply.status(202).send({ runId: request.params.id });
      },
    );
  };
