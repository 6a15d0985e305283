import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { buildApp, type App } from '../../api/app.ts';
import { createTokenStore } from '../../api/auth.ts';
import type { Cluster } from '../../api/routes/clusters.ts';
import type { Db } from '../../db/database.ts';
import type { DeployProgress, TargetProgress } from '../../domain/deployments.ts';
import type { Run } from '../../domain/runs.ts';
import { startFleet, stopChild, type Fleet, type FleetSite } from '../../sandbox/netns-fleet.ts';
import { execInSite, siteNetworksUnavailable, spawnInSite } from '../../sandbox/site-netns.ts';
import { decodedHistoryText, deployActivityCalls, deployActivityCompletions } from '../support/drover.ts';
import {
  freshPostgres,
  logDir,
  payloadKeysPath,
  repoRoot,
  testDataConverter,
  uniq,
  waitUntil,
} from '../support/env.ts';
import { spawnGuarded } from '../support/services.ts';

/**
 * The manager of managers on real networks: two sites, each a Linux network namespace whose
 * only way out is TCP to the Temporal frontend, each with its own real API servers and its own
 * sub-manager. The API and the control worker run outside, in the host's network, with no
 * route into any site. Proves: a rollout reaches both sites; nothing central can connect to a
 * site's API server; the sub-manager listens on no port; a site cut off for more than a
 * minute leaves its targets waiting while the other site's finish, and completes once its
 * link is back, applying nothing twice; past a site deadline its targets fail against the
 * budget; no site credential reaches the database, the API or any workflow history.
 */
const unavailable = siteNetworksUnavailable();
if (unavailable) {
  // Loud, so a skipped proof is never mistaken for a passed one.
  console.warn(`netns-sites: SKIPPED — ${unavailable} (needs root, iproute2 and nftables)`);
}
const describeNetns = unavailable ? describe.skip : describe;

const siteA = `nt-a-${uniq()}`;
const siteB = `nt-b-${uniq()}`;
const dir = mkdtempSync(join(tmpdir(), 'drover-netns-'));
let fleet: Fleet;
let db: Db;
let temporal: Client;
let app: App;
let token: string;
let control: ChildProcess | undefined;
/** Every API response body, scanned for credentials at the end. */
const responses: string[] = [];

