import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from '../../api/routes/clusters.ts';
import type { DeployProgress } from '../../domain/deployments.ts';
import type { Run } from '../../domain/runs.ts';
import { startKubeEnv, type KubeCluster, type KubeEnv } from '../../sandbox/kube-env.ts';
import {
  deployActivityCalls,
  deployActivityCompletions,
  siteKubeconfig,
  startApi,
  type ApiHarness,
} from '../support/drover.ts';
import { startDroverProcess, stopProcess, uniq, waitUntil } from '../support/env.ts';

/**
 * A site that is down when a rollout reaches it: its targets show `waiting` (since when), the
 * other site's finish, and past `siteDeadlineSeconds` the waiting ones fail against the budget
 * with a message naming the site, and the run pauses. When the site is back, a resume applies
 * them — once each. (test/e2e/netns-sites.test.ts does the same with real network cuts.)
 */
const siteA = `sd-a-${uniq()}`;
const siteB = `sd-b-${uniq()}`;
const dir = mkdtempSync(join(tmpdir(), 'drover-site-deadline-'));
const DEADLINE_S = 15;
let kube: KubeEnv;
let api: ApiHarness;
let control: ChildProcess;
let subManagerB: ChildProcess | undefined;
const processes: ChildProcess[] = [];

type RunView = Run & { progress: DeployProgress };
const view = async (id: string) => (await api.call<RunView>('GET', `/v1/runs/${id}`)).body;

const startSiteB = () => {
  subManagerB = startDroverProcess('sub-manager/main.ts', `deadline-${siteB}`, {
    DROVER_SITE: siteB,
    DROVER_KUBECONFIG: join(dir, 'b.yaml'),
    DROVER_SITE_STATE_DIR: join(dir, 'state-b'),
  });
};

beforeAll(async () => {
  kube = await startKubeEnv({ clusters: 2, baseDir: join(dir, 'kube'), namePrefix: 'sd' });
  const [c1, c2] = kube.clusters as [KubeCluster, KubeCluster];
  writeFileSync(
    join(dir, 'a.yaml'),
    siteKubeconfig([{ context: 'a1', server: c1.server, caData: c1.caData, token: c1.adminToken }]),
  );
  writeFileSync(
    join(dir, 'b.yaml'),
    siteKubeconfig([{ context: 'b1', server: c2.server, caData: c2.caData, token: c2.adminToken }]),
  );
  api = await startApi();
  control = startDroverProcess('workers/main.ts', `deadline-control-${siteA}`, {
    DATABASE_URL: api.databaseUrl,
  });
  processes.push(
    control,
    startDroverProcess('sub-manager/main.ts', `deadline-${siteA}`, {
      DROVER_SITE: siteA,
      DROVER_KUBECONFIG: join(dir, 'a.yaml'),
      DROVER_SITE_STATE_DIR: join(dir, 'state-a'),
    }),
  );
  startSiteB();
  const discovered = async (site: string) =>
    (await api.call<{ items: Cluster[] }>('GET', `/v1/clusters?site=${site}`)).body.items.length === 1;
  await waitUntil(
    'both sites discovered',
    async () => (await discovered(siteA)) && discovered(siteB),
    90_000,
  );
  // Site B goes dark: its clusters stay in the inventory, nobody polls its queue.
  if (subManagerB) await stopProcess(subManagerB);
}, 180_000);

afterAll(async () => {
  await Promise.all([...processes, ...(subManagerB ? [subManagerB] : [])].map((p) => stopProcess(p)));
  await api?.close();
  await kube?.stop({ removeData: true });
});

