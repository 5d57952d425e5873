-- Presigned uploads (seed 002), block uploads (seed 003) and bearer tokens. Idempotent.

-- Server secrets shared by every gateway of a cluster (HMAC keys for upload URLs and access tokens).
CREATE TABLE IF NOT EXISTS dp.secrets (
    name       text PRIMARY KEY,
    value      bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- V4 schemas: with strict, fields the schema does not name are record errors; without, they are ignored.
ALTER TABLE dp.datasets ADD COLUMN IF NOT EXISTS schema_strict boolean NOT NULL DEFAULT false;

-- Data8 creates input datasets "in the key's home repository"; made on first use.
ALTER TABLE dp.api_keys ADD COLUMN IF NOT EXISTS home_repository_id bigint NULL REFERENCES dp.repositories(id) ON DELETE SET NULL;

-- A block upload replaces the rows of its block number.
ALTER TABLE dp.import_jobs ADD COLUMN IF NOT EXISTS block_number integer NULL;
-- When a presigned upload URL stops being valid (the job stays 'uninitialised' until its file arrives).
ALTER TABLE dp.import_jobs ADD COLUMN IF NOT EXISTS upload_expires_at timestamptz NULL;

-- Queue position, taken when the job's file is in (not when a presigned URL was handed out), so the dataset
-- runs imports in the order their files arrived.
CREATE SEQUENCE IF NOT EXISTS dp.import_queue_seq;
ALTER TABLE dp.import_jobs ADD COLUMN IF NOT EXISTS queue_seq bigint NULL DEFAULT nextval('dp.import_queue_seq');
CREATE INDEX IF NOT EXISTS import_jobs_queue_idx ON dp.import_jobs (dataset_id, queue_seq) WHERE status IN ('queued', 'processing');
