namespace DatasetPlatform.Grains.Import;

/// <summary>
/// Reads the usual spelling of a decimal number (an optional sign, at most 15 digits, at most one point: "-1234.5678") to the
/// double that <see cref="double.Parse(string)"/> gives, without its general machinery; anything else (exponents, more digits,
/// other characters) is left to double.TryParse. A version's float columns are most of its values, so this is per value.
/// </summary>
/// <remarks>
/// Exact, not approximate: the digits make an integer below 10^15 and the point a power of ten up to 10^15, both exactly
/// representable as doubles (below 2^53 and 10^22), and IEEE division rounds their quotient correctly, which is what
/// double.Parse's correctly rounded result is (Clinger's fast path). "-0" is -0.0, as double.Parse reads it.
/// </remarks>
internal static class SimpleDecimals
{
    private const int MaxDigits = 15;

    private static ReadOnlySpan<double> PowersOfTen =>
        [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

    public static bool TryParse(ReadOnlySpan<char> text, out double value)
    {
        value = 0;
        var i = 0;
        var negative = false;
        if (text.Length > 0 && text[0] is '-' or '+')
        {
            negative = text[0] == '-';
            i = 1;
        }
        long mantissa = 0;
        int digits = 0, fractionDigits = 0;
        var point = false;
        for (; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsAsciiDigit(c))
            {
                if (++digits > MaxDigits) return false;
                mantissa = mantissa * 10 + (c - '0');
                if (point) fractionDigits++;
            }
            else if (c == '.' && !point) point = true;
            else return false;
        }
        if (digits == 0) return false;
        var magnitude = fractionDigits == 0 ? mantissa : mantissa / PowersOfTen[fractionDigits];
        value = negative ? -magnitude : magnitude;
        return true;
    }
}
