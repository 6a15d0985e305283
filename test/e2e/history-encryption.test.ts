import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Cluster } from '../../api/routes/clusters.ts';
import { createKubeClient } from '../../kube/client.ts';
import { startKubeEnv, type KubeCluster, type KubeEnv } from '../../sandbox/kube-env.ts';
import { siteKubeconfig, startApi, type ApiHarness } from '../support/drover.ts';
import {
  startDroverProcess,
  stopProcess,
  temporalAddress,
  testNamespace,
  uniq,
  waitUntil,
} from '../support/env.ts';

/**
 * No workflow history holds release content in clear. A release with a Secret rolls out
 * through the real control worker and sub-manager processes (each encrypting with the
 * keyring it was given); then every event of every workflow in the namespace, read raw
 * (no codec), is searched for the Secret's value, its base64 form, the release YAML and the
 * cluster's token. The same histories read through the API's codec endpoint do hold them,
 * which shows the search looks where the content would be.
 */
const site = `enc-${uniq()}`;
const dir = mkdtempSync(join(tmpdir(), 'drover-history-encryption-'));
const SECRET_VALUE = `s3cr3t-${uniq()}-do-not-leak`;
const CONFIG_VALUE = `plain-config-${uniq()}`;
const RELEASE = `apiVersion: v1
kind: Secret
metadata:
  name: db-password
  namespace: default
stringData:
  password: ${SECRET_VALUE}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-settings
  namespace: default
data:
  mode: ${CONFIG_VALUE}
`;

let kube: KubeEnv;
let api: ApiHarness;
let raw: Client;
let rawConnection: Connection;
const processes: ChildProcess[] = [];

beforeAll(async () => {
  kube = await startKubeEnv({ clusters: 1, baseDir: join(dir, 'kube'), namePrefix: 'enc' });
  const c = kube.clusters[0] as KubeCluster;
  writeFileSync(
    join(dir, 'site.yaml'),
    siteKubeconfig([{ context: 'e1', server: c.server, caData: c.caData, token: c.adminToken }]),
  );
  api = await startApi();
  // A client without the codec: what anyone reading Temporal's store or API would see.
  rawConnection = await Connection.connect({ address: temporalAddress() });
  raw = new Client({ connection: rawConnection, namespace: testNamespace() });
  processes.push(
    startDroverProcess('workers/main.ts', `enc-control-${site}`, { DATABASE_URL: api.databaseUrl }),
    startDroverProcess('sub-manager/main.ts', `enc-${site}`, {
      DROVER_SITE: site,
      DROVER_KUBECONFIG: join(dir, 'site.yaml'),
      DROVER_SITE_STATE_DIR: join(dir, 'state'),
    }),
  );
  await waitUntil(
    'site discovered',
    async () =>
      (await api.call<{ items: Cluster[] }>('GET', `/v1/clusters?site=${site}`)).body.items.length === 1,
    90_000,
  );
}, 180_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => stopProcess(p)));
  await raw?.connection.close();
  await api?.close();
  await kube?.stop({ removeData: true });
});

/**
 * Every execution in the namespace of this test's site, run or release, with its whole
 * history as the raw bytes Temporal serves (straight from the gRPC API, no SDK decoding).
 */
const rawHistories = async (connection: Connection, ids: (id: string) => boolean) => {
  const histories: { id: string; bytes: Buffer }[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await connection.workflowService.listWorkflowExecutions({
      namespace: testNamespace(),
      pageSize: 1000,
      ...(nextPageToken ? { nextPageToken } : {}),
    });
    for (const wf of page.executions ?? []) {
      const id = wf.execution?.workflowId ?? '';
      if (!ids(id)) continue;
      const history = await connection.workflowService.getWorkflowExecutionHistory({
        namespace: testNamespace(),
        execution: wf.execution ?? {},
        maximumPageSize: 10_000,
      });
      const bytes = Buffer.from(proto.temporal.api.history.v1.History.encode(history.history ?? {}).finish());
      histories.push({ id, bytes });
    }
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return histories;
};

describe('workflow histories hold no plaintext content', () => {
  it('deploys a release with a Secret, and no raw history contains it', async () => {
    const release = await api.call<{ id: string }>('POST', '/v1/releases', {
      name: 'enc',
      manifests: RELEASE,
    });
    expect(release.status).toBe(201);
    const started = await api.call<{ runId: string }>('POST', '/v1/deployments', {
      releaseId: release.body.id,
      placement: { sites: [site] },
      strategy: {
        waves: [{ percent: 100 }],
        maxParallel: 1,
        failureBudget: { count: 0 },
        rollbackWindowSeconds: 0,
      },
    });
    expect(started.status).toBe(202);
    const run = await api.waitForRun(started.body.runId, { timeoutMs: 90_000 });
    expect(run.status).toBe('succeeded');

    // It really was applied: the cluster holds the Secret.
    const c = kube.clusters[0] as KubeCluster;
    const kc = createKubeClient({ server: c.server, caData: c.caData, token: c.adminToken });
    const secret = await kc.request<{ data: { password: string } }>({
      method: 'GET',
      path: '/api/v1/namespaces/default/secrets/db-password',
      action: 'read',
    });
    expect(Buffer.from(secret.data.password, 'base64').toString()).toBe(SECRET_VALUE);

    const runId = started.body.runId;
    const histories = await rawHistories(
      rawConnection,
      (id) => id.includes(site) || id.startsWith(runId) || id === `release:${release.body.id}`,
    );
    // The run, its shard, the release's workflow, discovery and check-in of the site at least.
    expect(histories.length).toBeGreaterThanOrEqual(4);
    expect(histories.some((h) => h.id.startsWith('release:'))).toBe(true);
    const needles = [
      SECRET_VALUE,
      Buffer.from(SECRET_VALUE).toString('base64'),
      CONFIG_VALUE,
      'db-password',
      'app-settings',
      'stringData',
      c.adminToken,
    ];
    for (const h of histories) {
      for (const needle of needles) {
        expect({ history: h.id, found: h.bytes.includes(needle) ? needle : null }).toEqual({
          history: h.id,
          found: null,
        });
      }
    }

    // Decoded through the API's codec endpoint (admin only), the release's history shows the
    // objects: the search above would have found them in clear.
    const releaseHistory = await raw.workflow.getHandle(`release:${release.body.id}`).fetchHistory();
    const encrypted = (releaseHistory.events ?? [])
      .flatMap((e) => e.activityTaskCompletedEventAttributes?.result?.payloads ?? [])
      .map((p) => ({
        metadata: Object.fromEntries(
          Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
        ),
        data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
      }));
    expect(encrypted.length).toBe(1);
    expect(Buffer.from(encrypted[0]?.metadata.encoding ?? '', 'base64').toString()).toBe('binary/encrypted');
    const decoded = await api.call<{ payloads: { data: string }[] }>('POST', '/v1/codec/decode', {
      payloads: encrypted,
    });
    expect(decoded.status).toBe(200);
    const content = Buffer.from(decoded.body.payloads[0]?.data ?? '', 'base64').toString();
    expect(content).toContain('db-password');
    expect(content).toContain(SECRET_VALUE);
    expect(content).toContain(CONFIG_VALUE);
  }, 150_000);
});
