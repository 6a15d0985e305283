import { describe, expect, it } from '@jest/globals';
import { apiConfig, subManagerConfig, temporalConnection } from '../../domain/config.ts';
import { SiteName, isPollerAlive } from '../../domain/sites.ts';
import { RunId, kindOfRunId, runIdFor } from '../../domain/runs.ts';
import { siteTaskQueue } from '../../domain/task-queues.ts';

describe('configuration', () => {
  it('has defaults for the embedded setup', () => {
    const c = apiConfig({});
    expect(c.DROVER_API_PORT).toBe(8080);
    expect(c.DROVER_API_HOST).toBe('127.0.0.1');
    expect(c.DROVER_HOME).toBe('.drover');
    expect(c.DATABASE_URL).toBeUndefined();
    expect(temporalConnection(c)).toEqual({
      address: '127.0.0.1:7233',
      namespace: 'default',
      payloadKeys: '.drover/payload-keys.json',
    });
    expect(c.DROVER_CODEC_CORS_ORIGINS).toEqual(['http://127.0.0.1:8233', 'http://localhost:8233']);
  });

  it('reads the payload keyring path and the codec origins', () => {
    const c = apiConfig({
      DROVER_PAYLOAD_KEYS: '/etc/drover/payload-keys.json',
      DROVER_CODEC_CORS_ORIGINS: 'https://temporal.example.com, https://ui.example.com',
    });
    expect(temporalConnection(c).payloadKeys).toBe('/etc/drover/payload-keys.json');
    expect(c.DROVER_CODEC_CORS_ORIGINS).toEqual(['https://temporal.example.com', 'https://ui.example.com']);
  });

  it('names the variable that is wrong', () => {
    expect(() => apiConfig({ DROVER_API_PORT: 'eighty' })).toThrow(/DROVER_API_PORT/);
    expect(() => apiConfig({ DROVER_ADMIN_TOKEN: 'short' })).toThrow(/DROVER_ADMIN_TOKEN/);
    expect(() => subManagerConfig({})).toThrow(/DROVER_SITE/);
    expect(() => subManagerConfig({ DROVER_SITE: 'Not_A_Label' })).toThrow(/DROVER_SITE/);
  });

  it('passes Temporal mTLS file paths through', () => {
    const c = subManagerConfig({
      DROVER_SITE: 'eu-dc1',
      DROVER_TEMPORAL_TLS_CERT: '/c.pem',
      DROVER_TEMPORAL_TLS_KEY: '/k.pem',
      DROVER_TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });
    expect(temporalConnection(c).tls).toEqual({
      certPath: '/c.pem',
      keyPath: '/k.pem',
      serverName: 'temporal.internal',
    });
  });
});

describe('sites and runs', () => {
  it('accepts DNS-label site names only', () => {
    for (const ok of ['local', 'eu-dc1', 'a', 'x1-2']) expect(SiteName.safeParse(ok).success).toBe(true);
    for (const bad of ['', 'EU', '-a', 'a-', 'a_b', 'a.b', 'x'.repeat(64)])
      expect(SiteName.safeParse(bad).success).toBe(false);
  });

  it('gives each site its own task queue', () => {
    expect(siteTaskQueue('eu-dc1')).toBe('site.eu-dc1');
  });

  it('judges a poller alive only within the window', () => {
    const now = new Date('2026-01-01T00:01:00Z');
    expect(isPollerAlive(new Date('2026-01-01T00:00:30Z'), now, 45_000)).toBe(true);
    expect(isPollerAlive(new Date('2026-01-01T00:00:10Z'), now, 45_000)).toBe(false);
    expect(isPollerAlive(null, now, 45_000)).toBe(false);
  });

  it('builds run ids that are their own business keys', () => {
    const id = runIdFor('ping', 'local:abc');
    expect(id).toBe('ping:local:abc');
    expect(kindOfRunId(id)).toBe('ping');
    expect(RunId.safeParse(id).success).toBe(true);
    expect(RunId.safeParse('no-kind').success).toBe(false);
    expect(RunId.safeParse('ping:../etc').success).toBe(false);
  });
});
