/**
 * Credentials → a client for one Kubernetes API server. kube/ is the only module that
 * imports @kubernetes/client-node; everything else talks to clusters through KubeClient.
 *
 * client-node supplies the credential handling (kubeconfig parsing, client certificates,
 * exec and OIDC plugins, proxies) through KubeConfig.applyToHTTPSOptions. Requests
 * themselves go out raw: client-node's generic KubernetesObjectApi re-serialises every
 * object through its generated models (2.0.1), which silently drops fields it has no model
 * for, so a typo never reaches strict validation, and also the CRD schema keywords it models
 * under other names (`enum`, `x-kubernetes-preserve-unknown-fields`): what it sends is not
 * the manifest we were given.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { Cluster, User } from '@kubernetes/client-node';
import { statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { KubeHttpError, withKubeErrors, type ObjectRef } from './errors.ts';

/** How to reach one cluster: a kubeconfig (file or text, optional context) or server + token. */
export type KubeCredentials =
  | { kubeconfigPath: string; context?: string | undefined }
  | { kubeconfig: string; context?: string | undefined }
  | {
      server: string;
      token: string;
      /** PEM; omitted means the system trust store. */
      caData?: string | undefined;
      /** A display name for messages and the generated context. */
      name?: string | undefined;
    };

/**
 * Parsed kubeconfig files by path, kept while the file is unchanged: a site with thousands of
 * contexts would otherwise parse its whole kubeconfig for every cluster it touches.
 */
const parsedFiles = new Map<string, { mtimeMs: number; size: number; kc: KubeConfig }>();

const parsedFile = (path: string): KubeConfig => {
  const { mtimeMs, size } = statSync(path);
  const hit = parsedFiles.get(path);
  if (hit && hit.mtimeMs === mtimeMs && hit.size === size) return hit.kc;
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  parsedFiles.set(path, { mtimeMs, size, kc });
  return kc;
};

/** Builds a KubeConfig whose current context is the one asked for. */
export const kubeConfigFor = (credentials: KubeCredentials): KubeConfig => {
  const kc = new KubeConfig();
  if ('kubeconfigPath' in credentials) {
    // A copy sharing the parsed entries: setting its context leaves the cached one alone.
    const parsed = parsedFile(credentials.kubeconfigPath);
    kc.loadFromOptions({
      clusters: parsed.clusters,
      users: parsed.users,
      contexts: parsed.contexts,
      currentContext: parsed.currentContext,
    });
  } else if ('kubeconfig' in credentials) {
    kc.loadFromString(credentials.kubeconfig);
  } else {
    const name = credentials.name ?? new URL(credentials.server).host;
    const cluster: Cluster = {
      name,
      server: credentials.server,
      skipTLSVerify: false,
      ...(credentials.caData === undefined
        ? {}
        : { caData: Buffer.from(credentials.caData).toString('base64') }),
    };
    const user: User = { name: `${name}-user`, token: credentials.token };
    kc.loadFromOptions({
      clusters: [cluster],
      users: [user],
      contexts: [{ name, cluster: name, user: user.name }],
      currentContext: name,
    });
  }
  if ('context' in credentials && credentials.context !== undefined) {
    if (!kc.getContextObject(credentials.context)) {
      throw new Error(
        `kubeconfig has no context '${credentials.context}' (has: ${kc
          .getContexts()
          .map((c) => c.name)
          .join(', ')})`,
      );
    }
    kc.setCurrentContext(credentials.context);
  }
  if (!kc.getCurrentCluster()) throw new Error('kubeconfig has no current cluster');
  return kc;
};

export interface KubeRequest {
  method: 'GET' | 'PATCH' | 'DELETE' | 'POST' | 'PUT';
  /** Absolute API path, e.g. /apis/apps/v1/namespaces/demo/deployments/web. */
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  contentType?: string;
  /** Names the operation and object in the KubeError, if this fails. */
  action: string;
  object?: ObjectRef | undefined;
  documentIndex?: number | undefined;
}

