using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json;
using DatasetPlatform.Cli.Http;
using DatasetPlatform.Cli.Output;

namespace DatasetPlatform.Cli.Commands;

/// <summary>
/// `dp datasets create|list|show|delete`. Lists and details come from the Alphacast /datasets routes (numeric ids, which
/// every surface takes); --search uses seed 004's /api/datasets search, the one list the API searches.
/// </summary>
internal static class DatasetCommands
{
    public static Command Build() => new("datasets", "Datasets: versioned tables inside a repository.") { Create(), List(), Show(), Delete() };

    private static Command Create()
    {
        var repository = new Option<long>("--repo") { Description = "The repository's id.", Required = true };
        var name = new Option<string>("--name") { Description = "The dataset's name (unique in its repository).", Required = true };
        var description = new Option<string>("--description") { Description = "What it holds.", DefaultValueFactory = _ => "" };
        var columns = new Option<string[]>("--column")
        {
            Description = "name:type (string, integer, decimal, boolean, date); repeat it. Makes a block (Data8 input) dataset for `dp upload --blocks`.",
        };
        var command = new Command("create", "Create a dataset; with --column, a block dataset with those columns.") { repository, name, description, columns };
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, async cli =>
        {
            var body = new Dictionary<string, object?>
            {
                ["name"] = parse.GetValue(name),
                ["repositoryId"] = parse.GetValue(repository),
                ["description"] = parse.GetValue(description),
            };
            var declared = parse.GetValue(columns) ?? [];
            if (declared.Length > 0)
            {
                var types = new Dictionary<string, string>();
                foreach (var column in declared)
                {
                    var colon = column.LastIndexOf(':');
                    if (colon <= 0 || colon == column.Length - 1)
                        throw new CliException(ExitCodes.Usage, $"--column '{column}' is not name:type (for example Age:integer).");
                    types[column[..colon]] = column[(colon + 1)..];
                }
                body["mode"] = "blocks";
                body["columns"] = types;
            }
            var created = await cli.Api.SendAsync(Surface.Alphacast, HttpMethod.Post, "datasets", JsonContent.Create(body), cancellationToken);
            cli.Show(created, () => cli.Terminal.Result(
                $"Created dataset {JsonView.Text(created.Root, "id")} '{JsonView.Text(created.Root, "name")}' ({JsonView.Text(created.Root, "mode")}) "
                + $"in repository {JsonView.Text(created.Root, "repositoryId")}."));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command List()
    {
        var repository = new Option<long?>("--repo") { Description = "Only this repository's datasets." };
        var search = new Option<string?>("--search") { Description = "Words in the name or description (the API's search; lists uids)." };
        var (limit, offset) = Paging.Options();
        var command = new Command("list", "The datasets your key can see.") { repository, search, limit, offset };
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, async cli =>
        {
            var repo = parse.GetValue(repository);
            if (parse.GetValue(search) is { Length: > 0 } words)
            {
                var query = $"api/datasets?search={Uri.EscapeDataString(words)}{(repo is null ? "" : $"&project_id={repo}")}{Paging.Query(parse, limit, offset, "&")}";
                var found = await cli.Api.GetAsync(Surface.Versioned, query, cancellationToken);
                cli.Show(found, () =>
                {
                    var items = found.Root.GetProperty("items");
                    cli.Terminal.Out.Write(JsonView.Rows(cli.Terminal, items,
                        ("uid", "id"), ("name", "name"), ("project", "project_name"), ("rows", "rows"), ("columns", "columns"), ("created", "created_at")));
                    Paging.Footer(cli, found with { TotalCount = found.Root.GetProperty("total").GetInt64() }, items.GetArrayLength());
                });
                return ExitCodes.Ok;
            }
            var path = "datasets" + (repo is null ? Paging.Query(parse, limit, offset) : $"?repositoryId={repo}{Paging.Query(parse, limit, offset, "&")}");
            var list = await cli.Api.GetAsync(Surface.Alphacast, path, cancellationToken);
            cli.Show(list, () =>
            {
                cli.Terminal.Out.Write(JsonView.Rows(cli.Terminal, list.Root,
                    ("id", "id"), ("name", "name"), ("repository", "repositoryId"), ("mode", "mode"), ("version", "currentVersion"),
                    ("datapoints", "total_datapoint_count"), ("updated", "updatedAt")));
                Paging.Footer(cli, list);
            });
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Show()
    {
        var dataset = new Argument<string>("dataset") { Description = "The dataset's id (or uid)." };
        var command = new Command("show", "A dataset's details and columns.") { dataset };
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, async cli =>
        {
            var target = DatasetRef.Parse(parse.GetValue(dataset)!);
            if (target.Id is not { } id)
            {
                var detail = await cli.Api.GetAsync(Surface.Versioned, $"api/datasets/{target.Escaped}", cancellationToken);
                cli.Show(detail, () => cli.Terminal.Out.Write(JsonView.Properties(cli.Terminal, detail.Root.GetProperty("dataset"))));
                return ExitCodes.Ok;
            }
            var found = await cli.Api.GetAsync(Surface.Alphacast, $"datasets/{id}", cancellationToken);
            if (cli.Terminal.Json)
            {
                cli.Terminal.WriteJson(found);
                return ExitCodes.Ok;
            }
            cli.Terminal.Out.Write(JsonView.Properties(cli.Terminal, found.Root));
            var columns = await cli.Api.GetAsync(Surface.Alphacast, $"datasets/{id}/columns", cancellationToken);
            if (columns.Root.TryGetProperty("columnDefinitions", out var definitions) && definitions.GetArrayLength() > 0)
            {
                cli.Terminal.Out.Write(JsonView.Rows(cli.Terminal, definitions,
                    ("column", "sourceName"), ("type", "dataType"), ("entity", "isEntity"), ("date format", "dateFormat")));
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Delete()
    {
        var dataset = new Argument<string>("dataset") { Description = "The dataset's id (or uid)." };
        var command = new Command("delete", "Delete a dataset with all its versions (Admin only); a running import is ended.") { dataset };
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, async cli =>
        {
            var target = DatasetRef.Parse(parse.GetValue(dataset)!);
            var deleted = target.Id is { } id
                ? await cli.Api.SendAsync(Surface.Alphacast, HttpMethod.Delete, $"datasets/{id}", null, cancellationToken)
                : await cli.Api.SendAsync(Surface.Versioned, HttpMethod.Delete, $"api/datasets/{target.Escaped}", null, cancellationToken);
            cli.Show(deleted, () => cli.Terminal.Result($"Deleted dataset {target.Text}."));
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>The dataset's record, for commands that need its name or mode.</summary>
    public static async Task<JsonElement> GetAsync(CliContext cli, long id, CancellationToken cancellationToken) =>
        (await cli.Api.GetAsync(Surface.Alphacast, $"datasets/{id}", cancellationToken)).Root;
}
