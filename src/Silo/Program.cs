using DatasetPlatform.Grains.Hosting;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Silo;

// A silo without a gateway, for cluster mode: several of these plus gateways started with DP_MODE=gateway. Configured through
// the same variables as the gateway (PlatformEnvironment). With DP_HEALTH_PORT set it serves /health/live and /health/ready
// on that port (for Kubernetes probes and run.sh); without it, it opens no HTTP port at all.
var web = WebApplication.CreateSlimBuilder(args);
web.Configuration.AddPlatformEnvironment();
var healthPort = web.Configuration.GetValue<int?>("Silo:HealthPort");
IHostApplicationBuilder builder = healthPort is null ? Host.CreateApplicationBuilder(args) : web;
if (healthPort is null) builder.Configuration.AddPlatformEnvironment();
else web.WebHost.ConfigureKestrel(kestrel => kestrel.ListenAnyIP(healthPort.Value));

var connectionString = builder.Configuration["Platform:Postgres"] is { Length: > 0 } configured ? configured
    : throw new InvalidOperationException("Set DP_POSTGRES to an Npgsql connection string.");
var endpoints = builder.Configuration.GetSection("Silo").Get<SiloEndpointOptions>() ?? new SiloEndpointOptions();
var pools = DatabasePoolOptions.From(builder.Configuration);
pools.Validate(ImportGate.SlotsFrom(builder.Configuration));
var dataSource = PlatformHosting.CreateDataSource(connectionString, pools.MaxPoolSize);
var orleansDataSource = PlatformHosting.CreateDataSource(connectionString, pools.OrleansPoolSize, "datasetplatform-orleans");
await SchemaBootstrapper.ApplyAsync(dataSource);
builder.Services.AddPlatformStorage(dataSource, pools);
builder.UseOrleans(silo => silo.UsePlatformSilo(orleansDataSource, endpoints, embedded: false));
// SIGTERM stops the silo gracefully: it leaves the cluster and deactivates its grains, and a running import is cancelled, rolled
// back and handed back within Orleans' DeactivationTimeout (30 s, a backstop: measured well under a second). The host waits
// longer than that, so a slow hand-back is not cut short into a non-graceful stop, and less than Kubernetes'
// terminationGracePeriodSeconds (60 s in deploy/k8s) before its SIGKILL.
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(45));

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
