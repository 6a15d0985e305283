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
 * Serves one release's content to the sites. Sites cannot reach the database, and manifests
 * must not ride in every deploy's history (they would multiply by the fleet size and hit
 * Temporal's history limits), so the content is loaded once into this workflow and each site
 * activity asks for its cluster's rendering through a query, which Temporal answers from this
 * workflow's state without recording anything. Releases are immutable (content-addressed), so
 * a site asks once per release and renders each cluster's copy locally: a rollout to 10,000
 * clusters costs each site one query, not one per cluster.
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
