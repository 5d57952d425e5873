using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xunit;

namespace DatasetPlatform.Tests.Infrastructure;

[CollectionDefinition(nameof(PlatformCollection))]
public sealed class PlatformCollection : ICollectionFixture<PlatformFixture>;

/// <summary>
/// The whole service, for real: a fresh database on the PostgreSQL that ./test.sh started, the schema applied by
/// the app itself, and the gateway with its co-hosted Orleans silo (ADO.NET clustering, state and reminders).
/// As in production, the service connects as a role that owns its database and is no superuser; the server's
/// superuser (DP_TEST_POSTGRES) only creates that role and the databases, and drops them at the end.
/// Tests create their own repositories, datasets and keys, so they never depend on each other.
/// </summary>
public sealed class PlatformFixture : IAsyncLifetime
{
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "dp-tests-" + Guid.NewGuid().ToString("N"));
    private readonly string _clusterId = "test-" + Guid.NewGuid().ToString("N")[..12];
    private string _serverConnectionString = "";
    private string _databaseName = "";
    private string _serviceRole = "";
    private readonly string _servicePassword = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
    private PlatformApp? _app;
    private readonly List<string> _extraDatabases = [];

    /// <summary>The upload limit the test service runs with (MAX_DATASET_UPLOAD_BYTES), small so a 413 is cheap to provoke.</summary>
    public const long MaxUploadBytes = 16 * 1024 * 1024;

    /// <summary>The block body limit of the test service (MAX_BLOCK_BODY_BYTES), small so a 413 is cheap to provoke.</summary>
    public const long MaxBlockBodyBytes = 1024 * 1024;

    /// <summary>The XLSX row limit of the test service (MAX_XLSX_ROWS), small so the refusal is cheap to test.</summary>
    public const int MaxXlsxRows = 50;

    /// <summary>The XLSX cell limit of the test service (MAX_XLSX_CELLS): the widest dataset's few test rows fit, 200 x 30 does not.</summary>
    public const long MaxXlsxCells = 5000;

    /// <summary>Warnings and errors the service logged (every restart included).</summary>
    public LogSink Logs { get; } = new();

    /// <summary>Where the service stages uploaded files (DP_STAGING_DIR), as run.sh sets it.</summary>
    public string StagingDirectory => Path.Combine(_dataDir, "staging");

    /// <summary>Text limits of the test service (MAX_RECORD_CHARS, MAX_FIELD_CHARS), small so the bad-input corpus stays cheap.</summary>
    public const int MaxRecordChars = 1 << 20;
    public const int MaxFieldChars = 256 * 1024;

    /// <summary>Decompression limit of the test service (MAX_DECOMPRESSED_BYTES); the expansion ratio keeps its default (250).</summary>
    public const long MaxDecompressedBytes = 128L << 20;

    /// <summary>Live rows from which a merge indexes the live keys (DP_MERGE_KEY_INDEX_MIN_ROWS), small so tests reach the indexed merge.</summary>
    public const long MergeKeyIndexMinRows = 40;

    /// <summary>
    /// Upload bytes up to which a merge into a small keyed dataset runs in place (DP_MERGE_IN_PLACE_MAX_BYTES): most tests' uploads
    /// take that way, and InPlaceMergeTests makes the same rows bigger to take the staging table's.
    /// </summary>
    public const long MergeInPlaceMaxBytes = 2048;

    /// <summary>
    /// Rows up to which a load into a dataset's table goes in row by row (DP_COPY_ROW_AT_A_TIME_MAX_ROWS), small so the suite's
    /// uploads take both ways: the smallest row by row, most others counted first and then buffered (CopyRows).
    /// </summary>
    public const int CopyRowAtATimeMaxRows = 8;

    /// <summary>
    /// The services tests start warm their import path up with this many rows per pass (DP_IMPORT_WARMUP_ROWS): enough to run it
    /// (ImportWarmupTests checks it did without a failure), not the production default's seconds of CPU at every start of a
    /// suite that starts dozens of silos on two cores. run.sh's own tests keep the default.
    /// </summary>
    public const string WarmupRows = "2000";

    /// <summary>The service's own connection string (its non-superuser role), as given to it in DP_POSTGRES.</summary>
    public string ConnectionString { get; private set; } = "";
    public string AdminKey { get; private set; } = "";

    public async Task InitializeAsync()
    {
        _serverConnectionString = Environment.GetEnvironmentVariable("DP_TEST_POSTGRES")
            ?? throw new InvalidOperationException("DP_TEST_POSTGRES is not set: run the tests with ./test.sh, which starts PostgreSQL.");
        _databaseName = $"dp_test_{DateTime.UtcNow:yyyyMMddHHmmss}_{Guid.NewGuid().ToString("N")[..8]}";
        _serviceRole = _databaseName + "_svc";
        await AsSuperuserAsync(
            $"CREATE ROLE {_serviceRole} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '{_servicePassword}'",
            $"CREATE DATABASE {_databaseName} OWNER {_serviceRole}");
        ConnectionString = ServiceConnectionString(_databaseName);
        Directory.CreateDirectory(_dataDir);
        _app = StartApp();
        AdminKey = ServiceUnderTest.ReadBootstrapKey(_dataDir);
    }

    private int _extraDatabaseCount;

    /// <summary>A new empty database on the test server, for a test that runs its own service process.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        // A counter, not a random suffix: a suite creates dozens of these, and four random digits collided (42P04).
        var name = $"{_databaseName}_{Interlocked.Increment(ref _extraDatabaseCount)}";
        await AsSuperuserAsync($"CREATE DATABASE {name} OWNER {_serviceRole}");
        _extraDatabases.Add(name);
        return ServiceConnectionString(name);
    }

    /// <summary>The test database as the server's superuser: for tests that need what the service's role may not do (create roles).</summary>
    public string SuperuserConnectionString => new NpgsqlConnectionStringBuilder(_serverConnectionString) { Database = _databaseName }.ConnectionString;

    private string ServiceConnectionString(string database) => new NpgsqlConnectionStringBuilder(_serverConnectionString)
    {
        Database = database,
        Username = _serviceRole,
        Password = _servicePassword,
    }.ConnectionString;

    private async Task AsSuperuserAsync(params string[] statements)
    {
        await using var connection = new NpgsqlConnection(_serverConnectionString);
        await connection.OpenAsync();
        foreach (var statement in statements)
        {
            await using var command = new NpgsqlCommand(statement, connection);
            await command.ExecuteNonQueryAsync();
        }
    }

    /// <summary>An HTTP client for the gateway that sends <paramref name="key"/> the way the Alphacast SDK does (Basic, empty password).</summary>
    public ApiClient Client(string? key = null) => new(_app!.CreateClient(), key ?? AdminKey);

    public HttpClient RawClient() => _app!.CreateClient();

    /// <summary>A client that shows redirects instead of following them (a followed redirect drops the Authorization header).</summary>
    public HttpClient NoRedirectClient() => _app!.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

    /// <summary>The running service's dependency container (to read what the host resolved, e.g. its Orleans endpoints).</summary>
    public IServiceProvider Services => _app!.Services;

    /// <summary>Stops the service (silo and gateway) and starts a new one on the same database.</summary>
    public async Task RestartAsync()
    {
        await _app!.DisposeAsync();
        _app = StartApp();
    }

    private PlatformApp StartApp()
    {
        var app = new PlatformApp(Logs, new Dictionary<string, string>
        {
            ["DP_POSTGRES"] = ConnectionString,
            ["DP_DATA_DIR"] = _dataDir,
            ["DP_STAGING_DIR"] = StagingDirectory, // as run.sh does
            ["DP_DASHBOARD"] = "true", // OperationsTests and the authorization matrix cover it
            ["Staging:OrphanMinAgeSeconds"] = "0",
            ["MAX_DATASET_UPLOAD_BYTES"] = MaxUploadBytes.ToString(),
            ["MAX_XLSX_ROWS"] = MaxXlsxRows.ToString(),
            ["MAX_XLSX_CELLS"] = MaxXlsxCells.ToString(),
            ["MAX_BLOCK_BODY_BYTES"] = MaxBlockBodyBytes.ToString(),
            ["MAX_RECORD_CHARS"] = MaxRecordChars.ToString(),
            ["MAX_FIELD_CHARS"] = MaxFieldChars.ToString(),
            ["MAX_DECOMPRESSED_BYTES"] = MaxDecompressedBytes.ToString(),
            ["DP_MERGE_KEY_INDEX_MIN_ROWS"] = MergeKeyIndexMinRows.ToString(),
            ["DP_MERGE_IN_PLACE_MAX_BYTES"] = MergeInPlaceMaxBytes.ToString(),
            ["DP_COPY_ROW_AT_A_TIME_MAX_ROWS"] = CopyRowAtATimeMaxRows.ToString(),
            // The smallest segments, so that the tests' paired merges run in several (SegmentedCopy).
            ["DP_PAIRED_LOAD_SEGMENT_BYTES"] = "1024",
            ["DP_IMPORT_WARMUP_ROWS"] = WarmupRows,
            ["Silo:ClusterId"] = _clusterId,
            ["Silo:PendingSweepSeconds"] = "1",
            ["Silo:SiloPort"] = FreePort().ToString(),
            ["Silo:GatewayPort"] = FreePort().ToString(),
        });
        _ = app.Server; // start now, so the bootstrap key exists before the first test
        return app;
    }

    public async Task DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        await using (var connection = new NpgsqlConnection(_serverConnectionString))
        {
            await connection.OpenAsync();
            foreach (var database in _extraDatabases.Append(_databaseName))
            {
                await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {database} WITH (FORCE)", connection);
                await command.ExecuteNonQueryAsync();
            }
            await using var dropRole = new NpgsqlCommand($"DROP ROLE IF EXISTS {_serviceRole}", connection);
            await dropRole.ExecuteNonQueryAsync();
        }
        try { Directory.Delete(_dataDir, recursive: true); } catch (IOException) { }
    }

    /// <summary>A loopback port free now, for a process a test starts (<see cref="FreePortBlock"/>).</summary>
    public static int FreePort() => FreePortBlock(1);

    private static readonly HashSet<int> HandedOutPorts = [];

    /// <summary>
    /// The first of <paramref name="count"/> consecutive loopback ports that are free now, below the kernel's ephemeral range
    /// (32768-60999 here), and not handed out before in this run. The processes tests start bind them seconds later (run.sh
    /// minutes later, after its publish), and a port from the ephemeral range, as port 0 gives, may meanwhile become the local
    /// port of any outgoing connection: seen in CI, a silo's gateway port, and a service's HTTP port ("address already in use").
    /// </summary>
    public static int FreePortBlock(int count)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var first = Random.Shared.Next(20_000, 29_000);
            lock (HandedOutPorts)
            {
                if (Enumerable.Range(first, count).Any(HandedOutPorts.Contains)) continue;
                var listeners = new List<TcpListener>();
                try
                {
                    for (var port = first; port < first + count; port++)
                    {
                        var listener = new TcpListener(IPAddress.Loopback, port);
                        listener.Start();
                        listeners.Add(listener);
                    }
                    HandedOutPorts.UnionWith(Enumerable.Range(first, count));
                    return first;
                }
                catch (SocketException) { }
                finally
                {
                    foreach (var listener in listeners) listener.Stop();
                }
            }
        }
        throw new InvalidOperationException($"No {count} consecutive free ports found.");
    }

    private sealed class PlatformApp(LogSink logs, Dictionary<string, string> settings) : WebApplicationFactory<Program>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            foreach (var (key, value) in settings) builder.UseSetting(key, value);
            builder.ConfigureLogging(logging => logging.AddProvider(logs));
        }
    }
}
