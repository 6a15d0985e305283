import {
  ActivityFailure,
  ApplicationFailure,
  isCancellation,
  proxyActivities,
  sleep,
} from '@temporalio/workflow';
import type { ClusterLifecycleActivities } from '../activities/control/clusters.ts';
import type { CloudActivities } from '../activities/site/clouds.ts';
import type { PollingPolicy } from '../domain/clouds.ts';
import type { CloudCluster, CloudOperation } from '../domain/clouds.ts';
import { ErrorType } from '../domain/errors.ts';
import { siteSteps } from './site-link.ts';

/**
 * What the cluster workflows (create, delete) share: activity proxies, durable polling of
 * cloud operations, a step log for the progress query, and the ways a cluster and its node
 * pools are taken down.
 */

export type StepState = 'running' | 'done' | 'failed' | 'cancelled';

export type RunStep = {
  step: string;
  /** What it acted on, in words: `cluster demo in eu-west-1`, `node pool gpu`. */
  target: string;
  state: StepState;
  /** How it ended, when there is more to say (`nothing to undo`, an error). */
  note: string | null;
  startedAt: string;
  finishedAt: string | null;
};

/** Long cloud waits give up after this; real creates take 10–20 minutes. */
const MAX_WAIT_MS = 2 * 60 * 60 * 1000;

/**
 * How hard a call tries. Forward steps give up after a few minutes of retryable failures and
 * the run undoes what it did; an undo keeps trying (only errors no retry can fix stop it), since
 * giving up would leave a cloud resource behind.
 */
export type Persistence = 'step' | 'undo';
const attempts = (persistence: Persistence) => (persistence === 'undo' ? {} : { maximumAttempts: 10 });

export const controlActivities = (persistence: Persistence = 'step') =>
  proxyActivities<ClusterLifecycleActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { maximumInterval: '30 seconds', ...attempts(persistence) },
  });

/**
 * The site's cloud activities. No schedule-to-start timeout: an offline site's steps wait for
 * it. Each is one quick cloud call. On cancel the workflow waits for a running call to end, so
 * an undo never races the step it undoes.
 */
export const cloudActivities = (site: string, persistence: Persistence = 'step') =>
  siteSteps<CloudActivities>(site, {
    startToCloseTimeout: '1 minute',
    waitForCancellation: true,
    retry: {
      initialInterval: '2 seconds',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      ...attempts(persistence),
    },
  });

/** The field a classified failure names (`details[0].field`), if any. */
export const failureField = (err: unknown): string | undefined => {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure)) return undefined;
  const field = (cause.details?.[0] as { field?: unknown } | undefined)?.field;
  return typeof field === 'string' ? field : undefined;
};

/** The ErrorType an activity failed with, if it was classified. */
export const failureType = (err: unknown): string | undefined => {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
};

/** The messages of a failure chain, outermost to innermost, without Temporal's wrappers. */
export const failureMessage = (err: unknown): string => {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof ActivityFailure) continue;
    if (e.message && !parts.some((p) => p.includes(e.message))) parts.push(e.message);
  }
  return parts.join(': ') || String(err);
};

/** Where a cluster is, for the site's cloud activities. */
export type ClusterAt = { account: string; location: string; name: string };

export const createStepLog = () => {
  const steps: RunStep[] = [];
  /** Runs `work` as a logged step; its note, if any, is what the step returns as `note`. */
  const run = async <T>(
    step: string,
    target: string,
    work: () => Promise<T>,
    note?: (value: T) => string | null,
  ) => {
    const entry: RunStep = {
      step,
      target,
      state: 'running',
      note: null,
      startedAt: new Date().toISOString(),
      finishedAt: null,
    };
    steps.push(entry);
    try {
      const value = await work();
      entry.state = 'done';
      entry.note = note ? note(value) : null;
      return value;
    } catch (err) {
      entry.state = isCancellation(err) ? 'cancelled' : 'failed';
      entry.note = failureMessage(err);
      throw err;
    } finally {
      entry.finishedAt = new Date().toISOString();
    }
  };
  return { steps, run };
};

