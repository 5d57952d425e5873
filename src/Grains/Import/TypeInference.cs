using System.Globalization;
using System.Text;
using DatasetPlatform.Grains.Schema;
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

public sealed record InferenceResult(CsvDialect Dialect, IReadOnlyList<InferredColumn> Columns, long Rows);

/// <summary>
/// Reads a whole CSV once to type every column (int64, float64, bool, datetime64, category, object) the way pandas
/// would: an integer column with gaps becomes float64, a boolean column with gaps becomes object. Memory is bounded:
/// only up to <see cref="CategoryCap"/> distinct values per column are remembered, to tell category from object.
/// </summary>
public static class TypeInference
{
    public const int CategoryCap = 50;

    public static async Task<InferenceResult> InferAsync(Func<CancellationToken, Task<Stream>> open, ImportLimits limits, CancellationToken cancellationToken)
    {
        byte[] sample;
        bool whole;
        await using (var first = await open(cancellationToken))
        {
            sample = new byte[CsvSniffer.SampleBytes];
            var filled = 0;
            int read;
            while (filled < sample.Length && (read = await first.ReadAsync(sample.AsMemory(filled), cancellationToken)) > 0) filled += read;
            whole = filled < sample.Length;
            Array.Resize(ref sample, filled);
        }
        if (sample.Length == 0) throw new ImportFailure(Abstractions.JobStatus.Failed, "Data is empty");
        var dialect = CsvSniffer.Sniff(sample, whole);
        try
        {
            return await ScanAsync(open, dialect, limits, cancellationToken);
        }
        catch (DecoderFallbackException)
        {
            // Valid UTF-8 at the start, not further on: the file is in a single-byte code page after all.
            return await ScanAsync(open, dialect with { Encoding = CsvSniffer.Windows1252 }, limits, cancellationToken);
        }
    }

    private static async Task<InferenceResult> ScanAsync(Func<CancellationToken, Task<Stream>> open, CsvDialect dialect, ImportLimits limits,
        CancellationToken cancellationToken)
    {
        await using var stream = await open(cancellationToken);
        using var source = await CsvRowSource.OpenAsync(Reader(stream, dialect), dialect, limits, reportEncodingErrors: false, cancellationToken)
            ?? throw new ImportFailure(Abstractions.JobStatus.Failed, "Data is empty");
        var columns = source.Columns.Select(_ => new ColumnStats()).ToArray();
        long rows = 0;
        while (await source.ReadAsync())
        {
            rows++;
            for (var i = 0; i < columns.Length; i++) columns[i].Add(source.GetField(i));
        }
        if (rows == 0) throw new ImportFailure(Abstractions.JobStatus.Failed, "Data is empty");
        return new InferenceResult(dialect, [.. source.Columns.Select((name, i) => columns[i].ToColumn(name))], rows);
    }

    /// <summary>A text reader for the file in the detected encoding (strict UTF-8, so a bad byte is noticed, not replaced).</summary>
    public static TextReader Reader(Stream stream, CsvDialect dialect)
    {
        var encoding = dialect.Encoding is UTF8Encoding ? CsvSniffer.StrictUtf8 : dialect.Encoding;
        return new StreamReader(stream, encoding, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
    }

    private sealed class ColumnStats
    {
        private long _missing, _values;
        private bool _allInteger = true, _allNumber = true, _allBoolean = true, _allDate = true;
        private int _dateFormat = -1;
        private bool _mixedDateFormats;
        // Hashes, not strings: up to 50 values per column of up to MAX_FIELD_CHARS each would otherwise be held for the
        // whole scan (a few compressible megabytes could pin gigabytes); a 64-bit collision only blurs category vs object.
        private readonly HashSet<ulong> _distinct = [];
        private bool _tooManyDistinct;
        private readonly HashSet<ValueKind> _kinds = [];

        public void Add(ReadOnlySpan<char> raw)
        {
            var kind = ValueKinds.Classify(raw);
            if (kind == ValueKind.Empty) { _missing++; return; }
            _values++;
            _kinds.Add(kind);
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
            var mixed = _kinds.Count > 1 && !_allNumber;
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
