using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using DatasetPlatform.Api.Auth;
using DatasetPlatform.Api.Hosting;
using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Analysis;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using DatasetPlatform.Api.Reference;

namespace DatasetPlatform.Api.Apis;

/// <summary>Seed 004 analysis: per-column statistics (cached per version), version comparison with drift, and lineage.</summary>
public static class DatasetInsightsApi
{
    public static IEndpointRouteBuilder MapDatasetInsightsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api").WithTags(ApiTags.Versioned);
        group.MapGet("/datasets/{id}/analyze", Analyze)
            .WithSummary("Per-column statistics of the current version (pandas conventions: percentiles, skew, histograms, top values, correlations)")
            .Produces<AnalyzeResponse>().ProducesProblems(StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/datasets/{id}/compare", Compare).WithSummary("Compares two versions: schema changes, row counts, drift (PSI) per column")
            .Produces<JsonObject>().ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/datasets/{id}/lineage", Lineage).Paged()
            .WithSummary("Experiments, models and deployments that used the dataset, and its upstream imports and files")
            .Produces<LineageResponse>().ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        group.MapPost("/experiments", CreateExperiment).DisableAntiforgery().WithBody(RequestBodies.Experiment)
            .WithSummary("Records an experiment that used a dataset version (lineage)")
            .Produces<ExperimentItem>(StatusCodes.Status201Created)
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound);
        group.MapPost("/models", CreateModel).DisableAntiforgery().WithBody(RequestBodies.Model)
            .WithSummary("Records a model trained in an experiment (lineage)")
            .Produces<ModelItem>(StatusCodes.Status201Created)
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound);
        group.MapPost("/deployments", CreateDeployment).DisableAntiforgery().WithBody(RequestBodies.Deployment)
            .WithSummary("Records a deployment of a model (lineage)")
            .Produces<DeploymentItem>(StatusCodes.Status201Created)
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound);
        return app;
    }

    public sealed record AnalyzeResponse(JsonNode? Statistics, string? Error);
    public sealed record ExperimentItem(Guid Id, string Name, string? TargetColumn, string? ProblemType, string Status, long ModelCount, Guid DatasetVersionId, int Version);
    public sealed record ModelItem(Guid Id, string Name, string? Algorithm, Guid ExperimentId);
    public sealed record DeploymentItem(Guid Id, string Name, Guid ModelId, string Stage, bool IsActive);
    public sealed record UpstreamItem(Guid DatasetVersionId, int Version, long? ImportId, string? Source, string? FileName, Guid? ArtifactId, long? ByteCount, DateTime CreatedAt);
    public sealed record LineageResponse(IReadOnlyList<ExperimentItem> Experiments, IReadOnlyList<ModelItem> Models, IReadOnlyList<DeploymentItem> Deployments,
        IReadOnlyList<UpstreamItem> Upstream);

    /// <summary>Statistics of the current version, or of ?version=n (an optional parameter beyond the seed, as on /download).</summary>
    public static async Task<Results<JsonHttpResult<AnalyzeResponse>, ProblemHttpResult>> Analyze(string id, ClaimsPrincipal user, DatasetAccess access,
        VersionStore versions, DatasetAnalyzer analyzer, IGrainFactory grains, ILoggerFactory loggers, string? version, CancellationToken cancellationToken)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;
        int? requested = null;
        if (!string.IsNullOrEmpty(version))
        {
            if (!int.TryParse(version, out var n) || n < 0)
                return Problems.BadRequest("version must be a version number (0, 1, ...).", new Dictionary<string, string[]> { ["version"] = ["A version number."] });
            requested = n;
        }
        if ((requested ?? dataset!.CurrentVersion) is not { } v) return Problems.NotFound("The dataset has no version yet.");
        if (await versions.GetAsync(dataset!.Id, v) is not { } analyzed) return Problems.NotFound($"Version {v} of this dataset does not exist.");
        if (analyzed.Analysis is { } cached)
            return TypedResults.Json(new AnalyzeResponse(JsonNode.Parse(cached), null), VersionedDatasetsApi.SnakeCase);
        // Versions never change, so their statistics are computed once and kept with them.
        var statistics = await analyzer.AnalyzeAsync(dataset, StoredColumns.FromJson(analyzed.Columns), v, analyzed.RowFloor, cancellationToken);
        await GrainCalls.KeepReportAsync(grains, dataset.Id, new VersionReport(analyzed.Id, VersionReportKind.Analysis, statistics.ToJsonString()), loggers);
        return TypedResults.Json(new AnalyzeResponse(statistics, null), VersionedDatasetsApi.SnakeCase);
    }

    public static async Task<Results<JsonHttpResult<JsonObject>, ProblemHttpResult>> Compare(string id, ClaimsPrincipal user, DatasetAccess access,
        VersionStore versions, VersionComparer comparer, string? v1, string? v2, CancellationToken cancellationToken)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;
        var errors = new Dictionary<string, string[]>();
        if (!int.TryParse(v1, out var first) || first < 0) errors["v1"] = ["Required: a version number."];
        if (!int.TryParse(v2, out var second) || second < 0) errors["v2"] = ["Required: a version number."];
        if (errors.Count > 0) return Problems.BadRequest("Give two version numbers: ?v1=0&v2=1.", errors);
        var a = await versions.GetAsync(dataset!.Id, first);
        var b = await versions.GetAsync(dataset.Id, second);
        if (a is null || b is null) return Problems.NotFound($"Version {(a is null ? first : second)} of this dataset does not exist.");
        return TypedResults.Json(await comparer.CompareAsync(dataset, a, b, cancellationToken), VersionedDatasetsApi.SnakeCase);
    }

    /// <summary>
    /// The lineage, with ?limit&amp;offset applied to each of its lists (the seed names no bounds, so the gateway's apply: one
    /// page holds a whole lineage unless it is very long); X-Total-Count is the length of the longest list, and Link points
    /// to the next page while any list has more.
    /// </summary>
    public static async Task<Results<JsonHttpResult<LineageResponse>, ProblemHttpResult>> Lineage(string id, HttpContext context, ClaimsPrincipal user,
        DatasetAccess access, LineageStore lineage, IOptions<PlatformOptions> options)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;
        if (!ListPage.TryParse(context.Request, options.Value, out var page, out problem)) return problem!;
        var trace = await lineage.TraceAsync(dataset!.Id, page.Limit, page.Offset);
        page.WriteHeaders(context.Response, trace.LongestTotal);
        return TypedResults.Json(new LineageResponse(
            [.. trace.Experiments.Select(ToItem)],
            [.. trace.Models.Select(ToItem)],
            [.. trace.Deployments.Select(ToItem)],
            [.. trace.Upstream.Select(u => new UpstreamItem(u.VersionId, u.Version, u.ImportId, u.Source, u.FileName, u.ArtifactId, u.ByteCount, u.CreatedAt))]),
            VersionedDatasetsApi.SnakeCase);
    }

    /// <summary>Records that an experiment used a dataset version (dataset_version_id, or dataset_id for its current version).</summary>
    public static async Task<Results<JsonHttpResult<ExperimentItem>, ProblemHttpResult>> CreateExperiment(HttpRequest request, ClaimsPrincipal user,
        DatasetAccess access, VersionStore versions, LineageStore lineage)
    {
        var caller = Caller.From(user);
        var fields = await RequestFields.ReadAsync(request);
        var name = fields.String("name")?.Trim();
        if (string.IsNullOrEmpty(name)) return Problems.BadRequest("An experiment needs a name.", new Dictionary<string, string[]> { ["name"] = ["Required."] });
        VersionRow? version = null;
        if (Guid.TryParse(fields.String("dataset_version_id"), out var versionId)) version = await versions.GetAsync(versionId);
        else if (fields.String("dataset_id") is { } datasetKey)
        {
            var (ds, _, found) = await access.ResolveAsync(datasetKey, caller, RepositoryRole.Read);
            if (found is not null) return found;
            if (ds!.CurrentVersion is { } current) version = await versions.GetAsync(ds.Id, current);
        }
        if (version is null) return Problems.BadRequest("Give the dataset_version_id (or a dataset_id with at least one version) the experiment used.");
        var (_, _, problem) = await access.ResolveAsync(version.DatasetId, caller, RepositoryRole.Write);
        if (problem is not null) return Hide(problem, "Dataset version not found.");
        var row = await lineage.CreateExperimentAsync(version.Id, name, fields.String("target_column"), fields.String("problem_type"),
            fields.String("status") ?? "created", caller.KeyId);
        return TypedResults.Json(ToItem(row), VersionedDatasetsApi.SnakeCase, statusCode: StatusCodes.Status201Created);
    }

    public static async Task<Results<JsonHttpResult<ModelItem>, ProblemHttpResult>> CreateModel(HttpRequest request, ClaimsPrincipal user,
        DatasetAccess access, LineageStore lineage)
    {
        var caller = Caller.From(user);
        var fields = await RequestFields.ReadAsync(request);
        var name = fields.String("name")?.Trim();
        if (string.IsNullOrEmpty(name) || !Guid.TryParse(fields.String("experiment_id"), out var experimentId))
            return Problems.BadRequest("A model needs a name and the experiment_id it came from.");
        var experiment = await lineage.GetExperimentAsync(experimentId);
        if (experiment is null) return Problems.NotFound($"Experiment {experimentId} does not exist.");
        var (_, _, problem) = await access.ResolveAsync(experiment.DatasetId, caller, RepositoryRole.Write);
        if (problem is not null) return Hide(problem, $"Experiment {experimentId} does not exist.");
        var row = await lineage.CreateModelAsync(experimentId, name, fields.String("algorithm"), caller.KeyId);
        return TypedResults.Json(ToItem(row), VersionedDatasetsApi.SnakeCase, statusCode: StatusCodes.Status201Created);
    }

    public static async Task<Results<JsonHttpResult<DeploymentItem>, ProblemHttpResult>> CreateDeployment(HttpRequest request, ClaimsPrincipal user,
        DatasetAccess access, LineageStore lineage)
    {
        var caller = Caller.From(user);
        var fields = await RequestFields.ReadAsync(request);
        var name = fields.String("name")?.Trim();
        if (string.IsNullOrEmpty(name) || !Guid.TryParse(fields.String("model_id"), out var modelId))
            return Problems.BadRequest("A deployment needs a name and the model_id it serves.");
        var model = await lineage.GetModelAsync(modelId);
        if (model is null) return Problems.NotFound($"Model {modelId} does not exist.");
        var (_, _, problem) = await access.ResolveAsync(model.DatasetId, caller, RepositoryRole.Write);
        if (problem is not null) return Hide(problem, $"Model {modelId} does not exist.");
        bool isActive;
        try { isActive = RequestFields.ParseBool(fields.String("is_active")) ?? true; }
        catch (FormatException) { return Problems.BadRequest("is_active must be true or false."); }
        var row = await lineage.CreateDeploymentAsync(modelId, name, fields.String("stage") ?? "staging", isActive, caller.KeyId);
        return TypedResults.Json(ToItem(row), VersionedDatasetsApi.SnakeCase, statusCode: StatusCodes.Status201Created);
    }

    /// <summary>A 404 about something the key cannot see reads like one about something that does not exist.</summary>
    private static ProblemHttpResult Hide(ProblemHttpResult problem, string detail) =>
        problem.StatusCode == StatusCodes.Status404NotFound ? Problems.NotFound(detail) : problem;

    private static ExperimentItem ToItem(ExperimentRow e) => new(e.Id, e.Name, e.TargetColumn, e.ProblemType, e.Status, e.ModelCount, e.DatasetVersionId, e.Version);
    private static ModelItem ToItem(ModelRow m) => new(m.Id, m.Name, m.Algorithm, m.ExperimentId);
    private static DeploymentItem ToItem(DeploymentRow d) => new(d.Id, d.Name, d.ModelId, d.Stage, d.IsActive);
}
