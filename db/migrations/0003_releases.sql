-- Releases are immutable and content-addressed: the id is a hash of name, manifests and
-- overrides, so uploading the same release twice stores it once, and a run that carries a
-- release id always deploys the same content.
CREATE TABLE releases (
  id            text PRIMARY KEY,
  tenant_id     text NOT NULL REFERENCES tenants (id),
  name          text NOT NULL,
  -- The YAML exactly as uploaded (comments and formatting kept), to give back byte for byte.
  manifests     text NOT NULL,
  overrides     jsonb NOT NULL DEFAULT '[]'::jsonb,
  -- {apiVersion, kind, namespace?, name} of each object, in document order: listing a release
  -- must not mean parsing up to 2 MiB of YAML again.
  objects       jsonb NOT NULL,
  object_count  int NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX releases_listing ON releases (tenant_id, created_at DESC, id DESC);
