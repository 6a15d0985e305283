import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import {
  newSigningKey,
  signControlToken,
  signSiteToken,
  type SigningKey,
} from '../../runtime/temporal-credentials.ts';
import { siteEndpoint } from '../../domain/site-link.ts';
import { siteTaskQueue } from '../../domain/task-queues.ts';
import {
  registerNamespaces,
  startAuthorizedTemporal,
  writeJwks,
  type AuthorizedTemporal,
} from '../support/authorized-temporal.ts';
import { logDir, uniq } from '../support/env.ts';
import { attempt, CONTROL, siteNamespace, startSiteWorker } from '../support/site-work.ts';

/**
 * The site link the trust boundary needs, on a Temporal server with authorization on: the
 * control plane reaches a site only through the site's Nexus endpoint (target: the site's
 * namespace and queue), whose operations the site's own worker — holding nothing but its site
 * credential — runs as workflows in its namespace. Open-source Temporal lets any namespace call
 * any endpoint, so another site could make this one work; drover-temporal's caller rules
 * (DROVER_NEXUS_CALLERS: `drover-site-*` only from the control namespace) refuse that.
 */
const siteA = `na-${uniq()}`;
const siteB = `nb-${uniq()}`;
const dir = mkdtempSync(join(tmpdir(), 'drover-site-nexus-'));
const jwksPath = join(dir, 'jwks.json');
const workflowsPath = fileURLToPath(new URL('../support/workflows/site-all.ts', import.meta.url));
const keys = {
  control: newSigningKey('control-1'),
  a: newSigningKey(`site-${siteA}-1`),
  b: newSigningKey(`site-${siteB}-1`),
};
const controlToken = () => signControlToken(keys.control, { ttlSeconds: 3600 });
const siteToken = (key: SigningKey, site: string) =>
  signSiteToken(key, { controlNamespace: CONTROL, name: site }, { ttlSeconds: 3600 });
const endpointOf = (site: string) => siteEndpoint(CONTROL, site);

let temporal: AuthorizedTemporal;
let control: Connection;

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Already installed.
  }
  writeJwks(jwksPath, Object.values(keys));
  temporal = await startAuthorizedTemporal({
    dir: join(dir, 'temporal'),
    jwksUri: `file://${jwksPath}`,
    refreshSeconds: 2,
    logFile: join(logDir(), `authorized-temporal-${siteA}.log`),
    nexusCallers: `${CONTROL}-site-*=${CONTROL}`,
  });
  control = await Connection.connect({
    address: temporal.address,
    apiKey: controlToken(),
    tls: false,
  });
  await registerNamespaces(control, [CONTROL, siteNamespace(siteA), siteNamespace(siteB)]);
  for (const site of [siteA, siteB])
    await control.operatorService.createNexusEndpoint({
      spec: {
        name: endpointOf(site),
        target: { worker: { namespace: siteNamespace(site), taskQueue: siteTaskQueue(site) } },
      },
    });
}, 240_000);

afterAll(async () => {
  await control?.close();
  await temporal?.stop();
});

describe('the site link over Nexus, with authorization on', () => {
  it('the control plane has site A do work through A’s endpoint', async () => {
    const siteWorker = await startSiteWorker(temporal.address, siteA, siteToken(keys.a, siteA));
    const connection = await NativeConnection.connect({
      address: temporal.address,
      apiKey: controlToken(),
      tls: false,
    });
    const worker = await Worker.create({
      connection,
      namespace: CONTROL,
      taskQueue: 'drover-control',
      workflowsPath,
    });
    const running = worker.run();
    try {
      const run = await new Client({ connection: control, namespace: CONTROL }).workflow.start(
        'callSiteWorkflow',
        {
          taskQueue: 'drover-control',
          workflowId: `call:${randomUUID()}`,
          args: [{ endpoint: endpointOf(siteA), label: 'via-nexus' }],
        },
      );
      const outcome = await Promise.race([
        run.result().then(
          (r) => `result: ${r}`,
          (e: Error) => `failed: ${e.message} / ${(e.cause as Error | undefined)?.message}`,
        ),
        new Promise<string>((r) => setTimeout(() => r('timeout'), 15_000)),
      ]);
      expect(outcome).toBe(`result: ${siteA} did via-nexus`);
      // The work ran in the site's namespace, by the site's worker.
      expect(siteWorker.tokens).toHaveLength(1);
      const inSite = await control.workflowService.listWorkflowExecutions({
        namespace: siteNamespace(siteA),
      });
      expect(inSite.executions?.map((e) => e.type?.name)).toContain('siteWorkWorkflow');
    } finally {
      worker.shutdown();
      await running;
      await connection.close();
      await siteWorker.stop();
    }
  }, 90_000);

  it('site B cannot reach site A through A’s endpoint', async () => {
    const workerA = await startSiteWorker(temporal.address, siteA, siteToken(keys.a, siteA));
    const workerB = await startSiteWorker(temporal.address, siteB, siteToken(keys.b, siteB));
    const asB = await Connection.connect({
      address: temporal.address,
      apiKey: siteToken(keys.b, siteB),
      tls: false,
    });
    try {
      const run = await new Client({ connection: asB, namespace: siteNamespace(siteB) }).workflow.start(
        'callSiteWorkflow',
        {
          taskQueue: siteTaskQueue(siteB),
          workflowId: `rogue-call:${randomUUID()}`,
          args: [{ endpoint: endpointOf(siteA), label: 'rogue' }],
        },
      );
      const outcome = await Promise.race([
        run.result().then(
          (r) => `result: ${r}`,
          (e: Error) => `failed: ${e.message} / ${(e.cause as Error | undefined)?.message}`,
        ),
        new Promise<string>((r) => setTimeout(() => r('timeout'), 15_000)),
      ]);
      expect(outcome).toBe('timeout');
      // B's workflow could not even schedule the operation: its task completion was refused.
      const { events } = await run.fetchHistory();
      expect(events?.some((e) => e.nexusOperationScheduledEventAttributes)).toBe(false);
      expect(workerA.tokens).toHaveLength(0);
      // Nor through the standalone operation API.
      const standalone = await attempt(() =>
        asB.workflowService.startNexusOperationExecution({
          namespace: siteNamespace(siteB),
          requestId: randomUUID(),
          operationId: `rogue-${uniq()}`,
          endpoint: endpointOf(siteA),
          service: 'drover-site',
          operation: 'runSiteWork',
        }),
      );
      expect(standalone).toBe('PERMISSION_DENIED');
      // Nor by making an endpoint of its own (cluster-wide, admin only).
      const ownEndpoint = await attempt(() =>
        asB.operatorService.createNexusEndpoint({
          spec: {
            name: `rogue-${uniq()}`,
            target: { worker: { namespace: siteNamespace(siteA), taskQueue: siteTaskQueue(siteA) } },
          },
        }),
      );
      expect(ownEndpoint).toBe('PERMISSION_DENIED');
      await run.terminate('test over');
    } finally {
      await asB.close();
      await workerA.stop();
      await workerB.stop();
    }
  }, 90_000);
});
