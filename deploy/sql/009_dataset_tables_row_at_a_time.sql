-- A dataset table's _vt column defaults to NULL through a volatile expression (Grains/Storage/DataTables.cs, RowAtATimeDefault):
-- a COPY that leaves the column out then inserts row by row, which small loads choose (below ~5000 rows it saves COPY's
-- buffer, about 1 ms of backend CPU per statement on PostgreSQL 15), and one that lists it buffers as before.
-- Tables created before get the default here; until then every load into them buffers, as it always did. Same rules as 008:
-- at every start, at most 1000 tables, at most 2 s of waiting for a table another session holds (left for a later start), and
-- a _vt that has a default already (this one, or an operator's) is left alone.
DO $$
DECLARE t text;
BEGIN
    PERFORM set_config('lock_timeout', '2s', true);
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = '_vt' AND NOT a.attisdropped
             WHERE n.nspname = 'dp_data' AND c.relkind = 'r' AND NOT a.atthasdef
             LIMIT 1000 LOOP
        BEGIN
            EXECUTE format('ALTER TABLE dp_data.%I ALTER COLUMN _vt SET DEFAULT (CASE WHEN random() < 0 THEN 0 END)', t);
        EXCEPTION WHEN lock_not_available THEN
            NULL;
        END;
    END LOOP;
END $$;
