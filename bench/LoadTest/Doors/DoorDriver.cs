using System.Collections;
using System.Globalization;
using System.Text.Json;

namespace DatasetPlatform.LoadTest.Doors;

/// <summary>What every door's driver shares in one run.</summary>
public sealed class LoadContext(Scenario scenario, string runId, long repositoryId, DateTime deadline, CancellationToken cancellationToken)
{
    public Scenario Scenario { get; } = scenario;

    /// <summary>Goes into dataset names, so runs against the same service never collide.</summary>
    public string RunId { get; } = runId;

    public long RepositoryId { get; } = repositoryId;

    /// <summary>After this, retries stop and waiting for imports gives up.</summary>
    public DateTime Deadline { get; } = deadline;

    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>Few status polls at once, so polling never becomes the load.</summary>
    public SemaphoreSlim PollGate { get; } = new(4);
}

/// <summary>
/// Drives one door: creates a dataset, sends upload k, waits for its imports, and checks the dataset's final state against what the
/// acknowledged uploads must have produced.
/// </summary>
public abstract class DoorDriver(LoadContext context)
{
    protected LoadContext Context { get; } = context;

    public abstract Task CreateAsync(DatasetUnderLoad dataset);

    /// <summary>Sends upload <paramref name="upload"/>; fills its record (acknowledged or failure, job ids, rows, bytes).</summary>
    public abstract Task UploadAsync(DatasetUnderLoad dataset, UploadRecord upload);

    /// <summary>Waits until every acknowledged upload's import finished; checks they finished in arrival order.</summary>
    public abstract Task WaitForCompletionAsync(DatasetUnderLoad dataset);

    /// <summary>Reads the dataset back and records every difference from the expected final state.</summary>
    public abstract Task VerifyAsync(DatasetUnderLoad dataset);

    public static DoorDriver For(Door door, LoadContext context) => door switch
    {
        Door.Alphacast => new AlphacastDriver(context),
        Door.Presigned => new PresignedDriver(context),
        Door.Blocks => new BlocksDriver(context),
        Door.Versions => new VersionsDriver(context),
        _ => throw new ArgumentOutOfRangeException(nameof(door)),
    };

    /// <summary>POST /datasets (Basic auth): a table dataset in the run's repository; sets the dataset's id.</summary>
    protected async Task CreateTableDatasetAsync(DatasetUnderLoad dataset)
    {
        var reply = await SendAsync(dataset, () => new HttpRequestMessage(HttpMethod.Post, "/datasets")
        {
            Content = GatewayClient.Form(("name", DatasetName(dataset)), ("repositoryId", Text(Context.RepositoryId)), ("description", "load test")),
        }, Auth.Basic);
        if (reply.Status != 201) throw new InvalidOperationException($"POST /datasets: {reply}");
        dataset.Id = Json(reply).GetProperty("id").GetInt64();
    }

    protected string DatasetName(DatasetUnderLoad dataset) => $"load-{Context.RunId}-{dataset.Index}-{DoorNames.Name(dataset.Door)}";

    protected Task<Reply> SendAsync(DatasetUnderLoad dataset, Func<HttpRequestMessage> build, Auth auth, bool retryUnavailable = false) =>
        dataset.Gateway.SendAsync(build, auth, retryUnavailable, Context.Deadline, Context.CancellationToken);

    protected static JsonElement Json(Reply reply) => JsonDocument.Parse(reply.Body).RootElement.Clone();

    protected static void Acknowledge(UploadRecord upload, long rows, long bytes)
    {
        upload.Acknowledged = DateTime.UtcNow;
        upload.Rows = rows;
        upload.Bytes = bytes;
    }

    protected static void Fail(UploadRecord upload, Reply reply)
    {
        upload.Failure = reply.ToString();
        upload.Indeterminate = reply.Status == 0;
    }

