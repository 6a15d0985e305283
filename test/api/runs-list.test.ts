import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from '@temporalio/client';
import { buildApp, type App } from '../../api/app.ts';
import { createTokenStore } from '../../api/auth.ts';
import type { Db } from '../../db/database.ts';
import { RunKind, type Run } from '../../domain/runs.ts';
import { freePort } from '../support/services.ts';
import { freshPostgres, temporalClient, uniq, waitUntil } from '../support/env.ts';

/**
 * Listing runs from Temporal's visibility store and following one over server-sent events.
 * The pings go to a site that is registered but has no sub-manager, so they stay running.
 */
const site = `runs-${uniq()}`;
let db: Db;
let temporal: Client;
let app: App;
let apiUrl: string;
let token: string;
const pings: string[] = [];

type Summary = Pick<Run, 'id' | 'kind' | 'status' | 'startedAt' | 'closedAt'>;
type Page = { items: Summary[]; nextCursor: string | null };

const get = async <T>(url: string) => {
  const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: res.json<T>() };
};
const ping = async () => {
  const res = await app.inject({
    method: 'POST',
    url: `/v1/sites/${site}/ping`,
    headers: { authorization: `Bearer ${token}` },
  });
  expect(res.statusCode).toBe(202);
  const { runId } = res.json<{ runId: string }>();
  pings.push(runId);
  return runId;
};
/** Every page of a listing, checking each page's size. */
const walk = async (query: string, limit: number) => {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: { status: number; body: Page } = await get<Page>(
      `/v1/runs?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
    );
    expect(page.status).toBe(200);
    expect(page.body.items.length).toBeLessThanOrEqual(limit);
    ids.push(...page.body.items.map((r) => r.id));
    cursor = page.body.nextCursor;
    if (++pages > 500) throw new Error('pagination does not end');
  } while (cursor);
  return ids;
};

beforeAll(async () => {
  ({ db } = await freshPostgres());
  temporal = await temporalClient();
  app = await buildApp({ db, temporal, siteOfflineAfterMs: 12_000, logger: false });
  const port = await freePort();
  await app.listen({ host: '127.0.0.1', port });
  apiUrl = `http://127.0.0.1:${port}`;
  token = (await createTokenStore(db).ensureAdmin()) ?? '';
  await db.query(`INSERT INTO sites (tenant_id, name) VALUES ('default', $1)`, [site]);
  for (let i = 0; i < 3; i++) await ping();
});

afterAll(async () => {
  await Promise.all(
    pings.map((id) =>
      temporal.workflow
        .getHandle(id)
        .terminate('test done')
        .catch(() => undefined),
    ),
  );
  await app.close();
  await temporal.connection.close();
  await db.close();
});

