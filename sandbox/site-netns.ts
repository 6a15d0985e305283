/**
 * Sites as isolated networks on one Linux machine: each site is a network namespace joined to
 * the host by a veth pair on a bridge, and its firewall (nftables, inside the namespace) lets
 * out exactly one thing — TCP to the Temporal frontend's address and port — and lets nothing
 * in. Processes started in a site (its API servers, its sub-manager) see their own loopback
 * and that one path; the host (the central API and control worker) has no way into the site.
 * Cutting a site's link (`cut`) takes its veth down, as a broken uplink would.
 *
 * Needs root, iproute2 (`ip netns`) and nftables (`nft`). Names carry the owning process id
 * (`drvnt-<pid>-<site>`, bridge `dn<pid>br`), so `cleanStaleSiteNetworks` can remove what a
 * killed run left behind without touching a live run's networks.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';

export type SiteNetwork = {
  site: string;
  /** The network namespace: `ip netns exec <namespace> …` runs a command inside the site. */
  namespace: string;
  /** The site's own address on the bridge. */
  address: string;
  /** The host end of the site's veth pair: down means the site's link is cut. */
  hostLink: string;
};

export type SiteNetworks = {
  bridge: string;
  /** The host's address on the bridge: Temporal listens here so sites can reach it. */
  hostAddress: string;
  /** The one port the sites may reach on `hostAddress`. */
  temporalPort: number;
  sites: SiteNetwork[];
  site(name: string): SiteNetwork;
  /** Takes the site's link down: nothing in or out, established connections hang. */
  cut(site: string): void;
  restore(site: string): void;
  /** Kills every process still inside the sites' namespaces, then removes namespaces and bridge. */
  destroy(): void;
};

const PREFIX = 'drvnt';
const NAMESPACE = /^drvnt-(\d+)-/;

const run = (cmd: string, args: string[], input?: string): string => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(input === undefined ? {} : { input }) });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
};
const tryRun = (cmd: string, args: string[]): boolean => spawnSync(cmd, args).status === 0;

/** Why site networks cannot be made here, or null when they can. */
export const siteNetworksUnavailable = (): string | null => {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const ip = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (ip.error) return 'iproute2 (`ip`) is not installed';
  const nft = spawnSync('nft', ['--version'], { encoding: 'utf8' });
  if (nft.error) return 'nftables (`nft`) is not installed';
  const probe = `${PREFIX}-${process.pid}-probe`;
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (added.status !== 0) return `ip netns add failed: ${added.stderr.trim()}`;
  tryRun('ip', ['netns', 'del', probe]);
  return null;
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

const namespacePids = (namespace: string): number[] =>
  spawnSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8' })
    .stdout.split('\n')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);

/** Kills what runs in a namespace (by pid, SIGKILL: they are a test's leftovers) and deletes it. */
const removeNamespace = (namespace: string) => {
  for (let round = 0; round < 20; round++) {
    const pids = namespacePids(namespace);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
    spawnSync('sleep', ['0.1']);
  }
  tryRun('ip', ['netns', 'del', namespace]);
};

const listNamespaces = (): string[] =>
  spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter(Boolean);

/** Removes the namespaces and bridges of runs whose process is gone. Returns what it removed. */
export const cleanStaleSiteNetworks = (): string[] => {
  const removed: string[] = [];
  for (const namespace of listNamespaces()) {
    const owner = Number(NAMESPACE.exec(namespace)?.[1]);
    if (!owner || alive(owner)) continue;
    removeNamespace(namespace);
    removed.push(namespace);
  }
  const links = spawnSync('ip', ['-o', 'link', 'show', 'type', 'bridge'], { encoding: 'utf8' }).stdout;
  for (const match of links.matchAll(/^\d+: (dn(\d+)br)[:@]/gm)) {
    const [, bridge, owner] = match;
    if (bridge && !alive(Number(owner)) && tryRun('ip', ['link', 'del', bridge])) removed.push(bridge);
  }
  return removed;
};

