import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { ApiClient } from './client.ts';

/**
 * `drover schedules …`, `drover maintenance run` and `drover drift ls`: thin clients of
 * /v1/schedules, /v1/maintenance and /v1/drift. The shared plumbing (API client, output) is
 * handed in by cli/drover.ts.
 */
export type CliKit = {
  api: () => Promise<ApiClient>;
  asJson: () => boolean;
  print: (value: unknown) => void;
  table: (rows: string[][]) => string;
  ago: (iso: string | null) => string;
  fail: (message: string) => never;
  /** Follows a run until it ends; the exit code. */
  watchRun: (id: string) => Promise<number>;
};

type ScheduleItem = {
  id: string;
  kind: string | null;
  paused: boolean;
  note: string | null;
  nextRunTime: string | null;
  lastRun: { runId: string; startedAt: string } | null;
};
type ScheduleView = {
  id: string;
  kind: string;
  description: string;
  spec: { cron?: string[]; intervals?: { every: string; offset?: string }[]; timezone?: string };
  policy: { overlap: string; catchupWindow: string; pauseOnFailure: boolean };
  paused: boolean;
  note: string | null;
  nextRunTimes: string[];
  recentRuns: { runId: string; startedAt: string }[];
  runs?: { id: string; status: string; startedAt: string | null }[];
  counts: { started: number; missedCatchupWindow: number; skippedOverlap: number };
};
type DriftItem = {
  clusterName: string;
  site: string;
  releaseName: string;
  status: string;
  checkedAt: string;
  objects: {
    kind: string;
    namespace: string | null;
    name: string;
    state: string;
    fields: { path: string }[];
  }[];
  omitted?: number;
  error: string | null;
};

const collect = (value: string, previous: string[] = []) => [...previous, value];

const timing = (s: ScheduleView['spec']): string =>
  [
    ...(s.cron ?? []).map((c) => `cron ${c}${s.timezone ? ` ${s.timezone}` : ''}`),
    ...(s.intervals ?? []).map((i) => `every ${i.every}${i.offset ? `+${i.offset}` : ''}`),
  ].join(', ');

type MaintenanceFlags = {
  drift?: string;
  expired?: boolean;
  grace?: string;
  dryRun?: boolean;
  versions?: boolean;
  warnWithin?: string;
};

/** A maintenance spec from the command line's task flags. */
const maintenanceSpec = (o: MaintenanceFlags, fail: CliKit['fail']) => {
  const spec: Record<string, unknown> = {};
  if (o.drift !== undefined) {
    if (o.drift !== 'report' && o.drift !== 'repair')
      fail(`--drift: '${o.drift}' is neither report nor repair`);
    spec.drift = { policy: o.drift };
  }
  if (o.expired) {
    spec.expiredClusters = {
      ...(o.grace ? { grace: o.grace } : {}),
      ...(o.dryRun ? { dryRun: true } : {}),
    };
  }
  if (o.versions) spec.versions = o.warnWithin ? { warnWithin: o.warnWithin } : {};
  if (Object.keys(spec).length === 0) fail('name a task: --drift report|repair, --expired, --versions');
  return spec;
};

const addTaskOptions = (command: Command) =>
  command
    .option('--drift <policy>', 'check drift of deployed releases: report or repair')
    .option('--expired', 'delete clusters past their expiry (expiresAt or the drover.io/ttl label)')
    .option('--grace <duration>', 'with --expired: wait this long past expiry (default 1h)')
    .option('--dry-run', 'with --expired: list what would go, delete nothing')
    .option('--versions', "report each cluster's Kubernetes version against its support window")
    .option(
      '--warn-within <duration>',
      'with --versions: flag versions leaving support this soon (default 90d)',
    );