describe('GET /v1/runs', () => {
  it('lists running pings, filtered by kind and status', async () => {
    const [first, second, third] = pings as [string, string, string];
    await waitUntil(
      'the pings to be visible',
      async () => {
        const ids = await walk('kind=ping&status=running', 1000);
        return pings.every((id) => ids.includes(id));
      },
      20_000,
    );
    const page = await get<Page>('/v1/runs?kind=ping&status=running&limit=1000');
    for (const r of page.body.items)
      expect(r).toMatchObject({ kind: 'ping', status: 'running', closedAt: null });
    const mine = page.body.items.filter((r) => r.id.startsWith(`ping:${site}:`));
    // Newest first.
    expect(mine.map((r) => r.id)).toEqual([third, second, first]);
    expect(Date.parse(mine[0]?.startedAt ?? '')).toBeGreaterThan(Date.now() - 60_000);

    // Another kind, or another status, does not list them.
    expect((await walk('kind=deploy', 1000)).filter((id) => pings.includes(id))).toEqual([]);
    expect((await walk('kind=ping&status=succeeded', 1000)).filter((id) => pings.includes(id))).toEqual([]);
    // Without filters, every drover kind but never internal workflows.
    const all = await get<Page>('/v1/runs?limit=1000');
    expect(all.status).toBe(200);
    expect(all.body.items.map((r) => r.id)).toEqual(expect.arrayContaining(pings));
    for (const r of all.body.items)
      // Other suites share the namespace: any kind of run may be listed, but as a known kind.
      expect(RunKind.options).toContain(r.kind);
  }, 30_000);

  it('lists a terminated run under its status', async () => {
    const id = await ping();
    await temporal.workflow.getHandle(id).terminate('listed as terminated');
    await waitUntil(
      'the terminated ping to be listed',
      async () => (await walk('kind=ping&status=terminated', 1000)).includes(id),
      20_000,
    );
    const page = await get<Page>('/v1/runs?kind=ping&status=terminated&limit=1000');
    const run = page.body.items.find((r) => r.id === id);
    expect(run).toMatchObject({ status: 'terminated', closedAt: expect.any(String) });
    expect(await walk('kind=ping&status=running', 1000)).not.toContain(id);
  }, 30_000);

  it('pages with a cursor: limit 1 walks every run exactly once', async () => {
    const ids = await walk('kind=ping&status=running', 1);
    expect(ids.length).toBeGreaterThanOrEqual(3);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of pings.slice(0, 3)) expect(ids).toContain(id);
    const firstPage = await get<Page>('/v1/runs?kind=ping&status=running&limit=1');
    expect(firstPage.body.items).toHaveLength(1);
    expect(firstPage.body.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
  }, 60_000);

  it('refuses a bad kind, status, limit or cursor with 400 naming the field', async () => {
    for (const [query, field] of [
      ['status=sleeping', 'querystring.status'],
      ['kind=release', 'querystring.kind'],
      ['limit=0', 'querystring.limit'],
      ['cursor=not*a*cursor', 'query.cursor'],
      ['cursor=AAAA', 'query.cursor'],
      [`cursor=${Buffer.from('{"StartTime":').toString('base64url')}`, 'query.cursor'],
    ] as const) {
      const res = await get<{ error: { code: string; field: string } }>(`/v1/runs?${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.body.error).toMatchObject({ code: 'BadInput', field });
    }
  });
});

type Event = { event: string; data: string };

/** Server-sent events off a fetch response body, read on demand. */
const eventReader = (res: Response) => {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const events: Event[] = [];
  let buffer = '';
  let closed = false;
  return {
    events,
    get closed() {
      return closed;
    },
    /** Reads until `enough` holds for the events so far, or the stream ends. */
    async until(enough: (events: Event[]) => boolean): Promise<Event[]> {
      while (!enough(events) && !closed) {
        const { value, done } = await reader.read();
        if (done) {
          closed = true;
          break;
        }
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) events.push({ event, data: data.join('\n') });
        }
      }
      return events;
    },
    cancel: () => reader.cancel(),
  };
};
const follow = (url: string, headers: Record<string, string> = { authorization: `Bearer ${token}` }) =>
  fetch(url, { headers });

describe('GET /v1/runs/:id/events', () => {
  it('streams progress, then end when the run closes, then closes the stream', async () => {
    const id = await ping();
    const res = await follow(`${apiUrl}/v1/runs/${id}/events`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const sse = eventReader(res);
    const [first] = await sse.until((events) => events.length > 0);
    expect(first?.event).toBe('progress');
    const progress = JSON.parse(first?.data ?? '{}') as Run;
    expect(progress).toMatchObject({ id, kind: 'ping', status: 'running', closedAt: null });
    expect(progress.pending).toEqual(expect.any(Array));

    await temporal.workflow.getHandle(id).terminate('stream test');
    const events = await sse.until(() => false);
    expect(sse.closed).toBe(true);
    expect(events.at(-1)?.event).toBe('end');
    expect(JSON.parse(events.at(-1)?.data ?? '{}')).toEqual({ id, status: 'terminated' });
    // The last progress before the end shows the closed run; nothing is sent twice.
    const progressed = events.filter((e) => e.event === 'progress');
    expect(JSON.parse(progressed.at(-1)?.data ?? '{}')).toMatchObject({ id, status: 'terminated' });
    expect(new Set(progressed.map((e) => e.data)).size).toBe(progressed.length);
  }, 30_000);

  it('ends at once for a closed run', async () => {
    const id = await ping();
    await temporal.workflow.getHandle(id).terminate('closed before following');
    const sse = eventReader(await follow(`${apiUrl}/v1/runs/${id}/events`));
    const events = await sse.until(() => false);
    expect(sse.closed).toBe(true);
    expect(events.map((e) => e.event)).toEqual(['progress', 'end']);
  }, 15_000);

  it('is 404 for an unknown run and 401 without a token, as plain JSON', async () => {
    const unknown = await follow(`${apiUrl}/v1/runs/ping:nowhere:1/events`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/application\/json/);
    expect(await unknown.json()).toMatchObject({ error: { code: 'NotFound' } });
    const anonymous = await follow(`${apiUrl}/v1/runs/${pings[0]}/events`, {});
    expect(anonymous.status).toBe(401);
  });

  it('ends open streams when the server closes', async () => {
    const other = await buildApp({ db, temporal, siteOfflineAfterMs: 12_000, logger: false });
    const port = await freePort();
    await other.listen({ host: '127.0.0.1', port });
    const sse = eventReader(await follow(`http://127.0.0.1:${port}/v1/runs/${pings[0]}/events`));
    await sse.until((events) => events.length > 0);
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    await sse.until(() => false);
    expect(sse.closed).toBe(true);
    expect(sse.events.map((e) => e.event)).toEqual(['progress']);
  }, 20_000);
});
