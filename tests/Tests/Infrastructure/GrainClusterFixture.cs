using System.Diagnostics;
using System.Text;
using Dapper;
using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Hosting;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.TestingHost;

namespace DatasetPlatform.Tests.Infrastructure;

[CollectionDefinition(nameof(GrainClusterCollection))]
public sealed class GrainClusterCollection : ICollectionFixture<GrainClusterFixture>;

/// <summary>
/// Three in-process silos (Orleans TestingHost) configured as production configures one (<see cref="PlatformHosting.UsePlatformSilo"/>
/// and <see cref="PlatformHosting.AddPlatformStorage"/>): the real grains, grain state and reminders in PostgreSQL, on a fresh
/// test database with the schema. Clustering is ADO.NET as well, not the TestingHost's own: its membership table lives in
/// the primary silo, so killing that silo would take the cluster down with it, and any silo must be killable here; it also
/// means failure detection runs exactly as deployed. The test plays the gateway: it stages files and commits jobs through
/// the same stores the gateway uses, then signals the dataset grain.
/// </summary>
public sealed class GrainClusterFixture : IAsyncLifetime
{
    public const int SiloCount = 3;

    /// <summary>DP_IMPORT_MAX_CRASHES of the test cluster.</summary>
    public const int MaxCrashes = 3;

    public const string DateCountryManifest =
        """[{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Country","dataType":"String","isEntity":true}]""";

    private TestDatabase? _database;
    private NpgsqlDataSource? _dataSource;
    private string _keyId = "";

    public TestCluster Cluster { get; private set; } = null!;
    public IGrainFactory Grains => Cluster.GrainFactory;
    public string ConnectionString => _database!.ConnectionString;

    /// <summary>How long creating the database and deploying the cluster took (reported by the tests).</summary>
    public TimeSpan StartupTime { get; private set; }

    /// <summary>Of <see cref="StartupTime"/>, how long deploying the silos and the client took.</summary>
    public TimeSpan DeployTime { get; private set; }

    public JobStore Jobs { get; private set; } = null!;
    public DatasetStore Datasets { get; private set; } = null!;
    private RepositoryStore _repositories = null!;
    private RowReader _rows = null!;

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();
        _database = await TestDatabase.CreateAsync("dp_grains");
        var pools = new DatabasePoolOptions { MaxPoolSize = 10, UploadConnections = 2 };
        _dataSource = PlatformHosting.CreateDataSource(ConnectionString, pools.MaxPoolSize, "grain-tests");
        await SchemaBootstrapper.ApplyAsync(_dataSource);
        DefaultTypeMap.MatchNamesWithUnderscores = true;
        var staging = new StagingStore(_dataSource, pools);
        Jobs = new JobStore(_dataSource, staging, Microsoft.Extensions.Logging.Abstractions.NullLogger<JobStore>.Instance);
        Datasets = new DatasetStore(_dataSource);
        _repositories = new RepositoryStore(_dataSource);
        _rows = new RowReader(_dataSource, Options.Create(new ReadOptions()));
        _keyId = (await new KeyStore(_dataSource).CreateAsync("grain tests", isAdmin: true, createdBy: null)).Id;

