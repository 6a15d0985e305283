export { bulkDeployWorkflow } from './bulk-deploy.ts';
export { createClusterWorkflow } from './create-cluster.ts';
export { deleteClusterWorkflow } from './delete-cluster.ts';
export { deployShardWorkflow } from './deploy-shard.ts';
export { discoverSiteWorkflow } from './discovery.ts';
export { pingSiteWorkflow } from './ping-site.ts';
export { releaseWorkflow } from './release.ts';
export { siteCheckInWorkflow } from './site-check-in.ts';
