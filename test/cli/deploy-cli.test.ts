import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { buildApp, type App } from '../../api/app.ts';
import { createTokenStore } from '../../api/auth.ts';
import type { Db } from '../../db/database.ts';
import { startKubeEnv, type KubeCluster, type KubeEnv } from '../../sandbox/kube-env.ts';
import { freePort } from '../support/services.ts';
import {
  freshPostgres,
  repoRoot,
  startDroverProcess,
  stopProcess,
  temporalClient,
  uniq,
  waitUntil,
} from '../support/env.ts';

/**
 * The deploy commands of the CLI, on real parts: two API servers in one site, a release
 * uploaded with `drover releases create`, planned with `deploy --dry-run`, rolled out in two
 * waves with `deploy --watch` (paused between them, resumed with `runs resume`), found with
 * `runs ls` and rolled back with `runs rollback` + `runs watch`.
 */
const run = promisify(execFile);
const site = `dcli-${uniq()}`;
const dir = mkdtempSync(join(tmpdir(), 'drover-deploy-cli-'));
let kube: KubeEnv;
let db: Db;
let temporal: Client;
let app: App;
let env: Record<string, string>;
const processes: ChildProcess[] = [];
let releaseId: string;
let runId: string;

const RELEASE = `
apiVersion: v1
kind: Namespace
metadata:
  name: cli-shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: cli-shop
data:
  color: blue
`;

type Result = { code: number; stdout: string; stderr: string };

/** The CLI binary as a user runs it; `output()` shows what it printed so far. */
const start = (args: string[]) => {
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(repoRoot, 'cli/drover.ts'), ...args],
    // No inherited DROVER_* settings: only the API and token this suite names.
    {
      env: { PATH: process.env.PATH, HOME: dir, DROVER_HOME: dir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
  const done = new Promise<Result>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    }),
  );
  return { child, done, output: () => stdout };
};
const drover = (args: string[]) => start(args).done;

const colorOf = async (c: KubeCluster): Promise<string | undefined> => {
  try {
    const { stdout } = await run(kube.binary, [
      'kubectl',
      '--kubeconfig',
      c.kubeconfigPath,
      '--context',
      c.name,
      'get',
      'configmap',
      'settings',
      '-n',
      'cli-shop',
      '-o',
      'jsonpath={.data.color}',
    ]);
    return stdout;
  } catch {
    return undefined;
  }
};

beforeAll(async () => {
  kube = await startKubeEnv({ clusters: 2, baseDir: join(dir, 'kube'), namePrefix: 'dcli' });
  const pg = await freshPostgres();
  db = pg.db;
  temporal = await temporalClient();
  app = await buildApp({ db, temporal, siteOfflineAfterMs: 12_000, logger: false });
  const port = await freePort();
  await app.listen({ host: '127.0.0.1', port });
  env = {
    DROVER_API_URL: `http://127.0.0.1:${port}`,
    DROVER_TOKEN: (await createTokenStore(db).ensureAdmin()) ?? '',
  };
  processes.push(
    startDroverProcess('workers/main.ts', `deploy-cli-control-${site}`, { DATABASE_URL: pg.url }),
    // The environment's kubeconfig reaches both API servers with admin tokens.
    startDroverProcess('sub-manager/main.ts', `deploy-cli-${site}`, {
      DROVER_SITE: site,
      DROVER_KUBECONFIG: kube.kubeconfigPath,
      DROVER_SITE_STATE_DIR: join(dir, 'state'),
    }),
  );
  await waitUntil(
    'the site discovered',
    async () =>
      (await db.query(`SELECT 1 FROM clusters WHERE site = $1 AND status = 'ready'`, [site])).length === 2,
    90_000,
  );
}, 240_000);

afterAll(async () => {
  if (runId) {
    await temporal.workflow
      .getHandle(runId)
      .terminate('test done')
      .catch(() => undefined);
  }
  await Promise.all(processes.map((p) => stopProcess(p)));
  await app?.close();
  await temporal?.connection.close();
  await db?.close();
  await kube?.stop({ removeData: true });
});

