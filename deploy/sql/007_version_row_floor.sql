-- A version's row floor: the lowest _vf a row visible in that version can have. A seed-004 version replaces the whole dataset, and
-- it does so by setting its floor to its own number instead of closing every live row with an UPDATE (which wrote a new copy of
-- each row on every version, and autovacuum work after it); an append or a merge keeps the previous version's floor. Rows below
-- the floor keep _vt NULL: every statement that reads live rows also asks _vf >= floor (Grains/Storage/DataTables.cs).
-- 0 for every version written before this column: their replaced rows were closed with _vt, so 0 is exact for them. Idempotent.
ALTER TABLE dp.dataset_versions ADD COLUMN IF NOT EXISTS row_floor integer NOT NULL DEFAULT 0;