/** What discovery knows about one kind: its URL segment and scope. */
export interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

export interface KubeClientOptions {
  /** Per request; a hung connection must not stall an activity until its heartbeat timeout. */
  timeoutMs?: number;
  userAgent?: string;
}

export class KubeClient {
  readonly server: string;
  readonly kubeConfig: KubeConfig;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private readonly discovery = new Map<string, Promise<Map<string, ResourceInfo> | undefined>>();

  constructor(kubeConfig: KubeConfig, options: KubeClientOptions = {}) {
    this.kubeConfig = kubeConfig;
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.userAgent = options.userAgent ?? 'drover';
  }

  /** Sends one request; answers other than 2xx throw a classified KubeError. */
  async request<T = unknown>(req: KubeRequest): Promise<T> {
    return withKubeErrors(
      { action: req.action, object: req.object, documentIndex: req.documentIndex, server: this.server },
      () => this.send<T>(req),
    );
  }

  /**
   * Looks up how a kind is served. Answers are cached per group version; `refresh` asks the
   * server again (after a CRD was created, say). Undefined means the server does not serve it.
   */
  async resourceFor(
    apiVersion: string,
    kind: string,
    options: { refresh?: boolean } = {},
  ): Promise<ResourceInfo | undefined> {
    if (options.refresh) this.discovery.delete(apiVersion);
    let entry = this.discovery.get(apiVersion);
    if (!entry) {
      entry = this.discoverGroupVersion(apiVersion);
      this.discovery.set(apiVersion, entry);
      // A failed lookup must not stay cached.
      entry.catch(() => this.discovery.delete(apiVersion));
    }
    return (await entry)?.get(kind);
  }

  /** URL path of a collection (no name) or of one object. */
  static resourcePath(
    apiVersion: string,
    resource: ResourceInfo,
    namespace: string | undefined,
    name?: string,
  ): string {
    const root = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const ns = resource.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    return `${root}${ns}/${resource.plural}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
  }

  private async discoverGroupVersion(apiVersion: string): Promise<Map<string, ResourceInfo> | undefined> {
    const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    let list: { resources?: { name: string; kind: string; namespaced: boolean }[] };
    try {
      list = await this.request({
        method: 'GET',
        path,
        action: 'discover',
        object: { apiVersion, kind: 'APIResourceList' },
      });
    } catch (err) {
      if ((err as { type?: string }).type === 'NotFound') return undefined;
      throw err;
    }
    const kinds = new Map<string, ResourceInfo>();
    for (const r of list.resources ?? []) {
      // Subresources (deployments/scale) share the kind of their parent.
      if (!r.name.includes('/')) kinds.set(r.kind, { plural: r.name, namespaced: r.namespaced });
    }
    return kinds;
  }

  private async send<T>(req: KubeRequest): Promise<T> {
    const url = new URL(this.server + req.path);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    // Applied per request: exec and OIDC credentials refresh themselves here.
    const opts: RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(opts);
    const body =
      req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    const headers: Record<string, string | number> = {
      ...(opts.headers as Record<string, string> | undefined),
      accept: 'application/json',
      'user-agent': this.userAgent,
    };
    if (body !== undefined) {
      headers['content-type'] = req.contentType ?? 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise<T>((resolve, reject) => {
      const r = send(url, { ...opts, method: req.method, headers, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          if (/json/.test(res.headers['content-type'] ?? '') && text) {
            try {
              parsed = JSON.parse(text);
            } catch {
              // keep the raw text; it goes into the error message
            }
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(parsed as T);
          else reject(new KubeHttpError(status, parsed, res.headers, `${req.method} ${req.path}`));
        });
      });
      r.on('timeout', () =>
        r.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' })),
      );
      r.on('error', reject);
      r.end(body);
    });
  }
}

export const createKubeClient = (credentials: KubeCredentials, options?: KubeClientOptions): KubeClient =>
  new KubeClient(kubeConfigFor(credentials), options);
