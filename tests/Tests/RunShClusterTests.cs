using System.Diagnostics;
using System.Net;
using System.Text;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>
/// README's "A cluster on one machine", run as written: `./run.sh --silos 2 --gateways 2` (on a test database through
/// DP_POSTGRES, on free ports through the documented variables). Both gateways serve the API from one cluster, the pid files
/// name live processes, a killed silo is reported while the rest goes on, and SIGTERM stops everything.
/// </summary>
public sealed class RunShClusterTests
{
    [Fact]
    public async Task Run_sh_with_two_silos_and_two_gateways_serves_the_api_reports_a_killed_silo_and_stops_on_sigterm()
    {
        await using var database = await TestDatabase.CreateAsync("dp_runsh");
        var dataDir = Directory.CreateTempSubdirectory("dp-runsh-").FullName;
        var (http, health, siloPorts, gatewayPorts) = (PlatformFixture.FreePortBlock(2), PlatformFixture.FreePortBlock(2), PlatformFixture.FreePortBlock(2), PlatformFixture.FreePortBlock(2));
        var info = new ProcessStartInfo("bash", ["run.sh", "--silos", "2", "--gateways", "2"])
        {
            WorkingDirectory = DeployFiles.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["DP_POSTGRES"] = database.ConnectionString;
        info.Environment["DP_DATA_DIR"] = dataDir;
        info.Environment["DP_HTTP_PORT"] = http.ToString();
        info.Environment["DP_HEALTH_PORT"] = health.ToString();
        info.Environment["DP_SILO_PORT"] = siloPorts.ToString();
        info.Environment["DP_GATEWAY_PORT"] = gatewayPorts.ToString();
        var output = new StringBuilder();
        using var runSh = Process.Start(info)!;
        runSh.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        runSh.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        runSh.BeginOutputReadLine();
        runSh.BeginErrorReadLine();
        string Output() { lock (output) return output.ToString(); }
        try
        {
            // Generous: run.sh publishes the Api and the Silo ReadyToRun first (1.5 min on two quiet cores, 6.5 min for the Silo
            // alone seen on busy ones), and a silo has been seen to need over 90 s to join on two busy cores.
            using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            foreach (var port in new[] { http, http + 1, health, health + 1 })
                await UntilAsync(async () => (await probe.GetAsync($"http://127.0.0.1:{port}/health/ready")).IsSuccessStatusCode,
                    TimeSpan.FromMinutes(12), () => $"port {port} never became ready:\n{Output()}", runSh);

            // The pid files name the four live processes.
            var pids = new[] { "silo-1", "silo-2", "gateway-1", "gateway-2" }
                .ToDictionary(name => name, name => int.Parse(File.ReadAllText(Path.Combine(dataDir, "cluster", $"{name}.pid")).Trim()));
            Assert.All(pids, p => Assert.True(Directory.Exists($"/proc/{p.Value}"), $"{p.Key} (pid {p.Value}) is not running"));

            // One cluster behind both gateways: uploaded through the second, read back through the first.
            var key = ServiceUnderTest.ReadBootstrapKey(dataDir);
            ApiClient Gateway(int port) => new(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(2) }, key);
            var second = Gateway(http + 1);
            var datasetId = await second.NewDatasetAsync();
            const string Csv = "Date,Country,GDP\n2020-01-01,USA,100.5\n2020-01-01,ARG,50\n";
            Assert.Equal("Processed", (await second.UploadAndWaitAsync(datasetId, Csv, ApiClient.DateCountryManifest)).GetProperty("status").GetString());
            Assert.Equal("Country,Date,GDP\nUSA,2020-01-01,100.5\nARG,2020-01-01,50\n", await Gateway(http).DownloadAsync(datasetId, "?$format=csv"));

            // kill -9 of a silo, as README suggests to watch a failover: run.sh says so, forgets its pid file and goes on.
            Assert.Equal(0, ServiceProcess.SendSignal(pids["silo-2"], 9));
            await UntilAsync(() => Task.FromResult(Output().Contains($"run.sh: silo-2 (pid {pids["silo-2"]}) exited with status 137; the rest of the cluster goes on",
                StringComparison.Ordinal)), TimeSpan.FromSeconds(60), () => $"run.sh did not report the killed silo:\n{Output()}", runSh);
            Assert.False(File.Exists(Path.Combine(dataDir, "cluster", "silo-2.pid")));
            Assert.False(runSh.HasExited);
            Assert.Equal(HttpStatusCode.OK, (await probe.GetAsync($"http://127.0.0.1:{http}/health/live")).StatusCode);

            // SIGTERM (Ctrl-C's sibling): every process stops, run.sh exits, the pid files are gone.
            Assert.Equal(0, ServiceProcess.SendSignal(runSh.Id, 15));
            using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90))) await runSh.WaitForExitAsync(stop.Token);
            Assert.All(pids.Where(p => p.Key != "silo-2"), p => Assert.False(Directory.Exists($"/proc/{p.Value}"), $"{p.Key} still runs after run.sh ended"));
            Assert.Empty(Directory.GetFiles(Path.Combine(dataDir, "cluster"), "*.pid"));
        }
        finally
        {
            if (!runSh.HasExited) runSh.Kill(entireProcessTree: true);
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Polls while run.sh still runs (its exit fails at once); a refused or timed-out request means "not yet".</summary>
    private static Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> failure, Process runSh) =>
        Poll.UntilAsync(async () =>
        {
            Assert.False(runSh.HasExited, failure());
            try { return await condition(); }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { return false; }
        }, timeout, failure, TimeSpan.FromMilliseconds(250));
}
