using System.Buffers.Binary;
using System.Buffers.Text;
using System.Numerics;

namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// Writes values received in PostgreSQL's binary COPY format as the server's own output functions write them in a download
/// session (float8out with the default extra_float_digits = 1, i.e. the shortest text that reads back to the same double;
/// date_out and timestamp_out under DateStyle ISO; int8out), so a download formatted here is byte for byte the CSV that
/// COPY ... (FORMAT csv) would have sent. Doing it here moves the text formatting, most of a COPY TO's cost, from
/// PostgreSQL's one core onto the service's (see <see cref="BinaryCsvCopy"/>). BinaryCsvCopyTests hold every writer against the
/// server's own text for the same values.
/// </summary>
internal static class PgText
{
    /// <summary>Bytes the longest value of a fixed-width type takes (a timestamp of year 294276 BC with microseconds).</summary>
    public const int MaxFixedWidth = 40;

    // Julian day number of 2000-01-01, PostgreSQL's epoch for dates and timestamps (POSTGRES_EPOCH_JDATE).
    private const int EpochJulianDay = 2451545;
    // DateOnly.DayNumber of 2000-01-01.
    private const int EpochDayNumber = 730119;
    private const long MicrosPerDay = 86_400_000_000L;

    /// <summary>
    /// float8out: the shortest decimal that reads back as <paramref name="value"/>, fixed notation for decimal exponents -4 to
    /// 14. <paramref name="decimalsHint"/> carries the decimals the column's last value needed, where the search for this one
    /// starts.
    /// </summary>
    public static int WriteFloat8(double value, Span<byte> destination, ref int decimalsHint)
    {
        if (TryWriteShortFixed(value, destination, ref decimalsHint, out var written)) return written;
        if (double.IsPositiveInfinity(value)) return Copy("Infinity"u8, destination);
        if (double.IsNegativeInfinity(value)) return Copy("-Infinity"u8, destination);
        if (double.IsNaN(value)) return Copy("NaN"u8, destination);
        return WriteShortest(value, destination);
    }

    /// <summary>
    /// Any finite double, exactly (BigInteger; slower, and needed only outside the common range): the decimal PostgreSQL's Ryu
    /// writes is the one with the fewest digits strictly inside the value's rounding interval (half an ulp either side; below
    /// a power of two the ulp is half as wide), the nearest to the value of those (a tie goes to the even one), laid out as
    /// float8out does: fixed for a decimal exponent from -4 to 14, otherwise d.ddde+XX (at least two exponent digits).
    /// </summary>
    private static int WriteShortest(double value, Span<byte> destination)
    {
        if (value == 0) return Copy(double.IsNegative(value) ? "-0"u8 : "0"u8, destination);
        var (significand, lastDigitPower) = ShortestDecimal(Math.Abs(value));
        Span<byte> digits = stackalloc byte[24];
        Utf8Formatter.TryFormat(significand, digits, out var count);
        var decimalExponent = lastDigitPower + count - 1;
        // Fixed notation: below 1e15, so the digits with their trailing zeros fit an integer.
        if (decimalExponent is >= -4 and < 15)
            return lastDigitPower < 0
                ? WriteScaled(value < 0, significand, -lastDigitPower, destination)
                : WriteScaled(value < 0, significand * PowersOfTen64[lastDigitPower], 0, destination);
        var at = 0;
        if (value < 0) destination[at++] = (byte)'-';
        destination[at++] = digits[0];
        if (count > 1)
        {
            destination[at++] = (byte)'.';
            digits[1..count].CopyTo(destination[at..]);
            at += count - 1;
        }
        destination[at++] = (byte)'e';
        destination[at++] = decimalExponent < 0 ? (byte)'-' : (byte)'+';
        var magnitude = Math.Abs(decimalExponent);
        if (magnitude < 10) destination[at++] = (byte)'0';
        Utf8Formatter.TryFormat(magnitude, destination[at..], out var exponentLength);
        return at + exponentLength;
    }

