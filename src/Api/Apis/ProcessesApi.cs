using System.Security.Claims;
using DatasetPlatform.Api.Auth;
using DatasetPlatform.Api.Hosting;
using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using DatasetPlatform.Api.Reference;

namespace DatasetPlatform.Api.Apis;

/// <summary>Alphacast upload processes: the import jobs of a dataset, in Alphacast's words.</summary>
public static partial class ProcessesApi
{
    public static IEndpointRouteBuilder MapProcessesApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/datasets/{id:long}/processes").WithTags(ApiTags.Alphacast);
        group.MapGet("", List).Paged().WithSummary("The dataset's upload processes, oldest first, as a bare array")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        group.MapGet("/{processId:long}", Get).WithSummary("One process: Requested, Processing (with live progress), Processed or Error")
            .ProducesProblems(StatusCodes.Status404NotFound);
        return app;
    }

    /// <summary>The dataset's processes, oldest first, as a bare array paged with ?limit&amp;offset (X-Total-Count, Link).</summary>
    public static async Task<Results<Ok<List<ProcessResponse>>, ProblemHttpResult>> List(long id, HttpContext context, ClaimsPrincipal user, DatasetAccess access,
        JobStore jobs, IOptions<PlatformOptions> options)
    {
        var (_, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;
        if (!ListPage.TryParse(context.Request, options.Value, out var page, out problem)) return problem!;
        var (rows, total) = await jobs.ListAsync(id, page.Limit, page.Offset);
        page.WriteHeaders(context.Response, total);
        return TypedResults.Ok(rows.Select(j => ProcessResponse.From(j)).ToList());
    }

    public static async Task<Results<Ok<ProcessResponse>, ProblemHttpResult>> Get(long id, long processId, ClaimsPrincipal user, DatasetAccess access,
        JobStore jobs, IGrainFactory grains, ILoggerFactory loggers)
    {
        var (_, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;
        var job = await jobs.GetAsync(processId);
        if (job is null || job.DatasetId != id) return Problems.NotFound($"Process {processId} does not exist in dataset {id}.");
        // Rows and bytes done so far live in the running job grain, not in the catalog.
        ImportProgress? progress = null;
        if (job.Status == JobStatus.Processing)
        {
            // Optional: a job grain on a silo that just died must not hold the answer, which the catalog gives anyway.
            try { progress = await GrainCalls.CallAsync(() => grains.GetGrain<IImportJobGrain>(processId).GetProgress(), GrainCalls.ReadTimeout); }
            catch (ClusterUnavailableException) { }
            // Anything else the job grain throws (e.g. while its silo restarts) is no reason to fail a read of the catalog's row.
            catch (Exception e) when (e is not OperationCanceledException) { LogProgressUnavailable(loggers.CreateLogger(nameof(ProcessesApi)), e, processId); }
        }
        return TypedResults.Ok(ProcessResponse.From(job, progress));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Live progress of process {ProcessId} unavailable; answering from the catalog")]
    private static partial void LogProgressUnavailable(ILogger logger, Exception exception, long processId);
}
