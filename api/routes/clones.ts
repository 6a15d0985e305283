import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { WithStartWorkflowOperation, WorkflowIdConflictPolicy } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import { createClusterStore, type ClusterRow } from '../../db/clusters.ts';
import { createSiteStore } from '../../db/sites.ts';
import {
  BulkCloneRequest,
  CloneRequest,
  MAX_CLONES_PER_RUN,
  requestFieldOf,
  type BulkCloneInput,
  type CloneItem,
  type ClonePlan,
  type ClonePlanning,
  type CloneSource,
  type CloneStrategy,
} from '../../domain/clones.ts';
import { parseCloudContext } from '../../domain/cluster-specs.ts';
import { planWaves } from '../../domain/deployments.ts';
import { DroverError, ErrorType } from '../../domain/errors.ts';
import { runIdFor } from '../../domain/runs.ts';
import { CONTROL_TASK_QUEUE } from '../../domain/task-queues.ts';
import { ErrorBody } from '../errors.ts';
import { selectorFrom } from '../../domain/selectors.ts';
import type { AppDeps } from '../app.ts';

/**
 * Clone runs: `POST /v1/clones` (one cluster) and `POST /v1/clones:bulk` (every cluster a
 * filter picks). Both start a clone run (workflows/bulk-clone.ts) whose first step plans each
 * clone on the sites (the source's describe and catalog, the target's catalog); the API waits
 * for that answer through an update started with the run, as the create route does. A dry run
 * returns the plans (200) — edit and submit them as `plan`/`plans` — and a plan that cannot be
 * executed is a 400 naming the field, with nothing made.
 */

/** How long the API waits for the sites to plan before answering 202 without the plans. */
const PLANNING_WAIT_MS = 60_000;

const Links = z.object({ self: z.string() });
const Problem = z.object({ field: z.string(), message: z.string() });

const timeout = (ms: number) =>
  new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref());

/** A source as a clone run needs it: a cluster of a site's cloud account, known to the inventory. */
const cloneSource = (row: ClusterRow, field: string): CloneSource => {
  const at = parseCloudContext(row.context);
  if (!at || !['eks', 'gke', 'aks'].includes(row.provider)) {
    throw new DroverError(
      ErrorType.BadInput,
      `${field}: cluster ${row.id} (${row.name}, ${row.provider}) is not in a site's cloud account, so drover cannot read its cloud model to clone it`,
      { field },
    );
  }
  if (row.status === 'vanished')
    throw new DroverError(ErrorType.InvalidState, `${field}: cluster ${row.id} has vanished from its site`, {
      field,
    });
  return {
    clusterId: row.id,
    name: at.name,
    site: row.site,
    account: at.account,
    cloud: row.provider as CloneSource['cloud'],
    location: at.location,
  };
};

