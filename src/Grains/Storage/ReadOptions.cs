using System.ComponentModel.DataAnnotations;

namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// Bounds on the queries that read a dataset's rows (downloads, previews, Data8 reads, analyze, quality, compare,
/// date-stats). Environment variables DP_READ_STATEMENT_TIMEOUT_SECONDS and DP_MAX_CORRELATION_COLUMNS override the
/// "Reads" section.
/// </summary>
public sealed class ReadOptions
{
    public const string Section = "Reads";

    /// <summary>
    /// PostgreSQL statement_timeout of each read statement, in seconds (default 300). A download is one statement, so this
    /// bounds a whole download; analysis runs several statements, each bounded by it.
    /// </summary>
    [Range(1, 24 * 3600)] public int StatementTimeoutSeconds { get; set; } = 300;

    /// <summary>
    /// Analysis computes the Pearson correlation of every pair of the first this-many numeric columns (default 200):
    /// the pairs grow with the square of the width (1596 columns would be 1.27 million pairs per row read).
    /// </summary>
    [Range(0, Schema.DatasetLimits.MaxColumns)] public int MaxCorrelationColumns { get; set; } = 200;
}
