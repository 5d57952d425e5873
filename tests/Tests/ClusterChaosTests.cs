using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;
using Xunit.Abstractions;

namespace DatasetPlatform.Tests;

/// <summary>
/// The cluster under failure, as processes: silos killed with SIGKILL while they import, a gateway killed mid-upload, a silo
/// that joins late. What a user must see: every upload acknowledged with 201 ends Processed (or Error for a bad file) exactly
/// once, in its dataset's arrival order, with exactly the expected rows read back. The failover figures are printed.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class ClusterChaosTests(PlatformFixture platform, ITestOutputHelper output)
{
    private readonly Stopwatch _sinceTestStart = Stopwatch.StartNew();

    /// <summary>A figure for the test's output, with the time since the test started.</summary>
    private void Log(string line) => output.WriteLine($"[{_sinceTestStart.Elapsed.TotalSeconds,6:F1} s] {line}");

    /// <summary>
    /// Rows of the big upload: enough for its import to run a few seconds on two busy cores, so that the test sees its COPY
    /// (polling every 20 ms) and kills the silo mid-way. 400,000 rows once took several seconds; with the load path as fast as
    /// it is now they took well under one, and a full CI run once missed the COPY altogether.
    /// </summary>
    private const int BigRows = 1_500_000;

    /// <summary>
    /// Generous, for two shared cores: kill to rerun took 8-15 s here (the dead silo declared so after 4-8 s), but a dataset
    /// grain that died with the silo waits for the silos' sweep (30 s) or its reminder (1 min), and busy cores stretch it all.
    /// </summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Killing_the_silo_that_imports_loses_nothing_and_a_late_silo_takes_work()
    {
        await using var cluster = await TestClusterProcesses.StartAsync(platform, silos: 3, gateways: 1);
        try
        {
            var api = cluster.Client(timeout: TimeSpan.FromMinutes(2));
            var datasets = new List<DatasetUploads>();
            for (var d = 0; d < 10; d++) datasets.Add(new DatasetUploads(await api.NewDatasetAsync()));
            var big = datasets[0];

            // The big import first, then a first small upload to every other dataset while it runs.
            var bigFile = await WriteBigCsvAsync(cluster.DataDir);
            Log("cluster up and datasets made");
            var bigJob = (await SendAsync(api, big, Upload.Big(bigFile), Stopwatch.StartNew())).ProcessId!.Value;
            var sinceStart = Stopwatch.StartNew();
            var firstRound = Task.WhenAll(datasets.Skip(1).Select(d => SendAsync(api, d, Upload.Small(d.Uploads.Count), sinceStart)));

            // Find the silo that runs the big import: its COPY into the dataset's table, and its own log line for the job.
            var (victim, copy) = await FindImporterAsync(cluster, big.Id);
            Assert.NotNull(victim.LastLineWith($"Import {bigJob} of dataset {big.Id} starting in process {victim.Id}"));
            victim.Kill();
            var sinceKill = Stopwatch.StartNew();
            Log($"killed silo process {victim.Id} while it ran: {copy}");
            await firstRound;

            // During the outage: a client polling the killed job every 200 ms, and new uploads to every dataset (the big
            // dataset's queue behind its killed job, a bad file in the middle of another's).
            using var stopProbing = new CancellationTokenSource();
            var probes = ProbeAsync(cluster.Client(timeout: TimeSpan.FromMinutes(2)), big.Id, bigJob, sinceKill, stopProbing.Token);
            var failover = WatchFailoverAsync(cluster, victim, big.Id, bigJob, sinceKill);
            var outageUploads = Task.WhenAll(datasets.Select(async d =>
            {
                var second = d == datasets[3] ? Upload.Bad() : Upload.Small(d.Uploads.Count);
                var first = await SendAsync(api, d, second, sinceKill);
                return new[] { first, await SendAsync(api, d, Upload.Small(d.Uploads.Count), sinceKill) };
            }));

            var bigDone = await WaitForEndAsync(api, big.Id, bigJob);
            var bigDoneAt = sinceKill.Elapsed;
            await stopProbing.CancelAsync();
            var sentDuringOutage = (await outageUploads).SelectMany(s => s).ToList();
            var (deadAt, rerunAt, rerunProcess, copyAgainAt) = await failover;
            Assert.True(bigDone.GetProperty("status").GetString() == "Processed", bigDone.ToString());

            Log($"failover: silo declared dead after {deadAt:F1} s; the killed job started again in process {rerunProcess} after "
                + $"{rerunAt:F1} s (its COPY seen after {copyAgainAt:F1} s); it finished after {bigDoneAt.TotalSeconds:F1} s");
            var polled = await probes;
            Log($"GET of the killed job every 200 ms during the outage: {Describe(polled)}");
            // A client polling its process sees it all through the outage: the gateway's grain calls time out short and the
            // catalog answers, so no request hangs on the dead silo or fails.
            Assert.All(polled, probe => Assert.True(probe.Status == HttpStatusCode.OK, $"GET of the process at {probe.At.TotalSeconds:F1} s: {probe.Status} {probe.JobStatus}"));
            Log($"uploads sent after the kill: {Describe(sentDuringOutage.Select(s => new Probe(s.At, s.Took, s.Status, s.Error)).ToList())}");

            // The cluster kept accepting uploads with a silo down, and the survivors ran them.
            Assert.All(sentDuringOutage, s => Assert.True(s.Status == HttpStatusCode.Created, $"upload {s.Index} to dataset {s.DatasetId}: {s.Status} {s.Error}"));
            var survivors = cluster.Silos.Where(s => s != victim).ToList();
            foreach (var sent in sentDuringOutage)
            {
                var ranIn = await ProcessThatRanAsync(cluster, sent.DatasetId, sent.ProcessId!.Value);
                Assert.True(survivors.Any(s => s.Id == ranIn), $"process {sent.ProcessId} ran in {ranIn}, not in a surviving silo");
            }

            // A silo that joins now takes work.
            Log($"outage checked at {sinceKill.Elapsed.TotalSeconds:F1} s after the kill");
            var late = await cluster.StartSiloAsync();
            var sinceJoin = Stopwatch.StartNew();
            var lateDatasets = await UploadUntilAJobRunsInAsync(cluster, api, late);
            Log($"a silo started late ran its first import {sinceJoin.Elapsed.TotalSeconds:F1} s after it was ready "
                + $"({lateDatasets.Sum(d => d.Uploads.Count)} uploads to new datasets)");

            var checking = Stopwatch.StartNew();
            foreach (var dataset in datasets.Concat(lateDatasets)) await AssertEndedInOrderWithExpectedRowsAsync(api, dataset);
            Log($"all {datasets.Count + lateDatasets.Count} datasets checked in {checking.Elapsed.TotalSeconds:F1} s");
        }
        catch (Exception e)
        {
            throw cluster.WithOutputs(e);
        }
    }

    [Fact]
    public async Task A_gateway_killed_mid_run_and_started_again_loses_no_acknowledged_upload()
    {
        await using var cluster = await TestClusterProcesses.StartAsync(platform, silos: 2, gateways: 1);
        try
        {
            var api = cluster.Client(timeout: TimeSpan.FromSeconds(30));
            var datasets = new List<DatasetUploads>();
            for (var d = 0; d < 6; d++) datasets.Add(new DatasetUploads(await api.NewDatasetAsync()));

            // Each dataset's client uploads in a loop, one at a time, retrying a failed request with the same file until it is
            // acknowledged, as a client must; the gateway is killed while uploads stream, and started again on its port.
            var sinceStart = Stopwatch.StartNew();
            using var stop = new CancellationTokenSource();
            var clients = datasets.Select(d => UploadUntilStoppedAsync(api, d, sinceStart, stop.Token)).ToList();
            await Poll.UntilAsync(() => datasets.All(d => d.Uploads.Count >= 2), Deadline, "every dataset has two acknowledged uploads");
            var gateway = cluster.Gateways[0];
            gateway.Kill();
            var killedAt = sinceStart.Elapsed;
            await cluster.StartGatewayAsync(cluster.GatewayHttpPorts[0]);
            var backAt = sinceStart.Elapsed;
            var acknowledgedBefore = datasets.Sum(d => d.Uploads.Count);
            await Poll.UntilAsync(() => datasets.Sum(d => d.Uploads.Count) >= acknowledgedBefore + 2 * datasets.Count, Deadline, "uploads go on through the new gateway");
            await stop.CancelAsync();
            var attempts = (await Task.WhenAll(clients)).SelectMany(a => a).ToList();

            var failed = attempts.Where(a => a.Status != HttpStatusCode.Created).ToList();
            Log($"gateway killed at {killedAt.TotalSeconds:F1} s, the new one ready at {backAt.TotalSeconds:F1} s; "
                + $"{attempts.Count} upload requests, {failed.Count} failed: "
                + string.Join("; ", failed.GroupBy(f => f.Status?.ToString() ?? f.Error).Select(g => $"{g.Count()} x {g.Key}")));
            Assert.Contains(failed, f => f.At >= killedAt && f.At <= backAt + TimeSpan.FromSeconds(1)); // the kill was felt

            foreach (var dataset in datasets) await AssertEndedInOrderWithExpectedRowsAsync(api, dataset, retriedRequests: true);
        }
        catch (Exception e)
        {
            throw cluster.WithOutputs(e);
        }
    }

    // ---- the uploads and what each one should do ----

    /// <summary>One dataset's acknowledged uploads, in the order their 201s came (its client sends one at a time).</summary>
    private sealed class DatasetUploads(long id)
    {
        public long Id { get; } = id;
        public List<Sent> Uploads { get; } = [];
    }

    /// <summary>A row of a test file: key (date as a day number, country number) and value.</summary>
    private readonly record struct Row(int Day, int Country, long Value)
    {
        public static string Date(int day) => new DateOnly(1900, 1, 1).AddDays(day).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        public string Line => $"{Date(Day)},C{Country},{Value}.25";
    }

    /// <summary>An upload: its file and the rows it should leave (none for a bad file, which must fail naming row and column).</summary>
    private sealed record Upload(string Name, IReadOnlyList<Row> Rows, string? File = null, string? BadLine = null)
    {
        /// <summary>Rows 10 days wide, 5 days on from the upload before: half updates, half new keys; values differ from every other upload.</summary>
        public static Upload Small(int index)
        {
            var seed = Random.Shared.Next(1, 1_000_000);
            var rows = Enumerable.Range(index * 5, 10).SelectMany(day => new[] { 0, 1 }.Select(country => new Row(day, country, seed * 1000L + day * 2 + country))).ToList();
            return new Upload($"small-{index}.csv", rows);
        }

        /// <summary>A file whose 8th data row has a value that is no number: the import fails naming that row and column, loading nothing.</summary>
        public static Upload Bad()
        {
            var lines = Enumerable.Range(900, 10).Select(day => new Row(day, 0, day).Line).ToList();
            lines[7] = $"{Row.Date(907)},C0,not-a-number";
            return new Upload("bad.csv", [], BadLine: string.Join("\n", lines));
        }

        public static Upload Big(string file) => new("big.csv", [.. BigRowsOf()], file);

        public static IEnumerable<Row> BigRowsOf()
        {
            for (var i = 0; i < BigRows; i++) yield return new Row(i / 100, i % 100, i);
        }

        public bool IsBad => BadLine is not null;

        public HttpContent Content()
        {
            var content = new MultipartFormDataContent { { new StringContent(ApiClient.DateCountryManifest), "manifest" } };
            if (File is not null) content.Add(new StreamContent(System.IO.File.OpenRead(File)), "data", Name);
            else content.Add(new StringContent("Date,Country,Value\n" + (BadLine ?? string.Join("\n", Rows.Select(r => r.Line))) + "\n"), "data", Name);
            return content;
        }
    }

    /// <summary>An upload request and its answer: status, time since the phase began, how long it took, the process it created.</summary>
    private sealed record Sent(long DatasetId, int Index, Upload Upload, TimeSpan At, TimeSpan Took, HttpStatusCode? Status, long? ProcessId, string? Error);

    /// <summary>A GET and its answer; <c>JobStatus</c> is the process status on a 200, else the body or the error.</summary>
    private sealed record Probe(TimeSpan At, TimeSpan Took, HttpStatusCode? Status, string? JobStatus);

    private static async Task<string> WriteBigCsvAsync(string directory)
    {
        var path = Path.Combine(directory, "big.csv");
        await using var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16);
        await writer.WriteAsync("Date,Country,Value\n");
        foreach (var row in Upload.BigRowsOf()) await writer.WriteAsync(row.Line + "\n");
        return path;
    }

    /// <summary>Sends one upload; a 201 is added to the dataset's acknowledged uploads.</summary>
    private static async Task<Sent> SendAsync(ApiClient api, DatasetUploads dataset, Upload upload, Stopwatch clock)
    {
        var at = clock.Elapsed;
        var took = Stopwatch.StartNew();
        Sent sent;
        try
        {
            using var response = await api.Http.PutAsync($"/datasets/{dataset.Id}/data?onConflictUpdateDB=true", upload.Content());
            var body = await response.Content.ReadAsStringAsync();
            long? processId = response.StatusCode == HttpStatusCode.Created ? JsonDocument.Parse(body).RootElement.GetProperty("id").GetInt64() : null;
            sent = new Sent(dataset.Id, dataset.Uploads.Count, upload, at, took.Elapsed, response.StatusCode, processId, processId is null ? body : null);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            sent = new Sent(dataset.Id, dataset.Uploads.Count, upload, at, took.Elapsed, null, null, e.GetType().Name + ": " + e.Message);
        }
        if (sent.ProcessId is not null) lock (dataset.Uploads) dataset.Uploads.Add(sent);
        return sent;
    }

    /// <summary>Uploads to the dataset one file after another until stopped; a failed request is sent again, same file, until acknowledged.</summary>
    private static async Task<List<Sent>> UploadUntilStoppedAsync(ApiClient api, DatasetUploads dataset, Stopwatch clock, CancellationToken stop)
    {
        var attempts = new List<Sent>();
        while (!stop.IsCancellationRequested)
        {
            var upload = Upload.Small(dataset.Uploads.Count);
            while (true)
            {
                if (clock.Elapsed > Deadline) throw new TimeoutException($"Dataset {dataset.Id}: an upload was never acknowledged.");
                var sent = await SendAsync(api, dataset, upload, clock);
                attempts.Add(sent);
                if (sent.ProcessId is not null) break;
                await Task.Delay(200, CancellationToken.None); // the gateway is restarting
            }
        }
        return attempts;
    }

    // ---- watching the cluster ----

    /// <summary>The silo whose connection runs a COPY into the dataset's table (pg_stat_activity's application_name names the process).</summary>
    private static async Task<(ServiceProcess Silo, string Statement)> FindImporterAsync(TestClusterProcesses cluster, long datasetId)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var (processId, query) in await cluster.RunningStatementsAsync("COPY"))
            {
                if (!query.Contains(DataTables.QualifiedName(datasetId) + " ", StringComparison.Ordinal)) continue;
                return (cluster.Silos.Single(s => s.Id == processId), query);
            }
            await Task.Delay(20);
        }
        throw new TimeoutException($"No COPY into dataset {datasetId} was seen.");
    }

    /// <summary>
    /// Seconds from the kill until the membership table says the silo is dead, until another silo logs that it starts the
    /// killed job, and until its COPY shows up in pg_stat_activity.
    /// </summary>
    private async Task<(double DeadAt, double RerunAt, int RerunProcess, double CopyAgainAt)> WatchFailoverAsync(TestClusterProcesses cluster,
        ServiceProcess victim, long datasetId, long jobId, Stopwatch sinceKill)
    {
        var victimPort = cluster.SiloPorts[cluster.Silos.ToList().IndexOf(victim)];
        double? deadAt = null, rerunAt = null, copyAgainAt = null;
        var rerunProcess = 0;
        var deadline = DateTime.UtcNow + Deadline;
        // Until all three are seen, or the job ended (its second COPY may be too short to catch).
        while ((deadAt is null || rerunAt is null || copyAgainAt is null) && DateTime.UtcNow < deadline
            && !(rerunAt is not null && await IsEndedAsync(cluster, jobId)))
        {
            deadAt ??= !(await cluster.ActiveSiloPortsAsync()).Contains(victimPort) ? sinceKill.Elapsed.TotalSeconds : null;
            foreach (var silo in cluster.Silos.Where(s => s != victim && rerunAt is null))
            {
                if (silo.LastLineWith($"Import {jobId} of dataset {datasetId} starting in process {silo.Id}") is null) continue;
                rerunAt = sinceKill.Elapsed.TotalSeconds;
                rerunProcess = silo.Id;
            }
            if (copyAgainAt is null && (await cluster.RunningStatementsAsync("COPY")).Any(c => c.ProcessId != victim.Id && c.Query.Contains(DataTables.QualifiedName(datasetId) + " ")))
                copyAgainAt = sinceKill.Elapsed.TotalSeconds;
            await Task.Delay(50);
        }
        Assert.True(rerunAt is not null, $"The killed job {jobId} never started again in another silo.");
        return (deadAt ?? double.NaN, rerunAt!.Value, rerunProcess, copyAgainAt ?? double.NaN);
    }

    /// <summary>A client polling the job: one GET every 200 ms (not waiting for the one before), until stopped.</summary>
    private static async Task<List<Probe>> ProbeAsync(ApiClient api, long datasetId, long jobId, Stopwatch clock, CancellationToken stop)
    {
        var probes = new ConcurrentBag<Probe>();
        var running = new List<Task>();
        while (!stop.IsCancellationRequested)
        {
            running.Add(Task.Run(async () =>
            {
                var at = clock.Elapsed;
                var took = Stopwatch.StartNew();
                try
                {
                    using var response = await api.Http.GetAsync($"/datasets/{datasetId}/processes/{jobId}");
                    var body = await response.Content.ReadAsStringAsync();
                    var status = response.IsSuccessStatusCode ? JsonDocument.Parse(body).RootElement.GetProperty("status").GetString() : body;
                    probes.Add(new Probe(at, took.Elapsed, response.StatusCode, status));
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    probes.Add(new Probe(at, took.Elapsed, null, e.GetType().Name));
                }
            }, CancellationToken.None));
            try { await Task.Delay(200, stop); }
            catch (OperationCanceledException) { }
        }
        await Task.WhenAll(running);
        return [.. probes.OrderBy(p => p.At)];
    }

    private static string Describe(IReadOnlyList<Probe> probes)
    {
        if (probes.Count == 0) return "none";
        var sorted = probes.Select(p => p.Took.TotalMilliseconds).Order().ToList();
        var byStatus = probes.GroupBy(p => p.Status is { } s ? ((int)s).ToString(CultureInfo.InvariantCulture) : "no answer")
            .Select(g => $"{g.Count()} x {g.Key} (from {g.Min(p => p.At).TotalSeconds:F1} s to {g.Max(p => p.At).TotalSeconds:F1} s)");
        var failure = probes.FirstOrDefault(p => p.Status is not (HttpStatusCode.OK or HttpStatusCode.Created));
        return $"{probes.Count} requests: {string.Join(", ", byStatus)}; latency median {sorted[sorted.Count / 2]:F0} ms, "
            + $"95th {sorted[(int)(sorted.Count * 0.95)]:F0} ms, max {sorted[^1]:F0} ms"
            + (failure is null ? "" : $"; first failure: {failure.Status} {failure.JobStatus?[..Math.Min(failure.JobStatus.Length, 300)]}");
    }

    /// <summary>Polls a process until it ends; answers other than 200 (a gateway call into a dead silo) are retried until the deadline.</summary>
    private static async Task<JsonElement> WaitForEndAsync(ApiClient api, long datasetId, long processId)
    {
        var deadline = DateTime.UtcNow + Deadline;
        string? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await api.Http.GetAsync($"/datasets/{datasetId}/processes/{processId}");
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                if (response.IsSuccessStatusCode)
                {
                    var process = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
                    if (process.GetProperty("status").GetString() is "Processed" or "Error") return process;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { last = e.Message; }
            await Task.Delay(200);
        }
        throw new TimeoutException($"Process {processId} of dataset {datasetId} did not end; last answer: {last}");
    }

    /// <summary>The process id of the silo whose last run of the job this was, from its "starting in process" log line.</summary>
    private static async Task<int> ProcessThatRanAsync(TestClusterProcesses cluster, long datasetId, long jobId)
    {
        var line = $"Import {jobId} of dataset {datasetId} starting in process ";
        var deadline = DateTime.UtcNow + Deadline;
        while (DateTime.UtcNow < deadline)
        {
            // The last silo to log a start ran it to the end (a start after a crash comes later than the crashed one).
            var ran = cluster.Silos.Select(s => (s.Id, At: s.LastLineWith(line))).Where(s => s.At is not null).ToList();
            if (ran.Count > 0 && await IsEndedAsync(cluster, jobId)) return ran.MaxBy(r => r.At)!.Id;
            await Task.Delay(100);
        }
        throw new TimeoutException($"No silo logged the start of import {jobId}, or it did not end.");
    }

    private static async Task<bool> IsEndedAsync(TestClusterProcesses cluster, long jobId)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT processed_at IS NOT NULL FROM dp.import_jobs WHERE id = @id", connection);
        command.Parameters.AddWithValue("id", jobId);
        return (bool)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Uploads to new datasets, a few at a time, until one of them runs in <paramref name="silo"/>; returns those datasets.</summary>
    private static async Task<List<DatasetUploads>> UploadUntilAJobRunsInAsync(TestClusterProcesses cluster, ApiClient api, ServiceProcess silo)
    {
        var datasets = new List<DatasetUploads>();
        var deadline = DateTime.UtcNow + Deadline;
        while (DateTime.UtcNow < deadline)
        {
            var batch = new List<DatasetUploads>();
            for (var i = 0; i < 4; i++) batch.Add(new DatasetUploads(await api.NewDatasetAsync()));
            datasets.AddRange(batch);
            var sent = await Task.WhenAll(batch.Select(d => SendAsync(api, d, Upload.Small(0), Stopwatch.StartNew())));
            Assert.All(sent, s => Assert.True(s.Status == HttpStatusCode.Created, $"{s.Status} {s.Error}"));
            foreach (var s in sent)
                if (await ProcessThatRanAsync(cluster, s.DatasetId, s.ProcessId!.Value) == silo.Id) return datasets;
        }
        throw new TimeoutException($"No import ran in the silo started late ({datasets.Count} uploads).");
    }

    // ---- what the user reads back ----

    /// <summary>
    /// Every acknowledged upload ended (Processed, or Error naming row and column for the bad file) exactly once and in arrival order:
    /// each one's version follows the one before, its counts are those of applying it on top of the ones before, its end comes after
    /// theirs; and the dataset's rows are exactly the model's (last upload wins on a shared key).
    /// With <paramref name="retriedRequests"/>, a request cut by a kill may have been stored without its 201 reaching the client;
    /// it was sent again with the same file, so such an extra process may exist, right before its acknowledged twin.
    /// </summary>
    private static async Task AssertEndedInOrderWithExpectedRowsAsync(ApiClient api, DatasetUploads dataset, bool retriedRequests = false)
    {
        foreach (var sent in dataset.Uploads) await WaitForEndAsync(api, dataset.Id, sent.ProcessId!.Value);
        var processes = (await api.GetJsonAsync($"/datasets/{dataset.Id}/processes?limit=1000")).EnumerateArray().ToDictionary(p => p.GetProperty("id").GetInt64());
        var acknowledged = dataset.Uploads.Select(u => u.ProcessId!.Value).ToList();
        Assert.Equal(acknowledged.Order(), acknowledged); // one at a time per dataset: arrival order is id order
        var extras = processes.Keys.Except(acknowledged).ToList();
        if (!retriedRequests) Assert.Empty(extras);

        var model = new Dictionary<(int Day, int Country), long>();
        var version = -1;
        DateTime? previousEnd = null;
        foreach (var id in processes.Keys.Order())
        {
            var process = processes[id];
            var status = process.GetProperty("status").GetString();
            var upload = dataset.Uploads.FirstOrDefault(u => u.ProcessId == id)?.Upload;
            var context = $"dataset {dataset.Id}, process {id}: {process}";
            if (upload is null)
            {
                // Stored, but its 201 was lost with the killed gateway: the client's retry (the next process) carries the same
                // file, so this one must be the same upload, applied in its turn, and the retry changes nothing.
                var twin = dataset.Uploads.First(u => u.ProcessId > id).Upload;
                upload = twin;
            }
            var processedAt = process.GetProperty("processedAt").GetDateTime();
            Assert.True(previousEnd is null || processedAt > previousEnd, $"ended before the upload that came before it: {context}");
            previousEnd = processedAt;
            if (upload.IsBad)
            {
                Assert.True(status == "Error", context);
                var description = process.GetProperty("statusDescription").GetString()!;
                Assert.Contains("Row 8", description);
                Assert.Contains("'Value'", description);
                Assert.Equal(JsonValueKind.Null, process.GetProperty("version").ValueKind);
                continue;
            }
            Assert.True(status == "Processed", context);
            var inserted = upload.Rows.Count(r => !model.ContainsKey((r.Day, r.Country)));
            var updated = upload.Rows.Count(r => model.TryGetValue((r.Day, r.Country), out var value) && value != r.Value);
            var stats = process.GetProperty("stats");
            Assert.True(stats.GetProperty("insertedValues").GetInt64() == inserted && stats.GetProperty("updatedValues").GetInt64() == updated,
                $"expected {inserted} values added and {updated} updated: {context}");
            if (inserted + updated > 0) Assert.True(process.GetProperty("version").GetInt32() == ++version, $"expected version {version}: {context}");
            foreach (var row in upload.Rows) model[(row.Day, row.Country)] = row.Value;
        }

        var csv = await api.DownloadAsync(dataset.Id, "?$format=csv");
        var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var header = lines[0].Split(',');
        int date = Array.IndexOf(header, "Date"), country = Array.IndexOf(header, "Country"), value = Array.IndexOf(header, "Value");
        Assert.Equal(model.Count, lines.Length - 1);
        foreach (var line in lines.Skip(1))
        {
            var fields = line.Split(',');
            var key = (DateOnly.ParseExact(fields[date], "yyyy-MM-dd", CultureInfo.InvariantCulture).DayNumber - new DateOnly(1900, 1, 1).DayNumber,
                int.Parse(fields[country].AsSpan(1), CultureInfo.InvariantCulture));
            Assert.True(model.TryGetValue(key, out var expected) && fields[value] == $"{expected}.25", $"dataset {dataset.Id}: unexpected row {line}");
        }
    }
}
