-- Which release each deploy run rolled out. The run's workflow knows it (its memo and input);
-- this copy lets drift detection ask "what is deployed where" of the database in one query.
-- Filled by the maintenance activities from each run's memo the first time they meet the run.
CREATE TABLE deploy_runs (
  run_id      text PRIMARY KEY,
  tenant_id   text NOT NULL REFERENCES tenants (id),
  release_id  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
-- The latest succeeded deploy per cluster is looked up by cluster.
CREATE INDEX deploy_targets_succeeded ON deploy_targets (cluster_id, updated_at DESC) WHERE state = 'succeeded';

-- The latest drift check of each release (by name) deployed to each cluster: what differed
-- from what drover applied, and whether a repair put it back.
CREATE TABLE drift_reports (
  tenant_id      text NOT NULL REFERENCES tenants (id),
  cluster_id     uuid NOT NULL,
  release_name   text NOT NULL,
  release_id     text NOT NULL,
  -- The deploy run whose apply is the reference.
  deploy_run_id  text NOT NULL,
  status         text NOT NULL CHECK (status IN ('in-sync', 'drifted', 'repaired', 'error')),
  checked        int NOT NULL DEFAULT 0,
  objects        jsonb NOT NULL DEFAULT '[]'::jsonb,
  error          text,
  checked_at     timestamptz NOT NULL DEFAULT now(),
  -- The maintenance run that checked.
  check_run_id   text NOT NULL,
  PRIMARY KEY (tenant_id, cluster_id, release_name)
);
CREATE INDEX drift_reports_status ON drift_reports (tenant_id, status, cluster_id);
