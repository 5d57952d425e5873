namespace DatasetPlatform.Grains.Storage;

// Rows of the catalog tables, mapped by Dapper (snake_case columns -> PascalCase properties).

public sealed class ApiKeyRow
{
    public string Id { get; init; } = "";
    public byte[] SecretHash { get; init; } = [];
    public string Name { get; init; } = "";
    public bool IsAdmin { get; init; }
    public string? CreatedBy { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime? RevokedAt { get; init; }
    public long? HomeRepositoryId { get; init; }
}

public sealed class RepositoryRow
{
    public long Id { get; init; }
    public Guid Uid { get; init; }
    public string Name { get; init; } = "";
    public string Slug { get; init; } = "";
    public string Description { get; init; } = "";
    public string Privacy { get; init; } = "Private";
    public string? Team { get; init; }
    public string OwnerKeyId { get; init; } = "";
    public DateTime CreatedAt { get; init; }
}

public sealed class DatasetRow
{
    public long Id { get; init; }
    public Guid Uid { get; init; }
    public long RepositoryId { get; init; }
    public string Name { get; init; } = "";
    public string Description { get; init; } = "";
    public string? SourceName { get; init; }
    public string? SourceUrl { get; init; }
    public string Mode { get; init; } = "table";
    public string? Manifest { get; init; }
    public bool ManifestLocked { get; init; }
    public bool SchemaStrict { get; init; }
    public string? Columns { get; init; }
    public int? CurrentVersion { get; init; }
    public long TotalDatapointCount { get; init; }
    public bool Completed { get; init; }
    public string? CreatedBy { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime UpdatedAt { get; init; }

    /// <summary>The dataset's row table. Built from the numeric id only, never from user text.</summary>
    public string TableName => DataTables.QualifiedName(Id);

    public bool IsBlocks => Mode == "blocks";
}

public sealed class ImportJobRow
{
    public long Id { get; init; }
    public Guid Uid { get; init; }
    public long DatasetId { get; init; }
    public string Source { get; init; } = "";
    public string? Format { get; init; }
    public string? FileName { get; init; }
    public Guid? StagedFileId { get; init; }
    public byte[]? ContentSha256 { get; init; }
    public long ByteCount { get; init; }
    public bool DeleteMissing { get; init; }
    public bool OnConflictUpdate { get; init; }
    public bool AcceptNewColumns { get; init; }
    public string? Manifest { get; init; }
    public string Status { get; init; } = "";
    public string? StatusDescription { get; init; }
    public string? Reason { get; init; }
    public long RowsRead { get; init; }
    public long RowsInserted { get; init; }
    public long RowsUpdated { get; init; }
    public long RowsDeleted { get; init; }
    public long RowsRejected { get; init; }
    public long ValuesInserted { get; init; }
    public long ValuesUpdated { get; init; }
    public long ValuesDeleted { get; init; }
    public long ValuesTotal { get; init; }
    public string? MinDate { get; init; }
    public string? MaxDate { get; init; }
    public string? Errors { get; init; }
    public long ErrorCount { get; init; }
    public int? VersionProduced { get; init; }
    public int? BlockNumber { get; init; }
    public string? Description { get; init; }
    public DateTime? UploadExpiresAt { get; init; }
    public string? CreatedBy { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime? StartedAt { get; init; }
    public DateTime? ProcessedAt { get; init; }
    public DateTime UpdatedAt { get; init; }
    /// <summary>Runs that never came back (their silo died mid-import), counted by <see cref="JobStore.MarkProcessingAsync"/>.</summary>
    public int Crashes { get; init; }
}

/// <summary>Where an import came from; it decides the rules the import follows.</summary>
public static class JobSources
{
    /// <summary>Alphacast PUT /data: a Date column is required, any bad row fails the whole file.</summary>
    public const string Multipart = "multipart";
    /// <summary>V4 presigned upload: records may be rejected one by one (partial), the schema decides the columns.</summary>
    public const string Presigned = "presigned";
    /// <summary>Data8 block: replaces the rows of one block number.</summary>
    public const string Blocks = "blocks";
    /// <summary>Seed 004 version upload: the file is the whole new version, typed by inference over every value.</summary>
    public const string Version = "version";
}
