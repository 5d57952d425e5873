using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using Orleans.Runtime;
using DatasetPlatform.Api.Reference;

namespace DatasetPlatform.Api.Apis;

public static class HealthApi
{
    public sealed record Health(string Status);

    /// <summary>Longest a readiness probe waits for the cluster; a probe must answer well within its own timeout.</summary>
    private static readonly TimeSpan ClusterProbeTimeout = TimeSpan.FromSeconds(3);

    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/health").WithTags(ApiTags.Health).AllowAnonymous();
        group.MapGet("/live", () => TypedResults.Ok(new Health("live"))).WithSummary("Liveness: answers while the process does");
        group.MapGet("/ready", Ready).WithSummary("Readiness: PostgreSQL answers and an active silo of the cluster does (within 3 s)")
            .ProducesProblems(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    public static async Task<Results<Ok<Health>, ProblemHttpResult>> Ready(NpgsqlDataSource dataSource, IGrainFactory grains)
    {
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await connection.ExecuteScalarAsync<int>("SELECT 1");
        }
        catch (NpgsqlException e)
        {
            return Problems.Create(StatusCodes.Status503ServiceUnavailable, "Not ready", "not-ready", $"PostgreSQL is not reachable: {e.Message}");
        }
        // Part of the cluster: some silo answers (in a gateway: the cluster client is connected) and reports an active member.
        try
        {
            var hosts = await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(ClusterProbeTimeout);
            if (hosts.Count == 0)
                return Problems.Create(StatusCodes.Status503ServiceUnavailable, "Not ready", "not-ready", "The cluster has no active silo.");
        }
        catch (Exception e) when (e is OrleansException or TimeoutException or InvalidOperationException)
        {
            return Problems.Create(StatusCodes.Status503ServiceUnavailable, "Not ready", "not-ready", $"The cluster does not answer: {e.Message}");
        }
        return TypedResults.Ok(new Health("ready"));
    }
}