export const addMaintenanceCommands = (program: Command, kit: CliKit): void => {
  const { api, asJson, print, table, ago, fail } = kit;
  const schedules = program
    .command('schedules')
    .description('schedules: rollouts, maintenance and discovery on a timetable (Temporal Schedules)');

  schedules
    .command('ls')
    .description('list schedules')
    .action(async () => {
      const { items } = await (await api())<{ items: ScheduleItem[] }>('GET', '/v1/schedules');
      if (asJson()) return print(items);
      if (items.length === 0) return console.log('no schedules');
      console.log(
        table([
          ['ID', 'KIND', 'STATE', 'NEXT', 'LAST RUN'],
          ...items.map((s) => [
            s.id,
            s.kind ?? '-',
            s.paused ? 'paused' : 'active',
            s.nextRunTime ?? '-',
            s.lastRun ? `${s.lastRun.runId} (${ago(s.lastRun.startedAt)})` : '-',
          ]),
        ]),
      );
    });

  schedules
    .command('show')
    .description('one schedule: definition, state, next times, the runs it started')
    .argument('<id>', 'schedule id')
    .action(async (id: string) => {
      const s = await (await api())<ScheduleView>('GET', `/v1/schedules/${encodeURIComponent(id)}`);
      if (asJson()) return print(s);
      console.log(
        [
          `schedule  ${s.id} (${s.kind})${s.description ? ` — ${s.description}` : ''}`,
          `when      ${timing(s.spec)}`,
          `policy    overlap ${s.policy.overlap}, catch-up ${s.policy.catchupWindow}${s.policy.pauseOnFailure ? ', pauses on failure' : ''}`,
          `state     ${s.paused ? `paused${s.note ? ` (${s.note})` : ''}` : 'active'}`,
          `next      ${s.nextRunTimes.slice(0, 3).join(', ') || '-'}`,
          `started   ${s.counts.started} run(s), ${s.counts.skippedOverlap} skipped (overlap), ${s.counts.missedCatchupWindow} missed`,
          ...(s.runs ?? []).map((r) => `run       ${r.id}  ${r.status}  ${ago(r.startedAt)}`),
        ].join('\n'),
      );
    });

  addTaskOptions(
    schedules
      .command('create')
      .description('create a schedule')
      .argument('<id>', 'schedule id (a DNS label)')
      .requiredOption('--kind <kind>', 'deploy, maintenance or discovery')
      .option('--cron <expr>', "cron expression, e.g. '0 3 * * *' (repeatable)", collect)
      .option('--every <duration>', 'interval, e.g. 15m or 1h30m (repeatable)', collect)
      .option('--tz <zone>', 'time zone of the cron times, e.g. Europe/Berlin')
      .option(
        '--overlap <policy>',
        'skip, buffer-one, buffer-all, cancel-other, terminate-other or allow-all',
      )
      .option('--catchup <duration>', 'times missed by at most this long still run (default 10m)')
      .option('--pause-on-failure', 'pause the schedule when a run fails')
      .option('--paused', 'create it paused')
      .option('--description <text>', 'what it is for')
      .option(
        '-f, --deployment <file.json>',
        'kind deploy: the deployment request (as POST /v1/deployments takes)',
      )
      .option('--site <site>', 'kind discovery: the site to rediscover'),
  ).action(
    async (
      id: string,
      o: MaintenanceFlags & {
        kind: string;
        cron?: string[];
        every?: string[];
        tz?: string;
        overlap?: string;
        catchup?: string;
        pauseOnFailure?: boolean;
        paused?: boolean;
        description?: string;
        deployment?: string;
        site?: string;
      },
    ) => {
      let action: Record<string, unknown>;
      if (o.kind === 'deploy') {
        if (!o.deployment) fail('--kind deploy needs --deployment <file.json>');
        let deployment: unknown;
        try {
          deployment = JSON.parse(await readFile(o.deployment as string, 'utf8')) as unknown;
        } catch (err) {
          fail(`--deployment: ${o.deployment as string}: ${(err as Error).message}`);
        }
        action = { kind: 'deploy', deployment };
      } else if (o.kind === 'maintenance') {
        action = { kind: 'maintenance', maintenance: maintenanceSpec(o, fail) };
      } else if (o.kind === 'discovery') {
        if (!o.site) fail('--kind discovery needs --site <site>');
        action = { kind: 'discovery', site: o.site };
      } else {
        return fail(`--kind: '${o.kind}' is not deploy, maintenance or discovery`);
      }
      const s = await (
        await api()
      )<ScheduleView>('POST', '/v1/schedules', {
        id,
        ...(o.description ? { description: o.description } : {}),
        spec: {
          ...(o.cron ? { cron: o.cron } : {}),
          ...(o.every ? { intervals: o.every.map((every) => ({ every })) } : {}),
          ...(o.tz ? { timezone: o.tz } : {}),
        },
        ...(o.overlap || o.catchup || o.pauseOnFailure
          ? {
              policy: {
                ...(o.overlap ? { overlap: o.overlap } : {}),
                ...(o.catchup ? { catchupWindow: o.catchup } : {}),
                ...(o.pauseOnFailure ? { pauseOnFailure: true } : {}),
              },
            }
          : {}),
        action,
        paused: o.paused === true,
      });
      if (asJson()) return print(s);
      console.log(
        `created ${s.id} (${s.kind}, ${timing(s.spec)})${s.paused ? ', paused' : `; next ${s.nextRunTimes[0] ?? '-'}`}`,
      );
    },
  );

  schedules
    .command('rm')
    .description('delete a schedule (runs it started go on)')
    .argument('<id>', 'schedule id')
    .action(async (id: string) => {
      await (
        await api()
      )('DELETE', `/v1/schedules/${encodeURIComponent(id)}`);
      console.log(`deleted ${id}`);
    });

  for (const verb of ['pause', 'unpause'] as const) {
    schedules
      .command(verb)
      .description(
        verb === 'pause' ? 'pause a schedule: it starts nothing until unpaused' : 'unpause a schedule',
      )
      .argument('<id>', 'schedule id')
      .option('--note <text>', 'why (shown with the schedule)')
      .action(async (id: string, o: { note?: string }) => {
        const s = await (
          await api()
        )<ScheduleView>(
          'POST',
          `/v1/schedules/${encodeURIComponent(id)}/${verb}`,
          o.note ? { note: o.note } : {},
        );
        if (asJson()) return print(s);
        console.log(`${s.id}: ${s.paused ? 'paused' : 'active'}${s.note ? ` (${s.note})` : ''}`);
      });
  }

  schedules
    .command('trigger')
    .description('start one run now (paused or not) and print its id')
    .argument('<id>', 'schedule id')
    .option('--watch', 'follow the run until it ends')
    .action(async (id: string, o: { watch?: boolean }) => {
      const client = await api();
      const { runId } = await client<{ runId: string | null }>(
        'POST',
        `/v1/schedules/${encodeURIComponent(id)}/trigger`,
      );
      if (!runId)
        return fail(
          `triggered, but ${id} had not started the run yet; look for it with: drover schedules show ${id}`,
        );
      if (!o.watch) return asJson() ? print({ runId }) : console.log(runId);
      process.exitCode = await kit.watchRun(runId);
    });

  schedules
    .command('backfill')
    .description('run the times the schedule would have fired between --from and --to, now')
    .argument('<id>', 'schedule id')
    .requiredOption('--from <time>', 'ISO 8601 start')
    .requiredOption('--to <time>', 'ISO 8601 end')
    .option('--overlap <policy>', "overlap policy for the backfill (default: the schedule's)")
    .action(async (id: string, o: { from: string; to: string; overlap?: string }) => {
      await (
        await api()
      )('POST', `/v1/schedules/${encodeURIComponent(id)}/backfill`, {
        start: o.from,
        end: o.to,
        ...(o.overlap ? { overlap: o.overlap } : {}),
      });
      console.log(`backfilling ${id} from ${o.from} to ${o.to}; its runs: drover schedules show ${id}`);
    });

  const maintenance = program.command('maintenance').description('maintenance runs');
  addTaskOptions(
    maintenance
      .command('run')
      .description('start a maintenance run now')
      .option('--watch', 'follow the run and print its report'),
  ).action(async (o: MaintenanceFlags & { watch?: boolean }) => {
    const { runId } = await (
      await api()
    )<{ runId: string }>('POST', '/v1/maintenance', maintenanceSpec(o, fail));
    if (!o.watch) return asJson() ? print({ runId }) : console.log(runId);
    process.exitCode = await kit.watchRun(runId);
  });

  const drift = program
    .command('drift')
    .description('drift of deployed releases, as the last check found it');
  drift
    .command('ls')
    .description('the latest drift check of each release on each cluster')
    .option('--status <status>', 'in-sync, drifted, repaired or error')
    .option('--site <site>', 'only this site')
    .option('--cluster <id>', 'only this cluster')
    .action(async (o: { status?: string; site?: string; cluster?: string }) => {
      const client = await api();
      const items: DriftItem[] = [];
      let cursor: string | null = null;
      do {
        const q = new URLSearchParams({ limit: '1000' });
        for (const [k, v] of Object.entries(o)) if (typeof v === 'string') q.set(k, v);
        if (cursor) q.set('cursor', cursor);
        const page: { items: DriftItem[]; nextCursor: string | null } = await client(
          'GET',
          `/v1/drift?${q.toString()}`,
        );
        items.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      if (asJson()) return print(items);
      if (items.length === 0) return console.log('no drift checks match');
      console.log(
        table([
          ['CLUSTER', 'SITE', 'RELEASE', 'STATUS', 'CHECKED', 'WHAT'],
          ...items.map((d) => [
            d.clusterName,
            d.site,
            d.releaseName,
            d.status,
            ago(d.checkedAt),
            d.error ??
              (d.objects
                .map(
                  (x) =>
                    `${x.kind} ${x.namespace ? `${x.namespace}/` : ''}${x.name} (${x.state === 'missing' ? 'missing' : x.fields.map((f) => f.path).join(', ')})`,
                )
                .concat(d.omitted ? [`… and ${d.omitted} more objects`] : [])
                .join('; ') ||
                '-'),
          ]),
        ]),
      );
    });
};
