import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, rmSync, writeFileSync, type WriteStream } from 'node:fs';

/**
 * A tiny process supervisor for `make up` and the end-to-end tests: starts children in order,
 * prefixes and files their output, restarts one that dies on its own, and stops them all in
 * reverse order. Children are started under `setpriv --pdeathsig` where it exists, so even a
 * kill -9 of the supervisor leaves no orphan behind.
 */
export type ServiceSpec = {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  logFile?: string;
  /**
   * Restart after a crash (default true). A child stopped on purpose — exit 0, or SIGTERM /
   * SIGINT sent by someone — stays down, so a user can take one part away and bring it back.
   */
  restart?: boolean;
  /** Where to write the child's pid, so users and tests can signal it. */
  pidFile?: string;
  /** Echo output to the supervisor's stdout (default true). */
  echo?: boolean;
};

const hasSetpriv = (() => {
  const r = spawnSync('setpriv', ['--help'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('--pdeathsig');
})();

const COLORS = [36, 35, 33, 32, 34, 31];

export class Service {
  child: ChildProcess | undefined;
  private stopping = false;
  private restarts = 0;
  private log: WriteStream | undefined;
  private readonly color: number;
  private readonly lineWatchers = new Set<(line: string) => void>();
  readonly spec: ServiceSpec;

  constructor(spec: ServiceSpec, index: number) {
    this.spec = spec;
    this.color = COLORS[index % COLORS.length] ?? 36;
  }

  start(): void {
    const { spec } = this;
    if (spec.logFile && !this.log) this.log = createWriteStream(spec.logFile, { flags: 'a' });
    const [command, args] = hasSetpriv
      ? ['setpriv', ['--pdeathsig', 'KILL', '--', spec.command, ...spec.args]]
      : [spec.command, spec.args];
    const child = spawn(command, args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    if (spec.pidFile && child.pid !== undefined) writeFileSync(spec.pidFile, `${child.pid}\n`);
    const prefix = process.stdout.isTTY
      ? `\x1b[${this.color}m${spec.name.padEnd(14)}\x1b[0m│ `
      : `${spec.name.padEnd(14)}│ `;
    const pipe = (stream: NodeJS.ReadableStream | null) => {
      let partial = '';
      stream?.on('data', (chunk: Buffer) => {
        this.log?.write(chunk);
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          for (const watch of this.lineWatchers) watch(line);
          if (spec.echo !== false) process.stdout.write(`${prefix}${line}\n`);
        }
      });
    };
    pipe(child.stdout);
    pipe(child.stderr);
    child.on('exit', (code, signal) => {
      if (spec.pidFile) rmSync(spec.pidFile, { force: true });
      if (this.stopping) return;
      const deliberate = code === 0 || signal === 'SIGTERM' || signal === 'SIGINT';
      const restart = spec.restart !== false && !deliberate;
      const delay = Math.min(1000 * 2 ** this.restarts, 15_000);
      process.stdout.write(
        `${prefix}exited (code ${code}, signal ${signal}); ${restart ? `restarting in ${delay} ms` : 'left stopped'}\n`,
      );
      if (!restart) return;
      this.restarts++;
      setTimeout(() => {
        if (!this.stopping) this.start();
      }, delay).unref();
    });
  }

  /** Resolves when the child prints a line matching `pattern` (from now on). */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.lineWatchers.delete(watch);
        reject(new Error(`${this.spec.name}: no line matching ${String(pattern)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const watch = (line: string) => {
        if (!pattern.test(line)) return;
        clearTimeout(timer);
        this.lineWatchers.delete(watch);
        resolve(line);
      };
      this.lineWatchers.add(watch);
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process has exited. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.log?.end();
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
    this.log?.end();
  }

  /** Simulates a crash or an outage: the supervisor will not restart it until start(). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  resume(): void {
    this.stopping = false;
    this.start();
  }
}

export class Supervisor {
  private readonly services: Service[] = [];

  add(spec: ServiceSpec): Service {
    const service = new Service(spec, this.services.length);
    this.services.push(service);
    service.start();
    return service;
  }

  async stopAll(): Promise<void> {
    for (const s of [...this.services].reverse()) await s.stop();
  }
}

/** Polls `probe` until it resolves truthy or `timeoutMs` passes. */
export const waitFor = async (
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};
