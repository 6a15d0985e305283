#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Command, Option } from 'commander';
import type { PingResult, Run } from '../domain/runs.ts';
import type { Site } from '../domain/sites.ts';
import { ApiError, configPath, createApiClient, resolveSettings, type ApiClient } from './client.ts';

/** `drover`: a thin client of the REST API. Everything it does, the API does. */
const program = new Command()
  .name('drover')
  .description('Manager of managers for Kubernetes fleets (client of the drover REST API)')
  .addOption(new Option('--api-url <url>', 'drover API base URL').env('DROVER_API_URL'))
  .addOption(new Option('--token <token>', 'API bearer token').env('DROVER_TOKEN'))
  .option('--json', 'print raw JSON instead of tables')
  .showHelpAfterError();

const api = async (): Promise<ApiClient> => {
  const opts = program.opts<{ apiUrl?: string; token?: string }>();
  return createApiClient(await resolveSettings(opts));
};
const asJson = () => program.opts<{ json?: boolean }>().json === true;
const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};

const ago = (iso: string | null, now = Date.now()): string => {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 90 ? `${s}s ago` : s < 5400 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
};

const table = (rows: string[][]): string => {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
};

const describeRun = (run: Run): string => {
  const lines = [
    `run      ${run.id}`,
    `kind     ${run.kind}`,
    `status   ${run.status}`,
    `started  ${run.startedAt ?? '-'}`,
  ];
  if (run.closedAt) lines.push(`closed   ${run.closedAt}`);
  for (const p of run.pending) {
    lines.push(
      `pending  ${p.activity}: ${p.state} since ${ago(p.since)} (attempt ${p.attempt})${p.lastFailure ? ` — ${p.lastFailure}` : ''}`,
    );
  }
  if (run.error) lines.push(`error    ${run.error}`);
  if (run.result !== undefined) lines.push(`result   ${JSON.stringify(run.result)}`);
  return lines.join('\n');
};

const sites = program.command('sites').description('sites and their sub-managers');
sites
  .command('ls')
  .description('list sites with liveness')
  .action(async () => {
    const { items } = await (await api())<{ items: Site[] }>('GET', '/v1/sites');
    if (asJson()) return print(items);
    if (items.length === 0)
      return console.log('no sites yet: start a sub-manager (make sub-manager SITE=name)');
    console.log(
      table([
        ['NAME', 'STATUS', 'LAST SEEN', 'DESCRIPTION'],
        ...items.map((s) => [s.name, s.status, ago(s.lastSeenAt), s.description]),
      ]),
    );
  });

program
  .command('ping')
  .description('round-trip a run through a site’s sub-manager')
  .argument('<site>', 'site name')
  .option('--no-wait', 'print the run id and return at once')
  .option('--timeout <seconds>', 'give up waiting after this long (the run goes on)', '600')
  .action(async (site: string, opts: { wait: boolean; timeout: string }) => {
    const client = await api();
    const { runId } = await client<{ runId: string }>('POST', `/v1/sites/${encodeURIComponent(site)}/ping`);
    if (!opts.wait) return asJson() ? print({ runId }) : console.log(runId);
    const deadline = Date.now() + Number(opts.timeout) * 1000;
    const tty = process.stderr.isTTY;
    for (;;) {
      const run = await client<Run>('GET', `/v1/runs/${runId}`);
      if (run.status !== 'running') {
        if (tty) process.stderr.write('\r\x1b[K');
        if (asJson()) print(run);
        else if (run.status === 'succeeded') {
          const r = run.result as PingResult;
          console.log(
            `${run.id}: ${site} answered from ${r.worker} (drover ${r.version}) after ${r.answeredAfterMs} ms`,
          );
        } else console.log(describeRun(run));
        process.exitCode = run.status === 'succeeded' ? 0 : 1;
        return;
      }
      const waiting = run.pending.find((p) => p.state === 'waiting');
      const status = waiting
        ? `waiting for site ${site}'s sub-manager (queued ${ago(waiting.since)})`
        : 'running';
      if (tty) process.stderr.write(`\r\x1b[K${runId}: ${status}`);
      if (Date.now() > deadline) {
        if (tty) process.stderr.write('\n');
        console.error(`still running after ${opts.timeout}s; follow it with: drover runs show ${runId}`);
        process.exitCode = 2;
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  });

const runs = program.command('runs').description('runs of every kind');
runs
  .command('show')
  .description('status, pending steps and result of one run')
  .argument('<id>', 'run id')
  .action(async (id: string) => {
    const run = await (await api())<Run>('GET', `/v1/runs/${encodeURIComponent(id).replaceAll('%3A', ':')}`);
    if (asJson()) print(run);
    else console.log(describeRun(run));
  });

program
  .command('login')
  .description(`save the API URL and token to ${configPath()}`)
  .requiredOption('--url <url>', 'drover API base URL')
  .requiredOption('--with-token <token>', 'API bearer token')
  .action(async (opts: { url: string; withToken: string }) => {
    const settings = { apiUrl: opts.url, token: opts.withToken, source: '--with-token' };
    await createApiClient(settings)('GET', '/v1/sites'); // fail now rather than at first use
    const path = configPath();
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, `${JSON.stringify({ apiUrl: opts.url, token: opts.withToken }, null, 2)}\n`, {
      mode: 0o600,
    });
    console.log(`saved to ${path}`);
  });

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof ApiError) {
    console.error(`drover: ${err.message}${err.field ? ` [${err.field}]` : ''}`);
    process.exitCode = err.status === 0 ? 3 : 1;
  } else {
    throw err;
  }
}
