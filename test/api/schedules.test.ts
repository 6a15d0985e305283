/**
 * Schedules through the API on a real Temporal server and Postgres, with the control worker in
 * this process: bad input is refused naming the field; a schedule fires on its interval and
 * its runs are listed under it; a paused one does not fire until triggered or unpaused; PATCH,
 * backfill and DELETE do what they say.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createSiteStore } from '../../db/sites.ts';
import type { Run } from '../../domain/runs.ts';
import type { MaintenanceReport } from '../../workflows/maintenance.ts';
import { startApi, startWorkers, type ApiHarness, type InProcessWorkers } from '../support/drover.ts';
import { uniq, waitUntil } from '../support/env.ts';

type RunSummary = Pick<Run, 'id' | 'kind' | 'status' | 'startedAt' | 'closedAt'>;
type ScheduleView = {
  id: string;
  kind: string;
  description: string;
  spec: Record<string, unknown>;
  policy: Record<string, unknown>;
  action: Record<string, unknown>;
  paused: boolean;
  note: string | null;
  nextRunTimes: string[];
  recentRuns: { runId: string; scheduledAt: string; startedAt: string }[];
  counts: { started: number; missedCatchupWindow: number; skippedOverlap: number };
  runs?: RunSummary[];
};
type ErrorReply = { error: { code: string; message: string; field?: string } };

const tag = uniq();
const site = `sched-${tag}`;
let api: ApiHarness;
let workers: InProcessWorkers | undefined;
const created: string[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const versionsOnly = { kind: 'maintenance', maintenance: { versions: {} } };
const create = async (body: Record<string, unknown>) => {
  const res = await api.call<ScheduleView & ErrorReply>('POST', '/v1/schedules', body);
  if (res.status === 201) created.push(res.body.id);
  return res;
};
const runsOf = async (id: string) =>
  (await api.call<{ items: RunSummary[] }>('GET', `/v1/runs?schedule=${id}&limit=100`)).body.items;

beforeAll(async () => {
  api = await startApi();
  await createSiteStore(api.db).checkIn(site, 'schedules test site', 'test');
  workers = await startWorkers(api, []);
}, 60_000);

afterAll(async () => {
  for (const id of created) {
    await api.temporal.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
  }
  await workers?.stop();
  await api?.close();
}, 60_000);

describe('bad input', () => {
  const base = (over: Record<string, unknown>) => ({
    id: `bad-${tag}`,
    spec: { intervals: [{ every: '1h' }] },
    action: versionsOnly,
    ...over,
  });
  it.each([
    ['an id that is no DNS label', { id: 'Nightly_Drift' }, 'body.id'],
    ['no timing at all', { spec: {} }, 'body.spec'],
    ['a cron of three fields', { spec: { cron: ['0 3 *'] } }, 'body.spec.cron.0'],
    [
      'a time zone that does not exist',
      { spec: { cron: ['0 3 * * *'], timezone: 'Mars/Olympus' } },
      'body.spec.timezone',
    ],
    ['an interval below a second', { spec: { intervals: [{ every: '0s' }] } }, 'body.spec.intervals.0.every'],
    ['an unknown overlap policy', { policy: { overlap: 'sometimes' } }, 'body.policy.overlap'],
    ['an unknown kind', { action: { kind: 'reboot' } }, 'body.action.kind'],
    [
      'a maintenance run with no task',
      { action: { kind: 'maintenance', maintenance: {} } },
      'body.action.maintenance',
    ],
    [
      'a scheduled dry run',
      {
        action: {
          kind: 'deploy',
          deployment: { releaseId: 'rel-0123456789abcdef0123', placement: { sites: [site] }, dryRun: true },
        },
      },
      'body.action.deployment',
    ],
    [
      'a malformed drift selector',
      { action: { kind: 'maintenance', maintenance: { drift: { placement: { selector: 'env in (a' } } } } },
      'body.action.maintenance.drift.placement.selector',
    ],
  ])('%s: 400 naming the field', async (_what, over, field) => {
    const res = await create(base(over));
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe(field);
  });

  it('names what does not exist with a 404: the release of a rollout, the site of a discovery', async () => {
    const release = await create(
      base({
        action: {
          kind: 'deploy',
          deployment: { releaseId: 'rel-0123456789abcdef0123', placement: { sites: [site] } },
        },
      }),
    );
    expect(release.status).toBe(404);
    expect(release.body.error.field).toBe('body.action.deployment.releaseId');
    const discovery = await create(base({ action: { kind: 'discovery', site: 'no-such-site' } }));
    expect(discovery.status).toBe(404);
    expect(discovery.body.error.field).toBe('body.action.site');
    expect((await api.call<ErrorReply>('GET', `/v1/schedules/none-${tag}`)).status).toBe(404);
    expect((await api.call<ErrorReply>('POST', `/v1/schedules/none-${tag}/trigger`)).status).toBe(404);
  });

  it('refuses a cron Temporal cannot read with a 400 and a duplicate id with a 409', async () => {
    const cron = await create(base({ id: `cron-${tag}`, spec: { cron: ['61 25 * * *'] } }));
    expect(cron.status).toBe(400);
    expect(cron.body.error.field).toBe('body.spec');
    const first = await create(base({ id: `dup-${tag}` }));
    expect(first.status).toBe(201);
    const again = await create(base({ id: `dup-${tag}` }));
    expect(again.status).toBe(409);
    expect(again.body.error.field).toBe('body.id');
  });
});

describe('a schedule on an interval', () => {
  const id = `every-${tag}`;

  it('fires, and the runs it starts are listed under it and finish with their report', async () => {
    const res = await create({
      id,
      description: 'version report every two seconds',
      spec: { intervals: [{ every: '2s' }] },
      policy: { overlap: 'skip', catchupWindow: '1m' },
      action: versionsOnly,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id,
      kind: 'maintenance',
      description: 'version report every two seconds',
      spec: { intervals: [{ every: '2s' }] },
      policy: { overlap: 'skip', catchupWindow: '1m', pauseOnFailure: false },
      action: versionsOnly,
      paused: false,
    });
    expect(res.body.nextRunTimes.length).toBeGreaterThan(0);

    let runs: RunSummary[] = [];
    await waitUntil(
      'two finished runs under the schedule',
      async () => (runs = await runsOf(id)).filter((r) => r.status === 'succeeded').length >= 2,
      30_000,
    );
    for (const r of runs)
      expect(r.id).toMatch(new RegExp(`^maintenance:${id}\\.scheduled-\\d{4}-\\d\\d-\\d\\dT`));
    const run = await api.call<Run>(
      'GET',
      `/v1/runs/${runs.find((r) => r.status === 'succeeded')?.id ?? ''}`,
    );
    expect(run.body.kind).toBe('maintenance');
    expect(run.body.result).toMatchObject({
      kind: 'maintenance',
      stage: 'done',
      scheduleId: id,
      versions: { checked: 0 },
    });
    expect((run.body.result as MaintenanceReport).drift).toBeUndefined();

    const view = await api.call<ScheduleView>('GET', `/v1/schedules/${id}`);
    expect(view.body.counts.started).toBeGreaterThanOrEqual(2);
    const listed = new Set(view.body.runs?.map((r) => r.id));
    for (const recent of view.body.recentRuns) expect(listed.has(recent.runId)).toBe(true);
    // Runs of other schedules and of no schedule are not listed under it.
    expect((await runsOf(`dup-${tag}`)).length).toBe(0);
    await waitUntil(
      'the schedule in the listing',
      async () =>
        (await api.call<{ items: { id: string; kind: string }[] }>('GET', '/v1/schedules')).body.items.some(
          (s) => s.id === id && s.kind === 'maintenance',
        ),
      15_000,
    );
  }, 60_000);

  it('changes with PATCH (the stored definition is what comes back) and is gone after DELETE', async () => {
    const patched = await api.call<ScheduleView>('PATCH', `/v1/schedules/${id}`, {
      description: 'hourly now',
      spec: { cron: ['0 * * * *'], timezone: 'Europe/Berlin' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      description: 'hourly now',
      spec: { cron: ['0 * * * *'], timezone: 'Europe/Berlin' },
      action: versionsOnly,
    });
    const next = patched.body.nextRunTimes.map((t) => new Date(t));
    expect(next.length).toBeGreaterThan(0);
    for (const t of next) expect(t.getUTCMinutes()).toBe(0);
    const bad = await api.call<ErrorReply>('PATCH', `/v1/schedules/${id}`, {
      spec: { intervals: [{ every: 'soon' }] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('body.spec.intervals.0.every');

    expect((await api.call('DELETE', `/v1/schedules/${id}`)).status).toBe(204);
    expect((await api.call<ErrorReply>('GET', `/v1/schedules/${id}`)).status).toBe(404);
    expect((await api.call<ErrorReply>('DELETE', `/v1/schedules/${id}`)).status).toBe(404);
    // Its runs stay listed.
    expect((await runsOf(id)).length).toBeGreaterThanOrEqual(2);
  }, 30_000);
});

describe('a paused schedule', () => {
  const id = `paused-${tag}`;

  it('does not fire; a trigger starts one run; unpaused it fires again', async () => {
    const res = await create({
      id,
      spec: { intervals: [{ every: '1s' }] },
      action: versionsOnly,
      paused: true,
    });
    expect(res.status).toBe(201);
    expect(res.body.paused).toBe(true);
    await sleep(4_000);
    expect((await api.call<ScheduleView>('GET', `/v1/schedules/${id}`)).body.counts.started).toBe(0);
    expect(await runsOf(id)).toEqual([]);

    type Triggered = { runId: string | null; links: { runs: string } };
    const triggered = await api.call<Triggered>('POST', `/v1/schedules/${id}/trigger`);
    expect(triggered.status).toBe(202);
    expect(triggered.body.links.runs).toBe(`/v1/runs?schedule=${id}`);
    expect(triggered.body.runId).toMatch(new RegExp(`^maintenance:${id}\\.scheduled-`));
    // Right after it: Temporal names scheduled runs by the second, yet this is a run of its own.
    const again = await api.call<Triggered>('POST', `/v1/schedules/${id}/trigger`);
    expect(again.status).toBe(202);
    expect(again.body.runId).toMatch(new RegExp(`^maintenance:${id}\\.scheduled-`));
    expect(again.body.runId).not.toBe(triggered.body.runId);
    await waitUntil('the triggered runs', async () => (await runsOf(id)).length === 2, 15_000);
    await sleep(3_000);
    expect((await runsOf(id)).map((r) => r.id).sort()).toEqual(
      [triggered.body.runId, again.body.runId].sort(),
    );

    const unpaused = await api.call<ScheduleView>('POST', `/v1/schedules/${id}/unpause`, { note: 'go' });
    expect(unpaused.body).toMatchObject({ paused: false, note: 'go' });
    await waitUntil('runs after unpausing', async () => (await runsOf(id)).length >= 3, 20_000);
    const paused = await api.call<ScheduleView>('POST', `/v1/schedules/${id}/pause`);
    expect(paused.body.paused).toBe(true);
    expect(paused.body.note).toMatch(/^paused by /);
  }, 60_000);
});

describe('backfill', () => {
  it('runs the times a schedule would have fired in a past range, each under its own time', async () => {
    const id = `backfill-${tag}`;
    expect((await create({ id, spec: { cron: ['0 * * * *'] }, action: versionsOnly })).status).toBe(201);
    const hour = 3_600_000;
    const end = new Date(Math.floor(Date.now() / hour) * hour - hour + 1_000);
    const start = new Date(end.getTime() - 2 * hour - 2_000);
    const bad = await api.call<ErrorReply>('POST', `/v1/schedules/${id}/backfill`, {
      start: end.toISOString(),
      end: start.toISOString(),
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('body.end');
    const res = await api.call('POST', `/v1/schedules/${id}/backfill`, {
      start: start.toISOString(),
      end: end.toISOString(),
      overlap: 'allow-all',
    });
    expect(res.status).toBe(202);
    let runs: RunSummary[] = [];
    await waitUntil('three backfilled runs', async () => (runs = await runsOf(id)).length === 3, 20_000);
    const times = runs.map((r) => r.id.slice(r.id.indexOf('.scheduled-') + '.scheduled-'.length)).sort();
    expect(times).toEqual(
      [2, 1, 0].map((h) => new Date(end.getTime() - 1_000 - h * hour).toISOString().replace('.000Z', 'Z')),
    );
  }, 40_000);
});

describe('a discovery schedule', () => {
  it('starts the site discovery under its own id; it waits for the site like any discovery', async () => {
    const id = `discover-${tag}`;
    const res = await create({
      id,
      spec: { cron: ['@daily'] },
      action: { kind: 'discovery', site },
    });
    expect(res.status).toBe(201);
    expect((await api.call('POST', `/v1/schedules/${id}/trigger`)).status).toBe(202);
    let runs: RunSummary[] = [];
    await waitUntil('the discovery run', async () => (runs = await runsOf(id)).length === 1, 15_000);
    expect(runs[0]).toMatchObject({ kind: 'discovery', status: 'running' });
    await api.temporal.workflow.getHandle(runs[0]?.id ?? '').terminate('test over');
  }, 30_000);
});

describe('a deploy schedule', () => {
  it('plans when it fires: a placement that selects nothing then fails that run, saying why', async () => {
    const release = await api.call<{ id: string }>('POST', '/v1/releases', {
      name: 'nothing',
      manifests: 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x, namespace: default }\n',
    });
    expect(release.status).toBe(201);
    const id = `deploy-${tag}`;
    const res = await create({
      id,
      spec: { cron: ['@yearly'] },
      action: {
        kind: 'deploy',
        deployment: { releaseId: release.body.id, placement: { selector: 'nobody=here' } },
      },
    });
    // Nothing matches now, and that is fine: the placement is resolved when the schedule fires.
    expect(res.status).toBe(201);
    expect((await api.call('POST', `/v1/schedules/${id}/trigger`)).status).toBe(202);
    let runs: RunSummary[] = [];
    await waitUntil(
      'the failed rollout',
      async () => (runs = await runsOf(id)).some((r) => r.status === 'failed'),
      20_000,
    );
    expect(runs[0]?.id).toMatch(new RegExp(`^deploy:${id}\\.scheduled-`));
    const run = await api.call<Run>('GET', `/v1/runs/${runs[0]?.id ?? ''}`);
    expect(run.body).toMatchObject({ kind: 'deploy', status: 'failed' });
    expect(run.body.error).toContain('the placement selects no cluster');
  }, 40_000);
});

it('documents the schedule routes in the OpenAPI document', async () => {
  const doc = (await api.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
    paths: Record<string, unknown>;
  }>();
  expect(Object.keys(doc.paths)).toEqual(
    expect.arrayContaining([
      '/v1/schedules',
      '/v1/schedules/{id}',
      '/v1/schedules/{id}/trigger',
      '/v1/schedules/{id}/backfill',
      '/v1/maintenance',
      '/v1/drift',
    ]),
  );
});
