/**
 * API servers added to and removed from a running kube env: each added cluster is a real,
 * separate Kubernetes API (its own etcd prefix), removal with its data leaves nothing for a
 * namesake, the pid file and stop() cover added clusters; and the sandbox clouds' backing,
 * which gives each ready sandbox cluster one of these servers and takes it away on delete.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backingClusterName, kubeEnvBacking } from '../../sandbox/clouds/backing.ts';
import { ManualClock, SandboxCloud } from '../../sandbox/clouds/core.ts';
import { startKubeEnv, type KubeCluster, type KubeEnv } from '../../sandbox/kube-env.ts';

/** Gone, or a zombie nobody has reaped yet: either way it serves nothing. */
const isDead = (pid: number): boolean => {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
};

interface Access {
  server: string;
  caData: string;
  token: string;
}

const accessOf = (c: KubeCluster): Access => ({ server: c.server, caData: c.caData, token: c.adminToken });

/** One request to an API server, trusting its CA only (fetch cannot take a per-request CA). */
const call = (
  access: Access,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: string }> =>
  new Promise((done, fail) => {
    const url = new URL(path, access.server);
    const req = request(
      url,
      {
        method,
        ca: access.caData,
        headers: {
          authorization: `Bearer ${access.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => done({ status: res.statusCode ?? 0, body: text }));
        res.on('error', fail);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });

const createConfigMap = async (c: KubeCluster, name: string): Promise<void> => {
  const res = await call(accessOf(c), 'POST', '/api/v1/namespaces/default/configmaps', {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name },
    data: { owner: c.name },
  });
  expect(res.status).toBe(201);
};

const configMapStatus = async (c: KubeCluster, name: string): Promise<number> =>
  (await call(accessOf(c), 'GET', `/api/v1/namespaces/default/configmaps/${name}`)).status;

const byName = (env: KubeEnv, name: string): KubeCluster => {
  const c = env.clusters.find((x) => x.name === name);
  if (!c) throw new Error(`no cluster ${name} in the env`);
  return c;
};

const pidFile = (env: KubeEnv): number[] =>
  (JSON.parse(readFileSync(join(env.baseDir, 'pids.json'), 'utf8')) as number[]).sort();

const envPids = (env: KubeEnv): number[] => [env.etcd.pid, ...env.clusters.map((c) => c.pid)].sort();

let dir: string;
let env: KubeEnv;
/** Every API server pid this file saw, removed ones included: all must be dead at the end. */
const seenPids = new Set<number>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-kube-env-dyn-'));
  env = await startKubeEnv({ clusters: 1, baseDir: dir, namePrefix: 'dyn' });
  seenPids.add(env.etcd.pid);
}, 180_000);

afterAll(async () => {
  await env?.stop({ removeData: true });
  await rm(dir, { recursive: true, force: true });
});

describe('kube env: clusters added and removed at run time', () => {
  it('added clusters are separate real API servers, in the pid file and the kubeconfig', async () => {
    // Concurrently: their pid file writes overlap.
    const [alpha, alpha2] = await Promise.all([env.addCluster('alpha'), env.addCluster('alpha-2')]);
    for (const c of env.clusters) seenPids.add(c.pid);
    // Concurrent additions join in the order they become ready.
    expect(env.clusters.map((c) => c.name).sort()).toEqual(['alpha', 'alpha-2', 'dyn-1']);
    expect(alpha.etcdPrefix).toBe('/registry-alpha');
    expect(alpha.port).not.toBe(alpha2.port);

    for (const c of [alpha, alpha2]) {
      const version = await call(accessOf(c), 'GET', '/version');
      expect(version.status).toBe(200);
      expect((JSON.parse(version.body) as { gitVersion: string }).gitVersion).toMatch(/^v1\.\d+\.\d+/);
    }

    await createConfigMap(alpha, 'only-on-alpha');
    await createConfigMap(alpha2, 'only-on-alpha-2');
    expect(await configMapStatus(alpha, 'only-on-alpha')).toBe(200);
    expect(await configMapStatus(alpha2, 'only-on-alpha')).toBe(404);
    expect(await configMapStatus(alpha, 'only-on-alpha-2')).toBe(404);
    expect(await configMapStatus(byName(env, 'dyn-1'), 'only-on-alpha')).toBe(404);

    expect(pidFile(env)).toEqual(envPids(env));
    expect(readFileSync(env.kubeconfigPath, 'utf8')).toContain(alpha2.server);
    expect(env.kubeconfig).toContain(alpha2.server);
  });

  it('rejects duplicate and invalid names', async () => {
    await expect(env.addCluster('alpha')).rejects.toThrow(/already exists/);
    await expect(env.addCluster('dyn-1')).rejects.toThrow(/already exists/);
    await expect(env.addCluster('Bad_Name')).rejects.toThrow(/DNS label/);
    await expect(env.addCluster('etcd')).rejects.toThrow(/DNS label/);
    await expect(env.removeCluster('nope')).rejects.toThrow(/no running cluster/);
    expect(env.clusters).toHaveLength(3);
  });

  it('a cluster removed with its data comes back empty; its namesake prefix keeps its data', async () => {
    const old = byName(env, 'alpha');
    await env.removeCluster('alpha', { removeData: true });
    expect(isDead(old.pid)).toBe(true);
    expect(env.clusters.map((c) => c.name)).toEqual(['dyn-1', 'alpha-2']);
    expect(pidFile(env)).toEqual(envPids(env));
    expect(pidFile(env)).not.toContain(old.pid);
    expect(existsSync(join(dir, 'alpha'))).toBe(false);
    expect(env.kubeconfig).not.toContain(old.server);

    const again = await env.addCluster('alpha');
    seenPids.add(again.pid);
    expect(again.pid).not.toBe(old.pid);
    expect(await configMapStatus(again, 'only-on-alpha')).toBe(404);
    // `/registry-alpha/` was wiped, not everything starting `/registry-alpha`.
    expect(await configMapStatus(byName(env, 'alpha-2'), 'only-on-alpha-2')).toBe(200);
    expect(pidFile(env)).toEqual(envPids(env));
  });

  it('a cluster removed without its data comes back with it', async () => {
    const old = byName(env, 'alpha-2');
    await env.removeCluster('alpha-2');
    expect(isDead(old.pid)).toBe(true);
    const again = await env.addCluster('alpha-2');
    seenPids.add(again.pid);
    expect(again.adminToken).toBe(old.adminToken);
    expect(await configMapStatus(again, 'only-on-alpha-2')).toBe(200);
  });
});

describe('kubeEnvBacking', () => {
  it('names clusters readably, and cuts and hashes when long or taken', () => {
    expect(backingClusterName('us-east-1/my-cluster')).toBe('sb-us-east-1-my-cluster');
    expect(backingClusterName('West Europe/Prod_Cluster')).toBe('sb-west-europe-prod-cluster');
    const long = `europe-west1/${'a'.repeat(80)}`;
    const label = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
    expect(backingClusterName(long)).toMatch(label);
    expect(backingClusterName(long)).not.toBe(backingClusterName(`${long}b`));
    const taken = new Set(['sb-us-east-1-my-cluster']);
    const other = backingClusterName('us-east/1-my-cluster', taken);
    expect(other).toMatch(label);
    expect(other).toMatch(/^sb-us-east-1-my-cluster-[0-9a-f]{8}$/);
  });

  it('a sandbox cluster gets a real API server once ready and loses it once deleted', async () => {
    const clock = new ManualClock();
    const cloud = new SandboxCloud({ clock, createDelayMs: 1000, backing: kubeEnvBacking(env) });
    const before = env.clusters.length;

    cloud.createCluster('us-east-1', 'my-cluster', {});
    clock.advance(1000);
    // Two requests settling at once must not start two servers.
    await Promise.all([cloud.settle(), cloud.settle()]);
    const cluster = cloud.get('us-east-1', 'my-cluster');
    expect(cluster.status).toBe('ready');
    const access = cluster.access as Access;
    expect(access).not.toBeNull();
    const readyz = await call(access, 'GET', '/readyz');
    expect(readyz).toEqual({ status: 200, body: 'ok' });
    expect(env.clusters).toHaveLength(before + 1);
    const backing = byName(env, 'sb-us-east-1-my-cluster');
    expect(backing.server).toBe(access.server);
    seenPids.add(backing.pid);

    cloud.deleteCluster('us-east-1', 'my-cluster');
    clock.advance(cloud.deleteDelayMs);
    await cloud.settle();
    expect(cloud.find('us-east-1', 'my-cluster')).toBeUndefined();
    expect(isDead(backing.pid)).toBe(true);
    expect(env.clusters.map((c) => c.name)).not.toContain(backing.name);
    expect(existsSync(join(dir, backing.name))).toBe(false);
    expect(pidFile(env)).toEqual(envPids(env));
  });
});

describe('kube env stop', () => {
  it('stops every process, added clusters included, and removes the pid file', async () => {
    for (const c of env.clusters) seenPids.add(c.pid);
    expect([...seenPids].some((pid) => !isDead(pid))).toBe(true);
    await env.stop();
    expect([...seenPids].filter((pid) => !isDead(pid))).toEqual([]);
    expect(existsSync(join(dir, 'pids.json'))).toBe(false);
    await expect(env.addCluster('late')).rejects.toThrow(/stopped/);
  });
});
