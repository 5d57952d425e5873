using DatasetPlatform.Grains.Hosting;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Storage;

// A silo without a gateway, for cluster mode: several of these plus gateways started with DP_MODE=gateway.
var builder = Host.CreateApplicationBuilder(args);
var connectionString = builder.Configuration["DP_POSTGRES"]
    ?? throw new InvalidOperationException("Set DP_POSTGRES to an Npgsql connection string.");
var endpoints = builder.Configuration.GetSection("Silo").Get<SiloEndpointOptions>() ?? new SiloEndpointOptions();
if (int.TryParse(builder.Configuration["DP_SILO_PORT"], out var siloPort)) endpoints.SiloPort = siloPort;
if (int.TryParse(builder.Configuration["DP_GATEWAY_PORT"], out var gatewayPort)) endpoints.GatewayPort = gatewayPort;
if (builder.Configuration["DP_ADVERTISED_ADDRESS"] is { Length: > 0 } address) endpoints.AdvertisedAddress = address;
if (bool.TryParse(builder.Configuration["DP_LISTEN_ON_ALL_INTERFACES"], out var listenOnAll)) endpoints.ListenOnAllInterfaces = listenOnAll;
// Import retries (ImportRetryOptions) under the names the README documents.
foreach (var (variable, key) in new[] { ("DP_IMPORT_TRANSIENT_RETRIES", "TransientRetries"), ("DP_IMPORT_RETRY_MAX_DELAY_SECONDS", "MaxRetryDelaySeconds"),
    ("DP_IMPORT_MAX_CRASHES", "MaxCrashes") })
{
    if (builder.Configuration[variable] is { Length: > 0 } value) builder.Configuration[$"Import:{key}"] = value;
}

// Import limits (MAX_DECOMPRESSED_BYTES, MAX_RECORD_CHARS, ...): imports run here, so this host reads them too.
builder.Configuration.AddInMemoryCollection(ImportLimits.EnvironmentKeys
    .Where(pair => !string.IsNullOrEmpty(builder.Configuration[pair.Key]))
    .Select(pair => new KeyValuePair<string, string?>(pair.Value, builder.Configuration[pair.Key])));

var pools = DatabasePoolOptions.From(builder.Configuration);
pools.Validate(ImportGate.SlotsFrom(builder.Configuration));
var dataSource = PlatformHosting.CreateDataSource(connectionString, pools.MaxPoolSize);
var orleansDataSource = PlatformHosting.CreateDataSource(connectionString, pools.OrleansPoolSize, "datasetplatform-orleans");
await SchemaBootstrapper.ApplyAsync(dataSource);
builder.Services.AddPlatformStorage(dataSource, pools);
builder.UseOrleans(silo => silo.UsePlatformSilo(orleansDataSource, endpoints, embedded: false));
await builder.Build().RunAsync();
