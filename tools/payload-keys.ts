/**
 * Makes and rotates drover's payload keyring (runtime/payload-codec.ts), the file every
 * process names in DROVER_PAYLOAD_KEYS. `make up` makes one by itself; a deployment makes one
 * here and gives the same file to the API, the control worker and every sub-manager.
 *
 *   node tools/payload-keys.ts new  > secrets/payload-keys.json   # a keyring with one key
 *   node tools/payload-keys.ts rotate secrets/payload-keys.json   # add a key and make it active
 *   node tools/payload-keys.ts drop secrets/payload-keys.json ID  # remove a retired key
 *
 * Rotate, restart every process with the new file (each still decrypts under the old key),
 * and drop the old key only once no retained workflow history needs it.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { newKeyring, parseKeyring, serializeKeyring } from '../runtime/payload-codec.ts';

const [command, file, keyId] = process.argv.slice(2);
const fail = (message: string): never => {
  console.error(`payload-keys: ${message}`);
  process.exit(2);
};

switch (command) {
  case 'new':
    process.stdout.write(serializeKeyring(newKeyring()));
    break;
  case 'rotate': {
    if (!file) fail('rotate FILE');
    const path = file as string;
    const keyring = parseKeyring(await readFile(path, 'utf8'), path);
    const fresh = newKeyring();
    // Two rotations in one second would otherwise reuse the id.
    const id = keyring.keys.has(fresh.active)
      ? `${fresh.active}-${randomBytes(2).toString('hex')}`
      : fresh.active;
    keyring.keys.set(id, [...fresh.keys.values()][0] as Buffer);
    keyring.active = id;
    await writeFile(path, serializeKeyring(keyring), { mode: 0o600 });
    console.error(`payload-keys: ${id} is now active; ${keyring.keys.size - 1} older key(s) still decrypt`);
    break;
  }
  case 'drop': {
    if (!file || !keyId) fail('drop FILE KEY_ID');
    const path = file as string;
    const keyring = parseKeyring(await readFile(path, 'utf8'), path);
    if (keyId === keyring.active) fail(`${keyId} is the active key: rotate first`);
    if (!keyring.keys.delete(keyId as string)) fail(`no key ${keyId} in ${path}`);
    await writeFile(path, serializeKeyring(keyring), { mode: 0o600 });
    console.error(`payload-keys: dropped ${keyId}`);
    break;
  }
  default:
    fail('usage: payload-keys.ts new | rotate FILE | drop FILE KEY_ID');
}
