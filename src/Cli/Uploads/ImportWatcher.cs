using System.Text.Json;
using DatasetPlatform.Cli.Http;
using DatasetPlatform.Cli.Output;
using Spectre.Console;

namespace DatasetPlatform.Cli.Uploads;

/// <summary>
/// Follows an import job to its end through the Alphacast process endpoint, whose `progress` carries the rows read so far
/// while the job runs. Polls quickly at first, then once a second; gives up after the timeout (the job goes on).
/// </summary>
internal static class ImportWatcher
{
    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan SlowestPoll = TimeSpan.FromSeconds(1);

    public static bool IsFinished(JsonElement process) => JsonView.Text(process, "status") is "Processed" or "Error";

    public static async Task<ApiJson> WaitAsync(CliContext cli, long datasetId, long jobId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var path = $"datasets/{datasetId}/processes/{jobId}";
        var deadline = DateTime.UtcNow + timeout;
        var terminal = cli.Terminal;

        async Task<ApiJson> PollAsync(Action<JsonElement> show)
        {
            var delay = FirstPoll;
            while (true)
            {
                var process = await cli.Api.GetAsync(Surface.Alphacast, path, cancellationToken);
                show(process.Root);
                if (IsFinished(process.Root)) return process;
                if (DateTime.UtcNow > deadline)
                    throw new CliException(ExitCodes.Error,
                        $"Import {jobId} is still {JsonView.Text(process.Root, "status")} after {timeout.TotalSeconds:0} s; `dp imports follow {datasetId} {jobId}` watches it further.");
                await Task.Delay(delay, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(SlowestPoll.Ticks, delay.Ticks * 3 / 2));
            }
        }

        if (!terminal.Interactive)
        {
            var last = "";
            return await PollAsync(process =>
            {
                var status = JsonView.Text(process, "status");
                if (status != last && !IsFinished(process)) terminal.Status($"Import {jobId}: {status}");
                last = status;
            });
        }
        return await terminal.Error.Status().Spinner(Spinner.Known.Dots).StartAsync($"Import {jobId}: waiting", context =>
            PollAsync(process => context.Status = Describe(jobId, process)));
    }

    /// <summary>"Import 7: Processing, 120,000 rows read (11.2 MiB)".</summary>
    public static string Describe(long jobId, JsonElement process)
    {
        var status = JsonView.Text(process, "status");
        if (process.TryGetProperty("progress", out var progress) && progress.ValueKind == JsonValueKind.Object)
        {
            var rows = progress.GetProperty("rowsRead").GetInt64();
            var bytes = progress.GetProperty("bytesRead").GetInt64();
            return $"Import {jobId}: {status}, {rows:N0} rows read ({TransferProgress.Bytes(bytes)})";
        }
        return $"Import {jobId}: {status}";
    }

    /// <summary>
    /// Says how an Alphacast process ended: Processed on stdout (exit 0), Error on stderr with the API's message and each
    /// error's row and column (exit 5). With --json the process body is printed either way.
    /// </summary>
    public static int Report(CliContext cli, ApiJson process)
    {
        var root = process.Root;
        var id = JsonView.Text(root, "id");
        var description = JsonView.Text(root, "statusDescription");
        if (cli.Terminal.Json) cli.Terminal.WriteJson(process);
        if (JsonView.Text(root, "status") == "Processed")
        {
            if (!cli.Terminal.Json)
            {
                var version = JsonView.Text(root, "version");
                cli.Terminal.Result($"Import {id}: Processed. {description}{(version.Length > 0 ? $" (version {version})" : "")}".TrimEnd());
            }
            return ExitCodes.Ok;
        }
        var errors = root.TryGetProperty("errors", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().Select(e => $"row {JsonView.Text(e, "row")}, column {Column(e, "column")}: {JsonView.Text(e, "message")}").ToList()
            : [];
        // The description already names the first error; list them only when there is more to say.
        if (errors.Count == 1 && list[0].TryGetProperty("message", out var only) && description.Contains(only.GetString() ?? "", StringComparison.Ordinal)) errors = [];
        cli.Terminal.Problem($"Import {id} failed (Error); the dataset is unchanged.", description, errors);
        return ExitCodes.ImportFailed;
    }

    private static string Column(JsonElement error, string property) => JsonView.Text(error, property) is { Length: > 0 } name ? name : "-";
}
