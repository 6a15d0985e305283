import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { createTokenStore } from '../../api/auth.ts';
import { buildApp, type App } from '../../api/app.ts';
import { startApi, type ApiHarness } from '../support/drover.ts';

/** The Temporal remote codec endpoint: admins decode what histories hold encrypted. */
let api: ApiHarness;
let app: App;
let viewer: string;
const UI = 'http://127.0.0.1:8233';

const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [
      k,
      Buffer.from(v ?? new Uint8Array()).toString('base64'),
    ]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});
const fromJson = (p: { metadata: Record<string, string>; data: string }): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data, 'base64'),
});
type Payloads = { payloads: { metadata: Record<string, string>; data: string }[] };

beforeAll(async () => {
  api = await startApi();
  app = await buildApp({
    db: api.db,
    temporal: api.temporal,
    siteOfflineAfterMs: 45_000,
    logger: false,
    codecCorsOrigins: [UI],
  });
  viewer = (await createTokenStore(api.db).create('a-viewer', 'viewer')).token;
});

afterAll(async () => {
  await app?.close();
  await api?.close();
});

const post = (path: string, token: string | undefined, payload: object, origin?: string) =>
  app.inject({
    method: 'POST',
    url: `/v1/codec/${path}`,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(origin ? { origin } : {}) },
    payload,
  });

describe('the codec endpoint', () => {
  it('encodes with the active key and decodes back, for an admin', async () => {
    const plain = defaultPayloadConverter.toPayload<unknown>({ password: 'hunter2' });
    const encoded = await post('encode', api.token, { payloads: [toJson(plain)] });
    expect(encoded.statusCode).toBe(200);
    const sealed = encoded.json<Payloads>().payloads[0];
    expect(Buffer.from(sealed?.metadata.encoding ?? '', 'base64').toString()).toBe('binary/encrypted');
    expect(Buffer.from(sealed?.data ?? '', 'base64').toString()).not.toContain('hunter2');
    // What the workers wrote decodes the same way: they share the keyring.
    const [fromWorker] = await api.temporal.options.loadedDataConverter.payloadCodecs[0]!.encode([plain]);
    const decoded = await post('decode', api.token, {
      payloads: [sealed, toJson(fromWorker as Payload)],
    });
    expect(decoded.statusCode).toBe(200);
    expect(
      decoded.json<Payloads>().payloads.map((p) => defaultPayloadConverter.fromPayload(fromJson(p))),
    ).toEqual([{ password: 'hunter2' }, { password: 'hunter2' }]);
  });

  it('refuses callers without a token (401) and non-admins (403)', async () => {
    const body = { payloads: [] };
    expect((await post('decode', undefined, body)).statusCode).toBe(401);
    const res = await post('decode', viewer, body);
    expect(res.statusCode).toBe(403);
  });

  it('answers a payload under an unknown key with a 400 naming the key', async () => {
    const res = await post('decode', api.token, {
      payloads: [
        {
          metadata: {
            encoding: Buffer.from('binary/encrypted').toString('base64'),
            'encryption-key-id': Buffer.from('k-gone').toString('base64'),
          },
          data: Buffer.alloc(40).toString('base64'),
        },
      ],
    });
    expect(res.statusCode).toBe(400);
    expect(res.body).toMatch(/k-gone/);
  });

  it('rejects a body that is not the codec protocol, naming the field', async () => {
    const res = await post('decode', api.token, { payloads: [{ data: 'not base64!' }] });
    expect(res.statusCode).toBe(400);
    expect(res.json<{ error: { field: string } }>().error.field).toBe('body.payloads.0.data');
  });

  it("answers the Temporal UI's CORS preflight without credentials, and only for its origin", async () => {
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/v1/codec/decode',
      headers: { origin: UI, 'access-control-request-method': 'POST' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(UI);
    expect(preflight.headers['access-control-allow-headers']).toMatch(/authorization/);
    const stranger = await app.inject({
      method: 'OPTIONS',
      url: '/v1/codec/decode',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
    const actual = await post('decode', api.token, { payloads: [] }, UI);
    expect(actual.statusCode).toBe(200);
    expect(actual.headers['access-control-allow-origin']).toBe(UI);
  });
});
