/**
 * Drift: does a cluster still hold what drover applied? For each object of the release (as
 * rendered for the cluster), the server is asked what a forced server-side apply by manager
 * `drover` would make of the live object — a dry run, as `kubectl diff --server-side` does —
 * and the answer is compared with the live object. So exactly the fields drover manages
 * count: defaulting, quantity normalisation and fields other managers own (a label someone
 * added, an HPA's replicas when the release leaves them out) are not drift; a field drover
 * set that someone changed or removed is. A missing object is drift too.
 *
 * Repair is the same apply without the dry run; it is checked again afterwards.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  DRIFT_FIELDS_KEPT,
  DRIFT_VALUE_CHARS,
  type DriftCheck,
  type FieldDrift,
  type ObjectDrift,
} from '../domain/maintenance.ts';
import { applyManifests, readManifests, type KubeObject, type Manifest } from './apply.ts';
import type { KubeClient } from './client.ts';
import { deployToCluster, SERVER_METADATA, withReleaseAnnotation } from './deploy.ts';

const comparable = (object: KubeObject): Record<string, unknown> => {
  const copy = JSON.parse(JSON.stringify(object)) as KubeObject;
  delete copy.status;
  for (const field of SERVER_METADATA) delete copy.metadata[field];
  return copy;
};

const show = (value: unknown): string => {
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value);
  return text.length > DRIFT_VALUE_CHARS ? `${text.slice(0, DRIFT_VALUE_CHARS - 1)}…` : text;
};

const child = (path: string, key: string | number): string =>
  typeof key === 'number'
    ? `${path}[${key}]`
    : /^[A-Za-z_$][\w$-]*$/.test(key)
      ? path
        ? `${path}.${key}`
        : key
      : `${path}[${JSON.stringify(key)}]`;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Leaf paths where two JSON values differ, in document order (`spec.replicas`,
 * `metadata.labels["app.kubernetes.io/name"]`, `spec.containers[0].image`). Lists of different
 * length differ as a whole.
 */
export const diffValues = (live: unknown, desired: unknown, path = ''): FieldDrift[] => {
  if (isDeepStrictEqual(live, desired)) return [];
  if (isRecord(live) && isRecord(desired)) {
    const keys = [...new Set([...Object.keys(desired), ...Object.keys(live)])];
    return keys.flatMap((k) => diffValues(live[k], desired[k], child(path, k)));
  }
  if (Array.isArray(live) && Array.isArray(desired) && live.length === desired.length) {
    return desired.flatMap((d, i) => diffValues(live[i], d, child(path, i)));
  }
  return [{ path: path || '(object)', live: show(live), desired: show(desired) }];
};

/**
 * A Secret's values never leave the site: drift findings go to workflow history, the database
 * and the API. The path says what differs; the values are hidden.
 */
const HIDDEN = '(secret value hidden)';
export const hideSecretValues = (kind: string, fields: FieldDrift[]): FieldDrift[] =>
  kind === 'Secret'
    ? fields.map((f) =>
        /^(data|stringData)\b/.test(f.path) || f.path === '(object)'
          ? { path: f.path, live: HIDDEN, desired: HIDDEN }
          : f,
      )
    : fields;

export type DriftOptions = {
  releaseId: string;
  /** For namespaced objects without metadata.namespace; default `default`. */
  defaultNamespace?: string;
};

/** Compares each object of the release with the cluster; reads only (the apply is a dry run). */
export const detectDrift = async (
  client: KubeClient,
  manifests: readonly Manifest[],
  options: DriftOptions,
): Promise<Pick<DriftCheck, 'checked' | 'objects'>> => {
  const defaultNamespace = options.defaultNamespace ?? 'default';
  const desired = manifests.map((m) => ({
    ...m,
    object: withReleaseAnnotation(m.object, options.releaseId),
  }));
  const read = await readManifests(client, desired, { defaultNamespace });
  const liveByIndex = new Map(read.map((r) => [r.documentIndex, r]));
  const present = desired.filter((m) => liveByIndex.get(m.index)?.live !== undefined);
  const wouldBe = await applyManifests(client, present, { dryRun: true, force: true, defaultNamespace });
  const wouldBeByIndex = new Map(wouldBe.map((a) => [a.documentIndex, a.live]));

  const objects: ObjectDrift[] = [];
  for (const m of desired) {
    const found = liveByIndex.get(m.index);
    const ref = found?.object ?? {
      apiVersion: m.object.apiVersion,
      kind: m.object.kind,
      name: m.object.metadata.name,
    };
    const where = {
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      namespace: ref.namespace ?? null,
      name: ref.name ?? m.object.metadata.name,
    };
    const live = found?.live;
    if (!live) {
      objects.push({ ...where, state: 'missing', fields: [], truncated: false });
      continue;
    }
    const target = wouldBeByIndex.get(m.index);
    if (!target) continue;
    const fields = hideSecretValues(ref.kind, diffValues(comparable(live), comparable(target)));
    if (fields.length > 0) {
      objects.push({
        ...where,
        state: 'drifted',
        fields: fields.slice(0, DRIFT_FIELDS_KEPT),
        truncated: fields.length > DRIFT_FIELDS_KEPT,
      });
    }
  }
  return { checked: desired.length, objects };
};

/**
 * Checks a release on a cluster and, when asked to and something drifted, re-applies it
 * (forced server-side apply, manager drover) and checks again. Kubernetes failures are thrown
 * as KubeErrors; the caller decides what an unreachable cluster means.
 */
export const checkAndRepairDrift = async (
  client: KubeClient,
  manifests: readonly Manifest[],
  options: DriftOptions & { repair: boolean },
): Promise<DriftCheck> => {
  const found = await detectDrift(client, manifests, options);
  if (found.objects.length === 0) return { status: 'in-sync', ...found, error: null };
  if (!options.repair) return { status: 'drifted', ...found, error: null };
  await deployToCluster(client, manifests, {
    releaseId: options.releaseId,
    force: true,
    ...(options.defaultNamespace ? { defaultNamespace: options.defaultNamespace } : {}),
  });
  const after = await detectDrift(client, manifests, options);
  if (after.objects.length === 0) return { status: 'repaired', ...found, error: null };
  return {
    status: 'drifted',
    ...found,
    error: `still different after the repair: ${after.objects
      .map(
        (o) =>
          `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name} (${o.fields.map((f) => f.path).join(', ') || o.state})`,
      )
      .join('; ')}`,
  };
};
