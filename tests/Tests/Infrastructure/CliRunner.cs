using System.Diagnostics;
using System.Text;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// Runs the built `dp` (src/Cli) as its own process, as a user's shell would, with stdout and stderr redirected to pipes
/// and captured. DP_URL/DP_API_KEY point it at the service unless a test overrides them; its config lives in a
/// directory of the test's own (XDG_CONFIG_HOME), never the user's.
/// </summary>
public sealed class CliRunner(string url, string key)
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    public string ConfigHome { get; } = Directory.CreateTempSubdirectory("dp-cli-config-").FullName;

    public static string Dll => typeof(DatasetPlatform.Cli.Program).Assembly.Location;

    public Task<CliResult> RunAsync(params string[] arguments) => RunAsync(arguments, null);

    /// <param name="environment">Variables to set for this run; a null value removes the variable (e.g. DP_API_KEY to use the saved login).</param>
    public async Task<CliResult> RunAsync(string[] arguments, IDictionary<string, string?>? environment, string? stdin = null)
    {
        var info = new ProcessStartInfo("dotnet", [Dll, .. arguments])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        info.Environment["DP_URL"] = url;
        info.Environment["DP_API_KEY"] = key;
        info.Environment["XDG_CONFIG_HOME"] = ConfigHome;
        // A colour terminal as far as the environment can tell: redirected output must still come out plain.
        info.Environment["TERM"] = "xterm-256color";
        info.Environment.Remove("NO_COLOR");
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null) info.Environment.Remove(name);
            else info.Environment[name] = value;
        }
        using var process = Process.Start(info)!;
        if (stdin is not null) await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(RunTimeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dp {string.Join(' ', arguments)} did not finish within {RunTimeout.TotalMinutes} min.\n{await stderr}");
        }
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }
}
