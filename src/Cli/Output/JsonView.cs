using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace DatasetPlatform.Cli.Output;

/// <summary>Renders the API's JSON as terminal tables: values as text (never as Spectre markup), nested values compact.</summary>
internal static class JsonView
{
    private const int MaxCellChars = 80;

    public static string Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString() ?? "",
        JsonValueKind.Null or JsonValueKind.Undefined => "",
        JsonValueKind.Number => Number(value),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => Shorten(value.GetRawText()),
    };

    public static string Text(JsonElement parent, string property) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(property, out var value) ? Text(value) : "";

    /// <summary>Numbers with at most four decimals, so statistics fit a table; integers as they are.</summary>
    private static string Number(JsonElement value)
    {
        if (value.TryGetInt64(out var whole)) return whole.ToString(CultureInfo.InvariantCulture);
        var d = value.GetDouble();
        return Math.Abs(d) >= 1e12 || (d != 0 && Math.Abs(d) < 1e-4)
            ? d.ToString("G6", CultureInfo.InvariantCulture)
            : Math.Round(d, 4).ToString("0.####", CultureInfo.InvariantCulture);
    }

    private static string Shorten(string text) => text.Length <= MaxCellChars ? text : text[..(MaxCellChars - 3)] + "...";

    public static IRenderable[] Row(params string[] cells) => [.. cells.Select(c => (IRenderable)new Text(c))];

    /// <summary>One row per array item, the given properties as columns.</summary>
    public static Table Rows(Terminal terminal, JsonElement items, params (string Header, string Property)[] columns)
    {
        var table = terminal.NewTable([.. columns.Select(c => c.Header)]);
        if (items.ValueKind != JsonValueKind.Array) return table;
        foreach (var item in items.EnumerateArray())
            table.AddRow(Row([.. columns.Select(c => Text(item, c.Property))]));
        return table;
    }

    /// <summary>An object as a two-column table of its properties.</summary>
    public static Table Properties(Terminal terminal, JsonElement value)
    {
        var table = terminal.NewTable("field", "value");
        if (value.ValueKind != JsonValueKind.Object) return table;
        foreach (var property in value.EnumerateObject()) table.AddRow(Row(property.Name, Text(property.Value)));
        return table;
    }
}
