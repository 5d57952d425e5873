using System.Text.RegularExpressions;
using DatasetPlatform.Grains.Hosting;
using DatasetPlatform.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace DatasetPlatform.Tests;

/// <summary>One table of environment variables for the gateway and the silo host: a variable means the same in both.</summary>
public sealed partial class PlatformEnvironmentTests
{
    [Theory]
    [InlineData("DP_CLUSTER_ID", "Silo:ClusterId", "blue")]
    [InlineData("DP_SERVICE_ID", "Silo:ServiceId", "platform-7")]
    [InlineData("DP_MAX_CONCURRENT_IMPORTS", "Silo:MaxConcurrentImports", "2")]
    [InlineData("MAX_DECOMPRESSED_BYTES", "Import:MaxDecompressedBytes", "1048576")]
    [InlineData("DP_IMPORT_MAX_CRASHES", "Import:MaxCrashes", "5")]
    [InlineData("DP_HEALTH_PORT", "Silo:HealthPort", "8081")]
    [InlineData("DP_POSTGRES", "Platform:Postgres", "Host=db")]
    public void A_variable_reaches_its_key(string variable, string key, string value)
    {
        var configuration = new ConfigurationManager();
        configuration.AddInMemoryCollection([new(key, "from appsettings"), new(variable, value)]); // as the environment source would
        configuration.AddPlatformEnvironment();
        Assert.Equal(value, configuration[key]);
    }

    [Fact]
    public void An_unset_variable_leaves_the_key_alone()
    {
        var configuration = new ConfigurationManager();
        configuration.AddInMemoryCollection([new("Silo:ClusterId", "from appsettings")]);
        configuration.AddPlatformEnvironment();
        Assert.Equal("from appsettings", configuration["Silo:ClusterId"]);
    }

    /// <summary>Variables only run.sh reads (the processes never see them as settings).</summary>
    private static readonly string[] ScriptOnly = ["DP_HTTP_PORT", "DP_READY_TO_RUN"];

    [Fact]
    public void Every_variable_the_README_documents_is_mapped()
    {
        var readme = File.ReadAllText(Path.Combine(DeployFiles.Root, "README.md"));
        var documented = VariableRow().Matches(readme).SelectMany(row => Variable().Matches(row.Value).Select(m => m.Value)).ToHashSet();
        Assert.Contains("DP_CLUSTER_ID", documented);
        var unmapped = documented.Except(PlatformEnvironment.Keys.Keys).Except(ScriptOnly).ToList();
        Assert.True(unmapped.Count == 0, "Documented but not mapped: " + string.Join(", ", unmapped));
        var undocumented = PlatformEnvironment.Keys.Keys.Except(documented).ToList();
        Assert.True(undocumented.Count == 0, "Mapped but not in README's table: " + string.Join(", ", undocumented));
    }

    [GeneratedRegex(@"^\| `[A-Z_]+`[^|]*\|", RegexOptions.Multiline)]
    private static partial Regex VariableRow();

    [GeneratedRegex(@"(?<=`)(DP|MAX)_[A-Z_]+(?=`)")]
    private static partial Regex Variable();
}
