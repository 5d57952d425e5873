namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// The real service binary behind real Kestrel on its own database, for tests that drive it from another process (the
/// `dp` client cannot reach the in-memory test server). Started once for a test class.
/// </summary>
public sealed class CliService : IAsyncLifetime
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("dp-cli-").FullName;
    private TestDatabase? _database;
    private ServiceProcess? _service;

    public int HttpPort { get; } = PlatformFixture.FreePort();
    public string Url => $"http://127.0.0.1:{HttpPort}";
    public string AdminKey { get; private set; } = "";
    public string Output => _service?.Output ?? "";

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync("dp_cli");
        _service = await ServiceProcess.StartAsync(HttpPort, new Dictionary<string, string>
        {
            ["DP_POSTGRES"] = _database.ConnectionString,
            ["DP_DATA_DIR"] = _dataDir,
            ["DP_CLUSTER_ID"] = "cli-" + Guid.NewGuid().ToString("N")[..8],
            ["DP_SILO_PORT"] = PlatformFixture.FreePort().ToString(),
            ["DP_GATEWAY_PORT"] = PlatformFixture.FreePort().ToString(),
            ["Silo__PendingSweepSeconds"] = "1",
        });
        AdminKey = (await File.ReadAllTextAsync(Path.Combine(_dataDir, "bootstrap-key.txt"))).Trim();
    }

    public CliRunner Cli() => new(Url, AdminKey);

    public ApiClient Client() => new(new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(100) }, AdminKey);

    public async Task DisposeAsync()
    {
        _service?.Dispose();
        if (_database is not null) await _database.DisposeAsync();
        try { Directory.Delete(_dataDir, recursive: true); } catch (IOException) { }
    }
}
