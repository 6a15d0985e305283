/**
 * Ordered server-side apply of a multi-document YAML release, read-back and deletion.
 *
 * Order matters because the server resolves references at admission: CustomResourceDefinitions
 * first (and their kinds must be served before a custom resource of them can be applied), then
 * Namespaces, then other cluster-scoped objects, then namespaced ones. Deletion runs the same
 * order backwards. Within a rank the release's own order is kept.
 */
import { parseAllDocuments } from 'yaml';
import { ErrorType } from '../domain/errors.ts';
import { KubeClient, type ResourceInfo } from './client.ts';
import { describeObject, KubeError, type ObjectRef } from './errors.ts';

/** A Kubernetes object as written in a manifest. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** One document of a release, with its position in the YAML stream. */
export interface Manifest {
  /** 0-based index among the stream's documents (empty documents count). */
  index: number;
  object: KubeObject;
}

export type Scope = 'Cluster' | 'Namespaced';

export const FIELD_MANAGER = 'drover';

/**
 * Added to every applied object that does not set it. Besides telling people who manages an
 * object, it gives drover at least one owned field: apply forgets a manager that owns none
 * (a bare Namespace, an empty ConfigMap), and the next apply then records the server-set
 * fields under "before-first-apply", a write that breaks idempotence.
 */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
const CRD_API_VERSION = 'apiextensions.k8s.io/v1';

const isCrd = (o: { apiVersion: string; kind: string }) =>
  o.kind === 'CustomResourceDefinition' && o.apiVersion === CRD_API_VERSION;
const isNamespace = (o: { apiVersion: string; kind: string }) =>
  o.kind === 'Namespace' && o.apiVersion === 'v1';

export const refOf = (object: KubeObject): ObjectRef => ({
  apiVersion: object.apiVersion,
  kind: object.kind,
  namespace: object.metadata.namespace,
  name: object.metadata.name,
});

/**
 * Parses a multi-document YAML stream. Syntax errors name the document and line; documents
 * that are not Kubernetes objects name the missing field. Empty documents are skipped.
 */
