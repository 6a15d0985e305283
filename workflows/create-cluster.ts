import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  defineUpdate,
  isCancellation,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { CloudActivities } from '../activities/site/clouds.ts';
import type { PollingPolicy } from '../domain/clouds.ts';
import type { CloudCluster, CloudName, ClusterSpec } from '../domain/clouds.ts';
import {
  checkClusterSpec,
  cloudContext,
  RUN_LABEL,
  type ClusterSpecRequest,
  type SpecProblem,
} from '../domain/cluster-specs.ts';
import { ErrorType } from '../domain/errors.ts';
import { siteSteps } from './site-link.ts';
import {
  cloudActivities,
  cloudSteps,
  controlActivities,
  createStepLog,
  failureField,
  failureMessage,
  failureType,
  type ClusterAt,
  type RunStep,
} from './cloud-steps.ts';

export type CreateClusterInput = {
  site: string;
  account: string;
  spec: ClusterSpecRequest;
  /** Validate against the cloud's catalog and stop: nothing is created. */
  dryRun?: boolean;
};

/**
 * validating → creating → succeeded; a bad spec ends `rejected` (nothing was created), a dry
 * run `validated`; a failure or cancel after that goes through `undoing` to `failed` or
 * `cancelled`.
 */
export type CreateClusterPhase =
  'validating' | 'rejected' | 'validated' | 'creating' | 'undoing' | 'succeeded' | 'failed' | 'cancelled';

/** The first step's verdict, which the API waits for before it answers. */
export type Validation = {
  ok: boolean;
  problems: SpecProblem[];
  cloud: CloudName | null;
  /** The spec as the cloud will be asked for it (version resolved, defaults filled in). */
  spec: ClusterSpec | null;
  /** Set when validation itself could not finish (site unreachable, cloud failing). */
  error: string | null;
};

export type CreateClusterProgress = {
  kind: 'create-cluster';
  phase: CreateClusterPhase;
  site: string;
  account: string;
  cloud: CloudName | null;
  name: string;
  location: string;
  version: string | null;
  /** Steps taken, in order; the last one that failed says why. */
  steps: RunStep[];
  /** Compensations run after a failure or cancel, in the order they ran (reverse of the steps). */
  undone: RunStep[];
  problems: SpecProblem[];
  clusterId: string | null;
  context: string | null;
  endpoint: string | null;
  error: string | null;
};

export const progressQuery = defineQuery<CreateClusterProgress>('progress');
/** Resolves once the spec has been checked against the cloud's catalog (see the API's create route). */
export const validationUpdate = defineUpdate<Validation>('validation');

/** A label value every cloud accepts (GKE's rule: lowercase, digits, - and _, at most 63). */
const runKeyOf = (workflowId: string): string =>
  workflowId
    .slice(workflowId.indexOf(':') + 1)
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .slice(0, 63);

/**
 * Creates a managed cluster in one of a site's cloud accounts, as a saga: validate the spec
 * against the cloud's catalog → create → poll until ready (durable timers) → add the node pools
 * the cloud did not make with it → prove access → register in the inventory. A failure or a
 * cancel at any step undoes the steps done, in reverse, whatever happens to the run meanwhile;
 * the cloud cluster is only ever deleted if it carries this run's label.
 */
