using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using DatasetPlatform.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DatasetPlatform.Tests;

/// <summary>
/// A gateway process (DP_MODE=gateway) whose silo died: a request that needs a grain answers within seconds, a change with
/// 503 and Retry-After rather than after Orleans' 30 s response timeout; an upload is still accepted (its job is durable,
/// the lost signal only a warning that the gateway logs).
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class GatewayGrainTimeoutTests(PlatformFixture platform, ITestOutputHelper output)
{
    [Fact]
    public async Task A_gateway_whose_silo_died_answers_a_change_with_503_and_still_accepts_uploads()
    {
        var dataDir = Directory.CreateTempSubdirectory("dp-timeout-").FullName;
        var clusterId = "timeout-" + Guid.NewGuid().ToString("N")[..8];
        var shared = new Dictionary<string, string>
        {
            ["DP_POSTGRES"] = await platform.CreateDatabaseAsync(),
            ["DP_DATA_DIR"] = dataDir,
            ["DP_CLUSTER_ID"] = clusterId,
            ["DP_SERVICE_ID"] = clusterId,
            ["DP_ADVERTISED_ADDRESS"] = "127.0.0.1",
        };
        Dictionary<string, string> Silo() => new(shared)
        {
            ["DP_SILO_PORT"] = PlatformFixture.FreePort().ToString(),
            ["DP_GATEWAY_PORT"] = PlatformFixture.FreePort().ToString(),
        };
        var httpPort = PlatformFixture.FreePort();
        var silo = await ServiceProcess.StartSiloAsync(PlatformFixture.FreePort(), Silo());
        ServiceProcess? gateway = null;
        try
        {
            gateway = await ServiceProcess.StartAsync(httpPort, new Dictionary<string, string>(shared) { ["DP_MODE"] = "gateway" });
            var key = ServiceUnderTest.ReadBootstrapKey(dataDir);
            var api = new ApiClient(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(60) }, key);
            var datasetId = await api.NewDatasetAsync();

            silo.Kill();
            var clock = Stopwatch.StartNew();
            var change = await api.Http.PutAsJsonAsync($"/datasets/{datasetId}/manifest", new { locked = true });
            var elapsed = clock.Elapsed;
            output.WriteLine($"PUT manifest with the only silo dead answered {(int)change.StatusCode} in {elapsed.TotalSeconds:F2} s");
            Assert.Contains("did not answer", await ApiClient.ExpectProblemAsync(change, HttpStatusCode.ServiceUnavailable), StringComparison.Ordinal);
            Assert.NotNull(change.Headers.RetryAfter?.Delta);
            Assert.True(elapsed < TimeSpan.FromSeconds(15), $"The change took {elapsed} to fail.");

            // The upload is durable once acknowledged; only its signal is lost.
            var upload = await api.UploadAsync(datasetId, "Date,Country,Value\n2020-01-01,USA,1\n", ApiClient.DateCountryManifest);
            var processId = (await ApiClient.ExpectJsonAsync(upload, HttpStatusCode.Created)).GetProperty("id").GetInt64();
            Assert.Equal("Requested", (await api.GetJsonAsync($"/datasets/{datasetId}/processes/{processId}")).GetProperty("status").GetString());

            // The gateway says so in its log; the silos' sweep starts the job once one runs (CrashRecoveryTests show that part).
            var warning = $"Import {processId} of dataset {datasetId} is committed but its dataset was not told";
            for (var deadline = DateTime.UtcNow.AddSeconds(30); !gateway.Output.Contains(warning, StringComparison.Ordinal); await Task.Delay(100))
                Assert.True(DateTime.UtcNow < deadline, "The gateway did not log the lost signal.");
        }
        catch (Exception e) when (gateway is not null)
        {
            var outputs = new[] { silo, gateway }.Select(p => p.Output[^Math.Min(p.Output.Length, 4000)..]);
            throw new InvalidOperationException(e.Message + "\n--- the processes' last output ---\n" + string.Join("\n---\n", outputs), e);
        }
        finally
        {
            gateway?.Dispose();
            silo.Dispose();
            Directory.Delete(dataDir, recursive: true);
        }
    }
}
