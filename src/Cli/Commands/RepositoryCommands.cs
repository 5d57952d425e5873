using System.CommandLine;
using System.Globalization;
using DatasetPlatform.Cli.Http;
using DatasetPlatform.Cli.Output;

namespace DatasetPlatform.Cli.Commands;

/// <summary>`dp repos create|list|show|delete` on the Alphacast /repositories routes.</summary>
internal static class RepositoryCommands
{
    public static Command Build()
    {
        var command = new Command("repos", "Repositories (projects): the containers of datasets.") { Create(), List(), Show(), Delete() };
        command.Aliases.Add("repositories");
        return command;
    }

    private static Command Create()
    {
        var name = new Option<string>("--name") { Description = "The repository's name.", Required = true };
        var description = new Option<string>("--description") { Description = "What it holds.", DefaultValueFactory = _ => "" };
        var isPublic = new Option<bool>("--public") { Description = "Readable by every valid key (default: private)." };
        var command = new Command("create", "Create a repository; your key becomes its Admin.") { name, description, isPublic };
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, async cli =>
        {
            var form = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["name"] = parse.GetValue(name)!,
                ["description"] = parse.GetValue(description)!,
                ["privacy"] = parse.GetValue(isPublic) ? "Public" : "Private",
            });
            var created = await cli.Api.SendAsync(Surface.Alphacast, HttpMethod.Post, "repositories", form, cancellationToken);
            cli.Show(created, () => cli.Terminal.Result(
                $"Created repository {JsonView.Text(created.Root, "id")} '{JsonView.Text(created.Root, "name")}' ({JsonView.Text(created.Root, "privacy")})."));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command List()
    {
        var (limit, offset) = Paging.Options();
        var command = new Command("list", "The repositories your key can see.") { limit, offset };
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, async cli =>
        {
            var list = await cli.Api.GetAsync(Surface.Alphacast, "repositories" + Paging.Query(parse, limit, offset), cancellationToken);
            cli.Show(list, () =>
            {
                cli.Terminal.Out.Write(JsonView.Rows(cli.Terminal, list.Root,
                    ("id", "id"), ("name", "name"), ("privacy", "privacy"), ("permission", "permission"), ("description", "description"), ("created", "createdAt")));
                Paging.Footer(cli, list);
            });
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Show()
    {
        var id = new Argument<long>("repository") { Description = "The repository's id." };
        var command = new Command("show", "A repository's details.") { id };
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, async cli =>
        {
            var repository = await cli.Api.GetAsync(Surface.Alphacast, $"repositories/{parse.GetValue(id)}", cancellationToken);
            cli.Show(repository, () => cli.Terminal.Out.Write(JsonView.Properties(cli.Terminal, repository.Root)));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Delete()
    {
        var id = new Argument<long>("repository") { Description = "The repository's id." };
        var command = new Command("delete", "Delete a repository and its datasets (Admin only).") { id };
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, async cli =>
        {
            var deleted = await cli.Api.SendAsync(Surface.Alphacast, HttpMethod.Delete, $"repositories/{parse.GetValue(id)}", null, cancellationToken);
            cli.Show(deleted, () => cli.Terminal.Result($"Deleted repository {parse.GetValue(id)}."));
            return ExitCodes.Ok;
        }));
        return command;
    }
}