    /// <summary>
    /// Polls GET /datasets/{id}/processes until every job of the acknowledged uploads is Processed or Error, takes each one's processed_at
    /// as its completion, and checks arrival order: in the order the uploads were acknowledged, versions rise and completions never go back.
    /// </summary>
    protected async Task WaitForProcessesAsync(DatasetUnderLoad dataset)
    {
        var jobs = dataset.Uploads.Where(u => u.Acknowledged is not null).SelectMany(u => u.JobIds.Select(j => (Upload: u, Job: j))).ToList();
        if (jobs.Count == 0) return;
        var seen = new Dictionary<long, JsonElement>();
        while (true)
        {
            await Context.PollGate.WaitAsync(Context.CancellationToken);
            try
            {
                for (var offset = 0; ; offset += 5000)
                {
                    var page = await SendAsync(dataset, () => new HttpRequestMessage(HttpMethod.Get, $"/datasets/{dataset.Id}/processes?limit=5000&offset={offset}"), Auth.Basic);
                    if (!page.Ok) break;
                    var items = Json(page);
                    foreach (var item in items.EnumerateArray()) seen[item.GetProperty("id").GetInt64()] = item;
                    if (items.GetArrayLength() < 5000) break;
                }
            }
            finally { Context.PollGate.Release(); }
            var pending = jobs.Count(j => !seen.TryGetValue(j.Job, out var p) || p.GetProperty("status").GetString() is not ("Processed" or "Error"));
            if (pending == 0) break;
            if (DateTime.UtcNow > Context.Deadline)
            {
                dataset.Problem($"{pending} acknowledged import(s) still unfinished at the deadline");
                break;
            }
            await Task.Delay(500, Context.CancellationToken);
        }
        var observed = DateTime.UtcNow;

        int? lastVersion = null;
        DateTime? lastProcessed = null;
        foreach (var (upload, job) in jobs)
        {
            if (!seen.TryGetValue(job, out var process)) continue;
            var status = process.GetProperty("status").GetString();
            if (status is not ("Processed" or "Error")) { upload.Outcome = status; continue; }
            var processedAt = process.TryGetProperty("processedAt", out var p) && p.ValueKind == JsonValueKind.String ? p.GetDateTime().ToUniversalTime() : (DateTime?)null;
            var completed = processedAt is { } at && at >= upload.Started.AddSeconds(-1) && at <= observed.AddSeconds(1) ? at : observed;
            if (upload.Completed is null || completed > upload.Completed) upload.Completed = completed;
            if (status == "Error" || upload.Outcome == "Error")
            {
                upload.Outcome = "Error";
                dataset.Problem($"upload {upload.Upload} (job {job}) ended in Error: {process.GetProperty("statusDescription").GetString()}");
                continue;
            }
            upload.Outcome = "Processed";
            var version = process.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : (int?)null;
            if (version is null) dataset.Problem($"upload {upload.Upload} (job {job}) produced no version: {process.GetProperty("statusDescription").GetString()}");
            else if (lastVersion is not null && version <= lastVersion)
                dataset.Problem($"arrival order broken: upload {upload.Upload} (job {job}) produced version {version} after version {lastVersion} of an earlier upload");
            if (processedAt is not null && lastProcessed is not null && processedAt < lastProcessed)
                dataset.Problem($"arrival order broken: upload {upload.Upload} (job {job}) was processed at {processedAt:O}, before an earlier upload ({lastProcessed:O})");
            lastVersion = version ?? lastVersion;
            lastProcessed = processedAt ?? lastProcessed;
        }
    }

    /// <summary>Streams a CSV download and hands each record (header first) to <paramref name="row"/>.</summary>
    protected async Task<bool> ReadCsvAsync(DatasetUnderLoad dataset, string path, Auth auth, Action<string[]> row)
    {
        using var response = await dataset.Gateway.GetStreamAsync(path, auth, Context.CancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            dataset.Problem($"GET {path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(Context.CancellationToken)}");
            return false;
        }
        await using var stream = await response.Content.ReadAsStreamAsync(Context.CancellationToken);
        using var reader = new StreamReader(stream);
        while (await reader.ReadLineAsync(Context.CancellationToken) is { } line)
        {
            if (line.Length == 0) continue;
            row(CsvLine.Split(line));
        }
        return true;
    }

    protected static int Column(string[] header, string name) => Array.FindIndex(header, h => string.Equals(h, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Reports the keys of <paramref name="expected"/> that were not read back.</summary>
    protected static void ReportMissing(DatasetUnderLoad dataset, BitArray expected, BitArray seen, Func<long, string> describe)
    {
        long missing = 0;
        long first = -1;
        for (var i = 0; i < expected.Length; i++)
        {
            if (!expected[i] || seen[i]) continue;
            if (first < 0) first = i;
            missing++;
        }
        if (missing > 0) dataset.Problem($"{missing} row(s) lost, the first: {describe(first)}");
    }

    protected static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Splits one CSV record (no embedded line breaks: the harness's files have none) honouring quotes.</summary>
public static class CsvLine
{
    public static string[] Split(string line)
    {
        if (!line.Contains('"')) return line.Split(',');
        var fields = new List<string>();
        var field = new System.Text.StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else field.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { fields.Add(field.ToString()); field.Clear(); }
            else field.Append(c);
        }
        fields.Add(field.ToString());
        return [.. fields];
    }
}
