using System.ComponentModel.DataAnnotations;

namespace DatasetPlatform.Api.Hosting;

/// <summary>Gateway settings. Environment variables (DP_POSTGRES, DP_DATA_DIR, DP_MODE, MAX_DATASET_UPLOAD_BYTES) override the "Platform" section.</summary>
public sealed class PlatformOptions
{
    public const string Section = "Platform";

    /// <summary>Npgsql connection string of the one PostgreSQL that holds everything.</summary>
    [Required] public string Postgres { get; set; } = "";

    /// <summary>Where the bootstrap key file is written.</summary>
    public string DataDir { get; set; } = ".data";

    /// <summary>"embedded": this process hosts a silo and the gateway; "gateway": it joins a cluster as a client.</summary>
    [RegularExpression("^(embedded|gateway)$")] public string Mode { get; set; } = "embedded";

    /// <summary>Largest accepted upload; seed 004 names this MAX_DATASET_UPLOAD_BYTES, default 500 MB.</summary>
    [Range(1, long.MaxValue)] public long MaxUploadBytes { get; set; } = 500L * 1024 * 1024;

    /// <summary>
    /// Largest block PATCH body (MAX_BLOCK_BODY_BYTES), checked before the body is buffered, and largest block once stored as
    /// JSON lines (each value under its column's name); beyond either, 413.
    /// </summary>
    [Range(1024, 1L << 30)] public long MaxBlockBodyBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>
    /// Uploads (all four upload doors, presigned PUTs included) this gateway process receives at once
    /// (DP_MAX_CONCURRENT_UPLOADS); one more is answered 429 with Retry-After. Each holds two 1 MiB buffers.
    /// </summary>
    [Range(1, 10_000)] public int MaxConcurrentUploads { get; set; } = 16;

    /// <summary>
    /// Row downloads (CSV/TSV/JSON/XLSX data, seed-004 downloads, Data8 reads) this gateway process streams at once
    /// (DP_MAX_CONCURRENT_DOWNLOADS); one more is answered 429 with Retry-After. Each holds a database connection for as long
    /// as its client takes to read, so clients that read slowly or not at all could otherwise take the whole pool.
    /// </summary>
    [Range(1, 10_000)] public int MaxConcurrentDownloads { get; set; } = 8;

    /// <summary>The Retry-After of that 429, in seconds (DP_UPLOAD_RETRY_AFTER_SECONDS).</summary>
    [Range(1, 3600)] public int UploadRetryAfterSeconds { get; set; } = 5;

    /// <summary>
    /// Slowest request body Kestrel accepts, in bytes per second averaged since the body started (DP_MIN_UPLOAD_RATE);
    /// a client below it after the grace period is cut off (408), so a trickling client cannot hold an upload slot.
    /// </summary>
    [Range(1, int.MaxValue)] public int MinUploadBytesPerSecond { get; set; } = 1024;

    /// <summary>How long a body may stay under the minimum rate before it is cut off, in seconds (DP_MIN_UPLOAD_RATE_GRACE_SECONDS).</summary>
    [Range(1, 3600)] public int MinUploadRateGraceSeconds { get; set; } = 10;

    /// <summary>
    /// Longest silence inside an upload's body, in seconds (DP_UPLOAD_IDLE_SECONDS): the minimum rate is an average since
    /// the body started, so a client that sent fast and then stopped would otherwise keep its upload slot for a long time.
    /// </summary>
    [Range(1, 3600)] public int UploadIdleSeconds { get; set; } = 60;

    /// <summary>Time a client has to send a request's headers, in seconds (DP_REQUEST_HEADERS_TIMEOUT_SECONDS).</summary>
    [Range(1, 3600)] public int RequestHeadersTimeoutSeconds { get; set; } = 15;

    /// <summary>Largest dataset served as XLSX (MAX_XLSX_ROWS); bigger ones are refused with a 400 that says to use CSV.</summary>
    [Range(1, 1_048_575)] public int MaxXlsxRows { get; set; } = 100_000;

    /// <summary>
    /// Most cells (rows x columns) served as XLSX (MAX_XLSX_CELLS). The row limit alone lets a 1,596-column dataset build a
    /// workbook of 160 million cells in a temporary file before the first byte is sent; this bounds that work and disk.
    /// </summary>
    [Range(1, long.MaxValue)] public long MaxXlsxCells { get; set; } = 10_000_000;

    /// <summary>
    /// Items per page of a list when the client gives no ?limit (DP_PAGE_SIZE). Large, because the Alphacast SDK reads
    /// GET /repositories and /datasets as one array and looks datasets up by name in it.
    /// </summary>
    [Range(1, 100_000)] public int DefaultPageSize { get; set; } = 1000;

    /// <summary>The largest ?limit a list accepts (DP_MAX_PAGE_SIZE); more is a 400. Seed 004's lists keep their own bounds.</summary>
    [Range(1, 100_000)] public int MaxPageSize { get; set; } = 5000;
}
