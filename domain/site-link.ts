import * as nexus from 'nexus-rpc';

/**
 * The site link: how the control plane has a site do work. Each site has a Temporal namespace
 * of its own, where its sub-manager polls and its work runs, and a Nexus endpoint of the same
 * name whose target is that namespace and the site's queue. Control workflows call operations
 * on the endpoint; the site runs each as a workflow in its own namespace. A site's credential
 * reaches its namespace only (docs/trust-boundaries.md).
 *
 * Names derive from the control namespace, so drover installations (and the tests' per-worker
 * namespaces) sharing one Temporal never share a site's namespace or endpoint.
 */
export const siteNamespace = (controlNamespace: string, site: string): string =>
  `${controlNamespace}-site-${site}`;

/** Endpoint names allow letters, digits and dashes only; namespaces also allow `.` and `_`. */
export const siteEndpoint = (controlNamespace: string, site: string): string =>
  siteNamespace(controlNamespace, site).replace(/[^A-Za-z0-9-]/g, '-');

/** Temporal's retry policy, as a site step's options carry it across the link. */
export type SiteRetry = {
  initialInterval?: string | number;
  backoffCoefficient?: number;
  maximumInterval?: string | number;
  maximumAttempts?: number;
  nonRetryableErrorTypes?: string[];
};

/** How the site runs one step: Temporal activity options, applied in the site's namespace. */
export type SiteStepOptions = {
  startToCloseTimeout: string | number;
  heartbeatTimeout?: string | number;
  retry?: SiteRetry;
  /** `WAIT_CANCELLATION_COMPLETED` makes a cancelled step's caller wait for the step to end. */
  waitForCancellation?: boolean;
};

/** One step a control workflow has a site do: a site activity by name, its input and options. */
export type SiteStep = {
  /** The calling workflow and a key unique within it: the site's workflow id derives from them. */
  caller: string;
  key: string;
  args: unknown[];
  options: SiteStepOptions;
};

/**
 * Many steps of one kind in one operation (deploys and rollbacks of a shard's targets at a
 * site): the site runs up to `maxParallel` at once and answers with each step's outcome, in
 * order; one step's failure is its outcome, not the batch's. A workflow may hold only so many
 * Nexus operations open (Temporal's default: 30), so wide rollouts cross the link in batches.
 */
export type SiteBatch = {
  caller: string;
  key: string;
  operation: SiteOperation;
  /** Each step's one argument. */
  inputs: unknown[];
  options: SiteStepOptions;
  maxParallel: number;
};
export type SiteOutcome = { ok: true; result: unknown } | { ok: false; error: string };
export type SiteBatchResult = { outcomes: SiteOutcome[] };

/**
 * Every activity a site offers, one Nexus operation each (so Temporal's views name the step).
 * workflows/site-link.ts checks at compile time that this is exactly the site's activities.
 */
export const SITE_OPERATIONS = [
  'pingSite',
  'discoverClusters',
  'deployRelease',
  'rollbackRelease',
  'checkDrift',
  'cloudCatalog',
  'cloudAccountInfo',
  'cloudDescribeCluster',
  'cloudCreateCluster',
  'cloudGetOperation',
  'cloudCreateNodePool',
  'cloudDeleteNodePool',
  'cloudDeleteCluster',
  'cloudAccessCheck',
  'exportWorkloads',
  'importWorkloads',
] as const;
export type SiteOperation = (typeof SITE_OPERATIONS)[number];

/** The Nexus service each site's endpoint serves: one operation per site activity, and batches. */
export const siteService = nexus.service('drover-site', {
  ...(Object.fromEntries(
    SITE_OPERATIONS.map((name) => [name, nexus.operation<SiteStep, unknown>()]),
  ) as Record<SiteOperation, nexus.PartialOperation<SiteStep, unknown>>),
  siteBatch: nexus.operation<SiteBatch, SiteBatchResult>(),
});

/** Release content a site keeps in its own namespace (workflows/site/release.ts serves it). */
export const siteReleaseWorkflowId = (releaseId: string): string => `release:${releaseId}`;
