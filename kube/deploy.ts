/**
 * The per-cluster deploy engine: snapshot what a release will touch, apply it, verify it, and
 * put the snapshot back on rollback. Every step is idempotent, because an activity may be
 * retried after a crash at any point:
 *
 * - the snapshot is taken once per (run, cluster) and kept in a local file (it holds cluster
 *   content, which must not enter workflow history), so a retry never snapshots the state the
 *   first attempt already changed;
 * - server-side apply of unchanged content is a no-op on the server (same resourceVersion);
 * - restore writes only objects that differ from their snapshot and deletes only what exists.
 *
 * Nothing here waits for controllers: verifyDeployment reports what is not ready yet and the
 * caller polls.
 */
import { randomBytes, createHash } from 'node:crypto';
import { link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { DroverError, ErrorType } from '../domain/errors.ts';
import {
  applyManifests,
  deleteManifests,
  FIELD_MANAGER,
  orderForDelete,
  parseManifests,
  readManifests,
  refOf,
  type ApplyOptions,
  type KubeObject,
  type Manifest,
} from './apply.ts';
import { KubeClient, type ResourceInfo } from './client.ts';
import { describeObject, KubeError, type ObjectRef } from './errors.ts';

/** Set on every object a deploy applies; verify and drift detection read it back. */
export const RELEASE_ANNOTATION = 'drover.io/release';

/** A release as YAML or as parsed manifests (with per-cluster overrides already applied). */
export type Release = string | readonly Manifest[];

export interface SnapshotEntry {
  /** Where the object lives; the namespace is resolved (defaulted) for namespaced kinds. */
  ref: ObjectRef;
  existed: boolean;
  /** The object as it was, without the fields the server sets; present when it existed. */
  live?: KubeObject;
  /** Its resourceVersion then, so a deploy can tell which objects it changed. */
  resourceVersion?: string;
}

/** Plain JSON: callers store it as they like (saveSnapshot, snapshotOnce). */
export interface Snapshot {
  /** ISO 8601. */
  takenAt: string;
  /** In release order. */
  entries: SnapshotEntry[];
}

export interface DeployedObject {
  ref: ObjectRef;
  documentIndex: number;
  /** metadata.generation after the apply; 0 for kinds that have none (ConfigMap, Namespace). */
  generation: number;
  resourceVersion: string;
  /** Created, or different from before the run (from the snapshot when one was given). */
  changed: boolean;
}

export interface DeployResult {
  releaseId: string;
  /** In apply order. */
  applied: DeployedObject[];
}

export interface DeployOptions {
  releaseId: string;
  /**
   * The snapshot taken before this run. `changed` is then relative to the state before the run
   * (a retry still reports what the first attempt changed), and a release with objects the
   * snapshot lacks is refused, since a rollback could not undo them. Without it, the objects
   * are read just before applying.
   */
  snapshot?: Snapshot;
  /**
   * Take over fields other managers own. On by default: a rollout states the desired content,
   * and the snapshot makes the takeover reversible. Off reports such fields as a Conflict.
   */
  force?: boolean;
  /** For namespaced objects without metadata.namespace; default `default`. */
  defaultNamespace?: string;
  crdTimeoutMs?: number;
  onProgress?: ApplyOptions['onProgress'];
}

export interface VerifyResult {
  ok: boolean;
  /** One line per problem, each naming its object. */
  problems: string[];
}

export type RestoreAction =
  /** Put back to its snapshot content. */
  | 'restored'
  /** Existed before, was gone, created again from the snapshot. */
  | 'recreated'
  /** Already equal to its snapshot. */
  | 'unchanged'
  /** Did not exist before; deletion requested (namespaces may stay Terminating a while). */
  | 'deleted'
  /** Did not exist before and does not exist now. */
  | 'absent';

export interface RestoreResult {
  /** In the order performed: deletions first, then restores, each in reverse apply order. */
  objects: { ref: ObjectRef; action: RestoreAction }[];
}

/** Set by the server; a copy carrying them cannot be written back, nor is any of them drift. */
export const SERVER_METADATA = [
  'resourceVersion',
  'uid',
  'creationTimestamp',
  'generation',
  'managedFields',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
] as const;

/**
 * Annotations a controller rewrites after every change. Restore leaves them as they are:
 * writing back the old value only makes the controller write again, and restoring twice
 * would never settle.
 */
const CONTROLLER_ANNOTATIONS = ['deployment.kubernetes.io/revision'] as const;

/** A live object without status and server-set metadata, fit to be written back. */
const restorable = (live: KubeObject): KubeObject => {
  // A JSON copy, not structuredClone: isDeepStrictEqual compares prototypes too, and under jest
  // structuredClone builds its objects in another realm than JSON.parse does.
  const copy = JSON.parse(JSON.stringify(live)) as KubeObject;
  delete copy.status;
  for (const field of SERVER_METADATA) delete copy.metadata[field];
  return copy;
};

const annotationsOf = (object: KubeObject): Record<string, string> =>
  (object.metadata.annotations ?? {}) as Record<string, string>;

/** `object` with the controller annotations of `source` (removed where `source` has none). */
const withControllerAnnotations = (object: KubeObject, source: KubeObject | undefined): KubeObject => {
  const annotations = { ...annotationsOf(object) };
  for (const key of CONTROLLER_ANNOTATIONS) {
    const value = source ? annotationsOf(source)[key] : undefined;
    if (value === undefined) delete annotations[key];
    else annotations[key] = value;
  }
  const { annotations: _old, ...metadata } = object.metadata;
  return {
    ...object,
    metadata: Object.keys(annotations).length === 0 ? metadata : { ...metadata, annotations },
  };
};

const groupOf = (apiVersion: string): string =>
  apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : '';
const refKey = (ref: ObjectRef): string =>
  `${groupOf(ref.apiVersion)}/${ref.kind}/${ref.namespace ?? ''}/${ref.name ?? ''}`;

/** The snapshot entry of an object; a manifest without namespace matches the default one. */
const entryFinder = (entries: readonly SnapshotEntry[], defaultNamespace: string) => {
  const byKey = new Map(entries.map((e) => [refKey(e.ref), e]));
  return (ref: ObjectRef): SnapshotEntry | undefined =>
    byKey.get(refKey(ref)) ??
    (ref.namespace === undefined ? byKey.get(refKey({ ...ref, namespace: defaultNamespace })) : undefined);
};

/** Discovery, asked again when the cached answer says the kind is not served (a new CRD). */
const servedResource = async (client: KubeClient, ref: ObjectRef): Promise<ResourceInfo | undefined> =>
  (await client.resourceFor(ref.apiVersion, ref.kind)) ??
  (await client.resourceFor(ref.apiVersion, ref.kind, { refresh: true }));

const getLive = async (
  client: KubeClient,
  ref: ObjectRef,
  resource: ResourceInfo,
  action: string,
): Promise<KubeObject | undefined> => {
  try {
    return await client.request<KubeObject>({
      method: 'GET',
      path: KubeClient.resourcePath(ref.apiVersion, resource, ref.namespace, ref.name),
      action,
      object: ref,
    });
  } catch (err) {
    if (err instanceof KubeError && err.type === ErrorType.NotFound) return undefined;
    throw err;
  }
};

/**
 * Records every object the release touches as it is now, or that it does not exist. Custom
 * resources whose CRD the release brings do not exist yet.
 */
export const snapshotObjects = async (
  client: KubeClient,
  release: Release,
  options: { defaultNamespace?: string } = {},
): Promise<Snapshot> => {
  const read = await readManifests(client, release, options);
  return {
    takenAt: new Date().toISOString(),
    entries: read.map(({ object, live }): SnapshotEntry =>
      live
        ? {
            ref: object,
            existed: true,
            live: restorable(live),
            resourceVersion: live.metadata.resourceVersion as string,
          }
        : { ref: object, existed: false },
    ),
  };
};

export const withReleaseAnnotation = (object: KubeObject, releaseId: string): KubeObject => ({
  ...object,
  metadata: {
    ...object.metadata,
    annotations: { ...annotationsOf(object), [RELEASE_ANNOTATION]: releaseId },
  },
});

/**
 * Server-side applies the release (field manager drover), every object annotated with the
 * release id. Failures are KubeErrors naming the object; what was applied before a failure
 * stays applied, and running the deploy again finishes the job without rewriting it.
 */
export const deployToCluster = async (
  client: KubeClient,
  release: Release,
  options: DeployOptions,
): Promise<DeployResult> => {
  const manifests = typeof release === 'string' ? parseManifests(release) : release;
  const defaultNamespace = options.defaultNamespace ?? 'default';
  const before =
    options.snapshot?.entries ??
    (await readManifests(client, manifests, { defaultNamespace })).map(({ object, live }): SnapshotEntry => ({
      ref: object,
      existed: live !== undefined,
      resourceVersion: live?.metadata.resourceVersion as string | undefined,
    }));
  const entryFor = entryFinder(before, defaultNamespace);
  if (options.snapshot) {
    const missing = manifests.find((m) => !entryFor(refOf(m.object)));
    if (missing) {
      const ref = refOf(missing.object);
      throw new KubeError(
        ErrorType.BadInput,
        `${describeObject(ref, missing.index)}: not in the snapshot, so a rollback could not undo it; snapshot the release that is deployed`,
        { object: ref, documentIndex: missing.index },
      );
    }
  }

  const applied = await applyManifests(
    client,
    manifests.map((m) => ({ ...m, object: withReleaseAnnotation(m.object, options.releaseId) })),
    {
      force: options.force ?? true,
      defaultNamespace,
      crdTimeoutMs: options.crdTimeoutMs,
      onProgress: options.onProgress,
    },
  );
  return {
    releaseId: options.releaseId,
    applied: applied.map((a): DeployedObject => {
      const was = entryFor(a.object);
      const generation = a.live.metadata.generation;
      return {
        ref: a.object,
        documentIndex: a.documentIndex,
        generation: typeof generation === 'number' ? generation : 0,
        resourceVersion: a.resourceVersion,
        changed: !was?.existed || was.resourceVersion !== a.resourceVersion,
      };
    }),
  };
};

interface WorkloadStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  desiredNumberScheduled?: number;
  numberReady?: number;
  updatedNumberScheduled?: number;
}

