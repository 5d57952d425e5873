using System.Diagnostics;
using System.Text;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// A command a test runs to its end as a user's shell would (`dp`, bash with a README block): stdout and stderr captured
/// whole (carriage returns kept), stdin given or closed, killed with its children past a deadline.
/// </summary>
public static class ChildProcess
{
    /// <param name="environment">Variables to set; a null value removes the variable.</param>
    /// <param name="onStderrLine">Told each line of stderr as it comes, while the command still runs.</param>
    public static async Task<CliResult> RunAsync(string program, IEnumerable<string> arguments, TimeSpan timeout,
        string? workingDirectory = null, IDictionary<string, string?>? environment = null, string? stdin = null, Action<string>? onStderrLine = null)
    {
        var info = new ProcessStartInfo(program, arguments)
        {
            WorkingDirectory = workingDirectory ?? "",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null) info.Environment.Remove(name);
            else info.Environment[name] = value;
        }
        using var process = Process.Start(info)!;
        if (stdin is not null) await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = ReadAllAsync(process.StandardError, onStderrLine ?? (_ => { }));
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', info.ArgumentList)} did not finish within {timeout.TotalMinutes} min.\n{await stderr}");
        }
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>All of <paramref name="reader"/>, exactly as written, each line also told as it completes.</summary>
    private static async Task<string> ReadAllAsync(StreamReader reader, Action<string> onLine)
    {
        var all = new StringBuilder();
        var buffer = new char[4096];
        var lineStart = 0;
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            all.Append(buffer, 0, read);
            for (var i = all.Length - read; i < all.Length; i++)
            {
                if (all[i] != '\n') continue;
                onLine(all.ToString(lineStart, i - lineStart).TrimEnd('\r'));
                lineStart = i + 1;
            }
        }
        if (lineStart < all.Length) onLine(all.ToString(lineStart, all.Length - lineStart));
        return all.ToString();
    }
}
