import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createReleaseStore, type ReleaseRow } from '../../db/releases.ts';
import { ClusterName } from '../../domain/clusters.ts';
import { DroverError, ErrorType } from '../../domain/errors.ts';
import {
  Override,
  OverrideError,
  ReleaseContent,
  ReleaseId,
  ReleaseObjectRef,
  checkOverrides,
  refOfObject,
  renderForCluster,
} from '../../domain/releases.ts';
import { Labels } from '../../domain/selectors.ts';
import { parseManifests, type Manifest } from '../../kube/apply.ts';
import { KubeError } from '../../kube/errors.ts';
import { ErrorBody } from '../errors.ts';
import type { AppDeps } from '../app.ts';
import { selectorFrom } from '../../domain/selectors.ts';

export const MAX_MANIFEST_BYTES = 2 * 1024 * 1024;
export const MAX_DOCUMENTS = 1000;
/** The YAML travels as a JSON string (escaping adds a little) next to the overrides. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

const bad = (field: string, message: string, details?: Record<string, unknown>) =>
  new DroverError(ErrorType.BadInput, `${field}: ${message}`, { field, ...(details ? { details } : {}) });

/** A parseManifests failure as a 400 on `body.manifests[i]…`, i the document's 0-based index. */
const manifestError = (err: KubeError): DroverError => {
  const index = err.documentIndex ?? 0;
  const document = `body.manifests[${index}]`;
  const details: Record<string, unknown> = { document: index };
  const position = err.field === undefined ? undefined : /^line (\d+), column (\d+)$/.exec(err.field);
  if (position) {
    details.line = Number(position[1]);
    details.column = Number(position[2]);
  }
  if (err.object) details.object = err.object;
  const field =
    err.field === undefined || position || err.field === '(document)' ? document : `${document}.${err.field}`;
  return bad(field, err.message, details);
};

/** An OverrideError's details for a caller, who knows documents by their index in the YAML stream. */
const overrideDetails = (err: OverrideError, documents: readonly Manifest[]): Record<string, unknown> => {
  const { objectIndex: _position, ...details } = err.details ?? {};
  const document = err.objectIndex === undefined ? undefined : documents[err.objectIndex]?.index;
  return { ...details, ...(document === undefined ? {} : { document }) };
};

export type ValidatedRelease = ReleaseContent & { objects: ReleaseObjectRef[]; documents: Manifest[] };

/**
 * Everything an upload must pass before it is stored, each failure a 400 naming the field:
 * size, YAML syntax, every document a named Kubernetes object, no object twice, at most
 * MAX_DOCUMENTS, selectors that parse, and overrides that can apply to what they target.
 */
