/** The workflows a sub-manager runs in its site's namespace (workers/site-worker.ts). */
export { siteBatchWorkflow } from './batch.ts';
export { siteReleaseWorkflow } from './release.ts';
export { siteStepWorkflow } from './step.ts';
