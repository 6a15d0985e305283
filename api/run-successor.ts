import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Db } from '../db/database.ts';
import { createDeployTargetStore } from '../db/deploy-targets.ts';
import type { DeployTarget } from '../domain/deployments.ts';
import { DroverError, ErrorType } from '../domain/errors.ts';
import { kindOfRunId } from '../domain/runs.ts';
import type { BulkDeployInput } from '../workflows/bulk-deploy.ts';
import { decodeRawPayload } from '../runtime/payload-codec.ts';
import { startDeployRun, type DeployRunOptions } from './deploy-runs.ts';
import { recordedSiteSteps } from './history-steps.ts';

type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;

/**
 * Targets whose deploy activity completed in this history, those it started at all, whether it
 * was rolling back, and the child workflows it started.
 */
const scanHistory = async (temporal: Client, history: History) => {
  const done = new Set<string>();
  const touched = new Set<string>();
  const children: string[] = [];
  let input: BulkDeployInput | undefined;
  for (const event of history.events ?? []) {
    const started = event.workflowExecutionStartedEventAttributes;
    if (started) input = await decodeRawPayload<BulkDeployInput>(temporal, started.input?.payloads?.[0]);
    const child = event.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
    if (child) children.push(child);
  }
  const events = history.events ?? [];
  const rollingBack = (await recordedSiteSteps(temporal, events, 'rollbackRelease')).length > 0;
  for (const step of await recordedSiteSteps<{ target: { id: string } }>(temporal, events, 'deployRelease')) {
    if (!step.input) continue;
    touched.add(step.input.target.id);
    if (step.completed) done.add(step.input.target.id);
  }
  return { input, done, touched, rollingBack, children };
};

/**
 * A run that died (terminated, timed out, failed on a bug) cannot be resumed in place. Its
 * successor deploys the same plan and skips every cluster the predecessor finished: those its
 * shards recorded as succeeded, and those whose deploy activity completed in the history of a
 * shard that died with it (completed activities are facts, whatever the run's state).
 */
export const startSuccessorRun = async (
  deps: { db: Db; temporal: Client; deployRuns: DeployRunOptions },
  id: string,
  startedBy: string,
): Promise<{ runId: string; alreadyDone: number; remaining: number }> => {
  if (kindOfRunId(id) !== 'deploy') {
    throw new DroverError(ErrorType.InvalidState, `runs of kind '${kindOfRunId(id)}' cannot be resumed`);
  }
  const handle = deps.temporal.workflow.getHandle(id);
  const { status } = await handle.describe();
  if (status.name === 'COMPLETED') {
    throw new DroverError(ErrorType.InvalidState, `run '${id}' completed; there is nothing to resume`);
  }
  // One successor per run: asking twice names the first instead of deploying twice at once.
  const runId = `${id}.resumed`;
  const existing = await deps.temporal.workflow
    .getHandle(runId)
    .describe()
    .then(
      () => true,
      (err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      },
    );
  if (existing)
    throw new DroverError(ErrorType.Conflict, `run '${id}' was already resumed by run '${runId}'`);
  const run = await scanHistory(deps.temporal, await handle.fetchHistory());
  if (!run.input) throw new Error(`run '${id}' has no readable input`);
  const histories = [run];
  for (const child of run.children) {
    histories.push(
      await scanHistory(deps.temporal, await deps.temporal.workflow.getHandle(child).fetchHistory()),
    );
  }
  if (histories.some((h) => h.rollingBack)) {
    // Its successor would deploy again, which is the opposite of what was asked.
    throw new DroverError(
      ErrorType.InvalidState,
      `run '${id}' ended while rolling back; resuming it would deploy again, so it is refused`,
    );
  }
  // Each finished target, with the run whose snapshot a rollback of the successor restores;
  // and each target it started but did not finish, whose snapshot (the state before the
  // predecessor touched it) the successor keeps.
  const done = new Map<string, string>();
  const snapshotRuns = new Map<string, string>();
  for (const h of histories) {
    for (const target of h.done) done.set(target, id);
    for (const target of h.touched) snapshotRuns.set(target, id);
  }
  const rows = await createDeployTargetStore(deps.db).plan(id);
  const waves: DeployTarget[][] = [];
  for (const row of rows) {
    if (row.appliedBy) snapshotRuns.set(row.target.id, row.appliedBy);
    if (row.doneBefore) done.set(row.target.id, row.appliedBy ?? id);
    else if (row.state === 'succeeded') done.set(row.target.id, id);
    (waves[row.wave] ??= []).push(row.target);
  }
  for (const target of done.keys()) snapshotRuns.delete(target);
  try {
    await startDeployRun(deps, deps.deployRuns, {
      runId,
      releaseId: run.input.releaseId,
      strategy: run.input.strategy,
      waves: waves.filter((w) => w.length > 0),
      doneBefore: done,
      snapshotRuns,
      memo: { releaseId: run.input.releaseId, startedBy, predecessor: id },
    });
  } catch (err) {
    // Two requests at once: the second finds the first's plan or workflow.
    if (err instanceof WorkflowExecutionAlreadyStartedError || isUniqueViolation(err)) {
      throw new DroverError(ErrorType.Conflict, `run '${id}' was already resumed by run '${runId}'`, {
        cause: err,
      });
    }
    throw err;
  }
  return { runId, alreadyDone: done.size, remaining: rows.length - done.size };
};

/** Postgres' unique_violation, as pg and PGlite report it. */
const isUniqueViolation = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505';
