import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, type App } from '../../api/app.ts';
import { apiConfig } from '../../domain/config.ts';
import { ensureDevCa, type DevCa } from '../../sandbox/dev-ca.ts';
import { startApi, type ApiHarness } from '../support/drover.ts';
import { freePort } from '../support/services.ts';

/** The API serves HTTPS when given a certificate and key (DROVER_API_TLS_CERT / _KEY). */
let api: ApiHarness;
let app: App;
let ca: DevCa;
let port: number;

beforeAll(async () => {
  api = await startApi();
  ca = ensureDevCa(join(mkdtempSync(join(tmpdir(), 'drover-https-')), 'ca'));
  app = await buildApp({
    db: api.db,
    temporal: api.temporal,
    siteOfflineAfterMs: 45_000,
    logger: false,
    https: { cert: readFileSync(ca.certPath), key: readFileSync(ca.keyPath) },
  });
  port = await freePort();
  await app.listen({ host: '127.0.0.1', port });
});

afterAll(async () => {
  await app?.close();
  await api?.close();
});

const get = (path: string, trust?: Buffer) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'GET', ...(trust ? { ca: trust } : {}) },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });

describe('the API over HTTPS', () => {
  it('answers a client that trusts its CA', async () => {
    const res = await get('/healthz', ca.ca);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ok' });
    const jwks = await get('/.well-known/jwks.json', ca.ca);
    expect(jwks.status).toBe(200);
  });

  it('is refused by a client that does not trust the certificate', async () => {
    await expect(get('/healthz')).rejects.toThrow(/self-signed|unable to verify|certificate/i);
  });

  it('wants both the certificate and the key, or neither', () => {
    expect(() => apiConfig({ DROVER_API_TLS_CERT: '/etc/drover/api.pem' })).toThrow(
      /DROVER_API_TLS_KEY: set both DROVER_API_TLS_CERT and DROVER_API_TLS_KEY, or neither/,
    );
    expect(
      apiConfig({ DROVER_API_TLS_CERT: '/a.pem', DROVER_API_TLS_KEY: '/a.key' }).DROVER_API_TLS_KEY,
    ).toBe('/a.key');
  });
});
