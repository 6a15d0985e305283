import {
  ActivityFailure,
  createNexusServiceClient,
  isCancellation,
  NexusOperationCancellationType,
  patched,
  proxyActivities,
  TimeoutFailure,
  uuid4,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { RetryState } from '@temporalio/common';
import type { ControlActivities } from '../activities/control/index.ts';
import type { SiteActivities } from '../activities/site/index.ts';
import {
  siteEndpoint,
  siteService,
  type SiteBatch,
  type SiteBatchResult,
  type SiteOperation,
  type SiteStep,
  type SiteStepOptions,
} from '../domain/site-link.ts';
import { siteTaskQueue } from '../domain/task-queues.ts';
import { stepActivityOptions } from './site/step.ts';

/**
 * How control workflows have a site do work: the one place that knows the link. Each call
 * becomes a Nexus operation on the site's endpoint (domain/site-link.ts); the site runs the
 * activity of that name, with these options, as a workflow in its own namespace, and the
 * result or failure comes back here. Callers see what an activity would give them: its result,
 * an ActivityFailure whose cause says why, a schedule-to-start timeout when the site did not
 * take the step in time.
 *
 * Runs that began before the link moved onto Nexus (no `nexus-site-link` marker in their
 * history) keep scheduling activities on the site's queue, so their histories still replay.
 */
export type SiteCallOptions = SiteStepOptions & {
  /** How long a step may wait for its site to take it; unset: as long as the site is away. */
  scheduleToStartTimeout?: string | number;
  /** Names the step in its workflow (`deploy:<target>:<attempt>`); default a fresh id. */
  key?: string;
  /** Told when the site has taken the step: from then on it runs in the site. */
  onStarted?: () => void;
};

export const SITE_LINK_PATCH = 'nexus-site-link';

// Every site activity is an operation of the site's service, and nothing else is.
type Unlisted = Exclude<keyof SiteActivities, SiteOperation>;
type Unknown = Exclude<SiteOperation, keyof SiteActivities>;
export const siteOperationsMatch: [Unlisted, Unknown] extends [never, never] ? true : never = true;

type Step = (...args: never[]) => Promise<unknown>;
/** The activities as plain functions (what a caller may destructure). */
export type StepsOf<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => R : never;
};

/** Before the link moved onto Nexus: an activity on the site's queue in the control namespace. */
const legacyStep = (site: string, operation: string, options: SiteCallOptions): Step => {
  const activityOptions: ActivityOptions = {
    ...stepActivityOptions(options),
    taskQueue: siteTaskQueue(site),
    ...(options.scheduleToStartTimeout === undefined
      ? {}
      : { scheduleToStartTimeout: options.scheduleToStartTimeout }),
    ...(options.key === undefined ? {} : { activityId: options.key }),
  };
  return proxyActivities<Record<string, Step>>(activityOptions)[operation] as unknown as Step;
};

const findInChain = <T>(err: unknown, match: (e: unknown) => e is T): T | undefined => {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (match(e)) return e;
  }
  return undefined;
};

/** A failed operation as the activity failure its step would have been. */
const asStepFailure = (err: unknown, operation: string, key: string): unknown => {
  if (isCancellation(err)) return err;
  const activity = findInChain(err, (e): e is ActivityFailure => e instanceof ActivityFailure);
  if (activity) return activity;
  const timeout = findInChain(err, (e): e is TimeoutFailure => e instanceof TimeoutFailure);
  if (timeout?.timeoutType === 'SCHEDULE_TO_START') {
    return new ActivityFailure(
      'the site did not take the step in time',
      operation,
      key,
      RetryState.TIMEOUT,
      undefined,
      timeout,
    );
  }
  return err;
};

const { ensureSiteLink } = proxyActivities<Pick<ControlActivities, 'ensureSiteLink'>>({
  startToCloseTimeout: '1 minute',
  retry: { maximumInterval: '30 seconds' },
});

