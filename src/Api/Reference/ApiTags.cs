namespace DatasetPlatform.Api.Reference;

/// <summary>
/// The reference's sections: one per client surface (API.md), plus keys and operations. Endpoints name theirs with
/// WithTags; <see cref="Descriptions"/> says in the document what each section is for.
/// </summary>
public static class ApiTags
{
    public const string Alphacast = "Alphacast";
    public const string Presigned = "V4 presigned uploads";
    public const string Blocks = "Data8 blocks";
    public const string Versioned = "Versioned datasets (seed 004)";
    public const string Keys = "Keys and operations";
    public const string Health = "Health";

    public static readonly IReadOnlyList<(string Name, string Description)> Descriptions =
    [
        (Alphacast, "Repositories, datasets with a manifest (one Date column, entity columns as the row key), multipart CSV/CSV.gz uploads "
            + "answered with a process, processes, and OData-style downloads. The official `alphacast` Python SDK works against these "
            + "routes unchanged; it sends the key with HTTP Basic, as user name."),
        (Presigned, "Ask for a signed, single-use, expiring upload URL, PUT the file (JSON lines or CSV) to it without credentials, "
            + "then poll the import. Also served under `/api/v1/data-collection`. Clients send `Authorization: Token <key>`."),
        (Blocks, "OAuth2 client credentials (`POST /connect/token`), input datasets addressed by name, numbered blocks of up to 1000 "
            + "records read back in block order. Clients send `Authorization: Bearer <access token or key>`."),
        (Versioned, "CSV (delimiter, encoding and header sniffed, types inferred) or Parquet uploads into immutable numbered versions, "
            + "statistics, quality, drift between versions, and lineage. JSON is snake_case. Clients send `Authorization: Bearer <key>`."),
        (Keys, "API keys (admin keys only), and the Prometheus metrics of the gateway (admin keys only)."),
        (Health, "Liveness and readiness probes; no credentials."),
    ];
}
