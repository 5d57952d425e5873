using System.Text;
using Npgsql;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// A cluster as run.sh and the deploy files start it: silos (src/Silo) and gateways (src/Api, DP_MODE=gateway) as separate
/// processes on loopback ports, configured only through the documented environment variables, sharing one fresh database.
/// Tests kill and start its processes; disposing it kills whatever still runs.
/// </summary>
public sealed class TestClusterProcesses : IAsyncDisposable
{
    private readonly Dictionary<string, string> _shared;
    private readonly List<ServiceProcess> _silos = [];
    private readonly List<int> _siloPorts = [];
    private readonly List<ServiceProcess> _gateways = [];
    private readonly List<int> _gatewayHttpPorts = [];

    private TestClusterProcesses(string connectionString, string dataDir, string clusterId, IReadOnlyDictionary<string, string>? settings)
    {
        ConnectionString = connectionString;
        DataDir = dataDir;
        ClusterId = clusterId;
        _shared = new Dictionary<string, string>
        {
            ["DP_POSTGRES"] = connectionString,
            ["DP_DATA_DIR"] = dataDir,
            ["DP_STAGING_DIR"] = Path.Combine(dataDir, "staging"), // shared by every process, as run.sh --silos does
            ["DP_CLUSTER_ID"] = clusterId,
            ["DP_SERVICE_ID"] = "service-" + clusterId,
            ["DP_ADVERTISED_ADDRESS"] = "127.0.0.1",
            ["DP_IMPORT_WARMUP_ROWS"] = PlatformFixture.WarmupRows,
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) _shared[key] = value;
    }

    /// <summary>The service's own connection string to the cluster's database.</summary>
    public string ConnectionString { get; }
    public string DataDir { get; }
    public string ClusterId { get; }

    /// <summary>Every silo process started so far, in start order (killed ones included).</summary>
    public IReadOnlyList<ServiceProcess> Silos { get { lock (_silos) return [.. _silos]; } }

    /// <summary>The Orleans silo port of each of <see cref="Silos"/>, in the same order.</summary>
    public IReadOnlyList<int> SiloPorts { get { lock (_silos) return [.. _siloPorts]; } }

    /// <summary>Every gateway process started so far, in start order (killed ones included).</summary>
    public IReadOnlyList<ServiceProcess> Gateways { get { lock (_gateways) return [.. _gateways]; } }

    /// <summary>The HTTP ports of the gateways, in start order; a gateway restarted on a port keeps its index.</summary>
    public IReadOnlyList<int> GatewayHttpPorts { get { lock (_gateways) return [.. _gatewayHttpPorts]; } }

    /// <summary>
    /// Starts <paramref name="silos"/> silos and the first gateway at once (as run.sh does: the gateway is not ready until a silo
    /// is active), then the other gateways. <paramref name="settings"/> are extra environment variables for every process.
    /// </summary>
    public static async Task<TestClusterProcesses> StartAsync(PlatformFixture platform, int silos, int gateways,
        IReadOnlyDictionary<string, string>? settings = null)
    {
        var connectionString = await platform.CreateDatabaseAsync();
        var dataDir = Directory.CreateTempSubdirectory("dp-cluster-").FullName;
        var cluster = new TestClusterProcesses(connectionString, dataDir, "cluster-" + Guid.NewGuid().ToString("N")[..8], settings);
        try
        {
            var starting = Enumerable.Range(0, silos).Select(_ => cluster.StartSiloAsync()).ToList();
            if (gateways > 0) starting.Add(cluster.StartGatewayAsync());
            await Task.WhenAll(starting); // all of them end (started or killed) before a failure is thrown
            for (var i = 1; i < gateways; i++) await cluster.StartGatewayAsync();
            return cluster;
        }
        catch (Exception e)
        {
            var failure = cluster.WithOutputs(e);
            await cluster.DisposeAsync();
            throw failure;
        }
    }

