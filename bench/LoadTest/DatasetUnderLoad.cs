namespace DatasetPlatform.LoadTest;

/// <summary>What happened to one upload, as the client saw it (times in UTC).</summary>
public sealed class UploadRecord(int upload)
{
    public int Upload { get; } = upload;
    public DateTime Started { get; set; }

    /// <summary>When the acknowledgement came (201, or 200 for a presigned PUT or a block); null when it never did.</summary>
    public DateTime? Acknowledged { get; set; }

    /// <summary>When the import finished: the service's processed_at (same machine clock), or when the client saw it.</summary>
    public DateTime? Completed { get; set; }

    public List<long> JobIds { get; } = [];

    /// <summary>The final outcome in Alphacast words (Processed, Error), or why there is none.</summary>
    public string? Outcome { get; set; }

    /// <summary>Why the upload was not acknowledged (status and body), if it was not.</summary>
    public string? Failure { get; set; }

    /// <summary>The request got no answer at all: it may or may not have been stored.</summary>
    public bool Indeterminate { get; set; }

    public long Rows { get; set; }
    public long Bytes { get; set; }
}

/// <summary>One dataset of a run: its door, ids, the uploads sent to it and what verification found.</summary>
public sealed class DatasetUnderLoad(int index, Door door, RowValues values, int uploads, GatewayClient gateway)
{
    public int Index { get; } = index;
    public Door Door { get; } = door;
    public RowValues Values { get; } = values;
    public GatewayClient Gateway { get; } = gateway;
    public UploadRecord[] Uploads { get; } = [.. Enumerable.Range(0, uploads).Select(k => new UploadRecord(k))];

    /// <summary>The numeric dataset id (Alphacast, presigned, blocks).</summary>
    public long Id { get; set; }

    /// <summary>The name (blocks) or the UUID (seed-004) the door addresses the dataset by.</summary>
    public string Name { get; set; } = "";

    public List<string> Problems { get; } = [];

    /// <summary>Problems found beyond the ones listed (each dataset lists a few).</summary>
    public int MoreProblems { get; set; }

    public bool Acknowledged(int upload) => Uploads[upload].Acknowledged is not null;

    public void Problem(string message)
    {
        lock (Problems)
        {
            if (Problems.Count < 5) Problems.Add(message);
            else MoreProblems++;
        }
    }
}
