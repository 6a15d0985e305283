/**
 * The harness's promise that no API server outlives its parent: through the real CLI, killed
 * with SIGKILL (what a crashed or timed-out test runner amounts to) and stopped with SIGTERM,
 * and through the pid file when leftovers exist anyway.
 */
import { describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { buildKubeBinary, residentBytes, startKubeEnv } from '../../sandbox/kube-env.ts';
import { freePort } from '../support/services.ts';

const cli = fileURLToPath(new URL('../../sandbox/kube-env-cli.ts', import.meta.url));

interface CliOutput {
  etcd: { pid: number };
  clusters: { name: string; pid: number; server: string }[];
}

/** Gone, or a zombie nobody has reaped yet: either way it serves nothing. */
const isDead = (pid: number): boolean => {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
};

const waitUntil = async (what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

const startCli = async (
  dir: string,
): Promise<{ child: ChildProcessByStdio<null, Readable, Readable>; out: CliOutput }> => {
  const child = spawn(process.execPath, [cli, '--clusters', '2', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const out = await new Promise<CliOutput>((resolve, reject) => {
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line) resolve(JSON.parse(line) as CliOutput);
    });
    child.on('exit', (code) => reject(new Error(`kube-env-cli exited with ${code}: ${stderr}`)));
  });
  return { child, out };
};

describe('kube env process lifetime', () => {
  it('API servers and etcd die when the process that started them is killed with SIGKILL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-kube-env-'));
    try {
      const { child, out } = await startCli(dir);
      const pids = [out.etcd.pid, ...out.clusters.map((c) => c.pid)];
      expect(pids).toHaveLength(3);
      expect(pids.every((pid) => !isDead(pid))).toBe(true);

      child.kill('SIGKILL');
      await waitUntil('every child of the killed CLI is dead', () => pids.every(isDead));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('SIGTERM stops the CLI cleanly, children first', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-kube-env-'));
    try {
      const { child, out } = await startCli(dir);
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect([out.etcd.pid, ...out.clusters.map((c) => c.pid)].every(isDead)).toBe(true);
      expect(existsSync(join(dir, 'pids.json'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('a new start on the same directory kills leftovers named in the pid file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-kube-env-'));
    const binary = await buildKubeBinary();
    // A leftover etcd without the parent-death signal, as from a parent that escaped it; it
    // holds the data directory's lock, so a new etcd could not start beside it.
    await mkdir(join(dir, 'etcd'), { recursive: true });
    const stalePort = await freePort();
    const stale = spawn(
      binary,
      [
        'etcd',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-url=http://127.0.0.1:${stalePort}`,
        `--listen-peer-url=http://127.0.0.1:${await freePort()}`,
      ],
      {
        stdio: 'ignore',
        detached: true,
      },
    );
    const stalePid = stale.pid as number;
    const staleExit = new Promise<void>((r) => stale.on('exit', () => r()));
    await writeFile(join(dir, 'pids.json'), JSON.stringify([stalePid]));
    // Killed half-way through its own bootstrap, etcd can leave a data dir that no later etcd
    // can start from; a real leftover is one that was up, so wait until it is healthy.
    await waitUntil('the stale etcd holds its lock', () => existsSync(join(dir, 'etcd', 'member')));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const healthy = await fetch(`http://127.0.0.1:${stalePort}/health`)
        .then(async (r) => ((await r.json()) as { health?: string }).health === 'true')
        .catch(() => false);
      if (healthy) break;
      if (Date.now() > deadline) throw new Error('stale etcd never became healthy');
      await new Promise((r) => setTimeout(r, 100));
    }
    const env = await startKubeEnv({ clusters: 1, baseDir: dir, binary });
    try {
      await staleExit;
      expect(isDead(stalePid)).toBe(true);
      expect(residentBytes(env.clusters[0]?.pid as number)).toBeGreaterThan(50 * 2 ** 20);
    } finally {
      await env.stop({ removeData: true });
    }
  }, 120_000);
});
