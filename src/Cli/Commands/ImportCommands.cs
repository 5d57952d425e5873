using System.CommandLine;
using DatasetPlatform.Cli.Http;
using DatasetPlatform.Cli.Output;
using Spectre.Console;
using DatasetPlatform.Cli.Uploads;

namespace DatasetPlatform.Cli.Commands;

/// <summary>`dp imports list|follow`: a dataset's import jobs (Alphacast processes), and one followed live to its end.</summary>
internal static class ImportCommands
{
    public static Command Build() => new("imports", "Import jobs: every upload of a dataset, whatever surface it came through.") { List(), Follow() };

    private static Command List()
    {
        var dataset = new Argument<string>("dataset") { Description = "The dataset's numeric id." };
        var (limit, offset) = Paging.Options();
        var command = new Command("list", "A dataset's imports, oldest first.") { dataset, limit, offset };
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, async cli =>
        {
            var id = DatasetRef.Parse(parse.GetValue(dataset)!).RequireId("imports list");
            var list = await cli.Api.GetAsync(Surface.Alphacast, $"datasets/{id}/processes{Paging.Query(parse, limit, offset)}", cancellationToken);
            cli.Show(list, () =>
            {
                var table = cli.Terminal.NewTable("id", "status", "created", "processed", "inserted", "updated", "deleted", "version", "description");
                foreach (var process in list.Root.EnumerateArray())
                {
                    var stats = process.GetProperty("stats");
                    table.AddRow(JsonView.Row(JsonView.Text(process, "id"), JsonView.Text(process, "status"), JsonView.Text(process, "createdAt"),
                        JsonView.Text(process, "processedAt"), JsonView.Text(stats, "insertedValues"), JsonView.Text(stats, "updatedValues"),
                        JsonView.Text(stats, "deletedValues"), JsonView.Text(process, "version"), JsonView.Text(process, "statusDescription")));
                }
                cli.Terminal.Out.Write(table);
                Paging.Footer(cli, list);
            });
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Follow()
    {
        var dataset = new Argument<string>("dataset") { Description = "The dataset's numeric id." };
        var import = new Argument<long>("import") { Description = "The import's (process's) id." };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the import to finish.", DefaultValueFactory = _ => 3600 };
        var command = new Command("follow", "Show an import's live status until it ends; exit 5 if it failed.") { dataset, import, timeout };
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, async cli =>
        {
            var id = DatasetRef.Parse(parse.GetValue(dataset)!).RequireId("imports follow");
            var finished = await ImportWatcher.WaitAsync(cli, id, parse.GetValue(import), TimeSpan.FromSeconds(Math.Max(1, parse.GetValue(timeout))), cancellationToken);
            return ImportWatcher.Report(cli, finished);
        }));
        return command;
    }
}