    /// <summary>Starts one more silo on new ports; returns once it is an active member (its /health/ready).</summary>
    public async Task<ServiceProcess> StartSiloAsync()
    {
        var siloPort = PlatformFixture.FreePort();
        var silo = await ServiceProcess.StartSiloAsync(PlatformFixture.FreePort(), new Dictionary<string, string>(_shared)
        {
            ["DP_SILO_PORT"] = siloPort.ToString(),
            ["DP_GATEWAY_PORT"] = PlatformFixture.FreePort().ToString(),
        });
        lock (_silos)
        {
            _silos.Add(silo);
            _siloPorts.Add(siloPort);
        }
        return silo;
    }

    /// <summary>
    /// Starts a gateway: on a new port, or on <paramref name="httpPort"/> (a gateway restarted where its clients expect it).
    /// Returns once it is ready (it reaches an active silo).
    /// </summary>
    public async Task<ServiceProcess> StartGatewayAsync(int? httpPort = null)
    {
        var port = httpPort ?? PlatformFixture.FreePort();
        var gateway = await ServiceProcess.StartAsync(port, new Dictionary<string, string>(_shared) { ["DP_MODE"] = "gateway" });
        lock (_gateways)
        {
            _gateways.Add(gateway);
            if (!_gatewayHttpPorts.Contains(port)) _gatewayHttpPorts.Add(port);
        }
        return gateway;
    }

    /// <summary>The bootstrap admin key the first gateway minted.</summary>
    public string AdminKey => ServiceUnderTest.ReadBootstrapKey(DataDir);

    /// <summary>An Alphacast client of gateway <paramref name="gateway"/> (by start order) with the admin key.</summary>
    public ApiClient Client(int gateway = 0, TimeSpan? timeout = null) =>
        new(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{GatewayHttpPorts[gateway]}"), Timeout = timeout ?? TimeSpan.FromSeconds(60) }, AdminKey);

    /// <summary>The Orleans silo ports of the members the membership table lists as active, in port order.</summary>
    public async Task<IReadOnlyList<int>> ActiveSiloPortsAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var members = new NpgsqlCommand(
            "SELECT port FROM public.orleansmembershiptable WHERE deploymentid = @cluster AND status = 3 ORDER BY port", connection);
        members.Parameters.AddWithValue("cluster", ClusterId);
        var active = new List<int>();
        await using var reader = await members.ExecuteReaderAsync();
        while (await reader.ReadAsync()) active.Add(reader.GetInt32(0));
        return active;
    }

    /// <summary>
    /// Statements running right now whose text starts with <paramref name="prefix"/> (e.g. "COPY"), with the id of the process
    /// that runs them, read from the application_name ("datasetplatform/&lt;pid&gt;") every process sets.
    /// </summary>
    public async Task<IReadOnlyList<(int ProcessId, string Query)>> RunningStatementsAsync(string prefix)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            """
            SELECT application_name, query FROM pg_stat_activity
            WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid() AND query ILIKE @prefix || '%'
            """, connection);
        command.Parameters.AddWithValue("prefix", prefix);
        var running = new List<(int, string)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var name = reader.GetString(0);
            if (name.LastIndexOf('/') is var slash and >= 0 && int.TryParse(name[(slash + 1)..], out var processId))
                running.Add((processId, reader.GetString(1)));
        }
        return running;
    }

    /// <summary><paramref name="e"/> with the last output of every process appended, for a failure message that explains itself.</summary>
    public Exception WithOutputs(Exception e, int tailChars = 6000)
    {
        var text = new StringBuilder(e.Message).Append("\n--- the processes' last output ---");
        foreach (var (kind, process) in Silos.Select(s => ("silo", s)).Concat(Gateways.Select(g => ("gateway", g))))
        {
            var output = process.Output;
            text.Append($"\n--- {kind} {process.Id}{(process.HasExited ? " (exited)" : "")} ---\n").Append(output[^Math.Min(output.Length, tailChars)..]);
        }
        return new InvalidOperationException(text.ToString(), e);
    }

    public ValueTask DisposeAsync()
    {
        foreach (var process in Gateways.Concat(Silos)) process.Dispose();
        NpgsqlConnection.ClearAllPools();
        try { Directory.Delete(DataDir, recursive: true); }
        catch (IOException) { /* a file still in use: the temp directory stays */ }
        return ValueTask.CompletedTask;
    }
}
