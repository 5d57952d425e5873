-- A dataset table's _vt column defaults to NULL through a volatile expression (Grains/Storage/DataTables.cs, RowAtATimeDefault):
-- a COPY that leaves the column out then inserts row by row, which small loads choose (below ~5000 rows it saves COPY's
-- buffer, about 1 ms of backend CPU per statement on PostgreSQL 15), and one that lists it buffers as before.
-- Tables created before get the default here; until then every load into them buffers, as it always did. SET DEFAULT takes an
-- ACCESS EXCLUSIVE lock (008's setting takes a weaker one), so each table is altered and committed on its own: a table is
-- locked for its own ALTER only, and a busy one is waited for at most 200 ms (it keeps buffering, and a later start retries).
-- At every start, at most 1000 tables; a _vt that has a default already (this one, or an operator's) is left alone.
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = '_vt' AND NOT a.attisdropped
             WHERE n.nspname = 'dp_data' AND c.relkind = 'r' AND NOT a.atthasdef
             LIMIT 1000 LOOP
        BEGIN
            PERFORM set_config('lock_timeout', '200ms', true);
            EXECUTE format('ALTER TABLE dp_data.%I ALTER COLUMN _vt SET DEFAULT (CASE WHEN random() < 0 THEN 0 END)', t);
        EXCEPTION WHEN lock_not_available THEN
            NULL;
        END;
        COMMIT;
    END LOOP;
END $$;