    /// <summary>The shortest decimal of a positive finite double as significand x 10^power, the significand without trailing zeros.</summary>
    private static (ulong Significand, int Power) ShortestDecimal(double magnitude)
    {
        var bits = BitConverter.DoubleToInt64Bits(magnitude);
        var biased = (int)(bits >> 52);
        var fraction = bits & 0xF_FFFF_FFFF_FFFFL;
        var mantissa = biased == 0 ? fraction : fraction | (1L << 52);
        var exponent = (biased == 0 ? 1 : biased) - 1075;
        // In units of 2^(exponent - 2): the value is 4m, the interval (4m - 2, 4m + 2), or (4m - 1, 4m + 2) above a power of two.
        var lowerOffset = fraction == 0 && biased > 1 ? 1 : 2;
        var unitShift = exponent - 2;
        // A decimal c x 10^q compares with x units as c * A against x * B.
        (BigInteger A, BigInteger B) Scales(int q) => (
            BigInteger.Pow(10, Math.Max(q, 0)) << Math.Max(-unitShift, 0),
            BigInteger.Pow(10, Math.Max(-q, 0)) << Math.Max(unitShift, 0));

        // Candidates at power q: the decimals just below and just above the value, and which of them lie strictly inside.
        (BigInteger Candidate, bool Found) Best(int q)
        {
            var (a, b) = Scales(q);
            var center = 4 * (BigInteger)mantissa * b;
            var lower = (4 * (BigInteger)mantissa - lowerOffset) * b;
            var upper = (4 * (BigInteger)mantissa + 2) * b;
            var below = BigInteger.Divide(center, a);
            var above = below + 1;
            var belowInside = below * a > lower;
            var aboveInside = above * a < upper;
            if (!belowInside && !aboveInside) return (0, false);
            if (belowInside != aboveInside) return (belowInside ? below : above, true);
            var belowDistance = center - below * a;
            var aboveDistance = above * a - center;
            if (belowDistance != aboveDistance) return (belowDistance < aboveDistance ? below : above, true);
            return (below.IsEven ? below : above, true);
        }

        // The largest q with a candidate inside; a smaller q always has one too. 17 significant digits always suffice.
        var estimate = (int)Math.Floor(Math.Log10(magnitude));
        int low = estimate - 18, high = estimate + 2;
        while (low < high)
        {
            var middle = low + (high - low + 1) / 2;
            if (Best(middle).Found) low = middle;
            else high = middle - 1;
        }
        var (significand, _) = Best(low);
        var power = low;
        while (!significand.IsZero && significand % 10 == 0)
        {
            significand /= 10;
            power++;
        }
        return ((ulong)significand, power);
    }

    /// <summary>
    /// The common case, exactly and quickly: a value from 1e-4 to below 1e15 (fixed notation) that is not a power of two. For
    /// k = 0, 1, 2, ... the decimal with k decimals nearest to the value is found exactly (a fused multiply-add gives the
    /// rounding error of value x 10^k), and the first that reads back as the value is the shortest decimal; being the nearest
    /// (the rounding interval is symmetric when the value is not a power of two), it is the one PostgreSQL's Ryu writes. While
    /// value x 10^k stays below 2^52 every step is exact in doubles and a decimal can never lie exactly half an ulp away
    /// (that needs k beyond the value's binary exponent), so reading back is the same as lying strictly inside; from 2^52 on,
    /// the rest of the search is done in 128-bit integers (<see cref="TryWriteShortFixedWide"/>).
    /// </summary>
    private static bool TryWriteShortFixed(double value, Span<byte> destination, ref int decimalsHint, out int written)
    {
        written = 0;
        var magnitude = Math.Abs(value);
        if (!(magnitude >= 1e-4 && magnitude < 1e15)) return false;
        if ((BitConverter.DoubleToInt64Bits(magnitude) & 0xF_FFFF_FFFF_FFFFL) == 0) return false;
        // Reading back is monotone in k (a k-decimal is also a (k+1)-decimal), so the search starts where the column's last
        // value ended and walks down or up from there: one or two steps for a column of like values.
        var k = Math.Clamp(decimalsHint, 0, PowersOfTen.Length - 1);
        var found = NearestReadingBack(magnitude, k);
        // Too wide there says nothing about fewer decimals: start again from none (never too wide, below 1e15).
        if (found == Wide) found = NearestReadingBack(magnitude, k = 0);
        if (found >= 0)
        {
            while (k > 0 && NearestReadingBack(magnitude, k - 1) is >= 0 and var shorter)
            {
                found = shorter;
                k--;
            }
        }
        else
        {
            do
            {
                if (++k == PowersOfTen.Length) return false;
                found = NearestReadingBack(magnitude, k);
                if (found == Wide) return TryWriteShortFixedWide(value, k, destination, ref decimalsHint, out written);
            }
            while (found < 0);
        }
        if (k >= 4 && found < PowersOfTen[k - 4]) return false;
        decimalsHint = k;
        written = WriteScaled(value < 0, (ulong)found, k, destination);
        return true;
    }

