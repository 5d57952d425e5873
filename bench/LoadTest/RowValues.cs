using System.Globalization;

namespace DatasetPlatform.LoadTest;

/// <summary>
/// The deterministic content of every generated file, and so of every expected final state: upload k of a dataset covers the keys
/// [k*h, k*h + R) with h = R/2, so each upload overlaps half of the previous one, and every value depends on (dataset, upload, key),
/// so the value a key ends with tells which upload was applied last.
/// </summary>
public sealed class RowValues(int datasetIndex, int rowsPerUpload)
{
    /// <summary>Entities per date in keyed (Alphacast) files: key i is (2000-01-01 + i / Entities days, "E" + i % Entities).</summary>
    public const int Entities = 100;

    public const int DecimalColumns = 6;

    public static readonly DateOnly FirstDate = new(2000, 1, 1);

    public int Rows { get; } = rowsPerUpload;

    /// <summary>How far each upload's key range moves on from the previous one's.</summary>
    public long Step { get; } = Math.Max(1, rowsPerUpload / 2);

    public long FirstKey(int upload) => upload * Step;

    /// <summary>Every key any of <paramref name="uploads"/> uploads covers: [0, KeySpace).</summary>
    public long KeySpace(int uploads) => (uploads - 1) * Step + Rows;

    /// <summary>The uploads whose key range holds <paramref name="key"/>: [first, last].</summary>
    public (int First, int Last) Covering(long key, int uploads)
    {
        var last = (int)Math.Min(uploads - 1, key / Step);
        var first = (int)Math.Max(0, (key - Rows + Step) / Step);
        return (first, last);
    }

    /// <summary>A value in cents: 0 to 9999.99, different for each dataset, upload, key and column.</summary>
    public long Cents(int upload, long key, int column) =>
        (((long)datasetIndex * 7919 + (long)upload * 104729 + key * 31 + column * 17) % 1_000_000 + 1_000_000) % 1_000_000;

    public static DateOnly DateOf(long key) => FirstDate.AddDays((int)(key / Entities));

    public static string EntityOf(long key) => "E" + (key % Entities).ToString("000", CultureInfo.InvariantCulture);

    public static string Label(int upload, long key) => "r" + key.ToString(CultureInfo.InvariantCulture) + "u" + upload.ToString(CultureInfo.InvariantCulture);

    /// <summary>The key of a (date, entity) pair read back, or -1 when it is none of ours.</summary>
    public static long KeyOf(string date, string entity)
    {
        if (date.Length < 10 || !DateOnly.TryParseExact(date.AsSpan(0, 10), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day)) return -1;
        if (entity.Length != 4 || entity[0] != 'E' || !int.TryParse(entity.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var e)) return -1;
        return (long)(day.DayNumber - FirstDate.DayNumber) * Entities + e;
    }

    /// <summary>A value read back equals <paramref name="cents"/> (the service may print 12.3 for 12.30).</summary>
    public static bool SameCents(string text, long cents) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && Math.Round(value * 100) == cents;

    public static void WriteCents(TextWriter writer, long cents)
    {
        writer.Write((cents / 100).ToString(CultureInfo.InvariantCulture));
        writer.Write('.');
        writer.Write((cents % 100).ToString("00", CultureInfo.InvariantCulture));
    }
}
