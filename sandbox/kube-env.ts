/**
 * Real Kubernetes API servers on this machine, for tests, the sandbox and benchmarks: one
 * embedded etcd and N kube-apiservers (distinct etcd prefixes and ports), all from the
 * drover-kube binary that tools/build-kube-testenv.sh builds. No controllers run, so
 * Deployments get no Pods and deleted namespaces stay Terminating: assert on API objects.
 *
 * Children must never outlive the process that started them, even when a test runner is
 * killed with SIGKILL: they run with DROVER_PDEATHSIG=1, which makes drover-kube ask the
 * kernel for SIGKILL on parent death. A pid file catches what that cannot (a previous
 * parent that exited through a path we did not see), and the next start on the same
 * baseDir kills its leftovers.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stringify } from 'yaml';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface KubeEnvOptions {
  /** How many API servers to start. */
  clusters: number;
  /** Holds etcd data, certificates, tokens, kubeconfigs and logs; reused across starts. */
  baseDir: string;
  /** etcd uses basePort and basePort+1, API server i uses basePort+2+i; free ports if unset. */
  basePort?: number;
  /** Cluster names are `${namePrefix}-1` … ; default "cluster". */
  namePrefix?: string;
  /** drover-kube binary; default $DROVER_KUBE_BIN, else built by tools/build-kube-testenv.sh. */
  binary?: string;
  /** Per start; 2 cores need about 10 s per server when many start at once. */
  readyTimeoutMs?: number;
  /** Extra kube-apiserver flags, appended to every server's command line. */
  apiServerArgs?: readonly string[];
  /** Progress lines (starting, ready); nothing is printed when unset. */
  log?: (line: string) => void;
}

export interface KubeCluster {
  name: string;
  /** https://127.0.0.1:PORT */
  server: string;
  port: number;
  /** PEM bundle (serving certificate and its self-signed CA) the API server generated. */
  caData: string;
  caFile: string;
  /** Member of system:masters. */
  adminToken: string;
  /** Authenticates, but has no RBAC bindings: every request except discovery is forbidden. */
  restrictedToken: string;
  restrictedUser: string;
  /** Kubeconfig with context `name` (admin, current) and `${name}-restricted`. */
  kubeconfigPath: string;
  kubeconfig: string;
  etcdPrefix: string;
  pid: number;
  logFile: string;
}

export interface KubeEnv {
  baseDir: string;
  binary: string;
  etcd: { url: string; pid: number; logFile: string };
  /** Running API servers: the first `clusters` in order, then added ones as they became ready. */
  clusters: KubeCluster[];
  /** All clusters' admin contexts in one file, current context the first cluster. */
  kubeconfigPath: string;
  kubeconfig: string;
  /**
   * Starts one more API server on the same etcd (prefix `/registry-<name>`, files under
   * baseDir/<name>, a free port) and resolves once its /readyz is 200. Names are DNS labels
   * and unique within the env. Data a previous cluster of that name left is reused, as across
   * restarts, unless `fresh` discards it first.
   */
  addCluster(name: string, options?: { fresh?: boolean }): Promise<KubeCluster>;
  /**
   * Stops that API server. With `removeData` its directory and its etcd keys go too, so a
   * cluster added later under the same name starts empty.
   */
  removeCluster(name: string, options?: { removeData?: boolean }): Promise<void>;
  /** Stops every process (API servers first, then etcd). Safe to call twice. */
  stop(options?: { removeData?: boolean }): Promise<void>;
}

const RESTRICTED_USER = 'drover-restricted';
const PID_FILE = 'pids.json';
/** A DNS label: the name is a directory, an etcd prefix and a kubeconfig context. */
const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** baseDir/etcd holds etcd's data. */
const RESERVED_NAMES = new Set(['etcd']);

