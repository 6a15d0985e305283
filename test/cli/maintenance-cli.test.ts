/**
 * `drover schedules …`, `drover maintenance run` and `drover drift ls` as a user runs them, on a
 * listening API with a real Temporal server and Postgres (the control worker in this process).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApi, startWorkers, type ApiHarness, type InProcessWorkers } from '../support/drover.ts';
import { repoRoot, uniq, waitUntil } from '../support/env.ts';
import { freePort } from '../support/services.ts';

const tag = uniq();
const id = `cli-${tag}`;
const dir = mkdtempSync(join(tmpdir(), 'drover-maintenance-cli-'));
let api: ApiHarness;
let env: Record<string, string>;
let workers: InProcessWorkers | undefined;

type Result = { code: number; stdout: string; stderr: string };
const drover = (args: string[]): Promise<Result> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', join(repoRoot, 'cli/drover.ts'), ...args],
      { env: { PATH: process.env.PATH, HOME: dir, DROVER_HOME: dir, ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

beforeAll(async () => {
  api = await startApi();
  const port = await freePort();
  await api.app.listen({ host: '127.0.0.1', port });
  env = { DROVER_API_URL: `http://127.0.0.1:${port}`, DROVER_TOKEN: api.token };
  workers = await startWorkers(api, []);
}, 60_000);

afterAll(async () => {
  await api.temporal.schedule
    .getHandle(id)
    .delete()
    .catch(() => undefined);
  await workers?.stop();
  await api?.close();
}, 60_000);

describe('drover schedules', () => {
  it('creates a schedule, and names the bad field when a flag is wrong', async () => {
    const bad = await drover([
      'schedules',
      'create',
      id,
      '--kind',
      'maintenance',
      '--versions',
      '--cron',
      '0 3 *',
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('[body.spec.cron.0]');
    const noTask = await drover(['schedules', 'create', id, '--kind', 'maintenance', '--every', '1h']);
    expect(noTask.code).toBe(1);
    expect(noTask.stderr).toContain('name a task');

    const created = await drover([
      'schedules',
      'create',
      id,
      '--kind',
      'maintenance',
      '--versions',
      '--cron',
      '0 3 * * *',
      '--tz',
      'Europe/Berlin',
      '--description',
      'nightly version report',
    ]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(
      new RegExp(`^created ${id} \\(maintenance, cron 0 3 \\* \\* \\* Europe/Berlin\\); next 20`),
    );
    await waitUntil(
      'the schedule listed',
      async () => (await drover(['schedules', 'ls'])).stdout.includes(id),
      15_000,
    );
    expect((await drover(['schedules', 'ls'])).stdout).toMatch(new RegExp(`${id}\\s+maintenance\\s+active`));
  }, 60_000);

  it('pauses, triggers a run that it prints and follows, shows it, unpauses and removes', async () => {
    const paused = await drover(['schedules', 'pause', id, '--note', 'change freeze']);
    expect(paused.stdout.trim()).toBe(`${id}: paused (change freeze)`);

    const triggered = await drover(['schedules', 'trigger', id]);
    expect(triggered.code).toBe(0);
    const runId = triggered.stdout.trim();
    expect(runId).toMatch(new RegExp(`^maintenance:${id}\\.scheduled-`));
    const watched = await drover(['schedules', 'trigger', id, '--watch']);
    expect(watched.code).toBe(0);
    expect(watched.stdout).toContain(': succeeded');

    await waitUntil(
      'both runs in show',
      async () =>
        (await drover(['schedules', 'show', id])).stdout.split('\n').filter((l) => l.startsWith('run '))
          .length === 2,
      15_000,
    );
    const shown = (await drover(['schedules', 'show', id])).stdout;
    expect(shown).toContain('state     paused (change freeze)');
    expect(shown).toContain(`run       ${runId}  succeeded`);
    expect(shown).toContain('started   2 run(s)');

    expect((await drover(['schedules', 'unpause', id])).stdout.trim()).toMatch(new RegExp(`^${id}: active`));
    expect((await drover(['schedules', 'rm', id])).stdout.trim()).toBe(`deleted ${id}`);
    const gone = await drover(['schedules', 'show', id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`schedule '${id}' not found`);
  }, 90_000);
});

describe('drover maintenance run and drift ls', () => {
  it('runs a maintenance task now and follows it; lists drift checks', async () => {
    const none = await drover(['maintenance', 'run']);
    expect(none.code).toBe(1);
    const ran = await drover(['maintenance', 'run', '--versions', '--watch']);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(/^maintenance:.*: succeeded$/m);
    const drift = await drover(['drift', 'ls', '--status', 'drifted']);
    expect(drift.code).toBe(0);
    expect(drift.stdout.trim()).toBe('no drift checks match');
    const bad = await drover(['drift', 'ls', '--status', 'sideways']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('[querystring.status]');
  }, 60_000);
});
