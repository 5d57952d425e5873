namespace DatasetPlatform.Grains.Schema;

/// <summary>Limits that follow from how datasets are stored, not from configuration.</summary>
public static class DatasetLimits
{
    /// <summary>PostgreSQL's limit on the columns of one table (MaxHeapAttributeNumber).</summary>
    public const int PostgresMaxColumns = 1600;

    /// <summary>The service's own bookkeeping columns in a dataset's table: _vf and _vt (row versions), _block and _seq (blocks).</summary>
    public const int BookkeepingColumns = 4;

    /// <summary>
    /// The widest dataset the service accepts: 1596 columns. Every upload door checks it when the header (or schema, or
    /// Parquet footer) is read, before any work that grows with the width.
    /// </summary>
    public const int MaxColumns = PostgresMaxColumns - BookkeepingColumns;
}
