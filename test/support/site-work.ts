import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Context } from '@temporalio/activity';
import { Client, type Connection } from '@temporalio/client';
import { startWorkflow, WorkflowRunOperationHandler } from '@temporalio/nexus';
import { NativeConnection, Worker } from '@temporalio/worker';
import * as nexus from 'nexus-rpc';
import { siteTaskQueue } from '../../domain/task-queues.ts';
import { siteNamespace as namespaceOf } from '../../domain/site-link.ts';
import { siteService } from './workflows/site-service.ts';
import type { siteWorkWorkflow } from './workflows/site-work.ts';

/** The control plane's namespace in the trust-boundary tests. */
export const CONTROL = 'drover-control-plane';
/** A site's namespace there. */
export const siteNamespace = (site: string): string => namespaceOf(CONTROL, site);

/** A site's work in the trust-boundary tests (test/e2e/site-isolation and site-enrollment). */
const workflowsPath = fileURLToPath(new URL('./workflows/site-all.ts', import.meta.url));

/** The site's side of the Nexus link: each operation runs as a workflow in the site's namespace. */
const siteServiceHandler = (site: string) =>
  nexus.serviceHandler(siteService, {
    runSiteWork: new WorkflowRunOperationHandler<{ label: string }, string>((ctx, input) =>
      startWorkflow<typeof siteWorkWorkflow>(ctx, 'siteWorkWorkflow', {
        workflowId: `nexus:${site}:${input.label}:${randomUUID()}`,
        args: [input],
      }),
    ),
  });

/** What the server answered: 'ok', or the gRPC status name of its refusal. */
export const attempt = async (call: () => Promise<unknown>): Promise<string> => {
  try {
    await call();
    return 'ok';
  } catch (err) {
    const code =
      (err as { code?: number; cause?: { code?: number } }).code ??
      (err as { cause?: { code?: number } }).cause?.code;
    const names: Record<number, string> = {
      3: 'INVALID_ARGUMENT',
      5: 'NOT_FOUND',
      7: 'PERMISSION_DENIED',
      16: 'UNAUTHENTICATED',
    };
    return names[code ?? -1] ?? `error ${String(code)}: ${(err as Error).message}`;
  }
};

/**
 * A site worker in its own namespace whose activity hands out its task token and then holds
 * the task open (heartbeating) until told to finish, so a test can try to complete it from
 * elsewhere while it is still pending.
 */
/** How the tests reach the authorizing server: in clear, or over TLS with the local CA. */
export type ServerTls = false | { serverRootCACertificate: Buffer };

export const startSiteWorker = async (
  address: string,
  site: string,
  token: string,
  tls: ServerTls = false,
) => {
  const tokens: Uint8Array[] = [];
  let release = false;
  const connection = await NativeConnection.connect({ address, apiKey: token, tls });
  const worker = await Worker.create({
    connection,
    namespace: siteNamespace(site),
    taskQueue: siteTaskQueue(site),
    workflowsPath,
    nexusServices: [siteServiceHandler(site)],
    activities: {
      siteTask: async ({ label }: { label: string }) => {
        const ctx = Context.current();
        tokens.push(ctx.info.taskToken);
        if (label.startsWith('hold')) {
          while (!release) {
            ctx.heartbeat();
            await new Promise((r) => setTimeout(r, 200));
          }
        }
        return `${site} did ${label}`;
      },
    },
  });
  const running = worker.run();
  let stopped = false;
  return {
    tokens,
    release: () => (release = true),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      release = true;
      if (worker.getState() === 'RUNNING') worker.shutdown();
      // A worker whose credential was revoked has already stopped, failing its polls.
      await running.catch(() => undefined);
      await connection.close();
    },
  };
};

export const startWork = (connection: Connection, site: string, label: string) =>
  new Client({ connection, namespace: siteNamespace(site) }).workflow.start('siteWorkWorkflow', {
    taskQueue: siteTaskQueue(site),
    workflowId: `work:${label}:${randomUUID()}`,
    args: [{ label }],
  });

/** Whether the server accepts this connection's credential for the site's namespace now. */
export const credentialAccepted = async (
  connection: Connection,
  site: string,
  controlNamespace = CONTROL,
): Promise<boolean> =>
  (await attempt(() =>
    connection.workflowService.describeNamespace({ namespace: namespaceOf(controlNamespace, site) }),
  )) === 'ok';
