using System.Globalization;
using System.Text;

namespace DatasetPlatform.LoadTest;

/// <summary>The run's figures and verdict as a Markdown report (printed, and written to bench/results/&lt;date&gt;-&lt;scenario&gt;.md).</summary>
public static class LoadReport
{
    /// <summary>Service settings worth knowing when reading the figures; shown as set in the harness's environment (the service it started gets the same).</summary>
    private static readonly string[] SettingNames =
        ["DP_MAX_CONCURRENT_UPLOADS", "DP_MAX_CONCURRENT_IMPORTS", "DP_MAX_CONCURRENT_DOWNLOADS", "DP_DB_POOL_SIZE", "DP_DB_UPLOAD_CONNECTIONS", "MAX_DATASET_UPLOAD_BYTES"];

    public static string Markdown(LoadTestResult result)
    {
        var o = result.Options;
        var s = o.Scenario;
        var text = new StringBuilder();
        var acknowledged = result.Uploads.Count(u => u.Acknowledged is not null);
        var total = result.Uploads.Count();
        text.AppendLine(Invariant($"# Load test `{s.Name}`, {result.StartedUtc:yyyy-MM-dd HH:mm} UTC"));
        text.AppendLine();
        text.AppendLine("| | |");
        text.AppendLine("|---|---|");
        text.AppendLine(Invariant($"| verification | **{(result.Passed ? "PASSED" : "FAILED")}**: {acknowledged}/{total} uploads acknowledged, {result.Uploads.Count(u => u.Outcome == "Processed")} Processed; {result.Datasets.Count(d => d.Problems.Count == 0)}/{result.Datasets.Count} datasets read back exactly (arrival order held, no row lost or doubled) |"));
        text.AppendLine(Invariant($"| scenario | {s.Datasets} datasets x {s.UploadsPerDataset} uploads x {s.RowsPerUpload} rows, {s.Clients} concurrent clients; doors {string.Join(", ", s.Doors.Distinct().Select(DoorNames.Name))} (datasets take them in turn) |"));
        text.AppendLine(Invariant($"| target | {o.Target}; gateways {string.Join(", ", result.Gateways)}; silos {o.Silos} |"));
        text.AppendLine(Invariant($"| machine | {result.Machine.Cores} cores, {result.Machine.Memory}, {result.Machine.Os}, {result.Machine.Runtime}; load average {result.Machine.LoadAverageAtStart} at start, {result.MachineAfter} at end |"));
        text.AppendLine(Invariant($"| settings | {string.Join(", ", SettingNames.Select(n => $"{n}={Environment.GetEnvironmentVariable(n) ?? "default"}"))} |"));
        if (result.Chaos is not null) text.AppendLine(Invariant($"| chaos | {result.Chaos} |"));
        text.AppendLine(o.WarmupDatasets > 0
            ? Invariant($"| warm-up | {o.WarmupDatasets} datasets x {s.UploadsPerDataset} uploads of the same shape first, neither measured nor verified (the service's hot paths compiled, as in a service that has been running) |")
            : "| warm-up | none: the measured load is the service's first (its JIT still compiling hot paths) |");
        if (o.Note is not null) text.AppendLine(Invariant($"| note | {o.Note} |"));
        text.AppendLine();

        text.AppendLine(Invariant($"## Throughput (wall {result.Wall.TotalSeconds:F1} s: first upload sent to last import finished)"));
        text.AppendLine();
        text.AppendLine("Time to 201: request start until acknowledged (presigned: URL request + PUT; blocks and seed-004 versions answer once stored). "
            + "Time to complete: request start until the import finished (the service's processed_at).");
        text.AppendLine();
        text.AppendLine("| door | datasets | uploads ok | rows | MB | uploads/s | rows/s | MB/s | 201 p50 / p95 / p99 / max s | complete p50 / p95 / p99 / max s |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---|---|");
        var wall = Math.Max(result.Wall.TotalSeconds, 1e-3);
        text.AppendLine(Row("all", result.Datasets, wall));
        foreach (var door in s.Doors.Distinct()) text.AppendLine(Row(DoorNames.Name(door), [.. result.Datasets.Where(d => d.Door == door)], wall));
        text.AppendLine();

        text.AppendLine("## References (same run, same machine)");
        text.AppendLine();
        text.AppendLine("| | figure | |");
        text.AppendLine("|---|---|---|");
        var rowsPerSecond = result.Uploads.Where(u => u.Acknowledged is not null).Sum(u => u.Rows) / wall;
        if (result.Copy is { Error: null } copy)
            text.AppendLine(Invariant($"| two parallel `psql \\copy` streams, {copy.RowsPerStream:N0} rows each (date, text, 6 x float8) | {copy.Seconds:F2} s, {copy.RowsPerSecond:N0} rows/s | run's rows/s = **{rowsPerSecond / copy.RowsPerSecond:F2} x** the two streams |"));
        else if (result.Copy is { } failed) text.AppendLine(Invariant($"| two parallel `psql \\copy` streams | not measured: {failed.Error} | |"));
        else text.AppendLine("| two parallel `psql \\copy` streams | not measured (only when the harness started PostgreSQL: embedded mode) | |");
        if (result.FixedCost is { Error: null } cost)
            text.AppendLine(Invariant($"| fixed cost of one 10-row Alphacast upload, sequential, {cost.Samples} samples | median {cost.MedianTo201 * 1000:F0} ms to 201, **{cost.MedianEndToEnd * 1000:F0} ms** to Processed (p95 {cost.P95EndToEnd * 1000:F0} ms) | |"));
        else if (result.FixedCost is { } costFailed) text.AppendLine(Invariant($"| fixed cost of one small upload | not measured: {costFailed.Error} | |"));
        text.AppendLine();

        if (result.LoadCpu is { } cpu) AppendCpu(text, result, cpu, wall);

        text.AppendLine("## Answers by status (every request of the run, retries included)");
        text.AppendLine();
        text.AppendLine("| status | count |");
        text.AppendLine("|---|---:|");
        foreach (var (status, count) in result.Statuses.Snapshot()) text.AppendLine(Invariant($"| {status} | {count} |"));
        text.AppendLine();

        var failures = result.Failures().ToList();
        if (failures.Count > 0)
        {
            text.AppendLine(Invariant($"## What failed ({failures.Count} line(s){(failures.Count > 50 ? ", the first 50" : "")})"));
            text.AppendLine();
            foreach (var failure in failures.Take(50)) text.AppendLine("- " + failure.Replace('\n', ' '));
            text.AppendLine();
        }
        return text.ToString();
    }

