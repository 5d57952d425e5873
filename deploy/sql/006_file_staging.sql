-- Staged bytes can live outside PostgreSQL (FileStagingStore: a directory every process shares, DP_STAGING_DIR); the
-- catalog row says where, so a file staged before a change of configuration is still read from where it was written.
-- Idempotent.
ALTER TABLE dp.staged_files ADD COLUMN IF NOT EXISTS stored_in text NOT NULL DEFAULT 'database';
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'staged_files_stored_in_check') THEN
        ALTER TABLE dp.staged_files ADD CONSTRAINT staged_files_stored_in_check CHECK (stored_in IN ('database', 'files'));
    END IF;
END $$;
