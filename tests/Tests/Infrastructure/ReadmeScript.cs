using System.Text;
using System.Text.RegularExpressions;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// A ```bash block of README.md, run as a reader runs it: with bash, in the directory beside the service's `.data`, the
/// README's base URL (http://localhost:5080) replaced by the test service's. Every curl call of the block is recorded as a
/// <see cref="ReadmeStep"/> (status, method, URL, body) by a curl function defined before the block that passes every
/// argument through and copies what curl prints; nothing of the block itself is changed.
/// </summary>
public static class ReadmeScript
{
    private const string ReadmeBaseUrl = "http://localhost:5080";
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(4);

    /// <summary>The <paramref name="index"/>-th ```bash block of the section under <paramref name="heading"/> (a whole heading line).</summary>
    public static string Block(string heading, int index = 0)
    {
        var lines = File.ReadAllLines(Path.Combine(DeployFiles.Root, "README.md"));
        var start = Array.IndexOf(lines, heading);
        if (start < 0) throw new InvalidOperationException($"README.md has no heading '{heading}'.");
        var blocks = new List<string>();
        List<string>? block = null;
        for (var i = start + 1; i < lines.Length && !(block is null && lines[i].StartsWith("## ", StringComparison.Ordinal)); i++)
        {
            if (block is null && lines[i] == "```bash") block = [];
            else if (block is not null && lines[i] == "```")
            {
                blocks.Add(string.Join('\n', block));
                block = null;
            }
            else block?.Add(lines[i]);
        }
        return index < blocks.Count ? blocks[index]
            : throw new InvalidOperationException($"README.md's section '{heading}' has {blocks.Count} bash block(s), not {index + 1}.");
    }

    /// <summary>
    /// Runs <paramref name="blocks"/> one after the other in one bash (as one shell session), with `set -euo pipefail`, in
    /// <paramref name="directory"/>; <paramref name="prelude"/> is bash run before them (functions, variables).
    /// </summary>
    public static async Task<ReadmeRun> RunAsync(string directory, string baseUrl, IEnumerable<string> blocks, string prelude = "",
        IDictionary<string, string?>? environment = null)
    {
        var steps = Directory.CreateTempSubdirectory("dp-readme-steps-").FullName;
        var script = new StringBuilder();
        script.AppendLine("set -euo pipefail");
        // Each call: its status line (curl's --write-out, to stderr, into a file) and a copy of its stdout, numbered in order.
        script.AppendLine($$"""
            curl() {
              local n=$(( $(cat '{{steps}}/count' 2>/dev/null || echo 0) + 1 ))
              echo $n > '{{steps}}/count'
              command curl --write-out '%{stderr}%{http_code} %{method} %{url_effective}' "$@" 2> "{{steps}}/$n.status" | tee "{{steps}}/$n.out"
            }
            """);
        script.AppendLine(prelude);
        foreach (var block in blocks) script.AppendLine(block.Replace(ReadmeBaseUrl, baseUrl, StringComparison.Ordinal));
        var path = Path.Combine(directory, $"readme-{Guid.NewGuid():N}.sh");
        await File.WriteAllTextAsync(path, script.ToString(), new UTF8Encoding(false));

        var result = await ChildProcess.RunAsync("bash", [path], RunTimeout, directory, environment);
        var run = new ReadmeRun(result.ExitCode, result.Stdout, result.Stderr, ReadSteps(steps));
        Directory.Delete(steps, recursive: true);
        return run;
    }

    private static List<ReadmeStep> ReadSteps(string directory)
    {
        var list = new List<ReadmeStep>();
        for (var n = 1; File.Exists(Path.Combine(directory, $"{n}.status")); n++)
        {
            var status = Regex.Match(File.ReadAllText(Path.Combine(directory, $"{n}.status")), @"(\d{3}) (\S+) (\S+)$");
            var body = File.Exists(Path.Combine(directory, $"{n}.out")) ? File.ReadAllText(Path.Combine(directory, $"{n}.out")) : "";
            list.Add(status.Success
                ? new ReadmeStep(n, int.Parse(status.Groups[1].Value), status.Groups[2].Value, new Uri(status.Groups[3].Value), body)
                : new ReadmeStep(n, 0, "?", new Uri("about:blank"), body));
        }
        return list;
    }
}

/// <summary>One curl call of a README block: its HTTP status (0: no answer), method, URL and what it printed.</summary>
public sealed record ReadmeStep(int Number, int Status, string Method, Uri Url, string Body)
{
    public override string ToString() => $"#{Number} {Method} {Url.PathAndQuery} -> {Status}: {(Body.Length > 300 ? Body[..300] + "..." : Body)}";
}

/// <summary>What a README script did: bash's exit code and output, and its curl calls in order.</summary>
public sealed record ReadmeRun(int ExitCode, string Stdout, string Stderr, IReadOnlyList<ReadmeStep> Steps)
{
    /// <summary>The last call of <paramref name="method"/> whose path and query (unescaped) match <paramref name="pathPattern"/>.</summary>
    public ReadmeStep Last(string method, string pathPattern) =>
        Steps.LastOrDefault(s => s.Method == method && Regex.IsMatch(Uri.UnescapeDataString(s.Url.PathAndQuery), pathPattern))
        ?? throw new Xunit.Sdk.XunitException($"No {method} matching {pathPattern} was sent.\n{this}");

    public override string ToString() =>
        $"exit {ExitCode}\n--- calls\n{string.Join('\n', Steps)}\n--- stdout\n{Tail(Stdout)}\n--- stderr\n{Tail(Stderr)}";

    private static string Tail(string text) => text.Length > 4000 ? "..." + text[^4000..] : text;
}
