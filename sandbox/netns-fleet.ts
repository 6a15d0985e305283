/**
 * A fleet of isolated sites on this machine, for the namespace tests and `make netns-demo`:
 * the site networks of sandbox/site-netns.ts, a Temporal dev server listening on the host's
 * bridge address (the one thing a site may reach), and in each site's namespace its own real
 * Kubernetes API servers (sandbox/kube-env-cli.ts) and its own sub-manager. The central
 * processes (API, control worker) are the caller's: they run outside, in the host's network.
 *
 * Every process runs under `setpriv --pdeathsig`, and `stop()` ends them by pid before the
 * namespaces go; a killed caller's leftovers are swept by the next start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { buildKubeBinary } from './kube-env.ts';
import { cleanStaleSiteNetworks, createSiteNetworks, spawnInSite, type SiteNetworks } from './site-netns.ts';

const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));
const NODE_ARGS = ['--disable-warning=ExperimentalWarning'];

/** One API server of a site, as kube-env-cli describes it (its tokens stay in the site's files). */
export type SiteCluster = {
  name: string;
  server: string;
  port: number;
  caFile: string;
  adminToken: string;
  restrictedToken: string;
  kubeconfigPath: string;
};

export type FleetSite = {
  name: string;
  namespace: string;
  address: string;
  clusters: SiteCluster[];
  /** The site's kubeconfig (contexts `<prefix>1`, `<prefix>2`, …): read only by its sub-manager. */
  kubeconfigPath: string;
  kubeEnv: ChildProcess;
  subManager: ChildProcess | null;
  /** (Re)starts the site's sub-manager inside its namespace. */
  startSubManager(): ChildProcess;
  /** `drover-kube kubectl` inside the site, against one of its clusters. */
  kubectl(cluster: SiteCluster, args: string[]): { status: number | null; stdout: string; stderr: string };
};

export type Fleet = {
  net: SiteNetworks;
  /** host:port of the Temporal frontend, on the bridge. */
  temporalAddress: string;
  temporal: ChildProcess;
  sites: FleetSite[];
  site(name: string): FleetSite;
  stop(): Promise<void>;
};

export type FleetOptions = {
  /** Sites by name, each with its number of API servers and the prefix of its context names. */
  sites: { name: string; clusters: number; contextPrefix: string }[];
  /** Data, kubeconfigs, per-site state. */
  dir: string;
  /** Log files of every process. */
  logDir: string;
  /** Temporal namespace the sub-managers use. */
  temporalNamespace?: string;
  /** Extra `temporal server start-dev` flags (e.g. `--namespace`). */
  temporalArgs?: string[];
  /** Extra environment for every sub-manager. */
  subManagerEnv?: Record<string, string>;
};

const hasSetpriv = (): boolean =>
  spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout?.includes('--pdeathsig') ?? false;

const freePort = (host: string): Promise<number> =>
  new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? done(address.port) : fail(new Error('no port')),
      );
    });
  });

const portOpen = (host: string, port: number) =>
  new Promise<boolean>((done) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });

const waitFor = async (what: string, probe: () => Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};

export const stopChild = (child: ChildProcess | null, timeoutMs = 15_000): Promise<void> =>
  new Promise((done) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return done();
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });

/** The first line a process prints on stdout, parsed as JSON (kube-env-cli's description). */
const firstJsonLine = (child: ChildProcess, what: string, timeoutMs: number): Promise<unknown> =>
  new Promise((done, fail) => {
    if (!child.stdout) {
      fail(new Error(`${what}: no stdout`));
      return;
    }
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => fail(new Error(`${what}: not up after ${timeoutMs} ms`)), timeoutMs);
    const onExit = (code: number | null) => fail(new Error(`${what} exited (${code}) before it was up`));
    child.once('exit', onExit);
    lines.once('line', (line) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      try {
        done(JSON.parse(line));
      } catch {
        fail(new Error(`${what}: not a JSON line: ${line}`));
      }
    });
  });

