using System.CommandLine;
using DatasetPlatform.Cli.Commands;

namespace DatasetPlatform.Cli;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("dp: the DatasetPlatform command-line client. Log in once (dp login), then manage repositories and "
            + "datasets, upload files with live progress, follow imports, download rows and compare versions.")
        {
            GlobalOptions.Json,
            LoginCommands.Login(),
            LoginCommands.Logout(),
            RepositoryCommands.Build(),
            DatasetCommands.Build(),
            UploadCommand.Build(),
            ImportCommands.Build(),
            DownloadCommand.Build(),
            VersionCommands.Build(),
        };
        var parse = root.Parse(args);
        // Usage errors get their own exit code (System.CommandLine's default is 1, which scripts could not tell from a failure).
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) await Console.Error.WriteLineAsync($"dp: {error.Message}");
            await Console.Error.WriteLineAsync("Run 'dp --help' (or 'dp <command> --help') for usage.");
            return ExitCodes.Usage;
        }
        return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = true });
    }
}