/** Starts etcd and `clusters` API servers concurrently; resolves once every /readyz is 200. */
export const startKubeEnv = async (options: KubeEnvOptions): Promise<KubeEnv> => {
  if (!Number.isInteger(options.clusters) || options.clusters < 1) {
    throw new Error(`startKubeEnv: clusters must be a positive integer, got ${options.clusters}`);
  }
  const baseDir = resolve(options.baseDir);
  const log = options.log ?? (() => {});
  const prefix = options.namePrefix ?? 'cluster';
  const initialNames = Array.from({ length: options.clusters }, (_, i) => `${prefix}-${i + 1}`);
  for (const name of initialNames) checkClusterName(name);
  await mkdir(baseDir, { recursive: true });
  const binary = options.binary ?? process.env.DROVER_KUBE_BIN ?? (await buildKubeBinary(log));
  await killStaleProcesses(baseDir, log);

  /** etcd first, then the API servers, running or starting. */
  const children: ChildProcess[] = [];
  const running = new Map<string, { cluster: KubeCluster; child: ChildProcess }>();
  /** Names running, starting or being wiped: what a new cluster may not be called. */
  const taken = new Set<string>();
  const clusters: KubeCluster[] = [];
  let stopped = false;
  const killAllNow = () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  // A plain process.exit() (jest does that) skips stop(); the kernel's parent-death signal
  // would still fire, but only once the whole process is gone.
  process.on('exit', killAllNow);

  const stop = async ({ removeData = false }: { removeData?: boolean } = {}) => {
    if (!stopped) {
      stopped = true;
      process.off('exit', killAllNow);
      const apiServers = children.slice(1);
      await Promise.all(apiServers.map((c) => terminate(c)));
      if (children[0]) await terminate(children[0]);
      await rm(join(baseDir, PID_FILE), { force: true });
    }
    if (removeData) await rm(baseDir, { recursive: true, force: true });
  };

  // Synchronous writes: clusters start concurrently, and two overlapping async writes of the
  // same file can leave a mix of both.
  const writePids = () => {
    if (stopped) return;
    writeFileSync(
      join(baseDir, PID_FILE),
      JSON.stringify(children.map((c) => c.pid).filter((p): p is number => p !== undefined)),
    );
  };
  const track = (child: ChildProcess) => {
    children.push(child);
    // Written before waiting for readiness, so a crash during start-up is cleaned up too.
    writePids();
  };
  const untrack = (child: ChildProcess) => {
    const i = children.indexOf(child);
    if (i > 0) children.splice(i, 1);
    writePids();
  };

  const kubeconfigPath = join(baseDir, 'kubeconfig.yaml');
  const writeKubeconfig = () => {
    env.kubeconfig = kubeconfigYaml(clusters.map((c) => ({ ...c, restrictedToken: undefined })));
    writeFileSync(kubeconfigPath, env.kubeconfig, { mode: 0o600 });
  };
  const register = (started: { cluster: KubeCluster; child: ChildProcess }) => {
    running.set(started.cluster.name, started);
    clusters.push(started.cluster);
  };

  let etcdUrl = '';
  /** Forgets whatever a cluster of this name stored: its files and its etcd keys. */
  const wipeCluster = async (name: string) => {
    await rm(join(baseDir, name), { recursive: true, force: true });
    const keys = await deleteEtcdPrefix(etcdUrl, `${etcdPrefixOf(name)}/`);
    log(`removed ${name}'s data (${keys} etcd keys)`);
  };

  /** One API server, from certificates to /readyz; `fixedPort` from basePort, else a free one. */
  const startCluster = async (
    name: string,
    fixedPort: number | undefined,
    readyTimeoutMs: number,
  ): Promise<{ cluster: KubeCluster; child: ChildProcess }> => {
    const dir = join(baseDir, name);
    await mkdir(join(dir, 'certs'), { recursive: true });
    const secrets = await clusterSecrets(dir);
    const etcdPrefix = etcdPrefixOf(name);
    const logFile = join(dir, 'apiserver.log');
    const caFile = join(dir, 'certs', 'apiserver.crt');
    // With free ports another process may take ours between probe and bind; the server
    // then exits at once and we retry on another port.
    for (let attempt = 1; ; attempt++) {
      const port = fixedPort ?? (await freePort());
      if (stopped) throw new Error(`kube env stopped before ${name} started`);
      log(`starting ${name} on https://127.0.0.1:${port}`);
      const child = spawnChild(
        binary,
        apiServerArgs({ dir, port, etcdUrl, etcdPrefix, extra: options.apiServerArgs ?? [] }),
        logFile,
      );
      track(child);
      try {
        await waitForReady(child, port, caFile, secrets.adminToken, logFile, readyTimeoutMs);
      } catch (err) {
        const portTaken = child.exitCode !== null && /address already in use/.test(await tail(logFile));
        await terminate(child);
        untrack(child);
        if (fixedPort === undefined && portTaken && attempt < 3) continue;
        throw err;
      }
      log(`${name} ready`);
      const caData = await readFile(caFile, 'utf8');
      const server = `https://127.0.0.1:${port}`;
      const kubeconfig = kubeconfigYaml([
        { name, server, caData, adminToken: secrets.adminToken, restrictedToken: secrets.restrictedToken },
      ]);
      const kubeconfigPath = join(dir, 'kubeconfig.yaml');
      await writeFile(kubeconfigPath, kubeconfig, { mode: 0o600 });
      const cluster: KubeCluster = {
        name,
        server,
        port,
        caData,
        caFile,
        adminToken: secrets.adminToken,
        restrictedToken: secrets.restrictedToken,
        restrictedUser: RESTRICTED_USER,
        kubeconfigPath,
        kubeconfig,
        etcdPrefix,
        pid: child.pid as number,
        logFile,
      };
      return { cluster, child };
    }
  };

  const addCluster = async (name: string, { fresh = false }: { fresh?: boolean } = {}) => {
    checkClusterName(name);
    if (stopped) throw new Error(`kube env: stopped, cannot add cluster '${name}'`);
    if (taken.has(name)) throw new Error(`kube env: a cluster named '${name}' already exists`);
    taken.add(name);
    try {
      if (fresh) await wipeCluster(name);
      const started = await startCluster(name, undefined, options.readyTimeoutMs ?? 120_000);
      register(started);
      writeKubeconfig();
      return started.cluster;
    } catch (err) {
      taken.delete(name);
      throw err;
    }
  };

  const removeCluster = async (name: string, { removeData = false }: { removeData?: boolean } = {}) => {
    if (stopped) throw new Error(`kube env: stopped, cannot remove cluster '${name}'`);
    const entry = running.get(name);
    if (!entry) throw new Error(`kube env: no running cluster named '${name}'`);
    running.delete(name);
    clusters.splice(clusters.indexOf(entry.cluster), 1);
    writeKubeconfig();
    log(`stopping ${name}`);
    await terminate(entry.child);
    untrack(entry.child);
    // The name stays taken until its data is gone, so a new cluster cannot start on half of it.
    try {
      if (removeData) await wipeCluster(name);
    } finally {
      taken.delete(name);
    }
  };

  const env: KubeEnv = {
    baseDir,
    binary,
    etcd: { url: '', pid: 0, logFile: join(baseDir, 'etcd.log') },
    clusters,
    kubeconfigPath,
    kubeconfig: '',
    addCluster,
    removeCluster,
    stop,
  };

  try {
    const ports = options.basePort === undefined ? undefined : fixedPorts(options.basePort, options.clusters);
    const etcdPorts = ports ? ports.slice(0, 2) : [await freePort(), await freePort()];
    etcdUrl = `http://127.0.0.1:${etcdPorts[0]}`;
    log(`starting etcd on ${etcdUrl}`);
    const etcd = spawnChild(
      binary,
      [
        'etcd',
        `--data-dir=${join(baseDir, 'etcd')}`,
        `--listen-client-url=${etcdUrl}`,
        `--listen-peer-url=http://127.0.0.1:${etcdPorts[1]}`,
        // Test and sandbox data is disposable; fsync is most of etcd's latency on slow disks.
        '--unsafe-no-fsync',
      ],
      env.etcd.logFile,
    );
    track(etcd);
    env.etcd = { ...env.etcd, url: etcdUrl, pid: etcd.pid as number };
    await waitForEtcd(etcd, etcdUrl, env.etcd.logFile, 60_000);
    log('etcd ready');

    for (const name of initialNames) taken.add(name);
    const readyTimeoutMs = options.readyTimeoutMs ?? Math.max(120_000, 20_000 * options.clusters);
    const started = await Promise.all(
      initialNames.map((name, i) => startCluster(name, ports?.[2 + i], readyTimeoutMs)),
    );
    started.forEach(register);
    writeKubeconfig();
    return env;
  } catch (err) {
    await stop();
    throw err;
  }
};