export const startFleet = async (options: FleetOptions): Promise<Fleet> => {
  cleanStaleSiteNetworks();
  mkdirSync(options.logDir, { recursive: true });
  mkdirSync(options.dir, { recursive: true });
  const log = (name: string) => openSync(join(options.logDir, `${name}.log`), 'a');
  // Temporal binds every address (below): a port free on all of them.
  const temporalPort = await freePort('0.0.0.0');
  const net = createSiteNetworks({ sites: options.sites.map((s) => s.name), temporalPort });
  const temporalAddress = `${net.hostAddress}:${temporalPort}`;
  const children: ChildProcess[] = [];
  const sites: FleetSite[] = [];
  const guarded = (cmd: string, args: string[]) =>
    hasSetpriv()
      ? (['setpriv', ['--pdeathsig', 'KILL', '--', cmd, ...args]] as const)
      : ([cmd, args] as const);

  const stop = async () => {
    await Promise.all(sites.map((s) => stopChild(s.subManager)));
    await Promise.all(sites.map((s) => stopChild(s.kubeEnv, 30_000)));
    await Promise.all(children.map((c) => stopChild(c)));
    net.destroy();
  };

  try {
    const [tcmd, targs] = guarded('temporal', [
      'server',
      'start-dev',
      '--headless',
      // The dev server advertises its internal services on 127.0.0.1 whatever --ip says
      // (CLI 1.9.1 cannot even start a workflow on another --ip), so it binds every address;
      // each site's firewall admits the frontend port alone.
      '--ip',
      '0.0.0.0',
      '--port',
      String(temporalPort),
      // Idle polls return every 5 s: a cut-off site shows offline within seconds.
      '--dynamic-config-value',
      'matching.longPollExpirationInterval="5s"',
      '--log-level',
      'warn',
      ...(options.temporalArgs ?? []),
    ]);
    const temporalLog = log('netns-temporal');
    const temporal = spawn(tcmd, [...targs], { stdio: ['ignore', temporalLog, temporalLog] });
    children.push(temporal);

    const binary = await buildKubeBinary();
    const starting = options.sites.map(async (spec) => {
      const s = net.site(spec.name);
      const dir = join(options.dir, spec.name);
      const kubeLog = log(`netns-kube-${spec.name}`);
      const kubeEnv = spawnInSite(
        s.namespace,
        process.execPath,
        [
          ...NODE_ARGS,
          join(repoRoot, 'sandbox/kube-env-cli.ts'),
          '--clusters',
          String(spec.clusters),
          '--dir',
          join(dir, 'kube'),
          '--prefix',
          spec.contextPrefix,
        ],
        {
          stdio: ['ignore', 'pipe', kubeLog],
          env: { ...process.env, DROVER_KUBE_BIN: binary },
          cwd: repoRoot,
        },
      );
      children.push(kubeEnv);
      const described = (await firstJsonLine(kubeEnv, `API servers of ${spec.name}`, 180_000)) as {
        clusters: SiteCluster[];
      };
      // Later output would block on a full pipe: keep reading it into the log.
      kubeEnv.stdout?.resume();
      const clusters = described.clusters;
      const kubeconfigPath = join(dir, 'kubeconfig.yaml');
      writeFileSync(
        kubeconfigPath,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: clusters.map((c, i) => ({
            name: `${spec.contextPrefix}${i + 1}`,
            cluster: {
              server: c.server,
              'certificate-authority-data': readFileSync(c.caFile).toString('base64'),
            },
          })),
          users: clusters.map((c, i) => ({
            name: `${spec.contextPrefix}${i + 1}`,
            user: { token: c.adminToken },
          })),
          contexts: clusters.map((_c, i) => ({
            name: `${spec.contextPrefix}${i + 1}`,
            context: { cluster: `${spec.contextPrefix}${i + 1}`, user: `${spec.contextPrefix}${i + 1}` },
          })),
          'current-context': `${spec.contextPrefix}1`,
        }),
        { mode: 0o600 },
      );
      const site: FleetSite = {
        name: spec.name,
        namespace: s.namespace,
        address: s.address,
        clusters,
        kubeconfigPath,
        kubeEnv,
        subManager: null,
        startSubManager: () => {
          const out = log(`netns-sub-manager-${spec.name}`);
          const child = spawnInSite(
            s.namespace,
            process.execPath,
            [...NODE_ARGS, join(repoRoot, 'sub-manager/main.ts')],
            {
              stdio: ['ignore', out, out],
              cwd: repoRoot,
              env: {
                ...process.env,
                DROVER_SITE: spec.name,
                DROVER_SITE_DESCRIPTION: `isolated site in network namespace ${s.namespace}`,
                DROVER_KUBECONFIG: kubeconfigPath,
                DROVER_SITE_STATE_DIR: join(dir, 'state'),
                DROVER_TEMPORAL_ADDRESS: temporalAddress,
                DROVER_TEMPORAL_NAMESPACE: options.temporalNamespace ?? 'default',
                DROVER_LOG_LEVEL: 'info',
                ...options.subManagerEnv,
              },
            },
          );
          site.subManager = child;
          return child;
        },
        kubectl: (cluster, args) => {
          const r = spawnSync(
            'ip',
            [
              'netns',
              'exec',
              s.namespace,
              binary,
              'kubectl',
              '--kubeconfig',
              cluster.kubeconfigPath,
              ...args,
            ],
            { encoding: 'utf8', timeout: 30_000 },
          );
          return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
        },
      };
      sites.push(site);
      return site;
    });
    // Awaited below; until then a site that fails must not be an unhandled rejection (it would
    // end the process before `stop` removes the namespaces).
    const started = Promise.all(starting);
    started.catch(() => {});
    await waitFor('temporal on the bridge', () => portOpen(net.hostAddress, temporalPort), 90_000);
    await waitFor(
      'temporal to serve',
      async () =>
        spawnSync('temporal', ['operator', 'cluster', 'health', '--address', temporalAddress], {
          encoding: 'utf8',
        }).stdout.includes('SERVING'),
      60_000,
    );
    for (const site of await started) site.startSubManager();
  } catch (err) {
    await stop();
    throw err;
  }
  const site = (name: string) => {
    const found = sites.find((s) => s.name === name);
    if (!found) throw new Error(`no site ${name}`);
    return found;
  };
  return { net, temporalAddress, temporal: children[0] as ChildProcess, sites, site, stop };
};
