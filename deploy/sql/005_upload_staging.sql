-- Uploads stage their file chunk by chunk in short statements (no transaction stays open while a client sends), so a
-- staged file exists before it is complete. Idempotent.

-- A file is complete once its job committed with it; until then it is an upload in flight (or abandoned, when
-- touched_at, refreshed with every chunk, grows old). Files from before this script are complete.
ALTER TABLE dp.staged_files ADD COLUMN IF NOT EXISTS complete boolean NOT NULL DEFAULT true;
ALTER TABLE dp.staged_files ADD COLUMN IF NOT EXISTS touched_at timestamptz NOT NULL DEFAULT now();
-- A seed 004 first upload creates its dataset only when the file is complete.
ALTER TABLE dp.staged_files ALTER COLUMN dataset_id DROP NOT NULL;
CREATE INDEX IF NOT EXISTS staged_files_incomplete_idx ON dp.staged_files (touched_at) WHERE NOT complete;

-- The presigned PUT that holds a URL's single use while it streams: taken when the PUT starts, released (by the
-- foreign key) when that upload's unfinished file is deleted, so a failed upload can be retried on the same URL.
ALTER TABLE dp.import_jobs ADD COLUMN IF NOT EXISTS upload_file_id uuid NULL REFERENCES dp.staged_files(id) ON DELETE SET NULL;