/** A /24 no interface on this host uses yet, chosen from the owner's pid. */
const freeSubnet = (): string => {
  const used = run('ip', ['-4', '-o', 'addr', 'show']);
  for (let i = 0; i < 200; i++) {
    const candidate = `10.${200 + ((process.pid + i) % 50)}.${(process.pid >> 3) % 250}`;
    if (!used.includes(` ${candidate}.`)) return candidate;
  }
  throw new Error('no free 10.x.y.0/24 for the site networks');
};

/** The site's firewall: out only to Temporal's frontend, nothing in but replies. */
const firewall = (hostAddress: string, temporalPort: number) => `
table inet drover_site {
  chain output {
    type filter hook output priority 0; policy drop;
    oif "lo" accept
    ct state established,related accept
    ip daddr ${hostAddress} tcp dport ${temporalPort} accept
  }
  chain input {
    type filter hook input priority 0; policy drop;
    iif "lo" accept
    ct state established,related accept
  }
  chain forward {
    type filter hook forward priority 0; policy drop;
  }
}
`;

/**
 * Creates one namespace per site on a fresh bridge. Everything made so far is removed again
 * if a step fails, so a failed call leaves nothing behind.
 */
export const createSiteNetworks = (options: { sites: string[]; temporalPort: number }): SiteNetworks => {
  const reason = siteNetworksUnavailable();
  if (reason) throw new Error(`site networks unavailable: ${reason}`);
  const pid = process.pid;
  const bridge = `dn${pid}br`;
  const subnet = freeSubnet();
  const hostAddress = `${subnet}.1`;
  const sites: SiteNetwork[] = [];
  const destroy = () => {
    for (const s of sites) removeNamespace(s.namespace);
    tryRun('ip', ['link', 'del', bridge]);
  };
  try {
    run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    run('ip', ['addr', 'add', `${hostAddress}/24`, 'dev', bridge]);
    run('ip', ['link', 'set', bridge, 'up']);
    options.sites.forEach((site, i) => {
      const namespace = `${PREFIX}-${pid}-${site}`.slice(0, 60);
      const hostLink = `dn${pid}h${i}`;
      const address = `${subnet}.${10 + i}`;
      run('ip', ['netns', 'add', namespace]);
      sites.push({ site, namespace, address, hostLink });
      const inSite = (args: string[]) => run('ip', ['netns', 'exec', namespace, ...args]);
      run('ip', ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace]);
      run('ip', ['link', 'set', hostLink, 'master', bridge]);
      run('ip', ['link', 'set', hostLink, 'up']);
      inSite(['ip', 'link', 'set', 'lo', 'up']);
      inSite(['ip', 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      inSite(['ip', 'link', 'set', 'eth0', 'up']);
      // Only the bridge's /24 is routed: no default route, so nothing beyond the host.
      run('ip', ['netns', 'exec', namespace, 'nft', '-f', '-'], firewall(hostAddress, options.temporalPort));
    });
  } catch (err) {
    destroy();
    throw err;
  }
  const site = (name: string) => {
    const s = sites.find((x) => x.site === name);
    if (!s) throw new Error(`no site network ${name}`);
    return s;
  };
  return {
    bridge,
    hostAddress,
    temporalPort: options.temporalPort,
    sites,
    site,
    cut: (name) => run('ip', ['link', 'set', site(name).hostLink, 'down']),
    restore: (name) => run('ip', ['link', 'set', site(name).hostLink, 'up']),
    destroy,
  };
};

/**
 * Starts a command inside a site's namespace. `setpriv --pdeathsig` (when present) makes the
 * kernel kill it if this process dies; `ip netns exec` then execs the command itself, so the
 * child's pid is the command's.
 */
export const spawnInSite = (
  namespace: string,
  command: string,
  args: string[],
  options: SpawnOptions = {},
): ChildProcess => {
  const inner = ['ip', 'netns', 'exec', namespace, command, ...args];
  const hasSetpriv = spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout?.includes('--pdeathsig');
  const [cmd, ...argv] = hasSetpriv ? ['setpriv', '--pdeathsig', 'KILL', '--', ...inner] : inner;
  return spawn(cmd as string, argv, options);
};

/** Runs a short command inside a site and returns its exit status and output. */
export const execInSite = (
  namespace: string,
  command: string,
  args: string[],
  timeoutMs = 10_000,
): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync('ip', ['netns', 'exec', namespace, command, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};
