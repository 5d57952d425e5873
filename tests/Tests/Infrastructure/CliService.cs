namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// The real service binary behind real Kestrel on its own database, for tests that drive it from another process (the
/// `dp` client cannot reach the in-memory test server). Started once for a test class.
/// </summary>
public sealed class CliService() : ServiceFixture("cli", new Dictionary<string, string> { ["Silo__PendingSweepSeconds"] = "1" })
{
    public CliRunner Cli() => new(Url, AdminKey);

    public ApiClient Client() => Service.Client();
}