const etcdPrefixOf = (name: string): string => `/registry-${name}`;

const checkClusterName = (name: string): void => {
  if (!CLUSTER_NAME.test(name) || RESERVED_NAMES.has(name))
    throw new Error(
      `kube env: cluster name '${name}' must be a DNS label (a-z, 0-9, '-', at most 63) other than ${[...RESERVED_NAMES].join(', ')}`,
    );
};

/**
 * Deletes every etcd key under `prefix` through etcd's v3 HTTP/JSON gateway, which takes keys
 * base64-encoded; range_end is the prefix with its last byte incremented.
 */
const deleteEtcdPrefix = async (etcdUrl: string, prefix: string): Promise<number> => {
  const key = Buffer.from(prefix);
  const rangeEnd = Buffer.from(key);
  rangeEnd[rangeEnd.length - 1] = (rangeEnd.at(-1) as number) + 1;
  const res = await fetch(`${etcdUrl}/v3/kv/deleterange`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key: key.toString('base64'), range_end: rangeEnd.toString('base64') }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = await res.text();
  if (!res.ok) throw new Error(`etcd deleterange ${prefix}: HTTP ${res.status}: ${body.slice(0, 500)}`);
  // int64 fields come as strings in the gateway's JSON, and zero values are left out.
  return Number((JSON.parse(body) as { deleted?: string }).deleted ?? 0);
};

