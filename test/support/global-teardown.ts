import type { ChildProcess } from 'node:child_process';

export default async function globalTeardown(): Promise<void> {
  const services = ((globalThis as Record<string, unknown>).__droverServices ?? []) as ChildProcess[];
  await Promise.all(
    services.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}
