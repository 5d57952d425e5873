using DatasetPlatform.Cli.Http;
using Spectre.Console;

namespace DatasetPlatform.Cli.Output;

/// <summary>
/// Where output goes. Stdout carries results (tables, --json bodies, downloaded rows); stderr carries progress, status
/// lines and errors. Progress bars only when both are terminals; colours only on a terminal and never with NO_COLOR set,
/// so a redirected or piped `dp` writes plain text without escape sequences.
/// </summary>
internal sealed class Terminal
{
    private Terminal(bool json)
    {
        Json = json;
        var noColor = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
        Interactive = !Console.IsOutputRedirected && !Console.IsErrorRedirected;
        Out = Create(Console.Out, terminal: !Console.IsOutputRedirected, colour: !Console.IsOutputRedirected && !noColor);
        Error = Create(Console.Error, terminal: !Console.IsErrorRedirected, colour: !Console.IsErrorRedirected && !noColor);
    }

    public static Terminal Create(bool json) => new(json);

    /// <summary>--json: print the API's JSON bodies on stdout instead of tables.</summary>
    public bool Json { get; }

    /// <summary>Live progress bars and spinners (on stderr) are shown.</summary>
    public bool Interactive { get; }

    public IAnsiConsole Out { get; }
    public IAnsiConsole Error { get; }

    private static IAnsiConsole Create(TextWriter writer, bool terminal, bool colour)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = colour ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        // Redirected output has no window: keep table rows on one line each for whoever reads the file.
        if (!terminal) console.Profile.Width = 400;
        return console;
    }

    /// <summary>The API's JSON exactly as it came, one document per line group.</summary>
    public void WriteJson(ApiJson json) => Console.Out.WriteLine(json.Raw);

    /// <summary>A result line on stdout.</summary>
    public void Result(string text) => Out.WriteLine(text);

    /// <summary>A status line on stderr (what happens while a command runs).</summary>
    public void Status(string text) => Error.WriteLine(text, new Style(Color.Grey));

    public void Warning(string text) => Error.WriteLine(text, new Style(Color.Yellow));

    /// <summary>A failure: the title, then the detail, then each listed problem, on stderr.</summary>
    public void Problem(string title, string? detail, IEnumerable<string>? details = null)
    {
        Error.WriteLine($"dp: {title}", new Style(Color.Red));
        if (!string.IsNullOrWhiteSpace(detail)) Error.WriteLine(detail);
        foreach (var line in details ?? []) Error.WriteLine("  " + line);
    }

    public Table NewTable(params string[] headers)
    {
        var table = new Table().Border(Out.Profile.Capabilities.Ansi ? TableBorder.Rounded : TableBorder.Simple);
        foreach (var header in headers) table.AddColumn(new TableColumn(new Text(header)));
        return table;
    }
}