describe('drover deploy through the CLI', () => {
  it('uploads a release and lists it', async () => {
    writeFileSync(join(dir, 'release.yaml'), RELEASE);
    writeFileSync(
      join(dir, 'overrides.json'),
      JSON.stringify([
        {
          selector: 'color=green',
          target: { kind: 'ConfigMap', name: 'settings' },
          mergePatch: { data: { color: 'green' } },
        },
      ]),
    );
    const clusters = await drover(['--json', 'clusters', 'ls', '--site', site]);
    const second = (JSON.parse(clusters.stdout) as { id: string; name: string }[]).find(
      (c) => c.name === 'dcli-2',
    );
    expect((await drover(['clusters', 'label', second?.id ?? '', 'color=green'])).code).toBe(0);
    const created = await drover([
      'releases',
      'create',
      '-f',
      join(dir, 'release.yaml'),
      '--name',
      'cli-shop',
      '--overrides',
      join(dir, 'overrides.json'),
    ]);
    expect(created.stderr).toMatch(/release cli-shop: 2 objects, 1 overrides \(created\)/);
    expect(created.code).toBe(0);
    releaseId = created.stdout.trim();
    expect(releaseId).toMatch(/^rel-[0-9a-f]{20}$/);
    const listed = await drover(['releases', 'ls']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID\s+NAME\s+OBJECTS\s+OVERRIDES\s+CREATED/);
    expect(listed.stdout).toMatch(new RegExp(`${releaseId}\\s+cli-shop\\s+2\\s+1\\s`));
  }, 30_000);

  it('prints the plan of a dry run, wave by wave', async () => {
    const dry = await drover([
      'deploy',
      '--release',
      releaseId,
      '--site',
      site,
      '--waves',
      '1,100%',
      '--dry-run',
    ]);
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/dry run: rel-\S+ to 2 clusters in 2 waves; nothing started/);
    expect(dry.stdout).toMatch(new RegExp(`wave 1: 1 clusters\\n\\s+dcli-1\\s+${site}\\s`));
    expect(dry.stdout).toMatch(new RegExp(`wave 2: 1 clusters\\n\\s+dcli-2\\s+${site}\\s`));
    const bad = await drover(['deploy', '--release', releaseId, '--site', site, '--waves', '1,half']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--waves: 'half' is neither a count/);
    const nowhere = await drover(['deploy', '--release', releaseId]);
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toMatch(/name the clusters/);
  }, 30_000);

  it('rolls out with --watch: a bar per wave, the pause between waves, exit 0 at the end', async () => {
    const watch = start([
      'deploy',
      '--release',
      releaseId,
      '--site',
      site,
      '--waves',
      '1,100%',
      '--max-parallel',
      '2',
      '--budget',
      '0',
      '--pause-between-waves',
      '--watch',
    ]);
    await waitUntil('the pause after wave 1', () => /waiting for a decision/.test(watch.output()), 90_000);
    runId = watch.output().split('\n')[0] ?? '';
    expect(runId).toMatch(/^deploy:[0-9a-f-]+$/);
    expect(watch.output()).toMatch(/wave 1 \[#{20}\] 1\/1 ok, 0 failed, 0 running/);
    expect(watch.output()).toMatch(/paused: wave 1 of 2 done; resume to start wave 2/);
    expect(watch.output()).toContain(`drover runs resume ${runId}`);

    const resumed = await drover(['runs', 'resume', runId]);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(new RegExp(`^${runId}: running — 1 succeeded, 0 failed`));

    const result = await watch.done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/wave 2 \[-{20}\] 0\/1 ok, 0 failed/);
    expect(result.stdout).toMatch(/wave 2 \[#{20}\] 1\/1 ok, 0 failed, 0 running/);
    expect(result.stdout).toMatch(/2 succeeded, 0 failed · failure budget 0\/0 · 2 at once/);
    expect(result.stdout.trimEnd().split('\n').at(-1)).toBe(`${runId}: succeeded (2 succeeded, 0 failed)`);
    // The override made it to the labelled cluster only.
    expect(await Promise.all(kube.clusters.map((c) => colorOf(c)))).toEqual(['blue', 'green']);
  }, 150_000);

  it('lists the run, refuses what its state forbids, rolls it back and watches that end', async () => {
    const listed = await drover(['runs', 'ls', '--kind', 'deploy', '--status', 'running']);
    expect(listed.code).toBe(0);
    // Visibility may lag a little behind the run.
    if (!listed.stdout.includes(runId)) {
      await waitUntil(
        'the run in runs ls',
        async () => (await drover(['runs', 'ls', '--kind', 'deploy'])).stdout.includes(runId),
        20_000,
      );
    }
    const ls = await drover(['runs', 'ls', '--kind', 'deploy']);
    expect(ls.stdout).toMatch(/^ID\s+KIND\s+STATUS\s+STARTED\s+CLOSED/);
    // Succeeded, it stays open (running) for its rollback window.
    expect(ls.stdout).toMatch(new RegExp(`${runId}\\s+deploy\\s+running\\s`));

    const pause = await drover(['runs', 'pause', runId]);
    expect(pause.code).toBe(1);
    expect(pause.stderr).toMatch(/drover: cannot pause a run that is succeeded/);

    const rollback = await drover(['runs', 'rollback', runId]);
    expect(rollback.stderr).toBe('');
    expect(rollback.code).toBe(0);
    expect(rollback.stdout).toMatch(new RegExp(`^${runId}: (rolling-back|rollback started)`));

    const watched = await drover(['runs', 'watch', runId]);
    expect(watched.stderr).toBe('');
    expect(watched.code).toBe(0);
    expect(watched.stdout).toMatch(/wave 1 \[#{20}\] 0\/1 ok, 0 failed, 0 running, 1 rolled back/);
    expect(watched.stdout).toMatch(/wave 2 \[#{20}\] 0\/1 ok, 0 failed, 0 running, 1 rolled back/);
    expect(watched.stdout.trimEnd().split('\n').at(-1)).toBe(
      `${runId}: rolled-back (0 succeeded, 0 failed, 2 rolled back)`,
    );
    expect(await Promise.all(kube.clusters.map((c) => colorOf(c)))).toEqual([undefined, undefined]);
    // Closed now: listed as succeeded, and watching it again ends at once.
    await waitUntil(
      'the run listed as closed',
      async () =>
        new RegExp(`${runId}\\s+deploy\\s+succeeded`).test(
          (await drover(['runs', 'ls', '--kind', 'deploy'])).stdout,
        ),
      20_000,
    );
    const again = await drover(['runs', 'watch', runId]);
    expect(again.code).toBe(0);
    const missing = await drover(['runs', 'watch', 'deploy:no-such-run']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/run 'deploy:no-such-run' not found/);
  }, 150_000);
});
