/**
 * A rollout to 10,000 clusters, end to end on real parts: a Temporal dev server, Postgres,
 * the API (in process), the control worker and one site worker whose kubeconfig holds one
 * context per cluster, spread over a few real Kubernetes API servers. The run shards into
 * child workflows of 500 targets and continues as new, as it does in production.
 *
 *   node bench/deploy-scale.bench.ts                   # 10,000 clusters on 4 API servers
 *   BENCH_CLUSTERS=1000 BENCH_SERVERS=2 BENCH_PARALLEL=100 node bench/deploy-scale.bench.ts
 *   BENCH_ISOLATION=both BENCH_CLUSTERS=1000 BENCH_SERVERS=2 node bench/deploy-scale.bench.ts
 *       # the same rollout `open` and `isolated`, alternately (2 rounds each), then a side-by-side
 *       # table: what site isolation costs. Both run on drover's Temporal server
 *       # (tools/temporal-authz, the same storage) and reach the site over its Nexus link, in the
 *       # site's own namespace. `open`: no authorization, no TLS, payloads in clear. `isolated`:
 *       # authorization on, TLS, every process on its own JWT (the site's reaches its namespace
 *       # only), payloads encrypted.
 *   BENCH_ISOLATION=off node bench/deploy-scale.bench.ts   # `open` only (default: `isolated`)
 *
 * Prints progress every 10 s, then: wall time, targets per second, shards, the longest
 * history of any workflow of the run (Temporal's limit is 51,200 events), the largest
 * payload the run's workflows carried, and this process's peak resident memory.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { stringify } from 'yaml';
import { createSiteActivities } from '../activities/site/index.ts';
import { buildApp } from '../api/app.ts';
import { createTokenStore } from '../api/auth.ts';
import { openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import type { DeployProgress } from '../domain/deployments.ts';
import { siteNamespace } from '../domain/site-link.ts';
import { ensureDevCa } from '../sandbox/dev-ca.ts';
import { startKubeEnv } from '../sandbox/kube-env.ts';
import {
  registerNamespaces,
  startAuthorizedTemporal,
  writeJwks,
} from '../test/support/authorized-temporal.ts';
import { startPostgres } from '../test/support/services.ts';
import { encryptedDataConverter, newKeyring } from '../runtime/payload-codec.ts';
import { ensureSiteLink } from '../runtime/site-link.ts';
import { newSigningKey, signControlToken, signSiteToken } from '../runtime/temporal-credentials.ts';
import { createControlWorker } from '../workers/control-worker.ts';
import { createSiteWorker } from '../workers/site-worker.ts';

const CLUSTERS = Number(process.env.BENCH_CLUSTERS ?? 10_000);
const SERVERS = Number(process.env.BENCH_SERVERS ?? 4);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 200);
const SITE = 'bench';
type Mode = 'open' | 'isolated';
const MODES: Mode[] =
  process.env.BENCH_ISOLATION === 'both'
    ? ['open', 'isolated', 'open', 'isolated']
    : process.env.BENCH_ISOLATION === 'off'
      ? ['open']
      : ['isolated'];
const keyring = newKeyring();
type Outcome = { mode: Mode; seconds: number; longest: number; status: string };

const dir = mkdtempSync(join(tmpdir(), 'drover-bench-deploy-'));
const logDir = join(dir, 'logs');
mkdirSync(logDir, { recursive: true });
Runtime.install({
  logger: {
    log: () => {},
    trace: () => {},
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: console.error,
  },
});

const namespace = 'drover-bench';
// The isolated setup's credentials: one key for the control plane, one for the site, published
// as the JWKS file the authorizing server reads.
const ca = ensureDevCa(join(dir, 'ca'));
const controlKey = newSigningKey('control-1');
const siteKey = newSigningKey(`site-${SITE}-1`);
const jwksPath = join(dir, 'jwks.json');
writeJwks(jwksPath, [controlKey, siteKey]);
const [open, authorized, postgres, kube] = await Promise.all([
  MODES.includes('open')
    ? startAuthorizedTemporal({
        dir: join(dir, 'open'),
        jwksUri: `file://${jwksPath}`,
        refreshSeconds: 60,
        logFile: join(logDir, 'open-temporal.log'),
        authorization: false,
      })
    : undefined,
  MODES.includes('isolated')
    ? startAuthorizedTemporal({
        dir: join(dir, 'authorized'),
        jwksUri: `file://${jwksPath}`,
        refreshSeconds: 60,
        logFile: join(logDir, 'authorized-temporal.log'),
        nexusCallers: `${namespace}-site-*=${namespace}`,
        tls: ca,
      })
    : undefined,
  startPostgres(logDir),
  startKubeEnv({ clusters: SERVERS, baseDir: join(dir, 'kube'), namePrefix: 'bench' }),
]);
const stopAll = async () => {
  await kube.stop({ removeData: true });
  await open?.stop();
  await authorized?.stop();
  postgres.process.kill('SIGTERM');
};

/** How each process reaches Temporal in a mode: its own credential when isolated. */
const link = (mode: Mode, holder: 'control' | 'site') =>
  mode === 'open'
    ? { address: open?.address ?? '' }
    : {
        address: authorized?.address ?? '',
        tls: { serverRootCACertificate: ca.ca },
        apiKey:
          holder === 'control'
            ? signControlToken(controlKey, { ttlSeconds: 6 * 3600 })
            : signSiteToken(siteKey, { controlNamespace: namespace, name: SITE }, { ttlSeconds: 6 * 3600 }),
      };

