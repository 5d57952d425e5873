using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using DatasetPlatform.Cli.Http;

namespace DatasetPlatform.Cli.Commands;

/// <summary>--limit/--offset, passed to the API's list paging as they are; the footer says what is left (X-Total-Count).</summary>
internal static class Paging
{
    public static (Option<int?> Limit, Option<int?> Offset) Options() =>
        (new Option<int?>("--limit") { Description = "Items per page (the API's default when not given)." },
         new Option<int?>("--offset") { Description = "Items to skip." });

    public static string Query(ParseResult parse, Option<int?> limit, Option<int?> offset, string separator = "?")
    {
        var parts = new List<string>();
        if (parse.GetValue(limit) is { } l) parts.Add("limit=" + l.ToString(CultureInfo.InvariantCulture));
        if (parse.GetValue(offset) is { } o) parts.Add("offset=" + o.ToString(CultureInfo.InvariantCulture));
        return parts.Count == 0 ? "" : separator + string.Join('&', parts);
    }

    public static void Footer(CliContext cli, ApiJson list, int? shown = null)
    {
        var count = shown ?? (list.Root.ValueKind == JsonValueKind.Array ? list.Root.GetArrayLength() : 0);
        if (list.TotalCount is { } total && total > count) cli.Terminal.Status($"{count} of {total} shown; use --limit/--offset for more.");
    }
}
