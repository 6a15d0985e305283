import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { App } from '../../api/app.ts';
import type { Cluster } from '../../api/routes/clusters.ts';
import type { Db } from '../../db/database.ts';
import type { DeployProgress } from '../../domain/deployments.ts';
import { siteNamespace } from '../../domain/site-link.ts';
import { siteTaskQueue, CONTROL_TASK_QUEUE } from '../../domain/task-queues.ts';
import { createKubeClient } from '../../kube/client.ts';
import { ensureDevCa } from '../../sandbox/dev-ca.ts';
import { startKubeEnv, type KubeCluster, type KubeEnv } from '../../sandbox/kube-env.ts';
import { startControlPlane, type AuthorizedTemporal } from '../support/authorized-temporal.ts';
import { deployActivityCompletions, siteKubeconfig, type RunView } from '../support/drover.ts';
import {
  freshPostgres,
  logDir,
  startDroverProcess,
  stopProcess,
  testDataConverter,
  uniq,
  waitUntil,
} from '../support/env.ts';
import { attempt, credentialAccepted } from '../support/site-work.ts';

/**
 * drover's own processes on a Temporal server that checks every call: the API and the control
 * worker hold the control plane's credential, each sub-manager only the credential its
 * enrollment returned, over TLS. The sites are enrolled through the API, announce themselves
 * through their link, and a release with a Secret rolls out to both. Site A, with its real
 * credential, then tries to reach what is not its own and is refused; A is revoked mid-rollout
 * and its targets wait while B's finish; enrolled again, A finishes the run and nothing done
 * is redone. Last, no history in any namespace holds the Secret, the release or a credential
 * in clear.
 */
const id = uniq();
const NS = `isolated-${id}`;
const siteA = `a-${id}`;
const siteB = `b-${id}`;
const dir = mkdtempSync(join(tmpdir(), 'drover-isolated-sites-'));
const ca = ensureDevCa(join(dir, 'ca'));
const REFRESH_SECONDS = 2;
const SECRET_VALUE = `s3cr3t-${uniq()}-never-in-history`;
const RELEASE = `apiVersion: v1
kind: Secret
metadata:
  name: isolated-secret
  namespace: default
stringData:
  password: ${SECRET_VALUE}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: isolated-settings
  namespace: default
data:
  mode: isolated
`;

let db: Db;
let databaseUrl: string;
let app: App;
let admin: string;
let temporal: AuthorizedTemporal;
let control: Connection;
let kube: KubeEnv;
let controlToken: string;
let plane: Awaited<ReturnType<typeof startControlPlane>>;
const processes = new Map<string, ChildProcess>();
const siteTokens: string[] = [];