/** Resident memory of a process in bytes, from /proc (Linux only). */
export const residentBytes = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kib) * 1024;
};

/**
 * Runs tools/build-kube-testenv.sh and returns the binary it prints. Warm, it only hashes a
 * few files; cold it compiles Kubernetes, which takes many minutes, so its progress goes to
 * our stderr.
 */
export const buildKubeBinary = async (log: (line: string) => void = () => {}): Promise<string> => {
  const script = join(repoRoot, 'tools', 'build-kube-testenv.sh');
  const linked = join(repoRoot, '.tools', 'bin', 'drover-kube');
  log('checking drover-kube build');
  const { stdout } = await promisify(execFile)(script, [], { maxBuffer: 16 * 1024 * 1024 }).catch(
    (err: unknown) => {
      const stderr = (err as { stderr?: string }).stderr ?? '';
      throw new Error(`tools/build-kube-testenv.sh failed:\n${stderr.slice(-4000)}`, { cause: err });
    },
  );
  const path = stdout.trim().split('\n').pop();
  if (!path || !existsSync(path))
    throw new Error(`tools/build-kube-testenv.sh printed no binary (expected ${linked})`);
  return path;
};

const fixedPorts = (basePort: number, clusters: number): number[] =>
  Array.from({ length: clusters + 2 }, (_, i) => basePort + i);

const freePort = (): Promise<number> =>
  new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });

const apiServerArgs = (p: {
  dir: string;
  port: number;
  etcdUrl: string;
  etcdPrefix: string;
  extra: readonly string[];
}): string[] => [
  'apiserver',
  `--etcd-servers=${p.etcdUrl}`,
  `--etcd-prefix=${p.etcdPrefix}`,
  '--bind-address=127.0.0.1',
  '--advertise-address=127.0.0.1',
  `--secure-port=${p.port}`,
  `--cert-dir=${join(p.dir, 'certs')}`,
  `--service-account-issuer=https://127.0.0.1:${p.port}`,
  `--service-account-key-file=${join(p.dir, 'service-account.key')}`,
  `--service-account-signing-key-file=${join(p.dir, 'service-account.key')}`,
  `--token-auth-file=${join(p.dir, 'tokens.csv')}`,
  '--authorization-mode=RBAC',
  '--service-cluster-ip-range=10.96.0.0/16',
  // No kubelets or nodes exist: the kubernetes Service endpoints would point nowhere.
  '--endpoint-reconciler-type=none',
  '--profiling=false',
  ...p.extra,
];

interface ClusterSecrets {
  adminToken: string;
  restrictedToken: string;
}

/**
 * Tokens and the service-account key survive restarts on the same baseDir, so a sandbox
 * kubeconfig handed out earlier keeps working.
 */
const clusterSecrets = async (dir: string): Promise<ClusterSecrets> => {
  const secretsFile = join(dir, 'secrets.json');
  if (existsSync(secretsFile)) {
    return JSON.parse(await readFile(secretsFile, 'utf8')) as ClusterSecrets;
  }
  const secrets: ClusterSecrets = {
    adminToken: randomBytes(24).toString('hex'),
    restrictedToken: randomBytes(24).toString('hex'),
  };
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(join(dir, 'service-account.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
    mode: 0o600,
  });
  // Static token file format: token,user,uid,"group1,group2".
  await writeFile(
    join(dir, 'tokens.csv'),
    `${secrets.adminToken},drover-admin,drover-admin,"system:masters"\n${secrets.restrictedToken},${RESTRICTED_USER},${RESTRICTED_USER}\n`,
    { mode: 0o600 },
  );
  await writeFile(secretsFile, JSON.stringify(secrets), { mode: 0o600 });
  return secrets;
};