export async function createClusterWorkflow(input: CreateClusterInput): Promise<CreateClusterProgress> {
  const { site, account } = input;
  const runKey = runKeyOf(workflowInfo().workflowId);
  const log = createStepLog();
  const undoLog = createStepLog();
  const control = controlActivities();
  const cloud = cloudActivities(site);
  const { cloudAccessCheck } = siteSteps<CloudActivities>(site, {
    startToCloseTimeout: '1 minute',
    // A fresh API server may take a moment to answer after its cloud says ready.
    retry: { initialInterval: '2 seconds', maximumInterval: '15 seconds', maximumAttempts: 15 },
  });

  let phase: CreateClusterPhase = 'validating';
  let validation: Validation | undefined;
  let cloudName: CloudName | null = null;
  let version: string | null = null;
  let clusterId: string | null = null;
  let context: string | null = null;
  let endpoint: string | null = null;
  let error: string | null = null;
  const progress = (): CreateClusterProgress => ({
    kind: 'create-cluster',
    phase,
    site,
    account,
    cloud: cloudName,
    name: input.spec.name,
    location: input.spec.location,
    version,
    steps: log.steps,
    undone: undoLog.steps,
    problems: validation?.problems ?? [],
    clusterId,
    context,
    endpoint,
    error,
  });
  setHandler(progressQuery, progress);
  setHandler(validationUpdate, async () => {
    await condition(() => validation !== undefined);
    return validation as Validation;
  });

  /** Undo steps, pushed before the step they undo runs: each checks what there is to undo. */
  const compensations: { step: string; target: string; undo: () => Promise<string> }[] = [];

  try {
    const checked = await log.run(
      'validate',
      `${input.spec.name} in ${account}/${input.spec.location}`,
      async () => {
        const problems: SpecProblem[] = [];
        const nameTaken = await control.checkClusterName({ site, name: input.spec.name });
        if (nameTaken) problems.push(nameTaken);
        let answer;
        try {
          answer = await cloud.cloudCatalog({ account, location: input.spec.location });
        } catch (err) {
          if (failureType(err) !== ErrorType.NotFound) throw err;
          problems.push({ field: 'account', message: failureMessage(err), type: ErrorType.BadInput });
          return { problems, spec: null, cloud: null, polling: null };
        }
        const { spec, problems: specProblems } = checkClusterSpec(input.spec, answer.catalog);
        problems.push(...specProblems);
        if (!specProblems.some((p) => p.field === 'spec.location')) {
          let existing;
          try {
            existing = await cloud.cloudDescribeCluster({
              account,
              location: spec.location,
              name: spec.name,
            });
          } catch (err) {
            // The account refuses the spec (an EKS account serves one region): a bad spec, not an outage.
            if (failureType(err) !== ErrorType.Invalid && failureType(err) !== ErrorType.BadInput) throw err;
            problems.push({
              field: `spec.${failureField(err) ?? 'location'}`,
              message: failureMessage(err),
              type: ErrorType.BadInput,
            });
          }
          if (existing) {
            problems.push({
              field: 'spec.name',
              message: `${answer.cloud} account '${account}' already has a cluster '${spec.name}' in ${spec.location}`,
              type: ErrorType.Conflict,
            });
          }
        }
        return { problems, spec, cloud: answer.cloud, polling: answer.polling };
      },
      (v) => (v.problems.length === 0 ? null : v.problems.map((p) => `${p.field}: ${p.message}`).join('; ')),
    );
    cloudName = checked.cloud;
    validation = {
      ok: checked.problems.length === 0,
      problems: checked.problems,
      cloud: checked.cloud,
      spec: checked.spec,
      error: null,
    };
    if (!validation.ok || !checked.spec || !checked.polling) {
      phase = 'rejected';
      throw ApplicationFailure.create({
        type: checked.problems.some((p) => p.type === ErrorType.Conflict)
          ? ErrorType.Conflict
          : ErrorType.BadInput,
        message: checked.problems.map((p) => `${p.field}: ${p.message}`).join('; '),
        nonRetryable: true,
      });
    }
    const spec = checked.spec;
    version = spec.version;
    if (input.dryRun) {
      phase = 'validated';
      await condition(allHandlersFinished);
      return progress();
    }

    phase = 'creating';
    await create(spec, checked.polling);
    phase = 'succeeded';
    await condition(allHandlersFinished);
    return progress();
  } catch (err) {
    const cancelled = isCancellation(err);
    error = failureMessage(err);
    validation ??= { ok: false, problems: [], cloud: null, spec: null, error };
    if (phase !== 'rejected') phase = 'undoing';
    await CancellationScope.nonCancellable(async () => {
      for (const c of [...compensations].reverse()) {
        // A failed undo is recorded and the others still run: the cluster delete also takes pools.
        await undoLog.run(c.step, c.target, c.undo, (note) => note).catch(() => undefined);
      }
      await condition(allHandlersFinished);
    });
    if (phase !== 'rejected') phase = cancelled ? 'cancelled' : 'failed';
    if (cancelled) throw err;
    const undone = undoLog.steps.map(
      (s) => `${s.step} ${s.target}: ${s.state === 'done' ? s.note : `FAILED ${s.note}`}`,
    );
    throw ApplicationFailure.create({
      type: failureType(err),
      message: undone.length > 0 ? `${error} (undone: ${undone.join('; ')})` : error,
      nonRetryable: true,
      details: [progress()],
    });
  }

  async function create(spec: ClusterSpec, polling: PollingPolicy): Promise<void> {
    const steps = cloudSteps(site, account, polling);
    const undoSteps = cloudSteps(site, account, polling, 'undo');
    const at: ClusterAt = { account, location: spec.location, name: spec.name };
    const where = `cluster ${spec.name} in ${spec.location}`;

    const ready = (pools: string[]) =>
      steps.pollUntil(`${where} to be ready`, async () => {
        const c = await steps.describe(at);
        if (c === null) {
          throw ApplicationFailure.create({
            type: ErrorType.NotFound,
            message: `${where} vanished`,
            nonRetryable: true,
          });
        }
        const broken = c.status === 'failed' ? where : c.nodePools.find((p) => p.status === 'failed')?.name;
        if (broken !== undefined) {
          const what = broken === where ? where : `node pool ${broken}`;
          throw ApplicationFailure.create({
            type: ErrorType.Unavailable,
            message: `${what} failed in the cloud`,
            nonRetryable: true,
          });
        }
        const poolsReady = pools.every((name) =>
          c.nodePools.some((p) => p.name === name && p.status === 'ready'),
        );
        return c.status === 'ready' && poolsReady ? c : undefined;
      });

    compensations.push({
      step: 'delete-cluster',
      target: where,
      undo: async () => {
        const found = await undoSteps.describe(at);
        if (!found) return 'nothing to undo: no such cluster';
        if (found.labels[RUN_LABEL] !== runKey) return 'left alone: not created by this run';
        await undoSteps.settled(at);
        const { pools } = await undoSteps.deleteCluster(at);
        return pools.length > 0 ? `deleted, after its node pools ${pools.join(', ')}` : 'deleted';
      },
    });
    const created = await log.run(
      'create-cluster',
      where,
      () => cloud.cloudCreateCluster({ account, spec, runKey }),
      (r) => (r.adopted ? 'already created by an earlier attempt of this step' : null),
    );
    let cluster: CloudCluster = await log.run('wait-cluster', where, async () => {
      await steps.waitOperation(created.operation, `creating ${where}`);
      return ready([]);
    });

    // EKS makes node groups separately; GKE and AKS make the spec's pools with the cluster.
    for (const pool of spec.nodePools) {
      if (cluster.nodePools.some((p) => p.name === pool.name)) continue;
      compensations.push({
        step: 'delete-node-pool',
        target: `node pool ${pool.name}`,
        undo: async () => {
          const c = await undoSteps.settled(at);
          if (!c?.nodePools.some((p) => p.name === pool.name)) return 'nothing to undo: no such node pool';
          return (await undoSteps.deleteNodePool(at, pool.name))
            ? 'deleted'
            : 'nothing to undo: no such node pool';
        },
      });
      const added = await log.run('create-node-pool', `node pool ${pool.name}`, () =>
        cloud.cloudCreateNodePool({
          account,
          location: spec.location,
          cluster: spec.name,
          pool,
          extras: spec.extras,
        }),
      );
      cluster = await log.run('wait-node-pool', `node pool ${pool.name}`, async () => {
        await steps.waitOperation(added.operation, `creating node pool ${pool.name}`);
        return ready([pool.name]);
      });
    }
    cluster = await log.run('wait-node-pools', `every node pool of ${spec.name}`, () =>
      ready(spec.nodePools.map((p) => p.name)),
    );

    const access = await log.run(
      'check-access',
      `Kubernetes API of ${spec.name}`,
      () => cloudAccessCheck(at),
      (a) => `${a.server} answered /version: ${a.version}`,
    );
    endpoint = cluster.endpoint ?? access.server;

    const contextName = cloudContext(account, spec.location, spec.name);
    context = contextName;
    const registered = await log.run(
      'register',
      `${spec.name} in site ${site}`,
      () =>
        control.registerCreatedCluster({
          site,
          context: contextName,
          name: spec.name,
          cloud: cluster.cloud,
          location: spec.location,
          version: cluster.version || spec.version,
          endpoint,
          labels: spec.labels,
        }),
      (r) => `cluster ${r.id}`,
    );
    clusterId = registered.id;
    compensations.push({
      step: 'deregister',
      target: `cluster ${registered.id}`,
      undo: async () => {
        await controlActivities('undo').deregisterCluster({ id: registered.id });
        return 'deregistered';
      },
    });
  }
}