/** Why a workload is not ready yet, or undefined when it is. Other kinds are always ready. */
const notReady = (live: KubeObject): string | undefined => {
  if (groupOf(live.apiVersion) !== 'apps') return undefined;
  if (!['Deployment', 'StatefulSet', 'DaemonSet'].includes(live.kind)) return undefined;
  const generation = live.metadata.generation as number | undefined;
  const status = (live.status ?? {}) as WorkloadStatus;
  const spec = (live.spec ?? {}) as {
    replicas?: number;
    updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
  };
  if (status.observedGeneration === undefined || (generation ?? 0) > status.observedGeneration) {
    return `its controller has not observed generation ${generation ?? 0} yet (observed: ${status.observedGeneration ?? 'none'})`;
  }
  if (live.kind === 'DaemonSet') {
    const desired = status.desiredNumberScheduled ?? 0;
    if ((status.updatedNumberScheduled ?? 0) < desired)
      return `${status.updatedNumberScheduled ?? 0} of ${desired} pods updated`;
    if ((status.numberReady ?? 0) < desired) return `${status.numberReady ?? 0} of ${desired} pods ready`;
    return undefined;
  }
  const desired = spec.replicas ?? 1;
  const rollingAll =
    live.kind === 'Deployment' ||
    ((spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate' &&
      (spec.updateStrategy?.rollingUpdate?.partition ?? 0) === 0);
  if (rollingAll && (status.updatedReplicas ?? 0) < desired)
    return `${status.updatedReplicas ?? 0} of ${desired} replicas updated`;
  if (live.kind === 'Deployment' && (status.replicas ?? 0) > (status.updatedReplicas ?? 0))
    return `${(status.replicas ?? 0) - (status.updatedReplicas ?? 0)} old replicas pending termination`;
  if ((status.readyReplicas ?? 0) < desired)
    return `${status.readyReplicas ?? 0} of ${desired} replicas ready`;
  return undefined;
};

/**
 * Checks once, without waiting, that every applied object is present at (at least) its applied
 * generation and carries the release annotation; with `readiness`, also that Deployments,
 * StatefulSets and DaemonSets have rolled out. Clusters without controllers must switch
 * readiness off. Missing objects are problems; failing to read is a KubeError.
 */
export const verifyDeployment = async (
  client: KubeClient,
  deployment: DeployResult,
  options: { readiness: boolean },
): Promise<VerifyResult> => {
  const problems = await Promise.all(
    deployment.applied.map(async ({ ref, generation }): Promise<string | undefined> => {
      const what = describeObject(ref);
      const resource = await servedResource(client, ref);
      if (!resource) return `${what}: kind ${ref.kind} is no longer served in ${ref.apiVersion}`;
      const live = await getLive(client, ref, resource, 'verify');
      if (!live) return `${what}: not found`;
      if (live.metadata.deletionTimestamp) return `${what}: being deleted`;
      const liveGeneration = (live.metadata.generation as number | undefined) ?? 0;
      if (liveGeneration < generation)
        return `${what}: generation ${liveGeneration} is older than the applied ${generation}`;
      const release = annotationsOf(live)[RELEASE_ANNOTATION];
      if (release !== deployment.releaseId)
        return `${what}: annotation ${RELEASE_ANNOTATION} is ${release === undefined ? 'missing' : `'${release}'`}, expected '${deployment.releaseId}'`;
      const reason = options.readiness ? notReady(live) : undefined;
      return reason === undefined ? undefined : `${what}: not ready: ${reason}`;
    }),
  );
  const found = problems.filter((p): p is string => p !== undefined);
  return { ok: found.length === 0, problems: found };
};

const RESTORE_ATTEMPTS = 5;

/** Writes one object back to its snapshot content; retries when someone writes in between. */
const restoreObject = async (
  client: KubeClient,
  entry: SnapshotEntry & { live: KubeObject },
): Promise<RestoreAction> => {
  const { ref } = entry;
  const resource = await servedResource(client, ref);
  if (!resource) {
    throw new KubeError(
      ErrorType.NotFound,
      `restore ${describeObject(ref)}: the server no longer serves kind ${ref.kind} in ${ref.apiVersion}`,
      { object: ref },
    );
  }
  for (let attempt = 1; ; attempt++) {
    const current = await getLive(client, ref, resource, 'restore');
    const body = withControllerAnnotations(entry.live, current);
    try {
      if (!current) {
        await client.request({
          method: 'POST',
          path: KubeClient.resourcePath(ref.apiVersion, resource, ref.namespace),
          query: { fieldManager: FIELD_MANAGER },
          body,
          action: 'restore',
          object: ref,
        });
        return 'recreated';
      }
      if (isDeepStrictEqual(restorable(current), body)) return 'unchanged';
      // A replace, not an apply: fields the deploy added must go too, whoever owns them.
      await client.request({
        method: 'PUT',
        path: KubeClient.resourcePath(ref.apiVersion, resource, ref.namespace, ref.name),
        query: { fieldManager: FIELD_MANAGER },
        body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata.resourceVersion } },
        action: 'restore',
        object: ref,
      });
      return 'restored';
    } catch (err) {
      if (!(err instanceof KubeError && err.type === ErrorType.Conflict) || attempt >= RESTORE_ATTEMPTS)
        throw err;
    }
  }
};

