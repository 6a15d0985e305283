import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { App } from '../../api/app.ts';
import type { Db } from '../../db/database.ts';
import { startControlPlane, type AuthorizedTemporal } from '../support/authorized-temporal.ts';
import { freshPostgres, logDir, uniq, waitUntil } from '../support/env.ts';
import {
  attempt,
  CONTROL,
  credentialAccepted,
  siteNamespace,
  startSiteWorker,
  startWork,
} from '../support/site-work.ts';

/**
 * Enrollment end to end on a Temporal server with authorization on: the server trusts the
 * JWKS that drover's API serves (over HTTP, re-read every 2 s); `POST /v1/sites/{site}/enroll`
 * makes the site's namespace on that server and hands out a credential with which a worker
 * runs the site's work; `POST /v1/sites/{site}/revoke` takes the key off the JWKS and the
 * server refuses the credential; a new enrollment brings the site back.
 */
const site = `enr-${uniq()}`;
const REFRESH_SECONDS = 2;
const dir = mkdtempSync(join(tmpdir(), 'drover-site-enrollment-'));
let db: Db;
let plane: Awaited<ReturnType<typeof startControlPlane>>;
let app: App;
let admin: string;
let temporal: AuthorizedTemporal;
let control: Connection;

const call = async <T>(method: 'GET' | 'POST', url: string, payload?: object) => {
  const res = await app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${admin}` },
    payload: payload ?? {},
  });
  return { status: res.statusCode, body: res.json<T>() };
};

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Already installed in this jest worker.
  }
  ({ db } = await freshPostgres());
  plane = await startControlPlane({
    db,
    namespace: CONTROL,
    dir: join(dir, 'temporal'),
    logFile: join(logDir(), `authorized-temporal-${site}.log`),
    refreshSeconds: REFRESH_SECONDS,
  });
  ({ app, admin, control, temporal } = plane);
}, 180_000);

afterAll(async () => {
  await plane?.stop();
  await db?.close();
});

const enroll = async () => {
  const res = await call<{ namespace: string; temporalToken: string; keyId: string }>(
    'POST',
    `/v1/sites/${site}/enroll`,
  );
  expect(res.status).toBe(201);
  return res.body;
};

/** A connection with the site's credential, once the server accepts it. */
const siteConnection = async (token: string) => {
  const c = Connection.lazy({ address: temporal.address, apiKey: token, tls: false });
  await waitUntil('site credential accepted', async () => credentialAccepted(c, site), 30_000);
  return c;
};

describe('enrollment through the API, on an authorizing Temporal', () => {
  it('enrolls a site whose worker then runs its work; revocation cuts it off; enrolling again brings it back', async () => {
    const first = await enroll();
    expect(first.namespace).toBe(siteNamespace(site));
    const asSite = await siteConnection(first.temporalToken);
    const worker = await startSiteWorker(temporal.address, site, first.temporalToken);
    try {
      const work = await startWork(asSite, site, 'first');
      await expect(work.result()).resolves.toBe(`${site} did first`);
      // The credential reaches this site's namespace only.
      expect(await attempt(() => asSite.workflowService.listNamespaces({}))).toBe('PERMISSION_DENIED');

      const revoked = await call<{ revokedKeys: string[] }>('POST', `/v1/sites/${site}/revoke`);
      expect(revoked.body.revokedKeys).toEqual([first.keyId]);
      const t0 = Date.now();
      await waitUntil(
        'revoked credential refused',
        async () => !(await credentialAccepted(asSite, site)),
        60_000,
      );
      expect(Date.now() - t0).toBeLessThan(60_000);
      // Work sent meanwhile waits, as for an offline site.
      const waiting = await startWork(control, site, 'while-revoked');
      await new Promise((r) => setTimeout(r, 2_000));
      const desc = await new Client({ connection: control, namespace: siteNamespace(site) }).workflow
        .getHandle(waiting.workflowId)
        .describe();
      expect(desc.status.name).toBe('RUNNING');
      await worker.stop();

      const second = await enroll();
      await siteConnection(second.temporalToken);
      const worker2 = await startSiteWorker(temporal.address, site, second.temporalToken);
      try {
        await expect(waiting.result()).resolves.toBe(`${site} did while-revoked`);
      } finally {
        await worker2.stop();
      }
    } finally {
      await worker.stop();
    }
  }, 150_000);
});
