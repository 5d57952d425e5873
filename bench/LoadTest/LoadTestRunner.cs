using System.Diagnostics;
using System.Text.Json;
using DatasetPlatform.LoadTest.Doors;

namespace DatasetPlatform.LoadTest;

/// <summary>Everything one run measured and found.</summary>
public sealed class LoadTestResult
{
    public required LoadTestOptions Options { get; init; }
    public required MachineInfo Machine { get; init; }
    public required DateTime StartedUtc { get; init; }
    public required List<DatasetUnderLoad> Datasets { get; init; }
    public required StatusCounts Statuses { get; init; }
    public required IReadOnlyList<string> Gateways { get; init; }

    /// <summary>From the first upload's start to the last import's completion.</summary>
    public TimeSpan Wall { get; set; }

    public FixedCostResult? FixedCost { get; set; }
    public CopyBaselineResult? Copy { get; set; }
    public string? Chaos { get; set; }
    public string? MachineAfter { get; set; }

    /// <summary>CPU seconds spent during the load phase (first upload sent until the last import finished) and during the \copy reference.</summary>
    public CpuUse? LoadCpu { get; set; }
    public CpuUse? CopyCpu { get; set; }

    public IEnumerable<UploadRecord> Uploads => Datasets.SelectMany(d => d.Uploads);

    /// <summary>Every upload acknowledged and finished Processed, and every dataset read back exactly as expected.</summary>
    public bool Passed => Datasets.All(d => d.Problems.Count == 0) && Uploads.All(u => u.Acknowledged is not null && u.Outcome == "Processed");

    /// <summary>What keeps the run from passing, one line each (at most a few per dataset).</summary>
    public IEnumerable<string> Failures()
    {
        foreach (var dataset in Datasets)
        {
            var label = $"{DoorNames.Name(dataset.Door)} dataset #{dataset.Index} ({(dataset.Id != 0 ? dataset.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) : dataset.Name)})";
            foreach (var upload in dataset.Uploads.Where(u => u.Acknowledged is null))
                yield return $"{label}: upload {upload.Upload} not acknowledged{(upload.Indeterminate ? " (no answer: outcome unknown)" : "")}: {upload.Failure}";
            foreach (var upload in dataset.Uploads.Where(u => u.Acknowledged is not null && u.Outcome != "Processed"))
                yield return $"{label}: upload {upload.Upload} acknowledged but its import ended {upload.Outcome ?? "unseen"}";
            foreach (var problem in dataset.Problems) yield return $"{label}: {problem}";
            if (dataset.MoreProblems > 0) yield return $"{label}: and {dataset.MoreProblems} more problem(s)";
        }
    }
}