/**
 * Rollback: objects the snapshot says did not exist are deleted, then those that existed are
 * replaced by their snapshot content, each group in reverse apply order (CRDs last). Running it
 * again changes nothing.
 */
export const restoreSnapshot = async (
  client: KubeClient,
  snapshot: Snapshot,
  options: { onProgress?: (event: { done: number; total: number; object: ObjectRef }) => void } = {},
): Promise<RestoreResult> => {
  // A client that looked before the release's CRDs existed has cached that they are not
  // served, and deleteManifests would then skip their custom resources.
  const byGroupVersion = new Map(snapshot.entries.map((e) => [e.ref.apiVersion, e.ref]));
  await Promise.all(
    [...byGroupVersion.values()].map((ref) =>
      client.resourceFor(ref.apiVersion, ref.kind, { refresh: true }),
    ),
  );
  const objects: RestoreResult['objects'] = [];
  const total = snapshot.entries.length;
  const asManifest = (entry: SnapshotEntry, index: number): Manifest => ({
    index,
    object: {
      apiVersion: entry.ref.apiVersion,
      kind: entry.ref.kind,
      metadata: {
        name: entry.ref.name ?? '',
        ...(entry.ref.namespace === undefined ? {} : { namespace: entry.ref.namespace }),
      },
    },
  });

  const created = snapshot.entries.filter((e) => !e.existed);
  const deleted = await deleteManifests(client, created.map(asManifest), {
    onProgress: (e) => options.onProgress?.({ done: e.done, total, object: e.object }),
  });
  for (const d of deleted) objects.push({ ref: d.object, action: d.existed ? 'deleted' : 'absent' });

  const existed = snapshot.entries.filter(
    (e): e is SnapshotEntry & { live: KubeObject } => e.existed && !!e.live,
  );
  const scopes = await Promise.all(existed.map((e) => servedResource(client, e.ref)));
  const ordered = orderForDelete(
    existed.map((entry, i) => ({ entry, object: asManifest(entry, i).object, resource: scopes[i] })),
    (item) => (item.resource ? (item.resource.namespaced ? 'Namespaced' : 'Cluster') : undefined),
  );
  for (const { entry } of ordered) {
    objects.push({ ref: entry.ref, action: await restoreObject(client, entry) });
    options.onProgress?.({ done: objects.length, total, object: entry.ref });
  }
  return { objects };
};

