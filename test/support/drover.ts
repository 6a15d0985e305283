import { stringify } from 'yaml';
import { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { buildApp, type App } from '../../api/app.ts';
import { createTokenStore } from '../../api/auth.ts';
import type { Db } from '../../db/database.ts';
import type { Run } from '../../domain/runs.ts';
import { siteNamespace, type SiteStep } from '../../domain/site-link.ts';
import { createSiteActivities, type SiteActivityDeps } from '../../activities/site/index.ts';
import { createControlWorker } from '../../workers/control-worker.ts';
import { createSiteWorker } from '../../workers/site-worker.ts';
import { recordedSiteSteps } from '../../api/history-steps.ts';
import { ensureSiteLink } from '../../runtime/site-link.ts';
import { applyCodecs, decodeRawPayload } from '../../runtime/payload-codec.ts';
import {
  freshPostgres,
  temporalAddress,
  temporalClient,
  testDataConverter,
  testNamespace,
  waitUntil,
} from './env.ts';

/** One kubeconfig context of a site: which server, which CA, which token. */
export type SiteContext = { context: string; server: string; caData?: string | undefined; token: string };

/** A site's kubeconfig, as its sub-manager (and only it) reads it. */
export const siteKubeconfig = (entries: SiteContext[]): string =>
  stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: entries.map((e) => ({
      name: e.context,
      cluster: {
        server: e.server,
        ...(e.caData ? { 'certificate-authority-data': Buffer.from(e.caData).toString('base64') } : {}),
      },
    })),
    users: entries.map((e) => ({ name: `${e.context}-user`, user: { token: e.token } })),
    contexts: entries.map((e) => ({
      name: e.context,
      context: { cluster: e.context, user: `${e.context}-user` },
    })),
    'current-context': entries[0]?.context ?? '',
  });

export type ApiHarness = {
  db: Db;
  databaseUrl: string;
  temporal: Client;
  app: App;
  token: string;
  /** An authenticated request through `inject`, its body parsed. */
  call: <T>(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    payload?: object,
  ) => Promise<{ status: number; body: T; text: string }>;
  /**
   * Polls the run until `until` holds (by default: until it is no longer running) and returns
   * it as the API shows it, progress included.
   */
  waitForRun: <P = unknown>(
    runId: string,
    options?: { until?: (run: RunView<P>) => boolean; timeoutMs?: number },
  ) => Promise<RunView<P>>;
  close: () => Promise<void>;
};

/** A run as `GET /v1/runs/{id}` answers: its progress typed by the kind of run. */
export type RunView<P = unknown> = Run & { progress?: P };

/**
 * The central side of an end-to-end test: a fresh Postgres database, a Temporal client in
 * this worker's namespace, the API app (not listening) and an admin token.
 */
