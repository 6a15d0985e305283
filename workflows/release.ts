import { condition, defineQuery, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control/index.ts';
import type { ObjectIdentity, Override, ServedRelease } from '../domain/releases.ts';

export { releaseWorkflowId } from '../domain/releases.ts';

const { loadRelease } = proxyActivities<ControlActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumInterval: '30 seconds' },
});

/**
 * The release's objects and overrides; each site renders them for its clusters itself. Null
 * until the content is loaded (just after the workflow starts): ask again shortly.
 */
export const contentQuery = defineQuery<ServedRelease | null>('content');
export const retireSignal = defineSignal('retire');

/**
 * One release's content in the control namespace. Sites read it here only in runs from before
 * the site link; now the control plane publishes each site a copy in its own namespace
 * (workflows/site/release.ts) and this workflow is kept for those runs. Manifests must not
 * ride in every deploy's history (they would multiply by the fleet size and hit Temporal's
 * history limits), so the content is loaded once and read through a query, which Temporal
 * answers from the workflow's state without recording anything.
 */
export async function releaseWorkflow({ releaseId }: { releaseId: string }): Promise<void> {
  const state: { content?: { objects: ObjectIdentity[]; overrides: Override[] } } = {};
  let retired = false;
  setHandler(contentQuery, () => (state.content ? { releaseId, ...state.content } : null));
  setHandler(retireSignal, () => {
    retired = true;
  });
  state.content = await loadRelease({ releaseId });
  await condition(() => retired);
}
