import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { DroverError, ErrorType } from '../domain/errors.ts';
import { kindOfRunId, runIdFor } from '../domain/runs.ts';
import { CONTROL_TASK_QUEUE } from '../domain/task-queues.ts';
import type { BulkDeployInput } from '../workflows/bulk-deploy.ts';

type Payload = Parameters<typeof defaultPayloadConverter.fromPayload>[0];
const decode = <T>(payload: Payload | null | undefined): T | undefined =>
  payload ? defaultPayloadConverter.fromPayload<T>(payload) : undefined;

/**
 * A run that died (terminated, timed out, failed on a bug) cannot be resumed in place. Its
 * successor starts from the same input and skips every cluster the predecessor finished, as
 * its history records them: completed deploy activities are facts, whatever the run's state.
 */
export const startSuccessorRun = async (
  temporal: Client,
  id: string,
  startedBy: string,
): Promise<{ runId: string; alreadyDone: number; remaining: number }> => {
  if (kindOfRunId(id) !== 'deploy') {
    throw new DroverError(ErrorType.InvalidState, `runs of kind '${kindOfRunId(id)}' cannot be resumed`);
  }
  const handle = temporal.workflow.getHandle(id);
  const { status } = await handle.describe();
  if (status.name === 'COMPLETED') {
    throw new DroverError(ErrorType.InvalidState, `run '${id}' completed; there is nothing to resume`);
  }
  const history = await handle.fetchHistory();
  let input: BulkDeployInput | undefined;
  const scheduled = new Map<string, string>();
  const done = new Set<string>();
  for (const event of history.events ?? []) {
    const started = event.workflowExecutionStartedEventAttributes;
    if (started) input = decode<BulkDeployInput>(started.input?.payloads?.[0]);
    const sched = event.activityTaskScheduledEventAttributes;
    if (sched?.activityType?.name === 'deployRelease') {
      const arg = decode<{ target: { id: string } }>(sched.input?.payloads?.[0]);
      if (arg) scheduled.set(String(event.eventId), arg.target.id);
    }
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed) {
      const target = scheduled.get(String(completed.scheduledEventId));
      if (target) done.add(target);
    }
  }
  if (!input) throw new Error(`run '${id}' has no readable input`);
  for (const t of input.alreadyDone ?? []) done.add(t);
  const runId = runIdFor('deploy', randomUUID());
  await temporal.workflow.start('bulkDeployWorkflow', {
    taskQueue: CONTROL_TASK_QUEUE,
    workflowId: runId,
    args: [{ ...input, alreadyDone: [...done] }],
    memo: { releaseId: input.releaseId, startedBy, predecessor: id },
  });
  return { runId, alreadyDone: done.size, remaining: input.targets.length - done.size };
};
