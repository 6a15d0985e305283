import {
  ApplicationFailure,
  defineQuery,
  makeContinueAsNewFunc,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { DeployPlanActivities } from '../activities/control/deploy-plans.ts';
import { ErrorType } from '../domain/errors.ts';
import type { ScheduledBy, ScheduledDeployment } from '../domain/schedules.ts';
import {
  pauseUpdate,
  resumeUpdate,
  rollbackUpdate,
  setConcurrencyUpdate,
  type bulkDeployWorkflow,
} from './bulk-deploy.ts';

/**
 * The first moments of a rollout a schedule starts. A deploy run needs its targets stored
 * before its workflow starts, which a Temporal Schedule cannot do, so the schedule starts this:
 * it plans the rollout afresh (the placement is resolved now, not when the schedule was made)
 * through a control activity, then continues as new as the deploy run itself. The run keeps
 * its id — the one the schedule lists among its recent actions — and is from then on a deploy
 * run like any other (progress, pause, resume, rollback); the schedule's overlap policy covers
 * the whole rollout, rollback window included.
 */
export type ScheduledDeployInput = ScheduledBy & { deployment: ScheduledDeployment };

/** Until it becomes the deploy run, a run answers `progress` with its phase only. */
export const planningProgressQuery = defineQuery<{ phase: 'planning' }>('progress');

const { planDeployRun } = proxyActivities<DeployPlanActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumInterval: '30 seconds', maximumAttempts: 10 },
});

export async function scheduledDeployWorkflow(input: ScheduledDeployInput): Promise<never> {
  setHandler(planningProgressQuery, () => ({ phase: 'planning' as const }));
  // The run's controls exist from its first moment; while it plans they say why they wait.
  const stillPlanning = (..._args: unknown[]): never => {
    throw ApplicationFailure.create({
      type: ErrorType.InvalidState,
      message: 'the run is still planning its rollout (nothing is deployed yet); ask again in a moment',
    });
  };
  setHandler(pauseUpdate, stillPlanning, { validator: stillPlanning });
  setHandler(resumeUpdate, stillPlanning, { validator: stillPlanning });
  setHandler(rollbackUpdate, stillPlanning, { validator: stillPlanning });
  setHandler(setConcurrencyUpdate, stillPlanning, { validator: stillPlanning });
  const runId = workflowInfo().workflowId;
  const planned = await planDeployRun({ runId, deployment: input.deployment });
  const becomeDeployRun = makeContinueAsNewFunc<typeof bulkDeployWorkflow>({
    workflowType: 'bulkDeployWorkflow',
    memo: {
      releaseId: input.deployment.releaseId,
      startedBy: input.schedule ? `schedule:${input.schedule.id}` : 'schedule',
      ...(input.schedule ? { schedule: input.schedule.id } : {}),
    },
  });
  return becomeDeployRun(planned);
}
