/** The queue every workflow and every database-backed activity runs on. */
export const CONTROL_TASK_QUEUE = 'drover-control';

const SITE_QUEUE_PREFIX = 'site.';

/** Each site's sub-manager polls its own queue; nothing else does. */
export const siteTaskQueue = (site: string): string => `${SITE_QUEUE_PREFIX}${site}`;
