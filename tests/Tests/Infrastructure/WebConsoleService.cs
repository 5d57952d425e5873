using System.Net.Http.Headers;
using System.Text;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// The real service binary on a real HTTP port (a browser cannot reach the in-memory test server), with its own database,
/// for the web console's browser tests.
/// </summary>
public sealed class WebConsoleService : IAsyncLifetime
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("dp-console-").FullName;
    private TestDatabase? _database;
    private ServiceProcess? _service;

    public int HttpPort { get; } = PlatformFixture.FreePort();
    public string BaseUrl => $"http://127.0.0.1:{HttpPort}";
    public string AdminKey { get; private set; } = "";
    public string Output => _service?.Output ?? "";

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync("dp_console");
        _service = await ServiceProcess.StartAsync(HttpPort, new Dictionary<string, string>
        {
            ["DP_POSTGRES"] = _database.ConnectionString,
            ["DP_DATA_DIR"] = _dataDir,
            ["DP_CLUSTER_ID"] = "console-" + Guid.NewGuid().ToString("N")[..8],
            ["DP_SILO_PORT"] = PlatformFixture.FreePort().ToString(),
            ["DP_GATEWAY_PORT"] = PlatformFixture.FreePort().ToString(),
        });
        AdminKey = (await File.ReadAllTextAsync(Path.Combine(_dataDir, "bootstrap-key.txt"))).Trim();
    }

    /// <summary>An Alphacast-style client (Basic, key as user name) of this service.</summary>
    public ApiClient Client(string? key = null) => new(Http(), key ?? AdminKey);

    /// <summary>A client with no credentials, or with <paramref name="bearer"/> as the console sends it.</summary>
    public HttpClient Http(string? bearer = null)
    {
        var http = new HttpClient { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromSeconds(100) };
        if (bearer is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return http;
    }

    public async Task DisposeAsync()
    {
        _service?.Dispose();
        if (_database is not null) await _database.DisposeAsync();
        try { Directory.Delete(_dataDir, recursive: true); } catch (IOException) { }
    }

    /// <summary>A CSV file on disk for the browser's file input; deleted with the service's data directory.</summary>
    public string WriteFile(string name, string content)
    {
        var path = Path.Combine(_dataDir, "uploads", name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content, new UTF8Encoding(false));
        return path;
    }
}
