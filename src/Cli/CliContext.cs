using System.CommandLine;
using DatasetPlatform.Cli.Config;
using DatasetPlatform.Cli.Http;
using DatasetPlatform.Cli.Output;

namespace DatasetPlatform.Cli;

/// <summary>
/// One run of a command: its terminal, its API connection (opened on first use, so `dp login` and `--help` need none),
/// and the translation of every failure into a message on stderr and an exit code.
/// </summary>
internal sealed class CliContext : IDisposable
{
    private DpApi? _api;

    private CliContext(Terminal terminal) => Terminal = terminal;

    public Terminal Terminal { get; }

    public DpApi Api => _api ??= new DpApi(Connection.Resolve(), Terminal.Warning);

    /// <summary>--json prints the body as the API sent it; otherwise <paramref name="human"/> says it for people.</summary>
    public void Show(ApiJson json, Action human)
    {
        if (Terminal.Json) Terminal.WriteJson(json);
        else human();
    }

    public static Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken, Func<CliContext, Task<int>> action) =>
        RunAsync(Terminal.Create(parse.GetValue(GlobalOptions.Json)), cancellationToken, action);

    private static async Task<int> RunAsync(Terminal terminal, CancellationToken cancellationToken, Func<CliContext, Task<int>> action)
    {
        using var context = new CliContext(terminal);
        try
        {
            return await action(context);
        }
        catch (ApiException e)
        {
            terminal.Problem(e.Title, e.Detail, e.FieldErrors);
            return e.ExitCode;
        }
        catch (CliException e)
        {
            terminal.Problem(e.Message, null);
            return e.ExitCode;
        }
        catch (HttpRequestException e)
        {
            // The innermost message says what happened (connection refused, reset, name not resolved).
            var cause = e.InnerException is { } inner ? $"{e.Message} ({inner.GetBaseException().Message})" : e.Message;
            terminal.Problem($"The request to {context._api?.BaseUrl} failed", cause);
            return ExitCodes.Error;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            terminal.Problem("Cancelled.", null);
            return 130;
        }
    }

    public void Dispose() => _api?.Dispose();
}