try {
  if (authorized) {
    const admin = await Connection.connect(link('isolated', 'control'));
    await registerNamespaces(admin, [namespace]);
    await admin.close();
  }
  if (open) {
    const dev = await Connection.connect(link('open', 'control'));
    await registerNamespaces(dev, [namespace]);
    await dev.close();
  }
  const db = await openDatabase(postgres.url());
  await migrate(db);

  // One context per cluster, each on one of the API servers.
  const names = Array.from({ length: CLUSTERS }, (_, i) => `c${String(i).padStart(5, '0')}`);
  const kubeconfigPath = join(dir, 'site.yaml');
  writeFileSync(
    kubeconfigPath,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: kube.clusters.map((k) => ({
        name: k.name,
        cluster: { server: k.server, 'certificate-authority-data': Buffer.from(k.caData).toString('base64') },
      })),
      users: kube.clusters.map((k) => ({ name: k.name, user: { token: k.adminToken } })),
      contexts: names.map((n, i) => {
        const k = kube.clusters[i % SERVERS];
        return { name: n, context: { cluster: k?.name, user: k?.name } };
      }),
      'current-context': names[0],
    }),
  );
  await db.query(`INSERT INTO sites (tenant_id, name) VALUES ('default', $1)`, [SITE]);
  for (let i = 0; i < CLUSTERS; i += 2000) {
    await db.query(
      `INSERT INTO clusters (id, tenant_id, site, name, context, provider, labels, status, origin)
       SELECT (c->>'id')::uuid, 'default', $2, c->>'name', c->>'name', 'kubeconfig', c->'labels', 'ready', 'discovered'
         FROM jsonb_array_elements($1::jsonb) AS c`,
      [
        JSON.stringify(
          names.slice(i, i + 2000).map((name, j) => ({
            id: randomUUID(),
            name,
            labels: { ring: (i + j) % 10 === 0 ? 'canary' : 'main' },
          })),
        ),
        SITE,
      ],
    );
  }

  // Made once: ensureAdmin hands out the token only when it creates it.
  const token = (await createTokenStore(db).ensureAdmin()) ?? '';
  const runOnce = async (mode: Mode, round: number): Promise<Outcome> => {
    const connection = await NativeConnection.connect(link(mode, 'control'));
    const clientConnection = await Connection.connect(link(mode, 'control'));
    const siteConnection = await NativeConnection.connect(link(mode, 'site'));
    const dataConverter = mode === 'isolated' ? encryptedDataConverter(keyring) : {};
    const client = new Client({ connection: clientConnection, namespace, dataConverter });
    const control = await createControlWorker({ connection, namespace, db, dataConverter });
    // Enrollment's part: the site's namespace and endpoint, made by the control plane.
    await ensureSiteLink(clientConnection, namespace, SITE);
    const site = await createSiteWorker({
      connection: siteConnection,
      controlNamespace: namespace,
      site: SITE,
      dataConverter,
      maxConcurrentActivityTaskExecutions: PARALLEL,
      activities: createSiteActivities({
        site: SITE,
        identity: 'bench-site',
        version: 'bench',
        kubeconfigPath,
        stateDir: join(dir, 'site-state'),
        // The site reads release content in its own namespace, with its own credential.
        temporal: new Client({
          connection: siteConnection,
          namespace: siteNamespace(namespace, SITE),
          dataConverter,
        }),
      }),
    });
    const workers = Promise.all([control.run(), site.run()]);

    const app = await buildApp({ db, temporal: client, siteOfflineAfterMs: 60_000, logger: false });
    const call = async <T>(method: 'GET' | 'POST', url: string, payload?: unknown): Promise<T> => {
      const res = await app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${token}` },
        payload: payload as object,
      });
      if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
      return res.json<T>();
    };

    // A release per round: its workflow's history is written in that round's encoding.
    const release = await call<{ id: string }>('POST', '/v1/releases', {
      name: `bench-${round}`,
      manifests: [
        'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-app',
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: bench-app\ndata:\n  color: blue\n  round: "${round}"`,
      ].join('\n---\n'),
    });
    const t0 = performance.now();
    const started = await call<{ runId: string; waves: number[] }>('POST', '/v1/deployments', {
      releaseId: release.id,
      placement: { sites: [SITE] },
      strategy: {
        waves: [{ selector: 'ring=canary' }, { percent: 100 }],
        maxParallel: PARALLEL,
        failureBudget: { percent: 1 },
        rollbackWindowSeconds: 0,
      },
    });
    const planMs = performance.now() - t0;
    console.log(
      `${CLUSTERS} clusters on ${SERVERS} API servers, maxParallel ${PARALLEL}, ${mode === 'isolated' ? 'isolated (authorization, TLS, encrypted payloads)' : 'open (no authorization, no TLS, payloads in clear)'}; run ${started.runId}, waves ${started.waves.join(' + ')}, planned and started in ${planMs.toFixed(0)} ms`,
    );

    let progress: DeployProgress | undefined;
    let status = 'running';
    let lastPrint = 0;
    while (status === 'running') {
      await new Promise((r) => setTimeout(r, 1000));
      const view = await call<{ status: string; progress?: DeployProgress }>(
        'GET',
        `/v1/runs/${started.runId}`,
      );
      status = view.status;
      progress = view.progress;
      if (performance.now() - lastPrint > 10_000 && progress) {
        lastPrint = performance.now();
        const c = progress.counts;
        console.log(
          `  ${((performance.now() - t0) / 1000).toFixed(0)} s: ${c.succeeded} succeeded, ${c.running} running, ${c.failed} failed, shard ${progress.shards.finished + 1}/${progress.shards.total}, ${progress.phase}`,
        );
      }
    }
    const seconds = (performance.now() - t0) / 1000;

    // Every workflow of the run: its executions (continued as new) and its shards.
    let longest = { id: '', events: 0 };
    let largestPayload = 0;
    let executions = 0;
    const queue: { id: string; runId?: string }[] = [{ id: started.runId }];
    for (let i = 0; i < queue.length; i++) {
      const { id, runId } = queue[i] as { id: string; runId?: string };
      const history = await client.workflow.getHandle(id, runId).fetchHistory();
      executions++;
      const events = history.events ?? [];
      if (events.length > longest.events) longest = { id, events: events.length };
      for (const e of events) {
        const previous = e.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
        if (previous) queue.push({ id, runId: previous });
        const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
        if (child) queue.push({ id: child });
        for (const p of [
          ...(e.workflowExecutionStartedEventAttributes?.input?.payloads ?? []),
          ...(e.activityTaskCompletedEventAttributes?.result?.payloads ?? []),
          ...(e.activityTaskScheduledEventAttributes?.input?.payloads ?? []),
          ...(e.nexusOperationScheduledEventAttributes?.input
            ? [e.nexusOperationScheduledEventAttributes.input]
            : []),
          ...(e.childWorkflowExecutionCompletedEventAttributes?.result?.payloads ?? []),
        ]) {
          largestPayload = Math.max(largestPayload, p.data?.length ?? 0);
        }
      }
    }
    const c = progress?.counts;
    console.log(
      `done: ${status}, phase ${progress?.phase}: ${c?.succeeded} succeeded, ${c?.failed} failed, ${c?.skipped} skipped`,
    );
    console.log(`wall ${seconds.toFixed(1)} s, ${(CLUSTERS / seconds).toFixed(1)} clusters/s`);
    console.log(
      `${progress?.shards.total} shards, ${executions} workflow executions; longest history ${longest.events} events (${longest.id}); largest payload ${(largestPayload / 1024).toFixed(1)} KiB`,
    );
    console.log(
      `peak RSS of this process so far (API + both workers): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
    );

    control.shutdown();
    site.shutdown();
    await workers;
    await app.close();
    await connection.close();
    await siteConnection.close();
    await clientConnection.close();
    return { mode, seconds, longest: longest.events, status };
  };

  const outcomes: Outcome[] = [];
  for (const [round, mode] of MODES.entries()) outcomes.push(await runOnce(mode, round));
  await db.close();
  if (MODES.length > 1) {
    const mean = (m: Mode) => {
      const runs = outcomes.filter((o) => o.mode === m);
      return runs.reduce((sum, o) => sum + o.seconds, 0) / runs.length;
    };
    console.log('\nside by side (same fleet, same release size, alternating rounds):');
    console.log('  mode       wall s (each round)      mean s   clusters/s   longest history');
    for (const m of ['open', 'isolated'] as const) {
      const runs = outcomes.filter((o) => o.mode === m);
      console.log(
        `  ${m.padEnd(10)} ${runs
          .map((o) => o.seconds.toFixed(1))
          .join(', ')
          .padEnd(
            24,
          )} ${mean(m).toFixed(1).padStart(6)}   ${(CLUSTERS / mean(m)).toFixed(1).padStart(10)}   ${Math.max(...runs.map((o) => o.longest))}`,
      );
    }
    console.log(`  isolated / open: ${((mean('isolated') / mean('open') - 1) * 100).toFixed(1)} % wall time`);
  }
} finally {
  await stopAll();
}
