
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
    /// <param name="onStderrLine">Told each line of stderr as it comes, while the command still runs.</param>
    public Task<CliResult> RunAsync(string[] arguments, IDictionary<string, string?>? environment, string? stdin = null,
        Action<string>? onStderrLine = null) =>
        RunProcessAsync("dotnet", [Dll, .. arguments], environment, stdin, onStderrLine);

    /// <summary>
    /// `dp` on a terminal: under a pseudo-terminal that `script` (util-linux) opens, as in an interactive shell. What it
    /// wrote to stdout and stderr, both the terminal, comes back as <see cref="CliResult.Stdout"/>.
    /// </summary>
    public Task<CliResult> RunInTerminalAsync(params string[] arguments)
    {
        static string Quoted(string word) => "'" + word.Replace("'", "'\\''") + "'";
        var command = string.Join(' ', new[] { "dotnet", Dll }.Concat(arguments).Select(Quoted));
        return RunProcessAsync("script", ["--quiet", "--return", "--command", command, "/dev/null"], null, null, null);
    }

    private Task<CliResult> RunProcessAsync(string program, string[] programArguments, IDictionary<string, string?>? environment, string? stdin,
        Action<string>? onStderrLine)
    {
        var variables = new Dictionary<string, string?>
        {
            ["DP_URL"] = url,
            ["DP_API_KEY"] = key,
            ["XDG_CONFIG_HOME"] = ConfigHome,
            // A colour terminal as far as the environment can tell: redirected output must still come out plain.
            ["TERM"] = "xterm-256color",
            ["NO_COLOR"] = null,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>()) variables[name] = value;
        return ChildProcess.RunAsync(program, programArguments, RunTimeout, environment: variables, stdin: stdin, onStderrLine: onStderrLine);
    }
}
