import { describe, expect, it } from '@jest/globals';
import { durationMs, formatDuration } from '../../domain/durations.ts';
import {
  assessVersion,
  capDriftCheck,
  clusterExpiry,
  DRIFT_CHECK_CHARS,
  MaintenanceSpec,
  TTL_LABEL,
} from '../../domain/maintenance.ts';
import { CreateScheduleRequest, scheduledRunPrefixes, scheduledWorkflowId } from '../../domain/schedules.ts';
import { minorOf } from '../../domain/versions.ts';

const DAY = 86_400_000;

describe('durations', () => {
  it('reads days, hours, minutes and seconds in that order, and nothing else', () => {
    expect(durationMs('90s')).toBe(90_000);
    expect(durationMs('1h30m')).toBe(5_400_000);
    expect(durationMs('7d')).toBe(7 * DAY);
    expect(durationMs('0s')).toBe(0);
    for (const bad of ['', 'h', '1.5h', '30m1h', '1w', '-1s', '10 m'])
      expect(durationMs(bad)).toBeUndefined();
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(durationMs('2d3h4m5s') ?? 0)).toBe('2d3h4m5s');
  });
});

describe('cluster expiry', () => {
  const createdAt = new Date('2026-11-01T00:00:00Z');
  it('comes from expiresAt, from the TTL label counted since registration, or the earlier of both', () => {
    expect(clusterExpiry({ expiresAt: null, createdAt, labels: {} })).toBeNull();
    expect(clusterExpiry({ expiresAt: null, createdAt, labels: { [TTL_LABEL]: '3d' } })).toEqual({
      at: new Date('2026-11-04T00:00:00Z'),
      reason: 'ttl-label',
    });
    const expiresAt = new Date('2026-11-02T00:00:00Z');
    expect(clusterExpiry({ expiresAt, createdAt, labels: { [TTL_LABEL]: '3d' } })).toEqual({
      at: expiresAt,
      reason: 'expiresAt',
    });
    expect(clusterExpiry({ expiresAt, createdAt, labels: { [TTL_LABEL]: '12h' } })?.reason).toBe('ttl-label');
  });
  it('ignores a TTL label it cannot read', () => {
    expect(clusterExpiry({ expiresAt: null, createdAt, labels: { [TTL_LABEL]: 'forever' } })).toBeNull();
  });
});

describe('version support', () => {
  const now = new Date('2026-11-29T12:00:00Z');
  const warnWithinMs = 90 * DAY;
  it('reads minors from the forms clusters and clouds report', () => {
    expect(minorOf('v1.33.13')).toBe('1.33');
    expect(minorOf('1.34')).toBe('1.34');
    expect(minorOf('1.32.9-eks-113cf36')).toBe('1.32');
    expect(minorOf('unknown')).toBeNull();
  });
  it("judges a cloud's cluster by its catalog: gone, the oldest still offered, offered", () => {
    const cloudVersions = ['1.35', '1.34.2', '1.33', '1.32'];
    const at = (version: string) => assessVersion({ version, cloudVersions, now, warnWithinMs });
    expect(at('1.31.4')).toMatchObject({ status: 'unsupported', source: 'cloud-catalog' });
    expect(at('1.32.9')).toMatchObject({
      status: 'expiring',
      reason: expect.stringContaining('oldest') as unknown,
    });
    expect(at('v1.34.1')).toMatchObject({ status: 'supported', supported: ['1.35', '1.34', '1.33', '1.32'] });
    expect(at('1.36.0').status).toBe('supported');
  });
  it('judges a kubeconfig cluster by the upstream end-of-life table and the warning window', () => {
    const at = (version: string | null, when = now) =>
      assessVersion({ version, cloudVersions: null, now: when, warnWithinMs });
    expect(at('v1.33.13')).toMatchObject({
      status: 'unsupported',
      source: 'upstream',
      endOfLife: '2026-06-28',
    });
    // 1.35 leaves support on 2027-02-28: 91 days after `now`, within 90 days of mid-December.
    expect(at('v1.35.2')).toMatchObject({ status: 'supported', endOfLife: '2027-02-28' });
    expect(at('v1.35.2', new Date('2026-12-15T00:00:00Z'))).toMatchObject({ status: 'expiring' });
    expect(at('v1.36.1')).toMatchObject({ status: 'supported', endOfLife: '2027-06-28' });
    expect(at('v1.35.2', new Date('2026-06-01T00:00:00Z')).status).toBe('supported');
    // Older than a minor past its end: past it too. Newer than the table: taken as supported.
    expect(at('v1.31.9')).toMatchObject({ status: 'unsupported', endOfLife: '2025-10-28' });
    expect(at('v1.29.0').status).toBe('unsupported');
    expect(at('v1.40.0').status).toBe('supported');
    expect(at(null).status).toBe('unknown');
    expect(at('v1.36.1').supported).toEqual(['1.37', '1.36', '1.35']);
  });
});

