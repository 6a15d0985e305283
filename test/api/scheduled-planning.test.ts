/**
 * A scheduled rollout plans itself before it becomes a deploy run. While it plans, the run's
 * controls (pause, resume, rollback, concurrency) answer 422 saying so — not an unknown-update
 * error. Shown on the real Temporal server with a control worker whose database is down, so
 * the planning step keeps retrying and the run stays in its planning phase for the test.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { CONTROL_TASK_QUEUE } from '../../domain/task-queues.ts';
import { createControlWorker } from '../../workers/control-worker.ts';
import type { ScheduledDeployInput } from '../../workflows/scheduled-deploy.ts';
import { startApi, type ApiHarness } from '../support/drover.ts';
import {
  freshPostgres,
  temporalAddress,
  testDataConverter,
  testNamespace,
  uniq,
  waitUntil,
} from '../support/env.ts';

let api: ApiHarness;
let connection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
const runId = `deploy:planning-${uniq()}`;

beforeAll(async () => {
  api = await startApi();
  // The control worker's database is gone: planning fails and is retried, again and again.
  const { db: down } = await freshPostgres();
  await down.close();
  connection = await NativeConnection.connect({ address: temporalAddress() });
  worker = await createControlWorker({
    connection,
    namespace: testNamespace(),
    dataConverter: testDataConverter(),
    db: down,
  });
  running = worker.run();
}, 60_000);

afterAll(async () => {
  await api?.temporal.workflow
    .getHandle(runId)
    .terminate('test over')
    .catch(() => undefined);
  worker?.shutdown();
  await running;
  await connection?.close();
  await api?.close();
}, 60_000);

describe('a scheduled rollout that is still planning', () => {
  it('answers its controls with 422 and why', async () => {
    const input: ScheduledDeployInput = {
      deployment: {
        releaseId: `rel-${'1'.repeat(20)}`,
        placement: { selector: 'app=shop' },
        strategy: {
          waves: [{ count: 1 }],
          maxParallel: 10,
          failureBudget: { count: 0 },
          betweenWaves: 'none',
          readiness: false,
          rollbackWindowSeconds: 0,
        },
      },
    };
    await api.temporal.workflow.start('scheduledDeployWorkflow', {
      taskQueue: CONTROL_TASK_QUEUE,
      workflowId: runId,
      args: [input],
    });
    await waitUntil(
      'the run to be planning',
      async () =>
        (await api.call<{ progress?: { phase?: string } }>('GET', `/v1/runs/${runId}`)).body.progress
          ?.phase === 'planning',
      30_000,
    );
    const asks: [string, object | undefined][] = [
      ['pause', undefined],
      ['resume', { failed: 'skip' }],
      ['rollback', undefined],
      ['concurrency', { maxParallel: 5 }],
    ];
    for (const [action, body] of asks) {
      const res = await api.call<{ error: { code: string; message: string } }>(
        'POST',
        `/v1/runs/${runId}/${action}`,
        body,
      );
      expect([action, res.status]).toEqual([action, 422]);
      expect(res.body.error.code).toBe('InvalidState');
      expect(res.body.error.message).toMatch(/still planning/);
    }
  }, 90_000);
});