/**
 * `<dir>/<key>.json`. Characters other than letters, digits, `_` and `-` are %-escaped, so
 * distinct keys never share a file and none can leave the directory; long keys are shortened
 * with a hash.
 */
export const snapshotPath = (dir: string, key: string): string => {
  if (!key) throw new DroverError(ErrorType.BadInput, 'snapshot key is empty');
  let name = key.replace(/[^A-Za-z0-9_-]/gu, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
  );
  if (name.length > 200)
    name = `${name.slice(0, 150)}~${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
  return join(dir, `${name}.json`);
};

/** Writes `snapshot` to a durable temporary file beside `file` and returns its path. */
const writeTemp = async (file: string, snapshot: Snapshot): Promise<string> => {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  // Snapshots hold cluster content, Secrets included: readable by the sub-manager alone.
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(JSON.stringify(snapshot));
    await handle.sync();
  } finally {
    await handle.close();
  }
  return temp;
};

const syncDir = async (dir: string): Promise<void> => {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
};

/** Writes `<dir>/<key>.json` atomically (temporary file, then rename), replacing any earlier one. */
export const saveSnapshot = async (dir: string, key: string, snapshot: Snapshot): Promise<void> => {
  const file = snapshotPath(dir, key);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = await writeTemp(file, snapshot);
  await rename(temp, file);
  await syncDir(dir);
};

/** The snapshot saved under `key`, or undefined when there is none. */
export const loadSnapshot = async (dir: string, key: string): Promise<Snapshot | undefined> => {
  const file = snapshotPath(dir, key);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<Snapshot>;
  if (typeof parsed.takenAt !== 'string' || !Array.isArray(parsed.entries))
    throw new Error(`${file} is not a snapshot`);
  return parsed as Snapshot;
};

/**
 * The snapshot under `key`, taken by `take` only if there is none yet. A retried activity thus
 * gets the state from before its first attempt, not the one that attempt left. When two takers
 * race, the first to save wins and both return its snapshot.
 */
export const snapshotOnce = async (
  dir: string,
  key: string,
  take: () => Promise<Snapshot>,
): Promise<Snapshot> => {
  const existing = await loadSnapshot(dir, key);
  if (existing) return existing;
  const snapshot = await take();
  const file = snapshotPath(dir, key);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = await writeTemp(file, snapshot);
  try {
    // link, unlike rename, refuses to replace an existing file.
    await link(temp, file);
    await syncDir(dir);
    return snapshot;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return (await loadSnapshot(dir, key)) ?? snapshot;
  } finally {
    await unlink(temp);
  }
};
