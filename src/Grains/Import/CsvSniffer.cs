using System.Text;
using DatasetPlatform.Grains.Storage;

namespace DatasetPlatform.Grains.Import;

/// <summary>How a CSV file is written: its text encoding, delimiter and whether the first row is a header.</summary>
public sealed record CsvDialect(Encoding Encoding, char Delimiter, bool HasHeader)
{
    public string EncodingName => Encoding.WebName;
}

/// <summary>
/// Guesses a CSV dialect from the first bytes of a file. Encoding: a BOM decides (UTF-8, UTF-16 LE/BE); otherwise
/// UTF-8 when the sample is valid UTF-8, else Windows-1252 (a superset of Latin-1 for printable text). The type
/// inference pass then reads the whole file with that encoding and falls back to Windows-1252 if UTF-8 breaks later.
/// </summary>
public static class CsvSniffer
{
    public const int SampleBytes = 64 * 1024;
    private static readonly char[] Candidates = [',', ';', '\t', '|'];

    static CsvSniffer() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    public static Encoding Windows1252 => Encoding.GetEncoding(1252);

    public static Encoding StrictUtf8 { get; } = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static CsvDialect Sniff(ReadOnlySpan<byte> sample, bool sampleIsWholeFile)
    {
        var encoding = DetectEncoding(sample, sampleIsWholeFile);
        // Decoded into a rented buffer: only its first rows are kept, and a string of the whole sample (128 KB) went to the
        // large-object heap for every version upload.
        var chars = SmallArrays<char>.Rent(encoding.GetMaxCharCount(sample.Length));
        List<string> rows;
        try
        {
            ReadOnlySpan<char> text = chars.AsSpan(0, encoding.GetChars(sample, chars));
            if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
            rows = SplitRows(text, 50, sampleIsWholeFile);
        }
        finally
        {
            SmallArrays<char>.Return(chars);
        }
        var delimiter = DetectDelimiter(rows);
        var fields = rows.Select(r => SplitFields(r, delimiter)).Where(f => f.Count > 0).ToList();
        return new CsvDialect(encoding, delimiter, DetectHeader(fields));
    }

    private static Encoding DetectEncoding(ReadOnlySpan<byte> sample, bool whole)
    {
        if (sample.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) return new UTF8Encoding(false);
        if (sample.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE])) return Encoding.Unicode;
        if (sample.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF])) return Encoding.BigEndianUnicode;
        // The sample may end in the middle of a multi-byte character: only judge complete sequences.
        var checkable = whole ? sample : TrimPartialUtf8(sample);
        return System.Text.Unicode.Utf8.IsValid(checkable) ? new UTF8Encoding(false) : Windows1252;
    }

    private static ReadOnlySpan<byte> TrimPartialUtf8(ReadOnlySpan<byte> sample)
    {
        for (var back = 1; back <= 3 && back <= sample.Length; back++)
        {
            var b = sample[^back];
            if ((b & 0xC0) == 0x80) continue;      // continuation byte: keep looking for the lead byte
            if ((b & 0x80) == 0) return sample;      // ASCII: complete
            var needed = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : 4;
            return needed > back ? sample[..^back] : sample;
        }
        return sample;
    }

    /// <summary>Splits text into records, honouring quotes (a quoted field may contain line breaks).</summary>
    private static List<string> SplitRows(ReadOnlySpan<char> text, int max, bool whole)
    {
        var rows = new List<string>();
        var start = 0;
        var quoted = false;
        for (var i = 0; i < text.Length && rows.Count < max; i++)
        {
            var c = text[i];
            if (c == '"') quoted = !quoted;
            else if (!quoted && (c == '\n' || c == '\r'))
            {
                if (i > start) rows.Add(text[start..i].ToString());
                if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;
                start = i + 1;
            }
        }
        // The tail of a sample may be a cut-off record; keep it only when the sample is the whole file.
        if (whole && start < text.Length && rows.Count < max && !quoted) rows.Add(text[start..].ToString());
        return rows;
    }

    private static List<string> SplitFields(string row, char delimiter)
    {
        var fields = new List<string>();
        var current = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < row.Length; i++)
        {
            var c = row[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < row.Length && row[i + 1] == '"') { current.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else current.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == delimiter) { fields.Add(current.ToString()); current.Clear(); }
            else current.Append(c);
        }
        fields.Add(current.ToString());
        return fields;
    }

    /// <summary>The candidate that splits most rows into the same number (> 1) of fields; ties go to the most fields.</summary>
    private static char DetectDelimiter(List<string> rows)
    {
        if (rows.Count == 0) return ',';
        var best = ',';
        var bestScore = (Consistency: -1.0, Fields: 0);
        foreach (var candidate in Candidates)
        {
            var counts = rows.Select(r => SplitFields(r, candidate).Count).ToList();
            var mode = counts.GroupBy(c => c).OrderByDescending(g => g.Count()).ThenByDescending(g => g.Key).First();
            if (mode.Key <= 1) continue;
            var score = ((double)mode.Count() / counts.Count, mode.Key);
            if (score.Item1 > bestScore.Consistency || (score.Item1 == bestScore.Consistency && score.Key > bestScore.Fields))
            {
                best = candidate;
                bestScore = score;
            }
        }
        return best;
    }

    /// <summary>
    /// A first row is a header when none of its cells looks like data of a typed column below it (a number, a date,
    /// a boolean) while that column's other cells do, or when every cell is non-empty text and unique while the rows
    /// below repeat or differ in kind. With one row only, non-numeric distinct cells count as a header.
    /// </summary>
    private static bool DetectHeader(List<List<string>> rows)
    {
        if (rows.Count == 0) return true;
        var first = rows[0];
        if (first.Any(string.IsNullOrWhiteSpace) || first.Distinct().Count() != first.Count) return false;
        if (first.Any(f => ValueKinds.Classify(f) != ValueKind.Text)) return false;
        if (rows.Count == 1) return true;
        for (var c = 0; c < first.Count; c++)
        {
            var below = rows.Skip(1).Where(r => c < r.Count && !string.IsNullOrWhiteSpace(r[c])).Select(r => ValueKinds.Classify(r[c])).ToList();
            if (below.Count > 0 && below.All(k => k != ValueKind.Text)) return true; // a typed column with a text label on top
        }
        // All text: a header if its labels never occur as values in their column.
        return Enumerable.Range(0, first.Count).All(c => rows.Skip(1).All(r => c >= r.Count || r[c] != first[c]));
    }
}
