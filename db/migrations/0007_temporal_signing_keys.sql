-- Keys that sign Temporal credentials (runtime/temporal-credentials.ts): one active key per
-- site, plus the control plane's. The private half never leaves the control plane; the public
-- half of every key not revoked is published as drover's JWKS, which the Temporal server
-- trusts. Revoking a site's key refuses every credential it signed.
CREATE TABLE temporal_signing_keys (
  kid              text PRIMARY KEY,
  tenant_id        text NOT NULL REFERENCES tenants (id),
  site             text,
  private_key_pem  text NOT NULL,
  public_jwk       jsonb NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  revoked_at       timestamptz,
  FOREIGN KEY (tenant_id, site) REFERENCES sites (tenant_id, name)
);
CREATE INDEX temporal_signing_keys_site ON temporal_signing_keys (tenant_id, site) WHERE revoked_at IS NULL;
