using System.Net;
using System.Net.Http.Json;
using DatasetPlatform.LoadTest;
using DatasetPlatform.LoadTest.Doors;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>
/// The load-test harness (bench/LoadTest) keeps working: its smoke scenario runs against the test service through all four doors and
/// verifies what it loaded; and its verification does catch a dataset that is not what the uploads made it.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class LoadHarnessSmokeTests(PlatformFixture platform)
{
    private async Task<LoadTestResult> RunSmokeAsync(int fixedCostSamples = 3)
    {
        var statuses = new StatusCounts();
        var gateway = new GatewayClient(platform.RawClient(), platform.AdminKey, statuses, "in-process test service");
        var options = new LoadTestOptions(Scenario.Known["smoke"] with { FixedCostSamples = fixedCostSamples }) { Timeout = TimeSpan.FromSeconds(90), Target = "test fixture", Silos = "1 (embedded)",
            // The service runs in this process: its CPU is this process's, as the load client's is.
            ServicePids = [Environment.ProcessId] };
        return await LoadTestRunner.RunAsync(options, [gateway], statuses, TextWriter.Null, CancellationToken.None);
    }

    [Fact]
    public async Task Smoke_scenario_loads_through_all_four_doors_and_verifies()
    {
        var result = await RunSmokeAsync();

        Assert.True(result.Passed, string.Join("\n", result.Failures()));
        Assert.Equal(Enum.GetValues<Door>().Order(), result.Datasets.Select(d => d.Door).Order());
        Assert.All(result.Uploads, u => Assert.Equal("Processed", u.Outcome));
        Assert.Equal(4 * 3 * 50, result.Uploads.Sum(u => u.Rows));
        Assert.NotNull(result.FixedCost);
        Assert.Null(result.FixedCost!.Error);
        var report = LoadReport.Markdown(result);
        Assert.Contains("**PASSED**: 12/12 uploads acknowledged", report);
        Assert.Contains("| presigned | 1 | 3 | 150 |", report);
        // The load phase's CPU, read from /proc: the uploads and imports cost this process CPU; PostgreSQL's pid was not given.
        Assert.NotNull(result.LoadCpu);
        Assert.True(result.LoadCpu!.Service > 0, $"service CPU {result.LoadCpu.Service} s");
        Assert.Matches(@"\| per upload, ms \| [0-9.]+ \| [0-9.]+ \| - \| [0-9.]+ \|", report);
    }

    [Fact]
    public async Task Verification_reports_a_value_from_an_older_upload_and_a_replaced_block()
    {
        var result = await RunSmokeAsync(fixedCostSamples: 0);
        Assert.True(result.Passed, string.Join("\n", result.Failures()));
        var context = new LoadContext(result.Options.Scenario, "tamper", 0, DateTime.UtcNow.AddSeconds(60), CancellationToken.None);

        // Upload 0's file again: its keys that later uploads overwrote go back to upload 0's values, as if the order had been broken.
        var keyed = result.Datasets.Single(d => d.Door == Door.Alphacast);
        var stale = new System.Text.StringBuilder();
        await GeneratedFiles.WriteKeyedCsvAsync(new StringBuilderStream(stale), keyed.Values, 0, 0, keyed.Values.Rows, CancellationToken.None);
        var process = await platform.Client().UploadAndWaitAsync(keyed.Id, stale.ToString(), AlphacastDriver.Manifest, "?onConflictUpdateDB=true");
        Assert.Equal("Processed", process.GetProperty("status").GetString());
        await new AlphacastDriver(context).VerifyAsync(keyed);
        Assert.Contains(keyed.Problems, p => p.Contains("is upload 0's value, expected the last upload's (1)", StringComparison.Ordinal));

        // Block 0 again with one record of upload 0: upload 1's records of that block (keys 25..74) are gone.
        var blocks = result.Datasets.Single(d => d.Door == Door.Blocks);
        var http = platform.RawClient();
        http.DefaultRequestHeaders.Authorization = new("Bearer", platform.AdminKey);
        var patch = await http.PatchAsJsonAsync($"/Dataset/{blocks.Name}/data", new { blockNumber = 0, records = new[] { new { key = 0, upload = 0, value = 1.5, label = "x" } } });
        Assert.Equal(HttpStatusCode.OK, patch.StatusCode);
        await new BlocksDriver(context).VerifyAsync(blocks);
        Assert.Contains(blocks.Problems, p => p.Contains("record 0 is upload 0's key 0, expected upload 1's key 25", StringComparison.Ordinal));
    }

    private sealed class StringBuilderStream(System.Text.StringBuilder target) : MemoryStream
    {
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            target.Append(System.Text.Encoding.UTF8.GetString(buffer.Span));
            return ValueTask.CompletedTask;
        }
    }
}