    // What NearestReadingBack answers besides a decimal: none with k decimals reads back; value x 10^k is too wide for doubles.
    private const double None = -1, Wide = -2;

    /// <summary>The nearest decimal to <paramref name="magnitude"/> with <paramref name="k"/> decimals, times 10^k, if it reads back as it.</summary>
    private static double NearestReadingBack(double magnitude, int k)
    {
        var scale = PowersOfTen[k];
        var product = magnitude * scale;
        if (product >= 4503599627370496.0) return Wide;
        // product + error is magnitude x 10^k exactly; product - floor is exact below 2^52.
        var error = Math.FusedMultiplyAdd(magnitude, scale, -product);
        var floor = Math.Floor(product);
        var fraction = product - floor;
        // Exactly half way: both neighbours are too far to read back as the value.
        if (fraction == 0.5 && error == 0) return None;
        var nearest = fraction > 0.5 || (fraction == 0.5 && error > 0) ? floor + 1 : floor;
        return nearest / scale == magnitude ? nearest : None;
    }

    /// <summary>
    /// <see cref="TryWriteShortFixed"/> from <paramref name="firstDecimals"/> decimals on, where value x 10^k no longer fits a
    /// double's 52 fraction bits: with the value as m / 2^s, the nearest k-decimal is found in 128-bit integers and taken when
    /// strictly within half an ulp (PostgreSQL's Ryu is built without STRICTLY_SHORTEST: a decimal exactly half an ulp away
    /// is not taken even when it would read back, ties going to an even mantissa).
    /// </summary>
    private static bool TryWriteShortFixedWide(double value, int firstDecimals, Span<byte> destination, ref int decimalsHint, out int written)
    {
        written = 0;
        var bits = BitConverter.DoubleToInt64Bits(Math.Abs(value));
        var mantissa = ((ulong)bits & 0xF_FFFF_FFFF_FFFFUL) | (1UL << 52);
        // In the fixed range the shift is 3 to 66.
        var shift = 1075 - (int)(bits >> 52);
        var half = UInt128.One << (shift - 1);
        // 17 significant digits always suffice; from 1e-4 up they need at most 21 decimals.
        for (var k = firstDecimals; k <= 21; k++)
        {
            var scaled = mantissa * PowersOfTen128[k];
            var below = scaled >> shift;
            var remainder = scaled - (below << shift);
            if (remainder == half) return false;
            var nearest = remainder > half ? below + 1 : below;
            var distance = remainder > half ? (nearest << shift) - scaled : remainder;
            if ((distance << 1) >= PowersOfTen128[k]) continue;
            // Its text must stay in fixed notation (an exponent from -4 to 14) for this layout.
            if ((k >= 4 && nearest < PowersOfTen128[k - 4]) || nearest >= PowersOfTen128[k + 15] || nearest > ulong.MaxValue) return false;
            decimalsHint = k;
            written = WriteScaled(value < 0, (ulong)nearest, k, destination);
            return true;
        }
        return false;
    }

