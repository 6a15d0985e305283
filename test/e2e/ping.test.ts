import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import type { Client } from '@temporalio/client';
import { buildApp, type App } from '../../api/app.ts';
import { createTokenStore } from '../../api/auth.ts';
import type { Db } from '../../db/database.ts';
import type { Run, PingResult } from '../../domain/runs.ts';
import type { Site } from '../../domain/sites.ts';
import {
  freshPostgres,
  startDroverProcess,
  stopProcess,
  temporalClient,
  uniq,
  waitUntil,
} from '../support/env.ts';

/**
 * The first real run through all three processes: the API (in this process, on a real
 * Temporal client), the control worker and a sub-manager, each a separate OS process.
 */
const site = `e2e-${uniq()}`;
let db: Db;
let databaseUrl: string;
let temporal: Client;
let app: App;
let token: string;
let controlWorker: ChildProcess;
let subManager: ChildProcess;

const startSubManager = () =>
  startDroverProcess('sub-manager/main.ts', `sub-manager-${site}`, {
    DROVER_SITE: site,
    DROVER_SITE_DESCRIPTION: 'e2e',
  });

const get = async <T>(url: string): Promise<T> => {
  const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  expect(res.statusCode).toBe(200);
  return res.json<T>();
};
const siteView = async () => (await get<{ items: Site[] }>('/v1/sites')).items.find((s) => s.name === site);
const ping = async (): Promise<string> => {
  const res = await app.inject({
    method: 'POST',
    url: `/v1/sites/${site}/ping`,
    headers: { authorization: `Bearer ${token}` },
  });
  expect(res.statusCode).toBe(202);
  return res.json<{ runId: string }>().runId;
};

beforeAll(async () => {
  ({ db, url: databaseUrl } = await freshPostgres());
  temporal = await temporalClient();
  // The test Temporal server answers idle polls every 5 s; 12 s without one means gone.
  app = await buildApp({ db, temporal, siteOfflineAfterMs: 12_000, logger: false });
  token = (await createTokenStore(db).ensureAdmin()) ?? '';
  controlWorker = startDroverProcess('workers/main.ts', `control-worker-${site}`, {
    DATABASE_URL: databaseUrl,
  });
  subManager = startSubManager();
}, 60_000);

afterAll(async () => {
  await Promise.all([stopProcess(subManager), stopProcess(controlWorker)]);
  await app.close();
  await temporal.connection.close();
  await db.close();
});

describe('ping through a sub-manager', () => {
  it('registers the site when its sub-manager starts, and shows it online', async () => {
    await waitUntil(
      'site check-in and first poll',
      async () => (await siteView())?.status === 'online',
      60_000,
    );
    const view = await siteView();
    expect(view).toMatchObject({ name: site, description: 'e2e', status: 'online' });
    expect(view?.pollers.map((p) => p.identity)).toContain(
      `sub-manager/${site}@${(await import('node:os')).hostname()}:${subManager.pid}`,
    );
  }, 70_000);

  it('runs control → site → control and reports the result', async () => {
    const runId = await ping();
    expect(runId).toMatch(new RegExp(`^ping:${site}:`));
    let run: Run | undefined;
    await waitUntil(
      'ping run to finish',
      async () => (run = await get<Run>(`/v1/runs/${runId}`)).status !== 'running',
      30_000,
    );
    expect(run).toMatchObject({ id: runId, kind: 'ping', status: 'succeeded', pending: [] });
    const result = run?.result as PingResult;
    expect(result.site).toBe(site);
    // Served by the sub-manager process, not by anything in this one.
    expect(result.worker).toMatch(new RegExp(`:${subManager.pid}$`));
    expect(result.worker).not.toMatch(new RegExp(`:${process.pid}$`));
  }, 40_000);

  it('shows a stopped sub-manager offline, and a ping waits for it instead of failing', async () => {
    await stopProcess(subManager);
    const stoppedAt = Date.now();
    await waitUntil('site to show offline', async () => (await siteView())?.status === 'offline', 60_000);
    const offlineAfter = Date.now() - stoppedAt;
    expect(offlineAfter).toBeLessThan(60_000);

    const runId = await ping();
    await new Promise((r) => setTimeout(r, 3_000));
    const waiting = await get<Run>(`/v1/runs/${runId}`);
    expect(waiting.status).toBe('running');
    expect(waiting.pending).toEqual([
      expect.objectContaining({ activity: 'pingSite', state: 'waiting', attempt: 1, lastFailure: null }),
    ]);

    subManager = startSubManager();
    let run: Run | undefined;
    await waitUntil(
      'waiting ping to complete',
      async () => (run = await get<Run>(`/v1/runs/${runId}`)).status !== 'running',
      60_000,
    );
    expect(run?.status).toBe('succeeded');
    expect((run?.result as PingResult).worker).toMatch(new RegExp(`:${subManager.pid}$`));
    expect((await siteView())?.status).toBe('online');
  }, 150_000);
});