    private static string Row(string label, IReadOnlyList<DatasetUnderLoad> datasets, double wall)
    {
        var uploads = datasets.SelectMany(d => d.Uploads).Where(u => u.Acknowledged is not null).ToList();
        var rows = uploads.Sum(u => u.Rows);
        var megabytes = uploads.Sum(u => u.Bytes) / 1e6;
        var to201 = uploads.Select(u => (u.Acknowledged!.Value - u.Started).TotalSeconds).ToList();
        var complete = uploads.Where(u => u.Completed is not null).Select(u => (u.Completed!.Value - u.Started).TotalSeconds).ToList();
        return Invariant($"| {label} | {datasets.Count} | {uploads.Count} | {rows:N0} | {megabytes:F2} | {uploads.Count / wall:F1} | {rows / wall:N0} | {megabytes / wall:F2} | {Quantiles(to201)} | {Quantiles(complete)} |");
    }

    /// <summary>
    /// CPU seconds by process during the load phase, per upload and per 1000 rows, against what the \copy reference spent per
    /// 1000 rows (psql is the load client's reaped children), and the share of the machine's cores the run kept busy.
    /// </summary>
    private static void AppendCpu(StringBuilder text, LoadTestResult result, CpuUse cpu, double wall)
    {
        var uploads = Math.Max(1, result.Uploads.Count(u => u.Acknowledged is not null));
        var kiloRows = Math.Max(1e-3, result.Uploads.Where(u => u.Acknowledged is not null).Sum(u => u.Rows) / 1000.0);
        // Without the service's or PostgreSQL's pids (a service the harness did not start) their columns stay empty.
        var (service, postgres) = (result.Options.ServicePids.Count > 0, result.Options.PostgresPids.Count > 0);
        string Cells(CpuUse c, double divisor, string format) => string.Join(" | ",
            new double?[] { service ? c.Service : null, c.Client, postgres ? c.Postgres : null, c.Service + c.Client + c.Postgres }
            .Select(v => v is { } seconds ? (seconds * 1000 / divisor).ToString(format, CultureInfo.InvariantCulture) : "-"));
        text.AppendLine("## CPU (user + system, from /proc: what the run cost the machine, whatever else ran on it)");
        text.AppendLine();
        text.AppendLine("| | service | load client | PostgreSQL | all |");
        text.AppendLine("|---|---:|---:|---:|---:|");
        text.AppendLine(Invariant($"| load phase, s | {Cells(cpu, 1000, "F1")} |"));
        text.AppendLine(Invariant($"| per upload, ms | {Cells(cpu, uploads, "F1")} |"));
        text.AppendLine(Invariant($"| per 1000 rows, ms | {Cells(cpu, kiloRows, "F1")} |"));
        if (result is { CopyCpu: { } copyCpu, Copy: { Error: null } copy })
            text.AppendLine(Invariant($"| two `psql \\copy` streams, per 1000 rows, ms (load client = psql) | - | {copyCpu.Client * 1e6 / (2.0 * copy.RowsPerStream):F1} | {copyCpu.Postgres * 1e6 / (2.0 * copy.RowsPerStream):F1} | {(copyCpu.Client + copyCpu.Postgres) * 1e6 / (2.0 * copy.RowsPerStream):F1} |"));
        text.AppendLine();
        text.AppendLine(Invariant($"Busy: {(cpu.Service + cpu.Client + cpu.Postgres) / (wall * result.Machine.Cores):P0} of {result.Machine.Cores} cores x {wall:F1} s wall (the rest idle or other processes')."));
        text.AppendLine();
    }

    private static string Quantiles(IReadOnlyCollection<double> seconds) => seconds.Count == 0
        ? "-"
        : Invariant($"{Stats.Percentile(seconds, 50):F2} / {Stats.Percentile(seconds, 95):F2} / {Stats.Percentile(seconds, 99):F2} / {seconds.Max():F2}");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
