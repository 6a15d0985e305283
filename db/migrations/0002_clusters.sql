-- The fleet inventory. A cluster belongs to one site and is known there by its kubeconfig
-- context; no credential or kubeconfig content is ever stored here, only what identifies and
-- describes the cluster.
CREATE TABLE clusters (
  id                  uuid PRIMARY KEY,
  tenant_id           text NOT NULL REFERENCES tenants (id),
  site                text NOT NULL,
  name                text NOT NULL,
  -- The name of the context in the site's kubeconfig (or the cloud's cluster id): a reference
  -- the sub-manager resolves to credentials, never the credentials themselves.
  context             text NOT NULL,
  provider            text NOT NULL CHECK (provider IN ('eks', 'gke', 'aks', 'sandbox', 'kubeconfig')),
  location            text NOT NULL DEFAULT '',
  kubernetes_version  text,
  endpoint            text,
  labels              jsonb NOT NULL DEFAULT '{}'::jsonb,
  status              text NOT NULL CHECK (status IN ('pending', 'ready', 'unreachable', 'vanished')),
  status_message      text,
  origin              text NOT NULL CHECK (origin IN ('discovered', 'registered')),
  expires_at          timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  last_seen_at        timestamptz,
  -- Deregistered clusters keep a tombstone so that discovery does not bring them back.
  deregistered_at     timestamptz,
  FOREIGN KEY (tenant_id, site) REFERENCES sites (tenant_id, name),
  UNIQUE (tenant_id, site, context)
);
CREATE UNIQUE INDEX clusters_name_unique ON clusters (tenant_id, site, name) WHERE deregistered_at IS NULL;
CREATE INDEX clusters_listing ON clusters (tenant_id, site, name, id) WHERE deregistered_at IS NULL;
CREATE INDEX clusters_labels ON clusters USING gin (labels);

ALTER TABLE sites ADD COLUMN last_discovery_at timestamptz;
