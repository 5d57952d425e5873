using Dapper;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Configuration;
using System.Net;
using Orleans.Dashboard;

namespace DatasetPlatform.Grains.Hosting;

/// <summary>Where a silo listens and which cluster it joins.</summary>
public sealed class SiloEndpointOptions
{
    public string ClusterId { get; set; } = "datasetplatform";
    public string ServiceId { get; set; } = "datasetplatform";
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;
    /// <summary>The address other silos and clients reach this silo on (a pod IP in Kubernetes). Cluster mode only.</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>
    /// Cluster mode only: listen on every interface instead of the advertised address alone (for NAT, where the
    /// advertised address is not one of this host's). The Orleans ports have no authentication: keep them on a private network.
    /// </summary>
    public bool ListenOnAllInterfaces { get; set; }
}

public static class PlatformHosting
{
    public const string GrainStorageName = "catalog";

    /// <summary>
    /// Whether the Orleans dashboard runs (DP_DASHBOARD, default off), in every silo and gateway of a cluster alike. Off by
    /// default because it costs each process ~30 MB (its 17 MB assembly mapped, its 13 MB of assets loaded on the heap at start,
    /// plus its history), a tenth of the service's memory budget; operators turn it on where they want it.
    /// </summary>
    public const string DashboardKey = "Platform:Dashboard";

    public static bool DashboardEnabled(IConfiguration configuration) => configuration.GetValue(DashboardKey, false);

    /// <summary>The directory of staged uploads (DP_STAGING_DIR); unset, they are staged in PostgreSQL.</summary>
    public const string StagingDirectoryKey = "Staging:Directory";

    /// <summary>
    /// How long a stopping silo host waits for Orleans to stop gracefully (HostOptions.ShutdownTimeout of src/Silo). Longer than
    /// Orleans' DeactivationTimeout (30 s), the bound on handing a running import back, so a slow hand-back is not cut short into
    /// a non-graceful stop; shorter than the silo pods' terminationGracePeriodSeconds (deploy/k8s), after which Kubernetes kills.
    /// </summary>
    public static readonly TimeSpan SiloShutdownTimeout = TimeSpan.FromSeconds(45);
    private const string Invariant = "Npgsql";

    /// <summary>Statements Npgsql keeps prepared per connection of the main pool (see <see cref="CreateDataSource"/>).</summary>
    public const int MainPoolAutoPrepared = 64;

