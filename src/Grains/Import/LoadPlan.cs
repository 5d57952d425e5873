using DatasetPlatform.Grains.Schema;

namespace DatasetPlatform.Grains.Import;

internal enum FieldKind { Text, Float, Int16, Int64, Boolean, Date, Timestamp }

/// <summary>One file column that is loaded: where it is in the file, where it goes, how it is parsed.</summary>
internal sealed record LoadColumn(int SourceIndex, StoredColumn Column, FieldKind Kind, DateParser? Dates);

/// <summary>A row the import refused, with the 1-based data row number and the column at fault.</summary>
public sealed record RowError(long Row, string? Column, string Message);

/// <summary>An import that ends without loading: the job takes <see cref="Status"/> and the message as its description.</summary>
internal sealed class ImportFailure(string status, string message, IReadOnlyList<RowError>? errors = null) : Exception(message)
{
    public string Status { get; } = status;
    public IReadOnlyList<RowError> Errors { get; } = errors ?? [];
    /// <summary>How many records were rejected in all (Errors holds only the first ones).</summary>
    public long Rejected { get; init; }
}

/// <summary>What to do with a file column that neither the schema nor the stored columns know.</summary>
internal enum UnknownColumns { Fail, Ignore, Accept }

/// <summary>Which columns form the row key (the columns that duplicate checks and merges match on).</summary>
internal enum RowKeys
{
    /// <summary>Alphacast: the manifest's Date column and its entity columns, fixed by the dataset's first load.</summary>
    Manifest,
    /// <summary>V4 records: none on a first load (records are appended, a date field is a value); a dataset first
    /// loaded through Alphacast keeps its key.</summary>
    Existing,
    /// <summary>Data8 blocks: ordered records, never keyed whatever the column types; a block replaces only its own number.</summary>
    None,
}

/// <summary>
/// The header rules of a surface. Alphacast: a Date column is required and on a first load unnamed columns
/// become Decimal values (the file shapes the dataset). V4 and blocks: the schema defines the columns.
/// </summary>
internal sealed record LoadRules(bool RequireDate, bool SchemaDefinesColumns, UnknownColumns Unknown, RowKeys Keys);

/// <summary>
/// Matches a file's header against the manifest and the dataset's stored columns, and decides what is
/// loaded where. All header-level rules (date column, entity columns, unknown columns) fail here, before
/// a single row is read.
/// </summary>
internal sealed class LoadPlan
{
    public required IReadOnlyList<StoredColumn> Columns { get; init; }
    public required IReadOnlyList<LoadColumn> Loaded { get; init; }
    public required IReadOnlyList<StoredColumn> NewColumns { get; init; }

    public IEnumerable<StoredColumn> KeyColumns => Columns.Where(c => c.IsKey);
    public int ValueColumnCount => Columns.Count(c => !c.IsKey);