describe('a site that is offline during a rollout', () => {
  let runId: string;

  it('rejects a deadline that is not a whole number of seconds, naming the field', async () => {
    const res = await api.call<{ error: { field: string } }>('POST', '/v1/deployments', {
      releaseId: 'rel-00000000000000000000',
      placement: { sites: [siteA] },
      strategy: { siteDeadlineSeconds: 0 },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('body.strategy.siteDeadlineSeconds');
  });

  it("shows the offline site's targets waiting, since when, while the other site's finish", async () => {
    const release = await api.call<{ id: string }>('POST', '/v1/releases', {
      name: 'deadline',
      manifests:
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deadline\n  namespace: default\ndata:\n  k: v',
    });
    expect(release.status).toBe(201);
    const started = await api.call<{ runId: string }>('POST', '/v1/deployments', {
      releaseId: release.body.id,
      placement: { sites: [siteA, siteB] },
      strategy: {
        waves: [{ percent: 100 }],
        maxParallel: 5,
        failureBudget: { count: 0 },
        siteDeadlineSeconds: DEADLINE_S,
      },
    });
    expect(started.status).toBe(202);
    runId = started.body.runId;
    const startedAt = Date.now();
    let run: RunView | undefined;
    await waitUntil(
      'a1 done and b1 waiting',
      async () => {
        run = await view(runId);
        const states = new Map(run.progress.targets.map((t) => [t.name, t.state]));
        return states.get('a1') === 'succeeded' && states.get('b1') === 'waiting';
      },
      30_000,
    );
    const b1 = run?.progress.targets.find((t) => t.name === 'b1');
    expect(b1?.site).toBe(siteB);
    const since = Date.parse(b1?.waitingSince ?? '');
    expect(since).toBeGreaterThanOrEqual(startedAt - 2_000);
    expect(since).toBeLessThanOrEqual(Date.now());
    expect(run?.progress.counts).toMatchObject({ succeeded: 1, waiting: 1, running: 0 });
    expect(run?.pending).toContainEqual(
      expect.objectContaining({ activity: 'deployRelease', state: 'waiting', target: 'b1' }),
    );
    expect(run?.progress.phase).toBe('running');
  }, 60_000);

  it('fails them past the deadline, naming the site, and pauses at the budget', async () => {
    let p: DeployProgress | undefined;
    await waitUntil(
      'the run to pause',
      async () => (p = (await view(runId)).progress).phase === 'paused',
      (DEADLINE_S + 30) * 1000,
    );
    expect(p?.pausedReason).toMatch(/failure budget exceeded: 1 failed, 0 allowed/);
    const b1 = p?.targets.find((t) => t.name === 'b1');
    expect(b1).toMatchObject({ state: 'failed', site: siteB });
    expect(b1?.lastError).toBe(
      `site ${siteB} unreachable for ${DEADLINE_S} s: no sub-manager picked the target up`,
    );
    expect(p?.failureBudget).toEqual({ allowed: 0, used: 1 });
  }, 60_000);

  it('applies them once the site is back and the run is resumed, each exactly once', async () => {
    startSiteB();
    // Back means its sub-manager polls again (a cold start on a loaded machine takes a while)
    // and answers over its link: the resumed target must be taken within the deadline.
    await waitUntil(
      'site B online',
      async () => (await api.call<{ status: string }>('GET', `/v1/sites/${siteB}`)).body.status === 'online',
      120_000,
    );
    const ping = await api.call<{ runId: string }>('POST', `/v1/sites/${siteB}/ping`);
    expect(ping.status).toBe(202);
    expect((await api.waitForRun(ping.body.runId, { timeoutMs: 60_000 })).status).toBe('succeeded');
    const resumed = await api.call('POST', `/v1/runs/${runId}/resume`, { failed: 'retry' });
    expect(resumed.status).toBe(200);
    await waitUntil(
      'the run to succeed',
      async () => (await view(runId)).progress.phase === 'succeeded',
      90_000,
    );
    const p = (await view(runId)).progress;
    expect(p.counts).toMatchObject({ succeeded: 2, failed: 0, waiting: 0 });
    // b1 was scheduled twice (the timed-out wait, then the resume) but applied once.
    const scheduled = await deployActivityCalls(api.temporal, runId);
    expect(Object.fromEntries(scheduled)).toEqual({ a1: 1, b1: 2 });
    const completed = await deployActivityCompletions(api.temporal, runId);
    expect(Object.fromEntries(completed)).toEqual({ a1: 1, b1: 1 });
  }, 240_000);
});
