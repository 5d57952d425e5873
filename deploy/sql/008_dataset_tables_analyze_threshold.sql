-- Datasets' tables are analyzed by autovacuum only once 50000 rows (and a tenth of the table) changed, the threshold from which
-- an import analyzes the table itself (Grains/Import/ImportRunner.cs: AnalyzeMinChangedRows, which new tables get when created).
-- At the default 50 rows, every new dataset's table was analyzed after its first small upload and again while small uploads
-- followed: many small uploads, 2 cores, about a quarter of PostgreSQL's CPU (bench/results/2026-12-01-1057-many-small-analyze-ab.md).
-- Tables created before get the same setting here, once: a table that has it is left alone (this runs at every start).
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'dp_data' AND c.relkind = 'r'
               AND NOT COALESCE(c.reloptions, '{}') @> ARRAY['autovacuum_analyze_threshold=50000'] LOOP
        EXECUTE format('ALTER TABLE dp_data.%I SET (autovacuum_analyze_threshold = 50000)', t);
    END LOOP;
END $$;
