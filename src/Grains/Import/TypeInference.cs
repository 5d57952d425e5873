using System.Globalization;
using System.Text;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Sylvan.Data.Csv;

namespace DatasetPlatform.Grains.Import;

public enum ValueKind { Empty, Integer, Float, Boolean, DateTime, Text }

/// <summary>Classifies one cell the way pandas' readers would type it.</summary>
public static class ValueKinds
{
    // Date spellings tried for inference, ISO first; each maps to the strftime format the loader will use.
    internal static readonly (string Net, string? Strftime, bool HasTime)[] DateFormats =
    [
        ("yyyy-MM-dd", "%Y-%m-%d", false),
        ("yyyy-MM-dd HH:mm:ss", "%Y-%m-%d %H:%M:%S", true),
        ("yyyy-MM-ddTHH:mm:ss", "%Y-%m-%dT%H:%M:%S", true),
        ("yyyy-MM-dd HH:mm", "%Y-%m-%d %H:%M", true),
        ("yyyy/MM/dd", "%Y/%m/%d", false),
        ("MM/dd/yyyy", "%m/%d/%Y", false),
        ("dd.MM.yyyy", "%d.%m.%Y", false),
    ];

    public static ValueKind Classify(ReadOnlySpan<char> raw)
    {
        var s = raw.Trim();
        if (s.IsEmpty) return ValueKind.Empty;
        // Most text (names, labels) is known by its first character: a number starts with a digit, a sign or a point, a date
        // with a digit, a boolean with t or f; anything else is text, without the parsers' failed attempts (a load checks every
        // value of a text column past the first rows, so this is per row).
        if (!char.IsAsciiDigit(s[0]) && s[0] is not ('-' or '+' or '.' or 't' or 'T' or 'f' or 'F'))
            return ValueKind.Text;
        if (long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)) return ValueKind.Integer;
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)) return ValueKind.Float;
        if (s.Equals("true", StringComparison.OrdinalIgnoreCase) || s.Equals("false", StringComparison.OrdinalIgnoreCase)) return ValueKind.Boolean;
        if (DateFormatIndex(s) >= 0) return ValueKind.DateTime;
        return ValueKind.Text;
    }

    /// <summary>Index into <see cref="DateFormats"/> of the first format that reads the value; -1 when none does.</summary>
    internal static int DateFormatIndex(ReadOnlySpan<char> s)
    {
        if (s.Length < 8 || !char.IsAsciiDigit(s[0])) return -1;
        for (var i = 0; i < DateFormats.Length; i++)
        {
            if (DateTime.TryParseExact(s, DateFormats[i].Net, CultureInfo.InvariantCulture, DateTimeStyles.None, out _)) return i;
        }
        return -1;
    }
}

/// <summary>The inferred type of one column, over every value of the file.</summary>
public sealed record InferredColumn(string Name, string Dtype, string? DateFormat, bool HasTime, long Missing, bool MixedTypes);

public sealed record InferenceResult(CsvDialect Dialect, IReadOnlyList<InferredColumn> Columns, long Rows)
{
    /// <summary>
    /// Set when the types come from the file's first rows only (<see cref="TypeInference.InferPrefixAsync"/>): the load then reads
    /// the rest of the file through <see cref="TypeChecks.Wrap"/>, which confirms them or says they do not hold.
    /// </summary>
    internal TypeChecks? Checks { get; init; }
}

/// <summary>
/// Reads a whole CSV once to type every column (int64, float64, bool, datetime64, category, object) the way pandas
/// would: an integer column with gaps becomes float64, a boolean column with gaps becomes object. Memory is bounded:
/// only up to <see cref="CategoryCap"/> distinct values per column are remembered, to tell category from object.
/// </summary>
public static class TypeInference
{
    public const int CategoryCap = 50;

    /// <summary>
    /// Rows typed before a version's load starts. The rest of the file is checked while it loads (<see cref="TypeChecks"/>), which
    /// costs a fraction of a second pass over every value; a column that breaks its type further on makes the import type the
    /// whole file and load again (the inference of old, only for such files).
    /// </summary>
    public const int PrefixRows = 50_000;

