/**
 * Releases: multi-document YAML plus per-cluster overrides, in the spirit of Karmada's
 * OverridePolicy. An override picks clusters by a label selector and documents by a target, and
 * changes them with a JSON merge patch (RFC 7386) or a JSON patch (RFC 6902).
 *
 * Pure and deterministic (no Node built-ins, no I/O), so workflow code may use it. Hashing (the
 * content address that is a release's id) lives in db/releases.ts, as it needs node:crypto.
 */
import { z } from 'zod';
import { DroverError, ErrorType } from './errors.ts';
import { matches, parseSelector } from './selectors.ts';

// --- JSON values -------------------------------------------------------------------------------

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Sets an own property even for a key such as `__proto__`, which plain assignment would turn
 * into a prototype change.
 */
const setOwn = (target: Record<string, unknown>, key: string, value: unknown): void => {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
};

/** A deep copy of a JSON value (structuredClone is not available in every workflow sandbox). */
const cloneJson = <T>(value: T): T => {
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  if (isObject(value)) {
    const copy: Record<string, unknown> = {};
    for (const [key, member] of Object.entries(value)) setOwn(copy, key, cloneJson(member));
    return copy as T;
  }
  return value;
};

/** JSON equality as RFC 6902's `test` defines it: members in any order, array items in order. */
const jsonEqual = (a: unknown, b: unknown): boolean => {
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key], b[key]))
    );
  }
  return a === b;
};

const preview = (value: unknown): string => {
  const text = JSON.stringify(value) ?? 'nothing';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

// --- Schemas -----------------------------------------------------------------------------------

/** Release names: like a Kubernetes object name, so they read well in run ids and messages. */
export const ReleaseName = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/,
    'letters, digits and -_., starting and ending alphanumeric',
  );

/** `rel-` and the first 20 hex digits of the SHA-256 of the release's canonical content. */
export const ReleaseId = z.string().regex(/^rel-[0-9a-f]{20}$/, 'must look like rel-<20 hex digits>');
export type ReleaseId = z.infer<typeof ReleaseId>;

/** RFC 6901: '' (the whole document) or '/'-separated tokens, with '~' written '~0' and '/' '~1'. */
export const JsonPointer = z
  .string()
  .max(4096)
  .regex(
    /^(\/([^~/]|~[01])*)*$/,
    "must be a JSON pointer: '' or '/'-separated tokens, with '~' written '~0' and '/' written '~1'",
  );

/** Any JSON value, null included; JSON cannot say undefined, so undefined means absent. */
const PatchValue = z.unknown().refine((v) => v !== undefined, 'this operation needs a value');

/**
 * One RFC 6902 operation; `value` may be any JSON value including null, but not absent. Other
 * members are dropped, as the RFC says they must be ignored.
 */
export const JsonPatchOperation = z.discriminatedUnion('op', [
  z.object({ op: z.literal('add'), path: JsonPointer, value: PatchValue }),
  z.object({ op: z.literal('remove'), path: JsonPointer }),
  z.object({ op: z.literal('replace'), path: JsonPointer, value: PatchValue }),
  z.object({ op: z.literal('move'), from: JsonPointer, path: JsonPointer }),
  z.object({ op: z.literal('copy'), from: JsonPointer, path: JsonPointer }),
  z.object({ op: z.literal('test'), path: JsonPointer, value: PatchValue }),
]);
export type JsonPatchOperation = z.infer<typeof JsonPatchOperation>;

export const JsonPatch = z.array(JsonPatchOperation).min(1).max(1000);

/** A merge patch for a whole document is an object: anything else would replace the document. */
export const MergePatch = z.record(z.string(), z.unknown());

/** Which documents an override changes; every given field must match, and no target means all. */
export const OverrideTarget = z
  .object({
    apiVersion: z.string().min(1).optional().describe('exact apiVersion, e.g. `apps/v1`'),
    kind: z.string().min(1).optional(),
    namespace: z.string().min(1).optional(),
    name: z.string().min(1).optional(),
  })
  .strict();
export type OverrideTarget = z.infer<typeof OverrideTarget>;

export const Override = z
  .object({
    selector: z
      .string()
      .max(4096)
      .default('')
      .describe('label selector over cluster labels, e.g. `env=prod,region in (eu,us)`; empty selects all'),
    target: OverrideTarget.optional(),
    mergePatch: MergePatch.optional().describe('RFC 7386 JSON merge patch: null removes a field'),
    jsonPatch: JsonPatch.optional().describe('RFC 6902 JSON patch operations, applied in order'),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.mergePatch === undefined && o.jsonPatch === undefined) {
      ctx.addIssue({ code: 'custom', message: 'an override needs a mergePatch or a jsonPatch' });
    } else if (o.mergePatch !== undefined && o.jsonPatch !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['jsonPatch'],
        message: 'an override takes either mergePatch or jsonPatch, not both',
      });
    }
  });
