using System.CommandLine;
using DatasetPlatform.Cli.Config;
using DatasetPlatform.Cli.Http;

namespace DatasetPlatform.Cli.Commands;

/// <summary>`dp login` checks the key against the service before saving it; `dp logout` forgets it.</summary>
internal static class LoginCommands
{
    public static Command Login()
    {
        var url = new Option<string>("--url") { Description = $"The gateway's base URL (default {Connection.DefaultUrl}).", DefaultValueFactory = _ => Connection.DefaultUrl };
        var key = new Option<string>("--key") { Description = "The API key; '-' reads it from stdin (keeps it out of the shell history).", Required = true };
        var command = new Command("login", "Check an API key against the service and save it (mode 600) for later commands.") { url, key };
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, async cli =>
        {
            var keyText = parse.GetValue(key)!;
            if (keyText == "-") keyText = (await Console.In.ReadLineAsync(cancellationToken))?.Trim() ?? "";
            if (keyText.Length == 0) throw new CliException(ExitCodes.Usage, "The key is empty.");
            var connection = new Connection(Connection.ParseUrl(parse.GetValue(url)!), keyText);
            using (var api = new DpApi(connection, cli.Terminal.Warning))
            {
                // Any authenticated read will do; a refused key fails here (exit 3) and nothing is saved.
                await api.GetAsync(Surface.Alphacast, "repositories?limit=1", cancellationToken);
            }
            LoginStore.Write(new StoredLogin(connection.Url.ToString().TrimEnd('/'), keyText));
            cli.Terminal.Result($"Logged in to {connection.Url.ToString().TrimEnd('/')}; key saved in {LoginStore.FilePath}.");
            return ExitCodes.Ok;
        }));
        return command;
    }

    public static Command Logout()
    {
        var command = new Command("logout", "Forget the saved key.");
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, cli =>
        {
            cli.Terminal.Result(LoginStore.Delete() ? $"Logged out; removed {LoginStore.FilePath}." : "Not logged in.");
            return Task.FromResult(ExitCodes.Ok);
        }));
        return command;
    }
}
