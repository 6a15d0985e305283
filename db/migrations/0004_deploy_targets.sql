-- The targets of a deploy run, written by the API when it starts the run, in wave order: the
-- run's workflows carry position ranges, never the target list itself, so a run of 10,000
-- clusters keeps every workflow payload small. Each shard of the run records its targets'
-- outcome here when it ends; rollback and the target listing read them back.
CREATE TABLE deploy_targets (
  run_id       text NOT NULL,
  position     int NOT NULL,
  tenant_id    text NOT NULL REFERENCES tenants (id),
  wave         int NOT NULL,
  cluster_id   uuid NOT NULL,
  name         text NOT NULL,
  site         text NOT NULL,
  context      text NOT NULL,
  labels       jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Finished by the run this one succeeds: never applied again.
  done_before  boolean NOT NULL DEFAULT false,
  -- For those: the run that applied it, whose snapshot a rollback restores.
  applied_by   text,
  state        text NOT NULL DEFAULT 'pending',
  attempts     int NOT NULL DEFAULT 0,
  last_error   text,
  changed      int,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, position)
);
CREATE INDEX deploy_targets_state ON deploy_targets (run_id, state, position);
