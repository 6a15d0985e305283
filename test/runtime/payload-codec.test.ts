import { describe, expect, it } from '@jest/globals';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  createEncryptionCodec,
  newKeyring,
  parseKeyring,
  serializeKeyring,
  type PayloadKeyring,
} from '../../runtime/payload-codec.ts';

const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');
const payloadOf = (value: unknown): Payload => defaultPayloadConverter.toPayload<unknown>(value);
const SECRET = { stringData: { password: 'hunter2-very-secret' } };

const withKey = (keyring: PayloadKeyring, id: string): PayloadKeyring => ({
  active: id,
  keys: new Map([...keyring.keys, [id, Buffer.alloc(32, id.length)]]),
});

describe('the payload encryption codec', () => {
  it('seals a payload whole: no plaintext, the key id in clear, and opens it again', async () => {
    const keyring = newKeyring();
    const codec = createEncryptionCodec(keyring);
    const [sealed] = await codec.encode([payloadOf(SECRET)]);
    expect(text(sealed?.metadata?.encoding)).toBe('binary/encrypted');
    expect(text(sealed?.metadata?.['encryption-key-id'])).toBe(keyring.active);
    expect(text(sealed?.data)).not.toContain('hunter2');
    // The inner encoding (json/plain) is sealed too.
    expect(text(sealed?.data)).not.toContain('json/plain');
    const [opened] = await codec.decode([sealed as Payload]);
    expect(defaultPayloadConverter.fromPayload(opened as Payload)).toEqual(SECRET);
  });

  it('uses a fresh nonce: the same value twice gives two ciphertexts', async () => {
    const codec = createEncryptionCodec(newKeyring());
    const [a, b] = await codec.encode([payloadOf(SECRET), payloadOf(SECRET)]);
    expect(Buffer.from(a?.data ?? new Uint8Array()).equals(Buffer.from(b?.data ?? new Uint8Array()))).toBe(
      false,
    );
  });

  it('rotates: a new active key encrypts, the old one still decrypts what it sealed', async () => {
    const old = newKeyring();
    const [sealedOld] = await createEncryptionCodec(old).encode([payloadOf('before')]);
    const rotated = withKey(old, 'k-next');
    const codec = createEncryptionCodec(rotated);
    const [sealedNew] = await codec.encode([payloadOf('after')]);
    expect(text(sealedNew?.metadata?.['encryption-key-id'])).toBe('k-next');
    const opened = await codec.decode([sealedOld as Payload, sealedNew as Payload]);
    expect(opened.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(['before', 'after']);
  });

  it('refuses a payload under a key it does not hold, naming the key', async () => {
    const [sealed] = await createEncryptionCodec(newKeyring()).encode([payloadOf(SECRET)]);
    const other = { active: 'k-other', keys: new Map([['k-other', Buffer.alloc(32, 7)]]) };
    await expect(createEncryptionCodec(other).decode([sealed as Payload])).rejects.toThrow(
      /encrypted with key 'k\d+T\d+', which this process does not hold/,
    );
  });

  it('detects tampering and a relabelled key id', async () => {
    const keyring = withKey(newKeyring(), 'k-second');
    const codec = createEncryptionCodec(keyring);
    const [sealed] = await codec.encode([payloadOf(SECRET)]);
    const flipped = Buffer.from(sealed?.data ?? new Uint8Array());
    flipped[20] = (flipped[20] ?? 0) ^ 1;
    await expect(codec.decode([{ ...sealed, data: flipped }])).rejects.toThrow(/failed authentication/);
    // Same bytes, but claiming the other key: the key id is bound to the ciphertext.
    const relabelled = {
      ...sealed,
      metadata: { ...sealed?.metadata, 'encryption-key-id': Buffer.from([...keyring.keys.keys()][0] ?? '') },
    };
    await expect(codec.decode([relabelled])).rejects.toThrow(/failed authentication/);
  });

  it('passes through payloads that were never encrypted (histories from before encryption)', async () => {
    const codec = createEncryptionCodec(newKeyring());
    const plain = payloadOf({ hello: 'world' });
    const [opened] = await codec.decode([plain]);
    expect(opened).toBe(plain);
  });
});

describe('the keyring file', () => {
  it('round-trips', () => {
    const keyring = withKey(newKeyring(), 'k2');
    const back = parseKeyring(serializeKeyring(keyring), 'test');
    expect(back.active).toBe('k2');
    expect([...back.keys.keys()].sort()).toEqual([...keyring.keys.keys()].sort());
  });

  it.each([
    ['not json', /not JSON/],
    ['{"active":"a","keys":{"a":"c2hvcnQ="}}', /keys\.a: a key is 32 bytes, base64/],
    [
      `{"active":"b","keys":{"a":"${Buffer.alloc(32).toString('base64')}"}}`,
      /active: the active key is not among the keys/,
    ],
    [`{"active":"a b","keys":{"a b":"${Buffer.alloc(32).toString('base64')}"}}`, /key ids are 1-64/],
  ])('rejects %s, saying what is wrong', (body, message) => {
    expect(() => parseKeyring(body, '/etc/drover/keys.json')).toThrow(message);
    expect(() => parseKeyring(body, '/etc/drover/keys.json')).toThrow(/\/etc\/drover\/keys\.json/);
  });
});