    /// <summary>Types every column over the whole file (one pass).</summary>
    public static Task<InferenceResult> InferAsync(Func<CancellationToken, Task<Stream>> open, ImportLimits limits, CancellationToken cancellationToken) =>
        InferAsync(open, limits, long.MaxValue, cancellationToken);

    /// <summary>
    /// Types every column over the first <paramref name="prefixRows"/> rows; when the file has more, the result carries the checks
    /// (<see cref="InferenceResult.Checks"/>) its load must run over the rest for the types to be those of the whole file.
    /// </summary>
    public static Task<InferenceResult> InferPrefixAsync(Func<CancellationToken, Task<Stream>> open, ImportLimits limits, long prefixRows,
        CancellationToken cancellationToken) => InferAsync(open, limits, prefixRows, cancellationToken);

    private static async Task<InferenceResult> InferAsync(Func<CancellationToken, Task<Stream>> open, ImportLimits limits, long maxRows,
        CancellationToken cancellationToken)
    {
        CsvDialect dialect;
        // Rented: two 64 KB arrays per version upload (the sample and its trimmed copy) were a large share of what many small
        // uploads allocated.
        var sample = SmallArrays<byte>.Rent(CsvSniffer.SampleBytes);
        try
        {
            var filled = 0;
            await using (var first = await open(cancellationToken))
            {
                int read;
                while (filled < CsvSniffer.SampleBytes && (read = await first.ReadAsync(sample.AsMemory(filled, CsvSniffer.SampleBytes - filled), cancellationToken)) > 0)
                    filled += read;
            }
            if (filled == 0) throw new ImportFailure(Abstractions.JobStatus.Failed, "Data is empty");
            dialect = CsvSniffer.Sniff(sample.AsSpan(0, filled), sampleIsWholeFile: filled < CsvSniffer.SampleBytes);
        }
        finally
        {
            SmallArrays<byte>.Return(sample);
        }
        try
        {
            return await ScanAsync(open, dialect, limits, maxRows, cancellationToken);
        }
        catch (DecoderFallbackException)
        {
            // Valid UTF-8 at the start, not further on: the file is in a single-byte code page after all.
            return await ScanAsync(open, dialect with { Encoding = CsvSniffer.Windows1252 }, limits, maxRows, cancellationToken);
        }
    }

    private static async Task<InferenceResult> ScanAsync(Func<CancellationToken, Task<Stream>> open, CsvDialect dialect, ImportLimits limits,
        long maxRows, CancellationToken cancellationToken)
    {
        await using var stream = await open(cancellationToken);
        using var source = await CsvRowSource.OpenAsync(Reader(stream, dialect), dialect, limits, reportEncodingErrors: false, cancellationToken)
            ?? throw new ImportFailure(Abstractions.JobStatus.Failed, "Data is empty");
        var columns = source.Columns.Select(_ => new ColumnStats()).ToArray();
        long rows = 0;
        var more = false;
        while (await source.ReadAsync())
        {
            if (rows == maxRows)
            {
                more = true;
                break;
            }
            rows++;
            for (var i = 0; i < columns.Length; i++) columns[i].Add(source.GetField(i));
        }
        if (rows == 0) throw new ImportFailure(Abstractions.JobStatus.Failed, "Data is empty");
        var inferred = source.Columns.Select((name, i) => columns[i].ToColumn(name)).ToList();
        return new InferenceResult(dialect, inferred, rows) { Checks = more ? new TypeChecks(dialect, inferred, columns, rows) : null };
    }

    /// <summary>A text reader for the file in the detected encoding (strict UTF-8, so a bad byte is noticed, not replaced).</summary>
    public static TextReader Reader(Stream stream, CsvDialect dialect)
    {
        var encoding = dialect.Encoding is UTF8Encoding ? CsvSniffer.StrictUtf8 : dialect.Encoding;
        return new StreamReader(stream, encoding, detectEncodingFromByteOrderMarks: true, bufferSize: RowSourceFactory.ReaderBufferBytes);
    }

