import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';

import { DefaultLogger, Runtime } from '@temporalio/worker';
import {
  newSigningKey,
  signControlToken,
  signSiteToken,
  signTemporalToken,
  type SigningKey,
} from '../../runtime/temporal-credentials.ts';
import { siteTaskQueue } from '../../domain/task-queues.ts';
import { ensureDevCa } from '../../sandbox/dev-ca.ts';
import {
  registerNamespaces,
  startAuthorizedTemporal,
  writeJwks,
  type AuthorizedTemporal,
} from '../support/authorized-temporal.ts';
import {
  attempt,
  CONTROL,
  credentialAccepted,
  siteNamespace,
  startSiteWorker,
  startWork,
} from '../support/site-work.ts';
import { logDir, uniq, waitUntil } from '../support/env.ts';

/**
 * The trust boundary inside Temporal, on a real Temporal server with authorization on and TLS (its
 * JWT claim mapper and default authorizer, trusting the JWKS drover publishes): a client
 * holding site A's credential tries everything an attacker with one site's worker would —
 * start, read, signal, update, terminate work in the control namespace and in site B's, poll
 * B's queue, complete B's activity or Nexus task with B's own (stolen) task token — and every
 * attempt is refused, while A's own work goes on. Then A is revoked (its key leaves the JWKS):
 * its credential is refused within the server's refresh interval, and a new enrollment
 * brings it back.
 */
const siteA = `a-${uniq()}`;
const siteB = `b-${uniq()}`;
const REFRESH_SECONDS = 2;
const dir = mkdtempSync(join(tmpdir(), 'drover-site-isolation-'));
// TLS on the link, as in any real deployment: the server's certificate from a local CA.
const ca = ensureDevCa(join(dir, 'ca'));
const tls = { serverRootCACertificate: ca.ca };
const jwksPath = join(dir, 'jwks.json');

const controlKey = newSigningKey('control-1');
let siteAKey = newSigningKey(`site-${siteA}-1`);
const siteBKey = newSigningKey(`site-${siteB}-1`);
const publish = (keys: SigningKey[]) => writeJwks(jwksPath, keys);

let temporal: AuthorizedTemporal;
const connections: { close: () => Promise<void> }[] = [];
const connect = async (token: string) => {
  const c = await Connection.connect({ address: temporal.address, apiKey: token, tls });
  connections.push(c);
  return c;
};

const controlToken = () => signControlToken(controlKey, { ttlSeconds: 3600 });
const siteToken = (key: SigningKey, site: string) =>
  signSiteToken(key, { controlNamespace: CONTROL, name: site }, { ttlSeconds: 3600 });

let control: Connection;
let asA: Connection;
let asB: Connection;

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Already installed in this jest worker.
  }
  publish([controlKey, siteAKey, siteBKey]);
  temporal = await startAuthorizedTemporal({
    dir: join(dir, 'temporal'),
    jwksUri: `file://${jwksPath}`,
    refreshSeconds: REFRESH_SECONDS,
    tls: ca,
    logFile: join(logDir(), `authorized-temporal-${siteA}.log`),
  });
  control = await connect(controlToken());
  await registerNamespaces(control, [CONTROL, siteNamespace(siteA), siteNamespace(siteB)]);
  asA = await connect(siteToken(siteAKey, siteA));
  asB = await connect(siteToken(siteBKey, siteB));
}, 240_000);

afterAll(async () => {
  for (const c of connections) await c.close().catch(() => undefined);
  await temporal?.stop();
});

