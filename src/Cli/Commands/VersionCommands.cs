using System.CommandLine;
using System.Text.Json;
using DatasetPlatform.Cli.Http;
using DatasetPlatform.Cli.Output;
using Spectre.Console;

namespace DatasetPlatform.Cli.Commands;

/// <summary>`dp versions list|compare|analyze` on seed 004's routes, which take a dataset's numeric id or its uid.</summary>
internal static class VersionCommands
{
    public static Command Build() => new("versions", "A dataset's versions: list them, compare two (schema and drift), analyze one.") { List(), Compare(), Analyze() };

    private static Argument<string> DatasetArgument() => new("dataset") { Description = "The dataset's id (or uid)." };

    private static Command List()
    {
        var dataset = DatasetArgument();
        var (limit, offset) = Paging.Options();
        var command = new Command("list", "The dataset's versions, oldest first.") { dataset, limit, offset };
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, async cli =>
        {
            var target = DatasetRef.Parse(parse.GetValue(dataset)!);
            var list = await cli.Api.GetAsync(Surface.Versioned, $"api/datasets/{target.Escaped}/versions{Paging.Query(parse, limit, offset)}", cancellationToken);
            cli.Show(list, () =>
            {
                var items = list.Root.GetProperty("items");
                cli.Terminal.Out.Write(JsonView.Rows(cli.Terminal, items, ("version", "version"), ("id", "id"), ("rows", "row_count"), ("columns", "column_count"),
                    ("description", "description"), ("created by", "created_by_name"), ("created", "created_at")));
                Paging.Footer(cli, list with { TotalCount = list.Root.GetProperty("total").GetInt64() }, items.GetArrayLength());
            });
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Compare()
    {
        var dataset = DatasetArgument();
        var first = new Argument<int>("v1") { Description = "The earlier version number." };
        var second = new Argument<int>("v2") { Description = "The later version number." };
        var command = new Command("compare", "Compare two versions: rows and columns changed, and drift (PSI) per column.") { dataset, first, second };
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, async cli =>
        {
            var target = DatasetRef.Parse(parse.GetValue(dataset)!);
            var comparison = await cli.Api.GetAsync(Surface.Versioned,
                $"api/datasets/{target.Escaped}/compare?v1={parse.GetValue(first)}&v2={parse.GetValue(second)}", cancellationToken);
            cli.Show(comparison, () =>
            {
                cli.Terminal.Out.Write(JsonView.Properties(cli.Terminal, comparison.Root.GetProperty("summary")));
                if (comparison.Root.TryGetProperty("column_diffs", out var diffs) && diffs.ValueKind == JsonValueKind.Object)
                    cli.Terminal.Out.Write(DiffTable(cli.Terminal, diffs));
            });
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>One row per column; numeric and categorical columns carry different measures, so the table has the union of them.</summary>
    private static Table DiffTable(Terminal terminal, JsonElement diffs)
    {
        string[] preferred = ["type", "shift_level", "psi", "mean_shift_pct", "v1_mean", "v2_mean", "v1_std", "v2_std", "missing_v1", "missing_v2"];
        var measures = diffs.EnumerateObject().SelectMany(c => c.Value.ValueKind == JsonValueKind.Object ? c.Value.EnumerateObject().Select(p => p.Name) : [])
            .Distinct().OrderBy(name => Array.IndexOf(preferred, name) is var i and >= 0 ? i : preferred.Length).ToList();
        var table = terminal.NewTable(["column", .. measures]);
        foreach (var column in diffs.EnumerateObject())
            table.AddRow(JsonView.Row([column.Name, .. measures.Select(m => JsonView.Text(column.Value, m))]));
        return table;
    }

    private static Command Analyze()
    {
        var dataset = DatasetArgument();
        var version = new Option<int?>("--version") { Description = "The version to analyze (default the current one)." };
        var command = new Command("analyze", "Statistics of a version per column (missing, min, max, mean, percentiles, top values), as a table.") { dataset, version };
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, async cli =>
        {
            var target = DatasetRef.Parse(parse.GetValue(dataset)!);
            var at = parse.GetValue(version) is { } n ? $"?version={n}" : "";
            var analysis = await cli.Api.GetAsync(Surface.Versioned, $"api/datasets/{target.Escaped}/analyze{at}", cancellationToken);
            cli.Show(analysis, () => WriteAnalysis(cli.Terminal, analysis.Root));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static void WriteAnalysis(Terminal terminal, JsonElement root)
    {
        if (JsonView.Text(root, "error") is { Length: > 0 } error) throw new CliException(ExitCodes.Error, $"The analysis failed: {error}");
        var statistics = root.GetProperty("statistics");
        var table = terminal.NewTable("column", "type", "unique", "missing", "missing %", "min", "max", "mean", "std", "p25", "p50", "p75", "outliers", "top values");
        foreach (var column in statistics.GetProperty("columns").EnumerateObject())
        {
            var c = column.Value;
            var percentiles = c.TryGetProperty("percentiles", out var p) ? p : default;
            var top = c.TryGetProperty("top_values", out var t) && t.ValueKind == JsonValueKind.Object
                ? string.Join(", ", t.EnumerateObject().Take(3).Select(v => $"{v.Name} ({JsonView.Text(v.Value)})"))
                : "";
            table.AddRow(JsonView.Row(column.Name, JsonView.Text(c, "type"), JsonView.Text(c, "unique"), JsonView.Text(c, "missing"),
                JsonView.Text(c, "missing_percent"), JsonView.Text(c, "min"), JsonView.Text(c, "max"), JsonView.Text(c, "mean"), JsonView.Text(c, "std"),
                JsonView.Text(percentiles, "p25"), JsonView.Text(percentiles, "p50"), JsonView.Text(percentiles, "p75"), JsonView.Text(c, "outlier_count"), top));
        }
        terminal.Out.Write(table);
        terminal.Result($"rows: {JsonView.Text(statistics, "row_count")}, duplicate rows: {JsonView.Text(statistics, "duplicate_rows")}");
    }
}
