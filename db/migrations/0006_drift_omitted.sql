-- Differing objects a drift check left out of `objects` to stay small (a release that drifted
-- nearly everywhere would otherwise pass Temporal's payload limit).
ALTER TABLE drift_reports ADD COLUMN omitted int NOT NULL DEFAULT 0;
