using DatasetPlatform.Cli.Output;
using Spectre.Console;

namespace DatasetPlatform.Cli.Uploads;

/// <summary>A live bar of bytes moved while <c>work</c> runs (terminals only); afterwards one status line says how much moved.</summary>
internal static class TransferProgress
{
    private static readonly TimeSpan Refresh = TimeSpan.FromMilliseconds(100);

    public static async Task<T> RunAsync<T>(Terminal terminal, string label, long? totalBytes, Func<long> bytesMoved, Func<Task<T>> work,
        Func<string>? describe = null, bool showBar = true)
    {
        var started = DateTime.UtcNow;
        T result;
        if (!terminal.Interactive || !showBar)
        {
            result = await work();
        }
        else
        {
            result = await terminal.Error.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn())
                .StartAsync(async context =>
                {
                    var task = context.AddTask(label, maxValue: Math.Max(1, totalBytes ?? 1));
                    task.IsIndeterminate = totalBytes is null;
                    var running = work();
                    while (!running.IsCompleted)
                    {
                        task.Value = Math.Min(bytesMoved(), task.MaxValue);
                        if (describe is not null) task.Description = describe();
                        await Task.WhenAny(running, Task.Delay(Refresh));
                    }
                    if (running.IsCompletedSuccessfully)
                    {
                        if (totalBytes is null) task.MaxValue = Math.Max(1, bytesMoved());
                        task.Value = task.MaxValue;
                    }
                    if (describe is not null) task.Description = describe();
                    return await running;
                });
        }
        var seconds = (DateTime.UtcNow - started).TotalSeconds;
        terminal.Status($"{label}: {Bytes(bytesMoved())} in {seconds:0.0} s.");
        return result;
    }

    public static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.0} KiB",
        < 1024L * 1024 * 1024 => $"{bytes / (1024.0 * 1024):0.0} MiB",
        _ => $"{bytes / (1024.0 * 1024 * 1024):0.00} GiB",
    };
}
