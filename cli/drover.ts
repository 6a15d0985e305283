#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Command, Option } from 'commander';
import type { PingResult, Run } from '../domain/runs.ts';
import type { Enrollment, Revocation, Site } from '../domain/sites.ts';
import type { DeployProgress } from '../workflows/bulk-deploy.ts';
import {
  ApiError,
  configPath,
  createApiClient,
  openEventStream,
  resolveSettings,
  type ApiClient,
  type CliSettings,
} from './client.ts';
import { addMaintenanceCommands } from './maintenance.ts';

/** `drover`: a thin client of the REST API. Everything it does, the API does. */
const program = new Command()
  .name('drover')
  .description('Manager of managers for Kubernetes fleets (client of the drover REST API)')
  .addOption(new Option('--api-url <url>', 'drover API base URL').env('DROVER_API_URL'))
  .addOption(new Option('--token <token>', 'API bearer token').env('DROVER_TOKEN'))
  .option('--json', 'print raw JSON instead of tables')
  .showHelpAfterError();

const settings = async (): Promise<CliSettings> =>
  resolveSettings(program.opts<{ apiUrl?: string; token?: string }>());
const api = async (): Promise<ApiClient> => createApiClient(await settings());
/** A run id in a URL path: its `:` separators stay readable. */
const runPath = (id: string): string => encodeURIComponent(id).replaceAll('%3A', ':');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A mistake in what the user typed that commander cannot catch: printed plainly, exit 1. */
class CliError extends Error {}
const fail = (message: string): never => {
  throw new CliError(message);
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
      `pending  ${p.activity}${p.target ? ` ${p.target}` : ''}: ${p.state} since ${ago(p.since)} (attempt ${p.attempt})${p.lastFailure ? ` — ${p.lastFailure}` : ''}`,
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

sites
  .command('add')
  .description('enroll a site: its Temporal namespace and a credential for its sub-manager, shown once')
  .argument('<site>', 'site name')
  .option('--description <text>', 'what and where the site is')
  .option('--ttl-days <days>', 'how long the credential is valid (revoke ends it sooner)', '365')
  .action(async (site: string, opts: { description?: string; ttlDays: string }) => {
    const enrolled = await (
      await api()
    )<Enrollment>('POST', `/v1/sites/${encodeURIComponent(site)}/enroll`, {
      ttlDays: Number(opts.ttlDays),
      ...(opts.description ? { description: opts.description } : {}),
    });
    if (asJson()) return print(enrolled);
    console.log(
      [
        `site ${site} enrolled (key ${enrolled.keyId}, valid until ${enrolled.expiresAt})`,
        ...(enrolled.revokedKeys.length
          ? [`revoked its earlier key(s): ${enrolled.revokedKeys.join(', ')}`]
          : []),
        '',
        `Temporal namespace ${enrolled.namespace} (worker rights there and nowhere else); credential, shown once:`,
        enrolled.temporalToken,
        '',
        'The sub-manager presents it as DROVER_TEMPORAL_TOKEN (docs/trust-boundaries.md says what it reaches).',
      ].join('\n'),
    );
  });
sites
  .command('revoke')
  .description('revoke a site’s credential: Temporal refuses it once it re-reads drover’s JWKS')
  .argument('<site>', 'site name')
  .action(async (site: string) => {
    const revoked = await (await api())<Revocation>('POST', `/v1/sites/${encodeURIComponent(site)}/revoke`);
    if (asJson()) return print(revoked);
    console.log(
      revoked.revokedKeys.length
        ? `revoked ${revoked.revokedKeys.join(', ')}: ${revoked.note}`
        : `site ${site} had no credential to revoke`,
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
  .command('create')
  .description("create a managed cluster in one of a site's cloud accounts (EKS, GKE, AKS)")
  .requiredOption('--site <site>', 'the site whose sub-manager holds the cloud account')
  .requiredOption('--account <account>', "the account's name in that site's clouds file")
  .requiredOption(
    '-f, --file <spec.json>',
    'cluster spec: name, location, version, labels, nodePools, extras',
  )
  .option('--dry-run', "check the spec against the cloud's catalog; create nothing")
  .option('--no-wait', 'print the run id and return at once')
  .action(async (opts: { site: string; account: string; file: string; dryRun?: boolean; wait: boolean }) => {
    let spec: unknown;
    try {
      spec = JSON.parse(await readFile(opts.file, 'utf8')) as unknown;
    } catch (err) {
      fail(`--file: ${opts.file}: ${(err as Error).message}`);
    }
    const r = await (
      await api()
    )<{
      runId: string;
      validated?: boolean;
      cloud: string | null;
      spec: { name?: string; version?: string } | null;
    }>('POST', '/v1/clusters:create', {
      site: opts.site,
      account: opts.account,
      spec,
      dryRun: opts.dryRun === true,
    });
    if (asJson() && (opts.dryRun || !opts.wait)) return print(r);
    if (opts.dryRun) {
      return console.log(
        `spec ok: ${r.cloud ?? '?'} cluster ${r.spec?.name ?? ''}, Kubernetes ${r.spec?.version ?? '?'}`,
      );
    }
    if (r.validated === false)
      console.error(`${opts.site} has not checked the spec yet; the run will when it can`);
    if (!opts.wait) return console.log(r.runId);
    process.exitCode = await watchRun(r.runId);
  });

clusters
  .command('rm')
  .description(
    'deregister a cluster (the cluster itself is untouched), or with --destroy delete it in its cloud',
  )
  .argument('<id>', 'cluster id')
  .option(
    '--destroy',
    "delete the cluster in its site's cloud account (node pools, cluster), then deregister it",
  )
  .option('--no-wait', 'with --destroy: print the run id and return at once')
  .action(async (id: string, opts: { destroy?: boolean; wait: boolean }) => {
    const client = await api();
    if (opts.destroy) {
      const r = await client<{ runId: string }>(
        'DELETE',
        `/v1/clusters/${encodeURIComponent(id)}?destroy=true`,
      );
      if (!opts.wait) return asJson() ? print(r) : console.log(r.runId);
      process.exitCode = await watchRun(r.runId);
      return;
    }
    await client('DELETE', `/v1/clusters/${encodeURIComponent(id)}`);
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
    const run = await (await api())<Run>('GET', `/v1/runs/${runPath(id)}`);
    if (asJson()) print(run);
    else console.log(describeRun(run));
  });

type RunSummary = Pick<Run, 'id' | 'kind' | 'status' | 'startedAt' | 'closedAt'>;

runs
  .command('ls')
  .description('list runs, newest first')
  .option('--kind <kind>', 'ping, discovery, deploy or site-check-in')
  .option('--status <status>', 'running, succeeded, failed, cancelled, terminated or timed-out')
  .option('--limit <n>', 'at most this many', '50')
  .action(async (opts: { kind?: string; status?: string; limit: string }) => {
    const client = await api();
    const limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 1) fail(`--limit: '${opts.limit}' is not a positive number`);
    const items: RunSummary[] = [];
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams({ limit: String(Math.min(1000, limit - items.length)) });
      if (opts.kind) q.set('kind', opts.kind);
      if (opts.status) q.set('status', opts.status);
      if (cursor) q.set('cursor', cursor);
      const page: { items: RunSummary[]; nextCursor: string | null } = await client(
        'GET',
        `/v1/runs?${q.toString()}`,
      );
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor && items.length < limit);
    if (asJson()) return print(items);
    if (items.length === 0) return console.log('no runs match');
    console.log(
      table([
        ['ID', 'KIND', 'STATUS', 'STARTED', 'CLOSED'],
        ...items.map((r) => [r.id, r.kind, r.status, ago(r.startedAt), r.closedAt ? ago(r.closedAt) : '-']),
      ]),
    );
  });

runs
  .command('watch')
  .description('follow a run live until it ends (a progress bar per wave for deployments)')
  .argument('<id>', 'run id')
  .action(async (id: string) => {
    process.exitCode = await watchRun(id);
  });

/** A one-line summary of a deployment's targets: what succeeded and failed, and any other state. */
const countsText = (p: DeployProgress): string => {
  const c = p.counts;
  const parts = [`${c.succeeded} succeeded`, `${c.failed} failed`];
  if (c.running + c['rolling-back'] > 0) parts.push(`${c.running + c['rolling-back']} running`);
  if (c.waiting > 0) parts.push(`${c.waiting} waiting for their site`);
  if (c.pending > 0) parts.push(`${c.pending} pending`);
  if (c.skipped > 0) parts.push(`${c.skipped} skipped`);
  if (c['rolled-back'] > 0) parts.push(`${c['rolled-back']} rolled back`);
  return parts.join(', ');
};

const phaseText = (p: DeployProgress): string =>
  p.phase === 'paused' && p.pausedReason ? `paused: ${p.pausedReason}` : p.phase;

/** `what` names the request when the phase it returns has not caught up with it yet. */
const printControlResult = (id: string, p: DeployProgress, what?: string) => {
  if (asJson()) return print(p);
  console.log(`${id}: ${what ? `${what} (was ${phaseText(p)})` : phaseText(p)} — ${countsText(p)}`);
};

const control = (name: string, description: string) =>
  runs.command(name).description(description).argument('<id>', 'run id');

control('pause', 'pause a deployment: nothing new starts; what runs finishes').action(async (id: string) => {
  const { progress } = await (
    await api()
  )<{ progress: DeployProgress }>('POST', `/v1/runs/${runPath(id)}/pause`);
  printControlResult(id, progress);
});

control('resume', 'resume a paused deployment, retrying its failed clusters (or skipping them)')
  .option('--skip-failed', 'leave the failed clusters as they are instead of retrying them')
  .action(async (id: string, opts: { skipFailed?: boolean }) => {
    const { progress } = await (
      await api()
    )<{ progress: DeployProgress }>('POST', `/v1/runs/${runPath(id)}/resume`, {
      failed: opts.skipFailed ? 'skip' : 'retry',
    });
    printControlResult(id, progress);
  });

control('rollback', 'put every cluster a deployment touched back as it was, waves in reverse').action(
  async (id: string) => {
    const { progress } = await (
      await api()
    )<{ progress: DeployProgress }>('POST', `/v1/runs/${runPath(id)}/rollback`);
    // The run starts rolling back just after it accepted the request.
    printControlResult(id, progress, progress.phase === 'rolling-back' ? undefined : 'rollback started');
  },
);

control('concurrency', 'change how many clusters a deployment works on at once')
  .argument('<n>', 'clusters at once, 1 to 500')
  .action(async (id: string, n: string) => {
    const { progress } = await (
      await api()
    )<{ progress: DeployProgress }>('POST', `/v1/runs/${runPath(id)}/concurrency`, {
      maxParallel: Number(n),
    });
    printControlResult(id, progress);
  });

control('cancel', 'cancel a run: nothing new starts; what runs settles').action(async (id: string) => {
  const r = await (await api())<{ runId: string }>('POST', `/v1/runs/${runPath(id)}/cancel`);
  if (asJson()) return print(r);
  console.log(`${id}: cancellation requested; follow it with: drover runs watch ${id}`);
});

// --- watching a run ----------------------------------------------------------------------------

type RunView = Run & { progress?: unknown };
type Line = { key: string; text: string };

const isDeployProgress = (p: unknown): p is DeployProgress =>
  typeof p === 'object' && p !== null && 'phase' in p && Array.isArray((p as { waves?: unknown }).waves);

const DEPLOY_DONE = ['succeeded', 'rolled-back', 'cancelled'];
const BAR_WIDTH = 20;

const bar = (done: number, total: number): string => {
  const filled = total === 0 ? BAR_WIDTH : Math.round((BAR_WIDTH * done) / total);
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
};

const deployLines = (run: RunView, p: DeployProgress): Line[] => {
  const lines: Line[] = [{ key: 'head', text: `${run.id}  ${phaseText(p)}  (release ${p.releaseId})` }];
  for (const w of p.waves) {
    const settled = w.succeeded + w.failed + w.skipped + w.rolledBack;
    let text = `wave ${w.index + 1} ${bar(settled, w.total)} ${w.succeeded}/${w.total} ok, ${w.failed} failed, ${w.running} running`;
    if (w.skipped > 0) text += `, ${w.skipped} skipped`;
    if (w.rolledBack > 0) text += `, ${w.rolledBack} rolled back`;
    lines.push({ key: `wave ${w.index}`, text });
  }
  lines.push({
    key: 'counts',
    text: `${countsText(p)} · failure budget ${p.failureBudget.used}/${p.failureBudget.allowed} · ${p.maxParallel} at once`,
  });
  const failed = p.targets.filter((t) => t.state === 'failed');
  for (const t of failed.slice(0, 5)) {
    lines.push({
      key: `failed ${t.id}`,
      text: `  failed ${t.name} (${t.site}): ${t.lastError ?? 'unknown error'}`,
    });
  }
  if (failed.length > 5) lines.push({ key: 'failed more', text: `  … and ${failed.length - 5} more failed` });
  // Targets queued on a site no sub-manager serves right now, per site and since when.
  const waitingSites = new Map<string, { count: number; since: string }>();
  for (const t of p.targets) {
    if (t.state !== 'waiting') continue;
    const w = waitingSites.get(t.site);
    const since = t.waitingSince ?? '';
    waitingSites.set(t.site, {
      count: (w?.count ?? 0) + 1,
      since: w && w.since < since ? w.since : since,
    });
  }
  for (const [site, w] of waitingSites) {
    lines.push({
      key: `waiting ${site}`,
      text: `  waiting: ${w.count} on site ${site}, unreachable for ${ago(w.since).replace(/ ago$/, '')}`,
    });
  }
  if (p.phase === 'paused') {
    lines.push(
      { key: 'hint', text: 'waiting for a decision:' },
      { key: 'hint resume', text: `  drover runs resume ${run.id} [--skip-failed]` },
      { key: 'hint rollback', text: `  drover runs rollback ${run.id}` },
    );
  }
  return lines;
};

type ClusterRunProgress = {
  kind: 'create-cluster' | 'delete-cluster' | 'clone-cluster';
  phase: string;
  steps: { step: string; target: string; state: string; note: string | null }[];
  undone?: { step: string; target: string; state: string; note: string | null }[];
};
const isClusterProgress = (p: unknown): p is ClusterRunProgress =>
  typeof p === 'object' &&
  p !== null &&
  ['create-cluster', 'delete-cluster', 'clone-cluster'].includes((p as { kind?: string }).kind ?? '') &&
  Array.isArray((p as { steps?: unknown }).steps);

const STEP_MARK: Record<string, string> = { done: '✓', running: '…', failed: '✗', cancelled: '-' };

/** A cluster run: each step with its outcome, then what was undone. */
const clusterLines = (run: RunView, p: ClusterRunProgress): Line[] => {
  const step = (prefix: string) => (s: ClusterRunProgress['steps'][number], i: number) => ({
    key: `${prefix} ${i}`,
    text: `  ${STEP_MARK[s.state] ?? s.state} ${prefix === 'undo' ? 'undo ' : ''}${s.step} ${s.target}${s.note ? ` — ${s.note}` : ''}`,
  });
  return [
    { key: 'head', text: `${run.id}  ${p.phase}` },
    ...p.steps.map(step('step')),
    ...(p.undone ?? []).map(step('undo')),
    ...(run.error ? [{ key: 'error', text: `error: ${run.error}` }] : []),
  ];
};

type CloneProgress = Omit<DeployProgress, 'releaseId' | 'targets' | 'shards'> & {
  kind: 'clone';
  targets: {
    id: string;
    name: string;
    site: string;
    state: string;
    step: string | null;
    lastError: string | null;
    clone: { name: string; location: string } | null;
  }[];
};
const isCloneProgress = (p: unknown): p is CloneProgress =>
  isDeployProgress(p) && (p as { kind?: string }).kind === 'clone';

/** A clone run: its waves as a deploy run shows them, then each clone at work or failed. */
const cloneLines = (run: RunView, p: CloneProgress): Line[] => {
  const [, ...rest] = deployLines(run, {
    ...p,
    releaseId: '',
    targets: [],
    shards: { total: 0, finished: 0, active: null },
  });
  const lines: Line[] = [
    { key: 'head', text: `${run.id}  ${phaseText(p as unknown as DeployProgress)}  (clone)` },
    ...rest,
  ];
  for (const t of p.targets.filter((x) => ['running', 'rolling-back', 'failed'].includes(x.state))) {
    const to = t.clone ? ` → ${t.clone.name} (${t.clone.location})` : '';
    const what = t.state === 'failed' ? `failed: ${t.lastError ?? 'unknown error'}` : (t.step ?? t.state);
    lines.push({ key: `clone ${t.id}`, text: `  ${t.name}${to}: ${what}` });
  }
  return lines;
};

const runLines = (run: RunView): Line[] => {
  if (isCloneProgress(run.progress)) return cloneLines(run, run.progress);
  if (isDeployProgress(run.progress)) return deployLines(run, run.progress);
  if (isClusterProgress(run.progress)) return clusterLines(run, run.progress);
  const lines: Line[] = [{ key: 'head', text: `${run.id}  ${run.status}` }];
  run.pending.forEach((p, i) =>
    lines.push({
      key: `pending ${i}`,
      text: `  ${p.activity}: ${p.state} (attempt ${p.attempt})${p.lastFailure ? ` — ${p.lastFailure}` : ''}`,
    }),
  );
  if (run.error) lines.push({ key: 'error', text: `error: ${run.error}` });
  if (run.result !== undefined) lines.push({ key: 'result', text: `result: ${JSON.stringify(run.result)}` });
  return lines;
};

/** Draws a run's lines: in place on a terminal, as a log of what changed otherwise. */
const createRenderer = (out: NodeJS.WriteStream) => {
  const tty = out.isTTY === true;
  let drawn = 0;
  const shown = new Map<string, string>();
  return (lines: Line[]) => {
    if (tty) {
      const width = Math.max(20, (out.columns || 80) - 1);
      const text = lines.map((l) => (l.text.length > width ? `${l.text.slice(0, width - 1)}…` : l.text));
      out.write(`${drawn > 0 ? `\x1b[${drawn}A\r` : ''}\x1b[J${text.join('\n')}\n`);
      drawn = text.length;
      return;
    }
    for (const l of lines) {
      if (shown.get(l.key) === l.text) continue;
      shown.set(l.key, l.text);
      out.write(`${l.text}\n`);
    }
    // A line that went away is printed again if it comes back (a second pause, say).
    const keys = new Set(lines.map((l) => l.key));
    for (const key of shown.keys()) if (!keys.has(key)) shown.delete(key);
  };
};

/** Whether watching can stop: the run closed, or a deployment settled (it stays open for rollback). */
const watchIsOver = (run: RunView): boolean =>
  run.status !== 'running' || (isDeployProgress(run.progress) && DEPLOY_DONE.includes(run.progress.phase));

const outcomeOf = (run: RunView | undefined): { text: string; ok: boolean } => {
  if (!run) return { text: 'unknown', ok: false };
  if (isDeployProgress(run.progress)) {
    const p = run.progress;
    return {
      text: `${phaseText(p)} (${countsText(p)})`,
      ok: p.phase === 'succeeded' || p.phase === 'rolled-back',
    };
  }
  return { text: run.status, ok: run.status === 'succeeded' };
};

/**
 * Follows a run over the API's event stream until it is over, reconnecting if the stream
 * drops. Returns the exit code: 0 when it succeeded or was rolled back, 1 otherwise.
 */
const watchRun = async (id: string): Promise<number> => {
  const config = await settings();
  const render = createRenderer(process.stdout);
  let last: RunView | undefined;
  let drops = 0;
  const finish = (run: RunView | undefined): number => {
    const outcome = outcomeOf(run);
    if (!asJson()) console.log(`${id}: ${outcome.text}`);
    return outcome.ok ? 0 : 1;
  };
  for (;;) {
    try {
      const events = await openEventStream(config, `/v1/runs/${runPath(id)}/events`);
      for await (const e of events) {
        drops = 0;
        if (e.event === 'progress') {
          last = JSON.parse(e.data) as RunView;
          if (asJson()) process.stdout.write(`${e.data}\n`);
          else render(runLines(last));
          if (watchIsOver(last)) return finish(last);
        } else if (e.event === 'end') {
          return finish(last);
        }
      }
    } catch (err) {
      // Before the first event, an error is the answer (unknown run, bad token); later, a drop.
      if (!last || (err instanceof ApiError && err.status !== 0 && err.status < 500)) throw err;
    }
    if (++drops > 5)
      throw new ApiError(0, `lost the event stream of ${id}; follow it with: drover runs watch ${id}`);
    await sleep(1000 * drops);
  }
};

// --- releases and deployments ------------------------------------------------------------------

type ReleaseView = { id: string; name: string; objects: unknown[]; overrides: number; created: boolean };

const releases = program
  .command('releases')
  .description('releases: Kubernetes objects and per-cluster overrides');
releases
  .command('create')
  .description('upload a release (stored by content: the same content gets the same id)')
  .requiredOption('-f, --file <release.yaml>', 'multi-document YAML of Kubernetes objects')
  .requiredOption('--name <name>', 'release name')
  .option(
    '--overrides <overrides.json>',
    'JSON list of overrides: {selector, target?, mergePatch | jsonPatch}',
  )
  .action(async (opts: { file: string; name: string; overrides?: string }) => {
    const manifests = await readFile(opts.file, 'utf8');
    let overrides: unknown = [];
    if (opts.overrides) {
      try {
        overrides = JSON.parse(await readFile(opts.overrides, 'utf8')) as unknown;
      } catch (err) {
        fail(`--overrides: ${opts.overrides}: ${(err as Error).message}`);
      }
      // Also accepted: {"overrides": [...]}, as GET /v1/releases/{id}/overrides returns them.
      if (typeof overrides === 'object' && overrides !== null && !Array.isArray(overrides)) {
        overrides =
          (overrides as { overrides?: unknown; items?: unknown }).overrides ??
          (overrides as { items?: unknown }).items;
      }
    }
    const r = await (
      await api()
    )<ReleaseView>('POST', '/v1/releases', { name: opts.name, manifests, overrides });
    if (asJson()) return print(r);
    console.log(r.id);
    console.error(
      `release ${r.name}: ${r.objects.length} objects, ${r.overrides} overrides (${r.created ? 'created' : 'already stored'})`,
    );
  });

type ReleaseSummary = { id: string; name: string; objectCount: number; overrides: number; createdAt: string };
releases
  .command('ls')
  .description('list releases, newest first')
  .option('--name <name>', 'only releases of this name')
  .action(async (opts: { name?: string }) => {
    const client = await api();
    const items: ReleaseSummary[] = [];
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams({ limit: '1000' });
      if (opts.name) q.set('name', opts.name);
      if (cursor) q.set('cursor', cursor);
      const page: { items: ReleaseSummary[]; nextCursor: string | null } = await client(
        'GET',
        `/v1/releases?${q.toString()}`,
      );
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    if (asJson()) return print(items);
    if (items.length === 0)
      return console.log('no releases yet: drover releases create -f release.yaml --name NAME');
    console.log(
      table([
        ['ID', 'NAME', 'OBJECTS', 'OVERRIDES', 'CREATED'],
        ...items.map((r) => [r.id, r.name, String(r.objectCount), String(r.overrides), ago(r.createdAt)]),
      ]),
    );
  });

type WaveSpec = { count: number } | { percent: number } | { selector: string };

/**
 * `--waves 1,50%,100%`: counts, percentages and `sel:<selector>` waves, comma-separated. A
 * selector may itself hold commas (`sel:env=prod,tier=web`): what follows a selector's comma
 * belongs to it unless it is a count, a percentage or another `sel:`. `;` always separates.
 */
const parseWaves = (text: string): WaveSpec[] => {
  const waves: WaveSpec[] = [];
  for (const group of text.split(';')) {
    let selector: { selector: string } | undefined;
    for (const raw of group.split(',')) {
      const part = raw.trim();
      if (/^\d+$/.test(part)) waves.push({ count: Number(part) });
      else if (/^\d+(\.\d+)?%$/.test(part)) waves.push({ percent: Number(part.slice(0, -1)) });
      else if (part.startsWith('sel:') && part.length > 4)
        waves.push((selector = { selector: part.slice(4).trim() }));
      else if (selector && waves.at(-1) === selector) {
        selector.selector += `,${raw}`;
        continue;
      } else if (part !== '') {
        fail(`--waves: '${part}' is neither a count (3), a percentage (50%) nor a selector (sel:env=prod)`);
      }
      if (waves.at(-1) !== selector) selector = undefined;
    }
  }
  if (waves.length === 0) fail('--waves: name at least one wave, e.g. 1,100%');
  return waves;
};

const parseBudget = (text: string): { count: number } | { percent: number } => {
  if (/^\d+$/.test(text)) return { count: Number(text) };
  if (/^\d+(\.\d+)?%$/.test(text)) return { percent: Number(text.slice(0, -1)) };
  return fail(`--budget: '${text}' is neither a count (2) nor a percentage (5%)`);
};

const wholeNumber = (flag: string, text: string): number => {
  const n = Number(text);
  return Number.isInteger(n) && n >= 0 ? n : fail(`${flag}: '${text}' is not a whole number`);
};

/** The strategy flags deploy and clone share: waves, concurrency, budget, pauses, rollback window. */
const waveStrategy = (opts: {
  waves?: string;
  maxParallel?: string;
  budget?: string;
  pauseBetweenWaves?: boolean;
  rollbackWindow?: string;
}): Record<string, unknown> => {
  const strategy: Record<string, unknown> = {};
  if (opts.waves !== undefined) strategy.waves = parseWaves(opts.waves);
  if (opts.maxParallel !== undefined) strategy.maxParallel = wholeNumber('--max-parallel', opts.maxParallel);
  if (opts.budget !== undefined) strategy.failureBudget = parseBudget(opts.budget);
  if (opts.pauseBetweenWaves) strategy.betweenWaves = 'pause';
  if (opts.rollbackWindow !== undefined)
    strategy.rollbackWindowSeconds = wholeNumber('--rollback-window', opts.rollbackWindow);
  return strategy;
};

const collect = (value: string, previous: string[] = []) => [
  ...previous,
  ...value.split(',').filter(Boolean),
];

type PlannedTarget = { id: string; name: string; site: string };
const PLAN_LINES_PER_WAVE = 100;

program
  .command('deploy')
  .description('roll a release out to the clusters a placement selects, in waves')
  .requiredOption('--release <id>', 'release id (rel-…), from drover releases create')
  .option('-l, --selector <selector>', 'clusters whose labels match, e.g. env=prod,tier in (web,api)')
  .option('--cluster <id...>', 'these clusters (ids)', collect)
  .option('--site <site...>', 'every cluster of these sites', collect)
  .option('--waves <waves>', "waves: counts, percentages, 'sel:<selector>' (default 1,100%)")
  .option('--max-parallel <n>', 'clusters at once (default 10)')
  .option('--budget <n|n%>', 'failures tolerated before the run pauses (default 0)')
  .option('--pause-between-waves', 'wait for `drover runs resume` after each wave')
  .option('--readiness', 'also wait for workloads to become ready (needs controllers)')
  .option(
    '--rollback-window <seconds>',
    'how long a finished rollout can still be rolled back (default 3600)',
  )
  .option(
    '--site-deadline <seconds>',
    "fail a site's targets once they waited this long for its sub-manager (default: wait)",
  )
  .option('--dry-run', 'print the plan (clusters per wave) and start nothing')
  .option('--watch', 'follow the run until it is over, like drover runs watch')
  .action(
    async (opts: {
      release: string;
      selector?: string;
      cluster?: string[];
      site?: string[];
      waves?: string;
      maxParallel?: string;
      budget?: string;
      pauseBetweenWaves?: boolean;
      readiness?: boolean;
      rollbackWindow?: string;
      siteDeadline?: string;
      dryRun?: boolean;
      watch?: boolean;
    }) => {
      const placement: { selector?: string; clusterIds?: string[]; sites?: string[] } = {};
      if (opts.selector !== undefined) placement.selector = opts.selector;
      if (opts.cluster) placement.clusterIds = opts.cluster;
      if (opts.site) placement.sites = opts.site;
      if (Object.keys(placement).length === 0) {
        fail('deploy: name the clusters with -l SELECTOR, --cluster ID… or --site SITE…');
      }
      const strategy = waveStrategy(opts);
      if (opts.readiness) strategy.readiness = true;
      if (opts.siteDeadline !== undefined) {
        strategy.siteDeadlineSeconds = wholeNumber('--site-deadline', opts.siteDeadline);
      }
      const body = { releaseId: opts.release, placement, strategy, dryRun: opts.dryRun === true };
      const client = await api();
      if (opts.dryRun) {
        const plan = await client<{ count: number; waves: PlannedTarget[][] }>(
          'POST',
          '/v1/deployments',
          body,
        );
        if (asJson()) return print(plan);
        console.log(
          `dry run: ${opts.release} to ${plan.count} clusters in ${plan.waves.length} waves; nothing started`,
        );
        plan.waves.forEach((wave, i) => {
          console.log(`wave ${i + 1}: ${wave.length} clusters`);
          const shown = wave.slice(0, PLAN_LINES_PER_WAVE);
          console.log(
            table(shown.map((t) => [` ${t.name}`, t.site, t.id]))
              .split('\n')
              .map((l) => ` ${l}`)
              .join('\n'),
          );
          if (wave.length > shown.length)
            console.log(`   … and ${wave.length - shown.length} more (--json for all)`);
        });
        return;
      }
      const started = await client<{ runId: string; count: number; waves: number[] }>(
        'POST',
        '/v1/deployments',
        body,
      );
      if (asJson() && !opts.watch) return print(started);
      console.log(started.runId);
      if (!opts.watch) {
        console.error(
          `deploying to ${started.count} clusters in waves of ${started.waves.join(', ')}; follow it with: drover runs watch ${started.runId}`,
        );
        return;
      }
      process.exitCode = await watchRun(started.runId);
    },
  );

// --- clones --------------------------------------------------------------------------------------

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const readJson = async (flag: string, file: string): Promise<unknown> => {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (err) {
    return fail(`${flag}: ${file}: ${(err as Error).message}`);
  }
};

type PlanSummary = {
  source: { name: string; cloud: string; location: string };
  target: { site: string; account: string; cloud: string };
  spec: {
    name: string;
    location: string;
    version: string;
    nodePools: { name: string; machineType: string; count: number }[];
  };
  warnings: { field: string; message: string }[];
};

/** What a plan will do, for a person (stderr, so stdout stays the plan's JSON). */
const describePlan = (plan: PlanSummary | null, problems: { field: string; message: string }[]): string[] => {
  if (!plan) return ['  (no plan: see the problems)'];
  const s = plan.spec;
  return [
    `${plan.source.cloud} ${plan.source.name} (${plan.source.location}) → ${plan.target.cloud} ${s.name} in ${s.location} (site ${plan.target.site}, account ${plan.target.account}), Kubernetes ${s.version}`,
    ...s.nodePools.map((p) => `  pool ${p.name}: ${p.count} × ${p.machineType}`),
    ...plan.warnings.map((w) => `  warning ${w.field}: ${w.message}`),
    ...problems.map((p) => `  TO FIX ${p.field}: ${p.message}`),
  ];
};

program
  .command('clone')
  .description('clone clusters to another cloud account (any cloud), with their workloads if asked')
  .option(
    '--from <cluster-id|site[/location]>',
    'a cluster (its inventory id), or every cluster of a site (and location) that --label-filter picks',
  )
  .option('--to <site/account[/location]>', 'the target: a site, one of its cloud accounts, a location')
  .option('-l, --label-filter <selector>', 'clone every cluster whose labels match, e.g. env=prod')
  .option('--name <name>', 'the clone’s name (one cluster; default: the source’s)')
  .option('--name-suffix <suffix>', 'appended to each source’s name')
  .option(
    '--extras <extras.json>',
    'what the target cloud needs, e.g. {"eks":{"roleArn":…,"subnetIds":[…],"nodeRoleArn":…}}',
  )
  .option('-n, --namespaces <ns,...>', 'migrate these namespaces', collect)
  .option('--workload-selector <selector>', 'migrate the objects whose labels match')
  .option('--include-secrets', 'migrate Secrets too (they pass through the workflow history)')
  .option(
    '--mappings <mappings.json>',
    'storage class, ingress class and annotation tables (default: curated)',
  )
  .option('--waves <waves>', "waves: counts, percentages, 'sel:<selector>' (default 100%)")
  .option('--max-parallel <n>', 'clones at once (default 5)')
  .option('--budget <n|n%>', 'failures tolerated before the run pauses (default 0)')
  .option('--pause-between-waves', 'wait for `drover runs resume` after each wave')
  .option('--rollback-window <seconds>', 'how long finished clones can still be rolled back (default 3600)')
  .option('--dry-run', 'print the plan as JSON (edit it, then --plan it) and make nothing')
  .option('--plan <plan.json>', 'execute a plan a dry run printed, edited or not')
  .option('--watch', 'follow the run until it is over, like drover runs watch')
  .action(
    async (opts: {
      from?: string;
      to?: string;
      labelFilter?: string;
      name?: string;
      nameSuffix?: string;
      extras?: string;
      namespaces?: string[];
      workloadSelector?: string;
      includeSecrets?: boolean;
      mappings?: string;
      waves?: string;
      maxParallel?: string;
      budget?: string;
      pauseBetweenWaves?: boolean;
      rollbackWindow?: string;
      dryRun?: boolean;
      plan?: string;
      watch?: boolean;
    }) => {
      const strategy = waveStrategy(opts);

      let path: '/v1/clones' | '/v1/clones:bulk';
      let body: Record<string, unknown>;
      if (opts.plan) {
        if (opts.from || opts.to || opts.labelFilter)
          fail('--plan: the plan says what to clone; drop --from, --to and --label-filter');
        const doc = (await readJson('--plan', opts.plan)) as {
          plan?: unknown;
          plans?: unknown;
          strategy?: object;
          spec?: unknown;
        };
        if (Array.isArray(doc.plans)) {
          path = '/v1/clones:bulk';
          body = { plans: doc.plans, strategy: { ...(doc.strategy ?? {}), ...strategy } };
        } else if (doc.plan !== undefined || doc.spec !== undefined) {
          path = '/v1/clones';
          body = { plan: doc.plan ?? doc };
          if (strategy.rollbackWindowSeconds !== undefined)
            body.rollbackWindowSeconds = strategy.rollbackWindowSeconds;
        } else {
          return fail(`--plan: ${opts.plan} holds neither a plan nor plans (run with --dry-run to get one)`);
        }
      } else {
        if (!opts.from || !opts.to)
          fail('clone: name the source with --from and the target with --to (or give --plan)');
        const [site, account, location, ...rest] = (opts.to as string).split('/');
        if (!site || !account || rest.length > 0)
          fail(`--to: '${opts.to ?? ''}' is not site/account[/location]`);
        const target: Record<string, unknown> = { site, account };
        if (location) target.location = location;
        if (opts.nameSuffix !== undefined) target.nameSuffix = opts.nameSuffix;
        if (opts.extras) target.extras = await readJson('--extras', opts.extras);
        let workloads: Record<string, unknown> | undefined;
        if (opts.namespaces || opts.workloadSelector) {
          workloads = {
            ...(opts.namespaces ? { namespaces: opts.namespaces } : {}),
            ...(opts.workloadSelector ? { selector: opts.workloadSelector } : {}),
            ...(opts.includeSecrets ? { includeSecrets: true } : {}),
            ...(opts.mappings ? { mappings: await readJson('--mappings', opts.mappings) } : {}),
          };
        }
        const from = opts.from as string;
        if (UUID.test(from) && !opts.labelFilter) {
          if (opts.name !== undefined) target.name = opts.name;
          path = '/v1/clones';
          body = { source: { clusterId: from }, target, ...(workloads ? { workloads } : {}) };
          if (strategy.rollbackWindowSeconds !== undefined)
            body.rollbackWindowSeconds = strategy.rollbackWindowSeconds;
        } else {
          if (opts.name !== undefined) fail('--name: names one clone; with many use --name-suffix');
          const source: Record<string, unknown> = {};
          if (UUID.test(from)) source.clusterIds = [from];
          else {
            const [fromSite, fromLocation, ...more] = from.split('/');
            if (!fromSite || more.length > 0)
              fail(`--from: '${from}' is neither a cluster id nor site[/location]`);
            source.sites = [fromSite];
            if (fromLocation) source.location = fromLocation;
          }
          if (opts.labelFilter) source.selector = opts.labelFilter;
          path = '/v1/clones:bulk';
          body = { source, target, ...(workloads ? { workloads } : {}), strategy };
        }
      }

      const client = await api();
      if (opts.dryRun) {
        const r = await client<{
          plan?: PlanSummary | null;
          plans?: (PlanSummary | null)[];
          problems: { field: string; message: string }[];
        }>('POST', path, { ...body, dryRun: true });
        // stdout: the plan, to edit and submit with --plan; stderr: what it says, for a person.
        print(r);
        if (!asJson()) {
          const plans = r.plans ?? [r.plan ?? null];
          const lines = plans.flatMap((p, i) =>
            describePlan(
              p,
              r.problems.filter((x) => (r.plans ? x.field.startsWith(`body.plans.${i}.`) : true)),
            ),
          );
          process.stderr.write(
            `dry run: ${plans.length} clone${plans.length === 1 ? '' : 's'} planned; nothing made\n${lines.join('\n')}\n`,
          );
          if (r.problems.length > 0)
            process.stderr.write('fill in what is marked TO FIX, then: drover clone --plan FILE\n');
        }
        return;
      }
      const started = await client<{ runId: string; count?: number }>('POST', path, body);
      if (asJson() && !opts.watch) return print(started);
      console.log(started.runId);
      if (!opts.watch) {
        console.error(
          `cloning ${started.count ?? 1} cluster${(started.count ?? 1) === 1 ? '' : 's'}; follow it with: drover runs watch ${started.runId}`,
        );
        return;
      }
      process.exitCode = await watchRun(started.runId);
    },
  );

addMaintenanceCommands(program, { api, asJson, print, table, ago, fail, watchRun });

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
  } else if (err instanceof CliError) {
    console.error(`drover: ${err.message}`);
    process.exitCode = 1;
  } else {
    throw err;
  }
}
