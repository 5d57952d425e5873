-- Runs of an import that never came back (their silo died while loading), counted when the job starts again: a file that keeps
-- killing its silo is failed after DP_IMPORT_MAX_CRASHES of them. Kept with the job's status, so starting a run costs one
-- statement (the status change) rather than Orleans grain-state reads and writes besides. Idempotent.
ALTER TABLE dp.import_jobs ADD COLUMN IF NOT EXISTS crashes integer NOT NULL DEFAULT 0;
