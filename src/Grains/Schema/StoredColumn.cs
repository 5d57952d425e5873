using System.Text.Json;
using System.Text.Json.Serialization;

namespace DatasetPlatform.Grains.Schema;

/// <summary>
/// A column as stored for a dataset: its user-facing name, the source column it loads from, its dtype,
/// its role in the row key, and the physical column (c0, c1, ...) it lives in. Physical names keep user
/// text out of DDL and let a column be renamed without touching the table.
/// </summary>
public sealed record StoredColumn
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("sourceName")] public required string SourceName { get; init; }
    [JsonPropertyName("dtype")] public required string Dtype { get; init; }
    [JsonPropertyName("sqlType")] public required string SqlType { get; init; }
    [JsonPropertyName("isEntity")] public bool IsEntity { get; init; }
    [JsonPropertyName("isDate")] public bool IsDate { get; init; }
    [JsonPropertyName("physical")] public required string Physical { get; init; }
    [JsonPropertyName("dateFormat")] public string? DateFormat { get; init; }

    [JsonIgnore] public bool IsKey => IsEntity || IsDate;

    /// <summary>The same column as a plain value: not part of any row key (block datasets have none).</summary>
    public StoredColumn AsValue() => this with { IsEntity = false, IsDate = false };
}

public static class StoredColumns
{
    public static IReadOnlyList<StoredColumn> FromJson(string? json) =>
        string.IsNullOrEmpty(json) ? [] : JsonSerializer.Deserialize<List<StoredColumn>>(json, Manifest.JsonOptions) ?? [];

    public static string ToJson(IReadOnlyList<StoredColumn> columns) => JsonSerializer.Serialize(columns, Manifest.JsonOptions);

    /// <summary>Output order: key columns first (entities, then the date), then values, each in stored order.</summary>
    public static IReadOnlyList<StoredColumn> InOutputOrder(IReadOnlyList<StoredColumn> columns) =>
        [.. columns.Where(c => c.IsEntity && !c.IsDate), .. columns.Where(c => c.IsDate), .. columns.Where(c => !c.IsKey)];

    public static StoredColumn? Find(IReadOnlyList<StoredColumn> columns, string name)
    {
        var key = ColumnNames.Key(name);
        return columns.FirstOrDefault(c => ColumnNames.Key(c.Name) == key)
            ?? columns.FirstOrDefault(c => ColumnNames.Key(c.SourceName) == key);
    }
}