const call = async <T>(method: 'GET' | 'POST', url: string, payload?: object) => {
  const res = await app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${admin}` },
    ...(method === 'POST' ? { payload: payload ?? {} } : {}),
  });
  return { status: res.statusCode, body: res.json<T>() };
};

/** Everything a drover process needs to reach the authorizing server, over TLS. */
const temporalEnv = (token: string) => ({
  DROVER_TEMPORAL_ADDRESS: temporal.address,
  DROVER_TEMPORAL_NAMESPACE: NS,
  DROVER_TEMPORAL_TOKEN: token,
  DROVER_TEMPORAL_TLS_CA: ca.caPath,
});

const startSubManager = (site: string, token: string) => {
  processes.set(
    site,
    startDroverProcess('sub-manager/main.ts', `isolated-${site}-${processes.size}`, {
      ...temporalEnv(token),
      DROVER_SITE: site,
      DROVER_KUBECONFIG: join(dir, `${site}.yaml`),
      DROVER_SITE_STATE_DIR: join(dir, 'state', site),
    }),
  );
};

const enroll = async (site: string) => {
  const res = await call<{ namespace: string; endpoint: string; temporalToken: string }>(
    'POST',
    `/v1/sites/${site}/enroll`,
    { description: `isolated site ${site}` },
  );
  expect(res.status).toBe(201);
  siteTokens.push(res.body.temporalToken);
  return res.body;
};

const asSite = (token: string) =>
  Connection.lazy({ address: temporal.address, apiKey: token, tls: { serverRootCACertificate: ca.ca } });

const controlClient = () =>
  new Client({ connection: control, namespace: NS, dataConverter: testDataConverter() });

const view = async (runId: string) => (await call<RunView<DeployProgress>>('GET', `/v1/runs/${runId}`)).body;

const stateOf = (run: RunView<DeployProgress>, name: string) =>
  run.progress?.targets.find((t) => t.name === name)?.state;

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Already installed in this jest worker.
  }
  kube = await startKubeEnv({ clusters: 3, baseDir: join(dir, 'kube'), namePrefix: 'iso' });
  const [a1, a2, b1] = kube.clusters as [KubeCluster, KubeCluster, KubeCluster];
  const entry = (context: string, c: KubeCluster) => ({
    context,
    server: c.server,
    caData: c.caData,
    token: c.adminToken,
  });
  writeFileSync(join(dir, `${siteA}.yaml`), siteKubeconfig([entry('a1', a1), entry('a2', a2)]));
  writeFileSync(join(dir, `${siteB}.yaml`), siteKubeconfig([entry('b1', b1)]));

  ({ db, url: databaseUrl } = await freshPostgres());
  plane = await startControlPlane({
    db,
    namespace: NS,
    dir: join(dir, 'temporal'),
    logFile: join(logDir(), `authorized-temporal-isolated-${id}.log`),
    refreshSeconds: REFRESH_SECONDS,
    nexusCallers: `${NS}-site-*=${NS}`,
    tls: ca,
  });
  ({ app, admin, control, controlToken, temporal } = plane);
  processes.set(
    'control',
    startDroverProcess('workers/main.ts', `isolated-control-${id}`, {
      ...temporalEnv(controlToken),
      DATABASE_URL: databaseUrl,
    }),
  );
}, 240_000);

afterAll(async () => {
  await Promise.all([...processes.values()].map((p) => stopProcess(p)));
  await plane?.stop();
  await db?.close();
  await kube?.stop({ removeData: true });
});

describe('drover with one namespace per site, on an authorizing Temporal over TLS', () => {
  let releaseId: string;
  let runId: string;
  let tokenA: string;

  it('enrolls two sites whose sub-managers, holding only their own credential, announce themselves and are discovered', async () => {
    const a = await enroll(siteA);
    const b = await enroll(siteB);
    expect(a.namespace).toBe(siteNamespace(NS, siteA));
    expect(b.namespace).toBe(siteNamespace(NS, siteB));
    tokenA = a.temporalToken;
    startSubManager(siteA, a.temporalToken);
    startSubManager(siteB, b.temporalToken);
    await waitUntil(
      'both sites discovered',
      async () => {
        const clusters = (await call<{ items: Cluster[] }>('GET', '/v1/clusters')).body.items;
        return (
          clusters.filter((c) => c.site === siteA).length === 2 && clusters.some((c) => c.site === siteB)
        );
      },
      120_000,
    );
    const sites = await call<{ items: { name: string; status: string }[] }>('GET', '/v1/sites');
    expect(sites.body.items.filter((s) => s.name === siteA || s.name === siteB)).toEqual([
      expect.objectContaining({ name: siteA, status: 'online' }),
      expect.objectContaining({ name: siteB, status: 'online' }),
    ]);
  }, 150_000);

  it('rolls a release with a Secret out over the link: the first wave, then a pause', async () => {
    const release = await call<{ id: string }>('POST', '/v1/releases', {
      name: 'isolated',
      manifests: RELEASE,
    });
    expect(release.status).toBe(201);
    releaseId = release.body.id;
    const started = await call<{ runId: string }>('POST', '/v1/deployments', {
      releaseId,
      placement: { sites: [siteA, siteB] },
      strategy: {
        waves: [{ count: 1 }, { percent: 100 }],
        betweenWaves: 'pause',
        maxParallel: 5,
        failureBudget: { count: 0 },
        rollbackWindowSeconds: 0,
      },
    });
    expect(started.status).toBe(202);
    runId = started.body.runId;
    await waitUntil(
      'the first wave done',
      async () => (await view(runId)).progress?.phase === 'paused',
      90_000,
    );
    expect((await view(runId)).progress?.counts).toMatchObject({ succeeded: 1, pending: 2, failed: 0 });
    expect(Object.fromEntries(await deployActivityCompletions(controlClient(), runId))).toEqual({ a1: 1 });
  }, 120_000);

  it("refuses site A's credential everywhere but in A's own namespace", async () => {
    const a = asSite(tokenA);
    const nsB = siteNamespace(NS, siteB);
    const inControl = new Client({ connection: a, namespace: NS });
    const inB = new Client({ connection: a, namespace: nsB });
    const forged = randomBytes(64);
    const attempts = {
      startInControl: await attempt(() =>
        inControl.workflow.start('pingSiteWorkflow', {
          taskQueue: CONTROL_TASK_QUEUE,
          workflowId: `rogue-${uniq()}`,
          args: [{ site: siteB }],
        }),
      ),
      startInB: await attempt(() =>
        inB.workflow.start('siteStepWorkflow', {
          taskQueue: siteTaskQueue(siteB),
          workflowId: `rogue-${uniq()}`,
          args: [
            {
              operation: 'discoverClusters',
              caller: 'rogue',
              key: 'x',
              args: [],
              options: { startToCloseTimeout: '1 minute' },
            },
          ],
        }),
      ),
      pollB: await attempt(() =>
        a.workflowService.pollActivityTaskQueue({
          namespace: nsB,
          taskQueue: { name: siteTaskQueue(siteB) },
          identity: 'rogue',
        }),
      ),
      pollBNexus: await attempt(() =>
        a.workflowService.pollNexusTaskQueue({ namespace: nsB, taskQueue: { name: siteTaskQueue(siteB) } }),
      ),
      queryRun: await attempt(() => inControl.workflow.getHandle(runId).query('progress')),
      readRunHistory: await attempt(() => inControl.workflow.getHandle(runId).fetchHistory()),
      readBRelease: await attempt(() => inB.workflow.getHandle(`release:${releaseId}`).fetchHistory()),
      signalRun: await attempt(() =>
        inControl.workflow.getHandle(runId).signal('shardPaused', { shard: 'x', reason: 'rogue' }),
      ),
      updateRun: await attempt(() =>
        inControl.workflow.getHandle(runId).executeUpdate('resume', { args: [{ failed: 'skip' }] }),
      ),
      terminateRun: await attempt(() => inControl.workflow.getHandle(runId).terminate('rogue')),
      completeBActivity: await attempt(() =>
        a.workflowService.respondActivityTaskCompleted({ namespace: nsB, taskToken: forged }),
      ),
      completeBNexusTask: await attempt(() =>
        a.workflowService.respondNexusTaskCompleted({ namespace: nsB, taskToken: forged }),
      ),
      listControlRuns: await attempt(() => a.workflowService.listWorkflowExecutions({ namespace: NS })),
    };
    for (const [what, answer] of Object.entries(attempts)) {
      expect({ what, answer }).toEqual({ what, answer: 'PERMISSION_DENIED' });
    }
    // The same credential does reach A's own namespace.
    expect(
      await attempt(() => a.workflowService.describeNamespace({ namespace: siteNamespace(NS, siteA) })),
    ).toBe('ok');
    await a.close();
    expect((await view(runId)).status).toBe('running');
  }, 60_000);

  it("revoked mid-rollout, A's targets wait while B's finish; enrolled again, A finishes and nothing done is redone", async () => {
    const revoked = await call<{ revokedKeys: string[] }>('POST', `/v1/sites/${siteA}/revoke`);
    expect(revoked.status).toBe(200);
    const a = asSite(tokenA);
    await waitUntil('A refused', async () => !(await credentialAccepted(a, siteA, NS)), 30_000);
    await a.close();

    expect((await call('POST', `/v1/runs/${runId}/resume`, { failed: 'retry' })).status).toBe(200);
    await waitUntil(
      'b1 done and a2 waiting for its site',
      async () => {
        const run = await view(runId);
        return stateOf(run, 'b1') === 'succeeded' && stateOf(run, 'a2') === 'waiting';
      },
      90_000,
    );
    // It keeps waiting: the revoked sub-manager cannot take it.
    await new Promise((r) => setTimeout(r, 3 * REFRESH_SECONDS * 1000));
    expect(stateOf(await view(runId), 'a2')).toBe('waiting');

    const again = await enroll(siteA);
    await stopProcess(processes.get(siteA) as ChildProcess);
    startSubManager(siteA, again.temporalToken);
    await waitUntil(
      'the run to succeed',
      async () => (await view(runId)).progress?.phase === 'succeeded',
      120_000,
    );
    const completed = await deployActivityCompletions(controlClient(), runId);
    expect(Object.fromEntries(completed)).toEqual({ a1: 1, a2: 1, b1: 1 });
    // And each cluster holds the Secret.
    for (const c of kube.clusters) {
      const secret = await createKubeClient({
        server: c.server,
        caData: c.caData,
        token: c.adminToken,
      }).request<{
        data: { password: string };
      }>({ method: 'GET', path: '/api/v1/namespaces/default/secrets/isolated-secret', action: 'read' });
      expect(Buffer.from(secret.data.password, 'base64').toString()).toBe(SECRET_VALUE);
    }
  }, 240_000);

  it('leaves no Secret, release content or credential in clear in any namespace', async () => {
    const needles = [
      SECRET_VALUE,
      Buffer.from(SECRET_VALUE).toString('base64'),
      'isolated-secret',
      'isolated-settings',
      'stringData',
      ...kube.clusters.map((c) => c.adminToken),
      ...siteTokens,
      controlToken,
    ];
    const namespaces = [NS, siteNamespace(NS, siteA), siteNamespace(NS, siteB)];
    let histories = 0;
    for (const namespace of namespaces) {
      for (const h of await rawHistories(control, namespace)) {
        histories++;
        for (const needle of needles) {
          expect({
            namespace,
            history: h.id,
            found: h.bytes.includes(needle) ? needle.slice(0, 24) : null,
          }).toEqual({
            namespace,
            history: h.id,
            found: null,
          });
        }
      }
    }
    // The run and its shards, check-ins, discoveries; each site's release copy and its steps.
    expect(histories).toBeGreaterThanOrEqual(12);

    // Decrypted, A's copy of the release holds the Secret: the search above looked where it is.
    const inA = new Client({
      connection: control,
      namespace: siteNamespace(NS, siteA),
      dataConverter: testDataConverter(),
    });
    const served = await inA.workflow
      .getHandle(`release:${releaseId}`)
      .query<{ objects: unknown[] }>('content');
    expect(JSON.stringify(served.objects)).toContain(SECRET_VALUE);
  }, 120_000);
});

/** Every execution in a namespace, with its whole history as the raw bytes Temporal serves. */
const rawHistories = async (connection: Connection, namespace: string) => {
  const histories: { id: string; bytes: Buffer }[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await connection.workflowService.listWorkflowExecutions({
      namespace,
      pageSize: 1000,
      ...(nextPageToken ? { nextPageToken } : {}),
    });
    for (const wf of page.executions ?? []) {
      const history = await connection.workflowService.getWorkflowExecutionHistory({
        namespace,
        execution: wf.execution ?? {},
        maximumPageSize: 10_000,
      });
      histories.push({
        id: wf.execution?.workflowId ?? '',
        bytes: Buffer.from(proto.temporal.api.history.v1.History.encode(history.history ?? {}).finish()),
      });
    }
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return histories;
};
