import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { WithStartWorkflowOperation, WorkflowIdConflictPolicy, type Client } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import type { ClusterRow } from '../../db/clusters.ts';
import { createSiteStore } from '../../db/sites.ts';
import { CreateClusterRequest, parseCloudContext } from '../../domain/cluster-specs.ts';
import { DroverError, ErrorType } from '../../domain/errors.ts';
import { runIdFor } from '../../domain/runs.ts';
import { CONTROL_TASK_QUEUE } from '../../domain/task-queues.ts';
import type { CreateClusterInput, Validation } from '../../workflows/create-cluster.ts';
import type { DeleteClusterInput } from '../../workflows/delete-cluster.ts';
import { ErrorBody } from '../errors.ts';
import type { AppDeps } from '../app.ts';

/**
 * Managed clusters: create one in a site's cloud account, destroy one. Both are runs; the API
 * only starts them and never talks to a cloud (it cannot reach the sites).
 *
 * A bad spec must be refused before anything exists, yet only the site can read its cloud's
 * catalog. So the create route starts the run with an update (update-with-start) that the
 * run's first step answers: the spec checked against the catalog on the site's queue. The
 * API waits for that answer (bounded) and turns problems into a 400 naming the field; the
 * run then ends `rejected` having created nothing. One run, one round trip, no second
 * workflow, and the check that gates the create is the very one the run acts on.
 */

/** How long the create route waits for the site to check the spec before answering 202 anyway. */
const VALIDATION_WAIT_MS = 30_000;

const Links = z.object({ self: z.string() });

const timeout = (ms: number) =>
  new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref());

/**
 * Starts the delete run of a cluster created in a site's cloud account (`?destroy=true`).
 * Clusters known only by a kubeconfig context can be deregistered, not destroyed.
 */
export const startClusterDestroy = async (
  temporal: Client,
  row: ClusterRow,
  startedBy: string,
): Promise<{ runId: string; links: { self: string } }> => {
  const at = parseCloudContext(row.context);
  if (!at || !['eks', 'gke', 'aks'].includes(row.provider)) {
    throw new DroverError(
      ErrorType.InvalidState,
      `cluster ${row.id} (${row.provider}, context '${row.context}') is not one of a site's cloud accounts: it can be deregistered, not destroyed`,
      { field: 'querystring.destroy' },
    );
  }
  const runId = runIdFor('delete-cluster', row.id);
  const input: DeleteClusterInput = { clusterId: row.id, site: row.site, ...at };
  await temporal.workflow.start('deleteClusterWorkflow', {
    taskQueue: CONTROL_TASK_QUEUE,
    workflowId: runId,
    args: [input],
    // One delete at a time per cluster; a finished one may be asked again.
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
    memo: { clusterId: row.id, site: row.site, startedBy },
  });
  return { runId, links: { self: `/v1/runs/${runId}` } };
};

export const cloudClusterRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const sites = createSiteStore(deps.db);

    app.post(
      // `::` is a literal colon in a Fastify path: this is POST /v1/clusters:create.
      '/clusters::create',
      {
        schema: {
          summary: "Create a managed cluster in one of a site's cloud accounts (EKS, GKE, AKS)",
          description: [
            "The site checks the spec against its cloud's catalog first (version, location, zones, machine",
            'types, names); a problem is a 400 naming the field and nothing is created. Otherwise a run',
            'starts (202): create, wait until ready, add node pools, prove access, register in the inventory;',
            'a failure or a cancel undoes what was done, in reverse. Follow it with GET /v1/runs/{id}.',
            'With `dryRun: true` only the check runs (200). If the site does not answer within 30 s the run',
            'is started anyway and `validated` is false: it will check when the site comes back.',
          ].join(' '),
          tags: ['clusters'],
          body: CreateClusterRequest,
          response: {
            200: z.object({
              dryRun: z.literal(true),
              runId: z.string(),
              cloud: z.string().nullable(),
              spec: z.unknown(),
            }),
            202: z.object({
              runId: z.string(),
              validated: z.boolean(),
              cloud: z.string().nullable(),
              spec: z.unknown(),
              links: Links,
            }),
            400: ErrorBody,
            404: ErrorBody,
            409: ErrorBody,
            503: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const b = request.body;
        if (!(await sites.get(b.site))) {
          throw new DroverError(ErrorType.NotFound, `site '${b.site}' not found`, { field: 'body.site' });
        }
        const runId = runIdFor('create-cluster', randomUUID());
        const input: CreateClusterInput = {
          site: b.site,
          account: b.account,
          spec: b.spec,
          dryRun: b.dryRun,
        };
        const start = new WithStartWorkflowOperation('createClusterWorkflow', {
          taskQueue: CONTROL_TASK_QUEUE,
          workflowId: runId,
          args: [input],
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
          memo: {
            site: b.site,
            account: b.account,
            name: b.spec.name,
            startedBy: request.principal?.name ?? 'unknown',
          },
        });
        const deadline = timeout(VALIDATION_WAIT_MS);
        const answer = deps.temporal.workflow
          .startUpdateWithStart<Workflow, Validation, []>('validation', {
            waitForStage: 'ACCEPTED',
            startWorkflowOperation: start,
          })
          .then((update) => update.result());
        // Whatever comes after the deadline is not waited for, but must not go unhandled.
        answer.catch(() => undefined);
        const validation = await Promise.race([answer, deadline]);
        if (validation === 'timeout') {
          // Started or not? The start is part of the same call; if it never happened, say so.
          const started = await Promise.race([start.workflowHandle().then(() => true), timeout(2_000)]);
          if (started !== true) {
            throw new DroverError(
              ErrorType.Unavailable,
              'the workflow engine did not start the run; retry shortly',
            );
          }
          deps.metrics.runsStarted.inc({ kind: 'create-cluster' });
          return reply
            .status(202)
            .send({ runId, validated: false, cloud: null, spec: null, links: { self: `/v1/runs/${runId}` } });
        }
        deps.metrics.runsStarted.inc({ kind: 'create-cluster' });
        if (!validation.ok) {
          const [first, ...rest] = validation.problems;
          if (!first) {
            throw new DroverError(
              ErrorType.Unavailable,
              `could not check the spec: ${validation.error ?? 'unknown'}`,
              {
                details: { runId },
              },
            );
          }
          const field = `body.${first.field}`;
          throw new DroverError(
            first.type,
            `${field}: ${first.message}${rest.length > 0 ? ` (and ${rest.length} more)` : ''}`,
            {
              field,
              details: {
                runId,
                issues: validation.problems.map((p) => ({ field: `body.${p.field}`, message: p.message })),
              },
            },
          );
        }
        if (b.dryRun) {
          return reply
            .status(200)
            .send({ dryRun: true as const, runId, cloud: validation.cloud, spec: validation.spec });
        }
        return reply.status(202).send({
          runId,
          validated: true,
          cloud: validation.cloud,
          spec: validation.spec,
          links: { self: `/v1/runs/${runId}` },
        });
      },
    );
  };