export const parseManifests = (text: string): Manifest[] => {
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) return [];
  const manifests: Manifest[] = [];
  const seen = new Map<string, number>();
  docs.forEach((doc, index) => {
    const syntax = doc.errors[0];
    if (syntax) {
      const pos = syntax.linePos?.[0];
      const where = pos ? `line ${pos.line}, column ${pos.col}` : undefined;
      throw new KubeError(
        ErrorType.BadInput,
        `document ${index + 1}: invalid YAML${where ? ` at ${where}` : ''}: ${syntax.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`,
        {
          documentIndex: index,
          field: where,
          cause: syntax,
        },
      );
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    const object = validateObject(value, index);
    const key = `${object.apiVersion.split('/').length > 1 ? object.apiVersion.split('/')[0] : ''}/${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      throw new KubeError(
        ErrorType.BadInput,
        `${describeObject(refOf(object), index)}: the same object is already document ${earlier + 1}`,
        {
          object: refOf(object),
          documentIndex: index,
        },
      );
    }
    seen.set(key, index);
    manifests.push({ index, object });
  });
  return manifests;
};

const validateObject = (value: unknown, index: number): KubeObject => {
  const bad = (field: string, problem: string, object?: ObjectRef): never => {
    throw new KubeError(
      ErrorType.BadInput,
      `${object ? describeObject(object, index) : `document ${index + 1}`}: ${field} ${problem}`,
      {
        documentIndex: index,
        field,
        object,
      },
    );
  };
  if (typeof value !== 'object' || Array.isArray(value)) return bad('(document)', 'is not a mapping');
  const o = value as Record<string, unknown>;
  if (typeof o.apiVersion !== 'string' || !o.apiVersion) return bad('apiVersion', 'is missing');
  if (typeof o.kind !== 'string' || !o.kind) return bad('kind', 'is missing');
  const partial: ObjectRef = { apiVersion: o.apiVersion, kind: o.kind };
  if (o.kind.endsWith('List') && Array.isArray(o.items))
    return bad('kind', `${o.kind} is not supported; list the items as separate documents`, partial);
  const metadata = o.metadata;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    return bad('metadata', 'is missing', partial);
  const m = metadata as Record<string, unknown>;
  // Apply addresses objects by name, so generateName cannot work.
  if (typeof m.name !== 'string' || !m.name) return bad('metadata.name', 'is missing', partial);
  if (m.namespace !== undefined && (typeof m.namespace !== 'string' || !m.namespace)) {
    return bad('metadata.namespace', 'must be a non-empty string', { ...partial, name: m.name });
  }
  return value as KubeObject;
};

/** 0 CRDs, 1 Namespaces, 2 other cluster-scoped, 3 namespaced; unknown scope counts as namespaced. */
export const applyRank = (object: { apiVersion: string; kind: string }, scope: Scope | undefined): number => {
  if (isCrd(object)) return 0;
  if (isNamespace(object)) return 1;
  return scope === 'Cluster' ? 2 : 3;
};

/** Stable: objects of equal rank keep the release's order. */
export const orderForApply = <T extends { object: KubeObject }>(
  items: readonly T[],
  scopeOf: (item: T) => Scope | undefined,
): T[] =>
  items
    .map((item, position) => ({ item, position, rank: applyRank(item.object, scopeOf(item)) }))
    .sort((a, b) => a.rank - b.rank || a.position - b.position)
    .map((e) => e.item);

export const orderForDelete = <T extends { object: KubeObject }>(
  items: readonly T[],
  scopeOf: (item: T) => Scope | undefined,
): T[] => orderForApply(items, scopeOf).reverse();

/** Kinds a release's own CRDs will serve: `group/version Kind` → scope. */
const kindsFromCrds = (manifests: readonly Manifest[]): Map<string, Scope> => {
  const kinds = new Map<string, Scope>();
  for (const { object } of manifests) {
    if (!isCrd(object)) continue;
    const spec = object.spec as
      | {
          group?: string;
          scope?: string;
          names?: { kind?: string };
          versions?: { name?: string; served?: boolean }[];
        }
      | undefined;
    if (!spec?.group || !spec.names?.kind) continue;
    for (const v of spec.versions ?? []) {
      if (v.name && v.served !== false)
        kinds.set(
          `${spec.group}/${v.name} ${spec.names.kind}`,
          spec.scope === 'Cluster' ? 'Cluster' : 'Namespaced',
        );
    }
  }
  return kinds;
};

export interface ApplyOptions {
  /** Default `drover`. */
  fieldManager?: string;
  /** Take over fields another manager owns; off by default, so such conflicts are reported. */
  force?: boolean;
  /** For namespaced objects without metadata.namespace; default `default`. */
  defaultNamespace?: string;
  /** How long a new CRD may take to become Established and served; default 60 s. */
  crdTimeoutMs?: number;
  dryRun?: boolean;
  /** Called after each object, for progress bars and heartbeats. */
  onProgress?: (event: { done: number; total: number; object: ObjectRef; documentIndex: number }) => void;
}

export interface AppliedObject {
  documentIndex: number;
  object: ObjectRef;
  uid: string;
  resourceVersion: string;
  /** The object as the server stored it. */
  live: KubeObject & { metadata: { uid: string; resourceVersion: string } };
}

/** Where each manifest lives on the server, once discovery (or the release's CRDs) knows. */
interface Placed extends Manifest {
  ref: ObjectRef;
  resource: ResourceInfo | undefined;
  scope: Scope | undefined;
}

/**
 * Server-side applies a release in dependency order and returns what the server stored. The
 * first failure stops the apply and is thrown as a KubeError naming the document and object;
 * objects applied before it stay applied (apply is idempotent, so retrying is safe).
 */
export const applyManifests = async (
  client: KubeClient,
  release: string | readonly Manifest[],
  options: ApplyOptions = {},
): Promise<AppliedObject[]> => {
  const manifests = typeof release === 'string' ? parseManifests(release) : release;
  const defaultNamespace = options.defaultNamespace ?? 'default';
  const crdKinds = kindsFromCrds(manifests);
  const placed = await place(client, manifests, crdKinds, defaultNamespace, 'apply');
  const ordered = orderForApply(placed, (p) => p.scope);

  const applied: AppliedObject[] = [];
  const newCrds: Placed[] = [];
  let crdsReady = crdKinds.size === 0;
  for (const item of ordered) {
    if (!crdsReady && !isCrd(item.object)) {
      await Promise.all(newCrds.map((crd) => waitForCrd(client, crd, options.crdTimeoutMs ?? 60_000)));
      crdsReady = true;
    }
    const resource = item.resource ?? (await servedKind(client, item, options.crdTimeoutMs ?? 60_000));
    const path = KubeClient.resourcePath(item.object.apiVersion, resource, item.ref.namespace, item.ref.name);
    const body = withManagedBy(
      resource.namespaced
        ? { ...item.object, metadata: { ...item.object.metadata, namespace: item.ref.namespace } }
        : item.object,
    );
    const live = await client.request<AppliedObject['live']>({
      method: 'PATCH',
      path,
      query: {
        fieldManager: options.fieldManager ?? FIELD_MANAGER,
        force: options.force ? 'true' : undefined,
        // Unknown or duplicated fields are errors, not warnings: a typo must not deploy silently.
        fieldValidation: 'Strict',
        dryRun: options.dryRun ? 'All' : undefined,
      },
      body,
      contentType: 'application/apply-patch+yaml',
      action: options.dryRun ? 'apply (dry run)' : 'apply',
      object: item.ref,
      documentIndex: item.index,
    });
    if (isCrd(item.object)) newCrds.push(item);
    applied.push({
      documentIndex: item.index,
      object: item.ref,
      uid: live.metadata.uid,
      resourceVersion: live.metadata.resourceVersion,
      live,
    });
    options.onProgress?.({
      done: applied.length,
      total: ordered.length,
      object: item.ref,
      documentIndex: item.index,
    });
  }
  return applied;
};

const withManagedBy = (object: KubeObject): KubeObject => {
  const labels = (object.metadata.labels ?? {}) as Record<string, string>;
  if (MANAGED_BY_LABEL in labels) return object;
  return {
    ...object,
    metadata: { ...object.metadata, labels: { ...labels, [MANAGED_BY_LABEL]: FIELD_MANAGER } },
  };
};

/**
 * Reads back every object of a release, in release order; missing objects are undefined. Custom
 * resources whose CRD the release brings are placed by that CRD even before it exists, so their
 * refs are the ones applyManifests reports.
 */
export const readManifests = async (
  client: KubeClient,
  release: string | readonly Manifest[],
  options: { defaultNamespace?: string } = {},
): Promise<{ documentIndex: number; object: ObjectRef; live: KubeObject | undefined }[]> => {
  const manifests = typeof release === 'string' ? parseManifests(release) : release;
  const placed = await place(
    client,
    manifests,
    kindsFromCrds(manifests),
    options.defaultNamespace ?? 'default',
    'read',
  );
  return Promise.all(
    placed.map(async (item) => ({
      documentIndex: item.index,
      object: item.ref,
      live: item.resource ? await getOrUndefined(client, item, item.resource) : undefined,
    })),
  );
};

/**
 * Deletes a release's objects in reverse apply order. Objects already gone (or whose kind is
 * no longer served, because its CRD went first) count as deleted. Deletion is requested, not
 * awaited: without controllers, as in the test clusters, namespaces stay Terminating.
 */
export const deleteManifests = async (
  client: KubeClient,
  release: string | readonly Manifest[],
  options: { defaultNamespace?: string; onProgress?: ApplyOptions['onProgress'] } = {},
): Promise<{ documentIndex: number; object: ObjectRef; existed: boolean }[]> => {
  const manifests = typeof release === 'string' ? parseManifests(release) : release;
  const placed = await place(
    client,
    manifests,
    kindsFromCrds(manifests),
    options.defaultNamespace ?? 'default',
    'delete',
  );
  const results: { documentIndex: number; object: ObjectRef; existed: boolean }[] = [];
  const ordered = orderForDelete(placed, (p) => p.scope);
  for (const item of ordered) {
    // Discovery may have changed since `place`, when a CRD earlier in this loop was deleted.
    const resource = await client.resourceFor(item.object.apiVersion, item.object.kind);
    let existed = false;
    if (resource) {
      try {
        await client.request({
          method: 'DELETE',
          path: KubeClient.resourcePath(item.object.apiVersion, resource, item.ref.namespace, item.ref.name),
          body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background' },
          action: 'delete',
          object: item.ref,
          documentIndex: item.index,
        });
        existed = true;
      } catch (err) {
        const type = (err as KubeError).type;
        // A namespace that is already Terminating answers a second delete with 409.
        if (
          type === ErrorType.Conflict &&
          (await getOrUndefined(client, item, resource))?.metadata.deletionTimestamp
        )
          existed = true;
        else if (type !== ErrorType.NotFound) throw err;
      }
    }
    results.push({ documentIndex: item.index, object: item.ref, existed });
    options.onProgress?.({
      done: results.length,
      total: ordered.length,
      object: item.ref,
      documentIndex: item.index,
    });
  }
  return results;
};

/**
 * Resolves scope and URL for each manifest before anything is written, so an unknown kind or
 * a misplaced namespace fails the whole release up front. Kinds a CRD of this release will
 * serve are resolved later, once it is Established.
 */
const place = async (
  client: KubeClient,
  manifests: readonly Manifest[],
  crdKinds: ReadonlyMap<string, Scope>,
  defaultNamespace: string,
  action: string,
): Promise<Placed[]> =>
  Promise.all(
    manifests.map(async (m): Promise<Placed> => {
      const base = refOf(m.object);
      const fromRelease = crdKinds.get(`${m.object.apiVersion} ${m.object.kind}`);
      const resource = await client.resourceFor(m.object.apiVersion, m.object.kind);
      if (!resource && !fromRelease && action === 'apply') {
        throw new KubeError(
          ErrorType.BadInput,
          `${describeObject(base, m.index)}: the server does not serve kind ${m.object.kind} in ${m.object.apiVersion}`,
          {
            object: base,
            documentIndex: m.index,
            field: 'kind',
          },
        );
      }
      const scope: Scope | undefined = resource
        ? resource.namespaced
          ? 'Namespaced'
          : 'Cluster'
        : fromRelease;
      if (scope === 'Cluster' && m.object.metadata.namespace !== undefined) {
        throw new KubeError(
          ErrorType.BadInput,
          `${describeObject(base, m.index)}: ${m.object.kind} is cluster-scoped but metadata.namespace is set`,
          {
            object: base,
            documentIndex: m.index,
            field: 'metadata.namespace',
          },
        );
      }
      const ref =
        scope === 'Namespaced'
          ? { ...base, namespace: m.object.metadata.namespace ?? defaultNamespace }
          : base;
      return { ...m, ref, resource, scope };
    }),
  );

const getOrUndefined = async (
  client: KubeClient,
  item: Placed,
  resource: ResourceInfo,
): Promise<KubeObject | undefined> => {
  try {
    return await client.request<KubeObject>({
      method: 'GET',
      path: KubeClient.resourcePath(item.object.apiVersion, resource, item.ref.namespace, item.ref.name),
      action: 'read',
      object: item.ref,
      documentIndex: item.index,
    });
  } catch (err) {
    if ((err as KubeError).type === ErrorType.NotFound) return undefined;
    throw err;
  }
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until the CRD is Established; a NamesAccepted=False condition fails at once. */
const waitForCrd = async (client: KubeClient, crd: Placed, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  const path = `/apis/${CRD_API_VERSION}/customresourcedefinitions/${encodeURIComponent(crd.ref.name ?? '')}`;
  for (;;) {
    const live = await client.request<{
      status?: { conditions?: { type: string; status: string; message?: string }[] };
    }>({
      method: 'GET',
      path,
      action: 'wait for',
      object: crd.ref,
      documentIndex: crd.index,
    });
    const conditions = live.status?.conditions ?? [];
    if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) return;
    const rejected = conditions.find((c) => c.type === 'NamesAccepted' && c.status === 'False');
    if (rejected) {
      throw new KubeError(
        ErrorType.Invalid,
        `${describeObject(crd.ref, crd.index)}: names not accepted: ${rejected.message ?? ''}`,
        {
          object: crd.ref,
          documentIndex: crd.index,
          field: 'spec.names',
        },
      );
    }
    if (Date.now() > deadline) {
      throw new KubeError(
        ErrorType.Unavailable,
        `${describeObject(crd.ref, crd.index)}: not Established after ${timeoutMs} ms`,
        {
          object: crd.ref,
          documentIndex: crd.index,
        },
      );
    }
    await sleep(200);
  }
};

/**
 * Established is not the end: discovery serves a new group version a moment later, and the
 * kind's URL comes from discovery.
 */
const servedKind = async (client: KubeClient, item: Placed, timeoutMs: number): Promise<ResourceInfo> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const resource = await client.resourceFor(item.object.apiVersion, item.object.kind, { refresh: true });
    if (resource) return resource;
    if (Date.now() > deadline) {
      throw new KubeError(
        ErrorType.Unavailable,
        `${describeObject(item.ref, item.index)}: kind ${item.object.kind} not served in ${item.object.apiVersion} after ${timeoutMs} ms`,
        {
          object: item.ref,
          documentIndex: item.index,
        },
      );
    }
    await sleep(200);
  }
};