        var builder = new TestClusterBuilder(SiloCount);
        builder.Options.ClusterId = "grains-" + Guid.NewGuid().ToString("N")[..8];
        builder.Options.ServiceId = builder.Options.ClusterId;
        builder.Options.UseTestClusterMembership = false;
        // As deployed: real TCP between silos and client, the default grain directory (the TestingHost would add the
        // experimental distributed one); no log files.
        builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
        builder.Options.SiloBuilderConfiguratorTypes.RemoveAll(type => type is not null && type.StartsWith("Orleans.TestingHost.ConfigureDistributedGrainDirectory,", StringComparison.Ordinal));
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureHostConfiguration(configuration => configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Platform:Postgres"] = ConnectionString,
            ["Silo:ClusterId"] = builder.Options.ClusterId,
            ["Silo:ServiceId"] = builder.Options.ServiceId,
            ["Import:MaxCrashes"] = MaxCrashes.ToString(),
            ["Import:WarmupRows"] = PlatformFixture.WarmupRows,
            // Transient errors are retried after 1 s each, not after the production backoff's growing waits.
            ["Import:MaxRetryDelaySeconds"] = "1",
            // As in PlatformFixture: a dataset whose grain went down with its silo is woken within a second.
            ["Silo:PendingSweepSeconds"] = "1",
            ["Silo:MaxConcurrentImports"] = "2",
            ["Database:MaxPoolSize"] = "16",
            ["Database:UploadConnections"] = "2",
            ["Database:OrleansPoolSize"] = "4",
        }));
        builder.AddSiloBuilderConfigurator<PlatformSiloConfigurator>();
        builder.AddClientBuilderConfigurator<PlatformClientConfigurator>();
        Cluster = builder.Build();
        var beforeDeploy = clock.Elapsed;
        await Cluster.DeployAsync();
        StartupTime = clock.Elapsed;
        DeployTime = StartupTime - beforeDeploy;
    }

    public async Task DisposeAsync()
    {
        if (Cluster is not null)
        {
            // Killed, not stopped: nothing of the cluster outlives the database, so a graceful hand-over would only cost time.
            foreach (var silo in Cluster.GetActiveSilos().ToList())
            {
                var database = DatabaseOf(silo);
                await Cluster.KillSiloAsync(silo);
                await database.DisposeAsync();
            }
            await Cluster.DisposeAsync();
        }
        if (_dataSource is not null) await _dataSource.DisposeAsync();
        if (_database is not null) await _database.DisposeAsync();
    }

    /// <summary>A new dataset in a new repository, as POST /datasets makes one (an id from the catalog, then its grain creates it).</summary>
    public async Task<long> NewDatasetAsync()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var repository = await _repositories.CreateAsync("repo " + suffix, "repo-" + suffix, "grain tests", "Private", null, _keyId);
        var id = await Datasets.NextIdAsync();
        var created = await Grains.GetGrain<IDatasetGrain>(id).Create(new DatasetDefinition(repository.Id, "ds " + suffix, "d", null, null, "table", _keyId));
        return created.Outcome == DatasetChangeOutcome.Applied ? id : throw new InvalidOperationException($"Creating the dataset: {created.Outcome}");
    }

    /// <summary>
    /// Stages <paramref name="csv"/> (read once, streamed in chunks) and commits its job, as the Alphacast upload does before
    /// its 201; the dataset grain is not told (see <see cref="UploadAsync"/>).
    /// </summary>
    public async Task<long> CommitUploadAsync(long datasetId, Stream csv, bool onConflictUpdate = true)
    {
        await using var session = await Jobs.BeginUploadAsync(CancellationToken.None);
        var staged = await session.StageAsync(datasetId, "data.csv", csv, long.MaxValue, CancellationToken.None);
        var job = await session.CommitJobAsync(new ImportRequest(datasetId, "multipart", staged.FileName, DeleteMissing: false,
            OnConflictUpdate: onConflictUpdate, AcceptNewColumns: false, ManifestJson: Manifest.ToJson(Manifest.Parse(DateCountryManifest)),
            CreatedBy: _keyId, Format: UploadFormats.FromFileName(staged.FileName).Format), staged, CancellationToken.None);
        return job.Id;
    }

    /// <summary>An upload as the gateway makes it: the job committed, then its dataset grain told.</summary>
    public async Task<long> UploadAsync(long datasetId, Stream csv, bool onConflictUpdate = true)
    {
        var jobId = await CommitUploadAsync(datasetId, csv, onConflictUpdate);
        await Grains.GetGrain<IDatasetGrain>(datasetId).NotifyEnqueued(jobId);
        return jobId;
    }

    /// <summary>A small CSV of Date,Country,Value rows.</summary>
    public static Stream Csv(params (string Date, string Country, string Value)[] rows) =>
        new MemoryStream(Encoding.UTF8.GetBytes("Date,Country,Value\n" + string.Concat(rows.Select(r => $"{r.Date},{r.Country},{r.Value}\n"))));

    /// <summary>Polls the catalog until every job is finished; fails the test at the deadline with the statuses seen.</summary>
    public async Task<IReadOnlyList<ImportJobRow>> WaitForJobsAsync(IReadOnlyList<long> jobIds, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var rows = new List<ImportJobRow>();
            foreach (var id in jobIds) rows.Add(await Jobs.GetAsync(id) ?? throw new InvalidOperationException($"Job {id} is gone."));
            if (rows.All(r => JobStatus.IsTerminal(r.Status))) return rows;
            Assert.True(DateTime.UtcNow < deadline,
                $"Jobs still unfinished after {timeout.TotalSeconds} s: {string.Join(", ", rows.Select(r => $"{r.Id}={r.Status}"))}");
            await Task.Delay(100);
        }
    }

    /// <summary>The dataset's current rows as CSV (header first), as GET /datasets/{id}/data streams them.</summary>
    public async Task<string> DownloadAsync(long datasetId, string? filter = null)
    {
        var dataset = await Datasets.GetAsync(datasetId) ?? throw new InvalidOperationException($"Dataset {datasetId} is gone.");
        var prepared = await _rows.PrepareAsync(new RowQuery(dataset, RowFormat.Csv, Filter: filter));
        using var output = new MemoryStream();
        await _rows.CopyToAsync(prepared, output, CancellationToken.None);
        return Encoding.UTF8.GetString(output.ToArray());
    }

    /// <summary>A connection to the test database as the service's role (to hold locks, watch pg_stat_activity).</summary>
    public async Task<NpgsqlConnection> OpenConnectionAsync()
    {
        var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>The silo an activation of <paramref name="grain"/> lives on, as the cluster's management grain reports it.</summary>
    public async Task<SiloHandle?> FindSiloHostingAsync(IAddressable grain)
    {
        var grainId = grain.GetGrainId();
        var statistics = await Grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        var host = statistics.FirstOrDefault(s => s.GrainId == grainId)?.SiloAddress;
        return host is null ? null : Cluster.GetSiloForAddress(host);
    }

    /// <summary>
    /// Kills <paramref name="silo"/> (<see cref="TestCluster.KillSiloAsync"/>) and then does to it what the death of its process
    /// would: its database sessions end (an import's open transaction rolls back) and it can open no more. An in-process
    /// silo's background work outlives its runtime otherwise, and a real crash leaves nothing running.
    /// </summary>
    public async Task KillSiloAsync(SiloHandle silo)
    {
        var database = DatabaseOf(silo);
        await Cluster.KillSiloAsync(silo);
        await database.DieAsync(_dataSource!);
    }

    /// <summary>Polls until the cluster's membership counts exactly <paramref name="count"/> active silos.</summary>
    public async Task WaitForActiveSilosAsync(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var management = Grains.GetGrain<IManagementGrain>(0);
        while (true)
        {
            int active;
            try { active = (await management.GetHosts(onlyActive: true)).Count; }
            catch (Exception) when (DateTime.UtcNow < deadline) { active = -1; } // the call landed on the dead silo's gateway
            if (active == count) return;
            Assert.True(DateTime.UtcNow < deadline, $"The cluster has {active} active silos, not {count}, after {timeout.TotalSeconds} s.");
            await Task.Delay(200);
        }
    }

    /// <summary>A service of one live silo (e.g. its grain storage).</summary>
    public IServiceProvider ServicesOfLiveSilo() => ((InProcessSiloHandle)Cluster.GetActiveSilos().First()).SiloHost.Services;

    private static SiloDatabase DatabaseOf(SiloHandle silo) => ((InProcessSiloHandle)silo).SiloHost.Services.GetRequiredService<SiloDatabase>();

    /// <summary>
    /// A silo configured as src/Silo/Program.cs configures one: its pools, the platform's stores and import services, and
    /// <see cref="PlatformHosting.UsePlatformSilo"/> (ADO.NET clustering, grain state, reminders, the pending-imports sweep).
    /// The TestingHost creates it by type, so everything it needs comes from the cluster's configuration.
    /// </summary>
    public sealed class PlatformSiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            var configuration = silo.Configuration;
            // Each silo's sessions carry its own name, so the one that dies can have its sessions ended as a process death would.
            // The cluster's ids as production reads them ("Silo" section); the TestingHost hands each silo its name and ports.
            var endpoints = configuration.GetSection("Silo").Get<SiloEndpointOptions>()!;
            endpoints.SiloPort = configuration.GetValue<int>("Orleans:Endpoints:SiloPort");
            endpoints.GatewayPort = configuration.GetValue<int>("Orleans:Endpoints:GatewayPort");
            var applicationName = $"{endpoints.ClusterId}/{configuration["Orleans:Name"]}";
            var connectionString = new NpgsqlConnectionStringBuilder(configuration["Platform:Postgres"]) { ApplicationName = applicationName }.ConnectionString;
            var pools = DatabasePoolOptions.From(configuration);
            pools.Validate(ImportGate.SlotsFrom(configuration));
            var dataSource = PlatformHosting.CreateDataSource(connectionString, pools.MaxPoolSize);
            var orleansDataSource = PlatformHosting.CreateDataSource(connectionString, pools.OrleansPoolSize);
            silo.Services.AddSingleton(new SiloDatabase(applicationName, dataSource, orleansDataSource));
            silo.Services.AddPlatformStorage(dataSource, pools, stagingDirectory: null); // uploads staged in PostgreSQL (the other store: PlatformFixture)
            silo.UsePlatformSilo(orleansDataSource, endpoints, embedded: true);
        }
    }

    /// <summary>The test's cluster client, configured as a gateway process configures its own.</summary>
    public sealed class PlatformClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(IConfiguration configuration, IClientBuilder client) =>
            client.UsePlatformClient(PlatformHosting.CreateDataSource(configuration["Platform:Postgres"]!, 4, "grain-tests-client"),
                configuration.GetSection("Silo").Get<SiloEndpointOptions>()!);
    }

    /// <summary>One silo's two pools (main and Orleans'), under one application name.</summary>
    public sealed class SiloDatabase(string applicationName, NpgsqlDataSource dataSource, NpgsqlDataSource orleansDataSource) : IAsyncDisposable
    {
        /// <summary>What the silo's process death would do to its database side: no new connections, every session ended.</summary>
        public async Task DieAsync(NpgsqlDataSource observer)
        {
            await DisposeAsync();
            await using var connection = await observer.OpenConnectionAsync();
            await connection.ExecuteAsync("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = @applicationName",
                new { applicationName });
        }

        public async ValueTask DisposeAsync()
        {
            await dataSource.DisposeAsync();
            await orleansDataSource.DisposeAsync();
        }
    }
}
