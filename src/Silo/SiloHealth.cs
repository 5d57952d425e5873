using System.Text.Json.Serialization;
using Dapper;
using Npgsql;
using Orleans.Runtime;

namespace DatasetPlatform.Silo;

/// <summary>
/// Probes of a silo process (on DP_HEALTH_PORT): live while the process answers; ready when PostgreSQL answers and this silo
/// is an active member of its cluster (so it takes grains and imports). Nothing else is served on that port.
/// </summary>
public static class SiloHealth
{
    public const string LivePath = "/health/live";
    public const string ReadyPath = "/health/ready";

    public sealed record Health(string Status, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Detail = null);

    public static IEndpointRouteBuilder MapSiloHealth(this IEndpointRouteBuilder app)
    {
        app.MapGet(LivePath, () => TypedResults.Ok(new Health("live")));
        app.MapGet(ReadyPath, Ready);
        return app;
    }

    private static async Task<IResult> Ready(NpgsqlDataSource dataSource, IClusterMembershipService membership, ILocalSiloDetails silo,
        CancellationToken cancellationToken)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress);
        if (status != SiloStatus.Active)
            return TypedResults.Json(new Health("not ready", $"This silo is {status} in its cluster, not Active."), statusCode: StatusCodes.Status503ServiceUnavailable);
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await connection.ExecuteScalarAsync<int>("SELECT 1");
        }
        catch (NpgsqlException e)
        {
            return TypedResults.Json(new Health("not ready", $"PostgreSQL is not reachable: {e.Message}"), statusCode: StatusCodes.Status503ServiceUnavailable);
        }
        return TypedResults.Ok(new Health("ready"));
    }
}