describe('one site credential reaches only its own site', () => {
  it("refuses everything site A tries outside its namespace, and A's own work goes on", async () => {
    const workerA = await startSiteWorker(temporal.address, siteA, siteToken(siteAKey, siteA), tls);
    const workerB = await startSiteWorker(temporal.address, siteB, siteToken(siteBKey, siteB), tls);
    try {
      // The control plane's run, and a piece of B's work held open with its task token out.
      const controlRun = await new Client({ connection: control, namespace: CONTROL }).workflow.start(
        'bulkDeployWorkflow',
        { taskQueue: 'drover-control', workflowId: `deploy:${randomUUID()}`, args: [{}] },
      );
      const bWork = await startWork(asB, siteB, 'hold-b');
      await waitUntil('B holds a task', () => workerB.tokens.length === 1, 30_000);
      const stolenToken = workerB.tokens[0] as Uint8Array;

      const a = asA.workflowService;
      const ns = { control: CONTROL, b: siteNamespace(siteB) };
      const refusals: Record<string, string> = {
        'start a workflow in the control namespace': await attempt(() =>
          new Client({ connection: asA, namespace: ns.control }).workflow.start('bulkDeployWorkflow', {
            taskQueue: 'drover-control',
            workflowId: `deploy:rogue-${uniq()}`,
            args: [{}],
          }),
        ),
        "start a workflow in site B's namespace": await attempt(() =>
          new Client({ connection: asA, namespace: ns.b }).workflow.start('siteWorkWorkflow', {
            taskQueue: siteTaskQueue(siteB),
            workflowId: `rogue-${uniq()}`,
            args: [{ label: 'rogue' }],
          }),
        ),
        "poll site B's activity queue": await attempt(() =>
          a.pollActivityTaskQueue({
            namespace: ns.b,
            taskQueue: { name: siteTaskQueue(siteB) },
            identity: 'rogue',
          }),
        ),
        "poll site B's workflow queue": await attempt(() =>
          a.pollWorkflowTaskQueue({
            namespace: ns.b,
            taskQueue: { name: siteTaskQueue(siteB) },
            identity: 'rogue',
          }),
        ),
        "poll site B's Nexus queue": await attempt(() =>
          a.pollNexusTaskQueue({
            namespace: ns.b,
            taskQueue: { name: siteTaskQueue(siteB) },
            identity: 'rogue',
          }),
        ),
        'query a control run (a release, say)': await attempt(() =>
          a.queryWorkflow({
            namespace: ns.control,
            execution: { workflowId: controlRun.workflowId },
            query: { queryType: 'content' },
          }),
        ),
        'read a control history': await attempt(() =>
          a.getWorkflowExecutionHistory({
            namespace: ns.control,
            execution: { workflowId: controlRun.workflowId },
          }),
        ),
        "read site B's history": await attempt(() =>
          a.getWorkflowExecutionHistory({ namespace: ns.b, execution: { workflowId: bWork.workflowId } }),
        ),
        'list control runs': await attempt(() => a.listWorkflowExecutions({ namespace: ns.control })),
        'signal a control run': await attempt(() =>
          a.signalWorkflowExecution({
            namespace: ns.control,
            workflowExecution: { workflowId: controlRun.workflowId },
            signalName: 'shardPaused',
          }),
        ),
        'update a control run': await attempt(() =>
          a.updateWorkflowExecution({
            namespace: ns.control,
            workflowExecution: { workflowId: controlRun.workflowId },
            request: { meta: { updateId: 'rogue' }, input: { name: 'rollback' } },
          }),
        ),
        'terminate a control run': await attempt(() =>
          a.terminateWorkflowExecution({
            namespace: ns.control,
            workflowExecution: { workflowId: controlRun.workflowId },
            reason: 'rogue',
          }),
        ),
        "complete B's activity with B's task token": await attempt(() =>
          a.respondActivityTaskCompleted({ namespace: ns.b, taskToken: stolenToken, identity: 'rogue' }),
        ),
        "fail B's activity by id": await attempt(() =>
          a.respondActivityTaskFailedById({
            namespace: ns.b,
            workflowId: bWork.workflowId,
            activityId: '1',
            failure: { message: 'rogue' },
          }),
        ),
        "answer a Nexus task of B's with a forged token": await attempt(() =>
          a.respondNexusTaskCompleted({
            namespace: ns.b,
            taskToken: stolenToken,
            identity: 'rogue',
            response: {},
          }),
        ),
        'register a namespace': await attempt(() =>
          a.registerNamespace({
            namespace: `rogue-${uniq()}`,
            workflowExecutionRetentionPeriod: msToTs('1 day'),
          }),
        ),
        'list the namespaces': await attempt(() => a.listNamespaces({})),
      };
      for (const [what, answer] of Object.entries(refusals)) {
        expect({ what, answer }).toEqual({ what, answer: 'PERMISSION_DENIED' });
      }
      // B's token presented in A's own namespace: refused as not A's (the token names B's namespace).
      const smuggled = await attempt(() =>
        a.respondActivityTaskCompleted({
          namespace: siteNamespace(siteA),
          taskToken: stolenToken,
          identity: 'rogue',
        }),
      );
      expect(smuggled).not.toBe('ok');

      // B's work was untouched: its activity still runs and finishes with B's own answer.
      workerB.release();
      await expect(bWork.result()).resolves.toBe(`${siteB} did hold-b`);
      // A's own work goes on.
      const aWork = await startWork(asA, siteA, 'own');
      await expect(aWork.result()).resolves.toBe(`${siteA} did own`);
      await controlRun.terminate('test over');
    } finally {
      await workerA.stop();
      await workerB.stop();
    }
  }, 120_000);

  it('refuses an expired credential and one signed by a key drover does not publish', async () => {
    const expired = signSiteToken(
      siteAKey,
      { controlNamespace: CONTROL, name: siteA },
      { ttlSeconds: 60, now: new Date(Date.now() - 3_600_000) },
    );
    const forged = signTemporalToken(newSigningKey(siteAKey.kid), {
      subject: `site:${siteA}`,
      permissions: [`${CONTROL}:admin`, 'temporal-system:admin'],
      ttlSeconds: 3600,
    });
    for (const token of [expired, forged]) {
      // Lazy: connecting asks for the server's info, which such a token is already refused.
      const c = Connection.lazy({ address: temporal.address, apiKey: token, tls });
      connections.push(c);
      expect(
        await attempt(() => c.workflowService.describeNamespace({ namespace: siteNamespace(siteA) })),
      ).toMatch(/PERMISSION_DENIED|UNAUTHENTICATED/);
    }
  }, 30_000);
});

