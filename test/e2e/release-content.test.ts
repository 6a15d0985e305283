/**
 * A sub-manager reads a release's content from the release's workflow, which the control
 * worker answers for. Shown on the real Temporal server, Postgres and a real API server: a
 * cluster's deploy that starts while no control worker runs (one restarting mid-rollout) waits
 * past Temporal's 30 s query timeout and deploys once a control worker is back, instead of
 * failing the cluster; a release whose workflow does not exist fails at once.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSiteActivities } from '../../activities/site/index.ts';
import { releaseWorkflowId } from '../../domain/releases.ts';
import { CONTROL_TASK_QUEUE } from '../../domain/task-queues.ts';
import { createKubeClient } from '../../kube/client.ts';
import { startKubeEnv, type KubeCluster, type KubeEnv } from '../../sandbox/kube-env.ts';
import {
  siteKubeconfig,
  startApi,
  startWorkers,
  type ApiHarness,
  type InProcessWorkers,
} from '../support/drover.ts';
import { uniq } from '../support/env.ts';

const site = `content-${uniq()}`;
const dir = mkdtempSync(join(tmpdir(), 'drover-release-content-'));
const RELEASE = `
apiVersion: v1
kind: Namespace
metadata: { name: content-test }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: content-test }
data: { color: blue }
`;

let api: ApiHarness;
let kube: KubeEnv;
let workers: InProcessWorkers | undefined;

beforeAll(async () => {
  kube = await startKubeEnv({ clusters: 1, baseDir: join(dir, 'kube'), namePrefix: 'content' });
  const c = kube.clusters[0] as KubeCluster;
  writeFileSync(
    join(dir, 'site.yaml'),
    siteKubeconfig([{ context: 'c1', server: c.server, caData: c.caData, token: c.adminToken }]),
  );
  api = await startApi();
}, 120_000);

afterAll(async () => {
  await workers?.stop();
  await api?.close();
  await kube?.stop({ removeData: true });
}, 60_000);

const siteActivities = () =>
  createSiteActivities({
    site,
    identity: 'release-content-test',
    version: 'test',
    kubeconfigPath: join(dir, 'site.yaml'),
    stateDir: join(dir, 'state'),
    temporal: api.temporal,
  });

const target = { id: randomUUID(), name: 'c1', site, context: 'c1', labels: {} };

describe('release content while the control worker is away', () => {
  it('waits for the control worker instead of failing the cluster, then deploys', async () => {
    const release = await api.call<{ id: string }>('POST', '/v1/releases', {
      name: 'content',
      manifests: RELEASE,
    });
    expect(release.status).toBe(201);
    // The run has made sure the release is served; then the control worker went down.
    await api.temporal.workflow.start('releaseWorkflow', {
      taskQueue: CONTROL_TASK_QUEUE,
      workflowId: releaseWorkflowId(release.body.id),
      args: [{ releaseId: release.body.id }],
    });

    const startedAt = Date.now();
    const deploying = siteActivities().deployRelease({
      target,
      releaseId: release.body.id,
      runId: `deploy:content-${uniq()}`,
      readiness: false,
    });
    let settled = false;
    void deploying.then(
      () => (settled = true),
      () => (settled = true),
    );
    // Longer than one query timeout: the first ask has failed by now and the deploy still waits.
    await new Promise((resolve) => setTimeout(resolve, 35_000));
    expect(settled).toBe(false);

    workers = await startWorkers(api, []);
    const result = await deploying;
    expect(Date.now() - startedAt).toBeGreaterThan(35_000);
    expect(result.applied).toBe(2);
    const c = kube.clusters[0] as KubeCluster;
    const client = createKubeClient({ server: c.server, caData: c.caData, token: c.adminToken });
    const cm = await client.request<{ data: { color: string } }>({
      method: 'GET',
      path: '/api/v1/namespaces/content-test/configmaps/settings',
      action: 'read',
    });
    expect(cm.data.color).toBe('blue');
  }, 120_000);

  it('fails at once for a release no workflow serves', async () => {
    const startedAt = Date.now();
    await expect(
      siteActivities().deployRelease({
        target,
        releaseId: `rel-${'0'.repeat(20)}`,
        runId: `deploy:content-${uniq()}`,
        readiness: false,
      }),
    ).rejects.toThrow(/not found/i);
    expect(Date.now() - startedAt).toBeLessThan(10_000);
  }, 30_000);
});