/// <summary>
/// Runs a scenario against the gateways given: measures the fixed cost of one small upload and (when PostgreSQL is at hand) the two-stream
/// \copy reference, creates the datasets, sends every dataset's uploads in order from a bounded pool of concurrent clients, waits for the
/// imports, and reads every dataset back to verify it.
/// </summary>
public static class LoadTestRunner
{
    public static async Task<LoadTestResult> RunAsync(LoadTestOptions options, IReadOnlyList<GatewayClient> gateways, StatusCounts statuses,
        TextWriter log, CancellationToken cancellationToken)
    {
        var scenario = options.Scenario;
        var runId = DateTime.UtcNow.ToString("MMddHHmmss", System.Globalization.CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..4];
        var result = new LoadTestResult
        {
            Options = options,
            Machine = MachineInfo.Read(),
            StartedUtc = DateTime.UtcNow,
            Datasets = [],
            Statuses = statuses,
            Gateways = [.. gateways.Select(g => g.Label)],
        };
        var setupDeadline = DateTime.UtcNow + options.Timeout;
        var first = gateways[0];

        var repository = await first.SendAsync(() => new HttpRequestMessage(HttpMethod.Post, "/repositories")
        {
            Content = GatewayClient.Form(("name", $"load {scenario.Name} {runId}"), ("privacy", "Private"), ("description", "load test")),
        }, Auth.Basic, false, setupDeadline, cancellationToken);
        if (repository.Status != 201) throw new InvalidOperationException($"POST /repositories: {repository}");
        var repositoryId = JsonDocument.Parse(repository.Body).RootElement.GetProperty("id").GetInt64();

        if (scenario.FixedCostSamples > 0)
        {
            log.WriteLine($"fixed cost: {scenario.FixedCostSamples} sequential 10-row uploads");
            result.FixedCost = await FixedCostProbe.RunAsync(first, repositoryId, runId, scenario.FixedCostSamples, setupDeadline, cancellationToken);
        }
        if (options.CopyBaseline is { } psql)
        {
            var rows = options.CopyRowsPerStream ?? Math.Clamp((long)scenario.Datasets * scenario.UploadsPerDataset * scenario.RowsPerUpload / 2, 100_000, 1_000_000);
            log.WriteLine($"baseline: two parallel psql \\copy streams of {rows} rows each");
            var beforeCopy = ProcessCpu.Now(options);
            result.Copy = await CopyBaseline.RunAsync(psql, rows, cancellationToken);
            result.CopyCpu = ProcessCpu.Now(options) - beforeCopy;
        }

        if (options.WarmupDatasets > 0)
        {
            // The same load into datasets of their own, neither measured nor verified: the service's hot paths compiled and
            // its pools filled before the measured run, which is then the steady state a long-running service is in.
            log.WriteLine($"warm-up: {options.WarmupDatasets} datasets x {scenario.UploadsPerDataset} uploads (not measured)");
            var warmupContext = new LoadContext(scenario, runId + "-warmup", repositoryId, DateTime.UtcNow + options.Timeout, cancellationToken);
            var warmupDrivers = scenario.Doors.Distinct().ToDictionary(d => d, d => DoorDriver.For(d, warmupContext));
            var warmup = Enumerable.Range(0, options.WarmupDatasets).Select(i => new DatasetUnderLoad(scenario.Datasets + i, scenario.Doors[i % scenario.Doors.Count],
                new RowValues(scenario.Datasets + i, scenario.RowsPerUpload), scenario.UploadsPerDataset, gateways[i % gateways.Count])).ToList();
            await CreateAsync(warmup, warmupDrivers);
            await LoadAsync(warmup, warmupDrivers, int.MaxValue, null);
        }

        var context = new LoadContext(scenario, runId, repositoryId, DateTime.UtcNow + options.Timeout, cancellationToken);
        var drivers = scenario.Doors.Distinct().ToDictionary(d => d, d => DoorDriver.For(d, context));
        for (var i = 0; i < scenario.Datasets; i++)
        {
            var door = scenario.Doors[i % scenario.Doors.Count];
            result.Datasets.Add(new DatasetUnderLoad(i, door, new RowValues(i, scenario.RowsPerUpload), scenario.UploadsPerDataset, gateways[i % gateways.Count]));
        }
        log.WriteLine($"creating {scenario.Datasets} datasets");
        await CreateAsync(result.Datasets, drivers);

        log.WriteLine($"load: {scenario.Datasets} datasets x {scenario.UploadsPerDataset} uploads x {scenario.RowsPerUpload} rows from {scenario.Clients} clients");
        var killAt = options.KillPids.Count > 0 || options.KillOneOf.Count > 0 ? Math.Max(1, (int)(options.KillAfter * scenario.Datasets * scenario.UploadsPerDataset)) : int.MaxValue;
        var start = DateTime.UtcNow;
        var beforeLoad = ProcessCpu.Now(options);
        await LoadAsync(result.Datasets, drivers, killAt, result);
        result.LoadCpu = ProcessCpu.Now(options) - beforeLoad;
        var end = result.Uploads.Select(u => u.Completed ?? u.Acknowledged ?? DateTime.MinValue).DefaultIfEmpty(DateTime.UtcNow).Max();
        result.Wall = (end > start ? end : DateTime.UtcNow) - start;

        log.WriteLine("verifying: reading every dataset back");
        await VerifyAsync();
        result.MachineAfter = MachineInfo.LoadAverage();
        return result;

        async Task CreateAsync(IReadOnlyList<DatasetUnderLoad> datasets, Dictionary<Door, DoorDriver> doorDrivers)
        {
            using var creating = new SemaphoreSlim(scenario.Clients);
            await Task.WhenAll(datasets.Select(async d =>
            {
                await creating.WaitAsync(cancellationToken);
                try { await doorDrivers[d.Door].CreateAsync(d); }
                finally { creating.Release(); }
            }));
        }

        // Every dataset's uploads in order, from the scenario's clients; the chaos kill (into the result) once killAt are acknowledged.
        async Task LoadAsync(IReadOnlyList<DatasetUnderLoad> datasets, Dictionary<Door, DoorDriver> doorDrivers, int killAt, LoadTestResult? measured)
        {
            var acknowledged = 0;
            var clock = Stopwatch.StartNew();
            using var slots = new SemaphoreSlim(scenario.Clients);
            var total = datasets.Count * scenario.UploadsPerDataset;
            var progress = Task.Run(async () =>
            {
                while (Volatile.Read(ref acknowledged) < total && !cancellationToken.IsCancellationRequested)
                {
                    await Task.Delay(TimeSpan.FromSeconds(10), cancellationToken).ContinueWith(_ => { });
                    var now = Volatile.Read(ref acknowledged);
                    if (now <= total) log.WriteLine($"  {clock.Elapsed.TotalSeconds,6:F0} s: {now}/{total} uploads acknowledged");
                }
            }, CancellationToken.None);
            await Task.WhenAll(datasets.Select(async dataset =>
            {
                var driver = doorDrivers[dataset.Door];
                foreach (var upload in dataset.Uploads)
                {
                    await slots.WaitAsync(cancellationToken);
                    try
                    {
                        upload.Started = DateTime.UtcNow;
                        await driver.UploadAsync(dataset, upload);
                    }
                    finally { slots.Release(); }
                    // The dataset's next upload goes only after this one's acknowledgement, so arrival order is the upload number.
                    if (upload.Acknowledged is not null && Interlocked.Increment(ref acknowledged) == killAt && measured is not null)
                        measured.Chaos = await KillAsync(options, clock.Elapsed, log, cancellationToken);
                    if (upload.Indeterminate) break;
                }
                await driver.WaitForCompletionAsync(dataset);
            }));
            Interlocked.Exchange(ref acknowledged, int.MaxValue);
            await progress;
        }

        async Task VerifyAsync()
        {
            using (var verifying = new SemaphoreSlim(4))
            {
                await Task.WhenAll(result.Datasets.Select(async d =>
                {
                    if (d.Uploads.Any(u => u.Indeterminate))
                    {
                        d.Problem("not verified: an upload got no answer, so what the dataset should hold is unknown");
                        return;
                    }
                    await verifying.WaitAsync(cancellationToken);
                    try { await drivers[d.Door].VerifyAsync(d); }
                    catch (Exception e) when (e is HttpRequestException or IOException or JsonException) { d.Problem($"verification could not read the dataset: {e.Message}"); }
                    finally { verifying.Release(); }
                }));
            }
        }
    }

    private static async Task<string> KillAsync(LoadTestOptions options, TimeSpan at, TextWriter log, CancellationToken cancellationToken)
    {
        var done = new List<string>();
        var pids = options.KillPids.ToList();
        if (options.KillOneOf.Count > 0)
        {
            var (pid, why) = await ChaosTarget.PickAsync(options.KillOneOf, options.CopyBaseline ?? PsqlSettings.FromEnvironment(), cancellationToken);
            done.Add($"chose pid {pid} of {string.Join(", ", options.KillOneOf)}: {why}");
            pids.Add(pid);
        }
        foreach (var pid in pids)
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill();
                done.Add($"pid {pid} killed (SIGKILL)");
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                done.Add($"pid {pid} not killed: {e.Message}");
            }
        }
        var text = $"at {at.TotalSeconds:F1} s: {string.Join("; ", done)}";
        log.WriteLine("chaos: " + text);
        return text;
    }
}
