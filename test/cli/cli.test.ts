import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { buildApp, type App } from '../../api/app.ts';
import { createTokenStore } from '../../api/auth.ts';
import type { Db } from '../../db/database.ts';
import { freePort } from '../support/services.ts';
import { siteNamespace } from '../../domain/site-link.ts';
import {
  freshPostgres,
  repoRoot,
  startDroverProcess,
  stopProcess,
  temporalClient,
  testNamespace,
  uniq,
  waitUntil,
} from '../support/env.ts';

const site = `cli-${uniq()}`;
const offlineSite = `cli-off-${uniq()}`;
let db: Db;
let temporal: Client;
let app: App;
let apiUrl: string;
let token: string;
let processes: ChildProcess[] = [];
const configDir = mkdtempSync(join(tmpdir(), 'drover-cli-'));

type Result = { code: number; stdout: string; stderr: string };
const drover = (args: string[], env: Record<string, string> = {}): Promise<Result> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', join(repoRoot, 'cli/drover.ts'), ...args],
      {
        // No inherited DROVER_* settings: each test says exactly where the API and token come from.
        env: { PATH: process.env.PATH, HOME: configDir, DROVER_HOME: configDir, ...env },
        timeout: 60_000,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

beforeAll(async () => {
  const pgdb = await freshPostgres();
  db = pgdb.db;
  temporal = await temporalClient();
  app = await buildApp({ db, temporal, siteOfflineAfterMs: 12_000, logger: false });
  const port = await freePort();
  await app.listen({ host: '127.0.0.1', port });
  apiUrl = `http://127.0.0.1:${port}`;
  token = (await createTokenStore(db).ensureAdmin()) ?? '';
  await db.query(`INSERT INTO sites (tenant_id, name) VALUES ('default', $1)`, [offlineSite]);
  processes = [
    startDroverProcess('workers/main.ts', `cli-control-${site}`, { DATABASE_URL: pgdb.url }),
    startDroverProcess('sub-manager/main.ts', `cli-sub-manager-${site}`, { DROVER_SITE: site }),
  ];
  await waitUntil(
    'sub-manager check-in',
    async () =>
      (await db.query('SELECT 1 FROM sites WHERE name = $1 AND last_check_in_at IS NOT NULL', [site]))
        .length > 0,
    60_000,
  );
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => stopProcess(p)));
  await app.close();
  await temporal.connection.close();
  await db.close();
});

describe('drover CLI against a real API', () => {
  it('lists sites, from env settings', async () => {
    await waitUntil(
      'site online',
      async () =>
        (await drover(['sites', 'ls'], { DROVER_API_URL: apiUrl, DROVER_TOKEN: token })).stdout.match(
          new RegExp(`${site}\\s+online`),
        ) !== null,
      30_000,
    );
    const r = await drover(['sites', 'ls'], { DROVER_API_URL: apiUrl, DROVER_TOKEN: token });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+STATUS\s+LAST SEEN\s+DESCRIPTION/);
    expect(r.stdout).toMatch(new RegExp(`${offlineSite}\\s+offline\\s+never`));
    const json = await drover(['--json', 'sites', 'ls'], { DROVER_API_URL: apiUrl, DROVER_TOKEN: token });
    expect((JSON.parse(json.stdout) as { name: string }[]).map((s) => s.name)).toEqual(
      expect.arrayContaining([site, offlineSite]),
    );
  }, 40_000);

  it('enrolls a site and revokes it: drover sites add / revoke', async () => {
    const env = { DROVER_API_URL: apiUrl, DROVER_TOKEN: token };
    const edge = `cli-edge-${uniq()}`;
    const added = await drover(
      ['sites', 'add', edge, '--description', 'edge rack 7', '--ttl-days', '30'],
      env,
    );
    expect(added.code).toBe(0);
    expect(added.stdout).toContain(`site ${edge} enrolled`);
    expect(added.stdout).toContain(`Temporal namespace ${siteNamespace(testNamespace(), edge)}`);
    const jwt = added.stdout.split('\n').find((l) => /^ey[\w-]+\.[\w-]+\.[\w-]+$/.test(l)) ?? '';
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as {
      permissions: string[];
    };
    expect(claims.permissions).toEqual([`${siteNamespace(testNamespace(), edge)}:write`]);
    const again = await drover(['--json', 'sites', 'add', edge], env);
    const rotated = JSON.parse(again.stdout) as { keyId: string; revokedKeys: string[] };
    expect(rotated.revokedKeys).toHaveLength(1);
    const revoked = await drover(['sites', 'revoke', edge], env);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`revoked ${rotated.keyId}`);
    expect((await drover(['sites', 'revoke', `nope-${uniq()}`], env)).code).not.toBe(0);
  }, 60_000);

  it('pings a site and waits for the answer, with settings from `drover login`', async () => {
    const login = await drover(['login', '--url', apiUrl, '--with-token', token]);
    expect(login.code).toBe(0);
    const r = await drover(['ping', site]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^ping:${site}:\\S+: ${site} answered from sub-manager/${site}@`));
  }, 60_000);

  it('shows a run that waits for an offline site', async () => {
    const env = { DROVER_API_URL: apiUrl, DROVER_TOKEN: token };
    const started = await drover(['ping', offlineSite, '--no-wait'], env);
    expect(started.code).toBe(0);
    const runId = started.stdout.trim();
    expect(runId).toMatch(new RegExp(`^ping:${offlineSite}:`));
    const shown = await drover(['runs', 'show', runId], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/status\s+running/);
    expect(shown.stdout).toMatch(/pending\s+pingSite: waiting since/);
    await temporal.workflow.getHandle(runId).terminate('test done');
  }, 30_000);

  it('reports API errors plainly, naming the field', async () => {
    const noToken = await drover(['sites', 'ls'], {
      DROVER_API_URL: apiUrl,
      DROVER_CONFIG: join(configDir, 'none.json'),
    });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/drover: missing bearer token/);
    const badSite = await drover(['ping', 'Not_A_Site', '--no-wait'], {
      DROVER_API_URL: apiUrl,
      DROVER_TOKEN: token,
    });
    expect(badSite.code).toBe(1);
    expect(badSite.stderr).toMatch(/\[params\.site\]/);
    const unknown = await drover(['runs', 'show', 'ping:nowhere:1'], {
      DROVER_API_URL: apiUrl,
      DROVER_TOKEN: token,
    });
    expect(unknown.stderr).toMatch(/run 'ping:nowhere:1' not found/);
    const down = await drover(['sites', 'ls'], {
      DROVER_API_URL: `http://127.0.0.1:${await freePort()}`,
      DROVER_TOKEN: token,
    });
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/cannot reach the drover API/);
  }, 30_000);
});