export type Override = z.infer<typeof Override>;

export const MAX_OVERRIDES = 500;

export const ReleaseContent = z
  .object({
    name: ReleaseName,
    manifests: z.string().min(1).describe('Kubernetes objects as multi-document YAML'),
    overrides: z
      .array(Override)
      .max(MAX_OVERRIDES)
      .default([])
      .describe('applied in order to each cluster whose labels match the selector'),
  })
  .strict();
export type ReleaseContent = z.infer<typeof ReleaseContent>;

/** How a release names one of its objects. */
export const ReleaseObjectRef = z.object({
  apiVersion: z.string(),
  kind: z.string(),
  namespace: z.string().optional(),
  name: z.string(),
});
export type ReleaseObjectRef = z.infer<typeof ReleaseObjectRef>;

/** What overrides need of an object: its identity, which no override may change. */
export type ObjectIdentity = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string | undefined };
};

export const refOfObject = (object: ObjectIdentity): ReleaseObjectRef => ({
  apiVersion: object.apiVersion,
  kind: object.kind,
  ...(object.metadata.namespace === undefined ? {} : { namespace: object.metadata.namespace }),
  name: object.metadata.name,
});

const describeRef = (ref: ReleaseObjectRef): string =>
  `${ref.kind} ${ref.namespace === undefined ? '' : `${ref.namespace}/`}${ref.name}`;

// --- JSON merge patch (RFC 7386) ---------------------------------------------------------------

/**
 * Applies an RFC 7386 merge patch: an object patch merges member by member, null removes a
 * member, anything else (arrays included) replaces the target whole. Neither input is changed.
 */
export const applyMergePatch = (target: unknown, patch: unknown): unknown => {
  if (!isObject(patch)) return cloneJson(patch);
  const result: Record<string, unknown> = isObject(target) ? cloneJson(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else {
      setOwn(result, key, applyMergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value));
    }
  }
  return result;
};

// --- JSON patch (RFC 6902) ---------------------------------------------------------------------

/** A patch that cannot be applied; `op` is the 0-based index of the failing operation. */
export class PatchError extends DroverError {
  readonly op: number | undefined;
  readonly path: string | undefined;

  constructor(message: string, op?: number, path?: string) {
    super(ErrorType.BadInput, message, {
      details: { ...(op === undefined ? {} : { op }), ...(path === undefined ? {} : { path }) },
    });
    this.name = 'PatchError';
    this.op = op;
    this.path = path;
  }
}

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

/**
 * Applies RFC 6902 operations in order and returns the patched copy; the input is not changed.
 * A failing operation (a `test` that does not hold, a path that does not exist) fails the whole
 * patch with a PatchError naming the operation's index and path.
 */
