using System.Text.Json;
using System.Text.Json.Serialization;

namespace DatasetPlatform.Grains.Schema;

/// <summary>One entry of an Alphacast manifest: how a source column is typed, named and keyed.</summary>
public sealed record ManifestEntry
{
    [JsonPropertyName("sourceName")] public string SourceName { get; init; } = "";
    [JsonPropertyName("dataType")] public string DataType { get; init; } = "Decimal";
    [JsonPropertyName("isEntity")] public bool IsEntity { get; init; }
    [JsonPropertyName("destinationName")] public string? DestinationName { get; init; }
    [JsonPropertyName("ignore")] public bool Ignore { get; init; }
    [JsonPropertyName("dateFormat")] public string? DateFormat { get; init; }
    /// <summary>A human label (V4 schemas); not used for matching.</summary>
    [JsonPropertyName("label")] public string? Label { get; init; }

    [JsonIgnore] public string Dtype => DataTypes.Normalize(DataType) ?? DataTypes.Float;
    [JsonIgnore] public bool IsDate => Dtype == DataTypes.Datetime;
    [JsonIgnore] public string StoredName => string.IsNullOrWhiteSpace(DestinationName) ? SourceName.Trim() : DestinationName.Trim();
}

public sealed class ManifestException(string message) : Exception(message);

/// <summary>Parses and checks manifests. The shape is checked here (400 at the API); data rules are checked at import.</summary>
public static class Manifest
{
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        PropertyNameCaseInsensitive = true,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static IReadOnlyList<ManifestEntry> Parse(string json)
    {
        List<ManifestEntry>? entries;
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            // Accept {"manifest": [...]} as well as the bare array, since both circulate in Alphacast examples.
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("manifest", out var inner)) root = inner;
            if (root.ValueKind == JsonValueKind.String) return Parse(root.GetString()!);
            if (root.ValueKind != JsonValueKind.Array)
                throw new ManifestException("The manifest must be a JSON array of column definitions.");
            entries = new List<ManifestEntry>();
            var index = 0;
            foreach (var element in root.EnumerateArray())
            {
                if (element.ValueKind != JsonValueKind.Object)
                    throw new ManifestException($"Manifest entry {index} must be an object.");
                entries.Add(ReadEntry(element, index));
                index++;
            }
        }
        catch (JsonException e)
        {
            throw new ManifestException($"The manifest is not valid JSON: {e.Message}");
        }
        return Validate(entries);
    }

    private static ManifestEntry ReadEntry(JsonElement element, int index)
    {
        ManifestEntry entry;
        try { entry = element.Deserialize<ManifestEntry>(JsonOptions)!; }
        catch (JsonException e) { throw new ManifestException($"Manifest entry {index} is invalid: {e.Message}"); }
        if (string.IsNullOrWhiteSpace(entry.SourceName))
            throw new ManifestException($"Manifest entry {index} has no sourceName.");
        if (DataTypes.Normalize(entry.DataType) is null)
            throw new ManifestException($"Manifest entry '{entry.SourceName}' has an unknown dataType '{entry.DataType}'. Use Date, String, Decimal or Short Integer.");
        return entry;
    }

    public static IReadOnlyList<ManifestEntry> Validate(List<ManifestEntry> entries)
    {
        var declared = entries.Count(e => !e.Ignore);
        if (declared > DatasetLimits.MaxColumns)
            throw new ManifestException($"The manifest declares {declared} columns; a dataset holds at most {DatasetLimits.MaxColumns}.");
        var seen = new HashSet<string>();
        foreach (var entry in entries)
        {
            if (!seen.Add(ColumnNames.Key(entry.SourceName)))
                throw new ManifestException($"Manifest names column '{entry.SourceName}' more than once.");
        }
        if (entries.Count(e => e.IsDate && !e.Ignore) > 1)
            throw new ManifestException("The manifest declares more than one Date column; exactly one is allowed.");
        if (entries.FirstOrDefault(e => e.IsDate && !string.IsNullOrEmpty(e.DateFormat)) is { } dated)
            DateFormats.Compile(dated.DateFormat); // throws ManifestException for a format we cannot honour
        return entries;
    }

    /// <summary>
    /// A V4 schema, {strict, fields: {name: {type, label}}}, as manifest entries (no date, no entities: records are appended).
    /// </summary>
    public static (IReadOnlyList<ManifestEntry> Entries, bool Strict) ParseV4(JsonElement schema)
    {
        var strict = schema.TryGetProperty("strict", out var s) && s.ValueKind == JsonValueKind.True;
        if (!schema.TryGetProperty("fields", out var fields) || fields.ValueKind != JsonValueKind.Object)
            throw new ManifestException("The schema needs a 'fields' object: {\"fields\": {\"name\": {\"type\": \"string\"}}}.");
        var entries = new List<ManifestEntry>();
        foreach (var field in fields.EnumerateObject())
        {
            var type = field.Value.ValueKind == JsonValueKind.Object && field.Value.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
                ? t.GetString()
                : field.Value.ValueKind == JsonValueKind.String ? field.Value.GetString() : null;
            if (DataTypes.Normalize(type) is null)
                throw new ManifestException($"Field '{field.Name}' has an unknown type '{type}'. Use string, number, integer, boolean, date or category.");
            var label = field.Value.ValueKind == JsonValueKind.Object && field.Value.TryGetProperty("label", out var l) && l.ValueKind == JsonValueKind.String
                ? l.GetString() : null;
            entries.Add(new ManifestEntry { SourceName = field.Name, DataType = type!, Label = label });
        }
        if (entries.Count == 0) throw new ManifestException("The schema declares no fields.");
        return (Validate(entries), strict);
    }

    public static string ToJson(IReadOnlyList<ManifestEntry> entries) => JsonSerializer.Serialize(entries, JsonOptions);
}