type RunView = Run & { progress: DeployProgress };
const call = async <T>(method: 'GET' | 'POST', url: string, payload?: object) => {
  const res = await app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload ? { payload } : {}),
  });
  responses.push(res.body);
  return { status: res.statusCode, body: res.json<T>() };
};
const view = async (id: string) => (await call<RunView>('GET', `/v1/runs/${id}`)).body;
const byName = (targets: TargetProgress[]) => new Map(targets.map((t) => [t.name, t]));
const release = async (name: string) => {
  const r = await call<{ id: string }>('POST', '/v1/releases', {
    name,
    manifests: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: default\ndata:\n  rollout: ${name}\n`,
  });
  expect(r.status).toBe(201);
  return r.body.id;
};
const deploy = async (releaseId: string, strategy: object) => {
  const r = await call<{ runId: string }>('POST', '/v1/deployments', {
    releaseId,
    placement: { sites: [siteA, siteB] },
    strategy,
  });
  expect(r.status).toBe(202);
  return r.body.runId;
};
const waitForPhase = async (id: string, phase: string, timeoutMs: number) => {
  let p: DeployProgress | undefined;
  await waitUntil(
    `run ${id} to be ${phase}`,
    async () => (p = (await view(id)).progress).phase === phase && p.counts.running + p.counts.waiting === 0,
    timeoutMs,
  );
  return p as DeployProgress;
};
/** The ConfigMap a rollout wrote, read inside the site with kubectl. */
const configMapOn = (site: FleetSite, index: number, name: string) =>
  site.kubectl(site.clusters[index] as FleetSite['clusters'][number], [
    'get',
    'configmap',
    name,
    '-n',
    'default',
    '-o',
    'jsonpath={.data.rollout}',
  ]).stdout;

/** A plain TCP connect from this process (the host's network), settled within `ms`. */
const tcpConnects = (host: string, port: number, ms = 2_000) =>
  new Promise<boolean>((done) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      done(false);
    }, ms);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      done(true);
    });
    socket.once('error', () => {
      clearTimeout(timer);
      done(false);
    });
  });
/** The same from inside a site's namespace. */
const tcpConnectsFrom = (site: FleetSite, host: string, port: number) =>
  execInSite(site.namespace, 'timeout', ['3', 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`]).status === 0;
const netnsOf = (pid: number) => readlinkSync(`/proc/${pid}/ns/net`);
/**
 * A TCP listener on every address of a site (the API servers bind loopback only, so they prove
 * nothing about the firewall); resolves with its port and a way to stop it.
 */
const listenInSite = (site: FleetSite) =>
  new Promise<{ port: number; stop: () => Promise<void> }>((done, fail) => {
    const child = spawnInSite(
      site.namespace,
      process.execPath,
      [
        '-e',
        "const s = require('node:net').createServer((c) => c.end()).listen(0, '0.0.0.0', () => console.log(s.address().port));",
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const timer = setTimeout(() => fail(new Error(`no listener in ${site.name}`)), 10_000);
    child.once('exit', (code) => fail(new Error(`listener in ${site.name} exited (${code})`)));
    child.stdout?.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      done({ port: Number(chunk.toString().trim()), stop: () => stopChild(child) });
    });
  });
/** Whether a site's API server answers /readyz to this process (the host's network). */
const readyFromHost = (server: string, ca: Buffer) =>
  new Promise<boolean>((done) => {
    const req = httpsGet(`${server}/readyz`, { ca, timeout: 2_000 }, (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => done(false));
  });

beforeAll(async () => {
  if (unavailable) return;
  fleet = await startFleet({
    sites: [
      { name: siteA, clusters: 2, contextPrefix: 'a' },
      { name: siteB, clusters: 2, contextPrefix: 'b' },
    ],
    dir,
    logDir: logDir(),
    subManagerEnv: { DROVER_PAYLOAD_KEYS: payloadKeysPath() },
  });
  const pg = await freshPostgres();
  db = pg.db;
  temporal = new Client({
    connection: await Connection.connect({ address: fleet.temporalAddress }),
    dataConverter: testDataConverter(),
  });
  app = await buildApp({ db, temporal, siteOfflineAfterMs: 12_000, logger: false });
  token = (await createTokenStore(db).ensureAdmin()) ?? '';
  // The control worker: outside every site, on the host's network, talking to the same Temporal.
  control = spawnGuarded(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(repoRoot, 'workers/main.ts')],
    {
      env: {
        ...process.env,
        DATABASE_URL: pg.url,
        DROVER_TEMPORAL_ADDRESS: fleet.temporalAddress,
        DROVER_TEMPORAL_NAMESPACE: 'default',
        DROVER_PAYLOAD_KEYS: payloadKeysPath(),
        DROVER_LOG_LEVEL: 'info',
      },
      logFile: join(logDir(), `netns-control-${siteA}.log`),
      cwd: repoRoot,
    },
  );
  const discovered = async (site: string) =>
    (await call<{ items: Cluster[] }>('GET', `/v1/clusters?site=${site}`)).body.items.length === 2;
  await waitUntil(
    'both sites discovered',
    async () => (await discovered(siteA)) && discovered(siteB),
    120_000,
  );
}, 300_000);

afterAll(async () => {
  await stopChild(control ?? null);
  await app?.close();
  await temporal?.connection.close();
  await db?.close();
  await fleet?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describeNetns('sites in isolated networks', () => {
  it('lets a site out only to the Temporal frontend, and nothing central into a site', async () => {
    const [a, b] = [fleet.site(siteA), fleet.site(siteB)];
    // The central processes share the host's network (this process's): not any site's.
    const central = netnsOf(process.pid);
    expect(netnsOf(control?.pid ?? 0)).toBe(central);
    for (const site of [a, b]) {
      expect(netnsOf(site.subManager?.pid ?? 0)).not.toBe(central);
      expect(netnsOf(site.kubeEnv.pid ?? 0)).toBe(netnsOf(site.subManager?.pid ?? 0));
    }
    for (const site of [a, b]) {
      for (const cluster of site.clusters) {
        // Served inside the site…
        expect(tcpConnectsFrom(site, '127.0.0.1', cluster.port)).toBe(true);
        expect(site.kubectl(cluster, ['get', '--raw', '/readyz']).stdout).toBe('ok');
        // …and unreachable from the host: by the site's address, and by the name in its kubeconfig.
        expect(await tcpConnects(site.address, cluster.port)).toBe(false);
        // (TLS pinned to the site's CA: only that very server could answer.)
        const fromHost = await readyFromHost(cluster.server, readFileSync(cluster.caFile));
        expect(fromHost).toBe(false);
        // The other site cannot reach it either.
        const other = site === a ? b : a;
        expect(tcpConnectsFrom(other, site.address, cluster.port)).toBe(false);
      }
    }
    // The site's firewall itself: a port open on every address of the site is reachable inside
    // it, and neither from the host nor from the other site.
    for (const site of [a, b]) {
      const listener = await listenInSite(site);
      try {
        expect(tcpConnectsFrom(site, site.address, listener.port)).toBe(true);
        expect(await tcpConnects(site.address, listener.port)).toBe(false);
        expect(tcpConnectsFrom(site === a ? b : a, site.address, listener.port)).toBe(false);
      } finally {
        await listener.stop();
      }
    }
    // Out of a site: the Temporal frontend, and no other port on the same host, nor the world.
    const [host, port] = [fleet.net.hostAddress, fleet.net.temporalPort];
    const other: Server = await new Promise((done) => {
      const s = createServer((c) => c.end()).listen(0, host, () => done(s));
    });
    const otherPort = (other.address() as { port: number }).port;
    try {
      expect(await tcpConnects(host, otherPort)).toBe(true);
      for (const site of [a, b]) {
        expect(tcpConnectsFrom(site, host, port)).toBe(true);
        expect(tcpConnectsFrom(site, host, otherPort)).toBe(false);
        expect(tcpConnectsFrom(site, '1.1.1.1', 443)).toBe(false);
      }
    } finally {
      other.close();
    }
  }, 120_000);

  it('runs no listening socket in the sub-manager: its only connections go out to Temporal', () => {
    for (const site of fleet.sites) {
      const pid = site.subManager?.pid ?? 0;
      const inodes = new Set(
        readdirSync(`/proc/${pid}/fd`)
          .map((fd) => {
            try {
              return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
            } catch {
              return undefined;
            }
          })
          .filter((i): i is string => i !== undefined),
      );
      // /proc/<pid>/net/tcp{,6}: the sockets of the pid's network namespace; st 0A = LISTEN, 01 = ESTABLISHED.
      const sockets = ['tcp', 'tcp6'].flatMap((f) =>
        readFileSync(`/proc/${pid}/net/${f}`, 'utf8')
          .split('\n')
          .slice(1)
          .map((line) => line.trim().split(/\s+/))
          .filter((cols) => cols.length > 9)
          .map((cols) => ({ remote: cols[2] ?? '', state: cols[3], inode: cols[9] ?? '' })),
      );
      const own = sockets.filter((s) => inodes.has(s.inode));
      expect(own.filter((s) => s.state === '0A')).toEqual([]);
      // The listing is real: the site's API servers listen in the same namespace, and the
      // sub-manager holds an established connection to Temporal's port.
      expect(sockets.some((s) => s.state === '0A' && !inodes.has(s.inode))).toBe(true);
      const temporalPortHex = fleet.net.temporalPort.toString(16).toUpperCase().padStart(4, '0');
      expect(own.some((s) => s.state === '01' && s.remote.endsWith(`:${temporalPortHex}`))).toBe(true);
      // And as `ss` sees it inside the site: no listener owned by the pid.
      const ss = execInSite(site.namespace, 'ss', ['-Hltnp']);
      expect(ss.status).toBe(0);
      expect(ss.stdout).not.toContain(`pid=${pid},`);
      expect(ss.stdout).toContain('LISTEN');
    }
  });

  it('rolls a release out to both sites while nothing central can reach them', async () => {
    const releaseId = await release('both-sites');
    const runId = await deploy(releaseId, {
      waves: [{ count: 1 }, { percent: 100 }],
      maxParallel: 4,
      failureBudget: { count: 0 },
    });
    const p = await waitForPhase(runId, 'succeeded', 120_000);
    expect(p.counts.succeeded).toBe(4);
    for (const site of fleet.sites) {
      expect(configMapOn(site, 0, 'both-sites')).toBe('both-sites');
      expect(configMapOn(site, 1, 'both-sites')).toBe('both-sites');
      for (const cluster of site.clusters) expect(await tcpConnects(site.address, cluster.port)).toBe(false);
    }
    expect(Object.fromEntries(await deployActivityCompletions(temporal, runId))).toEqual({
      a1: 1,
      a2: 1,
      b1: 1,
      b2: 1,
    });
  }, 180_000);

  it('keeps a cut-off site waiting for over a minute while the other finishes, then completes it once', async () => {
    const b = fleet.site(siteB);
    const releaseId = await release('outage');
    // Wave 1 (a1) runs with both sites up; the run then pauses for approval, and site B's
    // link is cut before wave 2 — the rest of both sites — starts.
    const runId = await deploy(releaseId, {
      waves: [{ count: 1 }, { percent: 100 }],
      maxParallel: 4,
      failureBudget: { count: 0 },
      betweenWaves: 'pause',
    });
    await waitForPhase(runId, 'paused', 60_000);
    fleet.net.cut(siteB);
    const cutAt = Date.now();
    // Restored on every path: a failed assertion must not leave site B cut for the next tests.
    let restored = false;
    try {
      // Let the site's last long poll expire on the server (5 s here), so no task goes to a dead link.
      await new Promise((r) => setTimeout(r, 7_000));
      expect((await call('POST', `/v1/runs/${runId}/resume`, { failed: 'retry' })).status).toBe(200);

      let run: RunView | undefined;
      await waitUntil(
        "site A's targets done, site B's waiting",
        async () => {
          run = await view(runId);
          const t = byName(run.progress.targets);
          return (
            t.get('a2')?.state === 'succeeded' &&
            t.get('b1')?.state === 'waiting' &&
            t.get('b2')?.state === 'waiting'
          );
        },
        60_000,
      );
      expect(run?.progress.counts).toMatchObject({ succeeded: 2, waiting: 2, failed: 0 });
      // They keep waiting — not failing — for longer than a minute of outage.
      while (Date.now() - cutAt < 65_000) {
        run = await view(runId);
        expect(run.progress.phase).toBe('running');
        const t = byName(run.progress.targets);
        expect([t.get('b1')?.state, t.get('b2')?.state]).toEqual(['waiting', 'waiting']);
        await new Promise((r) => setTimeout(r, 5_000));
      }
      const waitingSince = Date.parse(byName(run?.progress.targets ?? []).get('b1')?.waitingSince ?? '');
      expect(Date.now() - waitingSince).toBeGreaterThan(55_000);
      expect(
        run?.pending
          .filter((s) => s.state === 'waiting')
          .map((s) => s.target)
          .sort(),
      ).toEqual(['b1', 'b2']);
      const sites = (await call<{ items: { name: string; status: string }[] }>('GET', '/v1/sites')).body
        .items;
      expect(sites.find((s) => s.name === siteB)?.status).toBe('offline');
      expect(sites.find((s) => s.name === siteA)?.status).toBe('online');
      expect(configMapOn(b, 0, 'outage')).toBe('');

      fleet.net.restore(siteB);
      restored = true;
    } finally {
      if (!restored) fleet.net.restore(siteB);
    }
    const p = await waitForPhase(runId, 'succeeded', 180_000);
    expect(p.counts).toMatchObject({ succeeded: 4, failed: 0, waiting: 0 });
    expect(configMapOn(b, 0, 'outage')).toBe('outage');
    expect(configMapOn(b, 1, 'outage')).toBe('outage');
    // Nothing applied twice: one scheduled and one completed apply per target.
    const once = { a1: 1, a2: 1, b1: 1, b2: 1 };
    expect(Object.fromEntries(await deployActivityCalls(temporal, runId))).toEqual(once);
    expect(Object.fromEntries(await deployActivityCompletions(temporal, runId))).toEqual(once);
  }, 420_000);

  it('fails a cut-off site past its deadline and pauses the run at its budget', async () => {
    const deadline = 15;
    const releaseId = await release('deadline');
    fleet.net.cut(siteB);
    try {
      await new Promise((r) => setTimeout(r, 7_000));
      const runId = await deploy(releaseId, {
        waves: [{ percent: 100 }],
        maxParallel: 4,
        failureBudget: { count: 0 },
        siteDeadlineSeconds: deadline,
      });
      const p = await waitForPhase(runId, 'paused', 120_000);
      expect(p.pausedReason).toMatch(/^failure budget exceeded: \d failed, 0 allowed$/);
      const t = byName(p.targets);
      expect(t.get('a1')?.state).toBe('succeeded');
      expect(t.get('a2')?.state).toBe('succeeded');
      for (const name of ['b1', 'b2']) {
        expect(t.get(name)).toMatchObject({
          state: 'failed',
          lastError: `site ${siteB} unreachable for ${deadline} s: no sub-manager picked the target up`,
        });
      }
      expect(p.failureBudget).toEqual({ allowed: 0, used: 2 });
      expect(Object.fromEntries(await deployActivityCompletions(temporal, runId))).toEqual({ a1: 1, a2: 1 });
    } finally {
      fleet.net.restore(siteB);
    }
  }, 240_000);

  it('lets no site credential into the database, any API response or any workflow history', async () => {
    const secrets = fleet.sites
      .flatMap((s) =>
        s.clusters.flatMap((c) => [
          c.adminToken,
          c.restrictedToken,
          readFileSync(c.caFile, 'utf8')
            .split('\n')
            .filter((l) => l.length > 40)[0] ?? '',
          readFileSync(s.kubeconfigPath, 'utf8').match(/certificate-authority-data: (\S{40})/)?.[1] ?? '',
        ]),
      )
      .filter((s) => s.length > 10);
    expect(secrets.length).toBeGreaterThanOrEqual(16);

    const tables = await db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`,
    );
    let dump = '';
    for (const { table_name } of tables)
      dump += JSON.stringify(await db.query(`SELECT * FROM ${table_name}`));
    expect(dump).toContain(siteB); // the dump is real…

    const histories: string[] = [];
    for await (const wf of temporal.workflow.list()) {
      // Payloads are encrypted: scan them decrypted, and the raw text as well.
      const raw = JSON.stringify(await temporal.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory());
      histories.push(raw, await decodedHistoryText(temporal, wf.workflowId, wf.runId));
    }
    // …and so are the histories: this Temporal served only this suite, so that is every run.
    expect(histories.length).toBeGreaterThanOrEqual(20);
    expect(histories.join('')).toContain('deployRelease');
    // The payloads were decrypted too: a release's data key (escaped, as decoded above) is in no raw history.
    expect(histories.join('')).toContain('\\"rollout\\":\\"both-sites\\"');
    expect(responses.length).toBeGreaterThan(20);

    for (const secret of secrets) {
      expect(dump).not.toContain(secret);
      expect(responses.join('\n')).not.toContain(secret);
      expect(histories.join('\n')).not.toContain(secret);
    }
  }, 120_000);
});
