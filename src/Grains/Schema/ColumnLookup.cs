namespace DatasetPlatform.Grains.Schema;

/// <summary>
/// Finds a dataset's columns by user-facing name in constant time, with the matching rules of <see cref="ColumnNames"/>:
/// a column's name wins over another column's source name. Built once per request, so a $select or $filter naming
/// thousands of columns costs one hash lookup per name instead of a scan of the whole schema.
/// </summary>
public sealed class ColumnLookup
{
    private readonly Dictionary<string, StoredColumn> _byKey = new(StringComparer.Ordinal);

    public ColumnLookup(IEnumerable<StoredColumn> columns)
    {
        var list = columns as IReadOnlyList<StoredColumn> ?? [.. columns];
        foreach (var column in list) _byKey.TryAdd(ColumnNames.Key(column.Name), column);
        foreach (var column in list)
        {
            _byKey.TryAdd(ColumnNames.Key(column.SourceName), column);
            MaxWordsInName = Math.Max(MaxWordsInName, Math.Max(WordCount(column.Name), WordCount(column.SourceName)));
        }
    }

    /// <summary>The most whitespace-separated words in any name: a longer run of words cannot name a column.</summary>
    public int MaxWordsInName { get; }

    public StoredColumn? Find(string name) => _byKey.GetValueOrDefault(ColumnNames.Key(name));

    private static int WordCount(string name) => name.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
}
