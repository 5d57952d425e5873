using System.Globalization;
using System.Text;

namespace DatasetPlatform.Grains.Schema;

/// <summary>A compiled date format: parses a field into a DateTime, with a fast path for ISO dates.</summary>
public sealed class DateParser
{
    private readonly string? _netFormat;
    private readonly bool _isoDate;

    internal DateParser(string? netFormat, bool isoDate, bool hasTime)
    {
        _netFormat = netFormat;
        _isoDate = isoDate;
        HasTime = hasTime;
    }

    /// <summary>True when the format carries a time of day, so values are stored as timestamp rather than date.</summary>
    public bool HasTime { get; }

    public bool TryParse(ReadOnlySpan<char> text, out DateTime value)
    {
        text = text.Trim();
        if ((_isoDate || _netFormat is null) && TryParseIsoDate(text, out value)) return true;
        if (_netFormat is not null)
            return DateTime.TryParseExact(text, _netFormat, CultureInfo.InvariantCulture,
                DateTimeStyles.AllowWhiteSpaces | DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out value);
        return DateTime.TryParse(text, CultureInfo.InvariantCulture,
            DateTimeStyles.AllowWhiteSpaces | DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out value);
    }

    // yyyy-MM-dd without culture machinery: most files carry ISO dates, and this runs once per row.
    private static bool TryParseIsoDate(ReadOnlySpan<char> s, out DateTime value)
    {
        value = default;
        if (s.Length != 10 || s[4] != '-' || s[7] != '-') return false;
        if (!TryDigits(s[..4], out var year) || !TryDigits(s.Slice(5, 2), out var month) || !TryDigits(s.Slice(8, 2), out var day)) return false;
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month)) return false;
        value = new DateTime(year, month, day, 0, 0, 0, DateTimeKind.Utc);
        return true;
    }

    private static bool TryDigits(ReadOnlySpan<char> s, out int number)
    {
        number = 0;
        foreach (var c in s)
        {
            if (c is < '0' or > '9') return false;
            number = number * 10 + (c - '0');
        }
        return true;
    }
}

/// <summary>Turns Alphacast's strftime-style formats (%Y-%m-%d) into parsers.</summary>
public static class DateFormats
{
    public static DateParser Compile(string? strftime)
    {
        if (string.IsNullOrWhiteSpace(strftime)) return new DateParser(null, isoDate: true, hasTime: false);
        var format = strftime.Trim();
        if (format == "%Y-%m-%d") return new DateParser("yyyy-M-d", isoDate: true, hasTime: false);

        var net = new StringBuilder();
        var hasTime = false;
        for (var i = 0; i < format.Length; i++)
        {
            var c = format[i];
            if (c != '%')
            {
                net.Append('\\').Append(c); // every literal escaped, so letters like 'T' stay literal
                continue;
            }
            if (++i >= format.Length) throw new ManifestException($"Date format '{strftime}' ends with a lone '%'.");
            var directive = format[i];
            // Parsing strftime accepts unpadded numbers, so use the one-letter .NET specifiers (they accept 1 or 2 digits).
            net.Append(directive switch
            {
                'Y' => "yyyy",
                'y' => "yy",
                'm' => "M",
                'd' or 'e' => "d",
                'b' or 'h' => "MMM",
                'B' => "MMMM",
                'a' => "ddd",
                'A' => "dddd",
                'H' => "H",
                'I' => "h",
                'M' => "m",
                'S' => "s",
                'f' => "FFFFFF",
                'p' => "tt",
                'z' => "zzz",
                '%' => "\\%",
                _ => throw new ManifestException($"Date format '{strftime}' uses %{directive}, which is not supported."),
            });
            if (directive is 'H' or 'I' or 'M' or 'S' or 'f' or 'p') hasTime = true;
        }
        var netFormat = net.ToString();
        // A one-character custom format would be read as a standard format; '%' forces custom.
        if (netFormat.Length == 1) netFormat = "%" + netFormat;
        return new DateParser(netFormat, isoDate: false, hasTime);
    }
}
