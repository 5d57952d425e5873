using Npgsql;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// The real service binary behind real Kestrel (the in-memory test server enforces no data rates), on its own database,
/// with limits small enough that a test can saturate them: a 16-connection pool, 8 concurrent uploads, 2 concurrent
/// imports, 3 concurrent downloads, a minimum upload rate of 1 KB/s after 5 s, and 5 s of silence at most inside an upload.
/// </summary>
public sealed class TightLimitsService() : ServiceFixture("limits", Settings)
{
    public const int PoolSize = 16;
    public const int MaxConcurrentUploads = 8;
    public const int MaxConcurrentImports = 2;
    public const int MaxConcurrentDownloads = 3;
    public const int MinBytesPerSecond = 1024;
    public static readonly TimeSpan RateGracePeriod = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan UploadIdle = TimeSpan.FromSeconds(5);

    private static readonly Dictionary<string, string> Settings = new()
    {
        ["DP_STAGING_DIR"] = "", // staged in PostgreSQL: the tests count the chunks an upload left there
        ["DP_DB_POOL_SIZE"] = PoolSize.ToString(),
        ["DP_DB_UPLOAD_CONNECTIONS"] = "2",
        ["DP_MAX_CONCURRENT_UPLOADS"] = MaxConcurrentUploads.ToString(),
        ["DP_MAX_CONCURRENT_IMPORTS"] = MaxConcurrentImports.ToString(),
        ["DP_MAX_CONCURRENT_DOWNLOADS"] = MaxConcurrentDownloads.ToString(),
        ["DP_MIN_UPLOAD_RATE"] = MinBytesPerSecond.ToString(),
        ["DP_MIN_UPLOAD_RATE_GRACE_SECONDS"] = ((int)RateGracePeriod.TotalSeconds).ToString(),
        ["DP_UPLOAD_IDLE_SECONDS"] = ((int)UploadIdle.TotalSeconds).ToString(),
        ["Silo__PendingSweepSeconds"] = "1",
    };

    /// <summary>The service role's connection to the service's database (the catalog tables are its own).</summary>
    public string ConnectionString => Service.ConnectionString;

    public ApiClient Client(TimeSpan? timeout = null) => Service.Client(timeout: timeout);

    public async Task<long> ScalarAsync(string sql, object? id = null)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        if (id is not null) command.Parameters.AddWithValue("id", id);
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }
}
