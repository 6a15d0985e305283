import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A local certificate authority for TLS on every link of a setup on one machine (`make up`,
 * the tests): a CA and one server certificate for 127.0.0.1 and localhost, made with the
 * machine's openssl (Node has no certificate builder) and kept in `dir` so a second start
 * reuses them. Production brings its own certificates.
 */
export type DevCa = { caPath: string; certPath: string; keyPath: string; ca: Buffer };

export const ensureDevCa = (dir: string): DevCa => {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const p = (f: string) => join(dir, f);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  if (!existsSync(p('ca.pem'))) {
    openssl([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      p('ca.key'),
      '-out',
      p('ca.pem'),
      '-days',
      '3650',
      '-subj',
      '/CN=drover local CA',
    ]);
  }
  if (!existsSync(p('server.pem'))) {
    openssl(['req', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=127.0.0.1']);
    writeFileSync(
      p('server.ext'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
    );
    openssl([
      'x509',
      '-req',
      '-in',
      p('server.csr'),
      '-CA',
      p('ca.pem'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-out',
      p('server.pem'),
      '-days',
      '825',
      '-extfile',
      p('server.ext'),
    ]);
  }
  return {
    caPath: p('ca.pem'),
    certPath: p('server.pem'),
    keyPath: p('server.key'),
    ca: readFileSync(p('ca.pem')),
  };
};
