using System.Net.Http.Headers;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// The service binary (gateway with its embedded silo) as its own process on a free HTTP port, laid out as run.sh lays it
/// out: a working directory of its own with the data directory `.data` in it (where the bootstrap key is written) and
/// uploads staged as files in `.data/staging` (DP_STAGING_DIR, run.sh's default), its own Orleans ports and cluster id, and its own database (a fresh <see cref="TestDatabase"/>, owned by a role that is no
/// superuser, unless the test gives one). Everything a test needs to reach it as a user would: the URL and the admin key.
/// </summary>
public sealed class ServiceUnderTest : IAsyncDisposable
{
    private readonly Dictionary<string, string> _environment;
    private readonly TestDatabase? _ownDatabase;

    private ServiceUnderTest(string workDirectory, int httpPort, Dictionary<string, string> environment, TestDatabase? ownDatabase)
    {
        WorkDirectory = workDirectory;
        HttpPort = httpPort;
        _environment = environment;
        _ownDatabase = ownDatabase;
    }

    /// <summary>A directory of the test's own; the service's data directory is its `.data`, as with `./run.sh` run in it.</summary>
    public string WorkDirectory { get; }
    public string DataDir => Path.Combine(WorkDirectory, ".data");
    public int HttpPort { get; }
    public string Url => $"http://127.0.0.1:{HttpPort}";
    public string ConnectionString => _environment["DP_POSTGRES"];
    public string AdminKey { get; private set; } = "";
    public ServiceProcess Process { get; private set; } = null!;
    public string Output => Process.Output;

    /// <param name="name">Names the directory, the database and the cluster id (so a leftover says which test it was).</param>
    /// <param name="settings">Variables on top of the defaults (limits, modes); they win over the defaults (DP_STAGING_DIR "" stages in PostgreSQL).</param>
    /// <param name="connectionString">A database the caller made (and drops); none: a fresh TestDatabase, dropped on disposal.</param>
    public static async Task<ServiceUnderTest> StartAsync(string name, IReadOnlyDictionary<string, string>? settings = null, string? connectionString = null)
    {
        var workDirectory = Directory.CreateTempSubdirectory($"dp-{name}-").FullName;
        var database = connectionString is null ? await TestDatabase.CreateAsync($"dp_{name}") : null;
        var environment = new Dictionary<string, string>
        {
            ["DP_POSTGRES"] = connectionString ?? database!.ConnectionString,
            ["DP_DATA_DIR"] = Path.Combine(workDirectory, ".data"),
            ["DP_STAGING_DIR"] = Path.Combine(workDirectory, ".data", "staging"),
            ["DP_CLUSTER_ID"] = $"{name}-{Guid.NewGuid().ToString("N")[..8]}",
            ["DP_SILO_PORT"] = PlatformFixture.FreePort().ToString(),
            ["DP_GATEWAY_PORT"] = PlatformFixture.FreePort().ToString(),
            ["DP_IMPORT_WARMUP_ROWS"] = PlatformFixture.WarmupRows,
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) environment[key] = value;
        var service = new ServiceUnderTest(workDirectory, PlatformFixture.FreePort(), environment, database);
        try
        {
            await service.StartProcessAsync();
        }
        catch
        {
            await service.DisposeAsync();
            throw;
        }
        return service;
    }

    /// <summary>
    /// A new process on the same port, database, data directory and Orleans endpoint (after <see cref="ServiceProcess.Kill"/>,
    /// say), with <paramref name="changedSettings"/> if any.
    /// </summary>
    public Task RestartAsync(IReadOnlyDictionary<string, string>? changedSettings = null)
    {
        Process.Dispose();
        foreach (var (key, value) in changedSettings ?? new Dictionary<string, string>()) _environment[key] = value;
        return StartProcessAsync();
    }

    private async Task StartProcessAsync()
    {
        Process = await ServiceProcess.StartAsync(HttpPort, _environment);
        AdminKey = ReadBootstrapKey(DataDir);
    }

    /// <summary>The admin key the first gateway of a data directory minted and wrote there (as run.sh prints it).</summary>
    public static string ReadBootstrapKey(string dataDir) => File.ReadAllText(Path.Combine(dataDir, "bootstrap-key.txt")).Trim();

    /// <summary>An Alphacast-style client (Basic, key as user name), with the admin key unless another is given.</summary>
    public ApiClient Client(string? key = null, TimeSpan? timeout = null) => new(Http(timeout: timeout), key ?? AdminKey);

    /// <summary>A client with no credentials, or with <paramref name="bearer"/> as `Authorization: Bearer`.</summary>
    public HttpClient Http(string? bearer = null, TimeSpan? timeout = null)
    {
        var http = new HttpClient { BaseAddress = new Uri(Url), Timeout = timeout ?? TimeSpan.FromSeconds(100) };
        if (bearer is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return http;
    }

    public async ValueTask DisposeAsync()
    {
        Process?.Dispose();
        if (_ownDatabase is not null) await _ownDatabase.DisposeAsync();
        try { Directory.Delete(WorkDirectory, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// A <see cref="ServiceUnderTest"/> started once for a test class (xUnit class fixture); subclasses name it and give its settings.
/// </summary>
public abstract class ServiceFixture(string name, IReadOnlyDictionary<string, string>? settings = null) : IAsyncLifetime
{
    private ServiceUnderTest? _service;

    public ServiceUnderTest Service => _service ?? throw new InvalidOperationException("The service is not started yet.");
    public int HttpPort => Service.HttpPort;
    public string Url => Service.Url;
    public string AdminKey => Service.AdminKey;
    public string Output => _service?.Output ?? "";

    public async Task InitializeAsync() => _service = await ServiceUnderTest.StartAsync(name, settings);

    public async Task DisposeAsync()
    {
        if (_service is not null) await _service.DisposeAsync();
    }
}
