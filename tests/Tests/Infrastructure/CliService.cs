namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// The real service binary behind real Kestrel on its own database, for tests that drive it from another process (the
/// `dp` client cannot reach the in-memory test server). Started once for a test class. It receives one upload at a time
/// and asks for a retry after 2 s (429), so that a test holding the one slot sees how `dp` retries.
/// </summary>
public sealed class CliService() : ServiceFixture("cli", new Dictionary<string, string>
{
    ["Silo__PendingSweepSeconds"] = "1",
    ["DP_MAX_CONCURRENT_UPLOADS"] = MaxConcurrentUploads.ToString(),
    ["DP_UPLOAD_RETRY_AFTER_SECONDS"] = RetryAfterSeconds.ToString(),
})
{
    public const int MaxConcurrentUploads = 1;
    public const int RetryAfterSeconds = 2;

    public CliRunner Cli() => new(Url, AdminKey);

    public ApiClient Client() => Service.Client();
}
