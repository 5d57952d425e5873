using Npgsql;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// The real service binary behind real Kestrel (the in-memory test server enforces no data rates), on its own database,
/// with limits small enough that a test can saturate them: a 16-connection pool, 8 concurrent uploads, 2 concurrent
/// imports, 3 concurrent downloads, a minimum upload rate of 1 KB/s after 5 s, and 5 s of silence at most inside an upload.
/// </summary>
public sealed class TightLimitsService : IAsyncLifetime
{
    public const int PoolSize = 16;
    public const int MaxConcurrentUploads = 8;
    public const int MaxConcurrentImports = 2;
    public const int MaxConcurrentDownloads = 3;
    public const int MinBytesPerSecond = 1024;
    public static readonly TimeSpan RateGracePeriod = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan UploadIdle = TimeSpan.FromSeconds(5);

    private readonly string _dataDir = Directory.CreateTempSubdirectory("dp-limits-").FullName;
    private string _serverConnectionString = "";
    private string _databaseName = "";
    private ServiceProcess? _service;

    public int HttpPort { get; } = PlatformFixture.FreePort();
    public string ConnectionString { get; private set; } = "";
    public string AdminKey { get; private set; } = "";
    public string Output => _service?.Output ?? "";

    public async Task InitializeAsync()
    {
        _serverConnectionString = Environment.GetEnvironmentVariable("DP_TEST_POSTGRES")
            ?? throw new InvalidOperationException("DP_TEST_POSTGRES is not set: run the tests with ./test.sh, which starts PostgreSQL.");
        _databaseName = $"dp_limits_{DateTime.UtcNow:yyyyMMddHHmmss}_{Guid.NewGuid().ToString("N")[..8]}";
        await using (var connection = new NpgsqlConnection(_serverConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {_databaseName}", connection);
            await command.ExecuteNonQueryAsync();
        }
        ConnectionString = new NpgsqlConnectionStringBuilder(_serverConnectionString) { Database = _databaseName }.ConnectionString;
        _service = await ServiceProcess.StartAsync(HttpPort, new Dictionary<string, string>
        {
            // The pool size also in the connection string, so a build without DP_DB_POOL_SIZE runs with the same pool.
            ["DP_POSTGRES"] = new NpgsqlConnectionStringBuilder(ConnectionString) { MaxPoolSize = PoolSize }.ConnectionString,
            ["DP_DATA_DIR"] = _dataDir,
            ["DP_CLUSTER_ID"] = "limits-" + Guid.NewGuid().ToString("N")[..8],
            ["DP_SILO_PORT"] = PlatformFixture.FreePort().ToString(),
            ["DP_GATEWAY_PORT"] = PlatformFixture.FreePort().ToString(),
            ["DP_DB_POOL_SIZE"] = PoolSize.ToString(),
            ["DP_DB_UPLOAD_CONNECTIONS"] = "2",
            ["DP_MAX_CONCURRENT_UPLOADS"] = MaxConcurrentUploads.ToString(),
            ["DP_MAX_CONCURRENT_IMPORTS"] = MaxConcurrentImports.ToString(),
            ["DP_MAX_CONCURRENT_DOWNLOADS"] = MaxConcurrentDownloads.ToString(),
            ["DP_MIN_UPLOAD_RATE"] = MinBytesPerSecond.ToString(),
            ["DP_MIN_UPLOAD_RATE_GRACE_SECONDS"] = ((int)RateGracePeriod.TotalSeconds).ToString(),
            ["DP_UPLOAD_IDLE_SECONDS"] = ((int)UploadIdle.TotalSeconds).ToString(),
            ["Silo__PendingSweepSeconds"] = "1",
        });
        AdminKey = (await File.ReadAllTextAsync(Path.Combine(_dataDir, "bootstrap-key.txt"))).Trim();
    }

    public ApiClient Client(TimeSpan? timeout = null) =>
        new(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HttpPort}"), Timeout = timeout ?? TimeSpan.FromSeconds(100) }, AdminKey);

    public async Task<long> ScalarAsync(string sql, object? id = null)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        if (id is not null) command.Parameters.AddWithValue("id", id);
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }

    public async Task DisposeAsync()
    {
        _service?.Dispose();
        NpgsqlConnection.ClearAllPools();
        await using (var connection = new NpgsqlConnection(_serverConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_databaseName} WITH (FORCE)", connection);
            await command.ExecuteNonQueryAsync();
        }
        try { Directory.Delete(_dataDir, recursive: true); } catch (IOException) { }
    }
}