    internal sealed class ColumnStats
    {
        private long _missing, _values;
        private bool _allInteger = true, _allNumber = true, _allBoolean = true, _allDate = true;
        private int _dateFormat = -1;
        private bool _mixedDateFormats;
        // Hashes, not strings: up to 50 values per column of up to MAX_FIELD_CHARS each would otherwise be held for the
        // whole scan (a few compressible megabytes could pin gigabytes); a 64-bit collision only blurs category vs object.
        private readonly HashSet<ulong> _distinct = [];
        private bool _tooManyDistinct;
        // The kinds seen, one bit per ValueKind (a set of at most six).
        private int _kinds;

        public void Add(ReadOnlySpan<char> raw)
        {
            var kind = ValueKinds.Classify(raw);
            if (kind == ValueKind.Empty) { _missing++; return; }
            _values++;
            _kinds |= 1 << (int)kind;
            if (kind != ValueKind.Integer) _allInteger = false;
            if (kind is not (ValueKind.Integer or ValueKind.Float)) _allNumber = false;
            if (kind != ValueKind.Boolean) _allBoolean = false;
            if (kind != ValueKind.DateTime) _allDate = false;
            else
            {
                var format = ValueKinds.DateFormatIndex(raw.Trim());
                if (_dateFormat < 0) _dateFormat = format;
                else if (format != _dateFormat) _mixedDateFormats = true;
            }
            if (!_tooManyDistinct)
            {
                _distinct.Add(System.IO.Hashing.XxHash3.HashToUInt64(System.Runtime.InteropServices.MemoryMarshal.AsBytes(raw.Trim())));
                if (_distinct.Count > CategoryCap) { _tooManyDistinct = true; _distinct.Clear(); }
            }
        }

        public InferredColumn ToColumn(string name)
        {
            var mixed = System.Numerics.BitOperations.PopCount((uint)_kinds) > 1 && !_allNumber;
            if (_values == 0) return new InferredColumn(name, DataTypes.Text, null, false, _missing, false);
            if (_allBoolean) return new InferredColumn(name, _missing == 0 ? DataTypes.Bool : DataTypes.Text, null, false, _missing, false);
            if (_allInteger) return new InferredColumn(name, _missing == 0 ? DataTypes.Int64 : DataTypes.Float, null, false, _missing, false);
            if (_allNumber) return new InferredColumn(name, DataTypes.Float, null, false, _missing, false);
            if (_allDate && !_mixedDateFormats)
            {
                var format = ValueKinds.DateFormats[_dateFormat];
                return new InferredColumn(name, DataTypes.Datetime, format.Strftime, format.HasTime, _missing, false);
            }
            // Low-cardinality text is a category: few distinct values, each repeated.
            var category = !_tooManyDistinct && _distinct.Count <= Math.Max(1, _values / 2);
            return new InferredColumn(name, category ? DataTypes.Category : DataTypes.Text, null, false, _missing, mixed);
        }
    }
}

/// <summary>A column's type from the first rows does not hold further on; <see cref="Whole"/> is the whole file's, when known.</summary>
internal sealed class TypeBreak(string message, InferenceResult? whole) : Exception(message)
{
    public InferenceResult? Whole { get; } = whole;
}

/// <summary>
/// Confirms, while a version loads, that the types inferred from the first rows are those of the whole file, as cheaply as
/// the load allows: the encoder already refuses a value its column's type cannot read (a number column's text, a second date
/// format's ISO date), so what is checked here is what it would accept although whole-file inference would type the column
/// otherwise. An int64 or bool column turns float64 or object with a gap, a bool column with 1/0/yes/no, a date column with a
/// second format. Text columns (and columns empty so far) keep counting every value as inference does: their values decide
/// category or object, mixed kinds, and for a column empty in the first rows, its type.
/// </summary>
internal sealed class TypeChecks
{
    private enum Rule { Number, NoGaps, Boolean, Date, Counted }

    private readonly CsvDialect _dialect;
    private readonly IReadOnlyList<InferredColumn> _prefix;
    private readonly TypeInference.ColumnStats[] _stats;
    private readonly Rule[] _rules;
    private readonly int[] _dateFormats;
    private readonly long[] _missing;
    private readonly long _prefixRows;
    private long _rows;

