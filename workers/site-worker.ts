import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { startWorkflow, WorkflowRunOperationHandler } from '@temporalio/nexus';
import { bundleWorkflowCode, Worker, type NativeConnection, type WorkflowBundle } from '@temporalio/worker';
import * as nexus from 'nexus-rpc';
import type { SiteActivities } from '../activities/site/index.ts';
import {
  SITE_OPERATIONS,
  siteNamespace,
  siteService,
  type SiteBatch,
  type SiteBatchResult,
  type SiteOperation,
  type SiteStep,
} from '../domain/site-link.ts';
import { siteTaskQueue } from '../domain/task-queues.ts';
import type { siteBatchWorkflow } from '../workflows/site/batch.ts';
import type { siteStepWorkflow } from '../workflows/site/step.ts';

export const SITE_WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/site/index.ts', import.meta.url));

/**
 * The site's side of the link: each operation runs its step (or batch) as a workflow in the
 * site's namespace.
 */
const siteServiceHandler = () =>
  nexus.serviceHandler(siteService, {
    ...(Object.fromEntries(
      SITE_OPERATIONS.map((operation: SiteOperation) => [
        operation,
        new WorkflowRunOperationHandler<SiteStep, unknown>((ctx, step) =>
          startWorkflow<typeof siteStepWorkflow>(ctx, 'siteStepWorkflow', {
            // The caller's workflow and its key for the step: one site workflow per step.
            workflowId: `${step.caller}/${step.key}`,
            args: [{ ...step, operation }],
          }),
        ),
      ]),
    ) as Record<SiteOperation, WorkflowRunOperationHandler<SiteStep, unknown>>),
    siteBatch: new WorkflowRunOperationHandler<SiteBatch, SiteBatchResult>((ctx, batch) =>
      startWorkflow<typeof siteBatchWorkflow>(ctx, 'siteBatchWorkflow', {
        workflowId: `${batch.caller}/${batch.key}`,
        args: [batch],
      }),
    ),
  });

/** Bundled once per process: a process may run several site workers (tests, the benchmark). */
let bundle: Promise<WorkflowBundle> | undefined;
const siteWorkflowBundle = () => (bundle ??= bundleWorkflowCode({ workflowsPath: SITE_WORKFLOWS_PATH }));

/**
 * A site's worker: polls the site's queue in the site's own namespace and serves the site's
 * Nexus operations, its step and release workflows, and its activities.
 */
export const createSiteWorker = async (opts: {
  connection: NativeConnection;
  controlNamespace: string;
  site: string;
  dataConverter: DataConverter;
  activities: SiteActivities;
  identity?: string;
  maxConcurrentActivityTaskExecutions?: number;
}): Promise<Worker> =>
  Worker.create({
    connection: opts.connection,
    namespace: siteNamespace(opts.controlNamespace, opts.site),
    taskQueue: siteTaskQueue(opts.site),
    dataConverter: opts.dataConverter,
    workflowBundle: await siteWorkflowBundle(),
    nexusServices: [siteServiceHandler()],
    activities: opts.activities,
    ...(opts.identity ? { identity: opts.identity } : {}),
    ...(opts.maxConcurrentActivityTaskExecutions
      ? { maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions }
      : {}),
  });
