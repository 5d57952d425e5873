namespace DatasetPlatform.Grains.Schema;

/// <summary>
/// Limits that come from how datasets are stored, not from configuration: every read and write path sizes itself by them.
/// </summary>
public static class DatasetLimits
{
    /// <summary>PostgreSQL's hard limit of columns per table (MaxHeapAttributeNumber). Dropped columns count too.</summary>
    public const int PostgresTableColumns = 1600;

    /// <summary>
    /// The service's own columns in a dataset table: _vf and _vt (row versions) in every table, plus _block and _seq in
    /// block datasets. One figure for both modes, so a dataset's width limit does not depend on the surface it came through.
    /// </summary>
    public const int BookkeepingColumns = 4;

    /// <summary>
    /// The widest dataset the service accepts: 1596 data columns. Every read path (CSV, TSV, JSON, XLSX, previews,
    /// Data8 reads, analyze, quality, compare) works up to this width. A dataset table never drops a physical column
    /// (older versions still read it), so this also bounds all the columns a dataset's versions have ever had.
    /// </summary>
    public const int MaxColumns = PostgresTableColumns - BookkeepingColumns;
}
