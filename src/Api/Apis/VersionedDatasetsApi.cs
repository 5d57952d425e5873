using System.Security.Claims;
using System.Text.Json;
using DatasetPlatform.Api.Auth;
using DatasetPlatform.Api.Hosting;
using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Analysis;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using DatasetPlatform.Api.Reference;

namespace DatasetPlatform.Api.Apis;

/// <summary>
/// Seed 004, versioned datasets: upload with type detection, list/search, detail with preview, columns, download,
/// versions, quality. Every version is a real import through the dataset's queue; the calls wait for it, as the
/// seed's API answers with the new version. JSON is snake_case, as in the seed.
/// </summary>
public static class VersionedDatasetsApi
{
    public static readonly JsonSerializerOptions SnakeCase = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    private static readonly TimeSpan ImportWait = TimeSpan.FromMinutes(10);
    private const int PreviewRows = 20;

    public static IEndpointRouteBuilder MapVersionedDatasetsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/datasets").WithTags(ApiTags.Versioned);
        group.MapPost("/upload", Upload).DisableAntiforgery().RequireUploadSlot().WithBody(RequestBodies.VersionedUpload)
            .WithSummary("Creates a dataset from a CSV or Parquet file and waits for its first version (types inferred over the whole file)")
            .Produces<UploadResponse>(StatusCodes.Status201Created)
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict,
                StatusCodes.Status422UnprocessableEntity, StatusCodes.Status503ServiceUnavailable);
        group.MapGet("", List).Paged(50, 500).WithSummary("Lists and searches the datasets this key can see")
            .Produces<ListResponse>().ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        group.MapGet("/{id}", Get).WithSummary("A dataset, its current version and a preview of its first 20 rows")
            .Produces<DetailResponse>().ProducesProblems(StatusCodes.Status404NotFound);
        group.MapDelete("/{id}", Delete).WithSummary("Deletes a dataset at once (repository Admins)")
            .Produces<DeletedResponse>().ProducesProblems(StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/{id}/columns", Columns).WithSummary("The current version's columns and their pandas dtypes")
            .Produces<ColumnsResponse>().ProducesProblems(StatusCodes.Status404NotFound);
        group.MapGet("/{id}/download", Download).RequireDownloadSlot().WithSummary("Downloads the latest (or ?version=n) version as CSV or XLSX")
            .ProducesFile("The rows, streamed.", ["text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"], "Content-Disposition")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/{id}/quality", GetQuality).WithSummary("The current version's quality report")
            .Produces<QualityResponse>().ProducesProblems(StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/{id}/versions", ListVersions).Paged(50, 100).WithSummary("The dataset's versions, newest first")
            .Produces<VersionsResponse>().ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        group.MapPost("/{id}/versions", UploadVersion).DisableAntiforgery().RequireUploadSlot().WithBody(RequestBodies.VersionUpload)
            .WithSummary("Uploads a new version and waits for it")
            .Produces<VersionCreated>(StatusCodes.Status201Created)
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict,
                StatusCodes.Status422UnprocessableEntity, StatusCodes.Status503ServiceUnavailable);
        app.MapGet("/api/dataset-versions/{versionId:guid}", GetVersion).WithTags(ApiTags.Versioned).WithSummary("One version, with its columns")
            .Produces<VersionDetail>().ProducesProblems(StatusCodes.Status404NotFound);
        return app;
    }

    public sealed record UploadResponse(string Id, string DatasetId, Guid DatasetVersionId, Guid? ArtifactId, JsonElement? Quality);
    public sealed record ListItem(string Id, string Name, string Description, string ProjectId, string ProjectName, Guid? DatasetVersionId, long Rows, int Columns, DateTime CreatedAt);
    public sealed record ListResponse(IReadOnlyList<ListItem> Items, long Total, int Limit, int Offset);
    public sealed record DatasetDetail(string Id, string Name, string Description, string ProjectId, long Rows, int Columns, Guid? DatasetVersionId,
        Guid? ArtifactId, int? Version, DateTime CreatedAt, DateTime UpdatedAt);
    public sealed record DetailResponse(DatasetDetail Dataset, JsonElement? Preview, string? PreviewError);
    public sealed record ColumnInfo(string Name, string Dtype);
    public sealed record ColumnsResponse(IReadOnlyList<ColumnInfo> Columns);
    public sealed record VersionItem(Guid Id, string DatasetId, int Version, long RowCount, int ColumnCount, string? Description, string? CreatedByName, DateTime CreatedAt);
    public sealed record VersionsResponse(IReadOnlyList<VersionItem> Items, long Total, int Limit, int Offset);
    public sealed record VersionCreated(Guid DatasetVersionId, int Version, long RowCount, int ColumnCount);
    public sealed record VersionDetail(Guid Id, string DatasetId, int Version, long RowCount, int ColumnCount, IReadOnlyList<ColumnInfo> Columns,
        string? Description, DateTime CreatedAt);
    public sealed record QualityResponse(JsonElement Quality);
    public sealed record DeletedResponse(bool Ok);

    public static async Task<Results<JsonHttpResult<UploadResponse>, ProblemHttpResult>> Upload(HttpRequest request, ClaimsPrincipal user,
        DatasetAccess access, JobStore jobs, DatasetStore datasets, VersionStore versions, IGrainFactory grains, ILoggerFactory loggers, IOptions<PlatformOptions> options,
        CancellationToken cancellationToken)
    {
        var caller = Caller.From(user);
        var max = options.Value.MaxUploadBytes;
        if (request.ContentLength > max + 1024 * 1024) return Problems.TooLarge($"The upload exceeds the limit of {max} bytes.");
        UploadLimit.Apply(request.HttpContext, max);
        await using var session = await jobs.BeginUploadAsync(cancellationToken);
        NewDataset? newDataset = null;
        MultipartUpload.Parts upload;
        try
        {
            upload = await MultipartUpload.ReadAsync(request, ["file"], async (fileName, body, fields) =>
            {
                if (Unsupported(fileName) is { } unsupported) throw new UploadRejectedException(unsupported);
                // The dataset is created with the job once the file is in: if anything fails (too large, bad request), nothing remains.
                newDataset = await CheckDatasetForUploadAsync(access, datasets, caller, fields);
                return await session.StageAsync(null, fileName, body, max, cancellationToken);
            }, cancellationToken);
        }
        catch (UploadRejectedException e) { return e.Problem; }
        if (upload.File is not { } staged || newDataset is null)
            return Problems.BadRequest("The upload has no file.", new Dictionary<string, string[]> { ["file"] = ["Required."] });

        DatasetRow dataset;
        ImportJobRow job;
        try
        {
            (dataset, job) = await session.CommitNewDatasetJobAsync(newDataset,
                created => VersionImport(created.Id, staged, upload.Fields.GetValueOrDefault("description"), caller), staged, cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            return Problems.Conflict($"A dataset named '{newDataset.Name}' already exists in this project.");
        }
        var outcome = await RunImportAsync(job, dataset.Id, jobs, grains, loggers, cancellationToken);
        if (outcome.Problem is not null)
        {
            // A first upload that cannot be read leaves no empty dataset behind (but one still processing is kept).
            if (outcome.Problem.StatusCode == StatusCodes.Status422UnprocessableEntity)
                await GrainCalls.CallAsync(() => grains.GetGrain<IDatasetGrain>(dataset.Id).Delete(), GrainCalls.ChangeTimeout);
            return outcome.Problem;
        }
        var version = await versions.GetAsync(dataset.Id, outcome.Job!.VersionProduced!.Value);
        return TypedResults.Json(new UploadResponse(dataset.Uid.ToString(), dataset.Uid.ToString(), version!.Id, version.StagedFileId, ParseJson(version.Quality)),
            SnakeCase, statusCode: StatusCodes.Status201Created);
    }

    public static async Task<Results<JsonHttpResult<ListResponse>, ProblemHttpResult>> List(HttpContext context, ClaimsPrincipal user, DatasetAccess access,
        DatasetStore datasets, string? project_id, string? search, string? sort_field, string? sort_direction)
    {
        var caller = Caller.From(user);
        // The seed's bounds: 50 by default, 1 to 500.
        if (!ListPage.TryParse(context.Request, 50, 500, out var page, out var pageProblem)) return pageProblem!;
        var (take, skip) = (page.Limit, page.Offset);
        var errors = new Dictionary<string, string[]>();
        var sortField = string.IsNullOrEmpty(sort_field) ? "created_at" : sort_field;
        if (!DatasetStore.IsSortField(sortField)) errors["sort_field"] = ["One of created_at, name, rows, columns, project_name."];
        var direction = string.IsNullOrEmpty(sort_direction) ? "desc" : sort_direction.ToLowerInvariant();
        if (direction is not ("asc" or "desc")) errors["sort_direction"] = ["asc or desc."];
        if (errors.Count > 0) return Problems.BadRequest(string.Join(" ", errors.Select(e => $"{e.Key}: {e.Value[0]}")), errors);
        long? repositoryId = null;
        if (!string.IsNullOrEmpty(project_id))
        {
            var (repository, _, problem) = await access.ResolveRepositoryAsync(project_id, caller, RepositoryRole.Read);
            if (problem is not null) return problem;
            repositoryId = repository!.Id;
        }
        var (items, total) = await datasets.SearchAsync(caller.KeyId, caller.IsAdmin, repositoryId, search, sortField, direction == "desc", take, skip);
        page.WriteHeaders(context.Response, total);
        return TypedResults.Json(new ListResponse(
            [.. items.Select(i => new ListItem(i.Uid.ToString(), i.Name, i.Description, i.ProjectId.ToString(), i.ProjectName, i.DatasetVersionId, i.Rows, i.Columns, i.CreatedAt))],
            total, take, skip), SnakeCase);
    }

    public static async Task<Results<JsonHttpResult<DetailResponse>, ProblemHttpResult>> Get(string id, ClaimsPrincipal user, DatasetAccess access,
        VersionStore versions, RepositoryStore repositories, RowReader rows, CancellationToken cancellationToken)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;
        var current = dataset!.CurrentVersion is { } v ? await versions.GetAsync(dataset.Id, v) : null;
        JsonElement? preview = null;
        string? previewError = null;
        try
        {
            using var buffer = new MemoryStream();
            await rows.CopyToAsync(await rows.PrepareAsync(new RowQuery(dataset, RowFormat.JsonArray, Top: PreviewRows), cancellationToken), buffer, cancellationToken);
            preview = JsonDocument.Parse(buffer.ToArray()).RootElement.Clone();
        }
        catch (Exception e) when (e is NpgsqlException or JsonException or RowQueryException)
        {
            previewError = e.Message;
        }
        var project = await repositories.GetAsync(dataset.RepositoryId, "", isAdmin: true);
        return TypedResults.Json(new DetailResponse(Detail(dataset, current, project?.Repository), preview, previewError), SnakeCase);
    }

    /// <summary>Deletes at once through the dataset's grain: a running import is ended, queued ones never run.</summary>
    public static async Task<Results<JsonHttpResult<DeletedResponse>, ProblemHttpResult>> Delete(string id, ClaimsPrincipal user, DatasetAccess access,
        IGrainFactory grains)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Admin);
        if (problem is not null) return problem;
        if (!await GrainCalls.CallAsync(() => grains.GetGrain<IDatasetGrain>(dataset!.Id).Delete(), GrainCalls.ChangeTimeout))
            return Problems.NotFound($"Dataset {id} does not exist or is not accessible to this key.");
        return TypedResults.Json(new DeletedResponse(true), SnakeCase);
    }

    public static async Task<Results<JsonHttpResult<ColumnsResponse>, ProblemHttpResult>> Columns(string id, ClaimsPrincipal user, DatasetAccess access)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;
        return TypedResults.Json(new ColumnsResponse(ColumnInfos(dataset!.Columns)), SnakeCase);
    }

    /// <summary>CSV of the latest (or ?version=n) version, streamed whatever its size.</summary>
    public static async Task<Results<EmptyHttpResult, ProblemHttpResult>> Download(string id, HttpContext context, ClaimsPrincipal user, DatasetAccess access,
        RowReader rows, IOptions<PlatformOptions> options, string? format, string? version)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;
        var xlsx = false;
        switch (format?.ToLowerInvariant())
        {
            case null or "" or "csv": break;
            case "xlsx": xlsx = true; break;
            default: return Problems.BadRequest($"Unknown format '{format}'. Use csv or xlsx.");
        }
        int? at = null;
        if (!string.IsNullOrEmpty(version))
        {
            if (!int.TryParse(version, out var n) || n < 0) return Problems.BadRequest("version must be a version number (0, 1, ...).");
            at = n;
        }
        PreparedRowQuery prepared;
        var query = new RowQuery(dataset!, xlsx ? RowFormat.Xlsx : RowFormat.Csv, Version: at);
        try { prepared = await rows.PrepareAsync(query, context.RequestAborted); }
        catch (RowQueryException e) { return Problems.NotFound(e.Message); }
        var fileName = $"{SafeFileName(dataset!.Name)}{(at is null ? "" : $"-v{at}")}";
        if (xlsx) return await XlsxDownload.WriteAsync(context, rows, prepared, options.Value, fileName);
        return await StreamedDownload.RunAsync(context, cancellationToken =>
        {
            context.Response.ContentType = "text/csv; charset=utf-8";
            context.Response.Headers.ContentDisposition = $"attachment; filename=\"{fileName}.csv\"";
            return rows.CopyToAsync(prepared, context.Response.Body, cancellationToken);
        });
    }

    public static async Task<Results<JsonHttpResult<QualityResponse>, ProblemHttpResult>> GetQuality(string id, ClaimsPrincipal user, DatasetAccess access,
        VersionStore versions, NpgsqlDataSource dataSource, IOptions<ReadOptions> readOptions, IGrainFactory grains, ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;
        if (dataset!.CurrentVersion is not { } v) return Problems.NotFound("The dataset has no version yet.");
        var version = (await versions.GetAsync(dataset.Id, v))!;
        var quality = version.Quality;
        if (quality is null)
        {
            // Versions made by other surfaces (Alphacast, blocks) get their report the first time someone asks.
            await using var session = await ReadSession.OpenAsync(dataSource, readOptions.Value, cancellationToken);
            var report = await QualityReport.ComputeAsync(session.Connection, session.Transaction, dataset.TableName, v, version.RowFloor, StoredColumns.FromJson(version.Columns), null,
                cancellationToken, session.TimeoutSeconds + 30);
            quality = JsonSerializer.Serialize(report);
            await GrainCalls.KeepReportAsync(grains, dataset.Id, new VersionReport(version.Id, VersionReportKind.Quality, quality), loggers);
        }
        return TypedResults.Json(new QualityResponse(JsonDocument.Parse(quality).RootElement.Clone()), SnakeCase);
    }

    public static async Task<Results<JsonHttpResult<VersionsResponse>, ProblemHttpResult>> ListVersions(string id, HttpContext context, ClaimsPrincipal user,
        DatasetAccess access, VersionStore versions)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;
        // The seed's bounds: 50 by default, 1 to 100.
        if (!ListPage.TryParse(context.Request, 50, 100, out var page, out problem)) return problem!;
        var (take, skip) = (page.Limit, page.Offset);
        var (items, total) = await versions.ListAsync(dataset!.Id, take, skip);
        page.WriteHeaders(context.Response, total);
        return TypedResults.Json(new VersionsResponse(
            [.. items.Select(v => new VersionItem(v.Id, dataset.Uid.ToString(), v.Version, v.RowCount, v.ColumnCount, v.Description, v.CreatedByName, v.CreatedAt))],
            total, take, skip), SnakeCase);
    }

    public static async Task<Results<JsonHttpResult<VersionCreated>, ProblemHttpResult>> UploadVersion(string id, HttpRequest request, ClaimsPrincipal user,
        DatasetAccess access, JobStore jobs, VersionStore versions, IGrainFactory grains, ILoggerFactory loggers, IOptions<PlatformOptions> options, CancellationToken cancellationToken)
    {
        var caller = Caller.From(user);
        var (dataset, _, problem) = await access.ResolveAsync(id, caller, RepositoryRole.Write);
        if (problem is not null) return problem;
        if (dataset!.IsBlocks) return Problems.BadRequest($"Dataset {id} is a block (input) dataset; upload records with PATCH /Dataset/{{name}}/data.");
        var max = options.Value.MaxUploadBytes;
        if (request.ContentLength > max + 1024 * 1024) return Problems.TooLarge($"The upload exceeds the limit of {max} bytes.");
        UploadLimit.Apply(request.HttpContext, max);
        await using var session = await jobs.BeginUploadAsync(cancellationToken);
        MultipartUpload.Parts upload;
        try
        {
            upload = await MultipartUpload.ReadAsync(request, ["file"], (fileName, body, _) =>
                Unsupported(fileName) is { } unsupported
                    ? throw new UploadRejectedException(unsupported)
                    : session.StageAsync(dataset!.Id, fileName, body, max, cancellationToken), cancellationToken);
        }
        catch (UploadRejectedException e) { return e.Problem; }
        var staged = upload.File;
        var description = upload.Fields.GetValueOrDefault("description");
        var errors = new Dictionary<string, string[]>();
        if (staged is null) errors["file"] = ["Required."];
        if (string.IsNullOrWhiteSpace(description)) errors["description"] = ["Required: what changed in this version."];
        if (errors.Count > 0) return Problems.BadRequest("The version needs a description and a file.", errors);

        var job = await session.CommitJobAsync(VersionImport(dataset!.Id, staged!, description, caller), staged!, cancellationToken);
        var outcome = await RunImportAsync(job, dataset.Id, jobs, grains, loggers, cancellationToken);
        if (outcome.Problem is not null) return outcome.Problem;
        var version = (await versions.GetAsync(dataset.Id, outcome.Job!.VersionProduced!.Value))!;
        return TypedResults.Json(new VersionCreated(version.Id, version.Version, version.RowCount, version.ColumnCount), SnakeCase,
            statusCode: StatusCodes.Status201Created);
    }

    public static async Task<Results<JsonHttpResult<VersionDetail>, ProblemHttpResult>> GetVersion(Guid versionId, ClaimsPrincipal user, DatasetAccess access,
        VersionStore versions)
    {
        var version = await versions.GetAsync(versionId);
        if (version is null) return Problems.NotFound($"Dataset version {versionId} does not exist.");
        var (dataset, _, problem) = await access.ResolveAsync(version.DatasetId, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return Problems.NotFound($"Dataset version {versionId} does not exist.");
        return TypedResults.Json(new VersionDetail(version.Id, dataset!.Uid.ToString(), version.Version, version.RowCount, version.ColumnCount,
            ColumnInfos(version.Columns), version.Description, version.CreatedAt), SnakeCase);
    }

    /// <summary>
    /// Checks project_id and name (which must precede the file) before any byte of it is staged; the dataset itself is
    /// created with the upload's job (<see cref="UploadSession.CommitNewDatasetJobAsync"/>).
    /// </summary>
    private static async Task<NewDataset> CheckDatasetForUploadAsync(DatasetAccess access, DatasetStore datasets, Caller caller,
        IReadOnlyDictionary<string, string> fields)
    {
        var errors = new Dictionary<string, string[]>();
        if (!fields.TryGetValue("project_id", out var projectId) || projectId.Length == 0) errors["project_id"] = ["Required, before the file."];
        if (!fields.TryGetValue("name", out var name) || name.Trim().Length == 0) errors["name"] = ["Required, before the file."];
        if (errors.Count > 0) throw new UploadRejectedException(Problems.BadRequest("project_id and name must come before the file.", errors));
        var (repository, _, problem) = await access.ResolveRepositoryAsync(projectId!, caller, RepositoryRole.Write);
        if (problem is not null) throw new UploadRejectedException(problem);
        var dataset = new NewDataset(repository!.Id, name!.Trim(), fields.GetValueOrDefault("description") ?? "", caller.KeyId);
        if (await datasets.NameTakenAsync(dataset.RepositoryId, dataset.Name))
            throw new UploadRejectedException(Problems.Conflict($"A dataset named '{dataset.Name}' already exists in this project."));
        return dataset;
    }

    private static ImportRequest VersionImport(long datasetId, StagedFile staged, string? description, Caller caller) =>
        new(datasetId, JobSources.Version, staged.FileName, false, false, false, null, caller.KeyId, UploadFormats.FromFileName(staged.FileName).Format, Description: description);

    /// <summary>Enqueues the committed job and waits for it; a failed import is a 422 with its reason.</summary>
    private static async Task<(ImportJobRow? Job, ProblemHttpResult? Problem)> RunImportAsync(ImportJobRow job, long datasetId, JobStore jobs, IGrainFactory grains, ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        await Enqueue.NotifyAsync(grains, datasetId, job.Id, loggers);
        var finished = await GrainCalls.WaitForJobAsync(grains, jobs, datasetId, job.Id, ImportWait, loggers.CreateLogger(typeof(VersionedDatasetsApi)), cancellationToken);
        if (finished is null) return (null, Problems.NotFound("The dataset was deleted while the upload was processed."));
        if (finished.Status == JobStatus.Complete && finished.VersionProduced is not null) return (finished, null);
        if (!JobStatus.IsTerminal(finished.Status))
            return (null, Problems.Create(StatusCodes.Status503ServiceUnavailable, "Still processing", "still-processing",
                $"The upload is accepted as import {job.Id} and still processing; its version will appear in the versions list."));
        return (null, Problems.Create(StatusCodes.Status422UnprocessableEntity, "The file could not be imported", "import-failed",
            finished.StatusDescription ?? "The file could not be imported."));
    }

    private static ProblemHttpResult? Unsupported(string fileName) =>
        fileName.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) || fileName.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase)
            || fileName.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) || fileName.EndsWith(".txt", StringComparison.OrdinalIgnoreCase)
            || fileName.EndsWith(".tsv", StringComparison.OrdinalIgnoreCase) || !Path.HasExtension(fileName)
            ? null
            : Problems.BadRequest($"'{fileName}' is neither CSV nor Parquet; upload a .csv (optionally gzip-compressed) or .parquet file.");

    private static DatasetDetail Detail(DatasetRow dataset, VersionRow? current, RepositoryRow? project) => new(
        dataset.Uid.ToString(), dataset.Name, dataset.Description, project?.Uid.ToString() ?? "", current?.RowCount ?? 0, current?.ColumnCount ?? 0,
        current?.Id, current?.StagedFileId, current?.Version, dataset.CreatedAt, dataset.UpdatedAt);

    private static List<ColumnInfo> ColumnInfos(string? columnsJson) => [.. StoredColumns.FromJson(columnsJson).Select(c => new ColumnInfo(c.Name, c.Dtype))];

    private static JsonElement? ParseJson(string? json) => json is null ? null : JsonDocument.Parse(json).RootElement.Clone();

    private static string SafeFileName(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '_'));
}
