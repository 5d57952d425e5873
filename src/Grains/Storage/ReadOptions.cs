using System.ComponentModel.DataAnnotations;

namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// Bounds on the queries that read a dataset's rows (downloads, previews, Data8 reads, analyze, quality, compare,
/// date-stats). Environment variables DP_READ_STATEMENT_TIMEOUT_SECONDS, DP_MAX_CORRELATION_COLUMNS, DP_DOWNLOAD_STREAMS,
/// DP_DOWNLOAD_RANGE_PAGES and DP_DOWNLOAD_FORMAT_IN_SERVICE override the "Reads" section.
/// </summary>
public sealed class ReadOptions
{
    public const string Section = "Reads";

    /// <summary>
    /// PostgreSQL statement_timeout of each read statement, in seconds (default 300). It bounds a whole download (one
    /// statement, or ranges of the table whose statements share the budget); analysis runs several statements, each bounded by it.
    /// </summary>
    [Range(1, 24 * 3600)] public int StatementTimeoutSeconds { get; set; } = 300;

    /// <summary>
    /// Analysis computes the Pearson correlation of every pair of the first this-many numeric columns (default 200):
    /// the pairs grow with the square of the width (1596 columns would be 1.27 million pairs per row read).
    /// </summary>
    [Range(0, Schema.DatasetLimits.MaxColumns)] public int MaxCorrelationColumns { get; set; } = 200;

    /// <summary>
    /// PostgreSQL sessions that format one plain download (no $top, $skip, $last, block order or JSON array) at the same time:
    /// above 1, the table is read in ranges of pages, handed out to the sessions in turn and sent in table order. Default 1 (one
    /// COPY statement): measured on a quiet machine (bench/ingest.sh, 1M rows, same binary), one statement took 1.36 s and 1.1 s
    /// of PostgreSQL CPU, two sessions 2.23 s and 2.5 s (COPY TO: 1.16-1.24 s). The ranges cost PostgreSQL twice the CPU;
    /// until that is understood the ranged read stays opt-in.
    /// </summary>
    [Range(1, 8)] public int DownloadStreams { get; set; } = 1;

    /// <summary>
    /// A one-statement CSV or TSV download read from PostgreSQL in binary and turned into text by the service, the same bytes as
    /// the server's CSV (see <see cref="BinaryCsvCopy"/>). Default false: measured on 2 cores with PostgreSQL on the same
    /// machine (bench/ingest.sh, 1M rows x 11 columns, two rounds each), it takes PostgreSQL 0.7-0.8 s of CPU instead of
    /// 1.1-1.2 s but the service 1.4-1.5 s instead of 0.7-0.9 s (a read per row through Npgsql, then the formatting), and
    /// the download is no quicker (1.34-1.42 s against 1.24-1.51 s). It pays where the service has cores of its own and
    /// PostgreSQL is the shared bottleneck: a cluster whose silos run on other machines than the database.
    /// </summary>
    public bool FormatDownloadsInService { get; set; }

    /// <summary>
    /// Table pages (8 KiB each) per range of such a download (default 256, about 2 MB of table). A table of fewer than two
    /// ranges is read in one statement.
    /// </summary>
    [Range(1, 1 << 20)] public int DownloadRangePages { get; set; } = 256;
}