const kubeconfigYaml = (
  clusters: readonly {
    name: string;
    server: string;
    caData: string;
    adminToken: string;
    restrictedToken: string | undefined;
  }[],
): string =>
  stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': clusters[0]?.name ?? '',
    clusters: clusters.map((c) => ({
      name: c.name,
      cluster: { server: c.server, 'certificate-authority-data': Buffer.from(c.caData).toString('base64') },
    })),
    users: clusters.flatMap((c) => [
      { name: `${c.name}-admin`, user: { token: c.adminToken } },
      ...(c.restrictedToken ? [{ name: `${c.name}-restricted`, user: { token: c.restrictedToken } }] : []),
    ]),
    contexts: clusters.flatMap((c) => [
      { name: c.name, context: { cluster: c.name, user: `${c.name}-admin` } },
      ...(c.restrictedToken
        ? [{ name: `${c.name}-restricted`, context: { cluster: c.name, user: `${c.name}-restricted` } }]
        : []),
    ]),
  });

const spawnChild = (binary: string, args: string[], logFile: string): ChildProcess => {
  // The log file, not a pipe: the child keeps writing if we die, and a full pipe we stop
  // reading would otherwise block it.
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(binary, args, {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, DROVER_PDEATHSIG: '1', DROVER_PARENT_PID: String(process.pid) },
    });
    // The servers must not keep a finished test runner alive; they die with it instead.
    child.unref();
    child.on('error', () => {});
    return child;
  } finally {
    closeSync(fd);
  }
};

const terminate = async (child: ChildProcess, graceMs = 10_000): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
};

const killStaleProcesses = async (baseDir: string, log: (line: string) => void): Promise<void> => {
  const pidFile = join(baseDir, PID_FILE);
  if (!existsSync(pidFile)) return;
  let pids: unknown;
  try {
    pids = JSON.parse(await readFile(pidFile, 'utf8'));
  } catch {
    pids = [];
  }
  for (const pid of Array.isArray(pids) ? pids : []) {
    if (typeof pid !== 'number') continue;
    // Pids are reused: only kill a process whose command line names this baseDir.
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!cmdline.includes(baseDir)) continue;
    log(`killing stale process ${pid} from a previous run`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      continue;
    }
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`) && !isZombie(pid); i++) await sleep(50);
  }
  await rm(pidFile, { force: true });
};

const isZombie = (pid: number): boolean => {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const tail = async (file: string, lines = 30): Promise<string> => {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
};

const exitedEarly = async (child: ChildProcess, what: string, logFile: string): Promise<Error> =>
  new Error(
    `${what} exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready; ${logFile} ends:\n${await tail(logFile)}`,
  );

const waitForEtcd = async (
  child: ChildProcess,
  url: string,
  logFile: string,
  timeoutMs: number,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw await exitedEarly(child, 'etcd', logFile);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok && ((await res.json()) as { health?: string }).health === 'true') return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`etcd not healthy after ${timeoutMs} ms; ${logFile} ends:\n${await tail(logFile)}`);
};

const waitForReady = async (
  child: ChildProcess,
  port: number,
  caFile: string,
  token: string,
  logFile: string,
  timeoutMs: number,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw await exitedEarly(child, `kube-apiserver on port ${port}`, logFile);
    // The server writes its self-signed certificate before it listens.
    if (existsSync(caFile)) {
      try {
        const { status, body } = await getReadyz(port, await readFile(caFile), token);
        if (status === 200) return;
        last = `HTTP ${status}: ${body.slice(-500)}`;
      } catch (err) {
        last = (err as Error).message;
      }
    }
    await sleep(250);
  }
  throw new Error(
    `kube-apiserver on port ${port} not ready after ${timeoutMs} ms (last: ${last}); ${logFile} ends:\n${await tail(logFile)}`,
  );
};

// node:https rather than fetch: fetch cannot take a per-request CA.
const getReadyz = (port: number, ca: Buffer, token: string): Promise<{ status: number; body: string }> =>
  new Promise((done, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/readyz?verbose',
        ca,
        headers: { authorization: `Bearer ${token}` },
        timeout: 5_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => done({ status: res.statusCode ?? 0, body }));
        res.on('error', fail);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.end();
  });
