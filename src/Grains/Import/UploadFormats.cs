namespace DatasetPlatform.Grains.Import;

/// <summary>
/// What an uploaded file's name says it is: the format recorded on its job (and used to route Parquet) and the content
/// type a presigned PUT should send. Gzip and CSV versus JSON lines are also recognised from the bytes when read.
/// </summary>
public static class UploadFormats
{
    public static (string Format, string ContentType) FromFileName(string fileName)
    {
        var name = fileName.ToLowerInvariant();
        if (name.EndsWith(".parquet", StringComparison.Ordinal)) return ("parquet", "application/vnd.apache.parquet");
        if (name.EndsWith(".gz", StringComparison.Ordinal))
            return (name.EndsWith(".jsonl.gz", StringComparison.Ordinal) || name.EndsWith(".ndjson.gz", StringComparison.Ordinal) ? "jsonl.gz" : "csv.gz", "application/gzip");
        if (name.EndsWith(".jsonl", StringComparison.Ordinal) || name.EndsWith(".ndjson", StringComparison.Ordinal)) return ("jsonl", "application/x-ndjson");
        return ("csv", "text/csv");
    }
}