export const validateRelease = (content: ReleaseContent): ValidatedRelease => {
  const bytes = Buffer.byteLength(content.manifests, 'utf8');
  if (bytes > MAX_MANIFEST_BYTES) {
    throw bad('body.manifests', `is ${bytes} bytes of YAML; at most ${MAX_MANIFEST_BYTES} are allowed`);
  }
  let documents: Manifest[];
  try {
    documents = parseManifests(content.manifests);
  } catch (err) {
    if (err instanceof KubeError && err.type === ErrorType.BadInput) throw manifestError(err);
    throw err;
  }
  if (documents.length === 0) throw bad('body.manifests', 'contains no Kubernetes object');
  if (documents.length > MAX_DOCUMENTS) {
    throw bad('body.manifests', `has ${documents.length} objects; at most ${MAX_DOCUMENTS} are allowed`);
  }
  content.overrides.forEach((o, i) => selectorFrom(o.selector, `body.overrides[${i}].selector`));
  const objects = documents.map((d) => d.object);
  try {
    checkOverrides(objects, content.overrides);
  } catch (err) {
    if (!(err instanceof OverrideError)) throw err;
    const field = `body.overrides[${err.override}]${err.objectIndex === undefined ? '.target' : ''}`;
    throw bad(field, err.message, overrideDetails(err, documents));
  }
  return { ...content, objects: objects.map(refOfObject), documents };
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A schema failure as a 400 whose field writes array positions in brackets
 * (`body.overrides[1].jsonPatch[0].path`), as validateRelease does.
 */
const schemaError = (err: Error, root: unknown): Error => {
  if (!hasZodFastifySchemaValidationErrors(err)) return err;
  const context = (err as { validationContext?: string }).validationContext ?? 'request';
  const fieldOf = (instancePath: string) => {
    let node = root;
    let field = context;
    for (const segment of instancePath.split('/').filter(Boolean)) {
      field += Array.isArray(node) ? `[${segment}]` : `.${segment}`;
      node = Array.isArray(node) ? node[Number(segment)] : isRecord(node) ? node[segment] : undefined;
    }
    return field;
  };
  const issues = err.validation.map((v) => ({ field: fieldOf(v.instancePath), message: v.message }));
  const first = issues[0] ?? { field: context, message: 'invalid' };
  return bad(first.field, first.message ?? 'invalid', { issues });
};

const ReleaseSummary = z.object({
  id: ReleaseId,
  name: z.string(),
  objectCount: z.number().int(),
  overrides: z.number().int().describe('how many overrides the release has'),
  createdAt: z.string().datetime(),
});

const ReleaseView = z.object({
  id: ReleaseId,
  name: z.string(),
  objects: z.array(ReleaseObjectRef).describe('in document order'),
  overrides: z.number().int().describe('how many overrides the release has'),
  createdAt: z.string().datetime(),
});

const view = (r: ReleaseRow): z.infer<typeof ReleaseView> => ({
  id: r.id,
  name: r.name,
  objects: r.objects,
  overrides: r.overrides.length,
  createdAt: r.created_at.toISOString(),
});

const IdParams = z.object({ id: ReleaseId });

export const releaseRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const releases = createReleaseStore(deps.db);

    app.post(
      '/releases',
      {
        bodyLimit: MAX_BODY_BYTES,
        // Schema failures reach the handler, which names array items `[i]` like the other checks.
        attachValidation: true,
        schema: {
          summary: 'Upload a release: multi-document YAML and per-cluster overrides',
          description: `Stored content-addressed: the same name, manifests and overrides always get the same id (200 when it already existed, 201 when new). At most ${MAX_DOCUMENTS} objects and ${MAX_MANIFEST_BYTES / 1024 / 1024} MiB of YAML. Every override must apply to the objects it targets.`,
          tags: ['releases'],
          body: ReleaseContent,
          response: {
            200: ReleaseView.extend({ created: z.boolean() }),
            201: ReleaseView.extend({ created: z.boolean() }),
            400: ErrorBody,
            413: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        if (request.validationError) throw schemaError(request.validationError, request.body);
        const release = validateRelease(request.body);
        const stored = await releases.create(release);
        return reply
          .status(stored.created ? 201 : 200)
          .send({ ...view(stored.release), created: stored.created });
      },
    );

    app.get(
      '/releases',
      {
        schema: {
          summary: 'List releases, newest first',
          tags: ['releases'],
          querystring: z.object({
            name: z.string().max(253).optional().describe('only releases of this name'),
            limit: z.coerce.number().int().min(1).max(1000).default(100),
            cursor: z.string().max(2000).optional().describe('`nextCursor` of the previous page'),
          }),
          response: {
            200: z.object({ items: z.array(ReleaseSummary), nextCursor: z.string().nullable() }),
            400: ErrorBody,
          },
        },
      },
      async (request) => {
        const page = await releases.list(request.query);
        return {
          items: page.items.map((r) => ({
            id: r.id,
            name: r.name,
            objectCount: r.object_count,
            overrides: r.override_count,
            createdAt: r.created_at.toISOString(),
          })),
          nextCursor: page.nextCursor,
        };
      },
    );

    app.get(
      '/releases/:id',
      {
        schema: {
          summary: 'One release: its objects and how many overrides it has',
          tags: ['releases'],
          params: IdParams,
          response: { 200: ReleaseView, 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request) => view(await releases.get(request.params.id)),
    );

    app.get(
      '/releases/:id/manifests',
      {
        schema: {
          summary: 'The YAML of a release, exactly as uploaded',
          tags: ['releases'],
          produces: ['application/yaml'],
          params: IdParams,
          response: { 200: z.string().describe('multi-document YAML'), 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request, reply) => {
        const release = await releases.get(request.params.id);
        return reply.type('application/yaml; charset=utf-8').send(release.manifests);
      },
    );

    app.get(
      '/releases/:id/overrides',
      {
        schema: {
          summary: 'The overrides of a release, in the order they apply',
          tags: ['releases'],
          params: IdParams,
          response: { 200: z.object({ items: z.array(Override) }), 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request) => ({ items: (await releases.get(request.params.id)).overrides }),
    );

    app.post(
      '/releases/:id/render',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Preview the objects a cluster with these labels would get',
          description:
            'Applies, in order, every override whose selector matches the labels. Changes nothing.',
          tags: ['releases'],
          params: IdParams,
          body: z.object({ clusterName: ClusterName, labels: Labels.default({}) }).strict(),
          response: {
            200: z.object({
              id: ReleaseId,
              clusterName: z.string(),
              objects: z.array(z.record(z.string(), z.unknown())),
            }),
            400: ErrorBody,
            404: ErrorBody,
          },
        },
      },
      async (request) => {
        const release = await releases.get(request.params.id);
        const { clusterName, labels } = request.body;
        const documents = parseManifests(release.manifests);
        const objects = documents.map((d) => d.object);
        try {
          return {
            id: release.id,
            clusterName,
            objects: renderForCluster(objects, release.overrides, { name: clusterName, labels }),
          };
        } catch (err) {
          if (!(err instanceof OverrideError)) throw err;
          throw bad('body.labels', err.message, overrideDetails(err, documents));
        }
      },
    );
  };