describe('revoking a site', () => {
  it('refuses its credential within the refresh interval, leaves other sites alone, and a new enrollment works', async () => {
    const workerA = await startSiteWorker(temporal.address, siteA, siteToken(siteAKey, siteA), tls);
    try {
      const before = await startWork(asA, siteA, 'before');
      await expect(before.result()).resolves.toBe(`${siteA} did before`);

      // Revoke: A's key leaves the JWKS drover publishes.
      const revokedAt = Date.now();
      publish([controlKey, siteBKey]);
      await waitUntil("A's credential refused", async () => !(await credentialAccepted(asA, siteA)), 30_000);
      const refusedAfterMs = Date.now() - revokedAt;
      expect(refusedAfterMs).toBeLessThan(60_000);
      // Work sent to A now waits, as for an offline site: nothing polls with a valid credential.
      const waiting = await startWork(control, siteA, 'while-revoked');
      await new Promise((r) => setTimeout(r, 3_000));
      const desc = await new Client({ connection: control, namespace: siteNamespace(siteA) }).workflow
        .getHandle(waiting.workflowId)
        .describe();
      expect(desc.status.name).toBe('RUNNING');
      // B goes on.
      expect(await credentialAccepted(asB, siteB)).toBe(true);

      // Enroll A again: a new key, a new credential; the waiting work is picked up.
      await workerA.stop();
      siteAKey = newSigningKey(`site-${siteA}-2`);
      publish([controlKey, siteAKey, siteBKey]);
      const token = siteToken(siteAKey, siteA);
      // Lazy: until the server re-reads the JWKS, even connecting is refused.
      const again = Connection.lazy({ address: temporal.address, apiKey: token, tls });
      connections.push(again);
      await waitUntil('new credential accepted', async () => credentialAccepted(again, siteA), 30_000);
      const workerA2 = await startSiteWorker(temporal.address, siteA, token, tls);
      try {
        await expect(waiting.result()).resolves.toBe(`${siteA} did while-revoked`);
      } finally {
        await workerA2.stop();
      }
    } finally {
      await workerA.stop();
    }
  }, 120_000);
});
