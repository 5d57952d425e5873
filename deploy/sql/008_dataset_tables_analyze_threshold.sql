-- Datasets' tables are analyzed by autovacuum only once 50000 rows plus a tenth of the table changed (an import analyzes a table
-- itself after 50000 changed rows that are also a tenth of it: Grains/Import/ImportRunner.cs, AnalyzeMinChangedRows, the value
-- new tables are created with). At the default 50 rows every new dataset's table was analyzed after its first small upload, and
-- again while small uploads followed: many small uploads, 2 cores, a tenth to a quarter of PostgreSQL's CPU
-- (bench/results/2026-12-01-1057-many-small-analyze-ab.md).
-- Tables created before get the setting here. This runs at every start, in one transaction that holds a lock on each table it
-- changes until it ends, so it takes at most 1000 tables per start (the next starts do the rest), waits at most 2 s for a
-- table another session holds (that one is left for a later start), and leaves alone a table whose threshold was set already,
-- by this script or by an operator.
DO $$
DECLARE t text;
BEGIN
    PERFORM set_config('lock_timeout', '2s', true);
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'dp_data' AND c.relkind = 'r'
               AND NOT EXISTS (SELECT 1 FROM unnest(COALESCE(c.reloptions, '{}')) o WHERE o LIKE 'autovacuum\_analyze\_threshold=%')
             LIMIT 1000 LOOP
        BEGIN
            EXECUTE format('ALTER TABLE dp_data.%I SET (autovacuum_analyze_threshold = 50000)', t);
        EXCEPTION WHEN lock_not_available THEN
            NULL;
        END;
    END LOOP;
END $$;