    // 10^0 .. 10^22: every one exact as a double, so a division by one is correctly rounded.
    private static readonly double[] PowersOfTen = [.. Enumerable.Range(0, 23).Select(k => Math.Pow(10, k))];

    // 10^0 .. 10^36.
    private static readonly UInt128[] PowersOfTen128 = [.. Enumerable.Range(0, 37).Select(k => Enumerable.Repeat((UInt128)10, k).Aggregate(UInt128.One, (a, b) => a * b))];

    /// <summary><paramref name="digits"/> / 10^<paramref name="decimals"/> in fixed notation, no trailing zeros after the point.</summary>
    private static int WriteScaled(bool negative, ulong digits, int decimals, Span<byte> destination)
    {
        var at = 0;
        if (negative) destination[at++] = (byte)'-';
        var count = 1;
        while (count < 20 && digits >= PowersOfTen64[count]) count++;
        var whole = count - decimals;
        // Below 1: "0." and the zeros between the point and the first digit.
        if (whole <= 0 && decimals > 0)
        {
            destination[at++] = (byte)'0';
            destination[at++] = (byte)'.';
            destination.Slice(at, -whole).Fill((byte)'0');
            at += -whole;
        }
        // The digits from the last, with the point before the last `decimals` of them when there are digits before it.
        var end = at + count + (whole > 0 && decimals > 0 ? 1 : 0);
        var position = end;
        for (var i = 0; i < count; i++)
        {
            if (i == decimals && decimals > 0) destination[--position] = (byte)'.';
            var quotient = digits / 10;
            destination[--position] = (byte)('0' + (int)(digits - quotient * 10));
            digits = quotient;
        }
        return end;
    }

    private static readonly ulong[] PowersOfTen64 = [.. Enumerable.Range(0, 20).Select(k => (ulong)Math.Pow(10, k))];

    public static int WriteInt64(long value, Span<byte> destination)
    {
        Utf8Formatter.TryFormat(value, destination, out var written);
        return written;
    }

    /// <summary>date_out under DateStyle ISO: days since 2000-01-01 as YYYY-MM-DD (" BC" for year 0 and before), or ±infinity.</summary>
    public static int WriteDate(int days, Span<byte> destination)
    {
        if (days == int.MaxValue) return Copy("infinity"u8, destination);
        if (days == int.MinValue) return Copy("-infinity"u8, destination);
        var (year, month, day) = CivilDate(days);
        var at = WriteYearMonthDay(year, month, day, destination);
        return year <= 0 ? at + Copy(" BC"u8, destination[at..]) : at;
    }

    /// <summary>
    /// timestamp_out under DateStyle ISO: microseconds since 2000-01-01 00:00 as YYYY-MM-DD HH:MM:SS, then the fraction of a
    /// second without trailing zeros when there is one, then " BC" for year 0 and before; or ±infinity.
    /// </summary>
    public static int WriteTimestamp(long micros, Span<byte> destination)
    {
        if (micros == long.MaxValue) return Copy("infinity"u8, destination);
        if (micros == long.MinValue) return Copy("-infinity"u8, destination);
        var days = Math.DivRem(micros, MicrosPerDay, out var time);
        if (time < 0)
        {
            time += MicrosPerDay;
            days--;
        }
        var (year, month, day) = CivilDate((int)days);
        var at = WriteYearMonthDay(year, month, day, destination);
        destination[at++] = (byte)' ';
        var seconds = Math.DivRem(time, 1_000_000L, out var fraction);
        at += WriteTwoDigits((int)(seconds / 3600), destination[at..]);
        destination[at++] = (byte)':';
        at += WriteTwoDigits((int)(seconds / 60 % 60), destination[at..]);
        destination[at++] = (byte)':';
        at += WriteTwoDigits((int)(seconds % 60), destination[at..]);
        if (fraction != 0)
        {
            destination[at++] = (byte)'.';
            var digits = 6;
            while (fraction % 10 == 0)
            {
                fraction /= 10;
                digits--;
            }
            for (var i = digits - 1; i >= 0; i--)
            {
                destination[at + i] = (byte)('0' + fraction % 10);
                fraction /= 10;
            }
            at += digits;
        }
        return year <= 0 ? at + Copy(" BC"u8, destination[at..]) : at;
    }

