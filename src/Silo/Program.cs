using DatasetPlatform.Grains.Hosting;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Silo;
using Microsoft.Extensions.Configuration.Memory;
using Orleans.Hosting;

// A silo without a gateway, for cluster mode: several of these plus gateways started with DP_MODE=gateway. Configured through
// the same variables as the gateway (PlatformEnvironment). With DP_HEALTH_PORT set it serves /health/live and /health/ready
// on that port (for Kubernetes probes and run.sh); without it, it opens no HTTP port at all.
var web = WebApplication.CreateSlimBuilder(args);
web.Configuration.AddPlatformEnvironment();
var healthPort = web.Configuration.GetValue<int?>("Silo:HealthPort");
IHostApplicationBuilder builder = healthPort is null ? Host.CreateApplicationBuilder(args) : web;
if (healthPort is null) builder.Configuration.AddPlatformEnvironment();
else web.WebHost.ConfigureKestrel(kestrel => kestrel.ListenAnyIP(healthPort.Value));

// The gateway's log levels (src/Api/appsettings.json) as the silo's defaults, below every other source so Logging__LogLevel__*
// variables still override them: without them every Orleans event and health probe was logged at Information.
builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
{
    InitialData = new Dictionary<string, string?>
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        ["Logging:LogLevel:Orleans"] = "Warning",
        ["Logging:LogLevel:Polly"] = "Warning",
    },
});

var connectionString = builder.Configuration["Platform:Postgres"] is { Length: > 0 } configured ? configured
    : throw new InvalidOperationException("Set DP_POSTGRES to an Npgsql connection string.");
var endpoints = builder.Configuration.GetSection("Silo").Get<SiloEndpointOptions>() ?? new SiloEndpointOptions();
// In a Kubernetes pod (and only there): Orleans' Kubernetes hosting, the pod IP advertised.
var kubernetes = KubernetesHosting.IsEnabled(builder.Configuration, Environment.GetEnvironmentVariable);
if (kubernetes) endpoints = KubernetesHosting.InPod(endpoints, builder.Configuration, Environment.GetEnvironmentVariable);
var pools = DatabasePoolOptions.From(builder.Configuration);
pools.Validate(ImportGate.SlotsFrom(builder.Configuration));
var dataSource = PlatformHosting.CreateDataSource(connectionString, pools.MaxPoolSize, leavesNoSessionState: true);
var orleansDataSource = PlatformHosting.CreateDataSource(connectionString, pools.OrleansPoolSize, "datasetplatform-orleans");
await SchemaBootstrapper.ApplyAsync(dataSource);
builder.Services.AddPlatformStorage(dataSource, pools, builder.Configuration[PlatformHosting.StagingDirectoryKey]);
builder.UseOrleans(silo =>
{
    silo.UsePlatformSilo(orleansDataSource, endpoints, embedded: false);
    if (kubernetes) silo.UseKubernetesHosting();
});
// SIGTERM stops the silo gracefully: it leaves the cluster and deactivates its grains; a running import is cancelled, rolled
// back and handed back to its queue (ImportJobGrain.OnDeactivateAsync), within Orleans' DeactivationTimeout at most.
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = PlatformHosting.SiloShutdownTimeout);

if (healthPort is null)
{
    await ((HostApplicationBuilder)builder).Build().RunAsync();
}
else
{
    var app = web.Build();
    app.MapSiloHealth();
    await app.RunAsync();
}