export const startApi = async (options: { siteOfflineAfterMs?: number } = {}): Promise<ApiHarness> => {
  const { db, url } = await freshPostgres();
  const temporal = await temporalClient();
  const app = await buildApp({
    db,
    temporal,
    siteOfflineAfterMs: options.siteOfflineAfterMs ?? 12_000,
    logger: false,
  });
  const token = (await createTokenStore(db).ensureAdmin()) ?? '';
  return {
    db,
    databaseUrl: url,
    temporal,
    app,
    token,
    call: async <T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) => {
      const res = await app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${token}` },
        ...(payload ? { payload } : {}),
      });
      return { status: res.statusCode, body: (res.body ? res.json<T>() : undefined) as T, text: res.body };
    },
    waitForRun: async <P>(
      runId: string,
      options: { until?: (run: RunView<P>) => boolean; timeoutMs?: number } = {},
    ) => {
      const until = options.until ?? ((r: RunView<P>) => r.status !== 'running');
      let run: RunView<P> | undefined;
      await waitUntil(
        `run ${runId}`,
        async () => {
          const res = await app.inject({
            method: 'GET',
            url: `/v1/runs/${encodeURIComponent(runId)}`,
            headers: { authorization: `Bearer ${token}` },
          });
          if (res.statusCode !== 200) return false;
          return until((run = res.json<RunView<P>>()));
        },
        options.timeoutMs ?? 120_000,
      );
      return run as RunView<P>;
    },
    close: async () => {
      await app.close();
      await temporal.connection.close();
      await db.close();
    },
  };
};

/**
 * Every deploy step a deploy run asked of its sites (api/history-steps.ts: an activity, an
 * operation or one step of a batch) — in each execution of the run (it continues as new) and
 * of every shard it started — with its target's name and whether it completed.
 */
const deployActivities = async (
  temporal: Client,
  runId: string,
): Promise<{ target: string; completed: boolean }[]> => {
  const scheduled: { target: string; completed: boolean }[] = [];
  const executions: { id: string; runId?: string }[] = [{ id: runId }];
  for (let i = 0; i < executions.length; i++) {
    const { id, runId: execution } = executions[i] as { id: string; runId?: string };
    const history = await temporal.workflow.getHandle(id, execution).fetchHistory();
    for (const e of history.events ?? []) {
      const previous = e.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
      if (previous) executions.push({ id, runId: previous });
      const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
      if (child) executions.push({ id: child });
    }
    const steps = await recordedSiteSteps<{ target: { name: string } }>(
      temporal,
      history.events ?? [],
      'deployRelease',
    );
    for (const step of steps)
      scheduled.push({ target: step.input?.target.name ?? '?', completed: step.completed });
  }
  return scheduled;
};

/**
 * The site's own history of the first step of this kind a control workflow had the site do:
 * the step runs as a workflow in the site's namespace (workflows/site/step.ts), named after
 * its caller and the key the caller's history holds (encrypted) in the operation's input.
 */
export const siteStepHistory = async (
  temporal: Client,
  site: string,
  callerWorkflowId: string,
  operation: string,
) => {
  const history = await temporal.workflow.getHandle(callerWorkflowId).fetchHistory();
  for (const e of history.events ?? []) {
    const scheduled = e.nexusOperationScheduledEventAttributes;
    if (scheduled?.operation !== operation) continue;
    const step = await decodeRawPayload<SiteStep>(temporal, scheduled.input);
    if (!step) break;
    const siteClient = new Client({
      connection: temporal.connection,
      namespace: siteNamespace(temporal.options.namespace, site),
      dataConverter: temporal.options.dataConverter,
    });
    return siteClient.workflow.getHandle(`${step.caller}/${step.key}`).fetchHistory();
  }
  throw new Error(`${callerWorkflowId} had its site do no ${operation}`);
};

const countByTarget = (entries: { target: string }[]): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const { target } of entries) counts.set(target, (counts.get(target) ?? 0) + 1);
  return counts;
};

/** How many times each target's deploy activity was scheduled in a deploy run. */
export const deployActivityCalls = async (temporal: Client, runId: string): Promise<Map<string, number>> =>
  countByTarget(await deployActivities(temporal, runId));

/**
 * How many times each target's deploy activity COMPLETED in a deploy run: an apply that
 * finished. A target applied twice would count 2 here.
 */
export const deployActivityCompletions = async (
  temporal: Client,
  runId: string,
): Promise<Map<string, number>> =>
  countByTarget((await deployActivities(temporal, runId)).filter((d) => d.completed));

export type InProcessWorkers = { connection: NativeConnection; stop: () => Promise<void> };

/**
 * The control worker and one worker per site, in this process on this jest worker's
 * namespace, so a test can look inside what the sites' activities reach (sandbox clouds).
 * `quiet` keeps the SDK's warnings about failures a test causes on purpose off the output.
 */
export const startWorkers = async (
  api: ApiHarness,
  sites: SiteActivityDeps[],
  options: { quiet?: boolean } = {},
): Promise<InProcessWorkers> => {
  if (options.quiet) {
    try {
      Runtime.install({ logger: new DefaultLogger('ERROR') });
    } catch {
      // Already installed in this jest worker.
    }
  }
  const connection = await NativeConnection.connect({ address: temporalAddress() });
  const workers = [
    await createControlWorker({
      connection,
      namespace: testNamespace(),
      dataConverter: testDataConverter(),
      db: api.db,
    }),
    ...(await Promise.all(
      sites.map(async (deps) => {
        // As a sub-manager does on a server without authorization: make its link, then serve it.
        await ensureSiteLink(connection, testNamespace(), deps.site);
        return createSiteWorker({
          connection,
          controlNamespace: testNamespace(),
          site: deps.site,
          dataConverter: testDataConverter(),
          // Release content is read in the site's own namespace, where the control plane published it.
          activities: createSiteActivities({
            ...deps,
            temporal: new Client({
              connection,
              namespace: siteNamespace(testNamespace(), deps.site),
              dataConverter: testDataConverter(),
            }),
          }),
        });
      }),
    )),
  ];
  const running = Promise.all(workers.map((w) => w.run()));
  return {
    connection,
    stop: async () => {
      for (const w of workers) w.shutdown();
      await running;
      await connection.close();
    },
  };
};

type PayloadLike = { metadata?: Record<string, Uint8Array | null> | null; data?: Uint8Array | null };
const isPayload = (v: unknown): v is PayloadLike =>
  typeof v === 'object' &&
  v !== null &&
  'data' in v &&
  // isView, not instanceof: jest's module realm may have its own Uint8Array.
  ArrayBuffer.isView((v as PayloadLike).data) &&
  'metadata' in v;

/**
 * A workflow's history as text with every payload decrypted by the client's codec and shown
 * as UTF-8, so a test can search what the history really holds (a search of the raw history
 * only sees ciphertext: test/e2e/history-encryption.test.ts shows that).
 */
export const decodedHistoryText = async (
  temporal: Client,
  workflowId: string,
  runId?: string,
): Promise<string> => {
  const history = await temporal.workflow.getHandle(workflowId, runId).fetchHistory();
  const payloads: PayloadLike[] = [];
  const walk = (v: unknown): void => {
    if (isPayload(v)) payloads.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v)) Object.values(v).forEach(walk);
  };
  walk(history.events);
  const decoded = await applyCodecs(
    temporal,
    'decode',
    payloads.map((p) => p as Payload),
  );
  // Put the plaintext in place, then render: protobuf messages serialize bytes as base64, so
  // every `data` string is read back as text.
  payloads.forEach((p, i) => {
    p.metadata = decoded[i]?.metadata ?? null;
    p.data = decoded[i]?.data ?? null;
  });
  return JSON.stringify(history.events ?? [], (k, v: unknown) =>
    k === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
  );
};