    /// <summary>Proleptic Gregorian year (0 = 1 BC, as PostgreSQL's j2date counts), month and day of a day number from 2000-01-01.</summary>
    private static (int Year, int Month, int Day) CivilDate(int days)
    {
        // The usual case without arithmetic of our own.
        if (days >= -EpochDayNumber && days <= DateOnly.MaxValue.DayNumber - EpochDayNumber)
        {
            var date = DateOnly.FromDayNumber(EpochDayNumber + days);
            return (date.Year, date.Month, date.Day);
        }
        // PostgreSQL's j2date, for the dates DateOnly cannot hold (before year 1, after 9999).
        var julian = (uint)((long)days + EpochJulianDay);
        julian += 32044;
        var quad = julian / 146097;
        var extra = (julian - quad * 146097) * 4 + 3;
        julian += 60 + quad * 3 + extra / 146097;
        quad = julian / 1461;
        julian -= quad * 1461;
        var y = (int)(julian * 4 / 1461);
        julian = (y != 0 ? (julian + 305) % 365 : (julian + 306) % 366) + 123;
        y += (int)(quad * 4);
        quad = julian * 2141 / 65536;
        return (y - 4800, (int)((quad + 10) % 12 + 1), (int)(julian - 7834 * quad / 256));
    }

    private static int WriteYearMonthDay(int year, int month, int day, Span<byte> destination)
    {
        // Year 0 is 1 BC; at least four digits.
        var shown = year > 0 ? year : 1 - year;
        int at;
        if (shown < 10000)
        {
            destination[0] = (byte)('0' + shown / 1000);
            destination[1] = (byte)('0' + shown / 100 % 10);
            destination[2] = (byte)('0' + shown / 10 % 10);
            destination[3] = (byte)('0' + shown % 10);
            at = 4;
        }
        else Utf8Formatter.TryFormat(shown, destination, out at);
        destination[at++] = (byte)'-';
        at += WriteTwoDigits(month, destination[at..]);
        destination[at++] = (byte)'-';
        return at + WriteTwoDigits(day, destination[at..]);
    }

    private static int WriteTwoDigits(int value, Span<byte> destination)
    {
        destination[0] = (byte)('0' + value / 10);
        destination[1] = (byte)('0' + value % 10);
        return 2;
    }

    private static int Copy(ReadOnlySpan<byte> text, Span<byte> destination)
    {
        text.CopyTo(destination);
        return text.Length;
    }

    /// <summary>
    /// A binary COPY field of <paramref name="kind"/> (not text) written as text; <paramref name="decimalsHint"/> is the column's
    /// (see <see cref="WriteFloat8"/>).
    /// </summary>
    public static int Write(PgFieldKind kind, ReadOnlySpan<byte> field, Span<byte> destination, ref int decimalsHint) => kind switch
    {
        PgFieldKind.Float8 => WriteFloat8(BitConverter.Int64BitsToDouble(BinaryPrimitives.ReadInt64BigEndian(field)), destination, ref decimalsHint),
        PgFieldKind.Date => WriteDate(BinaryPrimitives.ReadInt32BigEndian(field), destination),
        PgFieldKind.Timestamp => WriteTimestamp(BinaryPrimitives.ReadInt64BigEndian(field), destination),
        PgFieldKind.Int64 => WriteInt64(BinaryPrimitives.ReadInt64BigEndian(field), destination),
        PgFieldKind.Int32 => WriteInt64(BinaryPrimitives.ReadInt32BigEndian(field), destination),
        PgFieldKind.Int16 => WriteInt64(BinaryPrimitives.ReadInt16BigEndian(field), destination),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}

/// <summary>The binary COPY field types a download can format itself; text is passed through (quoted for CSV where needed).</summary>
internal enum PgFieldKind { Text, Float8, Date, Timestamp, Int64, Int32, Int16 }