    /// <summary>
    /// Builds a data source with a pool of at most <paramref name="maxPoolSize"/> connections. A process has two: the main
    /// one (catalog, staging, imports, reads) and a small one for Orleans, so membership heartbeats and reminders never
    /// queue behind uploads or imports (see <see cref="DatabasePoolOptions"/>).
    /// <paramref name="leavesNoSessionState"/>: the pool's users leave nothing in a session, so a connection going back to the pool
    /// is not reset (Npgsql's <c>DISCARD ALL</c>, No Reset On Close). Measured (bench/upload-cost.sh) it was one statement and one
    /// transaction per pool checkout, 11 of the 43 statements and 23 commits of a small upload. An open transaction is still
    /// rolled back when its connection goes back. True for the main pool only, whose code keeps this rule: settings through
    /// <c>SET LOCAL</c> / <c>set_config(..., true)</c>, temporary tables <c>ON COMMIT DROP</c>, transaction-level advisory locks
    /// (the schema bootstrap's session lock is released in a finally), no LISTEN, no prepared statements but Npgsql's own
    /// automatic ones, no held cursors (<c>ConnectionSessionStateTests</c> checks the pool's connections after imports through
    /// every door).
    /// </summary>
    public static NpgsqlDataSource CreateDataSource(string connectionString, int maxPoolSize, string applicationName = "datasetplatform",
        bool leavesNoSessionState = false)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = maxPoolSize };
        if (leavesNoSessionState) builder.NoResetOnClose = true;
        // The main pool's statements repeat (the same ~25 small ones per upload): Npgsql prepares each once it has run five times
        // on a connection, so PostgreSQL stops parsing and planning it again. Measured (bench/load.sh many-small after a warm-up,
        // two alternate rounds): PostgreSQL CPU per 1000 rows 7.6-7.8 ms instead of 8.8-8.9, 64.6-66.4 uploads/s instead of
        // 58.7-60.0. Npgsql keeps track of what it prepared on each connection, so no state leaks to the next user; a connection
        // string that sets Max Auto Prepare itself (0: off, e.g. behind a pooler in transaction mode) is left as it is.
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        if (leavesNoSessionState && !given.ContainsKey("Max Auto Prepare") && !given.ContainsKey("MaxAutoPrepare"))
            builder.MaxAutoPrepare = MainPoolAutoPrepared;
        // The process id in the name lets an operator (and the cluster tests) tell from pg_stat_activity which process of a
        // cluster runs a statement, e.g. which silo is loading an import right now.
        if (string.IsNullOrEmpty(builder.ApplicationName)) builder.ApplicationName = $"{applicationName}/{Environment.ProcessId}";
        // Detect a dead peer (e.g. a silo that vanished mid-import) on both sides, so its locks and transaction go away
        // in about a minute rather than the operating system's default two hours.
        if (builder.KeepAlive == 0) builder.KeepAlive = 30;
        if (string.IsNullOrEmpty(builder.Options))
            builder.Options = "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3";
        return new NpgsqlDataSourceBuilder(builder.ConnectionString).Build();
    }

    /// <summary>
    /// Registers the data source and the catalog, staging and import services; <paramref name="stagingDirectory"/> is
    /// DP_STAGING_DIR (<see cref="StagingDirectoryKey"/>), null or empty to stage uploads in PostgreSQL.
    /// </summary>
    public static IServiceCollection AddPlatformStorage(this IServiceCollection services, NpgsqlDataSource dataSource, DatabasePoolOptions pools,
        string? stagingDirectory)
    {
        DefaultTypeMap.MatchNamesWithUnderscores = true;
        services.AddSingleton(dataSource);
        services.AddSingleton(pools);
        services.AddSingleton<ImportGate>();
        services.AddSingleton<KeyStore>();
        services.AddSingleton<RepositoryStore>();
        services.AddSingleton<DatasetStore>();
        services.AddSingleton<StagingStore>();
        // A staging directory (DP_STAGING_DIR) keeps uploaded bytes out of PostgreSQL; every process of the deployment must
        // share it. Without one they are staged in PostgreSQL, which every process reaches wherever it runs.
        if (string.IsNullOrWhiteSpace(stagingDirectory))
        {
            services.AddSingleton<IStagedFileStore>(provider => provider.GetRequiredService<StagingStore>());
        }
        else
        {
            System.IO.Directory.CreateDirectory(stagingDirectory);
            services.AddSingleton(provider => ActivatorUtilities.CreateInstance<FileStagingStore>(provider, stagingDirectory,
                TimeSpan.FromSeconds(provider.GetRequiredService<IConfiguration>().GetValue(FileStagingStore.OrphanMinAgeKey, 60))));
            services.AddSingleton<IStagedFileStore>(provider => provider.GetRequiredService<FileStagingStore>());
        }
        services.AddSingleton<JobStore>();
        services.AddSingleton<QueuePositions>();
        services.AddSingleton<RowReader>();
        services.AddOptions<ImportLimits>().BindConfiguration(ImportLimits.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ImportRunner>();
        services.AddOptions<ImportRetryOptions>().BindConfiguration(ImportRetryOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<SignedTokens>();
        services.AddSingleton<VersionStore>();
        services.AddSingleton<LineageStore>();
        services.AddSingleton<Analysis.DatasetAnalyzer>();
        services.AddSingleton<Analysis.VersionComparer>();
        return services;
    }

    /// <summary>
    /// Clustering, grain state and reminders in PostgreSQL through the ADO.NET providers, on
    /// <paramref name="dataSource"/> (Orleans' own pool). An <paramref name="embedded"/> silo
    /// (co-hosted with the gateway, the only member of its cluster) listens on loopback only: its silo and gateway ports
    /// take unauthenticated Orleans messages, so nothing off this machine may reach them.
    /// </summary>
    public static ISiloBuilder UsePlatformSilo(this ISiloBuilder silo, NpgsqlDataSource dataSource, SiloEndpointOptions endpoints, bool embedded)
    {
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = endpoints.ClusterId;
            o.ServiceId = endpoints.ServiceId;
        });
        // Failure-detection timings can be tuned per deployment (Silo:Membership:ProbeTimeout, NumMissedProbesLimit, ...).
        silo.Services.AddOptions<ClusterMembershipOptions>().BindConfiguration("Silo:Membership");
        if (embedded) silo.ConfigureEndpoints(IPAddress.Loopback, endpoints.SiloPort, endpoints.GatewayPort, listenOnAnyHostAddress: false);
        else silo.ConfigureEndpoints(IPAddress.Parse(endpoints.AdvertisedAddress), endpoints.SiloPort, endpoints.GatewayPort, endpoints.ListenOnAllInterfaces);
        silo.UseAdoNetClustering(o =>
        {
            o.Invariant = Invariant;
            o.DataSource = dataSource;
        });
        // JSON state without CLR type names, readable in the OrleansStorage table.
        silo.UseSystemTextJsonGrainStorageSerializer();
        silo.AddAdoNetGrainStorage(GrainStorageName, o =>
        {
            o.Invariant = Invariant;
            o.DataSource = dataSource;
        });
        silo.UseAdoNetReminderService(o =>
        {
            o.Invariant = Invariant;
            o.DataSource = dataSource;
        });
        // Before the silo joins the cluster as active: no grain runs here yet, so nothing competes with it, and a silo that
        // reports ready (and every job the sweep restarts) finds the import path compiled.
        silo.AddStartupTask<ImportWarmup>(ServiceLifecycleStage.ApplicationServices);
        silo.AddStartupTask<PendingImportsSweeper>();
        // Orleans preallocates its grain-address cache for a million entries (9 MB of arrays per process); a silo here holds
        // two grains per busy dataset, and a miss costs one directory lookup.
        silo.Configure<GrainDirectoryOptions>(o => o.CacheSize = 20_000);
        if (DashboardEnabled(silo.Configuration)) silo.AddDashboard(); // served by the gateway at /dashboard, behind admin keys
        return silo;
    }

    /// <summary>Cluster client settings for a gateway process that does not host a silo.</summary>
    public static IClientBuilder UsePlatformClient(this IClientBuilder client, NpgsqlDataSource dataSource, SiloEndpointOptions endpoints)
    {
        client.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = endpoints.ClusterId;
            o.ServiceId = endpoints.ServiceId;
        });
        client.UseAdoNetClustering(o =>
        {
            o.Invariant = Invariant;
            o.DataSource = dataSource;
        });
        if (DashboardEnabled(client.Configuration)) client.AddDashboard();
        return client;
    }
}