export const applyJsonPatch = (document: unknown, operations: readonly JsonPatchOperation[]): unknown => {
  let root: unknown = cloneJson(document);

  operations.forEach((operation, index) => {
    const fail = (pointer: string, detail: string): never => {
      throw new PatchError(
        `jsonPatch[${index}] (${operation.op} ${JSON.stringify(pointer)}): ${detail}`,
        index,
        pointer,
      );
    };

    const tokensOf = (pointer: string): string[] => {
      if (pointer === '') return [];
      if (!pointer.startsWith('/')) return fail(pointer, "a JSON pointer is '' or starts with '/'");
      return pointer
        .slice(1)
        .split('/')
        .map((token) => {
          if (/~([^01]|$)/.test(token)) return fail(pointer, "'~' must be followed by 0 or 1");
          return token.replaceAll('~1', '/').replaceAll('~0', '~');
        });
    };

    /** The value at `tokens` (parsed from `pointer`, which messages name), or fail. */
    const walk = (tokens: readonly string[], pointer: string): unknown => {
      let node = root;
      for (const [depth, token] of tokens.entries()) {
        const at = () =>
          `/${tokens
            .slice(0, depth + 1)
            .map((t) => t.replaceAll('~', '~0').replaceAll('/', '~1'))
            .join('/')}`;
        if (Array.isArray(node)) {
          if (!ARRAY_INDEX.test(token) || Number(token) >= node.length) {
            return fail(pointer, `${at()} does not exist (the array has ${node.length} items)`);
          }
          node = node[Number(token)];
        } else if (isObject(node)) {
          if (!Object.hasOwn(node, token)) return fail(pointer, `${at()} does not exist`);
          node = node[token];
        } else {
          return fail(pointer, `${at()} does not exist (its parent is not an object or array)`);
        }
      }
      return node;
    };

    /** The container holding the last token; what is at the last token is not checked. */
    const parentOf = (pointer: string): { parent: unknown; key: string } => {
      const tokens = tokensOf(pointer);
      const key = tokens[tokens.length - 1] ?? '';
      return { parent: walk(tokens.slice(0, -1), pointer), key };
    };

    const arrayIndex = (pointer: string, array: unknown[], key: string, allowEnd: boolean): number => {
      const limit = allowEnd ? array.length : array.length - 1;
      if (!ARRAY_INDEX.test(key) || Number(key) > limit) {
        return fail(
          pointer,
          `'${key}' is not an index of the array (it has ${array.length} items${allowEnd ? "; '-' appends" : ''})`,
        );
      }
      return Number(key);
    };

    const add = (pointer: string, value: unknown): void => {
      if (pointer === '') {
        root = value;
        return;
      }
      const { parent, key } = parentOf(pointer);
      if (Array.isArray(parent)) {
        const at = key === '-' ? parent.length : arrayIndex(pointer, parent, key, true);
        parent.splice(at, 0, value);
      } else if (isObject(parent)) {
        setOwn(parent, key, value);
      } else {
        fail(pointer, 'the parent is not an object or array');
      }
    };

    const remove = (pointer: string): unknown => {
      if (pointer === '') return fail(pointer, 'cannot remove the whole document');
      const { parent, key } = parentOf(pointer);
      if (Array.isArray(parent)) return parent.splice(arrayIndex(pointer, parent, key, false), 1)[0];
      if (isObject(parent) && Object.hasOwn(parent, key)) {
        const value = parent[key];
        delete parent[key];
        return value;
      }
      return fail(pointer, 'the path does not exist');
    };

    switch (operation.op) {
      case 'add':
        add(operation.path, cloneJson(operation.value));
        break;
      case 'remove':
        remove(operation.path);
        break;
      case 'replace': {
        if (operation.path === '') {
          root = cloneJson(operation.value);
          break;
        }
        const { parent, key } = parentOf(operation.path);
        const value = cloneJson(operation.value);
        if (Array.isArray(parent)) parent[arrayIndex(operation.path, parent, key, false)] = value;
        else if (isObject(parent) && Object.hasOwn(parent, key)) setOwn(parent, key, value);
        else fail(operation.path, 'the path does not exist');
        break;
      }
      case 'move': {
        if (operation.from === operation.path) {
          walk(tokensOf(operation.from), operation.from);
          break;
        }
        if (operation.path.startsWith(`${operation.from}/`)) {
          fail(operation.path, `cannot move ${JSON.stringify(operation.from)} into one of its own children`);
        }
        const value = walk(tokensOf(operation.from), operation.from);
        remove(operation.from);
        add(operation.path, value);
        break;
      }
      case 'copy':
        add(operation.path, cloneJson(walk(tokensOf(operation.from), operation.from)));
        break;
      case 'test': {
        const actual = walk(tokensOf(operation.path), operation.path);
        if (!jsonEqual(actual, operation.value)) {
          fail(
            operation.path,
            `test failed: the value is ${preview(actual)}, not ${preview(operation.value)}`,
          );
        }
        break;
      }
      default: {
        const unknown: never = operation;
        throw new PatchError(`jsonPatch[${index}]: unknown operation ${preview(unknown)}`, index);
      }
    }
  });
  return root;
};

// --- Overrides ---------------------------------------------------------------------------------

/** Whether an override's target selects an object; an absent target selects every object. */
export const targets = (target: OverrideTarget | undefined, object: ObjectIdentity): boolean =>
  target === undefined ||
  ((target.apiVersion === undefined || target.apiVersion === object.apiVersion) &&
    (target.kind === undefined || target.kind === object.kind) &&
    (target.namespace === undefined || target.namespace === object.metadata.namespace) &&
    (target.name === undefined || target.name === object.metadata.name));

/** An override that cannot be applied to an object (or, with no object, that targets none). */
export class OverrideError extends DroverError {
  /** 0-based index of the override in the release. */
  readonly override: number;
  /** 0-based position of the object in the list given; undefined when no object is involved. */
  readonly objectIndex: number | undefined;
  readonly object: ReleaseObjectRef | undefined;

  constructor(
    message: string,
    override: number,
    at?: { objectIndex: number; object: ReleaseObjectRef },
    cause?: unknown,
  ) {
    super(ErrorType.BadInput, message, {
      field: `overrides[${override}]`,
      details: {
        override,
        ...(at ? { objectIndex: at.objectIndex, object: at.object } : {}),
        ...(cause instanceof PatchError ? cause.details : {}),
      },
      cause,
    });
    this.name = 'OverrideError';
    this.override = override;
    this.objectIndex = at?.objectIndex;
    this.object = at?.object;
  }
}