describe('a drift check', () => {
  const object = (i: number) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    namespace: 'shop',
    name: `config-${i}`,
    state: 'drifted' as const,
    fields: Array.from({ length: 20 }, (_, f) => ({
      path: `data.key${f}`,
      live: `"${'l'.repeat(198)}"`,
      desired: `"${'d'.repeat(198)}"`,
    })),
    truncated: true,
  });

  it('keeps its objects in order while they fit, and counts the rest', () => {
    const objects = Array.from({ length: 300 }, (_, i) => object(i));
    const check = { status: 'drifted' as const, checked: 300, objects, error: `x${'y'.repeat(10_000)}` };
    const capped = capDriftCheck(check);
    expect(JSON.stringify(capped).length).toBeLessThanOrEqual(DRIFT_CHECK_CHARS);
    expect(capped.objects.length).toBeGreaterThan(0);
    expect(capped.objects).toEqual(objects.slice(0, capped.objects.length));
    expect(capped.omitted).toBe(300 - capped.objects.length);
    expect(capped.error?.length).toBe(2_000);
    expect(capped.checked).toBe(300);
    // Capping again keeps the count.
    expect(capDriftCheck(capped, 10_000).omitted).toBeGreaterThan(capped.omitted ?? 0);
  });

  it('leaves a small check as it was', () => {
    const check = { status: 'drifted' as const, checked: 3, objects: [object(1)], error: null };
    expect(capDriftCheck(check)).toEqual(check);
  });
});

describe('maintenance and schedule specs', () => {
  it('need at least one task, and give each its defaults', () => {
    expect(MaintenanceSpec.safeParse({}).success).toBe(false);
    expect(MaintenanceSpec.parse({ drift: {}, expiredClusters: {} })).toEqual({
      drift: { policy: 'report', maxParallel: 10 },
      expiredClusters: { grace: '1h', dryRun: false, maxParallel: 5 },
    });
  });
  it('default a schedule to skip overlaps with a ten-minute catch-up window', () => {
    const parsed = CreateScheduleRequest.parse({
      id: 'nightly',
      spec: { cron: ['0 3 * * *'], timezone: 'Europe/Berlin' },
      action: { kind: 'maintenance', maintenance: { versions: {} } },
    });
    expect(parsed.policy).toEqual({ overlap: 'skip', catchupWindow: '10m', pauseOnFailure: false });
    expect(parsed.paused).toBe(false);
  });
  it("name each schedule's runs by a prefix no other schedule shares", () => {
    expect(scheduledWorkflowId('deploy', 'web')).toBe('deploy:web.scheduled');
    // Temporal appends `-<time>`; `web-2` is another schedule and must not match `web`'s prefix.
    const webRun = `${scheduledWorkflowId('deploy', 'web')}-2026-05-01T03:00:00Z`;
    const web2Run = `${scheduledWorkflowId('deploy', 'web-2')}-2026-05-01T03:00:00Z`;
    expect(scheduledRunPrefixes('web').some((p) => webRun.startsWith(p))).toBe(true);
    expect(scheduledRunPrefixes('web').some((p) => web2Run.startsWith(p))).toBe(false);
  });
});
