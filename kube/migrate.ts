/**
 * Workload migration on the Kubernetes side: reading what a clone takes from its source
 * cluster, and applying it to the clone. What is stripped and mapped is decided in
 * domain/workload-migration.ts; this reads and writes.
 */
import { DroverError, ErrorType } from '../domain/errors.ts';
import {
  isClusterOwned,
  MAX_EXPORT_BYTES,
  MIGRATED_KINDS,
  NOTES_KEPT,
  prepareForMigration,
  prepareNamespace,
  SYSTEM_NAMESPACES,
  type MigrationReport,
  type WorkloadPlan,
} from '../domain/workload-migration.ts';
import { applyManifests, type KubeObject } from './apply.ts';
import { KubeClient } from './client.ts';
import { KubeError } from './errors.ts';

type Listed = { metadata: { name: string; namespace?: string; [k: string]: unknown }; [k: string]: unknown };

/** Every object of one kind, across pages; empty when the server does not serve the kind. */
const listAll = async (
  client: KubeClient,
  kind: { apiVersion: string; kind: string },
  namespace: string | undefined,
  labelSelector: string | undefined,
): Promise<KubeObject[]> => {
  const resource = await client.resourceFor(kind.apiVersion, kind.kind);
  if (!resource) return [];
  const items: KubeObject[] = [];
  let next: string | undefined;
  do {
    const page = await client.request<{ items?: Listed[]; metadata?: { continue?: string } }>({
      method: 'GET',
      path: KubeClient.resourcePath(kind.apiVersion, resource, namespace),
      query: { labelSelector, limit: '500', continue: next },
      action: 'list',
      object: { apiVersion: kind.apiVersion, kind: kind.kind, namespace },
    });
    // List items carry no apiVersion and kind of their own.
    for (const item of page.items ?? [])
      items.push({ ...item, apiVersion: kind.apiVersion, kind: kind.kind });
    next = page.metadata?.continue || undefined;
  } while (next);
  return items;
};

const getNamespace = async (client: KubeClient, name: string): Promise<KubeObject | undefined> => {
  try {
    return await client.request<KubeObject>({
      method: 'GET',
      path: `/api/v1/namespaces/${encodeURIComponent(name)}`,
      action: 'read',
      object: { apiVersion: 'v1', kind: 'Namespace', name },
    });
  } catch (err) {
    if (err instanceof KubeError && err.type === ErrorType.NotFound) return undefined;
    throw err;
  }
};

export type WorkloadExport = { objects: KubeObject[]; report: MigrationReport };

/**
 * Reads what the plan takes from the source cluster, stripped and mapped, namespaces first.
 * More than `maxBytes` (1 MiB) is refused: it would have to travel through the workflow.
 */
export const exportWorkloads = async (
  client: KubeClient,
  plan: WorkloadPlan,
  options: { maxBytes?: number } = {},
): Promise<WorkloadExport> => {
  const maxBytes = options.maxBytes ?? MAX_EXPORT_BYTES;
  const scopes: (string | undefined)[] = plan.namespaces.length > 0 ? plan.namespaces : [undefined];
  const namespaces = new Map<string, KubeObject>();
  for (const ns of plan.namespaces) {
    const found = await getNamespace(client, ns);
    if (!found)
      throw new DroverError(ErrorType.BadInput, `namespace '${ns}' does not exist in the source cluster`, {
        field: 'workloads.namespaces',
      });
    namespaces.set(ns, found);
  }

  const objects: KubeObject[] = [];
  const notes: string[] = [];
  const byKind: Record<string, number> = {};
  for (const kind of MIGRATED_KINDS) {
    if (kind.kind === 'Secret' && !plan.includeSecrets) continue;
    for (const scope of scopes) {
      for (const item of await listAll(client, kind, scope, plan.selector)) {
        const ns = item.metadata.namespace;
        if (scope === undefined && ns !== undefined && SYSTEM_NAMESPACES.includes(ns)) continue;
        if (isClusterOwned(item)) continue;
        const prepared = prepareForMigration(item, plan.mappings);
        objects.push(prepared.object);
        byKind[kind.kind] = (byKind[kind.kind] ?? 0) + 1;
        const where = `${kind.kind} ${ns ? `${ns}/` : ''}${item.metadata.name}`;
        for (const n of prepared.notes) notes.push(`${where}: ${n}`);
        if (ns !== undefined && !namespaces.has(ns)) {
          const found = await getNamespace(client, ns);
          if (found) namespaces.set(ns, found);
        }
      }
    }
  }
  const all: KubeObject[] = [
    ...[...namespaces.values()].map((ns) => prepareNamespace(ns, plan.mappings) as KubeObject),
    ...objects,
  ];
  const bytes = Buffer.byteLength(JSON.stringify(all));
  if (bytes > maxBytes) {
    throw new DroverError(
      ErrorType.BadInput,
      `the workloads to migrate are ${Math.ceil(bytes / 1024)} KiB once stripped, over the ${Math.floor(maxBytes / 1024)} KiB a clone carries between sites; narrow workloads.namespaces or workloads.selector, or migrate the rest with a release`,
      { field: 'workloads', details: { bytes, maxBytes } },
    );
  }
  return {
    objects: all,
    report: {
      objects: all.length,
      bytes,
      byKind: { ...(namespaces.size > 0 ? { Namespace: namespaces.size } : {}), ...byKind },
      notes: notes.slice(0, NOTES_KEPT),
      notesOmitted: Math.max(0, notes.length - NOTES_KEPT),
    },
  };
};

/**
 * Server-side applies exported objects to the clone, namespaces first (field manager
 * `drover`). Safe to repeat: a retried import applies the same objects again.
 */
export const importWorkloads = async (
  client: KubeClient,
  objects: readonly KubeObject[],
  onProgress?: () => void,
): Promise<{ applied: number }> => {
  const applied = await applyManifests(
    client,
    objects.map((object, index) => ({ index, object })),
    { ...(onProgress ? { onProgress } : {}) },
  );
  return { applied: applied.length };
};
