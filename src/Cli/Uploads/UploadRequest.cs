namespace DatasetPlatform.Cli.Uploads;

/// <summary>What `dp upload` was asked to do, checked before any byte goes out.</summary>
internal sealed record UploadRequest(
    long DatasetId,
    FileInfo File,
    string? Manifest,
    bool DeleteMissing,
    bool UpdateOnConflict,
    bool AcceptNewColumns,
    bool Wait,
    TimeSpan Timeout,
    int FirstBlock,
    bool CompleteBlocks)
{
    public static string ContentTypeOf(string fileName) => fileName.ToLowerInvariant() switch
    {
        var n when n.EndsWith(".gz", StringComparison.Ordinal) => "application/gzip",
        var n when n.EndsWith(".jsonl", StringComparison.Ordinal) || n.EndsWith(".ndjson", StringComparison.Ordinal) => "application/x-ndjson",
        var n when n.EndsWith(".parquet", StringComparison.Ordinal) => "application/vnd.apache.parquet",
        _ => "text/csv",
    };
}
