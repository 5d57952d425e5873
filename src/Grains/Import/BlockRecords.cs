using System.Text;
using System.Text.Json;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;

namespace DatasetPlatform.Grains.Import;

/// <summary>A checked block: its records as JSON lines ready to stage, or the problems found, keyed by where they are.</summary>
public sealed record BlockValidation(IReadOnlyList<string> JsonLines, IReadOnlyDictionary<string, string[]> Errors);

/// <summary>
/// Data8 blocks are checked when they arrive, so a bad block is a 400 on the PATCH rather than a failed import later.
/// Values go through the same field encoder as every import, so "valid here" and "loads later" cannot drift apart.
/// </summary>
public static class BlockRecords
{
    public const int MaxRecords = 1000;

    /// <summary>
    /// How blocks load: the schema defines the columns, an unknown one is an error, and nothing is a key. Blocks are
    /// ordered records: a date column holds values like any other, two records may share a date, and a block replaces
    /// only the earlier block with its own number.
    /// </summary>
    internal static readonly LoadRules Rules = new(RequireDate: false, SchemaDefinesColumns: true, UnknownColumns.Fail, RowKeys.None);

    /// <summary>The dataset's columns: stored ones once data exists, before that the ones its schema declares. Never keys.</summary>
    public static IReadOnlyList<StoredColumn> ColumnsOf(DatasetRow dataset)
    {
        var stored = StoredColumns.FromJson(dataset.Columns);
        if (stored.Count > 0) return [.. stored.Select(c => c.AsValue())];
        if (dataset.Manifest is null) return stored;
        var manifest = Manifest.Parse(dataset.Manifest);
        return LoadPlan.Build([.. manifest.Where(e => !e.Ignore).Select(e => e.SourceName)], manifest, [], Rules, firstFreeOrdinal: 0).Columns;
    }

    public static BlockValidation Validate(IReadOnlyList<StoredColumn> columns, JsonElement records)
    {
        var errors = new Dictionary<string, string[]>();
        var lines = new List<string>();
        var loads = columns.Select((c, i) => LoadPlan.ToLoad(i, c, null)).ToArray();
        var scratch = new CopyRowEncoder();
        var index = 0;
        foreach (var record in records.EnumerateArray())
        {
            var values = new JsonElement?[columns.Count];
            var where = $"records[{index}]";
            if (record.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in record.EnumerateObject())
                {
                    var column = IndexOf(columns, property.Name);
                    if (column < 0) errors[$"{where}.{property.Name}"] = [$"Unknown column '{property.Name}'."];
                    else values[column] = property.Value;
                }
            }
            else if (record.ValueKind == JsonValueKind.Array)
            {
                if (record.GetArrayLength() != columns.Count)
                    errors[where] = [$"An array record needs {columns.Count} values (one per column, in column order), not {record.GetArrayLength()}."];
                else
                {
                    var i = 0;
                    foreach (var value in record.EnumerateArray()) values[i++] = value;
                }
            }
            else
            {
                errors[where] = ["A record must be an object keyed by column name or an array of values in column order."];
            }

            for (var c = 0; c < columns.Count; c++)
            {
                var text = Text(values[c]);
                if (text is null) continue;
                scratch.BeginRow(1);
                if (CopyRows.Encode(scratch, loads[c], text, out _) is { } problem) errors[$"{where}.{columns[c].Name}"] = [problem + "."];
            }
            lines.Add(ToJsonLine(columns, values));
            index++;
        }
        return new BlockValidation(lines, errors);
    }

    private static int IndexOf(IReadOnlyList<StoredColumn> columns, string name)
    {
        var key = ColumnNames.Key(name);
        for (var i = 0; i < columns.Count; i++)
            if (ColumnNames.Key(columns[i].SourceName) == key || ColumnNames.Key(columns[i].Name) == key) return i;
        return -1;
    }

    private static string? Text(JsonElement? value) => value?.ValueKind switch
    {
        null or JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.String => value.Value.GetString(),
        _ => value.Value.GetRawText(),
    };

    private static string ToJsonLine(IReadOnlyList<StoredColumn> columns, JsonElement?[] values)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            for (var c = 0; c < columns.Count; c++)
            {
                writer.WritePropertyName(columns[c].SourceName);
                if (values[c] is { } value) value.WriteTo(writer);
                else writer.WriteNullValue();
            }
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
