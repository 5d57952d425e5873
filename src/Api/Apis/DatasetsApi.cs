using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using DatasetPlatform.Api.Auth;
using DatasetPlatform.Api.Hosting;
using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using DatasetPlatform.Api.Reference;

namespace DatasetPlatform.Api.Apis;

/// <summary>Alphacast datasets: create/list/get/delete, manifest, columns and date statistics.</summary>
public static class DatasetsApi
{
    public static IEndpointRouteBuilder MapDatasetsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/datasets").WithTags(ApiTags.Alphacast);
        group.MapPost("", Create).DisableAntiforgery().WithBody(RequestBodies.CreateDataset)
            .WithSummary("Creates a dataset in a repository (Write); mode blocks makes a Data8 input dataset")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound,
                StatusCodes.Status409Conflict, StatusCodes.Status503ServiceUnavailable);
        group.MapGet("", List).Paged().WithSummary("Lists the datasets this key can see, as a bare array")
            .ProducesProblems(StatusCodes.Status400BadRequest);
        group.MapGet("/{id:long}", Get).WithSummary("Gets a dataset, with total_datapoint_count").ProducesProblems(StatusCodes.Status404NotFound);
        group.MapDelete("/{id:long}", Delete).WithSummary("Deletes a dataset at once: a running import is ended, queued ones never run (repository Admins)")
            .ProducesProblems(StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/{id:long}/manifest", GetManifest).WithSummary("Gets the manifest and whether it is locked")
            .ProducesProblems(StatusCodes.Status404NotFound);
        group.MapPut("/{id:long}/manifest", PutManifest).DisableAntiforgery().WithBody(RequestBodies.Manifest)
            .WithQueryParameter("locked", "Locks (true) or unlocks (false) the manifest.", Microsoft.OpenApi.JsonSchemaType.Boolean)
            .WithSummary("Sets the manifest and/or locks it; applies after the uploads sent before it")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound,
                StatusCodes.Status409Conflict, StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/{id:long}/columns", GetColumns).WithSummary("The columns: stored ones once data exists, else the manifest's")
            .ProducesProblems(StatusCodes.Status404NotFound);
        group.MapPut("/{id:long}/columns/initializer", InitializeColumns).DisableAntiforgery().WithBody(RequestBodies.InitializeColumns)
            .WithSummary("Writes a manifest from a date column and entity columns (the SDK's initialize_columns)")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound,
                StatusCodes.Status409Conflict, StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/{id:long}/date-stats", GetDateStats).WithSummary("First and last date, rows and entities of the current version")
            .ProducesProblems(StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    public static async Task<Results<Created<DatasetResponse>, ProblemHttpResult>> Create(HttpRequest request, ClaimsPrincipal user, DatasetAccess access,
        DatasetStore datasets, IGrainFactory grains)
    {
        var caller = Caller.From(user);
        var fields = await RequestFields.ReadAsync(request);
        var name = fields.String("name")?.Trim();
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrEmpty(name)) errors["name"] = ["Required."];
        if (!long.TryParse(fields.String("repositoryId"), out var repositoryId)) errors["repositoryId"] = ["Required: the numeric id of a repository."];
        var mode = fields.String("mode")?.Trim().ToLowerInvariant() ?? "table";
        if (mode is not ("table" or "blocks")) errors["mode"] = ["table or blocks."];
        // A blocks dataset (Data8 input dataset) declares its columns up front.
        var blockColumns = mode == "blocks" ? BlocksApi.ParseColumns(fields, errors) : [];
        try { Manifest.Validate(blockColumns); }
        catch (ManifestException e) { errors["columns"] = [e.Message]; }
        if (errors.Count > 0) return Problems.BadRequest("The dataset request is incomplete: " + string.Join(", ", errors.Keys) + ".", errors);

        var (_, _, problem) = await access.ResolveRepositoryAsync(repositoryId, caller, RepositoryRole.Write);
        if (problem is not null) return problem;
        var schema = blockColumns.Count > 0 ? Manifest.ToJson(Manifest.Validate(blockColumns)) : null;
        var definition = new DatasetDefinition(repositoryId, name!, fields.String("description") ?? "", fields.String("sourceName"), fields.String("sourceUrl"),
            mode, caller.KeyId, schema, SchemaStrict: schema is not null);
        var id = await datasets.NextIdAsync();
        var outcome = await GrainCalls.CallAsync(() => grains.GetGrain<IDatasetGrain>(id).Create(definition), GrainCalls.ChangeTimeout);
        if (outcome.Outcome == DatasetChangeOutcome.NameTaken) return Problems.Conflict(new DatasetNameTakenException(name!).Message);
        if (Problems.ForChange(outcome.Outcome, name!) is { } refused) return refused;
        return TypedResults.Created($"/datasets/{id}", DatasetResponse.From((await datasets.GetAsync(id))!, RepositoryRole.Admin));
    }

    /// <summary>A bare array (the Alphacast SDK reads one), paged with ?limit&amp;offset; X-Total-Count and Link say what is left.</summary>
    public static async Task<Results<Ok<List<DatasetResponse>>, ProblemHttpResult>> List(HttpContext context, ClaimsPrincipal user, DatasetStore datasets,
        IOptions<PlatformOptions> options, long? repositoryId, string? search)
    {
        if (!ListPage.TryParse(context.Request, options.Value, out var page, out var problem)) return problem!;
        var caller = Caller.From(user);
        var (rows, total) = await datasets.ListVisibleAsync(caller.KeyId, caller.IsAdmin, repositoryId, page.Limit, page.Offset, search);
        page.WriteHeaders(context.Response, total);
        return TypedResults.Ok(rows.Select(r => DatasetResponse.From(r.Dataset, r.Role)).ToList());
    }

    public static async Task<Results<Ok<DatasetResponse>, ProblemHttpResult>> Get(long id, ClaimsPrincipal user, DatasetAccess access)
    {
        var (dataset, role, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        return problem ?? (Results<Ok<DatasetResponse>, ProblemHttpResult>)TypedResults.Ok(DatasetResponse.From(dataset!, role));
    }

    /// <summary>Deletes at once through the dataset's grain: a running import is ended, queued ones never run.</summary>
    public static async Task<Results<Ok<DatasetResponse>, ProblemHttpResult>> Delete(long id, ClaimsPrincipal user, DatasetAccess access, IGrainFactory grains)
    {
        var (dataset, role, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Admin);
        if (problem is not null) return problem;
        if (!await GrainCalls.CallAsync(() => grains.GetGrain<IDatasetGrain>(id).Delete(), GrainCalls.ChangeTimeout))
            return Problems.NotFound($"Dataset {id} does not exist or is not accessible to this key.");
        return TypedResults.Ok(DatasetResponse.From(dataset!, role));
    }

    public static async Task<Results<Ok<ManifestResponse>, ProblemHttpResult>> GetManifest(long id, ClaimsPrincipal user, DatasetAccess access)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;
        var manifest = dataset!.Manifest is null ? [] : Manifest.Parse(dataset.Manifest);
        return TypedResults.Ok(new ManifestResponse(id, manifest, dataset.ManifestLocked));
    }

    /// <summary>
    /// Sets the manifest (a JSON array, {manifest, locked}, or a form field `manifest`) and/or the lock flag
    /// (`locked`/`lock` in the body or query). A locked manifest can only be unlocked, not replaced.
    /// </summary>
    public static async Task<Results<Ok<ManifestResponse>, ProblemHttpResult>> PutManifest(long id, HttpRequest request, ClaimsPrincipal user,
        DatasetAccess access, DatasetStore datasets, IGrainFactory grains, CancellationToken cancellationToken)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Write);
        if (problem is not null) return problem;
        RequestFields fields;
        try { fields = await RequestFields.ReadAsync(request); }
        catch (JsonException e) { return Problems.BadRequest($"The body is not valid JSON: {e.Message}"); }

        bool? locked;
        try
        {
            locked = RequestFields.ParseBool(fields.String("locked") ?? fields.String("lock") ?? request.Query["locked"].FirstOrDefault() ?? request.Query["lock"].FirstOrDefault());
        }
        catch (FormatException) { return Problems.BadRequest("locked must be true or false."); }

        string? manifestText = fields.RawJson is { ValueKind: JsonValueKind.Array } array ? array.GetRawText()
            : fields.Json("manifest") is { } m ? (m.ValueKind == JsonValueKind.String ? m.GetString() : m.GetRawText())
            : fields.String("manifest");
        if (manifestText is null && locked is null) return Problems.BadRequest("Send a manifest, a locked flag, or both.");
        if (manifestText is not null)
        {
            if (dataset!.IsBlocks && dataset.CurrentVersion is not null)
                return Problems.Conflict("This block dataset already holds records; its columns can no longer change.");
            if (dataset.ManifestLocked && locked != false)
                return Problems.Conflict("The manifest is locked; unlock it (locked=false) before replacing it.");
            IReadOnlyList<ManifestEntry> manifest;
            try { manifest = Manifest.Parse(manifestText); }
            catch (ManifestException e) { return Problems.BadRequest(e.Message, new Dictionary<string, string[]> { ["manifest"] = [e.Message] }); }
            manifestText = Manifest.ToJson(manifest);
        }
        // Applied after the uploads sent before it (and checked again then: the dataset may have changed meanwhile).
        var change = new ManifestChange(manifestText, locked);
        var outcome = await GrainCalls.ChangeAsync(grains, id, grain => grain.ChangeManifest(change), cancellationToken);
        if (Problems.ForChange(outcome, id.ToString(CultureInfo.InvariantCulture)) is { } refused) return refused;
        var updated = await datasets.GetAsync(id);
        return TypedResults.Ok(new ManifestResponse(id, updated!.Manifest is null ? [] : Manifest.Parse(updated.Manifest), updated.ManifestLocked));
    }

    public static async Task<Results<Ok<ColumnsResponse>, ProblemHttpResult>> GetColumns(long id, ClaimsPrincipal user, DatasetAccess access)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;
        return TypedResults.Ok(ColumnsOf(dataset!));
    }

    /// <summary>Shortcut that writes a manifest from a date column, its format and the entity columns (SDK initialize_columns).</summary>
    public static async Task<Results<Ok<ColumnsResponse>, ProblemHttpResult>> InitializeColumns(long id, HttpRequest request, ClaimsPrincipal user,
        DatasetAccess access, DatasetStore datasets, IGrainFactory grains, CancellationToken cancellationToken)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Write);
        if (problem is not null) return problem;
        if (dataset!.ManifestLocked) return Problems.Forbidden("The manifest of this dataset is locked.");
        if (dataset.IsBlocks) return Problems.BadRequest("A block dataset has no date or entity key columns: blocks are ordered records.");
        var fields = await RequestFields.ReadAsync(request);
        var dateColumn = fields.String("dateColumnName")?.Trim();
        if (string.IsNullOrEmpty(dateColumn))
            return Problems.BadRequest("dateColumnName is required.", new Dictionary<string, string[]> { ["dateColumnName"] = ["Required."] });
        List<ManifestEntry> entries =
        [
            new() { SourceName = dateColumn, DataType = "Date", IsEntity = true, DateFormat = fields.String("dateFormat") },
            .. fields.Strings("entitiesColumnNames").Select(e => new ManifestEntry { SourceName = e, DataType = "String", IsEntity = true }),
        ];
        try { Manifest.Validate(entries); }
        catch (ManifestException e) { return Problems.BadRequest(e.Message); }
        var change = new ManifestChange(Manifest.ToJson(entries));
        var outcome = await GrainCalls.ChangeAsync(grains, id, grain => grain.ChangeManifest(change), cancellationToken);
        if (Problems.ForChange(outcome, id.ToString(CultureInfo.InvariantCulture)) is { } refused) return refused;
        return TypedResults.Ok(ColumnsOf((await datasets.GetAsync(id))!));
    }

    public static async Task<Results<Ok<DateStatsResponse>, ProblemHttpResult>> GetDateStats(long id, ClaimsPrincipal user, DatasetAccess access,
        NpgsqlDataSource dataSource, IOptions<ReadOptions> readOptions, CancellationToken cancellationToken)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;
        var stats = await DateStatsQuery.ReadAsync(dataSource, dataset!, readOptions.Value, cancellationToken);
        return TypedResults.Ok(new DateStatsResponse(stats.MinDate, stats.MaxDate, stats.Rows, stats.Entities));
    }

    /// <summary>Stored columns once data exists; before that, what the manifest declares.</summary>
    private static ColumnsResponse ColumnsOf(DatasetRow dataset)
    {
        // Block datasets have no key columns, whatever their types (a date column is a value).
        if (dataset.IsBlocks) return new ColumnsResponse([.. BlockRecords.ColumnsOf(dataset).Select(ColumnDefinition.From)]);
        var stored = StoredColumns.FromJson(dataset.Columns);
        if (stored.Count > 0) return new ColumnsResponse([.. stored.Select(ColumnDefinition.From)]);
        var manifest = dataset.Manifest is null ? [] : Manifest.Parse(dataset.Manifest);
        return new ColumnsResponse([.. manifest.Select(ColumnDefinition.From)]);
    }
}
