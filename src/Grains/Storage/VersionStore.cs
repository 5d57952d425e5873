using DatasetPlatform.Grains.Abstractions;
using Dapper;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

public sealed class VersionRow
{
    public Guid Id { get; init; }
    public long DatasetId { get; init; }
    public int Version { get; init; }
    public long RowCount { get; init; }
    public int ColumnCount { get; init; }
    public string Columns { get; init; } = "[]";
    public string? Description { get; init; }
    public long? ImportJobId { get; init; }
    public string? CreatedBy { get; init; }
    public string? CreatedByName { get; init; }
    public DateTime CreatedAt { get; init; }
    public string? Quality { get; init; }
    public string? Analysis { get; init; }
    public Guid? StagedFileId { get; init; }
    /// <summary>The lowest _vf of the version's rows (<see cref="DataTables.VisibleAt"/>): its own number for a seed-004 version.</summary>
    public int RowFloor { get; init; }
}

/// <summary>Dataset versions: immutable once written, except for the statistics cached on them.</summary>
public sealed class VersionStore(NpgsqlDataSource dataSource)
{
    private const string Select = """
        SELECT v.id, v.dataset_id, v.version, v.row_count, v.column_count, v.columns::text AS columns, v.description, v.import_job_id,
               v.created_by, k.name AS created_by_name, v.created_at, v.quality::text AS quality, v.analysis::text AS analysis,
               COALESCE(v.staged_file_id, j.staged_file_id) AS staged_file_id, v.row_floor
        FROM dp.dataset_versions v
        LEFT JOIN dp.api_keys k ON k.id = v.created_by
        LEFT JOIN dp.import_jobs j ON j.id = v.import_job_id
        """;

    public async Task<(IReadOnlyList<VersionRow> Items, long Total)> ListAsync(long datasetId, int limit, int offset)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var total = await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM dp.dataset_versions WHERE dataset_id = @datasetId", new { datasetId });
        var items = await connection.QueryAsync<VersionRow>($"{Select} WHERE v.dataset_id = @datasetId ORDER BY v.version LIMIT @limit OFFSET @offset",
            new { datasetId, limit, offset });
        return ([.. items], total);
    }

    public async Task<VersionRow?> GetAsync(long datasetId, int version)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleOrDefaultAsync<VersionRow>($"{Select} WHERE v.dataset_id = @datasetId AND v.version = @version", new { datasetId, version });
    }

    public async Task<VersionRow?> GetAsync(Guid id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleOrDefaultAsync<VersionRow>($"{Select} WHERE v.id = @id", new { id });
    }

    /// <summary>Keeps a computed report with a version of <paramref name="datasetId"/>; a version that is gone is left alone.</summary>
    public async Task SaveReportAsync(long datasetId, VersionReport report)
    {
        // The column comes from a fixed pair, never from the caller's text.
        var column = report.Kind == VersionReportKind.Quality ? "quality" : "analysis";
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync($"UPDATE dp.dataset_versions SET {column} = @json::jsonb WHERE id = @id AND dataset_id = @datasetId",
            new { id = report.VersionId, json = report.Json, datasetId });
    }
}