    internal TypeChecks(CsvDialect dialect, IReadOnlyList<InferredColumn> prefix, TypeInference.ColumnStats[] stats, long prefixRows)
    {
        _dialect = dialect;
        _prefix = prefix;
        _stats = stats;
        _prefixRows = prefixRows;
        _missing = [.. prefix.Select(c => c.Missing)];
        _rules = [.. prefix.Select(c => c.Dtype switch
        {
            DataTypes.Float => Rule.Number,
            DataTypes.Int64 => Rule.NoGaps,
            DataTypes.Bool => Rule.Boolean,
            DataTypes.Datetime => Rule.Date,
            _ => Rule.Counted,
        })];
        _dateFormats = [.. prefix.Select(c => c.Dtype == DataTypes.Datetime
            ? Array.FindIndex(ValueKinds.DateFormats, f => f.Strftime == c.DateFormat && f.HasTime == c.HasTime) : -1)];
    }

    /// <summary>The load's row source, with every row after the first ones checked against the types.</summary>
    internal IRowSource Wrap(IRowSource source) => new CheckedRowSource(source, this);

    private void Check(IRowSource row)
    {
        // The load reads the file from its start; the first rows are those the types came from.
        if (++_rows <= _prefixRows || row.RecordError is not null) return;
        for (var i = 0; i < _rules.Length; i++)
        {
            var rule = _rules[i];
            if (rule == Rule.Counted)
            {
                _stats[i].Add(row.GetField(i));
                continue;
            }
            var value = row.GetField(i).Trim();
            if (value.IsEmpty)
            {
                if (rule is Rule.NoGaps or Rule.Boolean) throw Break(i, "has an empty value");
                _missing[i]++;
                continue;
            }
            switch (rule)
            {
                case Rule.Boolean when !value.Equals("true", StringComparison.OrdinalIgnoreCase) && !value.Equals("false", StringComparison.OrdinalIgnoreCase):
                    throw Break(i, "has a value other than true or false");
                // An ISO date the encoder reads is one for inference too; any other spelling must be the column's one format.
                case Rule.Date when !(_dateFormats[i] == 0 && value.Length == 10 && value[4] == '-' && value[7] == '-')
                                    && ValueKinds.DateFormatIndex(value) != _dateFormats[i]:
                    throw Break(i, "has a value in another date format");
            }
        }
    }

    private TypeBreak Break(int column, string what) =>
        new($"Column '{_prefix[column].Name}' ({_prefix[column].Dtype} in the first rows) {what} at row {_rows}", whole: null);

    /// <summary>
    /// Once every row went through: the whole file's types. Throws <see cref="TypeBreak"/> (with those types) when a column
    /// counted as text or empty turned out to need another storage type.
    /// </summary>
    internal InferenceResult Finish()
    {
        var columns = new List<InferredColumn>(_prefix.Count);
        for (var i = 0; i < _prefix.Count; i++)
        {
            var prefix = _prefix[i];
            columns.Add(_rules[i] == Rule.Counted ? _stats[i].ToColumn(prefix.Name) : prefix with { Missing = _missing[i] });
        }
        var whole = new InferenceResult(_dialect, columns, _rows);
        var changed = columns.Select((c, i) => (c, i)).FirstOrDefault(x =>
            DataTypes.SqlType(x.c.Dtype, x.c.HasTime) != DataTypes.SqlType(_prefix[x.i].Dtype, _prefix[x.i].HasTime));
        if (changed.c is { } column)
            throw new TypeBreak($"Column '{column.Name}' is {column.Dtype} over the whole file, {_prefix[changed.i].Dtype} in the first rows", whole);
        return whole;
    }

    private sealed class CheckedRowSource(IRowSource inner, TypeChecks checks) : IRowSource
    {
        public IReadOnlyList<string> Columns => inner.Columns;
        public RowError? RecordError => inner.RecordError;
        public ReadOnlySpan<char> GetField(int index) => inner.GetField(index);

        public ValueTask<bool> ReadAsync()
        {
            var read = inner.ReadAsync();
            if (!read.IsCompletedSuccessfully) return Checked(read);
            var more = read.Result;
            if (more) checks.Check(inner);
            return ValueTask.FromResult(more);
        }

        private async ValueTask<bool> Checked(ValueTask<bool> read)
        {
            var more = await read;
            if (more) checks.Check(inner);
            return more;
        }

        public void Dispose() => inner.Dispose();
    }
}
