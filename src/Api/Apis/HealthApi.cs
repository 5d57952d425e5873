using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace DatasetPlatform.Api.Apis;

public static class HealthApi
{
    public sealed record Health(string Status);

    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/health").WithTags("Health").AllowAnonymous();
        group.MapGet("/live", () => TypedResults.Ok(new Health("live")));
        group.MapGet("/ready", Ready);
        return app;
    }

    public static async Task<Results<Ok<Health>, ProblemHttpResult>> Ready(NpgsqlDataSource dataSource, IGrainFactory grains)
    {
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await connection.ExecuteScalarAsync<int>("SELECT 1");
            return TypedResults.Ok(new Health("ready"));
        }
        catch (NpgsqlException e)
        {
            return Problems.Create(StatusCodes.Status503ServiceUnavailable, "Not ready", "not-ready", $"PostgreSQL is not reachable: {e.Message}");
        }
    }
}