    /// <param name="firstFreeOrdinal">The lowest n such that no physical column c{n}, c{n+1}, ... exists in the table yet (see
    /// ImportRunner.StartLoadAsync): versions may have dropped columns whose storage must not be reused.</param>
    public static LoadPlan Build(IReadOnlyList<string> header, IReadOnlyList<ManifestEntry> manifest, IReadOnlyList<StoredColumn> stored, LoadRules rules,
        int firstFreeOrdinal)
    {
        var ordinal = firstFreeOrdinal;
        string NextPhysical() => $"c{ordinal++}";
        var headerIndex = new Dictionary<string, int>();
        for (var i = 0; i < header.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(header[i])) continue; // e.g. an unnamed pandas index column
            if (!headerIndex.TryAdd(ColumnNames.Key(header[i]), i))
                throw Fail($"Column '{header[i].Trim()}' appears more than once in the header.");
        }
        var entries = manifest.ToDictionary(e => ColumnNames.Key(e.SourceName));
        return stored.Count == 0
            ? FirstLoad(header, headerIndex, manifest, entries, rules, NextPhysical)
            : LaterLoad(header, headerIndex, entries, stored, rules, NextPhysical);
    }

    private static LoadPlan FirstLoad(IReadOnlyList<string> header, Dictionary<string, int> headerIndex, IReadOnlyList<ManifestEntry> manifest,
        Dictionary<string, ManifestEntry> entries, LoadRules rules, Func<string> nextPhysical)
    {
        var keyed = rules.Keys == RowKeys.Manifest;
        var dateEntry = manifest.FirstOrDefault(e => e.IsDate && !e.Ignore);
        if (dateEntry is null && rules.RequireDate)
            throw Fail("Data has no Date column: the manifest declares none (set dataType \"Date\" on one column).");
        if (keyed && dateEntry is not null && !headerIndex.ContainsKey(ColumnNames.Key(dateEntry.SourceName)))
            throw Fail($"Data has no Date column '{dateEntry.SourceName}'.");
        var missingEntities = manifest.Where(e => keyed && e.IsEntity && !e.IsDate && !e.Ignore && !headerIndex.ContainsKey(ColumnNames.Key(e.SourceName)))
            .Select(e => e.SourceName).ToList();
        if (missingEntities.Count > 0) throw Fail($"Missing entity column(s): {string.Join(", ", missingEntities)}.");

        var columns = new List<StoredColumn>();
        var loaded = new List<LoadColumn>();
        if (rules.SchemaDefinesColumns)
        {
            // The schema's fields, in schema order; a field the file lacks is stored as null.
            foreach (var entry in manifest.Where(e => !e.Ignore))
            {
                var column = NewColumn(entry.SourceName, entry, nextPhysical(), allowKey: keyed);
                columns.Add(column);
                if (headerIndex.TryGetValue(ColumnNames.Key(entry.SourceName), out var index)) loaded.Add(ToLoad(index, column, entry));
            }
            CheckUnknown(header, headerIndex.Values.Where(i => !entries.ContainsKey(ColumnNames.Key(header[i]))), rules);
        }
        else
        {
            for (var i = 0; i < header.Count; i++)
            {
                if (string.IsNullOrWhiteSpace(header[i])) continue;
                entries.TryGetValue(ColumnNames.Key(header[i]), out var entry);
                if (entry?.Ignore == true) continue;
                // Columns the manifest does not name are Decimal values.
                var column = NewColumn(header[i], entry, nextPhysical(), allowKey: keyed);
                columns.Add(column);
                loaded.Add(ToLoad(i, column, entry));
            }
        }
        CheckUniqueNames(columns);
        return new LoadPlan { Columns = columns, Loaded = loaded, NewColumns = columns };
    }

    private static LoadPlan LaterLoad(IReadOnlyList<string> header, Dictionary<string, int> headerIndex, Dictionary<string, ManifestEntry> entries,
        IReadOnlyList<StoredColumn> stored, LoadRules rules, Func<string> nextPhysical)
    {
        int? IndexOf(StoredColumn c) =>
            headerIndex.TryGetValue(ColumnNames.Key(c.SourceName), out var i) || headerIndex.TryGetValue(ColumnNames.Key(c.Name), out i) ? i : null;

        // Blocks are never keyed, even in a dataset stored with key flags before that rule existed: the flags go.
        if (rules.Keys == RowKeys.None) stored = [.. stored.Select(c => c.AsValue())];
        if (stored.FirstOrDefault(c => c.IsDate) is { } date && IndexOf(date) is null) throw Fail($"Data has no Date column '{date.SourceName}'.");
        var missingEntities = stored.Where(c => c.IsEntity && !c.IsDate && IndexOf(c) is null).Select(c => c.SourceName).ToList();
        if (missingEntities.Count > 0) throw Fail($"Missing entity column(s): {string.Join(", ", missingEntities)}.");

        var columns = stored.ToList();
        var loaded = new List<LoadColumn>();
        var used = new HashSet<int>();
        foreach (var column in stored)
        {
            if (IndexOf(column) is not { } index) continue;
            used.Add(index);
            entries.TryGetValue(ColumnNames.Key(header[index]), out var entry);
            loaded.Add(ToLoad(index, column, entry));
        }

        var unknown = new List<int>();
        for (var i = 0; i < header.Count; i++)
        {
            if (used.Contains(i) || string.IsNullOrWhiteSpace(header[i])) continue;
            if (entries.TryGetValue(ColumnNames.Key(header[i]), out var entry) && entry.Ignore) continue;
            unknown.Add(i);
        }
        if (rules.Unknown != UnknownColumns.Accept)
        {
            CheckUnknown(header, unknown, rules);
            unknown.Clear();
        }

        var added = new List<StoredColumn>();
        foreach (var index in unknown)
        {
            entries.TryGetValue(ColumnNames.Key(header[index]), out var entry);
            if (entry is { IsEntity: true } or { IsDate: true })
                throw Fail($"New column '{header[index].Trim()}' cannot join the row key of a dataset that already has data.");
            var column = NewColumn(header[index], entry, nextPhysical(), allowKey: false);
            columns.Add(column);
            added.Add(column);
            loaded.Add(ToLoad(index, column, entry));
        }
        CheckUniqueNames(columns);
        return new LoadPlan { Columns = columns, Loaded = loaded, NewColumns = added };
    }

    private static void CheckUnknown(IReadOnlyList<string> header, IEnumerable<int> unknown, LoadRules rules)
    {
        var names = unknown.Order().Select(i => header[i].Trim()).Where(n => n.Length > 0).ToList();
        if (names.Count > 0 && rules.Unknown == UnknownColumns.Fail) throw Fail($"Unknown column(s): {string.Join(", ", names)}");
    }

    private static StoredColumn NewColumn(string headerName, ManifestEntry? entry, string physical, bool allowKey)
    {
        // Columns the manifest does not name are Decimal values.
        var dtype = entry?.Dtype ?? DataTypes.Float;
        // A date-typed column is typed (and parsed with its format) the same way whether or not it is the row key.
        var typedDate = entry is { IsDate: true };
        var isDate = allowKey && typedDate;
        var hasTime = typedDate && DateFormats.Compile(entry!.DateFormat).HasTime;
        return new StoredColumn
        {
            Name = entry?.StoredName ?? headerName.Trim(),
            SourceName = headerName.Trim(),
            Dtype = dtype,
            SqlType = DataTypes.SqlType(dtype, hasTime),
            IsDate = isDate,
            IsEntity = allowKey && entry is { IsEntity: true } || isDate,
            Physical = physical,
            DateFormat = typedDate ? entry!.DateFormat : null,
        };
    }

    internal static LoadColumn ToLoad(int index, StoredColumn column, ManifestEntry? entry)
    {
        var kind = column.SqlType switch
        {
            "date" => FieldKind.Date,
            "timestamp" => FieldKind.Timestamp,
            "text" => FieldKind.Text,
            "smallint" => FieldKind.Int16,
            "bigint" => FieldKind.Int64,
            "boolean" => FieldKind.Boolean,
            _ => FieldKind.Float,
        };
        // The format in the manifest of this upload wins, so a new manifest can describe a differently formatted file.
        var format = entry is { IsDate: true, DateFormat: not null } ? entry.DateFormat : column.DateFormat;
        return new LoadColumn(index, column, kind, kind is FieldKind.Date or FieldKind.Timestamp ? DateFormats.Compile(format) : null);
    }

    private static void CheckUniqueNames(List<StoredColumn> columns)
    {
        var clash = columns.GroupBy(c => ColumnNames.Key(c.Name)).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null) throw Fail($"Two columns would both be named '{clash.First().Name}'.");
    }

    private static ImportFailure Fail(string message) => new(Abstractions.JobStatus.Failed, message);
}
