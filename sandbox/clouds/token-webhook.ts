/**
 * The sandbox clouds' cluster authenticator: a Kubernetes webhook token authenticator (the
 * TokenReview API) that the sandbox clusters' API servers consult, as EKS's API servers consult
 * aws-iam-authenticator and GKE's consult Google. It lets a sandbox cluster accept the bearer
 * tokens the real adapters hand out:
 *
 * - EKS: `k8s-aws-v1.` + base64url of a presigned STS GetCallerIdentity URL whose signed
 *   headers include `x-k8s-aws-id` (what `aws eks get-token` makes). The sandbox has no STS, so
 *   the signature is not verified; the shape, the action, the signed cluster header and the
 *   15-minute lifetime are.
 * - GKE: the fixed access tokens the sandbox GKE was started with.
 *
 * Authenticated callers are cluster admins (system:masters), as a cluster's creator is on EKS.
 * API servers are pointed at it with `apiServerArgs()` (KubeEnvOptions.apiServerArgs).
 */
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { servingCert } from './tls.ts';

/** How long an EKS token is good for after it was signed (aws-iam-authenticator's rule). */
const EKS_TOKEN_LIFETIME_MS = 15 * 60_000;
const EKS_PREFIX = 'k8s-aws-v1.';

export interface TokenWebhookOptions {
  /** Holds the serving certificate and the API servers' webhook kubeconfig. */
  dir: string;
  /** Fixed tokens to accept (the sandbox GKE's access tokens). */
  tokens?: string[];
  now?: () => number;
}

export interface TokenWebhook {
  url: string;
  /** The kubeconfig file kube-apiserver's `--authentication-token-webhook-config-file` takes. */
  configFile: string;
  /** Flags for every sandbox API server. */
  apiServerArgs(): string[];
  stop(): Promise<void>;
}

type User = { username: string; uid: string; groups: string[] };

/** The user an EKS token stands for, or why it is refused. */
export const eksTokenUser = (token: string, now: number): User | string => {
  let url: URL;
  try {
    url = new URL(Buffer.from(token.slice(EKS_PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    return 'not a presigned URL';
  }
  const q = url.searchParams;
  if (!/^sts(\.[a-z0-9-]+)?\.amazonaws\.com$/.test(url.hostname)) return `not an STS host: ${url.hostname}`;
  if (q.get('Action') !== 'GetCallerIdentity') return 'not a GetCallerIdentity request';
  if (!q.get('X-Amz-Signature')) return 'not signed';
  if (!(q.get('X-Amz-SignedHeaders') ?? '').split(';').includes('x-k8s-aws-id'))
    return 'the cluster header x-k8s-aws-id is not signed';
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(q.get('X-Amz-Date') ?? '');
  if (!date) return 'no signing date';
  const signedAt = Date.UTC(+date[1]!, +date[2]! - 1, +date[3]!, +date[4]!, +date[5]!, +date[6]!);
  if (now - signedAt > EKS_TOKEN_LIFETIME_MS) return 'expired';
  if (signedAt - now > 5 * 60_000) return 'signed in the future';
  const accessKey = (q.get('X-Amz-Credential') ?? '').split('/')[0] || 'unknown';
  return {
    username: `eks:${accessKey}`,
    uid: `aws-iam-authenticator:${accessKey}`,
    groups: ['system:masters'],
  };
};

export const startTokenWebhook = async (options: TokenWebhookOptions): Promise<TokenWebhook> => {
  const now = options.now ?? (() => Date.now());
  const fixed = new Set(options.tokens ?? []);
  const cert = await servingCert(options.dir, 'token-webhook');

  const review = (token: string): User | string => {
    if (fixed.has(token)) return { username: 'gke:sandbox', uid: 'gke-sandbox', groups: ['system:masters'] };
    if (token.startsWith(EKS_PREFIX)) return eksTokenUser(token, now());
    return 'unknown token';
  };

  const server = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: { apiVersion?: string; spec?: { token?: string } };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        res.writeHead(400).end();
        return;
      }
      const verdict = review(body.spec?.token ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          apiVersion: body.apiVersion ?? 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          status:
            typeof verdict === 'string'
              ? { authenticated: false, error: verdict }
              : { authenticated: true, user: verdict },
        }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/authenticate`;
  const configFile = join(options.dir, 'token-webhook.kubeconfig');
  await writeFile(
    configFile,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'sandbox-authenticator',
          cluster: { server: url, 'certificate-authority-data': Buffer.from(cert.ca).toString('base64') },
        },
      ],
      users: [{ name: 'kube-apiserver', user: {} }],
      contexts: [{ name: 'webhook', context: { cluster: 'sandbox-authenticator', user: 'kube-apiserver' } }],
      'current-context': 'webhook',
    }),
  );
  return {
    url,
    configFile,
    apiServerArgs: () => [
      `--authentication-token-webhook-config-file=${configFile}`,
      '--authentication-token-webhook-version=v1',
      // Tokens are short-lived; a short cache keeps an expired one from lingering.
      '--authentication-token-webhook-cache-ttl=30s',
    ],
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
