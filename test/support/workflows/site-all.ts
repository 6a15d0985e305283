export { siteWorkWorkflow } from './site-work.ts';
export { callSiteWorkflow } from './site-call.ts';
