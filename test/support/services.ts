import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Real services for the tests: a Temporal dev server and a PostgreSQL server, each started
 * fresh under `setpriv --pdeathsig` so that a crashed or killed test runner takes them along.
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });

const hasSetpriv =
  spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout?.includes('--pdeathsig') ?? false;

export const spawnGuarded = (
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; logFile: string; user?: string; cwd?: string },
): ChildProcess => {
  const log = openSync(opts.logFile, 'a');
  let [cmd, argv] = [command, args];
  // setpriv changes user and sets the death signal, then execs: no intermediate process.
  const asUser = opts.user ? [`--reuid=${opts.user}`, `--regid=${opts.user}`, '--clear-groups'] : [];
  if (hasSetpriv) [cmd, argv] = ['setpriv', ['--pdeathsig', 'KILL', ...asUser, '--', cmd, ...argv]];
  else if (opts.user) [cmd, argv] = ['runuser', ['-u', opts.user, '--', cmd, ...argv]];
  return spawn(cmd, argv, { env: opts.env ?? process.env, stdio: ['ignore', log, log], cwd: opts.cwd });
};

export const waitUntil = async (what: string, probe: () => boolean | Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (
    !(await Promise.resolve()
      .then(probe)
      .catch(() => false))
  ) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

export type StartedTemporal = { address: string; process: ChildProcess };

/** Temporal's health check answers SERVING (the Temporal CLI's probe; extra flags for TLS). */
export const temporalServing = (address: string, extraArgs: string[] = []): boolean =>
  spawnSync('temporal', ['operator', 'cluster', 'health', '--address', address, ...extraArgs], {
    encoding: 'utf8',
  }).stdout.includes('SERVING');

export const startTemporal = async (logDir: string): Promise<StartedTemporal> => {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const child = spawnGuarded(
    'temporal',
    [
      'server',
      'start-dev',
      '--headless',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      // Idle polls return every 5 s, so a stopped sub-manager shows offline within seconds.
      '--dynamic-config-value',
      'matching.longPollExpirationInterval="5s"',
      // One namespace per jest worker (testNamespace in test/support/env.ts).
      ...Array.from({ length: 8 }, (_, i) => ['--namespace', `drover-test-${i + 1}`]).flat(),
      '--log-level',
      'warn',
    ],
    { logFile: join(logDir, 'temporal.log') },
  );
  await waitUntil('temporal dev server', () => temporalServing(address), 60_000);
  return { address, process: child };
};

export type StartedPostgres = { url: (database?: string) => string; process: ChildProcess; dir: string };

/** A throwaway PostgreSQL cluster listening only on a unix socket in its own directory. */
export const startPostgres = async (logDir: string): Promise<StartedPostgres> => {
  const asRoot = process.getuid?.() === 0;
  // Postgres refuses to run as root: run it as the `postgres` system user then.
  const user = asRoot ? 'postgres' : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'drover-pg-'));
  if (asRoot) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    chownSync(dir, Number(id.stdout.trim()), Number(gid.stdout.trim()));
  }
  const data = join(dir, 'data');
  const run = (cmd: string, args: string[]) => {
    const [c, a] = user ? ['runuser', ['-u', user, '--', cmd, ...args]] : [cmd, args];
    const r = spawnSync(c, a, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
  };
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const child = spawnGuarded(
    'postgres',
    [
      '-D',
      data,
      '-k',
      dir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=',
      '-c',
      'fsync=off',
      '-c',
      'max_connections=200',
    ],
    { logFile: join(logDir, 'postgres.log'), ...(user ? { user } : {}) },
  );
  const url = (database = 'postgres') =>
    `postgresql://postgres@localhost/${database}?host=${encodeURIComponent(dir)}&port=${port}`;
  const pg = (await import('pg')).default;
  await waitUntil(
    'postgres',
    async () => {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      await client.end();
      return true;
    },
    30_000,
  );
  return { url, process: child, dir };
};
