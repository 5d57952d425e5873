using DatasetPlatform.Grains.Import;
using Microsoft.Extensions.Configuration;

namespace DatasetPlatform.Grains.Hosting;

/// <summary>
/// The environment variables the README documents, mapped onto configuration keys, for every kind of process (the gateway,
/// the embedded silo and the <c>src/Silo</c> host): one table, so a variable means the same thing wherever it is set and a
/// silo joins the same cluster (DP_CLUSTER_ID, DP_SERVICE_ID) as its gateways.
/// </summary>
public static class PlatformEnvironment
{
    /// <summary>Environment variable name -> configuration key.</summary>
    public static readonly IReadOnlyDictionary<string, string> Keys = new Dictionary<string, string>(ImportLimits.EnvironmentKeys)
    {
        ["DP_POSTGRES"] = "Platform:Postgres",
        ["DP_DATA_DIR"] = "Platform:DataDir",
        ["DP_STAGING_DIR"] = PlatformHosting.StagingDirectoryKey,
        ["DP_DASHBOARD"] = PlatformHosting.DashboardKey,
        ["DP_MODE"] = "Platform:Mode",
        ["MAX_DATASET_UPLOAD_BYTES"] = "Platform:MaxUploadBytes",
        ["MAX_XLSX_ROWS"] = "Platform:MaxXlsxRows",
        ["MAX_XLSX_CELLS"] = "Platform:MaxXlsxCells",
        ["DP_PAGE_SIZE"] = "Platform:DefaultPageSize",
        ["DP_MAX_PAGE_SIZE"] = "Platform:MaxPageSize",
        ["MAX_BLOCK_BODY_BYTES"] = "Platform:MaxBlockBodyBytes",
        ["DP_READ_STATEMENT_TIMEOUT_SECONDS"] = "Reads:StatementTimeoutSeconds",
        ["DP_MAX_CORRELATION_COLUMNS"] = "Reads:MaxCorrelationColumns",
        ["DP_DOWNLOAD_STREAMS"] = "Reads:DownloadStreams",
        ["DP_DOWNLOAD_RANGE_PAGES"] = "Reads:DownloadRangePages",
        ["DP_DOWNLOAD_FORMAT_IN_SERVICE"] = "Reads:FormatDownloadsInService",
        ["DP_MAX_CONCURRENT_UPLOADS"] = "Platform:MaxConcurrentUploads",
        ["DP_UPLOAD_RETRY_AFTER_SECONDS"] = "Platform:UploadRetryAfterSeconds",
        ["DP_MAX_CONCURRENT_DOWNLOADS"] = "Platform:MaxConcurrentDownloads",
        ["DP_MIN_UPLOAD_RATE"] = "Platform:MinUploadBytesPerSecond",
        ["DP_MIN_UPLOAD_RATE_GRACE_SECONDS"] = "Platform:MinUploadRateGraceSeconds",
        ["DP_REQUEST_HEADERS_TIMEOUT_SECONDS"] = "Platform:RequestHeadersTimeoutSeconds",
        ["DP_UPLOAD_IDLE_SECONDS"] = "Platform:UploadIdleSeconds",
        ["DP_MAX_CONCURRENT_IMPORTS"] = "Silo:MaxConcurrentImports",
        ["DP_ABANDONED_UPLOAD_MINUTES"] = "Silo:AbandonedUploadMinutes",
        ["DP_DB_POOL_SIZE"] = "Database:MaxPoolSize",
        ["DP_DB_ORLEANS_POOL_SIZE"] = "Database:OrleansPoolSize",
        ["DP_DB_UPLOAD_CONNECTIONS"] = "Database:UploadConnections",
        ["DP_CLUSTER_ID"] = "Silo:ClusterId",
        ["DP_SERVICE_ID"] = "Silo:ServiceId",
        ["DP_SILO_PORT"] = "Silo:SiloPort",
        ["DP_GATEWAY_PORT"] = "Silo:GatewayPort",
        ["DP_ADVERTISED_ADDRESS"] = "Silo:AdvertisedAddress",
        ["DP_LISTEN_ON_ALL_INTERFACES"] = "Silo:ListenOnAllInterfaces",
        ["DP_HEALTH_PORT"] = "Silo:HealthPort",
        ["DP_KUBERNETES"] = "Silo:Kubernetes",
        ["DP_IMPORT_TRANSIENT_RETRIES"] = "Import:TransientRetries",
        ["DP_IMPORT_RETRY_MAX_DELAY_SECONDS"] = "Import:MaxRetryDelaySeconds",
        ["DP_IMPORT_MAX_CRASHES"] = "Import:MaxCrashes",
        // ... and the import limits (MAX_DECOMPRESSED_BYTES, MAX_RECORD_CHARS, ...) ImportLimits names.
    };

    /// <summary>
    /// Copies each documented variable that is set (from any source already in <paramref name="configuration"/>: the
    /// environment, the command line) onto its key, on top of every source so far; later sources still win.
    /// </summary>
    public static IConfigurationManager AddPlatformEnvironment(this IConfigurationManager configuration)
    {
        var overrides = Keys
            .Select(pair => (pair.Value, Value: configuration[pair.Key]))
            .Where(pair => !string.IsNullOrEmpty(pair.Value))
            .ToDictionary(pair => pair.Item1, pair => pair.Value);
        configuration.AddInMemoryCollection(overrides);
        return configuration;
    }
}
