using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;
using Xunit.Abstractions;

namespace DatasetPlatform.Tests;

/// <summary>
/// A rolling deploy: SIGTERM to the silo process that is loading an import. The silo cancels the import, rolls it back and
/// hands it back to its queue without counting a crash; the other silo runs it, and the upload loads exactly once.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class GracefulStopTests(PlatformFixture platform, ITestOutputHelper output)
{
    /// <summary>
    /// The import's size. It no longer needs to outlast the stop: the test holds the import before it can finish (a lock its
    /// version row waits for), since a big one still loaded within the time a stop took to reach it (1.5M rows in a clean-clone
    /// run: the import completed, nothing was handed over).
    /// </summary>
    private const int Rows = 300_000;

    /// <summary>How long a stopping silo may take to exit: well under the host's shutdown timeout (45 s) and Kubernetes' 60 s.</summary>
    private static readonly TimeSpan DrainBound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_silo_stopped_with_sigterm_mid_import_hands_it_to_the_other_silo_uncounted()
    {
        var connectionString = await platform.CreateDatabaseAsync();
        var dataDir = Directory.CreateTempSubdirectory("dp-stop-").FullName;
        var csvPath = Path.Combine(dataDir, "big.csv");
        await WriteCsvAsync(csvPath);
        var clusterId = "stop-" + Guid.NewGuid().ToString("N")[..8];
        var shared = new Dictionary<string, string>
        {
            ["DP_POSTGRES"] = connectionString,
            ["DP_DATA_DIR"] = dataDir,
            ["DP_STAGING_DIR"] = Path.Combine(dataDir, "staging"),
            ["DP_CLUSTER_ID"] = clusterId,
            ["DP_SERVICE_ID"] = "service-" + clusterId,
            ["DP_ADVERTISED_ADDRESS"] = "127.0.0.1",
            // One cut-short run fails the job: it completing proves the graceful stop counted no crash.
            ["DP_IMPORT_MAX_CRASHES"] = "1",
        };
        // One after the other: on two busy cores, silos that join at the same moment can spend their start-up deadline
        // probing each other.
        var started = new List<ServiceProcess>();
        try
        {
            for (var i = 0; i < 2; i++)
                started.Add(await ServiceProcess.StartSiloAsync(PlatformFixture.FreePort(), new Dictionary<string, string>(shared)
                {
                    ["DP_SILO_PORT"] = PlatformFixture.FreePort().ToString(),
                    ["DP_GATEWAY_PORT"] = PlatformFixture.FreePort().ToString(),
                }));
            var silos = started.ToArray();
            var httpPort = PlatformFixture.FreePort();
            started.Add(await ServiceProcess.StartAsync(httpPort, new Dictionary<string, string>(shared) { ["DP_MODE"] = "gateway" }));
            var key = ServiceUnderTest.ReadBootstrapKey(dataDir);
            var api = new ApiClient(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromMinutes(3) }, key);
            var datasetId = await api.NewDatasetAsync();

            // Held until the other silo has taken the import over: each run of it loads its rows, then waits here to record its
            // version, so the stop always finds it mid-import.
            await using var holder = new NpgsqlConnection(connectionString);
            await holder.OpenAsync();
            await using var hold = await holder.BeginTransactionAsync();
            await using (var lockVersions = new NpgsqlCommand("LOCK TABLE dp.dataset_versions IN SHARE MODE", holder, hold))
                await lockVersions.ExecuteNonQueryAsync();

            await using var file = File.OpenRead(csvPath);
            var content = new MultipartFormDataContent
            {
                { new StringContent(ApiClient.DateCountryManifest), "manifest" },
                { new StreamContent(file), "data", "big.csv" },
            };
            var created = await ApiClient.ExpectJsonAsync(await api.Http.PutAsync($"/datasets/{datasetId}/data", content), HttpStatusCode.Created);
            var jobId = created.GetProperty("id").GetInt64();
            var starts = new Regex($@"Import {jobId} of dataset {datasetId} starting in process (\d+)");
            bool StartedIn(ServiceProcess silo) => starts.Matches(silo.Output).Any(m => m.Groups[1].Value == silo.Id.ToString());

            // The silo running it says so in its log; PostgreSQL shows its COPY under that process's application_name.
            ServiceProcess? running = null;
            await Poll.UntilAsync(() => (running = silos.FirstOrDefault(s => StartedIn(s))) is not null, TimeSpan.FromSeconds(90),
                "No silo logged that it started the import.", TimeSpan.FromMilliseconds(20));
            var firstStart = Stopwatch.StartNew();
            var other = silos.Single(s => s != running);
            await Poll.UntilAsync(() => WaitingOnLockAsync(connectionString, running!.Id), TimeSpan.FromSeconds(60),
                $"No session of process {running!.Id} was seen waiting to record the version.", TimeSpan.FromMilliseconds(20));
            Assert.Equal("Processing", (await api.GetJsonAsync($"/datasets/{datasetId}/processes/{jobId}")).GetProperty("status").GetString());

            var sinceSigterm = Stopwatch.StartNew();
            var loadingBeforeStop = firstStart.Elapsed;
            var stopping = running.StopGracefullyAsync(DrainBound);
            await Poll.UntilAsync(() => StartedIn(other), TimeSpan.FromSeconds(90), "The other silo never started the import.", TimeSpan.FromMilliseconds(20));
            var restart = sinceSigterm.Elapsed;
            await hold.RollbackAsync();
            var drain = await stopping;
            var cancelled = Regex.Match(running.Output, $@"Import {jobId}: run cancelled and rolled back in (\d+) ms");
            Assert.True(cancelled.Success, "The stopping silo did not log that it cancelled and rolled back the import.");

            var done = await api.WaitForProcessAsync(datasetId, jobId, TimeSpan.FromSeconds(240));
            var total = sinceSigterm.Elapsed;
            Assert.True(done.GetProperty("status").GetString() == "Processed", done.ToString());
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            Assert.Equal((long)Rows, await ScalarAsync<long>(connection, $"SELECT count(*) FROM dp_data.ds_{datasetId}"));
            Assert.Equal(1L, await ScalarAsync<long>(connection, $"SELECT count(*) FROM dp.dataset_versions WHERE dataset_id = {datasetId}"));
            Assert.Equal(1L, await ScalarAsync<long>(connection, $"SELECT count(*) FROM dp.import_jobs WHERE dataset_id = {datasetId}"));
            Assert.Equal(Rows, (await api.GetJsonAsync($"/datasets/{datasetId}/date-stats")).GetProperty("rows").GetInt64());
            Assert.DoesNotContain("given up", done.ToString());

            output.WriteLine($"first run loaded for {loadingBeforeStop.TotalSeconds:F1} s before SIGTERM (work lost)");
            output.WriteLine($"SIGTERM -> process {running.Id} exited: {drain.TotalSeconds:F2} s (drain; of it, cancelling and rolling back the import took "
                + $"{cancelled.Groups[1].Value} ms from its deactivation)");
            var lines = running.Output.Split('\n');
            for (var i = 0; i < lines.Length; i++)
                if (lines[i].Contains($"Import {jobId}") || lines[i].Contains("Application is shutting down"))
                    output.WriteLine("  stopped silo: " + lines[i].Trim() + (lines[i].Contains("could not") && i + 1 < lines.Length ? " " + lines[i + 1].Trim() : ""));
            output.WriteLine($"SIGTERM -> import started again in process {other.Id}: {restart.TotalSeconds:F2} s");
            output.WriteLine($"SIGTERM -> Processed: {total.TotalSeconds:F1} s; added delay for the user = lost work + hand-over = "
                + $"{(loadingBeforeStop + restart).TotalSeconds:F1} s");
        }
        catch (Exception e) when (started.Count > 0)
        {
            var outputs = started.Select(p => p.Output[^Math.Min(p.Output.Length, 6000)..]);
            throw new InvalidOperationException(e.Message + "\n--- the processes' last output ---\n" + string.Join("\n---\n", outputs), e);
        }
        finally
        {
            foreach (var process in started) process.Dispose();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    /// <summary>Whether a session of the process waits on a lock (PostgreSQL shows the service's sessions under its application_name).</summary>
    private static async Task<bool> WaitingOnLockAsync(string connectionString, int processId)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var find = new NpgsqlCommand(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = @name AND state = 'active' AND wait_event_type = 'Lock')", connection);
        find.Parameters.AddWithValue("name", $"datasetplatform/{processId}");
        return (bool)(await find.ExecuteScalarAsync())!;
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static async Task WriteCsvAsync(string path)
    {
        await using var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16);
        await writer.WriteAsync("Date,Country,A,B,C\n");
        var start = new DateOnly(1900, 1, 1);
        for (var i = 0; i < Rows; i++)
            await writer.WriteAsync($"{start.AddDays(i / 100):yyyy-MM-dd},C{i % 100},{i}.25,{i % 977}.5,{i * 3}\n");
    }
}
