-- Seed 004: versions carry a description, a quality report and cached statistics; lineage links. Idempotent.
ALTER TABLE dp.import_jobs ADD COLUMN IF NOT EXISTS description text NULL;
ALTER TABLE dp.dataset_versions ADD COLUMN IF NOT EXISTS quality jsonb NULL;
ALTER TABLE dp.dataset_versions ADD COLUMN IF NOT EXISTS analysis jsonb NULL;   -- GET /analyze result, computed once per version
ALTER TABLE dp.dataset_versions ADD COLUMN IF NOT EXISTS staged_file_id uuid NULL;

CREATE TABLE IF NOT EXISTS dp.experiments (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    dataset_version_id uuid NOT NULL REFERENCES dp.dataset_versions(id) ON DELETE CASCADE,
    name               text NOT NULL,
    target_column      text NULL,
    problem_type       text NULL,
    status             text NOT NULL DEFAULT 'created',
    created_by         text NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS dp.models (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    experiment_id uuid NOT NULL REFERENCES dp.experiments(id) ON DELETE CASCADE,
    name          text NOT NULL,
    algorithm     text NULL,
    created_by    text NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS dp.deployments (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    model_id   uuid NOT NULL REFERENCES dp.models(id) ON DELETE CASCADE,
    name       text NOT NULL,
    stage      text NOT NULL DEFAULT 'staging',
    is_active  boolean NOT NULL DEFAULT true,
    created_by text NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
