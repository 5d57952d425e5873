using Dapper;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

public sealed class ExperimentRow
{
    public Guid Id { get; init; }
    public Guid DatasetVersionId { get; init; }
    public long DatasetId { get; init; }
    public int Version { get; init; }
    public string Name { get; init; } = "";
    public string? TargetColumn { get; init; }
    public string? ProblemType { get; init; }
    public string Status { get; init; } = "";
    public long ModelCount { get; init; }
    public DateTime CreatedAt { get; init; }
}

public sealed class ModelRow
{
    public Guid Id { get; init; }
    public Guid ExperimentId { get; init; }
    public long DatasetId { get; init; }
    public string Name { get; init; } = "";
    public string? Algorithm { get; init; }
    public DateTime CreatedAt { get; init; }
}

public sealed class DeploymentRow
{
    public Guid Id { get; init; }
    public Guid ModelId { get; init; }
    public long DatasetId { get; init; }
    public string Name { get; init; } = "";
    public string Stage { get; init; } = "";
    public bool IsActive { get; init; }
    public DateTime CreatedAt { get; init; }
}

/// <summary>Where a version came from (imports and files)...</summary>
public sealed class UpstreamRow
{
    public Guid VersionId { get; init; }
    public int Version { get; init; }
    public long? ImportId { get; init; }
    public string? Source { get; init; }
    public string? FileName { get; init; }
    public Guid? ArtifactId { get; init; }
    public long? ByteCount { get; init; }
    public DateTime CreatedAt { get; init; }
}

/// <summary>One page of a dataset's lineage; <see cref="LongestTotal"/> is the size of its longest list (what paging runs over).</summary>
public sealed record LineagePage(IReadOnlyList<ExperimentRow> Experiments, IReadOnlyList<ModelRow> Models, IReadOnlyList<DeploymentRow> Deployments,
    IReadOnlyList<UpstreamRow> Upstream, long LongestTotal);

/// <summary>...and where it went: experiments that used a version, models they produced, deployments serving those models.</summary>
public sealed class LineageStore(NpgsqlDataSource dataSource)
{
    private const string Experiments = """
        SELECT e.id, e.dataset_version_id, v.dataset_id, v.version, e.name, e.target_column, e.problem_type, e.status, e.created_at,
               (SELECT count(*) FROM dp.models m WHERE m.experiment_id = e.id) AS model_count
        FROM dp.experiments e JOIN dp.dataset_versions v ON v.id = e.dataset_version_id
        """;
    private const string Models = """
        SELECT m.id, m.experiment_id, v.dataset_id, m.name, m.algorithm, m.created_at
        FROM dp.models m JOIN dp.experiments e ON e.id = m.experiment_id JOIN dp.dataset_versions v ON v.id = e.dataset_version_id
        """;
    private const string Deployments = """
        SELECT d.id, d.model_id, v.dataset_id, d.name, d.stage, d.is_active, d.created_at
        FROM dp.deployments d JOIN dp.models m ON m.id = d.model_id JOIN dp.experiments e ON e.id = m.experiment_id
        JOIN dp.dataset_versions v ON v.id = e.dataset_version_id
        """;

    public async Task<ExperimentRow> CreateExperimentAsync(Guid versionId, string name, string? targetColumn, string? problemType, string status, string createdBy)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var id = await connection.ExecuteScalarAsync<Guid>(
            """
            INSERT INTO dp.experiments (dataset_version_id, name, target_column, problem_type, status, created_by)
            VALUES (@versionId, @name, @targetColumn, @problemType, @status, @createdBy) RETURNING id
            """, new { versionId, name, targetColumn, problemType, status, createdBy });
        return (await GetExperimentAsync(id))!;
    }

    public async Task<ModelRow> CreateModelAsync(Guid experimentId, string name, string? algorithm, string createdBy)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var id = await connection.ExecuteScalarAsync<Guid>(
            "INSERT INTO dp.models (experiment_id, name, algorithm, created_by) VALUES (@experimentId, @name, @algorithm, @createdBy) RETURNING id",
            new { experimentId, name, algorithm, createdBy });
        return (await connection.QuerySingleAsync<ModelRow>($"{Models} WHERE m.id = @id", new { id }));
    }

    public async Task<DeploymentRow> CreateDeploymentAsync(Guid modelId, string name, string stage, bool isActive, string createdBy)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var id = await connection.ExecuteScalarAsync<Guid>(
            "INSERT INTO dp.deployments (model_id, name, stage, is_active, created_by) VALUES (@modelId, @name, @stage, @isActive, @createdBy) RETURNING id",
            new { modelId, name, stage, isActive, createdBy });
        return await connection.QuerySingleAsync<DeploymentRow>($"{Deployments} WHERE d.id = @id", new { id });
    }

    public async Task<ExperimentRow?> GetExperimentAsync(Guid id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleOrDefaultAsync<ExperimentRow>($"{Experiments} WHERE e.id = @id", new { id });
    }

    public async Task<ModelRow?> GetModelAsync(Guid id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleOrDefaultAsync<ModelRow>($"{Models} WHERE m.id = @id", new { id });
    }

    /// <summary>
    /// The same page (limit, offset) of each of the four lists, each in a stable order, and each list's total, so a client
    /// that follows the pages until every list is exhausted sees every item exactly once.
    /// </summary>
    public async Task<LineagePage> TraceAsync(long datasetId, int limit, int offset)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var parameters = new { datasetId, limit, offset };
        const string Page = "LIMIT @limit OFFSET @offset";
        var experiments = await connection.QueryAsync<ExperimentRow>($"{Experiments} WHERE v.dataset_id = @datasetId ORDER BY e.created_at, e.id {Page}", parameters);
        var models = await connection.QueryAsync<ModelRow>($"{Models} WHERE v.dataset_id = @datasetId ORDER BY m.created_at, m.id {Page}", parameters);
        var deployments = await connection.QueryAsync<DeploymentRow>($"{Deployments} WHERE v.dataset_id = @datasetId ORDER BY d.created_at, d.id {Page}", parameters);
        var upstream = await connection.QueryAsync<UpstreamRow>(
            $"""
            SELECT v.id AS version_id, v.version, j.id AS import_id, j.source, j.file_name,
                   COALESCE(v.staged_file_id, j.staged_file_id) AS artifact_id, j.byte_count, v.created_at
            FROM dp.dataset_versions v LEFT JOIN dp.import_jobs j ON j.id = v.import_job_id
            WHERE v.dataset_id = @datasetId ORDER BY v.version {Page}
            """, parameters);
        var totals = await connection.QuerySingleAsync<(long, long, long, long)>(
            $"""
            SELECT (SELECT count(*) FROM ({Experiments} WHERE v.dataset_id = @datasetId) x),
                   (SELECT count(*) FROM ({Models} WHERE v.dataset_id = @datasetId) x),
                   (SELECT count(*) FROM ({Deployments} WHERE v.dataset_id = @datasetId) x),
                   (SELECT count(*) FROM dp.dataset_versions v WHERE v.dataset_id = @datasetId)
            """, parameters);
        return new LineagePage([.. experiments], [.. models], [.. deployments], [.. upstream], Math.Max(Math.Max(totals.Item1, totals.Item2), Math.Max(totals.Item3, totals.Item4)));
    }
}
