-- Tenants come first so that every later row can carry one; a single default tenant for now.
CREATE TABLE tenants (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tenants (id, name) VALUES ('default', 'Default tenant');

-- Only a hash of each token is kept: a database dump must not let anyone call the API.
CREATE TABLE api_tokens (
  id            text PRIMARY KEY,
  tenant_id     text NOT NULL REFERENCES tenants (id),
  name          text NOT NULL,
  role          text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
  token_hash    text NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz,
  UNIQUE (tenant_id, name)
);

CREATE TABLE sites (
  tenant_id         text NOT NULL REFERENCES tenants (id),
  name              text NOT NULL,
  description       text NOT NULL DEFAULT '',
  created_at        timestamptz NOT NULL DEFAULT now(),
  -- When the site's sub-manager last announced itself at start-up (liveness comes from Temporal).
  last_check_in_at  timestamptz,
  sub_manager_version text,
  PRIMARY KEY (tenant_id, name)
);