const sameIdentity = (a: ObjectIdentity, b: unknown): boolean => {
  if (!isObject(b) || !isObject(b.metadata)) return false;
  return (
    a.apiVersion === b.apiVersion &&
    a.kind === b.kind &&
    a.metadata.name === b.metadata.name &&
    a.metadata.namespace === b.metadata.namespace
  );
};

/**
 * Applies one override to one object. Overrides may change anything but what identifies the
 * object (apiVersion, kind, namespace, name): every cluster gets the same set of objects, which
 * is what snapshots, verification and rollback rely on.
 */
const applyOverride = (
  object: ObjectIdentity,
  current: unknown,
  override: Override,
  overrideIndex: number,
  objectIndex: number,
  where: string,
): unknown => {
  const ref = refOfObject(object);
  const at = { objectIndex, object: ref };
  const prefix = `override ${overrideIndex} on ${describeRef(ref)}${where}`;
  let result: unknown;
  try {
    result =
      override.jsonPatch !== undefined
        ? applyJsonPatch(current, override.jsonPatch)
        : applyMergePatch(current, override.mergePatch ?? {});
  } catch (err) {
    if (!(err instanceof PatchError)) throw err;
    throw new OverrideError(`${prefix}: ${err.message}`, overrideIndex, at, err);
  }
  if (!sameIdentity(object, result)) {
    throw new OverrideError(
      `${prefix}: an override must not change apiVersion, kind, metadata.name or metadata.namespace`,
      overrideIndex,
      at,
    );
  }
  return result;
};

export type ClusterFacts = { name: string; labels: Readonly<Record<string, string>> };

/**
 * The objects as one cluster gets them: every override whose selector matches the cluster's
 * labels is applied, in the release's order, to the objects its target selects. The inputs are
 * not changed; the same inputs always give the same output. Throws an OverrideError naming the
 * override and the object when a patch cannot be applied.
 */
export const renderForCluster = <T extends ObjectIdentity>(
  objects: readonly T[],
  overrides: readonly Override[],
  cluster: ClusterFacts,
): T[] => {
  const applicable = overrides
    .map((override, index) => ({ override, index }))
    .filter(({ override }) => matches(parseSelector(override.selector), cluster.labels));
  const where = ` for cluster '${cluster.name}'`;
  return objects.map((object, objectIndex) => {
    let current: unknown = cloneJson(object);
    for (const { override, index } of applicable) {
      if (targets(override.target, object)) {
        current = applyOverride(object, current, override, index, objectIndex, where);
      }
    }
    return current as T;
  });
};

/**
 * Catches, at upload, overrides that cannot work on any cluster: a target that selects no
 * object, or a patch that fails on an object it targets. Which overrides meet on a cluster
 * depends on its labels, so each override is tried on the object as written and on the object
 * after the earlier overrides that target it; only failing both is an error, so that layered
 * overrides (a later one changing what an earlier one added) are not refused. Throws the first
 * OverrideError found.
 */
export const checkOverrides = (objects: readonly ObjectIdentity[], overrides: readonly Override[]): void => {
  const layered: unknown[] = objects.map((object) => cloneJson(object));
  const layeredChanged: boolean[] = objects.map(() => false);
  overrides.forEach((override, index) => {
    let targeted = 0;
    objects.forEach((object, objectIndex) => {
      if (!targets(override.target, object)) return;
      targeted++;
      const attempt = (input: unknown) => {
        try {
          return { ok: true as const, value: applyOverride(object, input, override, index, objectIndex, '') };
        } catch (err) {
          if (err instanceof OverrideError) return { ok: false as const, error: err };
          throw err;
        }
      };
      const onWritten = attempt(object);
      const onLayered = layeredChanged[objectIndex] ? attempt(layered[objectIndex]) : onWritten;
      if (!onWritten.ok && !onLayered.ok) throw onWritten.error;
      if (onLayered.ok) {
        layered[objectIndex] = onLayered.value;
        layeredChanged[objectIndex] = true;
      }
    });
    if (targeted === 0) {
      throw new OverrideError(
        `override ${index}: its target ${JSON.stringify(override.target)} selects no object of the release`,
        index,
      );
    }
  });
};

/** The workflow that serves a release's content to the sites (see workflows/release.ts). */
export const releaseWorkflowId = (releaseId: string): string => `release:${releaseId}`;

/**
 * What a site is given of a release: its objects and overrides, which the site renders for
 * each of its clusters itself.
 */
export type ServedRelease = { releaseId: string; objects: ObjectIdentity[]; overrides: Override[] };