export const cloneRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const sites = createSiteStore(deps.db);
    const clusters = createClusterStore(deps.db);

    const sourceRow = async (id: string, field: string): Promise<ClusterRow> => {
      try {
        return await clusters.get(id);
      } catch (err) {
        if (err instanceof DroverError && err.type === ErrorType.NotFound)
          throw new DroverError(ErrorType.NotFound, `${field}: no cluster ${id} in the inventory`, { field });
        throw err;
      }
    };
    const knownSite = async (site: string, field: string) => {
      if (!(await sites.get(site)))
        throw new DroverError(ErrorType.NotFound, `${field}: site '${site}' not found`, { field });
    };
    /** A submitted plan's source must still be the cluster the inventory knows by its id. */
    const checkPlanSource = async (plan: ClonePlan, field: string): Promise<ClusterRow> => {
      const row = await sourceRow(plan.source.clusterId, `${field}.clusterId`);
      const now = cloneSource(row, `${field}.clusterId`);
      for (const key of ['site', 'account', 'cloud', 'location', 'name'] as const) {
        if (now[key] !== plan.source[key])
          throw new DroverError(
            ErrorType.BadInput,
            `${field}.${key}: the plan says '${plan.source[key]}', the inventory '${now[key]}'`,
            { field: `${field}.${key}` },
          );
      }
      await knownSite(plan.target.site, field.replace(/source$/, 'target.site'));
      return row;
    };

    /** Starts the run with its planning update; the plans, or 'timeout' if the sites are slow. */
    const start = async (
      runId: string,
      input: BulkCloneInput,
      memo: Record<string, string>,
    ): Promise<ClonePlanning | 'timeout'> => {
      const operation = new WithStartWorkflowOperation('bulkCloneWorkflow', {
        taskQueue: CONTROL_TASK_QUEUE,
        workflowId: runId,
        args: [input],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
        memo,
      });
      const answer = deps.temporal.workflow
        .startUpdateWithStart<Workflow, ClonePlanning, []>('plan', {
          waitForStage: 'ACCEPTED',
          startWorkflowOperation: operation,
        })
        .then((update) => update.result());
      answer.catch(() => undefined);
      const planning = await Promise.race([answer, timeout(PLANNING_WAIT_MS)]);
      if (planning === 'timeout') {
        const started = await Promise.race([operation.workflowHandle().then(() => true), timeout(2_000)]);
        if (started !== true)
          throw new DroverError(
            ErrorType.Unavailable,
            'the workflow engine did not start the run; retry shortly',
          );
      }
      deps.metrics.runsStarted.inc({ kind: 'clone' });
      return planning;
    };

    /** Problems of a run that is to make clones: a 400 (or 409) naming the first field. */
    const refuse = (
      runId: string,
      planning: ClonePlanning,
      request: { bulk: boolean; submittedPlans: boolean },
    ): never => {
      if (planning.error !== null || planning.problems.length === 0)
        throw new DroverError(
          ErrorType.Unavailable,
          `could not plan the clones: ${planning.error ?? 'unknown'}`,
          {
            details: { runId },
          },
        );
      const issues = planning.problems.map((p) => requestFieldOf(p, request));
      const [first] = issues as [{ field: string; message: string }];
      const type = planning.problems.some((p) => p.type === 'Conflict')
        ? ErrorType.Conflict
        : ErrorType.BadInput;
      throw new DroverError(
        type,
        `${first.field}: ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`,
        { field: first.field, details: { runId, issues } },
      );
    };

    app.post(
      '/clones',
      {
        schema: {
          summary: 'Clone a cluster to another cloud account (any cloud), workloads optional',
          description: [
            "The source's site describes the cluster; the target's site gives its cloud's catalog; drover",
            'translates version, region and zones, machine types (never smaller, same architecture, GPUs kept),',
            'node pools, labels and what the target needs besides, listing every lossy or guessed choice in',
            '`plan.warnings`. With `dryRun: true` the plan is returned (200) — edit it and submit it as `plan`.',
            'Otherwise a clone run starts (202): create the cluster on the target, migrate the chosen workloads',
            '(at most 1 MiB once stripped), label the clone `drover.io/cloned-from=<source id>`. It speaks the run',
            'control protocol: POST /v1/runs/{id}/rollback deletes the clone.',
          ].join(' '),
          tags: ['clones'],
          body: CloneRequest,
          response: {
            200: z.object({
              dryRun: z.literal(true),
              runId: z.string(),
              plan: z.unknown(),
              problems: z.array(Problem),
            }),
            202: z.object({ runId: z.string(), planned: z.boolean(), plan: z.unknown(), links: Links }),
            400: ErrorBody,
            404: ErrorBody,
            409: ErrorBody,
            422: ErrorBody,
            503: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const b = request.body;
        const submitted = b.plan !== undefined;
        let item: CloneItem;
        if (b.plan) {
          await checkPlanSource(b.plan, 'body.plan.source');
          item = {
            source: {
              clusterId: b.plan.source.clusterId,
              name: b.plan.source.name,
              site: b.plan.source.site,
              account: b.plan.source.account,
              cloud: b.plan.source.cloud,
              location: b.plan.source.location,
            },
            target: { site: b.plan.target.site, account: b.plan.target.account },
            workloads: null,
            plan: b.plan,
            wave: 0,
          };
        } else {
          const source = b.source as { clusterId: string };
          const target = b.target as NonNullable<typeof b.target>;
          const row = await sourceRow(source.clusterId, 'body.source.clusterId');
          await knownSite(target.site, 'body.target.site');
          item = {
            source: cloneSource(row, 'body.source.clusterId'),
            target,
            workloads: b.workloads ?? null,
            plan: null,
            wave: 0,
          };
        }
        const strategy: CloneStrategy = {
          waves: [{ percent: 100 }],
          maxParallel: 1,
          failureBudget: { count: 0 },
          betweenWaves: 'none',
          rollbackWindowSeconds: b.rollbackWindowSeconds ?? 3600,
        };
        const runId = runIdFor('clone', randomUUID());
        const planning = await start(
          runId,
          { items: [item], strategy, dryRun: b.dryRun },
          {
            source: item.source.clusterId,
            targetSite: item.target.site,
            account: item.target.account,
            startedBy: request.principal?.name ?? 'unknown',
          },
        );
        const shape = { bulk: false, submittedPlans: submitted };
        if (planning === 'timeout')
          return reply
            .status(202)
            .send({ runId, planned: false, plan: null, links: { self: `/v1/runs/${runId}` } });
        if (b.dryRun) {
          if (planning.error !== null) refuse(runId, planning, shape);
          return reply.status(200).send({
            dryRun: true as const,
            runId,
            plan: planning.plans[0] ?? null,
            // Against the plan: what to fill in or change before submitting it.
            problems: planning.problems.map((p) => requestFieldOf(p, { bulk: false, submittedPlans: true })),
          });
        }
        if (!planning.ok) refuse(runId, planning, shape);
        return reply.status(202).send({
          runId,
          planned: true,
          plan: planning.plans[0] ?? null,
          links: { self: `/v1/runs/${runId}` },
        });
      },
    );

    app.post(
      // `::` is a literal colon in a Fastify path: this is POST /v1/clones:bulk.
      '/clones::bulk',
      {
        schema: {
          summary: 'Clone every cluster a filter picks (or a list) to one target account and location',
          description: [
            'Sources: inventory clusters of sites’ cloud accounts chosen by `clusterIds`, a label `selector`,',
            '`sites` and a `location` (ANDed). Each is planned as POST /v1/clones plans one; a dry run returns',
            'every plan (200) — submit them, edited or not, as `plans`. The run clones in waves, at most',
            '`maxParallel` at a time; past the failure budget it pauses (resume retries or skips the failed;',
            'rollback deletes every clone it made, never a source). Follow it with GET /v1/runs/{id}.',
          ].join(' '),
          tags: ['clones'],
          body: BulkCloneRequest,
          response: {
            200: z.object({
              dryRun: z.literal(true),
              runId: z.string(),
              strategy: z.unknown(),
              plans: z.array(z.unknown()),
              waves: z.array(z.array(z.string())),
              problems: z.array(Problem),
            }),
            202: z.object({
              runId: z.string(),
              planned: z.boolean(),
              count: z.number(),
              waves: z.array(z.number()),
              links: Links,
            }),
            400: ErrorBody,
            404: ErrorBody,
            409: ErrorBody,
            422: ErrorBody,
            503: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const b = request.body;
        b.strategy.waves.forEach((w, i) => {
          if ('selector' in w) selectorFrom(w.selector, `body.strategy.waves.${i}.selector`);
        });
        let items: Omit<CloneItem, 'wave'>[];
        let labelled: { labels: Record<string, string>; index: number }[];
        if (b.plans) {
          const rows = await Promise.all(b.plans.map((p, i) => checkPlanSource(p, `body.plans.${i}.source`)));
          const seen = new Set<string>();
          b.plans.forEach((p, i) => {
            if (seen.has(p.source.clusterId))
              throw new DroverError(
                ErrorType.BadInput,
                `body.plans.${i}.source.clusterId: cloned twice in one run`,
                {
                  field: `body.plans.${i}.source.clusterId`,
                },
              );
            seen.add(p.source.clusterId);
          });
          items = b.plans.map((plan) => ({
            source: {
              clusterId: plan.source.clusterId,
              name: plan.source.name,
              site: plan.source.site,
              account: plan.source.account,
              cloud: plan.source.cloud,
              location: plan.source.location,
            },
            target: { site: plan.target.site, account: plan.target.account },
            workloads: null,
            plan,
          }));
          labelled = rows.map((r, index) => ({ labels: r.labels, index }));
        } else {
          const filter = b.source as NonNullable<typeof b.source>;
          const target = b.target as NonNullable<typeof b.target>;
          await knownSite(target.site, 'body.target.site');
          const found = (
            await clusters.placementWithLabels({
              clusterIds: filter.clusterIds,
              selector: selectorFrom(filter.selector, 'body.source.selector'),
              sites: filter.sites,
            })
          ).filter(
            (ref) =>
              filter.location === undefined || parseCloudContext(ref.context)?.location === filter.location,
          );
          if (found.length === 0)
            throw new DroverError(ErrorType.BadInput, 'body.source: selects no cluster', {
              field: 'body.source',
            });
          if (found.length > MAX_CLONES_PER_RUN)
            throw new DroverError(
              ErrorType.BadInput,
              `body.source: selects ${found.length} clusters; one run clones at most ${MAX_CLONES_PER_RUN}`,
              { field: 'body.source' },
            );
          const rows = await Promise.all(found.map((ref) => clusters.get(ref.id)));
          const notCloud = rows.filter(
            (r) => !parseCloudContext(r.context) || !['eks', 'gke', 'aks'].includes(r.provider),
          );
          if (notCloud.length > 0)
            throw new DroverError(
              ErrorType.BadInput,
              `body.source: selects clusters that are not in a site's cloud account and cannot be cloned: ${notCloud
                .slice(0, 5)
                .map((r) => r.name)
                .join(', ')}${notCloud.length > 5 ? ', …' : ''}; narrow the selector`,
              { field: 'body.source' },
            );
          items = rows.map((row) => ({
            source: cloneSource(row, 'body.source'),
            target,
            workloads: b.workloads ?? null,
            plan: null,
          }));
          labelled = rows.map((r, index) => ({ labels: r.labels, index }));
        }
        const waves = planWaves(labelled, b.strategy.waves);
        const ordered: CloneItem[] = waves.flatMap((wave, w) =>
          wave.map(({ index }) => ({ ...(items[index] as Omit<CloneItem, 'wave'>), wave: w })),
        );
        const runId = runIdFor('clone', randomUUID());
        const first = ordered[0] as CloneItem;
        const planning = await start(
          runId,
          { items: ordered, strategy: b.strategy, dryRun: b.dryRun },
          {
            count: String(ordered.length),
            targetSite: first.target.site,
            account: first.target.account,
            startedBy: request.principal?.name ?? 'unknown',
          },
        );
        const shape = { bulk: true, submittedPlans: b.plans !== undefined };
        // The run numbers its clones in wave order; a submitted plan is named by its place in the body.
        const bodyIndex = waves.flatMap((wave) => wave.map(({ index }) => index));
        const inBody = (p: ClonePlanning): ClonePlanning => ({
          ...p,
          problems: p.problems.map((x) => ({
            ...x,
            field: x.field.replace(/^items\.(\d+)/, (_, n: string) => `items.${bodyIndex[Number(n)] ?? n}`),
          })),
        });
        const waveSizes = waves.map((w) => w.length);
        if (planning === 'timeout')
          return reply.status(202).send({
            runId,
            planned: false,
            count: ordered.length,
            waves: waveSizes,
            links: { self: `/v1/runs/${runId}` },
          });
        if (b.dryRun) {
          if (planning.error !== null) refuse(runId, planning, shape);
          return reply.status(200).send({
            dryRun: true as const,
            runId,
            strategy: b.strategy,
            plans: planning.plans,
            waves: waves.map((w) => w.map(({ index }) => (items[index] as CloneItem).source.clusterId)),
            problems: planning.problems.map((p) => requestFieldOf(p, { bulk: true, submittedPlans: true })),
          });
        }
        if (!planning.ok) refuse(runId, b.plans ? inBody(planning) : planning, shape);
        return reply.status(202).send({
          runId,
          planned: true,
          count: ordered.length,
          waves: waveSizes,
          links: { self: `/v1/runs/${runId}` },
        });
      },
    );
  };
