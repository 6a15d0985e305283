import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Client } from '@temporalio/client';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import proto from '@temporalio/proto';
import { z } from 'zod';

/**
 * drover's payload encryption: every client and worker runs this codec, so workflow histories
 * hold ciphertext instead of release content, overrides, cluster specs and cloud parameters.
 * AES-256-GCM, a fresh 96-bit nonce per payload, the whole Payload (its metadata included)
 * sealed; the key id travels in clear metadata so several keys can be live at once: the
 * active one encrypts, all of them decrypt (rotation: add a key, make it active, drop the old
 * one once no history that needs it is retained).
 */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const CIPHER_METADATA = 'encryption-cipher';
const CIPHER = 'AES-256-GCM';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export type PayloadKeyring = { active: string; keys: Map<string, Buffer> };

const KeyringFile = z
  .object({
    active: z.string().min(1),
    keys: z
      .record(
        z.string(),
        z.string().refine((k) => Buffer.from(k, 'base64').length === 32, 'a key is 32 bytes, base64'),
      )
      .refine((keys) => Object.keys(keys).every((id) => /^[A-Za-z0-9._-]{1,64}$/.test(id)), {
        message: 'key ids are 1-64 of A-Z a-z 0-9 . _ -',
      }),
  })
  .refine((f) => f.active in f.keys, { message: 'the active key is not among the keys', path: ['active'] });

export const parseKeyring = (text: string, source: string): PayloadKeyring => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`payload keys ${source}: not JSON (${(err as Error).message})`, { cause: err });
  }
  const parsed = KeyringFile.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`);
    throw new Error(`payload keys ${source}: ${problems.join('; ')}`);
  }
  return {
    active: parsed.data.active,
    keys: new Map(Object.entries(parsed.data.keys).map(([id, k]) => [id, Buffer.from(k, 'base64')])),
  };
};

export const serializeKeyring = (keyring: PayloadKeyring): string =>
  `${JSON.stringify(
    {
      active: keyring.active,
      keys: Object.fromEntries([...keyring.keys].map(([id, k]) => [id, k.toString('base64')])),
    },
    null,
    2,
  )}\n`;

/** A keyring with one new random key (id `k` + the creation time), for a first start. */
export const newKeyring = (now = new Date()): PayloadKeyring => {
  const id = `k${now.toISOString().replace(/[-:]/g, '').slice(0, 15)}`;
  return { active: id, keys: new Map([[id, randomBytes(32)]]) };
};

/**
 * Reads the keyring file; with `create`, writes a new one (mode 0600) when there is none, as
 * the control plane does on a first `make up`. A sub-manager never creates keys: it is given
 * them, like its Temporal credential.
 */
export const loadKeyring = async (
  path: string,
  options: { create?: boolean } = {},
): Promise<PayloadKeyring> => {
  try {
    return parseKeyring(await readFile(path, 'utf8'), path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !options.create) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw new Error(`payload keys ${path}: no such file (DROVER_PAYLOAD_KEYS)`, { cause: err });
      throw err;
    }
  }
  const keyring = newKeyring();
  await mkdir(dirname(path), { recursive: true });
  // 'wx': two processes starting at once must not write two different keyrings.
  await writeFile(path, serializeKeyring(keyring), { mode: 0o600, flag: 'wx' }).catch(
    async (err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    },
  );
  await chmod(path, 0o600);
  return parseKeyring(await readFile(path, 'utf8'), path);
};

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

export class PayloadKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadKeyError';
  }
}

export const createEncryptionCodec = (keyring: PayloadKeyring): PayloadCodec => {
  const activeKey = keyring.keys.get(keyring.active);
  if (!activeKey) throw new PayloadKeyError(`active payload key ${keyring.active} is missing`);
  const seal = (payload: Payload): Payload => {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', activeKey, nonce);
    // The key id is bound to the ciphertext: a payload relabelled with another key id fails.
    cipher.setAAD(Buffer.from(keyring.active));
    const plain = proto.temporal.api.common.v1.Payload.encode(payload).finish();
    const sealed = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: utf8(keyring.active),
        [CIPHER_METADATA]: utf8(CIPHER),
      },
      data: sealed,
    };
  };
  const open = (payload: Payload): Payload => {
    if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
    const keyId = text(payload.metadata?.[KEY_ID_METADATA]) ?? '';
    const key = keyring.keys.get(keyId);
    if (!key)
      throw new PayloadKeyError(`payload encrypted with key '${keyId}', which this process does not hold`);
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < NONCE_BYTES + TAG_BYTES) throw new PayloadKeyError('encrypted payload is truncated');
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(keyId));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([
        decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      throw new PayloadKeyError(`payload under key '${keyId}' failed authentication (tampered or wrong key)`);
    }
    return proto.temporal.api.common.v1.Payload.decode(plain);
  };
  return {
    encode: async (payloads) => payloads.map(seal),
    decode: async (payloads) => payloads.map(open),
  };
};

/** The data converter every drover client and worker uses: the default one, encrypted. */
export const encryptedDataConverter = (keyring: PayloadKeyring): DataConverter => ({
  payloadCodecs: [createEncryptionCodec(keyring)],
});

/**
 * Payloads through a client's codecs as the SDK runs them: encoding in order, decoding in
 * reverse. For payloads the SDK hands out undecoded (raw histories) or takes in from outside
 * (the codec endpoint).
 */
export const applyCodecs = async (
  client: Client,
  direction: 'encode' | 'decode',
  payloads: Payload[],
): Promise<Payload[]> => {
  const codecs = client.options.loadedDataConverter.payloadCodecs;
  let out = payloads;
  for (const codec of direction === 'encode' ? codecs : [...codecs].reverse())
    out = await codec[direction](out);
  return out;
};

/** A payload read straight from a raw history, decoded through the client's codecs and payload converter. */
export const decodeRawPayload = async <T>(
  client: Client,
  payload: Payload | null | undefined,
): Promise<T | undefined> => {
  if (!payload) return undefined;
  const [decoded] = await applyCodecs(client, 'decode', [payload]);
  return decoded ? client.options.loadedDataConverter.payloadConverter.fromPayload<T>(decoded) : undefined;
};
