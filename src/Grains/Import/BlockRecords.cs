using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// A checked block: its records as JSON lines ready to stage, or the problems found (<paramref name="ProblemCount"/> in all, the
/// first ones keyed by where they are), or <paramref name="TooLarge"/> when the records would take more than the limit once stored.
/// </summary>
public sealed record BlockValidation(PooledBufferWriter? JsonLines, int Records, IReadOnlyDictionary<string, string[]> Errors, int ProblemCount,
    bool TooLarge) : IDisposable
{
    /// <summary>The JSON lines as a stream to stage, without copying them; valid until this validation is disposed.</summary>
    public Stream OpenJsonLines() => JsonLines?.OpenRead() ?? Stream.Null;

    /// <summary>Gives the JSON lines' buffer back to the pool.</summary>
    public void Dispose() => JsonLines?.Dispose();
}

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

    /// <summary>
    /// JSON tokens a block body may hold: what <see cref="MaxRecords"/> records of every column take (a property name and a value
    /// each, brackets), four times over for nested values and envelope. A bound on the parsed document, which costs memory per token.
    /// </summary>
    public static long MaxJsonTokens(int columns) => 64 + MaxRecords * (8L + 4L * 2 * Math.Max(columns, 1));

    /// <summary>Problems listed in a 400 at most; the rest are only counted, so a hostile block cannot make the answer huge.</summary>
    public const int MaxListedProblems = 100;

    /// <summary>
    /// Checks every record against the columns and writes the valid block as JSON lines (only the values given, each under its
    /// column's name). Linear in the size of the request: names are looked up by hash, a record with more fields than the
    /// dataset has columns is refused without looking at them, and the output stops at <paramref name="maxStagedBytes"/>.
    /// </summary>
    public static BlockValidation Validate(IReadOnlyList<StoredColumn> columns, JsonElement records, long maxStagedBytes)
    {
        // Keys are ColumnNames.Key (lower case); an ASCII name without surrounding spaces finds its key ignoring case, unnormalized.
        var byName = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (var c = 0; c < columns.Count; c++) byName.TryAdd(ColumnNames.Key(columns[c].SourceName), c);
        for (var c = 0; c < columns.Count; c++) byName.TryAdd(ColumnNames.Key(columns[c].Name), c);
        var problems = new BlockProblems();
        var loads = columns.Select((c, i) => LoadPlan.ToLoad(i, c, null)).ToArray();
        var scratch = new CopyRowEncoder();
        var staged = new PooledBufferWriter(16 * 1024);
        try
        {
            var (count, problemCount, tooLarge) = Validate(columns, records, maxStagedBytes, byName, problems, loads, scratch, staged);
            if (tooLarge || problemCount > 0)
            {
                staged.Dispose();
                return new BlockValidation(null, count, problems.Listed, problemCount, tooLarge);
            }
            return new BlockValidation(staged, count, problems.Listed, 0, TooLarge: false);
        }
        catch
        {
            staged.Dispose();
            throw;
        }
    }

    private static (int Records, int Problems, bool TooLarge) Validate(IReadOnlyList<StoredColumn> columns, JsonElement records, long maxStagedBytes,
        Dictionary<string, int> byName, BlockProblems problems, LoadColumn[] loads, CopyRowEncoder scratch, PooledBufferWriter staged)
    {
        using var writer = new Utf8JsonWriter(staged, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        var values = new JsonElement?[columns.Count];
        var text = new char[256];
        var index = 0;
        foreach (var record in records.EnumerateArray())
        {
            Array.Clear(values);
            // Where a problem is: spelled out only for a problem that is listed (a string per record was most of what a block allocated).
            var where = new RecordPlace(index);
            if (record.ValueKind == JsonValueKind.Object)
            {
                var fields = record.GetPropertyCount();
                if (fields > columns.Count)
                    problems.Add(where.ToString(), $"A record has at most {columns.Count} fields (one per column), not {fields}.");
                else
                {
                    foreach (var property in record.EnumerateObject())
                    {
                        var known = FindColumn(property, byName, out var column);
                        // Problems past the listed ones are only counted: their text is not even built.
                        if (!known && !problems.Listing) problems.CountOnly();
                        else if (!known) problems.Add($"{where}.{Clip(property.Name)}", $"Unknown column '{Clip(property.Name)}'.");
                        else if (values[column] is not null && !problems.Listing) problems.CountOnly();
                        else if (values[column] is not null)
                            problems.Add($"{where}.{columns[column].Name}", $"Column '{columns[column].Name}' is given more than once.");
                        else values[column] = property.Value;
                    }
                }
            }
            else if (record.ValueKind == JsonValueKind.Array)
            {
                if (record.GetArrayLength() != columns.Count)
                    problems.Add(where.ToString(), $"An array record needs {columns.Count} values (one per column, in column order), not {record.GetArrayLength()}.");
                else
                {
                    var i = 0;
                    foreach (var value in record.EnumerateArray()) values[i++] = value;
                }
            }
            else
            {
                problems.Add(where.ToString(), "A record must be an object keyed by column name or an array of values in column order.");
            }

            for (var c = 0; c < columns.Count; c++)
            {
                if (values[c] is not { } value || !Text(value, ref text, out var length)) continue;
                scratch.BeginRow(1);
                if (CopyRows.Encode(scratch, loads[c], text.AsSpan(0, length), out _) is { } problem) problems.Add($"{where}.{columns[c].Name}", problem + ".");
            }
            if (problems.Count == 0)
            {
                WriteJsonLine(writer, staged, columns, values);
                if (staged.WrittenCount > maxStagedBytes) return (0, 0, true);
            }
            index++;
        }
        return (index, problems.Count, false);
    }

    /// <summary>
    /// A value's text as the field encoder reads it, into <paramref name="text"/> (grown as needed): a string unescaped, anything
    /// else as written in the JSON (numbers, true, false). False for a null. No string per value (many-small: a block's values
    /// as strings were a large share of what the service allocated).
    /// </summary>
    private static bool Text(JsonElement value, ref char[] text, out int length)
    {
        length = 0;
        if (value.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined) return false;
        var raw = JsonMarshal.GetRawUtf8Value(value);
        if (value.ValueKind == JsonValueKind.String)
        {
            raw = raw[1..^1];
            if (raw.Contains((byte)'\\'))
            {
                var unescaped = value.GetString()!;
                if (text.Length < unescaped.Length) text = new char[unescaped.Length];
                unescaped.CopyTo(text);
                length = unescaped.Length;
                return true;
            }
        }
        if (text.Length < raw.Length) text = new char[raw.Length]; // UTF-8 never takes fewer bytes than UTF-16 chars
        length = System.Text.Encoding.UTF8.GetChars(raw, text);
        return true;
    }

    /// <summary>A record's place in the block (records[i]), spelled out only when a listed problem names it.</summary>
    private readonly record struct RecordPlace(int Index)
    {
        public override string ToString() => $"records[{Index}]";
    }

    /// <summary>One record as a JSON line with only the values it gives: a missing or null value loads as null anyway.</summary>
    private static void WriteJsonLine(Utf8JsonWriter writer, PooledBufferWriter staged, IReadOnlyList<StoredColumn> columns, JsonElement?[] values)
    {
        writer.WriteStartObject();
        for (var c = 0; c < columns.Count; c++)
        {
            if (values[c] is not { ValueKind: not JsonValueKind.Null } value) continue;
            writer.WritePropertyName(columns[c].SourceName);
            value.WriteTo(writer);
        }
        writer.WriteEndObject();
        writer.Flush();
        writer.Reset();
        staged.Write((byte)'\n');
    }

    /// <summary>
    /// The column a record's field names. A plain ASCII name (no escapes, no surrounding spaces) is looked up as written, ignoring
    /// case, from its UTF-8 without a string (one per field of every record was a large share of what a block allocated); any
    /// other name by its normalized key.
    /// </summary>
    private static bool FindColumn(JsonProperty property, Dictionary<string, int> byName, out int column)
    {
        var raw = JsonMarshal.GetRawUtf8PropertyName(property);
        if (raw.Length is > 0 and <= 256 && !raw.Contains((byte)'\\') && System.Text.Ascii.IsValid(raw)
            && !char.IsWhiteSpace((char)raw[0]) && !char.IsWhiteSpace((char)raw[^1]))
        {
            Span<char> name = stackalloc char[raw.Length];
            System.Text.Ascii.ToUtf16(raw, name, out _);
            return byName.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name, out column);
        }
        return byName.TryGetValue(ColumnNames.Key(property.Name), out column);
    }

    private static string Clip(string name) => name.Length <= 100 ? name : string.Concat(name.AsSpan(0, 97), "...");

    /// <summary>The problems of a block: all counted, the first <see cref="MaxListedProblems"/> listed by where they are.</summary>
    private sealed class BlockProblems
    {
        public Dictionary<string, string[]> Listed { get; } = [];
        public int Count { get; private set; }

        /// <summary>Whether the next problem is still listed (so its place is worth spelling out).</summary>
        public bool Listing => Listed.Count < MaxListedProblems;

        public void Add(string where, string message)
        {
            Count++;
            if (Listing) Listed.TryAdd(where, [message]);
        }

        public void CountOnly() => Count++;
    }
}
