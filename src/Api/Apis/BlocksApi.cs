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
using DatasetPlatform.Api.Reference;

namespace DatasetPlatform.Api.Apis;

public sealed record BlockDatasetResponse(long Id, string Name, IReadOnlyDictionary<string, string> Columns, bool Input, long RecordCount, bool Completed);

public sealed record BlockStoredResponse(long DatasetId, int BlockNumber, int RecordCount, long ImportId);

/// <summary>
/// Data8-style input datasets addressed by name: create, describe, complete, and upload numbered blocks of up to
/// 1000 records. A block goes through the dataset's import queue like every other upload, so it is ordered against
/// concurrent CSV imports; the PATCH answers once the block is stored.
/// </summary>
public static class BlocksApi
{
    private static readonly TimeSpan BlockWait = TimeSpan.FromSeconds(60);

    private const string RecordsNotKeys =
        "A block dataset holds ordered records, not keyed rows: no column is a key, whatever its type. A date column (type date) "
        + "is a value, stored as a date and read back as yyyy-MM-dd (null allowed); records may share a date, and blocks are never "
        + "checked for duplicates or merged with each other. Records read back in ascending block number, then submission order; "
        + "sending a block number again replaces the records of that block, and only those.";

    public static IEndpointRouteBuilder MapBlocksApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/Dataset").WithTags(ApiTags.Blocks);
        group.MapPost("", Create).DisableAntiforgery().WithBody(RequestBodies.CreateBlockDataset)
            .WithSummary("Creates a dataset from {name, columns: {column: type}, input}")
            .WithDescription(RecordsNotKeys)
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound,
                StatusCodes.Status409Conflict, StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/{name}", Get).WithSummary("Describes a dataset: columns, record count, completed").ProducesProblems(StatusCodes.Status404NotFound);
        group.MapPut("/{name}", Update).DisableAntiforgery().WithBody(RequestBodies.CompleteBlockDataset)
            .WithSummary("Completes an input dataset {completed: true}; it accepts no more blocks")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound,
                StatusCodes.Status503ServiceUnavailable);
        group.MapPatch("/{name}/data", UploadBlock).DisableAntiforgery().WithBody(RequestBodies.Block)
            .WithSummary("Uploads a block {blockNumber, records} of up to 1000 records; the same block number replaces that block")
            .WithDescription(RecordsNotKeys + " The call answers once the block is stored.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound,
                StatusCodes.Status413PayloadTooLarge, StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/{name}/data", Download).WithSummary("The records in ascending block number, then submission order").RequireDownloadSlot()
            .ProducesFile("The records as one JSON array of objects.", ["application/json"])
            .ProducesProblems(StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    public static async Task<Results<Created<BlockDatasetResponse>, ProblemHttpResult>> Create(HttpRequest request, ClaimsPrincipal user, KeyStore keys,
        DatasetStore datasets, DatasetAccess access, IGrainFactory grains)
    {
        var caller = Caller.From(user);
        var fields = await RequestFields.ReadAsync(request);
        var name = fields.String("name")?.Trim();
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrEmpty(name)) errors["name"] = ["Required."];
        bool input;
        try { input = RequestFields.ParseBool(fields.String("input")) ?? true; }
        catch (FormatException) { errors["input"] = ["true or false."]; input = true; }
        var entries = ParseColumns(fields, errors);
        try { Manifest.Validate(entries); }
        catch (ManifestException e) { errors["columns"] = [e.Message]; }
        if (errors.Count > 0) return Problems.BadRequest("The dataset definition is not valid.", errors);

        long repositoryId;
        if (long.TryParse(fields.String("repositoryId"), out var requested))
        {
            var (_, _, problem) = await access.ResolveRepositoryAsync(requested, caller, RepositoryRole.Write);
            if (problem is not null) return problem;
            repositoryId = requested;
        }
        else
        {
            repositoryId = await keys.HomeRepositoryAsync(caller.KeyId, caller.Name);
        }
        var definition = new DatasetDefinition(repositoryId, name!, "", null, null, input ? "blocks" : "table", caller.KeyId,
            Manifest.ToJson(Manifest.Validate(entries)), SchemaStrict: true);
        var id = await datasets.NextIdAsync();
        var outcome = await GrainCalls.CallAsync(() => grains.GetGrain<IDatasetGrain>(id).Create(definition), GrainCalls.ChangeTimeout);
        if (outcome.Outcome == DatasetChangeOutcome.NameTaken) return Problems.Conflict(new DatasetNameTakenException(name!).Message);
        if (Problems.ForChange(outcome.Outcome, name!) is { } refused) return refused;
        return TypedResults.Created($"/Dataset/{Uri.EscapeDataString(name!)}", await DescribeAsync((await datasets.GetAsync(id))!, datasets));
    }

    public static async Task<Results<Ok<BlockDatasetResponse>, ProblemHttpResult>> Get(string name, ClaimsPrincipal user, DatasetStore datasets)
    {
        var (dataset, problem) = await FindAsync(name, Caller.From(user), datasets, RepositoryRole.Read);
        return problem ?? (Results<Ok<BlockDatasetResponse>, ProblemHttpResult>)TypedResults.Ok(await DescribeAsync(dataset!, datasets));
    }

    /// <summary>PUT {completed: true} completes an input dataset; no more blocks are accepted after that.</summary>
    public static async Task<Results<Ok<BlockDatasetResponse>, ProblemHttpResult>> Update(string name, HttpRequest request, ClaimsPrincipal user,
        DatasetStore datasets, IGrainFactory grains, CancellationToken cancellationToken)
    {
        var (dataset, problem) = await FindAsync(name, Caller.From(user), datasets, RepositoryRole.Write);
        if (problem is not null) return problem;
        var fields = await RequestFields.ReadAsync(request);
        bool? completed;
        try { completed = RequestFields.ParseBool(fields.String("completed")); }
        catch (FormatException) { completed = null; }
        if (completed is null)
            return Problems.BadRequest("Send {\"completed\": true}.", new Dictionary<string, string[]> { ["completed"] = ["Must be true or false."] });
        if (dataset!.Completed && completed == false) return Problems.BadRequest("A completed dataset cannot be reopened.");
        // Applied after the blocks sent before it, which are still stored.
        var outcome = await GrainCalls.ChangeAsync(grains, dataset.Id, grain => grain.SetCompleted(completed.Value), cancellationToken);
        if (Problems.ForChange(outcome, $"'{name}'") is { } refused) return refused;
        return TypedResults.Ok(await DescribeAsync((await datasets.GetAsync(dataset.Id))!, datasets));
    }

    public static async Task<Results<Ok<BlockStoredResponse>, ProblemHttpResult>> UploadBlock(string name, HttpRequest request, ClaimsPrincipal user,
        DatasetStore datasets, JobStore jobs, IGrainFactory grains, ILoggerFactory loggers, IOptions<PlatformOptions> options, CancellationToken cancellationToken)
    {
        var caller = Caller.From(user);
        var (dataset, problem) = await FindAsync(name, caller, datasets, RepositoryRole.Write);
        if (problem is not null) return problem;
        if (!dataset!.IsBlocks) return Problems.BadRequest($"Dataset '{name}' is not an input dataset; blocks can only be uploaded to input datasets.");
        if (dataset.Completed) return Problems.BadRequest($"Dataset '{name}' has been completed; it accepts no more blocks.");

        var maxBytes = options.Value.MaxBlockBodyBytes;
        var columns = BlockRecords.ColumnsOf(dataset);
        using var body = await BlockBody.ReadAsync(request, maxBytes, BlockRecords.MaxJsonTokens(columns.Count), cancellationToken);
        if (body is null) return Problems.TooLarge($"A block body may be at most {maxBytes} bytes (MAX_BLOCK_BODY_BYTES); send fewer records per block.");
        if (body.TooManyValues)
            return Problems.BadRequest($"The block holds more JSON values than {BlockRecords.MaxRecords} records of {columns.Count} columns need.",
                new Dictionary<string, string[]> { ["records"] = ["Too many values: nested arrays or objects, or more fields than columns."] });
        if (body.Json is null) return Problems.BadRequest($"The body is not valid JSON: {body.JsonError}");
        var errors = new Dictionary<string, string[]>();
        var blockNumber = body.Field("blockNumber") is { ValueKind: JsonValueKind.Number } number && number.TryGetInt32(out var b) && b >= 0 ? b : (int?)null;
        if (blockNumber is null) errors["blockNumber"] = ["Required: a whole number of at least 0."];
        var records = body.Field("records");
        if (records is not { ValueKind: JsonValueKind.Array }) errors["records"] = ["Required: an array of records."];
        else if (records.Value.GetArrayLength() > BlockRecords.MaxRecords)
            errors["records"] = [$"At most {BlockRecords.MaxRecords} records per block; this block has {records.Value.GetArrayLength()}. Split it into more blocks."];
        else if (records.Value.GetArrayLength() == 0) errors["records"] = ["A block needs at least one record."];
        if (errors.Count > 0) return Problems.BadRequest("The block is not valid.", errors);

        using var validation = BlockRecords.Validate(columns, records!.Value, maxBytes);
        if (validation.TooLarge)
            return Problems.TooLarge($"The block's records take more than {maxBytes} bytes once stored (each value with its column name, MAX_BLOCK_BODY_BYTES); "
                + "send fewer records per block.");
        if (validation.ProblemCount > 0)
            return Problems.BadRequest(validation.ProblemCount > validation.Errors.Count
                ? $"{validation.ProblemCount} problem(s) in the block's records; the first {validation.Errors.Count} are listed."
                : $"{validation.ProblemCount} problem(s) in the block's records.", validation.Errors.ToDictionary());

        // Small by construction (bounded like the body), staged like any upload so the import reads it from PostgreSQL.
        using var staged = validation.OpenJsonLines();
        long jobId;
        await using (var session = await jobs.BeginUploadAsync(cancellationToken))
        {
            var file = await session.StageAsync(dataset.Id, $"block-{blockNumber}.jsonl", staged, maxBytes, cancellationToken);
            var job = await session.CommitJobAsync(new ImportRequest(dataset.Id, JobSources.Blocks, file.FileName, false, false, false, null, caller.KeyId,
                "jsonl", blockNumber), file, cancellationToken);
            jobId = job.Id;
        }
        // Staged: the body's and the records' buffers go back to the pool now, not after the wait below (up to a minute).
        validation.Dispose();
        body.Dispose();
        await Enqueue.NotifyAsync(grains, dataset.Id, jobId, loggers);

        var finished = await GrainCalls.WaitForJobAsync(grains, jobs, dataset.Id, jobId, BlockWait, loggers.CreateLogger(typeof(BlocksApi)), cancellationToken);
        if (finished is null) return Problems.NotFound($"Dataset '{name}' was deleted while the block was being stored.");
        if (finished.Status is JobStatus.Complete or JobStatus.Skipped)
            return TypedResults.Ok(new BlockStoredResponse(dataset.Id, blockNumber!.Value, validation.Records, jobId));
        if (JobStatus.IsTerminal(finished.Status)) return Problems.BadRequest($"The block was not stored: {finished.StatusDescription}");
        return Problems.Create(StatusCodes.Status503ServiceUnavailable, "Still queued", "block-pending",
            $"The block is accepted as import {jobId} but is still waiting behind earlier uploads; it will be stored in order.");
    }

    /// <summary>The records as a JSON array, in ascending block number, then submission order within each block.</summary>
    public static async Task<Results<EmptyHttpResult, ProblemHttpResult>> Download(string name, HttpContext context, ClaimsPrincipal user,
        DatasetStore datasets, RowReader rows)
    {
        var (dataset, problem) = await FindAsync(name, Caller.From(user), datasets, RepositoryRole.Read);
        if (problem is not null) return problem;
        var prepared = await rows.PrepareAsync(new RowQuery(dataset!, RowFormat.JsonArray), context.RequestAborted);
        return await StreamedDownload.RunAsync(context, cancellationToken =>
        {
            context.Response.ContentType = "application/json; charset=utf-8";
            return rows.CopyToAsync(prepared, context.Response.Body, cancellationToken);
        });
    }

    /// <summary>Columns given as {"name": "type"}; problems go into <paramref name="errors"/> under "columns.name".</summary>
    public static List<ManifestEntry> ParseColumns(RequestFields fields, Dictionary<string, string[]> errors)
    {
        var entries = new List<ManifestEntry>();
        if (fields.Json("columns") is { ValueKind: JsonValueKind.Object } columns)
        {
            foreach (var column in columns.EnumerateObject())
            {
                var type = column.Value.ValueKind == JsonValueKind.String ? column.Value.GetString() : null;
                if (DataTypes.Normalize(type) is null) errors[$"columns.{column.Name}"] = [$"Unknown type '{type}'. Use string, integer, decimal, boolean or date."];
                else entries.Add(new ManifestEntry { SourceName = column.Name, DataType = type! });
            }
        }
        if (entries.Count == 0 && !errors.Keys.Any(k => k.StartsWith("columns", StringComparison.Ordinal)))
            errors["columns"] = ["Give the columns as an object: {\"name\": \"type\"}."];
        return entries;
    }

    private static async Task<(DatasetRow? Dataset, ProblemHttpResult? Problem)> FindAsync(string name, Caller caller, DatasetStore datasets,
        RepositoryRole required)
    {
        var found = await datasets.FindByNameAsync(caller.KeyId, caller.IsAdmin, name);
        if (found is not { } pair) return (null, Problems.NotFound($"Dataset '{name}' does not exist or is not accessible to this key."));
        if (pair.Role < required) return (null, Problems.Forbidden($"This key has {pair.Role} permission on dataset '{name}'; {required} is required."));
        return (pair.Dataset, null);
    }

    private static async Task<BlockDatasetResponse> DescribeAsync(DatasetRow dataset, DatasetStore datasets)
    {
        var columns = BlockRecords.ColumnsOf(dataset).ToDictionary(c => c.SourceName, c => c.Dtype);
        return new BlockDatasetResponse(dataset.Id, dataset.Name, columns, dataset.IsBlocks, await datasets.CurrentRowCountAsync(dataset), dataset.Completed);
    }
}
