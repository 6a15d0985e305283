export { discoverSiteWorkflow } from './discovery.ts';
export { pingSiteWorkflow } from './ping-site.ts';
export { siteCheckInWorkflow } from './site-check-in.ts';
