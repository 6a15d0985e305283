import { condition, defineQuery, defineSignal, setHandler } from '@temporalio/workflow';
import type { ServedRelease } from '../../domain/releases.ts';

/** The release's objects and overrides, as this site renders them for its clusters. */
export const siteContentQuery = defineQuery<ServedRelease>('content');
/** Sent by the control plane each time it publishes the release to the site again. */
export const keepSignal = defineSignal('keep');
/** Ends the copy early (the release was deleted). */
export const siteRetireSignal = defineSignal('retire');

/** A copy unused this long ends; the control plane publishes it again when it needs it. */
const KEPT_FOR = '7 days';

/**
 * A release's content in a site's own namespace, published there by the control plane
 * (activities/control: publishRelease) before it has the site deploy or check the release.
 * The site's deploys ask it by query, as they ask nothing outside their namespace. Published
 * once per site and release, so a rollout to 10,000 clusters carries the content into each
 * site's history once, not once per cluster.
 */
export async function siteReleaseWorkflow({ release }: { release: ServedRelease }): Promise<void> {
  let kept = false;
  let retired = false;
  setHandler(siteContentQuery, () => release);
  setHandler(keepSignal, () => {
    kept = true;
  });
  setHandler(siteRetireSignal, () => {
    retired = true;
  });
  for (;;) {
    kept = false;
    const touched = await condition(() => kept || retired, KEPT_FOR);
    if (!touched || retired) return;
  }
}