/** Cloud calls and waits for one account of one site. */
export const cloudSteps = (
  site: string,
  account: string,
  polling: PollingPolicy,
  persistence: Persistence = 'step',
) => {
  const cloud = cloudActivities(site, persistence);

  /** Polls `check` on a durable timer, waits growing by half up to the account's cap. */
  const pollUntil = async <T>(what: string, check: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + MAX_WAIT_MS;
    for (let wait = polling.initialMs; ; wait = Math.min(Math.round(wait * 1.5), polling.maxMs)) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) {
        throw ApplicationFailure.create({
          type: ErrorType.Unavailable,
          message: `${what}: not done after ${MAX_WAIT_MS / 60_000} minutes`,
          nonRetryable: true,
        });
      }
      await sleep(wait);
    }
  };

  /** Waits for a cloud operation; a failed one is an error with the cloud's message. */
  const waitOperation = async (operation: CloudOperation | null, what: string): Promise<void> => {
    if (!operation) return;
    const done = operation.done
      ? operation
      : await pollUntil(what, async () => {
          const op = await cloud.cloudGetOperation({ account, operation });
          return op.done ? op : undefined;
        });
    if (done.error !== null) {
      throw ApplicationFailure.create({
        type: ErrorType.Unavailable,
        message: `${what} failed: ${done.error}`,
        nonRetryable: true,
      });
    }
  };

  const describe = (at: ClusterAt) => cloud.cloudDescribeCluster(at);

  /** Until the cluster is in a state one can act on (not creating or updating); null if gone. */
  const settled = async (at: ClusterAt): Promise<CloudCluster | null> =>
    pollUntil(`cluster ${at.name} to settle`, async () => {
      const c = await describe(at);
      const busy =
        c !== null &&
        (['creating', 'updating'].includes(c.status) ||
          c.nodePools.some((p) => p.status === 'creating' || p.status === 'updating'));
      return busy ? undefined : { c };
    }).then(({ c }) => c);

  const untilGone = (at: ClusterAt, pools?: string[]) =>
    pollUntil(pools ? `node pools ${pools.join(', ')} to go` : `cluster ${at.name} to go`, async () => {
      const c = await describe(at);
      if (!pools) return c === null ? true : undefined;
      return c === null || !c.nodePools.some((p) => pools.includes(p.name)) ? true : undefined;
    });

  /** Deletes one node pool and waits until it is gone; false when there was none. */
  const deleteNodePool = async (at: ClusterAt, pool: string): Promise<boolean> => {
    const op = await cloud.cloudDeleteNodePool({ ...at, pool });
    if (op === null) return false;
    await waitOperation(op, `deleting node pool ${pool}`);
    await untilGone(at, [pool]);
    return true;
  };

  /**
   * Deletes the cluster and waits until it is gone. Where the cloud refuses while node pools
   * are attached (EKS), the remaining pools go first and the delete is asked again.
   */
  const deleteCluster = async (at: ClusterAt): Promise<{ pools: string[] }> => {
    const removedPools: string[] = [];
    for (let attempt = 0; ; attempt++) {
      try {
        const op = await cloud.cloudDeleteCluster(at);
        await waitOperation(op, `deleting cluster ${at.name}`);
        break;
      } catch (err) {
        if (failureType(err) !== ErrorType.Conflict || attempt >= 2) throw err;
        const c = await settled(at);
        if (!c) return { pools: removedPools };
        for (const p of c.nodePools) {
          if (p.status !== 'deleting') await cloud.cloudDeleteNodePool({ ...at, pool: p.name });
          removedPools.push(p.name);
        }
        await untilGone(
          at,
          c.nodePools.map((p) => p.name),
        );
      }
    }
    await untilGone(at);
    return { pools: removedPools };
  };

  return { cloud, pollUntil, waitOperation, describe, settled, untilGone, deleteNodePool, deleteCluster };
};
