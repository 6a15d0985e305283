/**
 * A self-signed serving certificate for the sandbox clouds that speak HTTPS or gRPC over TLS
 * (AKS's ARM endpoint, GKE's ClusterManager), made with the machine's openssl and cached in
 * `dir`. Clients trust it by its PEM (`ca`), never by turning verification off.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface ServingCert {
  /** PEM certificate; being self-signed, it is also the CA clients trust. */
  cert: string;
  key: string;
  ca: string;
}

export const servingCert = async (dir: string, name = 'sandbox'): Promise<ServingCert> => {
  await mkdir(dir, { recursive: true });
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '3650',
      '-subj',
      `/CN=${name}.drover.local`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ]);
  }
  const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  return { cert, key, ca: cert };
};
