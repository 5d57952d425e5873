using System.Text.Json;
using System.Text.Json.Serialization;
using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;

namespace DatasetPlatform.Api.Apis;

// Wire shapes of the Alphacast surface (seeds 000/001). Property names follow Alphacast's JSON.

public sealed record RepositoryResponse(long Id, string Name, string Description, string Privacy, string Slug, string? Team, string Permission, DateTime CreatedAt)
{
    public static RepositoryResponse From(RepositoryRow row, RepositoryRole role) =>
        new(row.Id, row.Name, row.Description, row.Privacy, row.Slug, row.Team, role.ToString(), row.CreatedAt);
}

public sealed record DatasetResponse(
    long Id,
    string Name,
    long RepositoryId,
    string Description,
    string? SourceName,
    string? SourceUrl,
    string Permission,
    string Mode,
    bool ManifestLocked,
    int? CurrentVersion,
    [property: JsonPropertyName("total_datapoint_count")] long TotalDatapointCount,
    DateTime CreatedAt,
    DateTime UpdatedAt)
{
    public static DatasetResponse From(DatasetRow row, RepositoryRole role) => new(
        row.Id, row.Name, row.RepositoryId, row.Description, row.SourceName, row.SourceUrl, role.ToString(), row.Mode, row.ManifestLocked,
        row.CurrentVersion, row.TotalDatapointCount, row.CreatedAt, row.UpdatedAt);
}

public sealed record ProcessStats(long InsertedValues, long UpdatedValues, long DeletedValues, long ChangedValues, long TotalValues, string? MinDate, string? MaxDate);

public sealed record ProcessError(long Row, string? Column, string Message);

public sealed record ProcessProgress(long RowsRead, long BytesRead);

public sealed record ProcessResponse(
    long Id,
    long DatasetId,
    string Status,
    string? StatusDescription,
    bool DeleteMissingFromDB,
    bool OnConflictUpdateDB,
    bool AcceptNewColumns,
    DateTime CreatedAt,
    DateTime? ProcessedAt,
    ProcessStats Stats,
    IReadOnlyList<ProcessError> Errors,
    int? Version,
    ProcessProgress? Progress)
{
    /// <summary>The internal lifecycle in Alphacast's words (API.md).</summary>
    public static string AlphacastStatus(string status) => status switch
    {
        JobStatus.Queued or JobStatus.Uninitialised => "Requested",
        JobStatus.Processing => "Processing",
        JobStatus.Complete or JobStatus.Partial or JobStatus.Skipped => "Processed",
        _ => "Error",
    };

    public static ProcessResponse From(ImportJobRow job, ImportProgress? progress = null) => new(
        job.Id, job.DatasetId, AlphacastStatus(job.Status), job.StatusDescription,
        job.DeleteMissing, job.OnConflictUpdate, job.AcceptNewColumns, job.CreatedAt, job.ProcessedAt,
        new ProcessStats(job.ValuesInserted, job.ValuesUpdated, job.ValuesDeleted, job.ValuesInserted + job.ValuesUpdated + job.ValuesDeleted,
            job.ValuesTotal, job.MinDate, job.MaxDate),
        job.Errors is null ? [] : JsonSerializer.Deserialize<List<ProcessError>>(job.Errors, JsonSerializerOptions.Web) ?? [],
        job.VersionProduced,
        progress is { Running: true } ? new ProcessProgress(progress.RowsRead, progress.BytesRead) : null);
}

public sealed record ColumnDefinition(string SourceName, string DestinationName, string DataType, bool IsEntity, string? DateFormat, bool Ignore)
{
    public static ColumnDefinition From(StoredColumn c) => new(c.SourceName, c.Name, DataTypes.ToAlphacast(c.Dtype), c.IsKey, c.DateFormat, false);
    public static ColumnDefinition From(ManifestEntry e) =>
        new(e.SourceName, e.StoredName, DataTypes.ToAlphacast(e.Dtype), e.IsEntity || e.IsDate, e.DateFormat, e.Ignore);
}

public sealed record ColumnsResponse(IReadOnlyList<ColumnDefinition> ColumnDefinitions);

public sealed record ManifestResponse(long DatasetId, IReadOnlyList<ManifestEntry> Manifest, bool Locked);

public sealed record DateStatsResponse(string? MinDate, string? MaxDate, long Rows, long Entities);

public sealed record KeyResponse(string Id, string Name, bool IsAdmin, DateTime CreatedAt, DateTime? RevokedAt, string? Key = null);
