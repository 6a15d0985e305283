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

type ClusterView = {
  id: string;
  name: string;
  site: string;
  provider: string;
  location: string;
  kubernetesVersion: string | null;
  status: string;
  labels: Record<string, string>;
};

const labelText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

const clusters = program.command('clusters').description('the fleet inventory');
clusters
  .command('ls')
  .description('list clusters (every page)')
  .option('-l, --selector <selector>', 'label selector, e.g. env=prod,tier in (web,api)')
  .option('--site <site>', 'only this site')
  .option('--provider <provider>', 'eks, gke, aks, sandbox or kubeconfig')
  .option('--status <status>', 'pending, ready, unreachable or vanished')
  .action(async (opts: { selector?: string; site?: string; provider?: string; status?: string }) => {
    const client = await api();
    const items: ClusterView[] = [];
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams({ limit: '1000' });
      for (const [k, v] of Object.entries(opts)) if (typeof v === 'string') q.set(k, v);
      if (cursor) q.set('cursor', cursor);
      const page: { items: ClusterView[]; nextCursor: string | null } = await client(
        'GET',
        `/v1/clusters?${q.toString()}`,
      );
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    if (asJson()) return print(items);
    if (items.length === 0) return console.log('no clusters match');
    console.log(
      table([
        ['ID', 'NAME', 'SITE', 'PROVIDER', 'VERSION', 'STATUS', 'LABELS'],
        ...items.map((c) => [
          c.id,
          c.name,
          c.site,
          c.provider,
          c.kubernetesVersion ?? '-',
          c.status,
          labelText(c.labels),
        ]),
      ]),
    );
  });

clusters
  .command('show')
  .description('one cluster')
  .argument('<id>', 'cluster id')
  .action(async (id: string) => {
    print(await (await api())('GET', `/v1/clusters/${encodeURIComponent(id)}`));
  });

clusters
  .command('label')
  .description('set labels (k=v) or remove them (k-), like kubectl label')
  .argument('<id>', 'cluster id')
  .argument('<changes...>', 'k=v to set, k- to remove')
  .action(async (id: string, changes: string[]) => {
    const labels: Record<string, string | null> = {};
    for (const change of changes) {
      const eq = change.indexOf('=');
      if (eq > 0) labels[change.slice(0, eq)] = change.slice(eq + 1);
      else if (change.endsWith('-') && change.length > 1) labels[change.slice(0, -1)] = null;
      else throw new ApiError(400, `'${change}' is neither k=v nor k-`);
    }
    const c = await (await api())<ClusterView>('PATCH', `/v1/clusters/${encodeURIComponent(id)}`, { labels });
    if (asJson()) return print(c);
    console.log(`${c.name} (${c.id}): ${labelText(c.labels) || 'no labels'}`);
  });

clusters
  .command('register')
  .description('register an existing cluster by site and kubeconfig context')
  .requiredOption('--site <site>', 'the site whose sub-manager holds its credentials')
  .requiredOption('--context <context>', 'kubeconfig context name in that site')
  .option('--name <name>', 'cluster name (default: from the context)')
  .option('-l, --labels <k=v,...>', 'initial labels')
  .action(async (opts: { site: string; context: string; name?: string; labels?: string }) => {
    const labels = Object.fromEntries(
      (opts.labels ?? '')
        .split(',')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    const c = await (
      await api()
    )<ClusterView & { discoveryRunId: string }>('POST', '/v1/clusters', {
      site: opts.site,
      context: opts.context,
      ...(opts.name ? { name: opts.name } : {}),
      labels,
    });
    if (asJson()) return print(c);
    console.log(`registered ${c.name} (${c.id}), ${c.status}; confirming with run ${c.discoveryRunId}`);
  });

clusters
  .command('rm')
  .description('deregister a cluster (the cluster itself is untouched)')
  .argument('<id>', 'cluster id')
  .action(async (id: string) => {
    await (
      await api()
    )('DELETE', `/v1/clusters/${encodeURIComponent(id)}`);
    console.log(`deregistered ${id}`);
  });

program
  .command('discover')
  .description("refresh a site's clusters in the inventory now")
  .argument('<site>', 'site name')
  .action(async (site: string) => {
    const { runId } = await (
      await api()
    )<{ runId: string }>('POST', `/v1/sites/${encodeURIComponent(site)}/discover`);
    console.log(runId);
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