/** Sites whose link this workflow has made sure of (per workflow: module state is per run). */
const linked = new Map<string, Promise<void>>();
const linkTo = (site: string): Promise<void> => {
  let done = linked.get(site);
  if (!done) {
    done = ensureSiteLink({ site });
    linked.set(site, done);
    done.catch(() => linked.delete(site));
  }
  return done;
};

/**
 * Temporal lets a workflow hold only so many Nexus operations open (its default: 30); more
 * would fail the workflow task until some close. Calls beyond this wait their turn here.
 */
const MAX_OPEN_OPERATIONS = 25;
let open = 0;
const queued: (() => void)[] = [];
const takeSlot = async (): Promise<void> => {
  if (open < MAX_OPEN_OPERATIONS) {
    open++;
    return;
  }
  await new Promise<void>((resolve) => queued.push(resolve));
};
const giveSlot = (): void => {
  const next = queued.shift();
  if (next) next();
  else open--;
};

type LinkOptions = Pick<SiteCallOptions, 'scheduleToStartTimeout' | 'waitForCancellation' | 'onStarted'>;

/** One operation on the site's endpoint, started, waited for and unwrapped. */
const callSite = async <T>(
  site: string,
  operation: SiteOperation | 'siteBatch',
  input: SiteStep | SiteBatch,
  options: LinkOptions,
): Promise<T> => {
  // The endpoint must exist before an operation is scheduled on it.
  await linkTo(site);
  await takeSlot();
  try {
    const client = createNexusServiceClient({
      service: siteService,
      endpoint: siteEndpoint(workflowInfo().namespace, site),
    });
    const handle = await client.startOperation(operation, input as never, {
      ...(options.scheduleToStartTimeout === undefined
        ? {}
        : { scheduleToStartTimeout: options.scheduleToStartTimeout }),
      cancellationType: options.waitForCancellation
        ? NexusOperationCancellationType.WAIT_CANCELLATION_COMPLETED
        : NexusOperationCancellationType.TRY_CANCEL,
      summary: `${operation} ${input.key}`,
    });
    options.onStarted?.();
    return (await handle.result()) as T;
  } catch (err) {
    throw asStepFailure(err, operation, input.key);
  } finally {
    giveSlot();
  }
};

/** What travels to the site (the step's own options) apart from how the link carries it. */
const splitCall = (options: SiteCallOptions) => {
  const { scheduleToStartTimeout: _s, key, onStarted: _o, ...stepOptions } = options;
  return { caller: workflowInfo().workflowId, key: key ?? uuid4(), options: stepOptions };
};

const nexusStep =
  (site: string, operation: SiteOperation, options: SiteCallOptions): Step =>
  async (...args: never[]) =>
    callSite(site, operation, { ...splitCall(options), args }, options);

/**
 * Many steps of one kind at one site in a single operation (workflows/site/batch.ts): each
 * input is one step's argument; the answer holds each step's outcome, in order. Only over the
 * site link: callers keep their per-step path for runs from before it.
 */
export const siteBatch = async (
  site: string,
  operation: SiteOperation,
  inputs: unknown[],
  options: SiteCallOptions & { maxParallel: number },
): Promise<SiteBatchResult> => {
  const { maxParallel, ...call } = options;
  const batch: SiteBatch = { ...splitCall(call), operation, inputs, maxParallel };
  return callSite<SiteBatchResult>(site, 'siteBatch', batch, options);
};

/**
 * A site's activities as a control workflow calls them: `siteSteps(site, options).deployRelease(…)`.
 * The options hold for every call through this object.
 */
export const siteSteps = <T extends Partial<SiteActivities> = SiteActivities>(
  site: string,
  options: SiteCallOptions,
): StepsOf<T> =>
  new Proxy({} as StepsOf<T>, {
    get: (_target, operation) => {
      // Not a thenable: `then` is no site step.
      if (typeof operation !== 'string' || operation === 'then') return undefined;
      return (...args: never[]) =>
        patched(SITE_LINK_PATCH)
          ? nexusStep(site, operation as SiteOperation, options)(...args)
          : legacyStep(site, operation, options)(...args);
    },
  });
