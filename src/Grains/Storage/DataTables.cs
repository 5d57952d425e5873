namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// Where a dataset's rows live: one typed table per dataset, <c>dp_data.ds_{id}</c>, and its one index. Every statement
/// that names a dataset's table (or the index) gets the name from here, built from the numeric id only, never from user
/// text; this is the one place to change to move datasets elsewhere, e.g. a schema per dataset for Citus' schema-based
/// sharding (deploy/README.md, "Past one PostgreSQL").
/// </summary>
public static class DataTables
{
    /// <summary>The schema holding every dataset's table (created by deploy/sql/002_catalog.sql).</summary>
    public const string Schema = "dp_data";

    /// <summary>
    /// A keyed dataset's column of each row's 128-bit hash (uuid; Import/RowHash.cs), written while the rows are copied in and
    /// compared by the keyed merge instead of every value. NULL in rows loaded before it existed (or by a version upload); tables
    /// created before it have no such column and merge by value.
    /// </summary>
    public const string RowHashColumn = "_h";

    /// <summary>
    /// The default of a dataset table's <c>_vt</c> column: NULL, always, but through a volatile function. PostgreSQL's COPY FROM
    /// buffers up to 1000 rows and writes them a page at a time, unless a column the COPY leaves out has a volatile default (which
    /// might read the table): then it inserts row by row. Its buffer costs a fixed ~1 ms of backend CPU per COPY statement on
    /// PostgreSQL 15 (each buffered row's slot pins the table's descriptor in a resource owner that probes linearly among equal
    /// entries, 1000²/2 probes), so a small load is cheaper row by row: measured with server-side binary COPYs (backend CPU), 1000
    /// rows 0.68 ms row by row against 1.5 ms buffered, 2000 rows 1.34 against 1.94, with the crossover near 5000 rows (20000
    /// two-column rows: 6.3 ms against 4.4). A COPY chooses per statement: with <c>_vt</c> in its column list (sent NULL) the
    /// default is not used and the rows are buffered; without it, row by row (<see cref="Import.CopyRows"/> decides by the count).
    /// </summary>
    public const string RowAtATimeDefault = "CASE WHEN random() < 0 THEN 0 END";

    /// <summary>The dataset's table, schema-qualified: what statements name.</summary>
    public static string QualifiedName(long datasetId) => $"{Schema}.{LocalName(datasetId)}";

    /// <summary>The dataset's table name inside <see cref="Schema"/> (how PostgreSQL's messages name the relation).</summary>
    public static string LocalName(long datasetId) => $"ds_{datasetId}";

    /// <summary>A block dataset's index of its live rows by block number (created in the table's schema).</summary>
    public static string LiveBlocksIndexName(long datasetId) => $"{LocalName(datasetId)}_live_blocks";

    /// <summary>What the name of every index of a dataset's live rows by its key starts with (one per key ever indexed).</summary>
    public static string LiveKeysIndexPrefix(long datasetId) => $"{LocalName(datasetId)}_live_keys_";

    /// <summary>
    /// The index of a dataset's live rows by the key columns <paramref name="keyList"/> (physical names): the prefix and a hash
    /// of the key, so a dataset whose key changed gets a new index name and the old one can be found by its prefix.
    /// </summary>
    public static string LiveKeysIndexName(long datasetId, string keyList) =>
        LiveKeysIndexPrefix(datasetId) + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(keyList)))[..8];

    /// <summary>
    /// The rows of a version: visible from the version that inserted them (_vf) until the one that closed them (_vt), and
    /// inserted at or after the version's floor (dp.dataset_versions.row_floor): a seed-004 version replaces the whole dataset
    /// by raising the floor to its own number, not by closing every live row, so rows below a floor keep _vt NULL. Both numbers
    /// are integers from the catalog, never user text.
    /// </summary>
    public static string VisibleAt(int version, int floor) =>
        (floor > 0 ? $"_vf >= {floor} AND " : "") + $"_vf <= {version} AND (_vt IS NULL OR _vt > {version})";

    /// <summary>
    /// The live rows, for an import that knows the current version's floor because it holds the dataset's row lock: rows not
    /// closed, inserted at or after the floor.
    /// </summary>
    public static string LiveFrom(int floor, string? alias = null)
    {
        var prefix = alias is null ? "" : alias + ".";
        return floor > 0 ? $"{prefix}_vt IS NULL AND {prefix}_vf >= {floor}" : $"{prefix}_vt IS NULL";
    }

    /// <summary>
    /// The live rows, for a reader: the statement reads the current version's floor from the catalog itself, in its own snapshot.
    /// A floor read before the statement could be one replace old, and the read would then show the replaced version's rows
    /// together with the new ones. The subquery runs once per statement (an InitPlan), by primary key and unique index.
    /// </summary>
    public static string Live(long datasetId) => $"_vt IS NULL AND _vf >= {CurrentFloorSql(datasetId)}";

    /// <summary>The current version's floor (0 without a version, or for a version written before floors existed), as a scalar subquery.</summary>
    public static string CurrentFloorSql(long datasetId) =>
        "(SELECT COALESCE(max(v.row_floor), 0) FROM dp.datasets d JOIN dp.dataset_versions v ON v.dataset_id = d.id AND v.version = d.current_version "
        + $"WHERE d.id = {datasetId})";

    /// <summary>SQL counting rows equal to an earlier row (first occurrences not counted), over the given physical columns.</summary>
    public static string DuplicateRowsSql(string table, string where, IEnumerable<string> physicalColumns) =>
        $"SELECT COALESCE(sum(n - 1), 0)::bigint FROM (SELECT count(*) AS n FROM {table} WHERE {where} GROUP BY {string.Join(", ", physicalColumns)} HAVING count(*) > 1) d";
}
